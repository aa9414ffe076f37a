"""Performance assertions from `profile_ci`: warmup runs are discarded, `measure` runs are judged.

Per (format, backend): throughput is the median tok/s of the measure runs, checked against
min_throughput_cpu / min_throughput_gpu; latency percentiles use the nearest-rank method
(p-th percentile = the ⌈p/100·n⌉-th smallest) over the measure runs' latencies. The spread of the runs is
said, not hidden in the median: the throughput reason gives the coefficient of variation (sample standard
deviation ÷ mean), and `max_throughput_cv` judges it (F-PERF-TPS-CV; `apr qa` uses 5 %).

Per format measured on both backends: gpu median tok/s ÷ cpu median tok/s ≥ min_gpu_speedup
(F-PERF-GPU-SPEEDUP, default 2.0 as `apr qa`), Skipped with the reason when either side was not measured.
"""

from __future__ import annotations

import math
import statistics
from itertools import groupby

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.judge.items import broken_outcome, of_scenario, tail
from aprqa_action.judge.items import item as make_item
from aprqa_action.playbook import ProfileCI
from aprqa_action.records import EvidenceItem, Observation, Outcome, Scenario
from aprqa_action.records.axes import Modality, cell_label


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def performance(run: Run) -> list[EvidenceItem]:
    profile = run.playbook.profile_ci
    if profile is None or not profile.enabled:
        return []
    return perf_items(profile, run.scenarios, {s.id: run.observed(s) for s in run.scenarios if s.purpose == "measure"})


def cv(values: list[float]) -> float | None:
    """Coefficient of variation: sample standard deviation ÷ mean (None under two values, or values that are not
    all finite and ≥ 0 with a mean > 0: evidence from a file may hold anything)."""
    if len(values) < 2 or not all(0 <= v < math.inf for v in values) or statistics.fmean(values) <= 0:
        return None
    return statistics.stdev(values) / statistics.fmean(values)


def perf_items(profile: ProfileCI, scenarios: list[Scenario], observed: dict[str, Observation]) -> list[EvidenceItem]:
    measured = sorted((s for s in scenarios if s.purpose == "measure"), key=lambda s: (s.format, s.backend))
    items = []
    by_cell: dict[tuple[str, str], list[Observation]] = {}
    for (fmt, backend), group in groupby(measured, key=lambda s: (s.format, s.backend)):
        runs = by_cell[(fmt, backend)] = [observed[s.id] for s in group]
        cell = cell_label(fmt, backend, Modality.RUN)
        checks: list[tuple[str, float, str]] = []
        minimum = profile.assertions.min_throughput_gpu if backend == "gpu" else profile.assertions.min_throughput_cpu
        if minimum is not None:
            checks.append((f"F-PERF-TPS-{backend.upper()}", minimum, "tps"))
        if profile.assertions.max_p50_ms is not None:
            checks.append(("F-PERF-P50", profile.assertions.max_p50_ms, "p50"))
        if profile.assertions.max_p99_ms is not None:
            checks.append(("F-PERF-P99", profile.assertions.max_p99_ms, "p99"))
        if profile.assertions.max_throughput_cv is not None:
            checks.append(("F-PERF-TPS-CV", profile.assertions.max_throughput_cv, "cv"))
        for gate, threshold, kind in checks:
            items.append(_judge(gate, cell, threshold, kind, runs))
    if profile.assertions.min_gpu_speedup is not None:
        for fmt in dict.fromkeys(f for f, b in by_cell if b == "gpu"):
            items.append(
                _speedup(fmt, profile.assertions.min_gpu_speedup, by_cell.get((fmt, "cpu")), by_cell[(fmt, "gpu")])
            )
    return items


def _median_rate(runs: list[Observation] | None) -> tuple[float | None, str]:
    """The median tok/s of measure runs that all completed, or None and why not."""
    if not runs:
        return None, "not measured (profile_ci has no such runs)"
    if any(r.status != "ok" for r in runs):
        bad = next(r for r in runs if r.status != "ok")
        return None, f"not measured: {bad.reason or bad.status}"
    rates = [r.tok_per_sec for r in runs if r.tok_per_sec is not None]
    if len(rates) < len(runs):
        return None, "the engine did not report tok/s for every measure run"
    return statistics.median(rates), ""


def _speedup(fmt: str, minimum: float, cpu: list[Observation] | None, gpu: list[Observation]) -> EvidenceItem:
    subject = f"{fmt}:gpu÷cpu"

    def item(outcome: Outcome, reason: str, metrics: dict[str, float] | None = None) -> EvidenceItem:
        return make_item(
            "F-PERF-GPU-SPEEDUP", "PERF", outcome, reason, subject=subject, cell=fmt,
            metrics={"threshold": minimum, **(metrics or {})},
        )  # fmt: skip

    gpu_rate, gpu_why = _median_rate(gpu)
    cpu_rate, cpu_why = _median_rate(cpu)
    if gpu_rate is None or cpu_rate is None:
        return item("Skipped", "; ".join(f"{side} {why}" for side, why in (("gpu", gpu_why), ("cpu", cpu_why)) if why))
    if cpu_rate == 0:
        return item("Skipped", "cpu measured 0 tok/s: no ratio")
    ratio = gpu_rate / cpu_rate
    passed = ratio >= minimum
    reason = f"gpu {gpu_rate:.1f} tok/s ÷ cpu {cpu_rate:.1f} tok/s = {ratio:.2f}× {'≥' if passed else '<'} {minimum:g}×"
    metrics = {"speedup": ratio, "gpu_tok_per_sec": gpu_rate, "cpu_tok_per_sec": cpu_rate}
    return item("Corroborated" if passed else "Falsified", reason, metrics)


def _judge(gate: str, cell: str, threshold: float, kind: str, runs: list[Observation]) -> EvidenceItem:
    def item(outcome: Outcome, reason: str, metrics: dict[str, float] | None = None) -> EvidenceItem:
        return make_item(
            gate, "PERF", outcome, reason, subject=cell, cell=cell, metrics={"threshold": threshold, **(metrics or {})}
        )

    if all(r.status in ("skipped", "not_run") for r in runs):
        return item("Skipped", f"not measured: {runs[0].reason}")
    broken = [r for r in runs if r.status != "ok"]
    if broken:
        return item(
            broken_outcome(broken), f"{len(broken)} of {len(runs)} measure runs did not complete: {broken[0].reason}"
        )
    if kind in ("tps", "cv"):
        rates = [r.tok_per_sec for r in runs if r.tok_per_sec is not None]
        if len(rates) < len(runs):
            return item("Falsified", "the engine did not report tok/s for every measure run")
        spread = cv(rates)
        said = f", CV {spread:.1%}" if spread is not None else ""
        if kind == "cv":
            if spread is None:
                return item("Skipped", f"a coefficient of variation needs 2 measure runs with tok/s, not {len(rates)}")
            passed = spread <= threshold
            reason = (
                f"tok/s CV {spread:.1%} {'≤' if passed else '>'} {threshold:.1%} ({len(rates)} runs: {_fmt(rates)})"
            )
            return item("Corroborated" if passed else "Falsified", reason, {"cv": spread})
        value = statistics.median(rates)
        passed = value >= threshold
        relation = "≥" if passed else "<"
        reason = f"{value:.1f} tok/s {relation} {threshold:g} tok/s (median of {len(rates)} runs: {_fmt(rates)}{said})"
        metrics = {"tok_per_sec": value} | ({"cv": spread} if spread is not None else {})
        return item("Corroborated" if passed else "Falsified", reason, metrics)
    latencies = [r.latency_ms for r in runs if r.latency_ms is not None]
    if len(latencies) < len(runs):
        return item("Falsified", "no latency measured for every measure run")
    p = 50 if kind == "p50" else 99
    value = percentile(latencies, p)
    passed = value <= threshold
    relation = "≤" if passed else ">"
    reason = f"p{p} latency {value:.0f} ms {relation} {threshold:g} ms ({len(latencies)} runs: {_fmt(latencies)} ms)"
    return item("Corroborated" if passed else "Falsified", reason, {f"p{p}_ms": value})


def profile_crashes(run: Run) -> list[EvidenceItem]:
    """profile_ci and perplexity runs answer no oracle, but a crash in one (a warmup too) is a crash of the
    engine: G3."""
    crashed = [(s, run.observed(s)) for s in run.scenarios if s.purpose in ("warmup", "measure", "perplexity")]
    return [
        of_scenario("G3-STABILITY", "STAB", "Crashed", seen.reason, s, excerpt=tail(seen))
        for s, seen in crashed
        if seen.status == "crashed"
    ]


register_check(Check("performance", performance))
register_check(Check("profile-crashes", profile_crashes))
