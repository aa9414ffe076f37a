"""`aprqa doctor`: what this runner has for running engines — the first thing to run on a new runner.

Each probe that loads a native library (llama-cpp-python, torch) runs in a child interpreter with a timeout,
so a broken CUDA install is a fact in the answer, not a crash of aprqa.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.plan.backends import probe
from aprqa_action.records import Record, Scenario
from aprqa_action.records.axes import Backend

PROBE_TIMEOUT_S = 60
LLAMA = (
    "import llama_cpp, json; print(json.dumps([llama_cpp.__version__, bool(llama_cpp.llama_supports_gpu_offload())]))"
)
TORCH = "import torch, json; print(json.dumps([torch.__version__, torch.cuda.is_available(), torch.version.cuda]))"


class Fact(Record):
    name: str
    value: str
    ok: bool = True  # False: this runner cannot do something a playbook may ask of it


def _child(code: str) -> tuple[list | None, str]:
    """The JSON a child interpreter prints, or why there is none (its last error line)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"the probe did not answer within {PROBE_TIMEOUT_S} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"exit {done.returncode}"
    return json.loads(done.stdout), ""


def _driver() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi failed: {exc}"
    versions = sorted({line.strip() for line in done.stdout.splitlines() if line.strip()})
    return ", ".join(versions) or (done.stderr.strip().splitlines() or ["no answer"])[0]


def _llama_fact() -> Fact:
    llama, why = _child(LLAMA)
    if llama is None:
        return Fact(name="llama-cpp-python", value=f"not importable ({why})", ok=False)
    offload = "with GPU offload" if llama[1] else "CPU only (no GPU offload: the action input gpu: cuda builds it)"
    return Fact(name="llama-cpp-python", value=f"{llama[0]}, {offload}", ok=bool(llama[1]))


def _torch_fact() -> Fact:
    torch, why = _child(TORCH)
    if torch is None:
        return Fact(name="torch", value=f"not importable ({why})", ok=False)
    built = f"built for CUDA {torch[2]}" if torch[2] else "a CPU build: the action input gpu: cuda installs a CUDA one"
    cuda = f"CUDA {torch[2]} available" if torch[1] else f"no CUDA ({built})"
    return Fact(name="torch", value=f"{torch[0]}, {cuda}", ok=bool(torch[1]))


# A module a {python} engine imports → the probe that says whether it can use the GPU.
GPU_LIBRARIES = {"llama_cpp": ("llama-cpp-python", _llama_fact), "torch": ("torch", _torch_fact)}


def host_facts() -> list[Fact]:
    gpu = probe(Backend.GPU)
    facts = [
        Fact(name="python", value=f"{platform.python_version()} at {sys.executable}", ok=sys.version_info >= (3, 11)),
        Fact(name="machine", value=f"{platform.system()} {platform.machine()}"),
        Fact(name="gpu", value=", ".join(gpu.devices) if gpu.available else gpu.reason, ok=gpu.available),
    ]
    driver = _driver()
    if driver is not None:
        facts.append(Fact(name="nvidia driver", value=driver))
    nvml, why = _child("import pynvml, json; pynvml.nvmlInit(); print(json.dumps([pynvml.nvmlDeviceGetCount()]))")
    facts.append(
        Fact(name="nvml", value=f"{nvml[0]} device(s)" if nvml else f"unavailable ({why})", ok=bool(nvml and nvml[0]))
    )
    facts += [library() for _, library in GPU_LIBRARIES.values()]
    nvcc = shutil.which("nvcc")
    facts.append(Fact(name="nvcc", value=nvcc or "not on PATH (building with gpu: cuda needs it)", ok=nvcc is not None))
    return facts


def gpu_warnings(profile: EngineProfile, runnable: list[Scenario], facts: list[Fact] | None = None) -> list[str]:
    """What the plan cannot see: gpu cells it will run on an engine library that cannot use the GPU. Only the
    libraries such cells need are probed (unless `facts` already holds them): none when no gpu cell runs."""
    found = {f.name: f for f in facts or []}
    warnings = []
    for module, (name, library) in GPU_LIBRARIES.items():
        formats = {fmt for r in profile.requires if module in r.modules for fmt in r.formats}
        cells = sorted(
            {f"{s.format}/gpu/{s.modality}" for s in runnable if s.backend == Backend.GPU and s.format in formats}
        )
        if not cells:
            continue
        fact = found.get(name) or library()
        if not fact.ok:
            warnings.append(
                f"{len(cells)} gpu cell(s) of engine {profile.name} will fail here ({', '.join(cells)}): "
                f"{fact.name} is {fact.value}"
            )
    return warnings
