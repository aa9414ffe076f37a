"""The runner preflight of the action: an unsupported Python or a missing compiler is one `::error` line saying
what to install or which input to set, never a traceback."""

from __future__ import annotations

import importlib.util
import os
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


def test_make_install_gpu_cuda_builds_the_engine_with_cuda_and_a_cuda_torch() -> None:
    def make(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-n", "install", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)

    cuda = make("GPU=cuda")
    assert cuda.returncode == 0, cuda.stderr
    assert "scripts/engine_wheel.py" in cuda.stdout and ".venv/bin/python scripts/engine_torch.py" in cuda.stdout
    # The stamp is keyed by the build too: the CPU venv is not "up to date" for a CUDA one, nor is cu130 for cu126.
    cu126 = make("GPU=cuda", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126")
    stamp = [line for line in cuda.stdout.splitlines() if line.startswith("rm -f .venv/.installed-*")]
    assert stamp and stamp[0] not in cu126.stdout
    wrong = make("GPU=rocm")
    assert wrong.returncode == 2 and "GPU: empty (the CPU build) or cuda.  Stop." in wrong.stderr


def engine_torch(python: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, ROOT / "scripts" / "engine_torch.py", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), **env},
    )


def test_the_cuda_torch_commands() -> None:
    # The suite's own torch (the CPU build the engine-hf extra resolves to here) is what gets replaced.
    import torch

    found = f"torch {torch.__version__} (a CPU build)" if torch.version.cuda is None else None
    if found is None:
        pytest.skip(f"this environment's torch {torch.__version__} is already a CUDA build")
    done = engine_torch(sys.executable, "--dry-run")
    pip = f"{sys.executable} -m pip"
    assert (done.returncode, done.stdout.splitlines()) == (
        0,
        [
            f"{found}; would run:",
            f"  {pip} uninstall --quiet --yes torch",
            f"  {pip} install --quiet torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cu130",
        ],
    )
    cu126 = engine_torch(sys.executable, "--dry-run", TORCH_INDEX_URL="https://download.pytorch.org/whl/cu126")
    assert cu126.stdout.splitlines()[-1].endswith("--extra-index-url https://download.pytorch.org/whl/cu126")
    assert engine_torch(sys.executable, "--gpu").returncode == 2


def test_a_cuda_torch_is_left_alone() -> None:
    # No CUDA torch can be installed here: the probe's answer on a GPU runner, as recorded there.
    spec = importlib.util.spec_from_file_location("engine_torch", ROOT / "scripts" / "engine_torch.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.commands(("2.13.0+cu130", "13.0")) == []
    assert module.describe(("2.13.0+cu130", "13.0")) == "torch 2.13.0+cu130 (built for CUDA 13.0)"
    [install] = module.commands(None)  # a fresh venv, as in the action: nothing to uninstall
    assert install[-5:] == ["install", "--quiet", "torch==2.13.0", "--extra-index-url", module.DEFAULT_INDEX]


def test_a_cpu_torch_after_the_install_is_one_error_line(tmp_path: Path) -> None:
    # Real: a fresh venv, PyTorch's index replaced by an empty one (it is unreachable here), so pip takes what
    # this machine's indexes offer for the pin; on these machines that is the CPU build, which must be refused.
    import torch

    if not torch.__version__.endswith("+cpu"):
        pytest.skip(f"this machine's indexes give torch {torch.__version__}, not a CPU build")
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=120)
    (tmp_path / "index").mkdir()
    done = engine_torch(
        str(tmp_path / "venv" / "bin" / "python"),
        GITHUB_ACTIONS="true",
        TORCH_INDEX_URL=(tmp_path / "index").as_uri(),
    )
    assert done.returncode == 3 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("::error")]
    assert errors == [
        f"::error title=aprqa install::asked for a CUDA torch and got torch {torch.__version__} (a CPU build) from "
        f"{(tmp_path / 'index').as_uri()} and the configured indexes: set TORCH_INDEX_URL to PyTorch's index for "
        "your driver's CUDA (e.g. https://download.pytorch.org/whl/cu126), or leave the action input gpu empty for "
        "the CPU build"
    ]


@pytest.mark.parametrize("gpu", ["", "cuda"])
def test_the_install_step_puts_a_cuda_torch_first_when_asked(tmp_path: Path, gpu: str) -> None:
    # The Install step's script as action.yml has it. Its interpreter is a stand-in that records what it is
    # asked to do: installing the action for real is what the act tests do, and a CUDA torch cannot run here.
    import yaml

    [step] = [
        s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"] if s["name"] == "Install aprqa"
    ]
    venv = tmp_path / "aprqa-venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "calls"}\n')
    (venv / "python").chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_ACTION_PATH": str(ROOT)}
    env |= {"APRQA_EXTRAS": "engine-hf", "APRQA_GPU": gpu, "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", step["run"]], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    torch = [f"{ROOT}/scripts/engine_torch.py"] if gpu else []
    assert (tmp_path / "calls").read_text().splitlines() == [
        "-m pip install --quiet --upgrade pip",
        *torch,  # before the package, whose engine-hf extra is then satisfied by it
        f"-m pip install --quiet {ROOT}[engine-hf]",
    ]
