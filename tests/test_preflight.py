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


def wheel_builder_error(tmp_path: Path, **env: str) -> str:
    """scripts/engine_wheel.py as the action runs it, with an empty wheelhouse, refusing to build: its one
    error line (exit 3, nothing on stdout, no wheel)."""
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / "engine_wheel.py", tmp_path / "wheels"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GITHUB_ACTIONS": "true", "HOME": str(tmp_path), **env},
    )
    assert done.returncode == 3 and done.stdout == ""
    assert not any((tmp_path / "wheels").glob("*/*.whl"))
    [line] = done.stderr.splitlines()
    assert line.startswith("::error title=aprqa install::building llama-cpp-python==")
    return line


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
    line = wheel_builder_error(tmp_path, PATH=str(bare))
    assert "has no cc and no c++: install them (Debian/Ubuntu: apt-get install build-essential)" in line
    assert "set the action input extras to ''" in line


def test_a_cuda_build_without_nvcc_is_one_error_line(tmp_path: Path) -> None:
    # Real: the wheel builder asked for CUDA with a PATH that has a compiler but no nvcc.
    line = wheel_builder_error(tmp_path, PATH="/usr/bin:/bin", CMAKE_ARGS="-DGGML_CUDA=on")
    assert "with CUDA (CMAKE_ARGS='-DGGML_CUDA=on') needs the CUDA toolkit's nvcc" in line
    assert "leave the action input gpu empty" in line


def venv_step(tmp_path: Path, gpu: str) -> tuple[subprocess.CompletedProcess, str]:
    """The action's first step, its script as action.yml has it, with the env GitHub would give it."""
    import yaml

    [step] = [s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"] if s.get("id") == "venv"]
    output = tmp_path / f"output-{gpu or 'cpu'}"
    env = {
        "PATH": "/usr/bin:/bin",
        "APRQA_PYTHON": sys.executable,
        "APRQA_GPU": gpu,
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp_path / (gpu or "cpu")),
        "RUNNER_OS": "Linux",
    }
    done = subprocess.run(["bash", "-c", step["run"]], capture_output=True, text=True, timeout=300, env=env)
    return done, output.read_text() if output.exists() else ""


def test_the_gpu_input_is_checked_first_and_keys_the_cache(tmp_path: Path) -> None:
    done, output = venv_step(tmp_path, "rocm\n::warning::x")
    assert (done.returncode, output) == (2, "")
    assert done.stdout.splitlines() == ["::error title=aprqa::gpu: empty (the CPU build) or cuda"]
    (cpu, cpu_key), (cuda, cuda_key) = venv_step(tmp_path, ""), venv_step(tmp_path, "cuda")
    assert cpu.returncode == 0 and cuda.returncode == 0, cpu.stderr + cuda.stderr
    # One cache per build flags: a CPU build restored on a CUDA runner would never be saved with the CUDA wheel.
    assert cpu_key.startswith("cache-key=aprqa-pip-Linux-") and cuda_key.startswith("cache-key=aprqa-pip-Linux-")
    assert cpu_key != cuda_key and cpu_key.rsplit("-", 1)[0] == cuda_key.rsplit("-", 1)[0]


def test_make_install_with_cuda_flags_builds_the_engine_again() -> None:
    # The developer path (README): the venv's stamp is keyed by CMAKE_ARGS, so a CUDA build is not "up to date".
    def make(*args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "install", *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
        )
        return done.stdout

    assert "Nothing to be done" in make()  # `make test` set it up for this suite
    cuda = make("CMAKE_ARGS=-DGGML_CUDA=on")
    assert "scripts/engine_wheel.py" in cuda and "--force-reinstall" in cuda
