"""The table `aprqa qa` prints, in the seed's shape (gate, status, measured, threshold, duration), computed from
the evidence alone: `aprqa qa`'s table and a table rebuilt later from its evidence.json are the same text.

A row's status: FAIL when any of its items failed (Falsified, Crashed, Timeout), PASS when at least one was
judged and none failed, SKIP when nothing was judged (the reason of the first Skipped item is listed below the
table). Measured is the row's number — the median tok/s, a ratio, the CV — or "passed/judged" for rows of
many checks; duration adds up the wall time of the scenarios the row ran (file checks run no scenario: "—").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aprqa_action.oneline import one_line
from aprqa_action.records import Evidence, EvidenceItem

FAILED = ("Falsified", "Crashed", "Timeout")


@dataclass(frozen=True)
class Gate:
    name: str
    owns: Callable[[str], bool]  # which gate ids are this row's
    metric: str | None  # the metric "measured" shows (None: passed/judged)
    purposes: tuple[str, ...]  # the scenarios whose wall time is the row's duration


GATES = (
    Gate("Tensor Contract", lambda g: g == "G0-INTEGRITY" or g.startswith("F-CONTRACT-"), None, ()),
    Gate("Metadata Plausibility", lambda g: g.startswith("F-META-"), None, ()),
    Gate("Golden Output", lambda g: g.startswith("F-QUAL-") or g == "G2-INFERENCE", None, ("matrix",)),
    Gate("Throughput", lambda g: g in ("F-PERF-TPS-CPU", "F-PERF-TPS-GPU"), "tok_per_sec", ("warmup", "measure")),
    Gate("Throughput CV", lambda g: g == "F-PERF-TPS-CV", "cv", ()),
    Gate("Engine Parity", lambda g: g == "F-PAR-ENGINE-TEXT", None, ("parity",)),
    Gate("Engine Parity tok/s", lambda g: g == "F-PAR-ENGINE-TPS", "ratio", ()),
    Gate("Engine Parity TTFT", lambda g: g == "F-PAR-ENGINE-TTFT", "ratio", ()),
    Gate("GPU Speedup", lambda g: g == "F-PERF-GPU-SPEEDUP", "speedup", ()),
    Gate("Format Parity", lambda g: g == "F-REGR-PARITY", None, ()),
    Gate("CPU/GPU Parity", lambda g: g == "F-PAR-CPU-GPU", None, ()),
    Gate("Perplexity Ratio", lambda g: g == "F-PAR-PPL", "ratio", ("perplexity",)),
)


@dataclass(frozen=True)
class Row:
    gate: str
    status: str  # PASS, FAIL, SKIP
    measured: str
    threshold: str
    duration: str
    note: str  # why a SKIP row was skipped, or the first failure


def _number(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"


def _duration(ms: float) -> str:
    if ms >= 60_000:
        return f"{ms / 60_000:.1f}m"
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


def row(gate: Gate, evidence: Evidence) -> Row:
    items = [i for i in evidence.items if gate.owns(i.gate_id)]
    judged = [i for i in items if i.outcome != "Skipped"]
    failed = [i for i in judged if i.outcome in FAILED]
    status = "FAIL" if failed else "PASS" if judged else "SKIP"
    measured = threshold = "—"
    if gate.metric is None and judged:
        measured = f"{len(judged) - len(failed)}/{len(judged)}"
    elif gate.metric is not None:
        # the worst judged value: a failing one if any (the number that failed), else the first
        shown: list[EvidenceItem] = [i for i in failed or judged if gate.metric in i.metrics]
        if shown:
            measured = _number(shown[0].metrics[gate.metric])
            if "threshold" in shown[0].metrics:
                threshold = _number(shown[0].metrics["threshold"])
    ran = {s.id for s in evidence.scenarios if s.purpose in gate.purposes}
    ms = sum(o.duration_ms or 0.0 for o in evidence.observations if o.scenario_id in ran)
    duration = _duration(ms) if ran else "—"
    first = failed[0] if failed else items[0] if items and status == "SKIP" else None
    note = one_line(first.reason)[:200] if first is not None else ("nothing declared it" if not items else "")
    return Row(gate.name, status, measured, threshold, duration, note)


def qa_rows(evidence: Evidence) -> list[Row]:
    return [row(gate, evidence) for gate in GATES]


def format_table(rows: list[Row]) -> str:
    header = ("Gate", "Status", "Measured", "Threshold", "Duration")
    cells = [header] + [(r.gate, r.status, r.measured, r.threshold, r.duration) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: tuple[str, ...]) -> str:
        return "|" + "|".join(f" {v:<{w}} " for v, w in zip(values, widths, strict=True)) + "|"

    lines = [rule, line(header), rule, *(line(c) for c in cells[1:]), rule]
    lines += [f"  {r.gate}: {r.status} — {r.note}" for r in rows if r.note and r.status != "PASS"]
    return "\n".join(lines)
