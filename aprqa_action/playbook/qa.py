"""The playbook `aprqa qa MODEL` runs: the seed's `apr qa` deep gates on one model file, without a playbook of
the user's. It is an ordinary playbook — written beside the evidence as qa.playbook.yaml, so what ran can be
read and run again with `aprqa run` — built from the file and the thresholds given as flags.

What it declares: the tensor contract (I-2..I-5) and metadata plausibility of every file; golden output (the
arithmetic oracle on two sums) in every cell, run (and serve) on cpu and gpu; throughput, its CV and the GPU
speedup (profile_ci); CPU/GPU parity; with a sibling in another format (model.gguf beside model.safetensors)
format parity and the perplexity ratio; with a reference engine, its parity in serve on the GGUF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aprqa_action.records.axes import Format

PROMPTS = ("What is 2+2?", "What is 3+5?")  # sums the 135M demo model gets right


@dataclass(frozen=True)
class QaSettings:
    engine: str = "reference"
    reference_engine: str | None = "xllamacpp"  # None: no engine parity
    min_tps_cpu: float = 5.0
    min_tps_gpu: float = 50.0
    max_cv: float = 0.05  # apr qa's
    min_gpu_speedup: float = 2.0
    min_perf_ratio: float = 0.8
    max_ttft_ratio: float = 3.0
    max_ppl_ratio: float = 1.10
    parity_tokens: int = 8
    warmup: int = 1
    measure: int = 5
    max_tokens: int = 32
    timeout_ms: int = 120_000


def playbook_name(model: Path) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", model.name.lower()).strip("-") or "model"
    return f"qa-{stem}"[:64].rstrip("-")


def qa_playbook(
    model: Path, formats: list[Format], settings: QaSettings, *, greedy_args: bool = True
) -> dict[str, Any]:
    """The playbook document; `formats`: the model file's own format first, then its siblings'. `greedy_args`:
    the engine takes repeat_penalty in run too (its profile's sampling_args), so it is pinned to 1.0 — servers
    default to their own (llama-cpp-python's 1.1, llama.cpp's 1.0) and would disagree for that alone."""
    name = playbook_name(model)
    parity = settings.reference_engine is not None and Format.GGUF in formats
    document: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "description": f"aprqa qa {model.name}: the deep gates on one model file",
        "model": {"hf_repo": f"local/{name}", "formats": [str(f) for f in formats]},
        "test_matrix": {
            "modalities": ["run", "serve"] if parity else ["run"],
            "backends": ["cpu", "gpu"],
            "scenario_count": len(PROMPTS),
            "prompts": list(PROMPTS),
            "max_tokens": settings.max_tokens,
            "temperature": 0.0,
            "timeout_ms": settings.timeout_ms,
        }
        | ({"repeat_penalty": 1.0} if greedy_args else {}),
        "engine": settings.engine,
        "oracles": [{"type": "arithmetic"}, {"type": "garbage"}],
        "profile_ci": {
            "warmup": settings.warmup,
            "measure": settings.measure,
            "assertions": {
                "min_throughput_cpu": settings.min_tps_cpu,
                "min_throughput_gpu": settings.min_tps_gpu,
                "max_throughput_cv": settings.max_cv,
                "min_gpu_speedup": settings.min_gpu_speedup,
            },
        },
        "contract_tests": {"invariants": ["I-2", "I-3", "I-4", "I-5"]},
        "metadata_plausibility": {},
        "backend_parity": {"first_tokens": settings.parity_tokens},
    }
    if len(formats) > 1:
        document["format_parity"] = {"first_tokens": settings.parity_tokens}
        document["perplexity"] = {"max_ratio": settings.max_ppl_ratio}
    if parity:
        document["engine_parity"] = {
            "reference_engine": settings.reference_engine,
            "formats": ["gguf"],
            "tokens": settings.parity_tokens,
            "min_perf_ratio": settings.min_perf_ratio,
            "max_ttft_ratio": settings.max_ttft_ratio,
        }
    return document
