"""Judge and score an evidence set: items, gateways, verdict. Used by `run` at the end and by `merge`."""

from __future__ import annotations

from aprqa_action.axes import Format
from aprqa_action.evidence import Evidence
from aprqa_action.gates import gateways, judge
from aprqa_action.playbook import Playbook
from aprqa_action.records import EvidenceItem
from aprqa_action.score import verdict


def assess(
    evidence: Evidence,
    playbook: Playbook,
    *,
    problems: dict[Format, str],
    per_file: list[EvidenceItem],
    policy: str,
    complete: bool,
    carried: dict[str, EvidenceItem] | None = None,
) -> Evidence:
    """`problems`: formats whose file failed G0, with the reason; `per_file`: G0-PULL and contract items;
    `carried`: judging evidence read from files, whose own items stand in for checks that need a program."""
    items = judge(playbook, evidence.models, problems, evidence.scenarios, evidence.observations, per_file, carried)
    gates = gateways(
        items,
        evidence.observations,
        playbook.gates.g4_max_failure_fraction,
        min_pass=playbook.test_matrix.min_pass,
        part=evidence.selection is not None and evidence.selection.is_part,
    )
    executed = {o.scenario_id for o in evidence.observations if o.status not in ("skipped", "not_run")}
    matrix = [s for s in evidence.scenarios if s.purpose == "matrix"]
    return evidence.model_copy(
        update={
            "items": items,
            "verdict": verdict(
                items,
                evidence.observations,
                gates,
                all_cells_executed=all(s.id in executed for s in matrix),
                policy=policy,
                complete=complete,
            ),
        }
    )
