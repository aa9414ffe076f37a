"""The runner preflight of the action: an unsupported Python or a missing compiler is one `::error` line saying
what to install or which input to set, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PREFLIGHT = ROOT / "scripts" / "preflight.sh"


def preflight(python: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", PREFLIGHT, python], capture_output=True, text=True, timeout=60, env={"PATH": path})


def test_this_python_passes() -> None:
    done = preflight(sys.executable)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert (done.returncode, done.stdout) == (0, f"preflight: Python {version} at {sys.executable}\n")


def test_an_old_python_is_one_error_line_with_what_to_do(tmp_path: Path) -> None:
    # No Python 3.10 can be installed here: a stand-in answers the version probe as Ubuntu 22.04's would.
    old = tmp_path / "python3"
    old.write_text("#!/bin/sh\necho 3.10\nexit 1\n")
    old.chmod(0o755)
    done = preflight("python3", path=f"{tmp_path}:/usr/bin:/bin")
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "::error title=aprqa preflight::apr-qa-action needs Python 3.11 or newer; 'python3' is Python 3.10: add "
        "actions/setup-python (python-version: '3.11') before this action, or set its input python to a Python "
        "3.11 or newer"
    ]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("python", ["no-such-python", "python3\n::warning::injected"])
def test_a_missing_interpreter_is_one_error_line(python: str) -> None:
    done = preflight(python)
    assert done.returncode == 2
    [line] = done.stdout.splitlines()
    assert line.startswith("::error title=aprqa preflight::the Python interpreter '") and "setup-python" in line


def test_an_engine_build_without_a_compiler_is_one_error_line(tmp_path: Path) -> None:
    # Real: the wheel builder with a PATH that has no compiler and an empty wheelhouse.
    bare = tmp_path / "bin"
    bare.mkdir()
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / "engine_wheel.py", tmp_path / "wheels"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(bare), "GITHUB_ACTIONS": "true", "HOME": str(tmp_path)},
    )
    assert done.returncode == 3 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("::error title=aprqa install::building llama-cpp-python==")
    assert "has no cc and no c++: install them (Debian/Ubuntu: apt-get install build-essential)" in line
    assert "set the action input extras to ''" in line
    assert not any((tmp_path / "wheels").glob("*/*.whl"))
