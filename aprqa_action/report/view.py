"""What a report shows, computed once from the evidence: the aggregates every renderer shares.

The view holds raw (unescaped) text and numbers; the templates decide layout and escape every value. All
aggregation is linear in the evidence, and everything a table shows is bounded by the matrix (at most
3 formats × 2 backends × 3 modalities cells), not by the number of scenarios, so a 10,000-scenario run
renders tables of the same size as a 10-scenario one. Only the failure list grows; renderers show a prefix.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

from aprqa_action.axes import Backend
from aprqa_action.evidence import Evidence
from aprqa_action.records import EvidenceItem, Observation, Scenario, Verdict

CellResult = Literal["pass", "fail", "skip", "partial", "pending"]
BAD_OUTCOMES = frozenset({"Falsified", "Crashed", "Timeout"})
CONTRACT_PREFIXES = ("F-CONTRACT-", "G0-")
STATUS_ORDER = ("ok", "failed", "crashed", "timeout", "skipped", "not_run")
CATEGORY_NAMES = {
    "QUAL": "quality (oracles)",
    "PERF": "performance",
    "STAB": "stability",
    "COMP": "load, inference, integrity",
    "EDGE": "edge cases",
    "REGR": "regression",
}


@dataclass
class CellRow:
    """One matrix cell (format × backend × modality): its matrix scenarios judged by their evidence items."""

    format: str
    backend: str
    modality: str
    scenarios: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0  # no evidence item yet (a run still going) and no final observation
    tok_per_sec: float | None = None  # median over the cell's answered scenarios
    latency_ms: float | None = None  # median
    failed_gates: list[tuple[str, int]] = field(default_factory=list)
    skip_reason: str | None = None
    # Scenarios (attempts of one scenario counted once) failing the repeat_min_pass rule; `failed` counts attempts.
    failed_scenarios: int = 0

    @property
    def name(self) -> str:
        return f"{self.format}/{self.backend}/{self.modality}"

    @property
    def pass_rate(self) -> tuple[float, float, float] | None:
        """Passed / judged scenarios (attempts, with test_matrix.repeat) and its Wilson 95 % interval."""
        judged = self.passed + self.failed
        return None if not judged else (self.passed / judged, *wilson(self.passed, judged))

    @property
    def result(self) -> CellResult:
        """Judged per scenario, as G1, G2 and G4 are: with test_matrix.repeat, a scenario whose failed attempts
        still leave repeat_min_pass passing ones passes, so its cell does too."""
        if self.failed_scenarios:
            return "fail"
        if self.passed and self.skipped:
            return "partial"
        if self.passed:
            return "pass"
        return "pending" if self.pending else "skip"

    @property
    def note(self) -> str:
        parts = []
        if self.failed_gates:
            parts.append("failed: " + ", ".join(f"{gate} ×{n}" for gate, n in self.failed_gates))
        if self.skip_reason:
            parts.append(f"skipped: {self.skip_reason}")
        if self.pending:
            parts.append(f"{self.pending} not judged yet")
        return "; ".join(parts)


@dataclass(frozen=True)
class PerfRow:
    gate: str
    subject: str  # format/backend
    outcome: str
    measured: float | None
    unit: str
    threshold: float | None
    comparator: str  # what the measurement must be: "≥" the threshold (throughput) or "≤" (latency)
    reason: str


@dataclass(frozen=True)
class FailureGroup:
    gate: str
    outcome: str
    count: int
    cells: tuple[str, ...]
    first_reason: str


@dataclass(frozen=True)
class Failure:
    """One failing subject — a scenario, or a file / cell for items judged without one — and its bad items."""

    subject: str
    prompt: str | None
    items: list[EvidenceItem]

    @property
    def outcome(self) -> str:
        return self.items[0].outcome

    @property
    def excerpts(self) -> list[tuple[str, list[str]]]:
        """Each distinct excerpt once, with the gates that judged it (oracles of one answer share theirs)."""
        seen: dict[str, list[str]] = {}
        for item in self.items:
            if item.excerpt:
                seen.setdefault(item.excerpt, []).append(item.gate_id)
        return list(seen.items())


@dataclass(frozen=True)
class ReportView:
    evidence: Evidence
    verdict: Verdict | None
    cells: list[CellRow]
    perf: list[PerfRow]
    contracts: list[EvidenceItem]
    failure_groups: list[FailureGroup]
    failures: list[Failure]  # every subject with a falsified / crashed / timed-out item, most severe first
    failed_items: int
    scenario_counts: dict[str, int]  # observation status → count, matrix and profile runs alike
    duration_s: float | None
    profile_runs: int  # profile_ci warmup and measure scenarios, beside the matrix
    repeated: bool = False  # test_matrix.repeat > 1: cells show a pass rate with its 95 % interval

    @property
    def chart(self) -> list[tuple[str, float]]:
        return [(c.name, c.tok_per_sec) for c in self.cells if c.tok_per_sec is not None]

    @property
    def gpu(self) -> str:
        """The GPU line of the host: its devices, or why there is none."""
        probe = self.evidence.backends.get(Backend.GPU)
        if probe is None:
            return "not probed (no GPU cell declared)"
        return ", ".join(probe.devices) if probe.available and probe.devices else probe.reason


def _severity(item: EvidenceItem) -> int:
    """Crashes first, then timeouts, then what fails a gateway early (G0–G2, contracts), then oracles, perf."""
    if item.outcome == "Crashed":
        return 0
    if item.outcome == "Timeout":
        return 1
    if item.gate_id.startswith(("G0", "G1", "G2", "F-CONTRACT-")):
        return 2
    if item.category == "QUAL":
        return 3
    return 4


def _failure_label(item: EvidenceItem) -> str:
    """`F-QUAL-ARITH`, or `G3-STABILITY (timeout)` where the outcome is not a plain falsification."""
    return item.gate_id if item.outcome == "Falsified" else f"{item.gate_id} ({item.outcome.lower()})"


def _perf_row(item: EvidenceItem) -> PerfRow:
    measured_key = next((k for k in item.metrics if k != "threshold"), None)
    unit = "tok/s" if measured_key == "tok_per_sec" or item.gate_id.startswith("F-PERF-TPS") else "ms"
    return PerfRow(
        gate=item.gate_id,
        subject="/".join((item.cell or "—").split("/")[:2]),  # a profile cell is always format/backend/run
        outcome=item.outcome,
        measured=item.metrics.get(measured_key) if measured_key else None,
        unit=unit,
        threshold=item.metrics.get("threshold"),
        comparator="≥" if unit == "tok/s" else "≤",
        reason=item.reason,
    )


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96): sound for small n and for 0 or n."""
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def min_pass(evidence: Evidence) -> int | None:
    """test_matrix.repeat_min_pass as the run judged it; None: every attempt must pass (the default, and what
    an evidence without the recorded playbook is read as)."""
    matrix = evidence.playbook.spec.get("test_matrix") or {}
    value = matrix.get("repeat_min_pass") if isinstance(matrix, dict) else None
    return value if isinstance(value, int) and value >= 1 else None


def build_view(evidence: Evidence) -> ReportView:
    matrix: list[Scenario] = [s for s in evidence.scenarios if s.purpose == "matrix"]
    needed = min_pass(evidence)
    attempts: dict[tuple[str, str, str], dict[str, list[bool]]] = defaultdict(dict)  # cell → base id → passed?
    crashed: set[str] = set()  # a crash in any attempt fails the scenario (G3), whatever repeat_min_pass says
    observed: dict[str, Observation] = {o.scenario_id: o for o in evidence.observations}
    by_scenario: dict[str, list[EvidenceItem]] = defaultdict(list)
    for item in evidence.items:
        if item.scenario_id is not None:
            by_scenario[item.scenario_id].append(item)

    cells: dict[tuple[str, str, str], CellRow] = {}
    rates: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    latencies: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    falsified: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for s in matrix:  # plan order: the order the playbook declares its axes
        key = (str(s.format), str(s.backend), str(s.modality))
        row = cells.setdefault(key, CellRow(*key))
        row.scenarios += 1
        items = by_scenario.get(s.id, [])
        seen = observed.get(s.id)
        if any(i.outcome in BAD_OUTCOMES for i in items):
            row.failed += 1
            falsified[key].update(_failure_label(i) for i in items if i.outcome in BAD_OUTCOMES)
            attempts[key].setdefault(s.base_id, []).append(False)
            if any(i.outcome == "Crashed" for i in items):
                crashed.add(s.base_id)
        elif items and all(i.outcome == "Skipped" for i in items):
            row.skipped += 1
            row.skip_reason = row.skip_reason or items[0].reason
        elif items:
            row.passed += 1
            attempts[key].setdefault(s.base_id, []).append(True)
        elif seen is not None and seen.status in ("skipped", "not_run"):
            row.skipped += 1
            row.skip_reason = row.skip_reason or seen.reason or s.skip_reason
        else:
            row.pending += 1
        if seen is not None and seen.status == "ok":
            if seen.tok_per_sec is not None:
                rates[key].append(seen.tok_per_sec)
            if seen.latency_ms is not None:
                latencies[key].append(seen.latency_ms)
    for key, row in cells.items():
        row.tok_per_sec = _median(rates[key])
        row.latency_ms = _median(latencies[key])
        row.failed_gates = sorted(falsified[key].items(), key=lambda kv: (-kv[1], kv[0]))
        row.failed_scenarios = sum(
            base in crashed or sum(oks) < min(needed or len(oks), len(oks)) for base, oks in attempts[key].items()
        )

    perf: list[PerfRow] = []
    contracts: list[EvidenceItem] = []
    bad: list[tuple[int, int, EvidenceItem]] = []
    groups: dict[tuple[str, str], list[EvidenceItem]] = {}
    for index, item in enumerate(evidence.items):
        if item.category == "PERF" and item.scenario_id is None:
            perf.append(_perf_row(item))
        if item.gate_id.startswith(CONTRACT_PREFIXES):
            contracts.append(item)
        if item.outcome in BAD_OUTCOMES:
            bad.append((_severity(item), index, item))
            groups.setdefault((item.gate_id, item.outcome), []).append(item)
    bad.sort(key=lambda entry: entry[:2])
    prompts = {s.id: s.prompt for s in evidence.scenarios}
    by_subject: dict[str, Failure] = {}
    for _, _, item in bad:  # most severe first, so a subject is placed by its worst item
        subject = item.scenario_id or item.cell or item.id
        found = by_subject.get(subject)
        if found is None:
            by_subject[subject] = Failure(subject, prompts.get(item.scenario_id or ""), [item])
        else:
            found.items.append(item)
    failures = list(by_subject.values())
    failure_groups = [
        FailureGroup(
            gate=gate,
            outcome=outcome,
            count=len(members),
            cells=tuple(sorted({m.cell or "—" for m in members})),
            first_reason=members[0].reason,
        )
        for (gate, outcome), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]

    counts: Counter[str] = Counter(o.status for o in evidence.observations)
    ordered = {status: counts[status] for status in STATUS_ORDER if counts[status]}
    run = evidence.run
    duration = (run.ended - run.started).total_seconds() if run.ended is not None else None
    return ReportView(
        evidence=evidence,
        verdict=evidence.verdict,
        cells=list(cells.values()),
        perf=perf,
        contracts=contracts,
        failure_groups=failure_groups,
        failures=failures,
        failed_items=len(bad),
        scenario_counts=ordered,
        duration_s=duration,
        profile_runs=len(evidence.scenarios) - len(matrix),
        repeated=any(s.attempt > 0 for s in matrix),
    )
