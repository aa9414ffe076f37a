"""test_matrix.repeat: each scenario runs N times; it passes with repeat_min_pass passing attempts; the report
shows the pass rate with its Wilson 95 % interval."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import aprqa, hostile_profile, write_playbook
from report_fixtures import Builder

from aprqa_action.axes import Backend, Format, Modality
from aprqa_action.errors import InputError
from aprqa_action.evidence import Evidence, read_evidence
from aprqa_action.playbook import load_playbook
from aprqa_action.report.compare import compare
from aprqa_action.report.view import build_view, wilson


def test_wilson_interval_by_hand() -> None:
    low, high = wilson(8, 10)  # p = 0.8, n = 10: (0.99208 ± 0.31362) / 1.38416
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(3, 3)[1] == 1.0 and round(wilson(3, 3)[0], 4) == 0.4385
    assert wilson(0, 5)[0] == 0.0


def test_min_pass_cannot_exceed_repeat(tmp_path: Path) -> None:
    path = write_playbook(
        tmp_path / "p.yaml", test_matrix={"modalities": ["run"], "backends": ["cpu"], "repeat": 2, "repeat_min_pass": 3}
    )
    with pytest.raises(InputError, match="repeat_min_pass 3 is more than repeat 2"):
        load_playbook(path)


def run(tmp_path: Path, smollm2: Path, min_pass: int) -> tuple[int, Path]:
    out = tmp_path / f"out{min_pass}"
    playbook = write_playbook(
        tmp_path / f"p{min_pass}.yaml",
        test_matrix={
            "modalities": ["run"],
            "backends": ["cpu"],
            "scenario_count": 2,
            "repeat": 3,
            "repeat_min_pass": min_pass,
        },
        engine=hostile_profile("flaky", args=[tmp_path / f"calls{min_pass}"]),
    )
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", out)
    return done.returncode, out


def test_a_flaky_engine_passes_with_two_of_three(tmp_path: Path, smollm2: Path) -> None:
    code, out = run(tmp_path, smollm2, 2)
    evidence = read_evidence(out / "evidence.json")
    ids = [s.id for s in evidence.scenarios]
    assert ids == [f"t:run:cpu:gguf:{i:03d}@r{a}" for i in range(2) for a in (1, 2, 3)]
    assert [o.status for o in evidence.observations] == ["ok", "ok", "failed", "ok", "ok", "failed"]
    assert code == 0 and evidence.verdict is not None and all(g.passed for g in evidence.verdict.gateways)
    summary = (out / "summary.md").read_text()
    assert "Each scenario ran 3 times" in summary
    assert "67% (30%–90%)" in summary  # 4 of 6 attempts: wilson(4, 6) = (0.300, 0.903)
    # each scenario passed 2 of 3 attempts: the scenario, and so the cell, passes
    assert [(c.name, c.result) for c in build_view(evidence).cells] == [("gguf/cpu/run", "pass")]
    assert "| gguf | cpu | run | ✅ pass |" in summary, summary


def test_the_same_engine_fails_when_every_attempt_must_pass(tmp_path: Path, smollm2: Path) -> None:
    code, out = run(tmp_path, smollm2, 3)
    evidence = read_evidence(out / "evidence.json")
    assert code == 1 and evidence.verdict is not None
    g1 = evidence.verdict.gateways[1]  # the flaky attempt printed nothing: it failed to load
    assert not g1.passed and "exit code 1" in g1.reason


def repeated(min_pass: int | None, third: str = "falsified") -> Evidence:
    """Two scenarios × three attempts in gguf/cpu/run: scenario 0's third attempt fails (`third`), the rest pass.
    Built with the shared report builder; the playbook spec carries test_matrix.repeat_min_pass as a run records it."""
    b = Builder("r")
    b.integrity(Format.GGUF, "Corroborated", "models/r/model.gguf: header parses")
    for index in range(2):
        for attempt in range(3):
            made = b.scenario(Modality.RUN, Backend.CPU, Format.GGUF, index, prompt_index=0)
            s = made.model_copy(update={"id": f"{made.id}@r{attempt + 1}", "attempt": attempt})
            b.scenarios[-1] = s
            if index == 0 and attempt == 2 and third == "crashed":
                b.crashed(s, "killed by SIGSEGV", "Segmentation fault\n")
            elif index == 0 and attempt == 2:
                b.answered(s, "2 + 2 = 5", 30.0, oracles=[("F-QUAL-ARITH", "Falsified", "expected 4")])
            else:
                b.passing(s, 30.0 + attempt)
    evidence = b.evidence(version="1.0.0", gpu=False, models={})
    spec = {"test_matrix": {"repeat": 3, **({"repeat_min_pass": min_pass} if min_pass else {})}}
    return evidence.model_copy(update={"playbook": evidence.playbook.model_copy(update={"spec": spec})})


def test_a_cell_is_judged_per_scenario_with_min_pass() -> None:
    (cell,) = build_view(repeated(2)).cells
    # 5 of 6 attempts passed; each scenario has ≥ 2 passing attempts, so the cell passes
    assert (cell.result, cell.passed, cell.failed, cell.failed_scenarios) == ("pass", 5, 1, 0)
    assert cell.pass_rate is not None and round(cell.pass_rate[0], 4) == round(5 / 6, 4)
    assert build_view(repeated(3)).cells[0].result == "fail"  # every attempt must pass
    assert build_view(repeated(None)).cells[0].result == "fail"  # the default: every attempt
    assert build_view(repeated(2, third="crashed")).cells[0].result == "fail"  # a crash fails G3 regardless


def test_the_baseline_comparison_reads_the_per_scenario_result() -> None:
    comparison = compare(repeated(2), repeated(2), source="base")
    assert [(c.cell, c.before, c.after) for c in comparison.cells] == [("gguf/cpu/run", "pass", "pass")]
    worse = compare(repeated(3), repeated(2), source="base")
    assert "gguf/cpu/run: pass → fail" in worse.regressions
