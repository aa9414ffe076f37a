"""The benchmark scripts are not part of the suite's measurements, but they must keep running: an import that
breaks (a helper renamed in the tests they borrow from) would otherwise only show at the next nightly run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_fuzz_playbook import assert_clear

from aprqa_action.errors import InputError
from aprqa_action.playbook import load_playbook

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def _run(*args: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_there_are_benchmark_scripts() -> None:
    assert {path.name for path in SCRIPTS} >= {"fuzz_nightly.py", "report_scale.py", "contract_scan.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_benchmark_imports_and_prints_its_usage(script: Path) -> None:
    # --help runs every module-level import (and argparse), which is where a stale import fails.
    done = _run(script, "--help", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_small_nightly_fuzz_run_passes(smollm2: Path) -> None:
    # The real fuzz loop on 20 + 20 inputs (the real SmolLM2 GGUF is one of its model bases): any uncaught
    # exception, unclear error or hang makes it exit 1.
    done = _run(ROOT / "benchmarks" / "fuzz_nightly.py", "--playbook-inputs", "20", "--model-inputs", "20", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASS (valid results and clear errors only)" in done.stdout
    assert done.stdout.count("uncaught exceptions  0  (must be 0)") == 2


def test_keys_that_print_as_something_else_are_escaped(tmp_path: Path) -> None:
    # The nightly fuzz found unknown keys starting with a no-break space: printed raw, "path:1:1:  key" hid
    # it. Every character str.isprintable rejects is escaped: NBSP, a bidi override, an unassigned code point.
    path = tmp_path / "keys.playbook.yaml"
    text = "\u00a0key: 1\n\u202eyek: 2\nok\U000e3438: 3\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    message = str(caught.value)
    assert f"{path}:1:1: \\xa0key: unknown key" in message
    assert f"{path}:2:1: \\u202eyek: unknown key" in message
    assert f"{path}:3:1: ok\\U000e3438: unknown key" in message
    assert_clear(message, path, text)
