"""`aprqa`: argument parsing only; every subcommand calls a stage and maps errors to exit codes.

Exit codes: 0 qualified/ok · 1 not qualified · 2 usage, configuration or input error · 3 infrastructure.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from aprqa_action import __version__
from aprqa_action.errors import AprqaError
from aprqa_action.playbook import json_schema_text, load_playbook, unsupported_keys
from aprqa_action.verdict_text import format_verdict


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
        later = unsupported_keys(loaded.playbook)
        note = f" (run does not support yet: {', '.join(later)})" if later else ""
        print(f"{path}: ok — {loaded.playbook.name} {loaded.playbook.version}, {cells} cells{note}")
    return 2 if failed else 0


def _cell_count(playbook) -> int:  # type: ignore[no-untyped-def]
    m = playbook.test_matrix
    return len(m.modalities) * len(m.backends) * len(playbook.model.formats)


def cmd_plan(args: argparse.Namespace) -> int:
    from aprqa_action.pipeline import prepare
    from aprqa_action.plan import format_plan

    prepared = prepare(args.playbook, args.model_path, args.engine)
    if args.json:
        print(prepared.plan.model_dump_json(indent=2))
    else:
        print(format_plan(prepared.loaded, prepared.plan))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from aprqa_action.pipeline import run

    stop = threading.Event()
    _on_signals(lambda: stop.set())
    evidence = run(
        args.playbook,
        model_path=args.model_path,
        engine=args.engine,
        output_dir=Path(args.output_dir),
        fail_on=args.fail_on,
        stop=stop,
    )
    assert evidence.verdict is not None
    print(format_verdict(evidence))
    print(f"evidence: {Path(args.output_dir) / 'evidence.json'}")
    return 0 if evidence.verdict.qualified else 1


def _on_signals(callback: Callable[[], None]) -> None:
    """SIGTERM/SIGINT (a cancelled GitHub job) stop the run cleanly; a second one stops it hard."""

    def handler(signum: int, frame: object) -> None:
        if getattr(handler, "seen", False):
            raise KeyboardInterrupt
        handler.seen = True  # type: ignore[attr-defined]
        print(f"\naprqa: {signal.Signals(signum).name}: stopping, saving the evidence so far", file=sys.stderr)
        callback()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json_schema_text())
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    from aprqa_action.engines import builtin_names, load_profile

    for name in builtin_names():
        profile = load_profile(name)
        modes = ", ".join(m for m in ("run", "chat", "serve") if getattr(profile, m) is not None)
        print(f"{name:12} formats: {', '.join(profile.formats):28} modes: {modes:17} {profile.description}")
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
    "schema": "example:\n  aprqa schema > playbook.schema.json",
    "engines": "example:\n  aprqa engines",
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
        p.set_defaults(func=func)
        return p

    p = add("validate", "check playbooks against the schema (file:line errors, exit 2 when invalid)", cmd_validate)
    p.add_argument("playbooks", nargs="+", metavar="PLAYBOOK")

    def matrix_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("playbook", metavar="PLAYBOOK")
        p.add_argument("--model-path", metavar="P", help="model file or directory (other formats found beside it)")
        p.add_argument("--engine", metavar="NAME|FILE", help="engine profile, overriding the playbook's `engine`")

    p = add(
        "plan",
        "print the expanded matrix: scenario ids, model file per format, what is skipped and why",
        cmd_plan,
    )
    matrix_args(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")

    p = add("run", "run the playbook on the engine and write the evidence", cmd_run)
    matrix_args(p)
    p.add_argument("--output-dir", default="aprqa-out", metavar="DIR", help="where evidence.json goes (aprqa-out)")
    p.add_argument(
        "--fail-on",
        default="gateway",
        metavar="POLICY",
        help="gateway (default): exit 1 when a gateway fails; grade:<G> / mqs:<N>: also below that grade / MQS",
    )

    add("schema", "print the playbook JSON Schema", cmd_schema)
    add("engines", "list the built-in engine profiles", cmd_engines)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AprqaError as exc:
        print(f"aprqa: error: {exc}" if "\n" not in str(exc) else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aprqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
