"""`aprqa plan` and `aprqa run`: playbook → plan → execute → judge → score → evidence."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InfrastructureError, InputError
from aprqa_action.execute import Executor, check_engine
from aprqa_action.execute.progress import Reporter, make_reporter
from aprqa_action.execute.version import installed_profile
from aprqa_action.github.commands import workflow_groups
from aprqa_action.judge.compare import check_baseline, with_baseline
from aprqa_action.judge.integrity import FileCheck, check_files, contract_items, provenances, pull_item
from aprqa_action.judge.metadata import metadata_items
from aprqa_action.plan import Plan, build_plan
from aprqa_action.plan.backends import probe
from aprqa_action.plan.pull import PullResult, pull_model
from aprqa_action.plan.resolve import missing_models, resolve_models, with_text_facts
from aprqa_action.plan.shard import select
from aprqa_action.playbook import LoadedPlaybook, load_playbook
from aprqa_action.records import (
    EngineInfo,
    Evidence,
    EvidenceItem,
    Observation,
    PlaybookInfo,
    Provenance,
    RunInfo,
    RunOptions,
    Scenario,
    Selection,
)
from aprqa_action.records.axes import Format
from aprqa_action.report import write_reports
from aprqa_action.score.assess import assess
from aprqa_action.store.evidence import (
    EVIDENCE_FILE,
    STREAM_FILE,
    append_stream,
    host_info,
    now,
    read_evidence,
    read_stream,
    write_evidence,
)


@dataclass
class Prepared:
    loaded: LoadedPlaybook
    profile: EngineProfile
    plan: Plan
    checks: dict[Format, FileCheck]  # G0 per resolved model file
    pulled: PullResult  # G0-PULL: Skipped when --model-path is given
    others: dict[str, EngineProfile]  # engines other than the one under test, by name (engine_parity)

    @property
    def problems(self) -> dict[Format, str]:
        """Formats whose file failed G0 integrity, with the reason."""
        return {fmt: c.problem for fmt, c in self.checks.items() if c.problem is not None}


def prepare(
    playbook_path: str | Path,
    model_path: str | Path | None,
    engine: str | None,
    *,
    download: bool = False,
    check: bool = True,
) -> Prepared:
    """Load, resolve, check and plan. Without --model-path the playbook's hf_repo is pulled (G0-PULL): from
    the Hugging Face cache only, unless `download` (what `run` does; `plan` never downloads). `check=False`
    leaves out the G0 integrity check (hashing every file): the plan of a run cancelled while preparing."""
    loaded = load_playbook(playbook_path)
    playbook = loaded.playbook
    profile = installed_profile(engine if engine is not None else playbook.engine)
    pulled = pull_model(playbook.model, model_path, env=None if download else {**os.environ, "HF_HUB_OFFLINE": "1"})
    if not download and pulled.outcome == "Falsified":
        reason = f"{playbook.model.hf_repo} is not in the Hugging Face cache: `aprqa run` pulls it (plan does not)"
        pulled = pulled.model_copy(update={"outcome": "Skipped", "reason": reason})
    source = model_path if model_path is not None else pulled.directory
    if source is None:
        models = missing_models(playbook.model.formats, f"G0-PULL: {pulled.reason}")
    else:
        try:
            models = resolve_models(playbook.model.formats, source, playbook.model.quantizations)
        except OSError as exc:  # an unreadable model directory: the machine's problem, not the playbook's
            raise InfrastructureError(f"model path {source}: cannot read: {exc.strerror or exc}") from None
    if playbook.edge is not None:
        models = with_text_facts(models)
    checks = check_files(models) if check else {}
    problems = {fmt: c.problem for fmt, c in checks.items() if c.problem is not None}
    backends = {b: probe(b) for b in playbook.test_matrix.backends}
    if playbook.profile_ci is not None and playbook.profile_ci.enabled:
        backends |= {b: probe(b) for b in playbook.profile_ci.backends or []}
    if playbook.perplexity is not None and playbook.perplexity.backend not in backends:
        backends[playbook.perplexity.backend] = probe(playbook.perplexity.backend)
    parity = playbook.engine_parity
    reference = installed_profile(parity.reference_engine) if parity is not None else None
    if reference is not None and reference.name == profile.name:
        raise InputError(f"engine_parity.reference_engine is {reference.name}, the engine under test: name another")
    plan = build_plan(playbook, profile, models, backends, problems, reference=reference)
    return Prepared(loaded, profile, plan, checks, pulled, {reference.name: reference} if reference else {})


def run(
    options: RunOptions,
    *,
    stop: threading.Event | None = None,
    reporter: Reporter | None = None,
    on_executor: Callable[[Executor], None] | None = None,
) -> Evidence:
    """Run and judge a playbook, or the part `options.shard` and `options.only` select. `options.resume`:
    keep what an earlier run in the output directory finished (its observations.jsonl) and run only the rest.
    `on_executor` receives the executor (to cancel it). Writes DIR/evidence.json as it goes, and junit.xml,
    summary.md and comment.md at the end."""
    if options.fail_on.kind == "regression" and options.baseline is None:
        raise InputError(f"--fail-on {options.fail_on} compares with a baseline: give --baseline EVIDENCE")
    base = read_evidence(options.baseline) if options.baseline is not None else None
    prepared = prepare(options.playbook, options.model_path, options.engine, download=True)
    loaded, plan, profile = prepared.loaded, prepared.plan, prepared.profile
    playbook = loaded.playbook
    if base is not None:  # another playbook's baseline: refused before anything runs, not after
        check_baseline(playbook.name, base, str(options.baseline))
    selected, selection = select(plan.scenarios, options.shard, options.only)
    check_engine(profile, [s for s in selected if s.skip_reason is None and s.engine is None])
    for name, other in prepared.others.items():
        check_engine(other, [s for s in selected if s.skip_reason is None and s.engine == name])
    contracts = playbook.contract_tests
    contract_evidence = (
        contract_items(prepared.checks, contracts, playbook.model.quantizations) if contracts is not None else []
    )
    if playbook.metadata_plausibility is not None:
        contract_evidence += metadata_items(prepared.checks, playbook.metadata_plausibility, playbook.model.hf_repo)
    output_dir = options.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    prior = _resumable(output_dir, loaded, selected) if options.resume else {}
    if not options.resume:
        (output_dir / STREAM_FILE).unlink(missing_ok=True)
    stop = stop or threading.Event()
    observations: list[Observation] = list(prior.values())
    assemble = Assembler(options, prepared, selected, selection, RunInfo(started=now(), host=host_info()), base)
    executor = Executor(
        profile,
        reporter or make_reporter(workflow_groups(), options.verbosity),
        sink=lambda obs: (observations.append(obs), append_stream(output_dir, obs)),
        fail_fast=playbook.failure_policy == "fail_fast",
        stop=stop,
        on_cell_done=lambda: write_evidence(output_dir, assemble.running(observations, executor.version)),
        others=prepared.others,
    )
    if on_executor is not None:
        on_executor(executor)
    write_evidence(output_dir, assemble.running(observations, executor.version))
    try:
        executor.run(selected, done=set(prior))
    finally:
        state = "complete"
        if executor.stopped_by:
            state = "stopped"
        elif stop.is_set():
            state = "cancelled"
        per_file = [pull_item(prepared.pulled), *contract_evidence]
        final = assemble.judged(state, observations, executor.version, per_file, prepared.problems)
        write_evidence(output_dir, final)
        write_reports(final, output_dir, run_url=options.run_url, templates=options.templates)
    return final


@dataclass
class Assembler:
    """The evidence of a run (or of a run cancelled while preparing) from what it has so far: one place for
    both, so they cannot drift apart."""

    options: RunOptions
    prepared: Prepared
    selected: list[Scenario]
    selection: Selection | None
    run_info: RunInfo
    base: Evidence | None

    @cached_property
    def provenance(self) -> dict[Format, Provenance]:
        return provenances(self.prepared.checks)  # hashes each file once (cached by size and mtime)

    def running(self, observations: list[Observation], engine_version: str | None) -> Evidence:
        """What is known while scenarios run: no items, no verdict."""
        return self._evidence("running", observations, engine_version)

    def judged(
        self,
        state: str,
        observations: list[Observation],
        engine_version: str | None,
        per_file: list[EvidenceItem],
        problems: dict[Format, str],
    ) -> Evidence:
        judged = assess(
            self._evidence(state, observations, engine_version),
            self.prepared.loaded.playbook,
            problems=problems,
            per_file=per_file,
            policy=self.options.fail_on,
            complete=state == "complete",
        )
        if self.base is None:
            return judged
        return with_baseline(judged, self.base, str(self.options.baseline), self.options.fail_on)

    def _evidence(self, state: str, observations: list[Observation], engine_version: str | None) -> Evidence:
        order = {s.id: i for i, s in enumerate(self.selected)}
        ended = None if state == "running" else now()
        return Evidence(
            run=self.run_info.model_copy(update={"state": state, "ended": ended}),
            playbook=_playbook_info(self.prepared.loaded),
            engine=EngineInfo(name=self.prepared.profile.name, version=engine_version),
            models=self.prepared.plan.models,
            provenance=self.provenance,
            backends=self.prepared.plan.backends,
            scenarios=self.selected,
            observations=sorted(observations, key=lambda o: order.get(o.scenario_id, len(order))),
            selection=self.selection,
        )


def _resumable(directory: Path, loaded: LoadedPlaybook, selected: list[Scenario]) -> dict[str, Observation]:
    """What an earlier run of the same playbook in `directory` finished; cancelled scenarios run again."""
    earlier = directory / EVIDENCE_FILE
    if not earlier.is_file():
        raise InputError(f"--resume {directory}: no {EVIDENCE_FILE} from an earlier run there")
    evidence = read_evidence(earlier)
    if evidence.playbook.sha256 != loaded.sha256:
        raise InputError(
            f"--resume {directory}: the evidence there is from another version of the playbook "
            f"({evidence.playbook.path}, sha256 {evidence.playbook.sha256[:12]}), not {loaded.path}"
        )
    planned = {s.id: s for s in selected}
    before = {s.id: s for s in evidence.scenarios}
    if set(planned) != set(before) or any(planned[i].model_path != before[i].model_path for i in planned):
        raise InputError(f"--resume {directory}: the plan differs from the earlier run's (other model or engine?)")
    return {i: o for i, o in read_stream(directory).items() if i in planned and o.status != "not_run"}


def cancelled_run(options: RunOptions, *, started: datetime | None = None) -> Evidence:
    """The evidence of a run cancelled while it was still preparing (SIGTERM/SIGINT during the pull, the
    hashing, the contract scan or `engine --version`): the plan as far as it is known without downloading
    or hashing, every scenario "not run (cancelled)" (on --resume, what the earlier run finished is kept),
    written with its reports like any run's. `started`: when the cancelled run started."""
    prepared = prepare(options.playbook, options.model_path, options.engine, check=False)  # no download
    selected, selection = select(prepared.plan.scenarios, options.shard, options.only)
    output_dir = options.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    prior: dict[str, Observation] = {}
    if options.resume:
        with contextlib.suppress(InputError):  # nothing (usable) to resume: all of it is not run
            prior = _resumable(output_dir, prepared.loaded, selected)
    else:
        (output_dir / STREAM_FILE).unlink(missing_ok=True)
    cancelled = "not run (cancelled)"
    observations = [
        prior.get(s.id) or Observation(scenario_id=s.id, status="not_run", reason=cancelled) for s in selected
    ]
    base = read_evidence(options.baseline) if options.baseline is not None else None
    run_info = RunInfo(started=started or now(), host=host_info())
    pulled = prepared.pulled
    if pulled.outcome != "Skipped":  # a pull from the cache only says nothing about the cancelled one
        pulled = pulled.model_copy(update={"outcome": "Skipped", "reason": f"{cancelled}: {pulled.reason}"})
    assemble = Assembler(options, prepared, selected, selection, run_info, base)
    judged = assemble.judged("cancelled", observations, None, [pull_item(pulled)], problems={})
    write_evidence(output_dir, judged)
    write_reports(judged, output_dir, run_url=options.run_url, templates=options.templates)
    return judged


def _playbook_info(loaded: LoadedPlaybook) -> PlaybookInfo:
    playbook = loaded.playbook
    return PlaybookInfo(
        name=playbook.name,
        version=playbook.version,
        path=str(loaded.path),
        sha256=loaded.sha256,
        failure_policy=playbook.failure_policy,
        spec=playbook.model_dump(mode="json"),
    )
