"""Build the reference engine's wheel (llama-cpp-python, pinned in pyproject's `engine` extra) into a wheelhouse,
for `pip install --find-links WHEELHOUSE` to take before any build of its own.

Why not let pip build it: pip compiles llama.cpp with `-march=native` and caches the wheel under a key that
ignores the compiler flags. On x86-64 that wheel can use instructions the next machine (another runner that
restores the cache) lacks (SIGILL), and on a CPU that reports AMX inside a VM that does not grant AMX state it
crashes on the first matrix product (SIGSEGV in ggml_backend_amx_mul_mat — seen on this project's CI VMs).
So on x86-64 the engine is built for x86-64-v3 (AVX2, FMA, F16C, BMI2) without AMX, unless CMAKE_ARGS says
otherwise (e.g. `-DGGML_CUDA=on` on a GPU runner); the wheelhouse has one folder per (pin, flags, machine), so
a wheel built with other flags is never taken.

    python scripts/engine_wheel.py WHEELHOUSE   # prints the folder to pass to --find-links
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTABLE_X86 = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"


def requirement() -> str:
    """llama-cpp-python's pin from the `engine` extra, without its own extras."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    [pin] = [r for r in extras["engine"] if r.startswith("llama-cpp-python")]
    name, _, version = pin.partition("==")
    return f"{name.split('[')[0]}=={version}"


def cmake_args() -> str:
    given = os.environ.get("CMAKE_ARGS", "").strip()
    if given:
        return given
    return PORTABLE_X86 if platform.machine() in ("x86_64", "AMD64") else ""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    pin, flags = requirement(), cmake_args()
    key = hashlib.sha256(f"{pin}|{flags}|{platform.machine()}|{sys.version_info[:2]}".encode()).hexdigest()[:16]
    folder = Path(argv[0]) / key
    if not any(folder.glob("llama_cpp_python-*.whl")):
        compilers = [c for c in (("cc", "gcc", "clang"), ("c++", "g++", "clang++")) if not any(map(shutil.which, c))]
        # One line, an error annotation under GitHub Actions: what to install, or which input to set.
        error = "::error title=aprqa install::" if os.environ.get("GITHUB_ACTIONS") == "true" else "error: "
        if "-DGGML_CUDA=ON" in flags.upper() and not shutil.which("nvcc"):
            print(
                f"{error}building {pin} with CUDA (CMAKE_ARGS={flags!r}) needs the CUDA toolkit's nvcc, and it is "
                "not on PATH: install the toolkit (e.g. the nvidia/cuda *-devel image) or add its bin/ to PATH, "
                "or leave the action input gpu empty for the CPU build",
                file=sys.stderr,
            )
            return 3
        if compilers:
            print(
                f"{error}building {pin} needs a C and a C++ compiler, and this machine has no "
                f"{' and no '.join(c[0] for c in compilers)}: install them (Debian/Ubuntu: apt-get install "
                "build-essential), or set the action input extras to '' when the engine is not the reference one",
                file=sys.stderr,
            )
            return 3
        print(f"building {pin} with CMAKE_ARGS={flags!r} (once per wheelhouse: about 5 minutes)", file=sys.stderr)
        env = {**os.environ, "CMAKE_ARGS": flags}
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        # --no-cache-dir: pip's wheel cache may hold a build of the same pin with other flags. Built aside and
        # moved in whole, so a job running beside this one never installs half a wheel.
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", pin, "-w", tmp]
            done = subprocess.run(argv, env=env, check=False)
            if done.returncode != 0:
                return done.returncode
            folder.mkdir(exist_ok=True)
            for wheel in Path(tmp).glob("*.whl"):
                os.replace(wheel, folder / wheel.name)
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
