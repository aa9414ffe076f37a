"""End to end on real engines and real models: the verdict, the exit code and the evidence behind them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, aprqa, write_playbook

from aprqa_action.store.evidence import read_evidence

pytestmark = pytest.mark.engine
QUALITY_GATE = ROOT / "playbooks" / "examples" / "quality-gate.playbook.yaml"


def test_gemma_base_is_blocked_by_g4_with_the_garbage_reason(tmp_path: Path, gemma_base: Path) -> None:
    done = aprqa("run", QUALITY_GATE, "--model-path", gemma_base, "--output-dir", tmp_path)
    assert done.returncode == 1, done.stderr
    assert "NOT QUALIFIED (gateway G4 failed)" in done.stdout
    evidence = read_evidence(tmp_path / "evidence.json")
    assert evidence.verdict is not None
    gates = {g.id: g for g in evidence.verdict.gateways}
    assert not gates["G4"].passed and all(gates[g].passed for g in ("G0", "G1", "G2", "G3"))
    assert "repetition ratio" in gates["G4"].reason
    assert (evidence.verdict.mqs, evidence.verdict.grade, evidence.verdict.status) == (0, "F", "BLOCKED")
    garbage = [i for i in evidence.items if i.gate_id == "F-QUAL-GARBAGE"]
    assert garbage and all(i.outcome == "Falsified" for i in garbage)
    assert all(i.excerpt and "<|im_end|>" in i.excerpt for i in garbage)  # the output that falsified it


def test_smollm2_passes_the_same_gate_on_the_arithmetic_prompt(tmp_path: Path, smollm2: Path) -> None:
    done = aprqa("run", QUALITY_GATE, "--model-path", smollm2, "--output-dir", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = read_evidence(tmp_path / "evidence.json")
    assert evidence.verdict is not None and evidence.verdict.qualified
    arithmetic = [i for i in evidence.items if i.gate_id == "F-QUAL-ARITH"]
    assert len(arithmetic) == 2 and all(i.outcome == "Corroborated" for i in arithmetic)
    # a stricter policy turns the same evidence into a failure
    strict = aprqa("run", QUALITY_GATE, "--model-path", smollm2, "--output-dir", tmp_path, "--fail-on", "mqs:900")
    assert strict.returncode == 1 and "is below the required 900" in strict.stdout


def perf_playbook(path: Path, minimum: float) -> Path:
    return write_playbook(
        path,
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "max_tokens": 16, "timeout_ms": 60000},
        profile_ci={"warmup": 0, "measure": 2, "assertions": {"min_throughput_cpu": minimum}},
    )


def test_a_throughput_floor_above_the_machine_fails_f_perf(tmp_path: Path, smollm2: Path) -> None:
    done = aprqa("run", perf_playbook(tmp_path / "p.yaml", 100000.0), "--model-path", smollm2, "--output-dir", tmp_path)
    evidence = read_evidence(tmp_path / "evidence.json")
    [perf] = [i for i in evidence.items if i.gate_id == "F-PERF-TPS-CPU"]
    assert perf.outcome == "Falsified"
    assert " tok/s < 100000 tok/s (median of 2 runs: " in perf.reason
    assert 0 < perf.metrics["tok_per_sec"] < 100000
    assert done.returncode == 0  # performance lowers the MQS; only gateways (and --fail-on) fail the job
    perf_category = next(c for c in evidence.verdict.categories if c.category == "PERF")  # type: ignore[union-attr]
    assert (perf_category.passed, perf_category.judged, perf_category.score) == (0, 1, 0.0)


def test_a_throughput_floor_below_the_machine_passes(tmp_path: Path, smollm2: Path) -> None:
    aprqa("run", perf_playbook(tmp_path / "p.yaml", 1.0), "--model-path", smollm2, "--output-dir", tmp_path)
    evidence = read_evidence(tmp_path / "evidence.json")
    [perf] = [i for i in evidence.items if i.gate_id == "F-PERF-TPS-CPU"]
    assert perf.outcome == "Corroborated" and " tok/s ≥ 1 tok/s" in perf.reason


def test_corrupt_model_file_is_a_g0_failure_not_a_crash(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"NOTGGUF" + bytes(100))
    done = aprqa("run", write_playbook(tmp_path / "p.yaml"), "--model-path", model, "--output-dir", tmp_path / "out")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    evidence = read_evidence(tmp_path / "out" / "evidence.json")
    gates = {g.id: g for g in evidence.verdict.gateways}  # type: ignore[union-attr]
    assert not gates["G0"].passed and "not a GGUF file" in gates["G0"].reason
    assert all(o.status == "skipped" and o.reason.startswith("G0 integrity failed") for o in evidence.observations)


def test_bad_policy_is_a_usage_error(tmp_path: Path, smollm2: Path) -> None:
    done = aprqa("run", QUALITY_GATE, "--model-path", smollm2, "--fail-on", "grade:Z", "--output-dir", tmp_path)
    assert done.returncode == 2 and "--fail-on 'grade:Z'" in done.stderr
