"""Per-cell results: each matrix cell's scenarios judged by their evidence items, once, for the evidence
(the reports and a baseline comparison read them; they judge nothing again)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from aprqa_action.records import CellResult, EvidenceItem, Observation, Scenario

BAD_OUTCOMES = frozenset({"Falsified", "Crashed", "Timeout"})
Key = tuple[str, str, str]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def spread(values: list[float]) -> float:
    """max − min: how far apart one run's measurements of a metric are (0 with fewer than two)."""
    return max(values) - min(values) if len(values) > 1 else 0.0


def failure_label(item: EvidenceItem) -> str:
    """`F-QUAL-ARITH`, or `G3-STABILITY (timeout)` where the outcome is not a plain falsification."""
    return item.gate_id if item.outcome == "Falsified" else f"{item.gate_id} ({item.outcome.lower()})"


class _Cell:
    def __init__(self) -> None:
        self.scenarios = self.passed = self.failed = self.skipped = self.pending = 0
        self.skip_reason: str | None = None
        self.attempts: dict[str, list[bool]] = {}  # base id → each attempt passed?
        self.rates: list[float] = []
        self.latencies: list[float] = []
        self.gates: Counter[str] = Counter()


def cell_results(
    scenarios: list[Scenario], observations: list[Observation], items: list[EvidenceItem], min_pass: int | None
) -> list[CellResult]:
    """The matrix cells in plan order. A scenario passes when at least `min_pass` of its judged attempts
    (test_matrix.repeat_min_pass; None: all of them) passed every item and none crashed — the rule G1, G2 and
    G4 apply; a cell fails when one of its scenarios does."""
    observed = {o.scenario_id: o for o in observations}
    by_scenario: dict[str, list[EvidenceItem]] = defaultdict(list)
    for item in items:
        if item.scenario_id is not None:
            by_scenario[item.scenario_id].append(item)
    cells: dict[Key, _Cell] = {}
    crashed: set[str] = set()  # a crash in any attempt fails the scenario (G3), whatever repeat_min_pass says
    keys: dict[Key, Scenario] = {}
    for s in scenarios:
        if s.purpose != "matrix":
            continue
        key = (str(s.format), str(s.backend), str(s.modality))
        keys.setdefault(key, s)
        cell = cells.setdefault(key, _Cell())
        cell.scenarios += 1
        mine = by_scenario.get(s.id, [])
        seen = observed.get(s.id)
        if any(i.outcome in BAD_OUTCOMES for i in mine):
            cell.failed += 1
            cell.gates.update(failure_label(i) for i in mine if i.outcome in BAD_OUTCOMES)
            cell.attempts.setdefault(s.base_id, []).append(False)
            if any(i.outcome == "Crashed" for i in mine):
                crashed.add(s.base_id)
        elif mine and all(i.outcome == "Skipped" for i in mine):
            cell.skipped += 1
            cell.skip_reason = cell.skip_reason or mine[0].reason
        elif mine:
            cell.passed += 1
            cell.attempts.setdefault(s.base_id, []).append(True)
        elif seen is not None and seen.status in ("skipped", "not_run"):
            cell.skipped += 1
            cell.skip_reason = cell.skip_reason or seen.reason or s.skip_reason
        else:
            cell.pending += 1
        if seen is not None and seen.status == "ok":
            if seen.tok_per_sec is not None:
                cell.rates.append(seen.tok_per_sec)
            if seen.latency_ms is not None:
                cell.latencies.append(seen.latency_ms)
    results = []
    for key, cell in cells.items():
        failing = sum(
            base in crashed or sum(oks) < min(min_pass or len(oks), len(oks)) for base, oks in cell.attempts.items()
        )
        s = keys[key]
        results.append(
            CellResult(
                format=s.format,
                backend=s.backend,
                modality=s.modality,
                result=_result(cell, failing),
                scenarios=cell.scenarios,
                passed=cell.passed,
                failed=cell.failed,
                skipped=cell.skipped,
                pending=cell.pending,
                failed_scenarios=failing,
                tok_per_sec=median(cell.rates),
                latency_ms=median(cell.latencies),
                failed_gates=sorted(cell.gates.items(), key=lambda kv: (-kv[1], kv[0])),
                skip_reason=cell.skip_reason,
            )
        )
    return results


def _result(cell: _Cell, failing: int) -> str:
    if failing:
        return "fail"
    if cell.passed and cell.skipped:
        return "partial"
    if cell.passed:
        return "pass"
    return "pending" if cell.pending else "skip"
