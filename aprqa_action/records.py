"""The records stages exchange: Scenario (plan → execute) and Observation (execute → judge)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aprqa_action.axes import Backend, Format, Modality


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A playbook's name: it names files, scenario ids, the PR comment's marker and the commit status context.
PLAYBOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def base_id(scenario_id: str) -> str:
    """A scenario id without its repeat suffix ("@r<n>"): the attempts of one scenario share it."""
    return scenario_id.split("@", 1)[0]


class Scenario(Record):
    id: str
    index: int
    modality: Modality
    backend: Backend
    format: Format
    model_path: str | None
    prompt: str
    prompt_index: int
    seed: int
    temperature: float
    max_tokens: int
    timeout_ms: int
    skip_reason: str | None = None
    purpose: Literal["matrix", "warmup", "measure"] = "matrix"  # warmup/measure: profile_ci runs
    attempt: int = 0  # test_matrix.repeat: the attempt's number, from 0; its id ends in @r<attempt + 1>

    @property
    def base_id(self) -> str:
        return base_id(self.id)

    @property
    def cell(self) -> tuple[Format, Backend, Modality]:
        return (self.format, self.backend, self.modality)

    @property
    def group(self) -> tuple[Format, Backend, Modality, bool]:
        """Scenarios that run together: a matrix cell, or a cell's profile runs."""
        return (self.format, self.backend, self.modality, self.purpose == "matrix")


# ok: the engine answered; failed: it exited non-zero, answered an error or unreadable output, or never
# became ready; crashed: a signal or a panic; timeout: killed at timeout_ms; skipped: never started, with
# the reason; not_run: stopped before its turn (fail_fast, cancellation).
Status = Literal["ok", "failed", "crashed", "timeout", "skipped", "not_run"]


class Observation(Record):
    scenario_id: str
    status: Status
    reason: str = ""
    loaded: bool | None = None
    started: datetime | None = None
    ended: datetime | None = None
    exit_code: int | None = None
    signal: str | None = None
    panicked: bool = False
    timed_out: bool = False
    text: str | None = None
    tokens: int | None = None
    tok_per_sec: float | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None  # the generation as the engine reports it, else the wall time
    duration_ms: float | None = None  # wall time of the scenario: the process (run, chat) or the request
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    engine_version: str | None = None
    command: list[str] = []
    stdout_tail: str = ""
    stderr_tail: str = ""


Category = Literal["QUAL", "PERF", "STAB", "COMP", "EDGE", "REGR"]
CATEGORY_MAX: dict[str, int] = {"QUAL": 200, "PERF": 150, "STAB": 200, "COMP": 150, "EDGE": 150, "REGR": 150}
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
    metrics: dict[str, float] = {}
    excerpt: str | None = None  # the output that was judged (for a falsification: what falsified it)


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


# Compared with a baseline run (report/compare.py computes it; the reports show it).


class MetricDelta(Record):
    before: float | None
    after: float | None
    change_pct: float | None
    noise: float  # the larger spread (max − min) of the two runs' measurements
    flagged: Literal["regression", "improvement"] | None = None


class CellDelta(Record):
    cell: str
    before: str | None  # the cell's result: pass / fail / skip / partial (None: not in that run)
    after: str | None
    tok_per_sec: MetricDelta
    latency_ms: MetricDelta


class Comparison(Record):
    baseline: str  # where the baseline evidence came from, and when it ran
    threshold_pct: float
    mqs_before: int | None
    mqs_after: int | None
    grade_before: str | None
    grade_after: str | None
    gateways: list[tuple[str, bool | None, bool | None]]  # (id, passed before, passed after) where they differ
    cells: list[CellDelta]
    regressions: list[str]  # one line a person reads per regression, e.g. "↓ 12 % tok/s gguf/gpu/serve"
    improvements: list[str]
