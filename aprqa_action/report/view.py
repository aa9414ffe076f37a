"""What a report shows, computed once from the evidence: the aggregates every renderer shares.

The view holds raw (unescaped) text and numbers; the templates decide layout and escape every value. All
aggregation is linear in the evidence, and everything a table shows is bounded by the matrix (at most
3 formats × 2 backends × 3 modalities cells), not by the number of scenarios, so a 10,000-scenario run
renders tables of the same size as a 10-scenario one. Only the failure list grows; renderers show a prefix.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from aprqa_action.judge.cells import BAD_OUTCOMES, failure_label
from aprqa_action.records import CellResult, Evidence, EvidenceItem, Scenario, Verdict
from aprqa_action.records.axes import Backend
from aprqa_action.score.gateways import gates

CONTRACT_PREFIXES = ("F-CONTRACT-", "G0-", "F-META-")  # the checks of the model files, before any engine ran
# Per performance gate: the unit its measured value and threshold are in, and how they compare
PERF_UNITS: dict[str, tuple[str, str]] = {
    "F-PERF-TPS-CPU": ("tok/s", "≥"),
    "F-PERF-TPS-GPU": ("tok/s", "≥"),
    "F-PERF-TPS-CV": ("", "≤"),  # a coefficient of variation: 0.05 is 5 %
    "F-PERF-GPU-SPEEDUP": ("×", "≥"),
}
STATUS_ORDER = ("ok", "failed", "crashed", "timeout", "skipped", "not_run")
CATEGORY_NAMES = {
    "QUAL": "quality (oracles)",
    "PERF": "performance",
    "STAB": "stability",
    "COMP": "load, inference, integrity",
    "EDGE": "edge cases",
    "REGR": "regression",
}


def pass_rate(cell: CellResult) -> tuple[float, float, float] | None:
    """Passed / judged scenarios (attempts, with test_matrix.repeat) and its Wilson 95 % interval."""
    judged = cell.passed + cell.failed
    return None if not judged else (cell.passed / judged, *wilson(cell.passed, judged))


def cell_note(cell: CellResult) -> str:
    parts = []
    if cell.failed_gates:
        parts.append("failed: " + ", ".join(f"{gate} ×{n}" for gate, n in cell.failed_gates))
    if cell.skip_reason:  # why is said once, under the headline (ReportView.unexecuted)
        parts.append("skipped")
    if cell.pending:
        parts.append(f"{cell.pending} not judged yet")
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
    gating: bool  # False: a scored check that cannot fail a gateway


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
    def gating(self) -> bool:
        return any(gates(i) for i in self.items)

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
    cells: list[CellResult]
    perf: list[PerfRow]
    contracts: list[EvidenceItem]
    failure_groups: list[FailureGroup]
    failures: list[Failure]  # every subject with a falsified / crashed / timed-out item, most severe first
    failed_items: int
    scenario_counts: dict[str, int]  # observation status → count, matrix and profile runs alike
    duration_s: float | None
    profile_runs: int  # profile_ci warmup and measure scenarios, beside the matrix
    edge_runs: int = 0  # the edge scenarios (playbook `edge:`)
    deep_runs: int = 0  # the deep gates' scenarios: engine_parity's reference engine, perplexity
    repeated: bool = False  # test_matrix.repeat > 1: cells show a pass rate with its 95 % interval
    gating_labels: frozenset[str] = frozenset()  # the failure labels (as cells name them) that gate

    def cell_gating(self, cell: CellResult) -> bool:
        """Whether a failed cell failed on a check that gates, or only on scored ones."""
        return any(label in self.gating_labels for label, _ in cell.failed_gates)

    @property
    def unexecuted(self) -> str:
        """How many cells did not run, and why — said once, under the headline; empty when all ran."""
        skipped = [c for c in self.cells if c.skipped]
        groups: dict[str, list[str]] = {}
        for c in skipped:
            groups.setdefault(c.skip_reason or "no reason recorded", []).append(c.name)
        if not groups:
            return ""
        why = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in groups.items())
        scenarios = sum(c.skipped for c in skipped)
        return f"{len(skipped)} of {len(self.cells)} cells ({scenarios} scenario(s)) — {why}"

    @property
    def gating_failures(self) -> bool:
        return any(g.gating for g in self.failure_groups)

    @property
    def chart(self) -> list[tuple[str, float]]:
        return [(c.name, c.tok_per_sec) for c in self.cells if c.tok_per_sec is not None]

    @property
    def measurable(self) -> int:
        """The MQS points this run could earn: the maxima of the categories it judged anything in."""
        return sum(c.max for c in self.verdict.categories if c.judged) if self.verdict else 0

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


def _perf_row(item: EvidenceItem) -> PerfRow:
    measured_key = next((k for k in item.metrics if k != "threshold"), None)
    unit, comparator = PERF_UNITS.get(item.gate_id, ("ms", "≤"))  # the rest are latencies
    return PerfRow(
        gate=item.gate_id,
        subject="/".join((item.cell or "—").split("/")[:2]),  # a profile cell is always format/backend/run
        outcome=item.outcome,
        measured=item.metrics.get(measured_key) if measured_key else None,
        unit=unit,
        threshold=item.metrics.get("threshold"),
        comparator=comparator,
        reason=item.reason,
    )


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96): sound for small n and for 0 or n."""
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def build_view(evidence: Evidence) -> ReportView:
    matrix: list[Scenario] = [s for s in evidence.scenarios if s.purpose == "matrix"]
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
    prompts = {
        s.id: s.prompt + (f' (then "hello" × {s.prompt_repeat})' if s.prompt_repeat else "") for s in evidence.scenarios
    }
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
            gating=gates(members[0]),
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
        cells=evidence.cells,
        perf=perf,
        contracts=contracts,
        failure_groups=failure_groups,
        failures=failures,
        failed_items=len(bad),
        scenario_counts=ordered,
        duration_s=duration,
        profile_runs=sum(s.purpose in ("warmup", "measure") for s in evidence.scenarios),
        edge_runs=sum(s.purpose == "edge" for s in evidence.scenarios),
        deep_runs=sum(s.purpose in ("parity", "perplexity") for s in evidence.scenarios),
        repeated=any(s.attempt > 0 for s in matrix),
        gating_labels=frozenset(failure_label(i) for _, _, i in bad if gates(i)),
    )
