"""A run compared with a baseline run (judge/compare.py computes it; the reports show it)."""

from __future__ import annotations

from typing import Literal

from aprqa_action.records.base import Record


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
