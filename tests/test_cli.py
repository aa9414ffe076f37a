"""The CLI's contract as CI sees it: exit codes (never 1 for a crash of aprqa), no stale verdict left behind,
missing reference-engine libraries caught before the run, and the GitHub Actions progress groups."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT, aprqa, hostile_profile, write_playbook
from report_fixtures import qualified

from aprqa_action.report import write_reports
from aprqa_action.store.evidence import STREAM_FILE, read_evidence, write_evidence

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


def test_an_output_dir_that_is_a_file_is_exit_3_with_a_message(tmp_path: Path, smollm2: Path) -> None:
    taken = tmp_path / "out"
    taken.write_text("not a directory")
    done = aprqa("run", write_playbook(tmp_path / "p.yaml"), "--model-path", smollm2, "--output-dir", taken)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == f"aprqa: error: --output-dir {taken}: exists and is not a directory"
    assert taken.read_text() == "not a directory"


def test_a_machine_error_in_any_command_is_exit_3_with_the_path(tmp_path: Path) -> None:
    write_evidence(tmp_path, qualified())
    (tmp_path / "file").write_text("")
    done = aprqa("report", tmp_path / "evidence.json", "--output-dir", tmp_path / "file" / "reports")
    assert done.returncode == 3
    assert done.stderr.strip() == f"aprqa: error: {tmp_path / 'file' / 'reports'}: Not a directory"


# Fault injection (a mock, said so): no real command of aprqa is known to crash — each one found was fixed —
# so a command is replaced by one that raises, to prove what any future bug looks like to CI.
CRASHING = (
    "import sys, aprqa_action.cli as cli\n"
    "def boom(args):\n"
    "    raise KeyError('deliberate')\n"
    "cli.cmd_engines = boom\n"
    "raise SystemExit(cli.main(['engines']))\n"
)


def crash(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CRASHING], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


def test_a_bug_in_aprqa_is_exit_3_and_one_line_not_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if k != "APRQA_DEBUG"}
    done = crash(env)
    assert done.returncode == 3  # not 1: CI would read that as "not qualified"
    assert done.stderr.splitlines() == [
        "aprqa: internal error: KeyError: 'deliberate' — please report this bug (APRQA_DEBUG=1 shows the traceback)"
    ]
    debug = crash({**env, "APRQA_DEBUG": "1"})
    assert debug.returncode == 3
    assert "Traceback (most recent call last)" in debug.stderr and "line 3, in boom" in debug.stderr
    assert debug.stderr.rstrip().endswith("aprqa: internal error: KeyError: 'deliberate' — please report this bug")


def stale_outputs(directory: Path) -> list[str]:
    """A previous run's complete, qualified output in `directory`, and a file of the user's beside it."""
    evidence = qualified()
    assert evidence.verdict is not None and evidence.verdict.qualified
    write_evidence(directory, evidence)
    write_reports(evidence, directory)
    (directory / STREAM_FILE).write_text('{"scenario_id": "old", "status": "ok"}\n')
    (directory / "notes.txt").write_text("mine")
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("playbook", ["missing", "invalid"])
def test_a_run_that_fails_early_leaves_no_earlier_verdict_behind(tmp_path: Path, playbook: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = stale_outputs(out)
    assert before == ["comment.md", "evidence.json", "junit.xml", "notes.txt", "observations.jsonl", "summary.md"]
    path = tmp_path / "missing.yaml"
    if playbook == "invalid":
        path = write_playbook(tmp_path / "p.yaml", engine="lamacpp")
    done = aprqa("run", path, "--output-dir", out)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # only aprqa's own files, by name


def test_resume_keeps_the_earlier_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale_outputs(out)
    done = aprqa("run", tmp_path / "missing.yaml", "--resume", out)
    assert done.returncode == 2
    assert read_evidence(out / "evidence.json").verdict is not None  # --resume reads it: not removed


def without(tmp_path: Path, hidden: tuple[str, ...]) -> Path:
    """A copy (symlinks) of this environment's site-packages without the `hidden` distributions: what a
    machine without them installed has."""
    site = tmp_path / "site"
    site.mkdir()
    for entry in SITE_PACKAGES.iterdir():
        if not entry.name.lower().startswith(hidden):
            (site / entry.name).symlink_to(entry)
    return site


@pytest.mark.parametrize(
    ("fmt", "modality", "hidden", "message"),
    [
        (
            "gguf",
            "run",
            ("llama_cpp",),
            "gguf run needs llama-cpp-python, but {python} cannot import llama_cpp; install it: "
            "pip install -e '.[engine]' (in the GitHub Action: the input extras: engine)",
        ),
        (
            "gguf",
            "serve",
            ("uvicorn", "fastapi"),
            "gguf serve needs llama-cpp-python, but {python} cannot import uvicorn, fastapi; install it: "
            "pip install -e '.[engine]' (in the GitHub Action: the input extras: engine)",
        ),
        (
            "safetensors",
            "run",
            ("torch",),
            "safetensors run needs torch and transformers, but {python} cannot import torch; install it: "
            "pip install -e '.[engine-hf]' (in the GitHub Action: the input extras: engine-hf)",
        ),
    ],
)
def test_a_missing_reference_engine_library_is_exit_3_before_the_run(
    tmp_path: Path, fmt: str, modality: str, hidden: tuple[str, ...], message: str
) -> None:
    # Real: aprqa runs without site-packages (-S) on a copy of them that lacks the library, so neither aprqa
    # nor the engine it would start ({python}, the same interpreter and PYTHONPATH) can import it.
    site = without(tmp_path, hidden)
    playbook = write_playbook(
        tmp_path / "p.yaml",
        model={"hf_repo": "org/model", "formats": [fmt]},
        test_matrix={"modalities": [modality], "backends": ["cpu"], "timeout_ms": 30000},
    )
    model = ROOT / "models" / "smollm2-135m" / f"model.{fmt}"
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-S", "-m", "aprqa_action", "run", playbook, "--model-path", model, "--output-dir", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == "aprqa: error: engine reference: " + message.format(python=sys.executable)
    assert not (out / "evidence.json").exists()  # stopped before any scenario


def test_github_actions_progress_has_one_group_per_executed_cell(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": ["run", "chat"], "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 30000},
        profile_ci={"warmup": 1, "measure": 1, "backends": ["cpu"]},
        engine=hostile_profile("ok"),
    )
    done = aprqa(
        "run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / "o", env={"GITHUB_ACTIONS": "true"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [ln for ln in done.stdout.splitlines() if ln.startswith(("::group::", "::endgroup::", "["))]
    cells = ["gguf/cpu/run (2 scenarios)", "gguf/cpu/chat (2 scenarios)", "gguf/cpu/run (profile_ci) (2 scenarios)"]
    expected: list[str] = []
    ids = iter(s.id for s in read_evidence(tmp_path / "o" / "evidence.json").scenarios)
    count = 0
    for cell in cells:
        expected.append(f"::group::{cell}")
        for _ in range(2):
            count += 1
            expected.append(f"[{count}/6] {next(ids)}: ok")
        expected.append("::endgroup::")
    # each scenario's line inside its cell's group, one group per cell, every group closed
    assert [re.sub(r": ok \(.*\)$", ": ok", ln) for ln in progress] == expected
