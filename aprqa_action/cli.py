"""`aprqa`: argument parsing only; every subcommand calls a stage and maps errors to exit codes.

Exit codes: 0 qualified/ok · 1 not qualified · 2 usage, configuration or input error · 3 infrastructure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aprqa_action import __version__
from aprqa_action.errors import AprqaError, InfrastructureError, InputError
from aprqa_action.oneline import one_line
from aprqa_action.playbook import LoadedPlaybook, json_schema_text, load_playbook
from aprqa_action.playbook.catalog import TIERS, entries, find, playbook_dirs
from aprqa_action.playbook.qa import QaSettings as QaDefaults
from aprqa_action.report.text import format_verdict

if TYPE_CHECKING:  # the publish helpers' types; the modules themselves load lazily
    from aprqa_action.github.commands import WorkflowCommands
    from aprqa_action.records import Evidence, RunOptions


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.playbooks:
        try:
            loaded = load_playbook(path)
        except AprqaError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        cells = _cell_count(loaded.playbook)
        print(f"{path}: ok — {loaded.playbook.name} {loaded.playbook.version}, {cells} cells")
    return 2 if failed else 0


def _cell_count(playbook) -> int:  # type: ignore[no-untyped-def]
    m = playbook.test_matrix
    return len(m.modalities) * len(m.backends) * len(playbook.model.formats)


def _playbook(args: argparse.Namespace) -> str:
    """The playbook a plan or run uses: the PLAYBOOK path, or a shipped one by --model and --tier."""
    if args.playbook and (args.model or args.tier):
        raise InputError("give either PLAYBOOK or --model and --tier, not both")
    if args.playbook:
        return str(args.playbook)
    if not (args.model and args.tier):
        raise InputError("give a PLAYBOOK, or --model and --tier (see aprqa list)")
    return str(find(args.model, args.tier))


def cmd_list(args: argparse.Namespace) -> int:
    shown = [e for e in entries() if args.model in (None, e.model) and args.tier in (None, e.tier)]
    if not shown:
        print("no playbooks found" + (" (looked in: " + ", ".join(map(str, playbook_dirs())) + ")"), file=sys.stderr)
        return 2
    rows = []
    listed = []
    for entry in shown:
        playbook = load_playbook(entry.path).playbook
        m = playbook.test_matrix
        cells = len(m.modalities) * len(m.backends) * len(playbook.model.formats)
        engine = playbook.engine if isinstance(playbook.engine, str) else playbook.engine.name
        listed.append(
            {"model": entry.model, "tier": entry.tier, "cells": cells, "scenarios": m.scenario_count}
            | {"engine": engine, "path": str(entry.path)}
        )
        rows.append(
            (
                entry.model,
                entry.tier,
                f"{cells} cells × {m.scenario_count}",
                engine,
                str(entry.path),
            )
        )
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from aprqa_action.execute.doctor import gpu_warnings
    from aprqa_action.pipeline import prepare
    from aprqa_action.plan import format_plan

    prepared = prepare(_playbook(args), args.model_path, args.engine)
    if args.json:
        print(prepared.plan.model_dump_json(indent=2))
    else:
        print(format_plan(prepared.loaded, prepared.plan, f"{prepared.pulled.outcome}: {prepared.pulled.reason}"))
        for warning in gpu_warnings(prepared.profile, prepared.plan.runnable):
            print(f"warning: {one_line(warning)}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """What this runner has, and with a playbook what each cell will do here and why."""
    from aprqa_action.errors import AprqaError
    from aprqa_action.execute import check_engine
    from aprqa_action.execute.doctor import gpu_warnings, host_facts
    from aprqa_action.pipeline import prepare
    from aprqa_action.plan import format_plan

    facts = host_facts()
    prepared, engine, warnings = None, "", []
    if args.playbook or args.model or args.tier:
        prepared = prepare(_playbook(args), args.model_path, args.engine)
        try:
            check_engine(prepared.profile, prepared.plan.runnable)
            engine = f"{prepared.profile.name}: installed for every planned cell"
        except AprqaError as exc:
            engine = str(exc)
            warnings.append(engine)
        warnings += gpu_warnings(prepared.profile, prepared.plan.runnable, facts)
    if args.json:
        shown = {"runner": [f.model_dump(mode="json") for f in facts]}
        if prepared is not None:
            shown |= {"engine": engine, "warnings": warnings, "plan": prepared.plan.model_dump(mode="json")}
        print(json.dumps(shown, indent=2))
        return 0
    print("runner:")
    for fact in facts:
        print(f"  {'ok' if fact.ok else '--'}  {fact.name:17} {one_line(fact.value)}")
    if prepared is not None:
        print(f"engine    {one_line(engine)}")
        print(format_plan(prepared.loaded, prepared.plan, f"{prepared.pulled.outcome}: {prepared.pulled.reason}"))
        for warning in warnings:
            print(f"warning: {one_line(warning)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from aprqa_action.plan.shard import parse_only, parse_shard
    from aprqa_action.records import RunOptions
    from aprqa_action.score import parse_fail_on

    output_dir = Path(args.resume or args.output_dir)
    options = RunOptions(
        playbook=_playbook(args),
        model_path=args.model_path,
        engine=args.engine,
        output_dir=output_dir,
        fail_on=parse_fail_on(args.fail_on),
        shard=parse_shard(args.shard) if args.shard else None,
        only=parse_only(args.only) if args.only else None,
        baseline=_evidence_path(args.baseline) if args.baseline else None,
        resume=args.resume is not None,
        run_url=_run_url(),
        templates=_templates(args.templates),
        verbosity=-1 if args.quiet else 1 if args.verbose else 0,
    )
    evidence = _run_signalled(options, fresh=args.resume is None)
    assert evidence.verdict is not None
    print(format_verdict(evidence))
    print(f"evidence: {output_dir / 'evidence.json'}")
    return 0 if evidence.verdict.qualified else 1


def _run_signalled(options: RunOptions, *, fresh: bool, before: Callable[[], None] | None = None) -> Evidence:
    """Run with SIGINT/SIGTERM handled: the first stops the run and saves what it has, a second kills the engine.
    `fresh`: clear aprqa's own files from the output directory first; `before`: runs after that (qa writes its
    playbook there)."""
    from aprqa_action.execute import Cancelled, Executor
    from aprqa_action.execute.process import kill_live_groups
    from aprqa_action.pipeline import cancelled_run, run
    from aprqa_action.store.evidence import now

    started = now()
    output_dir = options.output_dir
    stop = threading.Event()
    executors: list[Executor] = []
    phase = ["preparing"]  # → "saving" once cancelled while preparing

    def on_signal(again: bool) -> None:
        if executors:  # scenarios are running: the executor stops them (again: kills the engine, no grace)
            executors[0].cancel(hard=again)
        elif phase[0] == "preparing":
            # The pull, hashing, contract scan and `engine --version` do not look at `stop`: interrupt the
            # step at hand, once. The version command is killed here first, so its cleanup is quick. A second
            # signal only kills again: raised into the first one's cleanup, it can land inside a thread join,
            # whose interrupted lock handling raises "release unlocked lock" on Python 3.11 and loses the run.
            stop.set()
            kill_live_groups()
            if not again:
                raise Cancelled

    _on_signals(on_signal)
    try:
        if fresh:
            _fresh_output_dir(output_dir)  # first: a run that fails later must not leave an earlier verdict there
        if before is not None:
            before()
        evidence = run(options, stop=stop, on_executor=executors.append)
    except Cancelled:
        phase[0] = "saving"  # from here on a signal must not interrupt the saving of the evidence
        evidence = cancelled_run(options, started=started)
    return evidence


def cmd_qa(args: argparse.Namespace) -> int:
    """The deep gates on one model file: a playbook made from the file and the flags (playbook.qa), run as `run`
    runs one, then the seed's table (report.qa_table) from the evidence."""
    import yaml

    from aprqa_action.engines import load_profile
    from aprqa_action.plan.resolve import resolve_models
    from aprqa_action.playbook.qa import QaSettings, qa_playbook
    from aprqa_action.records import Format, RunOptions
    from aprqa_action.records.axes import format_of
    from aprqa_action.report.qa_table import format_table, qa_rows
    from aprqa_action.score import parse_fail_on

    model = Path(args.model)
    given = format_of(model.name) if model.is_file() else None
    if given is None:
        what = "no such file" if not model.exists() else "not a GGUF, SafeTensors or APR model file"
        raise InputError(f"aprqa qa {model}: {what}")
    others = [f for f in Format if f != given]
    found = resolve_models(others, model, [])
    formats = [given, *(f for f in others if found[f].path is not None and found[f].how == "sibling")]
    reference, note = qa_reference(args.reference_engine)
    if note is not None:
        print(note)
    settings = QaSettings(
        engine=args.engine, reference_engine=reference, min_tps_cpu=args.min_tps_cpu, min_tps_gpu=args.min_tps_gpu,
        max_cv=args.max_cv, min_gpu_speedup=args.min_gpu_speedup, min_perf_ratio=args.min_perf_ratio,
        max_ttft_ratio=args.max_ttft_ratio, max_ppl_ratio=args.max_ppl_ratio, parity_tokens=args.tokens,
        warmup=args.warmup, measure=args.measure, max_tokens=args.max_tokens, timeout_ms=args.timeout_ms,
    )  # fmt: skip
    greedy = "repeat_penalty" in load_profile(args.engine).sampling_args
    document = qa_playbook(model, formats, settings, greedy_args=greedy)
    output_dir = Path(args.output_dir)
    playbook = output_dir / "qa.playbook.yaml"
    options = RunOptions(
        playbook=playbook,
        model_path=model,
        output_dir=output_dir,
        fail_on=parse_fail_on(args.fail_on),
        run_url=_run_url(),
        verbosity=-1 if args.quiet else 0,
    )
    write = lambda: playbook.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")  # noqa: E731
    evidence = _run_signalled(options, fresh=True, before=write)
    assert evidence.verdict is not None
    print(format_table(qa_rows(evidence)))
    print(format_verdict(evidence))
    print(f"evidence: {output_dir / 'evidence.json'} (the playbook it ran: {playbook})")
    return 0 if evidence.verdict.qualified else 1


def qa_reference(given: str | None) -> tuple[str | None, str | None]:
    """`aprqa qa`'s reference engine and a note: the default one is left out, with a note saying why, when it
    cannot run here; one the user named runs (and a missing one stops the run, exit 3, as in `run`)."""
    from aprqa_action.engines import load_profile
    from aprqa_action.execute import engine_problem
    from aprqa_action.records import Modality

    if given == "none":
        return None, None
    if given is not None:
        return given, None
    default = QaDefaults().reference_engine
    assert default is not None
    problem = engine_problem(load_profile(default), {(Modality.SERVE, "gguf")})
    if problem is None:
        return default, None
    return None, f"note: no engine parity ({one_line(problem)}; --reference-engine none says you know)"


def _fresh_output_dir(directory: Path) -> None:
    """Create the output directory and remove what an earlier run wrote there (only aprqa's own files, by
    name): a publish after this run fails must not find the old evidence and report its verdict."""
    from aprqa_action.report import COMMENT_FILE, JUNIT_FILE, SUMMARY_FILE
    from aprqa_action.store.evidence import EVIDENCE_FILE, STREAM_FILE

    if directory.exists() and not directory.is_dir():
        raise InfrastructureError(f"--output-dir {directory}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in (EVIDENCE_FILE, STREAM_FILE, JUNIT_FILE, SUMMARY_FILE, COMMENT_FILE):
            (directory / name).unlink(missing_ok=True)
    except OSError as exc:
        raise InfrastructureError(f"--output-dir {directory}: {exc.strerror or exc}") from None


def _run_url() -> str | None:
    """The workflow run's page when on GitHub Actions (for the reports' footer)."""
    from aprqa_action.github.context import GitHubContext

    return GitHubContext.from_env(os.environ).run_url if os.environ.get("GITHUB_ACTIONS") == "true" else None


def cmd_merge(args: argparse.Namespace) -> int:
    from aprqa_action.report import write_reports
    from aprqa_action.score import parse_fail_on
    from aprqa_action.store.evidence import write_evidence
    from aprqa_action.store.merge import merge

    baseline = _evidence_path(args.baseline) if args.baseline else None
    playbook = Path(args.playbook) if args.playbook else None
    policy = parse_fail_on(args.fail_on) if args.fail_on else None  # a usage error before anything is read
    templates = _templates(args.templates)
    merged = merge([Path(p) for p in args.evidence], policy=policy, baseline=baseline, playbook=playbook)
    out = Path(args.output_dir)
    write_evidence(out, merged)
    write_reports(merged, out, run_url=_run_url(), templates=templates)
    print(format_verdict(merged))
    print(f"evidence: {one_line(out / 'evidence.json')}")
    assert merged.verdict is not None
    return 0 if merged.verdict.qualified else 1


def _templates(text: str | None) -> Path | None:
    """--templates DIR: checked (every template compiles) before anything runs."""
    if not text:
        return None
    from aprqa_action.report import check_templates

    templates = Path(text)
    check_templates(templates)
    return templates


def _evidence_path(text: str) -> Path:
    path = Path(text)
    return path / "evidence.json" if path.is_dir() else path


def _compared(evidence, baseline: str | None):  # type: ignore[no-untyped-def]
    """The evidence compared with `--baseline` (its comparison replaced), else as it is."""
    if baseline is None:
        return evidence
    from aprqa_action.judge.compare import with_baseline
    from aprqa_action.records import FailPolicy
    from aprqa_action.score import parse_fail_on
    from aprqa_action.store.evidence import read_evidence

    policy = parse_fail_on(evidence.verdict.policy) if evidence.verdict else FailPolicy()  # as the run judged it
    return with_baseline(evidence, read_evidence(_evidence_path(baseline)), baseline, policy)


def cmd_report(args: argparse.Namespace) -> int:
    from aprqa_action.report import write_reports
    from aprqa_action.store.evidence import read_evidence

    templates = _templates(args.templates)
    path = _evidence_path(args.evidence)
    evidence = _compared(read_evidence(path), args.baseline)
    out = Path(args.output_dir) if args.output_dir else path.parent
    written = write_reports(evidence, out, _run_url(), templates=templates)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _on_signals(callback: Callable[[bool], None]) -> None:
    """SIGTERM/SIGINT (a cancelled GitHub job) stop the run cleanly; a second one stops it hard (no grace for
    the engine), and still saves the evidence: a GitHub cancel sends SIGINT, then SIGTERM 7.5 s later.
    `callback(again)` does the stopping; again is False the first time."""

    def handler(signum: int, frame: object) -> None:
        again = getattr(handler, "seen", False)
        handler.seen = True  # type: ignore[attr-defined]
        name = signal.Signals(signum).name
        if again:
            print(f"\naprqa: {name} again: killing the engine now, saving the evidence", file=sys.stderr)
        else:
            print(f"\naprqa: {name}: stopping, saving the evidence so far", file=sys.stderr)
        callback(again)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_publish(args: argparse.Namespace) -> int:
    from aprqa_action.github import publish
    from aprqa_action.github.commands import WorkflowCommands
    from aprqa_action.github.context import GitHubContext
    from aprqa_action.github.from_evidence import request_from_evidence, request_without_evidence
    from aprqa_action.github.redact import Redactor
    from aprqa_action.score import parse_fail_on
    from aprqa_action.store.evidence import read_evidence

    commands = WorkflowCommands(sys.stdout, Redactor(os.environ.get("GITHUB_TOKEN")))
    path = _evidence_path(args.evidence)
    context = GitHubContext.from_env(os.environ)
    comment_mode = _publish_choice(commands, "--comment", args.comment, ("always", "on-failure", "off"))
    pr_number = _pr_number(args.pr_number)
    if args.pr_number is not None and pr_number is None:
        # An artifact's PR number is data: a bad one costs the comment, never the job.
        commands.warning(f"--pr-number {one_line(args.pr_number)!r} is not a PR number: no comment", title=TITLE)
        comment_mode = "off"
    options = {
        # A bad `comment`/`status` input must not fail the Publish step (and so the job): warn, use the default.
        "comment_mode": comment_mode,
        "post_status": _publish_choice(commands, "--status", args.status, ("true", "false")) == "true",
        "key": args.key,
        "pr_number": pr_number,
        "comment_author": args.comment_author or None,
        "expect_head_sha": args.expect_head_sha or None,
        "claim": context.claim,
    }
    if args.fail_on is not None:
        args.fail_on = str(parse_fail_on(args.fail_on))  # a usage error (exit 2) before anything is published
    if args.model or args.tier:
        args.playbook = _playbook(args)  # a shipped playbook, from aprqa's own installation: trusted
    trusted = _trusted_playbook(args.playbook) if args.playbook else None
    templates = Path(args.templates) if args.templates else None
    code = f" (aprqa run exited {args.run_exit_code})" if args.run_exit_code is not None else ""
    evidence = None
    try:
        evidence = read_evidence(path)
        problem = _stale_verdict(evidence, path, args.run_exit_code)
    except AprqaError as exc:
        problem = f"{exc}{code}"
    if evidence is not None and isinstance(trusted, LoadedPlaybook):
        evidence = _with_trusted(evidence, trusted, path)  # another playbook's evidence: refused, exit 2
    elif isinstance(trusted, AprqaError) and problem is None:
        problem = f"the playbook cannot be loaded: {trusted}{code}"
    if evidence is not None and problem is None and args.baseline:
        try:
            evidence = _compared(evidence, args.baseline)
        except (AprqaError, ValueError) as exc:  # the comparison is an extra: the verdict is published anyway
            commands.warning(f"not compared with the baseline: {exc}", title=TITLE)
    request = None
    if evidence is not None and problem is None:
        try:
            request = request_from_evidence(evidence, path, run_url=context.run_url, **options, templates=templates)
        except ValueError as exc:
            problem = f"{exc}{code}"
        except InputError as exc:  # the user's templates: publish the verdict with ours rather than nothing
            commands.warning(f"{exc}; the shipped templates are used", title=TITLE)
            request = request_from_evidence(evidence, path, run_url=context.run_url, **options)
    if request is None:
        # No verdict to publish (the run failed with exit 2/3, or left none of its own): publish that fact.
        if isinstance(trusted, LoadedPlaybook):
            name = trusted.playbook.name
        elif args.playbook:
            name = _file_name(args.playbook)
        else:
            name = evidence.playbook.name if evidence is not None else _file_name(path.parent.name)
        request = request_without_evidence(name, problem or "no verdict", **options)
    elif evidence is not None and evidence.selection is not None and evidence.selection.is_part:
        # A shard's own job publishes its part (summary, outputs) and must not fail for it; the publish action
        # merges first (one file too), so a lone part never reaches the PR as the whole playbook's verdict.
        commands.warning(
            f"{path} holds part of the plan ({evidence.selection.label}): its verdict covers that part only; "
            "merge the shards (aprqa merge) to publish the whole",
            title=TITLE,
        )
    report = publish(request)
    for line in report.lines():
        print(f"publish: {one_line(line)}")
    return _publish_exit(args, request.qualified, evidence if problem is None else None)


def _publish_exit(args: argparse.Namespace, qualified: bool, evidence: Evidence | None) -> int:
    """0, or 1 (after publishing) under --fail-on: no verdict, a verdict that is not qualified, or one judged
    under another policy than the one asked for (publish does not judge again: merge does)."""
    policy = args.fail_on
    if args.fail_if_not_qualified:
        print("aprqa: warning: --fail-if-not-qualified is deprecated: use --fail-on gateway", file=sys.stderr)
        if policy is None and not qualified:
            print("aprqa: not qualified (--fail-if-not-qualified)", file=sys.stderr)
            return 1
    if policy is None:
        return 0
    if evidence is None or evidence.verdict is None:
        print(f"aprqa: no verdict (--fail-on {policy})", file=sys.stderr)
        return 1
    if evidence.verdict.policy != policy:
        print(
            f"aprqa: the verdict was judged under --fail-on {one_line(evidence.verdict.policy)}, not {policy}: "
            f"judge it again with `aprqa merge EVIDENCE -o DIR --fail-on {policy}` and publish that",
            file=sys.stderr,
        )
        return 1
    if not qualified:
        print(f"aprqa: not qualified (--fail-on {policy})", file=sys.stderr)
        return 1
    return 0


TITLE = "aprqa publish"


def _pr_number(text: str | None) -> int | None:
    """A PR number (1 or more, digits only), else None."""
    value = (text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def _trusted_playbook(path: str) -> LoadedPlaybook | AprqaError:
    """The playbook publish names and checks the evidence with; one that cannot be loaded is the problem."""
    try:
        return load_playbook(path)
    except AprqaError as exc:
        return exc


def _with_trusted(evidence: Evidence, trusted: LoadedPlaybook, path: Path) -> Evidence:
    """The evidence with the trusted playbook recorded beside it; evidence for another playbook is refused."""
    from aprqa_action.records import TrustedPlaybook

    if evidence.playbook.name != trusted.playbook.name:
        raise InputError(
            f"{path} is evidence for playbook {evidence.playbook.name!r}, not {trusted.playbook.name!r} "
            f"({trusted.path}): nothing was published"
        )
    # Always made here: a note found in the file is the file's word.
    note = TrustedPlaybook(path=str(trusted.path), sha256=trusted.sha256, recorded_sha256=evidence.playbook.sha256)
    return evidence.model_copy(update={"trusted_playbook": note})


def _publish_choice(commands: WorkflowCommands, option: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` when allowed (any case), else a warning and the default, `allowed[0]`."""
    if value.strip().lower() in allowed:
        return value.strip().lower()
    commands.warning(
        f"{option} {value!r} is not one of {', '.join(allowed)}: using {allowed[0]}", title="aprqa publish"
    )
    return allowed[0]


def _stale_verdict(evidence: Evidence, path: Path, run_exit_code: int | None) -> str | None:
    """Why the evidence's verdict is not this run's, or None: an `aprqa run` that stopped before judging
    (exit 2/3) leaves an earlier run's evidence behind, whose verdict must not be published as this one."""
    if run_exit_code is None or evidence.verdict is None:
        return None
    said = "qualified" if evidence.verdict.qualified else "not qualified"
    kind = {2: "a usage or configuration error", 3: "an infrastructure error"}.get(run_exit_code)
    if kind:
        return (
            f"aprqa run exited {run_exit_code} ({kind}) before judging; {path} ({said}) is not this run's "
            "evidence and was not trusted"
        )
    if (run_exit_code == 0) != evidence.verdict.qualified:
        return (
            f"aprqa run exited {run_exit_code} but {path} says {said}: it is not this run's evidence and was "
            "not trusted"
        )
    return None


def _file_name(path: str | Path) -> str:
    """A playbook's name from its file name, when the file cannot be loaded: `qwen2.5-7b.playbook.yaml` is
    `qwen2.5-7b`; characters a name may not have become `-` (it names a comment and a status)."""
    name = Path(path).name
    for suffix in (".playbook.yaml", ".playbook.yml", ".yaml", ".yml", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-")[:100]
    return cleaned or "playbook"


def cmd_inspect(args: argparse.Namespace) -> int:
    """Exit 0 when no invariant fails, 1 when one does, 2 when the file cannot be read or parsed (3 on a bug,
    from main)."""
    from aprqa_action.contracts import inspect, render
    from aprqa_action.records import ExpectedDims

    expected = ExpectedDims(**dict(args.expect)) if args.expect else None
    inspection = inspect(args.model, args.invariants, args.quantization, expected)
    if args.json:
        print(inspection.model_dump_json(indent=2))
    elif inspection.failure is None:  # an unreadable file is the one error line below, not a table of it
        print(render(inspection, args.max_tensors), end="")
    if inspection.failure is not None:
        raise InputError(f"{args.model}: cannot be read as a model file: {inspection.failure}")
    failed = [r.invariant for r in inspection.results if r.outcome == "fail"]
    if failed:
        print(f"aprqa: {args.model}: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


def _dimension(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if name not in ExpectedDimsFields or not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=N with NAME one of {', '.join(ExpectedDimsFields)}")
    return name, int(value)


ExpectedDimsFields = ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size", "vocab_size")


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json_schema_text())
    return 0


def cmd_extras(args: argparse.Namespace) -> int:
    """The extras the action installs with `extras: auto`: what the playbook's engine needs for its formats, and
    engine_parity's reference engine for its own."""
    from aprqa_action.engines import load_profile
    from aprqa_action.records import Modality

    playbook = load_playbook(_playbook(args)).playbook
    profile = load_profile(args.engine if args.engine else playbook.engine)
    modalities = set(playbook.test_matrix.modalities)
    if playbook.profile_ci is not None and playbook.profile_ci.enabled:
        modalities.add(Modality.RUN)  # the performance runs
    extras = profile.extras(playbook.model.formats, modalities)
    parity = playbook.engine_parity
    if parity is not None:
        other = load_profile(parity.reference_engine)
        more = other.extras(parity.formats or playbook.model.formats, [parity.modality])
        extras += [extra for extra in more if extra not in extras]
    print(",".join(extras))
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    from aprqa_action.engines import builtin_names, load_profile

    profiles = [load_profile(name) for name in builtin_names()]
    if args.json:
        print(json.dumps([profile.model_dump(mode="json", exclude_defaults=True) for profile in profiles], indent=2))
        return 0
    for profile in profiles:
        modes = ", ".join(m for m in ("run", "chat", "serve") if getattr(profile, m) is not None)
        print(f"{profile.name:16} formats: {', '.join(profile.formats):28} modes: {modes:17} {profile.description}")
    return 0


EXAMPLES = {
    "validate": "example:\n  aprqa validate playbooks/examples/*.playbook.yaml playbooks/models/*.yaml",
    "plan": (
        "example:\n  aprqa plan playbooks/examples/smollm2-135m-demo.playbook.yaml \\\n"
        "      --model-path models/smollm2-135m"
    ),
    "run": (
        "example:\n  aprqa run playbooks/examples/smollm2-135m-demo.playbook.yaml \\\n"
        "      --model-path models/smollm2-135m/model.gguf --output-dir aprqa-out"
    ),
    "doctor": (
        "examples (the first thing to run on a new runner):\n  aprqa doctor\n"
        "  aprqa doctor --model smollm2-135m --tier smoke --model-path models/smollm2-135m\n"
        "exit: 0 whatever it finds · 2 the playbook cannot be loaded"
    ),
    "schema": "example:\n  aprqa schema > playbook.schema.json",
    "inspect": "example:\n  aprqa inspect models/smollm2-135m/model.gguf --quantization q4_1 --expect hidden_size=576\n"
    "without --quantization, a GGUF's general.file_type names the scheme I-3 judges\n"
    "exit: 0 no invariant failed · 1 one failed · 2 the file cannot be read or parsed",
    "report": "example:\n  aprqa report aprqa-out/evidence.json --output-dir reports/",
    "merge": "example:\n  aprqa merge shard-1/evidence.json shard-2/evidence.json shard-3/evidence.json -o merged/",
    "publish": (
        "example (in a GitHub Actions step, with GITHUB_TOKEN set):\n"
        "  aprqa publish aprqa-out/evidence.json --comment on-failure --status true"
    ),
    "engines": "example:\n  aprqa engines",
    "qa": (
        "example:\n  aprqa qa models/smollm2-135m/model.gguf --max-cv 0.1\n"
        "writes DIR/qa.playbook.yaml (what ran: `aprqa run` runs it again), evidence.json and the reports\n"
        "exit: 0 qualified · 1 not qualified · 2 usage/input error · 3 infrastructure error (as run)"
    ),
    "extras": (
        "example (prints e.g. engine,engine-hf; nothing for an engine aprqa does not install, such as apr):\n"
        '  pip install "apr-qa-action[$(aprqa extras --model smollm2-135m --tier smoke)]"'
    ),
    "list": (
        "examples:\n  aprqa list --tier mvp\n"
        "  aprqa run --model qwen2.5-coder-7b --tier mvp --model-path /models/qwen2.5-coder-7b"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aprqa",
        description="Qualify an LLM model with an inference engine: playbook → matrix → engine → evidence.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 ok · 1 not qualified · 2 usage/config/input error · 3 infrastructure error",
    )
    parser.add_argument("--version", action="version", version=f"aprqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func, command_parser=p)
        return p

    def templates_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--templates",
            metavar="DIR",
            help="your own report templates: a file here replaces the shipped one or partial of the same name",
        )

    p = add("validate", "check playbooks against the schema (file:line errors, exit 2 when invalid)", cmd_validate)
    p.add_argument("playbooks", nargs="+", metavar="PLAYBOOK")

    def matrix_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("playbook", nargs="?", metavar="PLAYBOOK", help="a playbook file (or --model and --tier)")
        p.add_argument("--model", metavar="M", help="a shipped model playbook by model, e.g. qwen2.5-coder-7b")
        p.add_argument("--tier", choices=TIERS, help="… and tier (aprqa list shows them)")
        p.add_argument("--model-path", metavar="P", help="model file or directory (other formats found beside it)")
        p.add_argument("--engine", metavar="NAME|FILE", help="engine profile, overriding the playbook's `engine`")

    p = add(
        "plan",
        "print the expanded matrix: scenario ids, model file per format, what is skipped and why",
        cmd_plan,
    )
    matrix_args(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")

    p = add(
        "doctor",
        "what this runner has (Python, GPU, driver, NVML, GPU offload of the engine libraries, nvcc) and, with a "
        "playbook, what each cell will do here and why",
        cmd_doctor,
    )
    matrix_args(p)
    p.add_argument("--json", action="store_true", help="print the answers as JSON")

    p = add("run", "run the playbook on the engine and write the evidence", cmd_run)
    matrix_args(p)
    p.add_argument("--output-dir", default="aprqa-out", metavar="DIR", help="where evidence.json goes (aprqa-out)")
    p.add_argument(
        "--fail-on",
        default="gateway",
        metavar="POLICY",
        help="gateway (default): exit 1 when a gateway fails; grade:<G> / mqs:<N>: also below that grade / MQS; "
        "status: also when BLOCKED (status:CERTIFIED: unless CERTIFIED); executed: also when a declared cell did "
        "not run; regression:<pct>: also on a regression against --baseline",
    )
    p.add_argument("--shard", metavar="I/N", help="run the I-th of N balanced, disjoint slices of the plan")
    p.add_argument("--baseline", metavar="EVIDENCE", help="compare with this evidence (e.g. the base branch's)")
    p.add_argument("--only", metavar="K=V,…", help="only these cells, e.g. backend=cpu or format=gguf,modality=serve")
    loudness = p.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="progress: only scenarios that did not pass")
    loudness.add_argument(
        "-v", "--verbose", action="store_true", help="progress: also each scenario's command, and a failure's output"
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue a cancelled run in DIR (its output dir) without redoing finished scenarios",
    )
    templates_arg(p)

    p = add("merge", "combine the shard evidences of one playbook and model, judge again, write reports", cmd_merge)
    p.add_argument("evidence", nargs="+", metavar="EVIDENCE", help="evidence.json files (or their directories)")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR")
    p.add_argument("--fail-on", metavar="POLICY", help="default: the policy the shards ran with")
    p.add_argument("--baseline", metavar="EVIDENCE", help="compare the merged result with this evidence")
    p.add_argument(
        "--playbook",
        metavar="FILE",
        help="the trusted playbook (e.g. the base branch's): its name and checks are used, not the ones the "
        "evidence recorded; evidence for another playbook is refused",
    )
    templates_arg(p)

    p = add("report", "render junit.xml, summary.md and comment.md again from evidence.json alone", cmd_report)
    p.add_argument("evidence", metavar="EVIDENCE", help="evidence.json (or its directory)")
    p.add_argument("--output-dir", metavar="DIR", help="where the reports go (default: next to the evidence)")
    p.add_argument("--baseline", metavar="EVIDENCE", help="compare with this evidence in the reports")
    templates_arg(p)

    p = add(
        "publish",
        "publish a verdict on GitHub: job summary, outputs, annotations, PR comment, commit status",
        cmd_publish,
    )
    p.add_argument("evidence", metavar="EVIDENCE", help="evidence.json written by `aprqa run`")
    # Not argparse choices: a bad value warns and falls back to the default instead of exiting 2.
    p.add_argument("--comment", default="always", metavar="MODE", help="PR comment: always, on-failure or off")
    p.add_argument("--status", default="true", metavar="BOOL", help="post a commit status: true or false")
    p.add_argument("--key", help="a second identity for the comment and status (e.g. a shard merge)")
    p.add_argument(
        "--pr-number",
        metavar="N",
        help="the PR to comment on (workflow_run events from forks); not a number: a warning and no comment",
    )
    p.add_argument(
        "--expect-head-sha",
        metavar="SHA",
        help="publish on the PR only if its head commit is SHA (e.g. github.event.workflow_run.head_sha)",
    )
    p.add_argument(
        "--comment-author",
        metavar="LOGIN",
        help="comments by LOGIN are ours too (besides github-actions[bot] and the token's own user)",
    )
    p.add_argument(
        "--playbook",
        metavar="FILE",
        help="the trusted playbook: it names the comment and status; evidence for another playbook is refused, "
        "and a different sha256 than the evidence recorded is said in the reports",
    )
    p.add_argument("--model", metavar="M", help="the trusted playbook is a shipped one: this model …")
    p.add_argument("--tier", choices=TIERS, help="… and tier")
    templates_arg(p)
    p.add_argument(
        "--run-exit-code",
        type=int,
        metavar="N",
        help="aprqa run's exit code: with 2 or 3, or one that contradicts the evidence's verdict (0 = qualified), "
        "the evidence is an earlier run's and 'no verdict' is published instead",
    )
    p.add_argument("--baseline", metavar="EVIDENCE", help="compare with this evidence in the summary and comment")
    p.add_argument(
        "--fail-on",
        metavar="POLICY",
        help="exit 1 after publishing unless the verdict, judged under POLICY (as run's --fail-on), is qualified; "
        "default: publishing never fails",
    )
    p.add_argument("--fail-if-not-qualified", action="store_true", help=argparse.SUPPRESS)  # deprecated

    p = add("inspect", "print a model file's tensor table and its contract invariants I-2..I-5", cmd_inspect)
    p.add_argument("model", metavar="MODEL", help="a GGUF or SafeTensors file (or model.safetensors.index.json)")
    p.add_argument("--invariants", nargs="+", default=["I-2", "I-3", "I-4", "I-5"], metavar="I-N")
    p.add_argument("--quantization", action="append", default=[], metavar="Q", help="declared scheme, e.g. q4_k_m")
    p.add_argument("--expect", action="append", type=_dimension, metavar="NAME=N", help="an expected dimension")
    p.add_argument("--max-tensors", type=int, default=40, metavar="N", help="rows of the tensor table (40)")
    p.add_argument("--json", action="store_true", help="print the whole inspection as JSON")

    defaults = QaDefaults()
    p = add("qa", "the deep gates on one model file, without a playbook: the seed's `apr qa` table", cmd_qa)
    p.add_argument("model", metavar="MODEL", help="a model file; a sibling in another format (model.safetensors) joins")
    p.add_argument("--output-dir", default="aprqa-out", metavar="DIR", help="where evidence.json goes (aprqa-out)")
    p.add_argument("--engine", default=defaults.engine, metavar="NAME|FILE", help="the engine under test (reference)")
    p.add_argument(
        "--reference-engine", metavar="NAME|FILE",
        help=f"the independent engine for engine parity on a GGUF ({defaults.reference_engine}, left out with a note "
        "when not installed); none: no engine parity",
    )  # fmt: skip
    for flag, value, text in (
        ("--min-tps-cpu", defaults.min_tps_cpu, "F-PERF-TPS-CPU: median tok/s on cpu at least"),
        ("--min-tps-gpu", defaults.min_tps_gpu, "F-PERF-TPS-GPU: median tok/s on gpu at least"),
        ("--max-cv", defaults.max_cv, "F-PERF-TPS-CV: tok/s coefficient of variation at most"),
        ("--min-gpu-speedup", defaults.min_gpu_speedup, "F-PERF-GPU-SPEEDUP: gpu ÷ cpu tok/s at least"),
        ("--min-perf-ratio", defaults.min_perf_ratio, "F-PAR-ENGINE-TPS: our tok/s ÷ the reference engine's at least"),
        ("--max-ttft-ratio", defaults.max_ttft_ratio, "F-PAR-ENGINE-TTFT: our TTFT ÷ the reference engine's at most"),
        ("--max-ppl-ratio", defaults.max_ppl_ratio, "F-PAR-PPL: perplexity quantized ÷ reference format at most"),
    ):
        p.add_argument(flag, type=float, default=value, metavar="X", help=f"{text} ({value:g})")
    for flag, value, text in (
        ("--tokens", defaults.parity_tokens, "parity gates compare the first N tokens"),
        ("--warmup", defaults.warmup, "throughput warmup runs"),
        ("--measure", defaults.measure, "throughput measure runs"),
        ("--max-tokens", defaults.max_tokens, "tokens per answer"),
        ("--timeout-ms", defaults.timeout_ms, "per scenario"),
    ):
        p.add_argument(flag, type=int, default=value, metavar="N", help=f"{text} ({value})")
    p.add_argument("--fail-on", default="gateway", metavar="POLICY", help="as run's --fail-on (gateway)")
    p.add_argument("-q", "--quiet", action="store_true", help="progress: only scenarios that did not pass")

    p = add("extras", "print the package extras the playbook's engine needs for its formats", cmd_extras)
    p.add_argument("playbook", nargs="?", metavar="PLAYBOOK", help="a playbook file (or --model and --tier)")
    p.add_argument("--model", metavar="M", help="a shipped model playbook by model")
    p.add_argument("--tier", choices=TIERS, help="… and tier")
    p.add_argument("--engine", metavar="NAME|FILE", help="engine profile, overriding the playbook's `engine`")

    add("schema", "print the playbook JSON Schema", cmd_schema)
    p = add("engines", "list the built-in engine profiles", cmd_engines)
    p.add_argument("--json", action="store_true", help="print the profiles as JSON")
    p = add("list", "list the shipped model playbooks by model and tier", cmd_list)
    p.add_argument("--model", metavar="M", help="only this model")
    p.add_argument("--tier", choices=TIERS, help="only this tier")
    p.add_argument("--json", action="store_true", help="print them as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything aprqa prints, to the end: no line of it can be read as a workflow command by the runner.
    from aprqa_action.github.commands import guarded_output

    with guarded_output():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # the command's own usage and a suggestion, not the top-level usage
        args.command_parser.error(_unrecognized(args.command_parser, unknown))
    try:
        return int(args.func(args))
    except AprqaError as exc:
        # A message of several lines is aprqa's own layout; what it quotes from outside is folded per line.
        lines = [one_line(line) for line in str(exc).split("\n")]
        print(f"aprqa: error: {lines[0]}" if len(lines) == 1 else "\n".join(lines), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aprqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the machine, not the input: disk full, permissions, a path that is a file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aprqa: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 3
    except Exception as exc:
        # A bug: exit 3 (infrastructure), never 1, which CI would read as "not qualified".
        if os.environ.get("APRQA_DEBUG") == "1":
            traceback.print_exc()
        hint = "" if os.environ.get("APRQA_DEBUG") == "1" else " (APRQA_DEBUG=1 shows the traceback)"
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        print(f"aprqa: internal error: {message} — please report this bug{hint}", file=sys.stderr)
        return 3


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """One line: what was not understood, and the option that was probably meant."""
    import difflib

    options = [option for action in parser._actions for option in action.option_strings]
    said = []
    for token in unknown:
        name = token.split("=", 1)[0]
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6) if name.startswith("-") else []
        said.append(f"{one_line(token)} (did you mean {close[0]}?)" if close else one_line(token))
    return f"unrecognized argument{'s' if len(unknown) > 1 else ''}: {', '.join(said)}"


if __name__ == "__main__":
    raise SystemExit(main())
