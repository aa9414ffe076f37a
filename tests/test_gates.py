"""Observations → evidence items and gateways; performance assertions. Hand-built inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_scenario, write_playbook

from aprqa_action.gates import gateways, scenario_items
from aprqa_action.oracles import declared
from aprqa_action.performance import percentile, perf_items
from aprqa_action.playbook import Assertions, ProfileCI, load_playbook
from aprqa_action.records import Observation, Scenario


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
    found = scenario_items(playbook, scenario(), observation, declared(playbook.oracles))
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
    oracles = declared(playbook.oracles)
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
    assert found["F-PERF-TPS-CPU"].reason == "30.0 tok/s < 35 tok/s (median of 3 runs: 40.0, 10.0, 30.0)"
    assert found["F-PERF-P50"].outcome == "Corroborated"  # 200 ≤ 250
    assert found["F-PERF-P99"].outcome == "Falsified"  # 300 > 250
    assert found["F-PERF-P99"].metrics == {"threshold": 250.0, "p99_ms": 300.0}


def test_perf_gates_on_skipped_and_failed_runs() -> None:
    runs = [scenario(i, "measure", "gpu") for i in range(2)]
    profile = ProfileCI(measure=2, assertions=Assertions(min_throughput_gpu=50.0))
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
