"""Judge and score an evidence set: items, gateways, verdict. Used by `run` at the end and by `merge`."""

from __future__ import annotations

from aprqa_action.judge.cells import cell_results
from aprqa_action.judge.run import judge
from aprqa_action.playbook import Playbook
from aprqa_action.records import Evidence, EvidenceItem, FailPolicy
from aprqa_action.records.axes import Format
from aprqa_action.score import verdict
from aprqa_action.score.gateways import gateways


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
    items = judge(playbook, evidence.models, problems, evidence.scenarios, evidence.observations, per_file, carried)
    # the engine under test is scored; engine_parity's reference engine crashing or timing out is not its fault
    # (by purpose, not by the `engine` field alone: evidence naming another engine for a matrix scenario
    # must not take that scenario's crash out of G3)
    others = {s.id for s in evidence.scenarios if s.purpose == "parity"}
    own = [o for o in evidence.observations if o.scenario_id not in others]
    gates = gateways(
        items,
        own,
        playbook.gates.g4_max_failure_fraction,
        min_pass=playbook.test_matrix.min_pass,
        part=evidence.selection is not None and evidence.selection.is_part,
    )
    executed = {o.scenario_id for o in evidence.observations if o.status not in ("skipped", "not_run")}
    matrix = [s for s in evidence.scenarios if s.purpose == "matrix"]
    return evidence.model_copy(
        update={
            "items": items,
            "cells": cell_results(evidence.scenarios, evidence.observations, items, playbook.test_matrix.min_pass),
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
