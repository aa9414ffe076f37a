"""Observations → evidence items and gateways; performance assertions. Hand-built inputs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import make_scenario, write_playbook

from aprqa_action.judge.integrity import check_file, integrity_items
from aprqa_action.judge.oracles import configured
from aprqa_action.judge.performance import percentile, perf_items
from aprqa_action.judge.run import judge
from aprqa_action.judge.scenarios import scenario_items
from aprqa_action.playbook import Assertions, ProfileCI, load_playbook
from aprqa_action.records import EvidenceItem, Gateway, Observation, ResolvedModel, Scenario
from aprqa_action.records.axes import Format
from aprqa_action.score import verdict
from aprqa_action.score.gateways import gates, gateways


@pytest.fixture
def playbook(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run"], "backends": ["cpu"], "prompts": ["What is 2+2?"]},
            oracles=[{"type": "garbage"}, {"type": "arithmetic"}],
        )
    ).playbook


def scenario(i: int = 0, purpose: str = "matrix", backend: str = "cpu") -> Scenario:
    return make_scenario(id=f"t:run:{backend}:gguf:{purpose}{i}", index=i, backend=backend, purpose=purpose)


def outcomes(playbook, observation: Observation) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = scenario_items(playbook, scenario(), observation, configured(playbook))
    return [(i.gate_id, i.outcome) for i in found]


def test_a_good_answer_passes_every_gate(playbook) -> None:  # type: ignore[no-untyped-def]
    seen = Observation(scenario_id="s", status="ok", loaded=True, text="The answer is 4.")
    assert outcomes(playbook, seen) == [
        ("G1-LOAD", "Corroborated"),
        ("G3-STABILITY", "Corroborated"),
        ("G2-INFERENCE", "Corroborated"),
        ("F-QUAL-GARBAGE", "Corroborated"),
        ("F-QUAL-ARITH", "Corroborated"),
    ]


def test_the_answer_only_in_engine_metadata_is_falsified(playbook) -> None:  # type: ignore[no-untyped-def]
    # the seed judged everything printed; here "4" in a latency line must not count
    seen = Observation(
        scenario_id="s",
        status="ok",
        loaded=True,
        text="I cannot say for sure, sorry.",
        stdout_tail="latency: 4 ms\ntok/s: 4.0",
        stderr_tail="took 4 s",
    )
    assert ("F-QUAL-ARITH", "Falsified") in outcomes(playbook, seen)


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (Observation(scenario_id="s", status="skipped", reason="no GPU"), [("G1-LOAD", "Skipped")]),
        (Observation(scenario_id="s", status="not_run", reason="cancelled"), [("G1-LOAD", "Skipped")]),
        (
            Observation(scenario_id="s", status="failed", loaded=False, reason="exit code 1"),
            [("G3-STABILITY", "Corroborated"), ("G1-LOAD", "Falsified")],
        ),
        (
            Observation(scenario_id="s", status="failed", loaded=True, reason="answered 500"),
            [("G1-LOAD", "Corroborated"), ("G3-STABILITY", "Corroborated"), ("G2-INFERENCE", "Falsified")],
        ),
        (
            Observation(scenario_id="s", status="crashed", loaded=False, signal="SIGSEGV", reason="killed by SIGSEGV"),
            [("G3-STABILITY", "Crashed")],
        ),
        (
            Observation(scenario_id="s", status="timeout", reason="killed after timeout_ms=1000"),
            [("G3-STABILITY", "Timeout")],
        ),
        (
            Observation(scenario_id="s", status="ok", loaded=True, text="  \n"),
            [("G1-LOAD", "Corroborated"), ("G3-STABILITY", "Corroborated"), ("G2-INFERENCE", "Falsified")],
        ),
    ],
)
def test_each_status_maps_to_its_gates(playbook, observation: Observation, expected) -> None:  # type: ignore[no-untyped-def]
    assert outcomes(playbook, observation) == expected


def test_gateways_from_items(playbook) -> None:  # type: ignore[no-untyped-def]
    good = Observation(scenario_id="a", status="ok", loaded=True, text="The answer is 4.")
    loop = Observation(scenario_id="b", status="ok", loaded=True, text="What is 2+2? " * 8)
    oracles = configured(playbook)
    found = scenario_items(playbook, scenario(0), good, oracles) + scenario_items(playbook, scenario(1), loop, oracles)
    found += [i.model_copy(update={"gate_id": "G0-INTEGRITY", "category": "COMP"}) for i in found[:1]]
    gates = {g.id: g for g in gateways(found, [good, loop], max_failure_fraction=0.0)}
    assert [gates[g].passed for g in ("G0", "G1", "G2", "G3")] == [True, True, True, True]
    assert not gates["G4"].passed
    assert gates["G4"].reason.startswith(
        "1 of 2 judged scenario(s) falsified (allowed fraction 0): t:run:cpu:gguf:matrix1: "
    )
    assert "only 9 distinct characters" in gates["G4"].reason  # the first falsification (garbage) is shown
    assert gateways(found, [good, loop], max_failure_fraction=0.5)[4].passed  # 1/2 ≤ 0.5


def test_nothing_executed_fails_g1() -> None:
    gates = {g.id: g for g in gateways([], [], 0.0)}
    assert not gates["G0"].passed and gates["G0"].reason == "no model file resolved for any format"
    assert not gates["G1"].passed and gates["G1"].reason == "no scenario was executed"


def test_percentile_nearest_rank() -> None:
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0  # ⌈1.5⌉ = 2nd smallest
    assert percentile([30.0, 10.0, 20.0], 99) == 30.0  # ⌈2.97⌉ = 3rd
    assert percentile([10.0, 20.0], 50) == 10.0  # ⌈1.0⌉ = 1st
    assert percentile([5.0], 99) == 5.0


def test_perf_gates_judge_the_median_and_percentiles() -> None:
    runs = [scenario(i, "measure") for i in range(3)]
    seen = {
        s.id: Observation(scenario_id=s.id, status="ok", tok_per_sec=rate, latency_ms=latency)
        for s, rate, latency in zip(runs, [40.0, 10.0, 30.0], [100.0, 300.0, 200.0], strict=True)
    }
    profile = ProfileCI(measure=3, assertions=Assertions(min_throughput_cpu=35.0, max_p50_ms=250.0, max_p99_ms=250.0))
    found = {i.gate_id: i for i in perf_items(profile, runs, seen)}
    assert found["F-PERF-TPS-CPU"].outcome == "Falsified"  # median 30 < 35
    assert found["F-PERF-TPS-CPU"].reason == (
        "30.0 tok/s < 35 tok/s (median of 3 runs: 40.0, 10.0, 30.0, CV 57.3%)"  # sd 15.275 / mean 26.667
    )
    assert found["F-PERF-P50"].outcome == "Corroborated"  # 200 ≤ 250
    assert found["F-PERF-P99"].outcome == "Falsified"  # 300 > 250
    assert found["F-PERF-P99"].metrics == {"threshold": 250.0, "p99_ms": 300.0}


def test_perf_gates_on_skipped_and_failed_runs() -> None:
    runs = [scenario(i, "measure", "gpu") for i in range(2)]
    profile = ProfileCI(measure=2, assertions=Assertions(min_throughput_gpu=50.0, min_gpu_speedup=None))
    skipped = {s.id: Observation(scenario_id=s.id, status="skipped", reason="no GPU: none") for s in runs}
    [item] = perf_items(profile, runs, skipped)
    assert (item.gate_id, item.outcome, item.reason) == (
        "F-PERF-TPS-GPU",
        "Skipped",
        "not measured: no GPU: none",
    )
    crashed = {
        runs[0].id: Observation(scenario_id=runs[0].id, status="ok", tok_per_sec=60.0),
        runs[1].id: Observation(scenario_id=runs[1].id, status="crashed", reason="killed by SIGSEGV"),
    }
    [item] = perf_items(profile, runs, crashed)
    assert item.outcome == "Crashed" and item.reason == "1 of 2 measure runs did not complete: killed by SIGSEGV"


def measured(backend: str, rates: list[float | None], status: str = "ok") -> tuple[list, dict]:  # type: ignore[type-arg]
    runs = [scenario(i, "measure", backend) for i in range(len(rates))]
    seen = {
        s.id: Observation(scenario_id=s.id, status=status, tok_per_sec=r, reason="no GPU: none")
        for s, r in zip(runs, rates, strict=True)
    }
    return runs, seen


def test_throughput_cv_is_said_and_judged() -> None:
    runs, seen = measured("cpu", [10.0, 12.0, 14.0])  # mean 12, sample sd 2: CV 16.7 %
    profile = ProfileCI(measure=3, assertions=Assertions(min_throughput_cpu=5.0, max_throughput_cv=0.05))
    found = {i.gate_id: i for i in perf_items(profile, runs, seen)}
    assert found["F-PERF-TPS-CPU"].reason == "12.0 tok/s ≥ 5 tok/s (median of 3 runs: 10.0, 12.0, 14.0, CV 16.7%)"
    cv_item = found["F-PERF-TPS-CV"]
    assert (cv_item.outcome, cv_item.reason) == ("Falsified", "tok/s CV 16.7% > 5.0% (3 runs: 10.0, 12.0, 14.0)")
    assert cv_item.metrics["cv"] == pytest.approx(1 / 6)
    runs, seen = measured("cpu", [20.0, 20.5])  # mean 20.25, sd 0.35355: CV 1.75 %
    found = {i.gate_id: i for i in perf_items(profile, runs, seen)}
    assert found["F-PERF-TPS-CV"].outcome == "Corroborated"
    assert found["F-PERF-TPS-CV"].reason == "tok/s CV 1.7% ≤ 5.0% (2 runs: 20.0, 20.5)"
    runs, seen = measured("cpu", [20.0])
    found = {i.gate_id: i for i in perf_items(profile.model_copy(update={"measure": 1}), runs, seen)}
    assert found["F-PERF-TPS-CV"].outcome == "Skipped"


def test_gpu_speedup_from_recorded_runs() -> None:
    cpu, cpu_seen = measured("cpu", [8.0, 10.0, 9.0])  # median 9
    gpu, gpu_seen = measured("gpu", [30.0, 27.0, 28.0])  # median 28: 28 / 9 = 3.11×
    profile = ProfileCI(measure=3, assertions=Assertions())  # min_gpu_speedup defaults to 2.0
    [item] = perf_items(profile, cpu + gpu, cpu_seen | gpu_seen)
    assert (item.gate_id, item.outcome, item.cell) == ("F-PERF-GPU-SPEEDUP", "Corroborated", "gguf")
    assert item.reason == "gpu 28.0 tok/s ÷ cpu 9.0 tok/s = 3.11× ≥ 2×"
    assert item.metrics["speedup"] == pytest.approx(28 / 9)
    slow = ProfileCI(measure=3, assertions=Assertions(min_gpu_speedup=4.0))
    [item] = perf_items(slow, cpu + gpu, cpu_seen | gpu_seen)
    assert (item.outcome, item.reason) == ("Falsified", "gpu 28.0 tok/s ÷ cpu 9.0 tok/s = 3.11× < 4×")


def test_gpu_speedup_is_skipped_without_a_gpu() -> None:
    cpu, cpu_seen = measured("cpu", [8.0, 10.0])
    gpu, gpu_seen = measured("gpu", [None, None], status="skipped")
    [item] = perf_items(ProfileCI(), cpu + gpu, cpu_seen | gpu_seen)
    assert (item.outcome, item.reason) == ("Skipped", "gpu not measured: no GPU: none")
    # measured on cpu only (no gpu declared): no speedup to judge, no item
    assert perf_items(ProfileCI(), cpu, cpu_seen) == []


def apr_file(path: Path, **offsets: int) -> Path:
    """An APR v2 file as aprender's format crate lays it out: the 64-byte header (magic, version 2.0, flags,
    tensor count, metadata offset/size, tensor-index and data offsets, checksum, reserved), then 192 bytes."""
    o = {"metadata": 64, "metadata_size": 32, "index": 128, "data": 192, **offsets}
    header = b"APR\x00" + bytes([2, 0]) + (0).to_bytes(2, "little") + (1).to_bytes(4, "little")
    header += o["metadata"].to_bytes(8, "little") + o["metadata_size"].to_bytes(4, "little")
    header += o["index"].to_bytes(8, "little") + o["data"].to_bytes(8, "little") + bytes(4 + 20)
    assert len(header) == 64
    path.write_bytes(header + bytes(192))
    return path


def g0(path: Path) -> tuple[EvidenceItem, Gateway]:
    check = check_file(str(path), Format.APR)
    models = {Format.APR: ResolvedModel(format=Format.APR, path=str(path), how="given", reason="the given file")}
    items = integrity_items(models, {Format.APR: check.problem} if check.problem else {})
    return items[0], gateways(items, [], 0.0)[0]


def test_an_apr_file_passes_g0_only_with_its_magic_and_header_and_says_what_was_checked(tmp_path: Path) -> None:
    item, gate = g0(apr_file(tmp_path / "good.apr"))
    assert (item.outcome, gate.passed) == ("Corroborated", True)
    assert item.reason == (
        f"{tmp_path / 'good.apr'}: APR magic and 64-byte v2 header present, metadata/tensor-index/data offsets "
        "inside the file; tensor layout not verified: no public reader agrees on APR tensor types"
    )
    noise = tmp_path / "noise.apr"
    noise.write_bytes(random.Random(7).randbytes(100))
    item, gate = g0(noise)
    head = noise.read_bytes()[:4]
    expected = f"{noise}: not an APR file: magic {head!r}, expected b'APR\\x00' (or b'APR2')"
    assert (item.outcome, item.reason) == ("Falsified", expected)
    assert not gate.passed and gate.reason == f"apr: {expected}"


def test_an_apr_header_pointing_outside_the_file_or_cut_short_fails_g0(tmp_path: Path) -> None:
    item, _ = g0(apr_file(tmp_path / "far.apr", data=4096))  # the file is 256 bytes
    assert (
        item.reason
        == f"{tmp_path / 'far.apr'}: the APR header puts the tensor data at byte 4096, outside the file's 64..256"
    )
    item, _ = g0(apr_file(tmp_path / "meta.apr", metadata_size=1000))
    assert item.reason.endswith("puts the metadata at bytes 64..1064, outside the file's 64..256")
    short = tmp_path / "short.apr"
    short.write_bytes(b"APR\x00" + bytes([2, 0]) + bytes(10))
    item, _ = g0(short)
    assert (item.outcome, item.reason) == (
        "Falsified",
        f"{short}: truncated: 16 bytes, shorter than the 64-byte APR header",
    )


def test_a_crashed_warmup_run_fails_g3_and_costs_the_crash_penalty(tmp_path: Path) -> None:
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run"], "backends": ["cpu"], "prompts": ["What is 2+2?"]},
            oracles=[{"type": "garbage"}, {"type": "arithmetic"}],
            profile_ci={"warmup": 1, "measure": 1},
        )
    ).playbook
    matrix, warmup, measure = scenario(0), scenario(0, "warmup"), scenario(0, "measure")
    seen = [
        Observation(scenario_id=matrix.id, status="ok", loaded=True, text="The answer is 4."),
        Observation(scenario_id=warmup.id, status="crashed", loaded=False, reason="killed by SIGSEGV"),
        Observation(scenario_id=measure.id, status="ok", loaded=True, text="4", tok_per_sec=10.0),
    ]
    models = {Format.GGUF: ResolvedModel(format=Format.GGUF, path="/m/model.gguf", how="given", reason="given")}
    items = judge(playbook, models, {}, [matrix, warmup, measure], seen)
    stab = [(i.scenario_id, i.outcome) for i in items if i.gate_id == "G3-STABILITY"]
    assert stab == [(matrix.id, "Corroborated"), (warmup.id, "Crashed")]
    gates = gateways(items, seen, 0.0)
    g3 = next(g for g in gates if g.id == "G3")
    assert not g3.passed and g3.reason == f"{warmup.id}: killed by SIGSEGV"
    judged = verdict(items, seen, gates, all_cells_executed=True)
    # STAB 200 × 1 passed / 2 judged = 100; COMP: G0, G1, G2 all pass = 150; QUAL 2/2 = 200; PERF nothing judged
    scores = {c.category: c.score for c in judged.categories}
    assert (scores["STAB"], scores["COMP"], scores["QUAL"], scores["PERF"]) == (100.0, 150.0, 200.0, 0.0)
    assert (judged.raw_score, judged.crashes, judged.penalty) == (450.0, 1, 20)  # 20 per crash, warmup included
    assert (judged.mqs, judged.grade, judged.status) == (0, "F", "BLOCKED")  # G3 failed


def test_g1_says_why_nothing_loaded(playbook) -> None:  # type: ignore[no-untyped-def]
    oracles = configured(playbook)
    hung = Observation(scenario_id="a", status="timeout", reason="killed after timeout_ms=1000")
    died = Observation(scenario_id="b", status="crashed", loaded=False, reason="killed by SIGSEGV")
    items = scenario_items(playbook, scenario(0), hung, oracles) + scenario_items(playbook, scenario(1), died, oracles)
    g1 = gateways(items, [hung, died], 0.0)[1]
    assert not g1.passed
    assert g1.reason == (
        "no scenario loaded the model: 1 timed out and 1 crashed before loading it "
        "(t:run:cpu:gguf:matrix0: killed after timeout_ms=1000; t:run:cpu:gguf:matrix1: killed by SIGSEGV)"
    )
    skipped = [Observation(scenario_id=str(i), status="skipped", reason="no GPU: none") for i in range(3)]
    items = [i for n, s in enumerate(skipped) for i in scenario_items(playbook, scenario(n), s, oracles)]
    assert gateways(items, skipped, 0.0)[1].reason == (
        "no scenario was executed: all skipped (t:run:cpu:gguf:matrix0: no GPU: none (and 2 more))"
    )


@pytest.mark.parametrize(
    ("gate_id", "category", "outcome", "gating"),
    [
        ("G0-INTEGRITY", "COMP", "Falsified", True),
        ("G1-LOAD", "STAB", "Falsified", True),
        ("G2-INFERENCE", "STAB", "Falsified", True),
        ("G3-STABILITY", "STAB", "Crashed", True),
        ("G3-STABILITY", "STAB", "Timeout", False),  # penalised, G3 still passes
        ("F-QUAL-ARITH", "QUAL", "Falsified", True),  # counted by G4
        ("F-PERF-TPS", "PERF", "Falsified", False),
        ("F-PERF-TPS", "PERF", "Crashed", True),  # its run's G3 item fails G3
        ("F-CONTRACT-I3", "COMP", "Falsified", False),
        ("F-REGR-PARITY", "REGR", "Falsified", False),
    ],
)
def test_which_failures_can_fail_a_gateway(gate_id: str, category: str, outcome: str, gating: bool) -> None:
    item = EvidenceItem(id="x", gate_id=gate_id, category=category, outcome=outcome, reason="r")  # type: ignore[arg-type]
    assert gates(item) is gating
