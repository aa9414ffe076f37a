"""What judging concludes: evidence items, the gateways they decide, category scores and the verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aprqa_action.records.axes import Backend, Format, Modality, cell_label
from aprqa_action.records.base import Record

Category = Literal["QUAL", "PERF", "STAB", "COMP", "EDGE", "REGR"]
CATEGORY_MAX: dict[str, int] = {"QUAL": 200, "PERF": 150, "STAB": 200, "COMP": 150, "EDGE": 150, "REGR": 150}
GATEWAY_NAMES = {"G0": "integrity", "G1": "load", "G2": "inference", "G3": "stability", "G4": "quality"}
Outcome = Literal["Corroborated", "Falsified", "Skipped", "Timeout", "Crashed"]


class EvidenceItem(Record):
    """One judgement: a gate applied to a scenario (or to a file / a cell), with a reason a person can act on."""

    id: str
    gate_id: str
    category: Category
    outcome: Outcome
    reason: str
    scenario_id: str | None = None
    cell: str | None = None  # format/backend/modality
    metrics: dict[str, float] = Field(default_factory=dict)
    excerpt: str | None = None  # the output that was judged (for a falsification: what falsified it)


# pass: every judged scenario passed; fail: a scenario failed (the repeat rule: fewer than repeat_min_pass of
# its attempts passed, or one crashed); partial: some passed and some were skipped; skip: none ran;
# pending: not judged yet (a run still going).
CellOutcome = Literal["pass", "fail", "skip", "partial", "pending"]


class CellResult(Record):
    """One matrix cell (format × backend × modality), its matrix scenarios judged by their evidence items,
    per scenario as G1, G2 and G4 judge them. Counts are of attempts (with test_matrix.repeat)."""

    format: Format
    backend: Backend
    modality: Modality
    result: CellOutcome
    scenarios: int
    passed: int
    failed: int
    skipped: int
    pending: int  # no evidence item yet (a run still going) and no final observation
    failed_scenarios: int  # scenarios (their attempts counted once) that fail the repeat rule
    tok_per_sec: float | None  # median over the cell's answered scenarios
    latency_ms: float | None  # median
    failed_gates: list[tuple[str, int]]  # gate (with its outcome when not Falsified) → attempts, most first
    skip_reason: str | None

    @property
    def name(self) -> str:
        return cell_label(self.format, self.backend, self.modality)


class Gateway(Record):
    id: str  # G0..G4
    name: str
    passed: bool
    reason: str


class CategoryScore(Record):
    category: Category
    max: int
    score: float
    passed: int
    judged: int
    skipped: int

    @property
    def measured(self) -> bool:
        return self.judged > 0


class Verdict(Record):
    gateways: list[Gateway]
    categories: list[CategoryScore]
    raw_score: float
    crashes: int
    timeouts: int
    penalty: int
    mqs: int
    grade: str
    status: Literal["CERTIFIED", "PROVISIONAL", "BLOCKED"]
    status_reason: str
    all_cells_executed: bool
    qualified: bool  # gateways passed and the --fail-on policy held
    policy: str
    policy_reason: str
    counts: dict[str, int]

    @property
    def headline(self) -> str:
        """The gating result in words, never QUALIFIED beside BLOCKED: a model that passes a lenient policy
        while its status is BLOCKED is said to pass that policy, and to be BLOCKED."""
        if not self.qualified:
            return "NOT QUALIFIED"
        return f"PASSES fail-on: {self.policy}, BLOCKED" if self.status == "BLOCKED" else "QUALIFIED"
