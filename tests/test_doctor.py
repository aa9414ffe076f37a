"""`aprqa doctor`: what this runner has and what each cell will do here. The CPU answers are this machine's own;
the GPU answers come from an nvidia-smi stand-in that prints what nvidia-smi prints on a CUDA runner (this
machine has no GPU to ask, and faking the device any deeper would test nothing of ours)."""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

from conftest import DEMO, aprqa

SMI = """#!/bin/sh
case "$1" in
  -L) echo "GPU 0: NVIDIA A10G (UUID: GPU-5c2b7a41-9d0e-4f0a-8a51-2f6b0d9c1e77)" ;;
  --query-gpu=driver_version) echo "550.54.15" ;;
  *) exit 9 ;;
esac
"""


def doctor(*args: str | Path, path: str) -> dict:
    done = aprqa("doctor", *args, "--json", env={"PATH": path, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_cpu_answers_of_this_runner(smollm2: Path) -> None:
    found = doctor(DEMO, "--model-path", smollm2, path="/usr/bin:/bin")
    facts = {f["name"]: f for f in found["runner"]}
    assert facts["python"]["ok"] and facts["python"]["value"].startswith("3.")
    assert not facts["gpu"]["ok"] and facts["gpu"]["value"].startswith("no GPU: no CUDA device")
    assert "nvidia driver" not in facts  # no nvidia-smi: nothing to ask
    llama = facts["llama-cpp-python"]
    assert (llama["ok"], llama["value"]) == (False, f"{version('llama-cpp-python')}, {CPU_ONLY}")
    assert facts["nvcc"] == {"name": "nvcc", "value": "not on PATH (building with gpu: cuda needs it)", "ok": False}
    assert found["engine"] == "reference: installed for every planned cell"
    # No GPU here: the gpu cells are Skipped by the plan, so nothing of them can fail.
    assert found["warnings"] == []
    gpu = [s for s in found["plan"]["scenarios"] if s["backend"] == "gpu"]
    assert gpu and all(s["skip_reason"].startswith("no GPU") for s in gpu)


CPU_ONLY = "CPU only (no GPU offload: the action input gpu: cuda builds it)"


def test_on_a_cuda_runner_gpu_cells_of_a_cpu_build_are_said_to_fail(smollm2: Path, tmp_path: Path) -> None:
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "nvidia-smi").write_text(SMI)
    (stub / "nvidia-smi").chmod(0o755)
    path = f"{stub}:/usr/bin:/bin"
    found = doctor(DEMO, "--model-path", smollm2, path=path)
    facts = {f["name"]: f for f in found["runner"]}
    assert facts["gpu"] == {
        "name": "gpu",
        "value": "GPU 0: NVIDIA A10G (UUID: GPU-5c2b7a41-9d0e-4f0a-8a51-2f6b0d9c1e77)",
        "ok": True,
    }
    assert facts["nvidia driver"]["value"] == "550.54.15"
    # The plan runs the 3 gpu cells of each format; this build of llama-cpp-python cannot offload, and torch
    # here is a CPU build (or absent): each library's cells are named with the reason.
    llama = found["warnings"][0]
    assert llama == (
        "3 gpu cell(s) of engine reference will fail here (gguf/gpu/chat, gguf/gpu/run, gguf/gpu/serve): "
        f"llama-cpp-python is {version('llama-cpp-python')}, {CPU_ONLY}"
    )
    [torch] = found["warnings"][1:]
    assert torch.startswith(
        "3 gpu cell(s) of engine reference will fail here (safetensors/gpu/chat, safetensors/gpu/run, "
        "safetensors/gpu/serve): torch is "
    )
    if version("torch").endswith("+cpu"):
        assert torch.endswith(", no CUDA (a CPU build: the action input gpu: cuda installs a CUDA one)")
    gpu = [s for s in found["plan"]["scenarios"] if s["backend"] == "gpu" and s["purpose"] == "matrix"]
    assert len(gpu) == 2 * 3 * 3 and all(s["skip_reason"] is None for s in gpu)  # formats × modalities × 3
    # `plan` says the same under its table: a person reading it is not told these cells will run.
    done = aprqa("plan", DEMO, "--model-path", smollm2, env={"PATH": path, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("warning:")] == [
        f"warning: {llama}",
        f"warning: {torch}",
    ]


def test_doctor_without_a_playbook_is_the_runner_alone() -> None:
    done = aprqa("doctor", env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "runner:"
    names = [line.split()[1] for line in lines[1:]]
    assert names[:3] == ["python", "machine", "gpu"] and "llama-cpp-python" in names and "torch" in names
    assert all(line.split()[0] in ("ok", "--") for line in lines[1:])
