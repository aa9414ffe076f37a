"""`aprqa plan` and `aprqa run`: playbook → plan → execute → judge → score → evidence."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from aprqa_action import integrity
from aprqa_action.axes import Format
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
from aprqa_action.gates import gateways, judge
from aprqa_action.plan import Plan, build_plan
from aprqa_action.playbook import LoadedPlaybook, load_playbook, unsupported_keys
from aprqa_action.progress import Reporter, make_reporter
from aprqa_action.records import Observation
from aprqa_action.resolve import resolve_models
from aprqa_action.score import parse_policy, verdict


@dataclass
class Prepared:
    loaded: LoadedPlaybook
    profile: EngineProfile
    plan: Plan
    problems: dict[Format, str]  # formats whose file failed G0 integrity


def prepare(playbook_path: str | Path, model_path: str | Path | None, engine: str | None) -> Prepared:
    loaded = load_playbook(playbook_path)
    playbook = loaded.playbook
    profile = load_profile(engine if engine is not None else playbook.engine)
    models = resolve_models(playbook.model.formats, model_path, playbook.model.quantizations)
    problems = {
        fmt: reason
        for fmt, model in models.items()
        if model.path is not None and (reason := integrity.check(model.path, fmt)) is not None
    }
    backends = {b: probe(b) for b in playbook.test_matrix.backends}
    if playbook.profile_ci is not None and playbook.profile_ci.enabled:
        backends |= {b: probe(b) for b in playbook.profile_ci.backends or []}
    plan = build_plan(playbook, profile, models, backends, problems)
    return Prepared(loaded, profile, plan, problems)


def run(
    playbook_path: str | Path,
    *,
    model_path: str | Path | None,
    engine: str | None,
    output_dir: Path,
    fail_on: str = "gateway",
    stop: threading.Event | None = None,
    reporter: Reporter | None = None,
) -> Evidence:
    parse_policy(fail_on)  # a bad policy is a usage error before anything runs
    prepared = prepare(playbook_path, model_path, engine)
    loaded, plan, profile = prepared.loaded, prepared.plan, prepared.profile
    playbook = loaded.playbook
    unsupported = unsupported_keys(playbook)
    if unsupported:
        raise InputError(f"{loaded.path}: not supported yet: {', '.join(unsupported)} (remove to run)")
    if model_path is None:
        raise InputError("no --model-path given; pulling the playbook's hf_repo is not supported yet")
    check_engine(profile, plan.runnable)

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / STREAM_FILE).unlink(missing_ok=True)
    stop = stop or threading.Event()
    observations: list[Observation] = []
    executor = Executor(
        profile,
        reporter or make_reporter(),
        sink=lambda obs: (observations.append(obs), append_stream(output_dir, obs)),
        fail_fast=playbook.failure_policy == "fail_fast",
        stop=stop,
        on_cell_done=lambda: write_evidence(output_dir, snapshot("running")),
    )
    run_info = RunInfo(started=now(), host=host_info())

    def snapshot(state: str) -> Evidence:
        evidence = Evidence(
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
        if state == "running":
            return evidence
        items = judge(playbook, plan.models, prepared.problems, plan.scenarios, evidence.observations)
        gates = gateways(items, evidence.observations, playbook.gates.g4_max_failure_fraction)
        executed = {o.scenario_id for o in evidence.observations if o.status not in ("skipped", "not_run")}
        return evidence.model_copy(
            update={
                "items": items,
                "verdict": verdict(
                    items,
                    evidence.observations,
                    gates,
                    all_cells_executed=all(s.id in executed for s in plan.matrix),
                    policy=fail_on,
                    complete=state == "complete",
                ),
            }
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
