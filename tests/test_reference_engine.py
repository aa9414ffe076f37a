"""The real reference engine (llama-cpp-python) on the real SmolLM2-135M-Instruct file, every modality."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, aprqa

from aprqa_action.engines import load_profile
from aprqa_action.execute.server import EngineServer
from aprqa_action.plan.backends import probe
from aprqa_action.records.axes import Backend
from aprqa_action.store.evidence import read_evidence

pytestmark = pytest.mark.engine
REFERENCE = [sys.executable, "-m", "aprqa_action.reference_engine"]


def test_run_prints_one_json_object_with_text_and_rate(smollm2: Path) -> None:
    done = subprocess.run(
        [
            *REFERENCE,
            "run",
            str(smollm2),
            "-p",
            "What is 2+2?",
            "-n",
            "16",
            "--seed",
            "1",
            "--temperature",
            "0",
            "--no-gpu",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["text"].strip() and "4" in result["text"]
    assert 0 < result["tokens_generated"] <= 16 and result["tok_per_sec"] > 0
    assert result["used_gpu"] is False


def test_chat_reads_prompts_from_stdin(smollm2: Path) -> None:
    done = subprocess.run(
        [*REFERENCE, "chat", str(smollm2), "--no-gpu", "-n", "16", "--temperature", "0"],
        input="What is 2+2?\n/quit\nnever answered\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.strip()
    assert len([line for line in done.stderr.splitlines() if line.startswith("[stats]")]) == 1


def test_serve_answers_openai_chat_requests(smollm2: Path) -> None:
    profile = load_profile("reference")
    assert profile.serve is not None
    argv = lambda port: [*REFERENCE, "serve", str(smollm2), "--port", str(port), "--no-gpu"]  # noqa: E731
    server = EngineServer(argv, profile.serve)
    try:
        assert server.start(ready_timeout_s=120) is None
        reply = server.request("What is 2+2?", max_tokens=16, temperature=0.0, seed=1, timeout_s=120)
    finally:
        server.close()
    assert reply.status == "ok" and reply.text and reply.tokens and reply.tok_per_sec and reply.tok_per_sec > 0
    assert reply.ttft_ms is not None and reply.ttft_ms > 0
    assert not server.alive()


@pytest.mark.skipif(probe(Backend.GPU).available, reason="a GPU is present: the no-GPU message cannot be shown")
def test_gpu_without_a_gpu_is_a_clear_error(smollm2: Path) -> None:
    done = subprocess.run([*REFERENCE, "run", str(smollm2), "-p", "hi"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "gpu backend requested" in done.stderr and "--no-gpu" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_model_fails_to_load_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    done = subprocess.run(
        [*REFERENCE, "run", str(bad), "-p", "hi", "--no-gpu", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "failed to load model" in done.stderr and "Traceback" not in done.stderr


def test_demo_end_to_end(tmp_path: Path, smollm2: Path) -> None:
    out = tmp_path / "aprqa-out"
    done = aprqa("run", DEMO, "--model-path", smollm2, "--output-dir", out)
    assert done.returncode == 0, done.stderr
    evidence = read_evidence(out / "evidence.json")
    assert evidence.run.state == "complete"
    assert evidence.verdict is not None and evidence.verdict.qualified
    assert evidence.verdict.mqs > 0 and evidence.verdict.grade != "F"
    assert all(g.passed for g in evidence.verdict.gateways)
    by_id = {o.scenario_id: o for o in evidence.observations}
    # the answers of every cpu cell (edge probes: test_edge_real; perplexity runs answer nothing: test_deep_gates)
    cpu = [s for s in evidence.scenarios if s.backend == "cpu" and s.purpose not in ("edge", "perplexity")]
    assert {s.modality for s in cpu} == {"run", "chat", "serve"}
    for scenario in cpu:
        observed = by_id[scenario.id]
        assert observed.status == "ok", observed.reason
        assert observed.text and observed.text.strip()
        assert observed.tok_per_sec is not None and observed.tok_per_sec > 0
    gpu = [by_id[s.id] for s in evidence.scenarios if s.backend == "gpu"]
    if not probe(Backend.GPU).available:
        assert gpu and all(o.status == "skipped" and o.reason.startswith("no GPU") for o in gpu)
    # Format parity in every modality: on CPU, one F-REGR-PARITY item per modality and scenario index comparing
    # the SafeTensors twin with the GGUF. Its outcome is the models' business (a prompt may diverge), but both
    # answered, so each is compared: Corroborated or Falsified, never Skipped.
    parity = {i.id: i for i in evidence.items if i.gate_id == "F-REGR-PARITY"}
    for modality in ("run", "chat", "serve"):
        for index in range(3):
            item = parity.get(f"F-REGR-PARITY:safetensors/cpu/{modality}:{index:03d}")
            assert item is not None, sorted(parity)
            assert item.category == "REGR" and item.outcome in ("Corroborated", "Falsified"), item.reason
            assert item.metrics["first_tokens"] == 8.0
    assert {i.cell for i in parity.values() if "/cpu/" in i.cell} == {
        "safetensors/cpu/run",
        "safetensors/cpu/chat",
        "safetensors/cpu/serve",
    }
    planned = json.loads(aprqa("plan", DEMO, "--model-path", smollm2, "--json").stdout)
    assert [s["id"] for s in planned["scenarios"]] == [s.id for s in evidence.scenarios]
