"""test_matrix.repeat: each scenario runs N times; it passes with repeat_min_pass passing attempts; the report
shows the pass rate with its Wilson 95 % interval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import aprqa, hostile_profile, write_playbook
from report_fixtures import Builder

from aprqa_action.errors import InputError
from aprqa_action.judge.cells import cell_results
from aprqa_action.judge.compare import compare
from aprqa_action.playbook import load_playbook
from aprqa_action.records import Evidence
from aprqa_action.records.axes import Backend, Format, Modality
from aprqa_action.report.view import build_view, pass_rate, wilson
from aprqa_action.store.evidence import read_evidence


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
    cells = cell_results(evidence.scenarios, evidence.observations, evidence.items, min_pass)
    return evidence.model_copy(update={"playbook": evidence.playbook.model_copy(update={"spec": spec}), "cells": cells})


def test_a_cell_is_judged_per_scenario_with_min_pass() -> None:
    (cell,) = build_view(repeated(2)).cells
    # 5 of 6 attempts passed; each scenario has ≥ 2 passing attempts, so the cell passes
    assert (cell.result, cell.passed, cell.failed, cell.failed_scenarios) == ("pass", 5, 1, 0)
    rate = pass_rate(cell)
    assert rate is not None and round(rate[0], 4) == round(5 / 6, 4)
    assert build_view(repeated(3)).cells[0].result == "fail"  # every attempt must pass
    assert build_view(repeated(None)).cells[0].result == "fail"  # the default: every attempt
    assert build_view(repeated(2, third="crashed")).cells[0].result == "fail"  # a crash fails G3 regardless


@pytest.mark.parametrize(("min_pass", "result"), [(2, "pass"), (None, "fail")])
def test_evidence_from_0_1_0_gets_its_cells_judged_with_the_recorded_rule(
    tmp_path: Path, min_pass: int | None, result: str
) -> None:
    """Schema version 1 stored no per-cell results: reading such a file (a baseline from last week's main)
    judges them from its items, with the repeat_min_pass its playbook recorded."""
    old = repeated(min_pass).model_copy(update={"schema_version": 1, "cells": []})
    data = old.model_dump(mode="json")
    del data["cells"]
    (tmp_path / "evidence.json").write_text(json.dumps(data))
    read = read_evidence(tmp_path / "evidence.json")
    assert read.schema_version == 1
    assert [(c.name, c.result, c.passed, c.failed) for c in read.cells] == [("gguf/cpu/run", result, 5, 1)]


def test_the_baseline_comparison_reads_the_per_scenario_result() -> None:
    comparison = compare(repeated(2), repeated(2), source="base")
    assert [(c.cell, c.before, c.after) for c in comparison.cells] == [("gguf/cpu/run", "pass", "pass")]
    worse = compare(repeated(3), repeated(2), source="base")
    assert "gguf/cpu/run: pass → fail" in worse.regressions
