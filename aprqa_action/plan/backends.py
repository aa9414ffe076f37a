"""Which compute backends this machine has. A cell whose backend is absent is Skipped with the reason."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from aprqa_action.records import BackendProbe
from aprqa_action.records.axes import Backend


@cache
def probe(backend: Backend) -> BackendProbe:
    if backend == Backend.CPU:
        return BackendProbe(backend=backend, available=True, reason="always available")
    return _probe_gpu()


def _probe_gpu() -> BackendProbe:
    # CUDA: nvidia-smi lists devices as "GPU 0: NVIDIA ... (UUID: ...)".
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return BackendProbe(backend=Backend.GPU, available=False, reason=f"no GPU: nvidia-smi failed: {exc}")
        devices = [line.strip() for line in listing.stdout.splitlines() if line.startswith("GPU ")]
        if devices:
            return BackendProbe(
                backend=Backend.GPU,
                available=True,
                reason=f"{len(devices)} CUDA device(s)",
                devices=tuple(devices),
            )
        detail = (listing.stderr or listing.stdout).strip().splitlines()
        return BackendProbe(
            backend=Backend.GPU,
            available=False,
            reason="no GPU: nvidia-smi lists no device" + (f" ({detail[0]})" if detail else ""),
        )
    # ROCm: the kernel driver exposes /dev/kfd and one render node per GPU.
    if Path("/dev/kfd").exists() and shutil.which("rocm-smi"):
        return BackendProbe(backend=Backend.GPU, available=True, reason="ROCm device (/dev/kfd)", devices=("rocm",))
    return BackendProbe(
        backend=Backend.GPU,
        available=False,
        reason="no GPU: no CUDA device (nvidia-smi not installed) and no ROCm device (/dev/kfd absent)",
    )
