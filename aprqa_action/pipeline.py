"""`aprqa plan` and `aprqa run`: playbook → plan → execute → evidence."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from aprqa_action.backends import probe
from aprqa_action.engines import load_profile
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError
from aprqa_action.evidence import (
    STREAM_FILE,
    EngineInfo,
    Evidence,
    PlaybookInfo,
    RunInfo,
    append_stream,
    host_info,
    now,
    write_evidence,
)
from aprqa_action.execute import Executor, check_engine
from aprqa_action.plan import Plan, build_plan
from aprqa_action.playbook import LoadedPlaybook, load_playbook, unsupported_keys
from aprqa_action.progress import Reporter, make_reporter
from aprqa_action.records import Observation
from aprqa_action.resolve import resolve_models


@dataclass
class Prepared:
    loaded: LoadedPlaybook
    profile: EngineProfile
    plan: Plan


def prepare(playbook_path: str | Path, model_path: str | Path | None, engine: str | None) -> Prepared:
    loaded = load_playbook(playbook_path)
    playbook = loaded.playbook
    profile = load_profile(engine if engine is not None else playbook.engine)
    models = resolve_models(playbook.model.formats, model_path, playbook.model.quantizations)
    backends = {b: probe(b) for b in playbook.test_matrix.backends}
    return Prepared(loaded, profile, build_plan(playbook, profile, models, backends))


def run(
    playbook_path: str | Path,
    *,
    model_path: str | Path | None,
    engine: str | None,
    output_dir: Path,
    stop: threading.Event | None = None,
    reporter: Reporter | None = None,
) -> Evidence:
    loaded = load_playbook(playbook_path)
    unsupported = unsupported_keys(loaded.playbook)
    if unsupported:
        raise InputError(f"{loaded.path}: not supported yet: {', '.join(unsupported)} (remove to run)")
    if model_path is None:
        raise InputError("no --model-path given; pulling the playbook's hf_repo is not supported yet")
    prepared = prepare(playbook_path, model_path, engine)
    plan, profile, playbook = prepared.plan, prepared.profile, loaded.playbook
    check_engine(profile, plan.runnable)

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / STREAM_FILE).unlink(missing_ok=True)
    stop = stop or threading.Event()
    executor = Executor(
        profile,
        reporter or make_reporter(),
        sink=lambda obs: (observations.append(obs), append_stream(output_dir, obs)),
        fail_fast=playbook.failure_policy == "fail_fast",
        stop=stop,
        on_cell_done=lambda: write_evidence(output_dir, snapshot("running")),
    )
    observations: list[Observation] = []
    run_info = RunInfo(started=now(), host=host_info())

    def snapshot(state: str) -> Evidence:
        return Evidence(
            run=run_info.model_copy(update={"state": state, "ended": None if state == "running" else now()}),
            playbook=PlaybookInfo(
                name=playbook.name,
                version=playbook.version,
                path=str(loaded.path),
                sha256=loaded.sha256,
                failure_policy=playbook.failure_policy,
            ),
            engine=EngineInfo(name=profile.name, version=executor.version),
            models=plan.models,
            backends=plan.backends,
            scenarios=plan.scenarios,
            observations=list(observations),
        )

    write_evidence(output_dir, snapshot("running"))
    try:
        executor.run(plan.scenarios)
    finally:
        state = "complete"
        if executor.stopped_by:
            state = "stopped"
        elif stop.is_set():
            state = "cancelled"
        final = snapshot(state)
        write_evidence(output_dir, final)
    return final
