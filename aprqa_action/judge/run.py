"""Judge a run: every registered check's evidence items, in the registry's order (checks.py)."""

from __future__ import annotations

from aprqa_action.checks import Run, checks
from aprqa_action.playbook import Playbook
from aprqa_action.records import EvidenceItem, Observation, ResolvedModel, Scenario
from aprqa_action.records.axes import Format


def judge(
    playbook: Playbook,
    models: dict[Format, ResolvedModel],
    problems: dict[Format, str],
    scenarios: list[Scenario],
    observations: list[Observation],
    per_file: list[EvidenceItem] | None = None,
    carried: dict[str, EvidenceItem] | None = None,
) -> list[EvidenceItem]:
    """Every evidence item of a run: G0 and the contract invariants per model file, G1–G3 and the oracles
    per matrix scenario, the performance gates per (format, backend), format parity per scenario index, and
    whatever else is registered. `carried`: judging again from evidence files (see judge.scenarios)."""
    run = Run(
        playbook=playbook,
        models=models,
        problems=problems,
        scenarios=scenarios,
        observations={o.scenario_id: o for o in observations},
        per_file=list(per_file or []),
        carried=carried,
    )
    return [item for check in checks() for item in check.judge(run)]
