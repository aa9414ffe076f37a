"""The CLI for a person at a terminal: a misspelling gets its suggestion and the command's own usage, one error
line per problem, --json where a script reads the answer, --quiet and --verbose progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, aprqa, hostile_profile, write_playbook

DEMO = ROOT / "playbooks" / "examples" / "smollm2-135m-demo.playbook.yaml"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["plan", DEMO, "--modelpath", "x"],
            "aprqa plan: error: unrecognized arguments: --modelpath (did you mean --model-path?), x",
        ),
        (
            ["run", DEMO, "--fail_on=gateway"],
            "aprqa run: error: unrecognized argument: --fail_on=gateway (did you mean --fail-on?)",
        ),
        (
            ["report", "e.json", "--bseline", "b"],
            "aprqa report: error: unrecognized arguments: --bseline (did you mean --baseline?), b",
        ),
        (
            ["run", DEMO, "--only", "backnd=cpu"],
            "aprqa: error: --only 'backnd=cpu' (did you mean backend=cpu?): use key=value pairs with key one of "
            "format, backend, modality",
        ),
        (
            ["plan", DEMO, "--engine", "llamacpp-servr"],
            "aprqa: error: unknown engine 'llamacpp-servr' (did you mean 'llamacpp-server'?): use one of apr, "
            "apr-text, llamacpp-server, ollama, openai, reference, xllamacpp or a profile file",
        ),
    ],
    ids=["plan --modelpath", "run --fail_on", "report --bseline", "--only backnd", "--engine llamacpp-servr"],
)
def test_a_misspelling_gets_one_line_with_its_suggestion(argv: list[str | Path], said: str, tmp_path: Path) -> None:
    done = aprqa(*argv, env={"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == said
    if said.startswith(f"aprqa {argv[0]}:"):  # argparse's errors show the command's usage, not aprqa's
        assert done.stderr.startswith(f"usage: aprqa {argv[0]} ")


def test_an_unreadable_model_file_is_one_error_line(tmp_path: Path) -> None:
    done = aprqa("inspect", tmp_path / "absent.gguf")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"aprqa: error: {tmp_path / 'absent.gguf'}: cannot be read as a model file: no such file\n"


def test_list_engines_and_inspect_print_json(smollm2: Path) -> None:
    listed = json.loads(aprqa("list", "--tier", "smoke", "--json").stdout)
    assert listed[-1] == {
        "model": "smollm2-135m",
        "tier": "smoke",
        "cells": 3,
        "scenarios": 3,
        "engine": "reference",
        "path": str(ROOT / "playbooks" / "models" / "smollm2-135m-smoke.playbook.yaml"),
    }
    engines = {e["name"]: e for e in json.loads(aprqa("engines", "--json").stdout)}
    assert sorted(engines) == ["apr", "apr-text", "llamacpp-server", "ollama", "openai", "reference", "xllamacpp"]
    assert engines["apr"]["install"].startswith("cargo install apr-cli")
    inspected = json.loads(aprqa("inspect", smollm2, "--json").stdout)
    assert inspected["format"] == "gguf" and inspected["failure"] is None
    assert [r["invariant"] for r in inspected["results"]] == ["I-2", "I-3", "I-4", "I-5"]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (
            [],
            [
                "== gguf/cpu/run (1 scenario)",
                "[1/2] t:run:cpu:gguf:000: ok",
                "== gguf/cpu/chat (1 scenario)",
                "[2/2] t:chat:cpu:gguf:000: failed",
            ],
        ),
        (["--quiet"], ["[2/2] t:chat:cpu:gguf:000: failed"]),
        (
            ["--verbose"],
            [
                "== gguf/cpu/run (1 scenario)",
                "[1/2] t:run:cpu:gguf:000: ok",
                "    command: ",
                "== gguf/cpu/chat (1 scenario)",
                "[2/2] t:chat:cpu:gguf:000: failed",
                "    command: ",
                "    output: error: failed to load model: unsupported tensor type 42",
            ],
        ),
    ],
    ids=["default", "quiet", "verbose"],
)
def test_quiet_and_verbose_progress(tmp_path: Path, smollm2: Path, flag: list[str], expected: list[str]) -> None:
    profile = hostile_profile("ok")
    profile["chat"] = hostile_profile("fail")["chat"]
    playbook = write_playbook(
        tmp_path / "p.yaml",
        engine=profile,
        test_matrix={"modalities": ["run", "chat"], "backends": ["cpu"], "timeout_ms": 30000},
    )
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / "out", *flag)
    assert done.returncode == 1, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith(("==", "[", "    "))]
    assert len(progress) == len(expected), done.stderr
    assert all(line.startswith(start) for line, start in zip(progress, expected, strict=True)), progress


def test_quiet_and_verbose_together_are_a_usage_error() -> None:
    done = aprqa("run", DEMO, "--quiet", "--verbose")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
