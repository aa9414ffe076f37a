"""Judge and score an evidence set: items, gateways, verdict. Used by `run` at the end and by `merge`."""

from __future__ import annotations

from aprqa_action.judge.cells import cell_results
from aprqa_action.judge.run import judge
from aprqa_action.plan.deep import parity_id
from aprqa_action.playbook import Playbook
from aprqa_action.records import Evidence, EvidenceItem, FailPolicy, Scenario
from aprqa_action.records.axes import Format
from aprqa_action.score import verdict
from aprqa_action.score.gateways import gateways


def reference_engine_runs(playbook: Playbook, scenarios: list[Scenario]) -> set[str]:
    """The scenarios engine_parity's reference engine ran: the engine under test is scored, and another engine
    crashing or timing out is not its fault. Only what the playbook being judged declares and the plan makes of
    it counts: a parity scenario with the plan's id whose matrix twin is in the evidence too — a matrix
    scenario relabelled `parity` in a forged evidence file has no twin (it was the twin), and stays ours."""
    if playbook.engine_parity is None:
        return set()
    twins = {(s.cell, s.index): s for s in scenarios if s.purpose == "matrix" and s.attempt == 0}
    return {
        s.id
        for s in scenarios
        if s.purpose == "parity"
        and s.engine is not None
        and (twin := twins.get((s.cell, s.index))) is not None
        and s.id == parity_id(playbook.name, s.engine, twin)
    }


def assess(
    evidence: Evidence,
    playbook: Playbook,
    *,
    problems: dict[Format, str],
    per_file: list[EvidenceItem],
    policy: FailPolicy,
    complete: bool,
    carried: dict[str, EvidenceItem] | None = None,
) -> Evidence:
    """`problems`: formats whose file failed G0, with the reason; `per_file`: G0-PULL and contract items;
    `carried`: judging evidence read from files, whose own items stand in for checks that need a program."""
    others = reference_engine_runs(playbook, evidence.scenarios)
    # a "parity" scenario that is not the plan's is judged as what it claims not to be: a matrix scenario
    scenarios = [
        s if s.purpose != "parity" or s.id in others else s.model_copy(update={"purpose": "matrix", "engine": None})
        for s in evidence.scenarios
    ]
    items = judge(playbook, evidence.models, problems, scenarios, evidence.observations, per_file, carried)
    own = [o for o in evidence.observations if o.scenario_id not in others]
    gates = gateways(
        items,
        own,
        playbook.gates.g4_max_failure_fraction,
        min_pass=playbook.test_matrix.min_pass,
        part=evidence.selection is not None and evidence.selection.is_part,
    )
    executed = {o.scenario_id for o in evidence.observations if o.status not in ("skipped", "not_run")}
    matrix = [s for s in scenarios if s.purpose == "matrix"]
    return evidence.model_copy(
        update={
            "items": items,
            "cells": cell_results(scenarios, evidence.observations, items, playbook.test_matrix.min_pass),
            "verdict": verdict(
                items,
                own,
                gates,
                all_cells_executed=all(s.id in executed for s in matrix),
                policy=policy,
                complete=complete,
            ),
        }
    )
