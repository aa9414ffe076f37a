"""Compared with the base branch: deltas of MQS, grade, gateways, cell results, tok/s and latency per cell.

A change in tok/s or latency is flagged only when it is larger than the threshold percentage AND larger than
the noise — the spread (max − min) of that cell's measurements in either run (its answered matrix scenarios
and, for run cells, the profile_ci measure runs). A cell with one measurement per run has no spread: the
percentage alone decides.
"""

from __future__ import annotations

from collections import defaultdict

from aprqa_action.evidence import Evidence
from aprqa_action.records import CellDelta, Comparison, MetricDelta, Verdict
from aprqa_action.report.view import build_view

DEFAULT_THRESHOLD_PCT = 10.0


def _samples(evidence: Evidence) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    cells = {s.id: (f"{s.format}/{s.backend}/{s.modality}", s.purpose) for s in evidence.scenarios}
    rates: dict[str, list[float]] = defaultdict(list)
    latencies: dict[str, list[float]] = defaultdict(list)
    for o in evidence.observations:
        cell, purpose = cells.get(o.scenario_id, ("", "warmup"))
        if o.status != "ok" or purpose == "warmup":
            continue
        if o.tok_per_sec is not None:
            rates[cell].append(o.tok_per_sec)
        if o.latency_ms is not None:
            latencies[cell].append(o.latency_ms)
    return rates, latencies


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) > 1 else 0.0


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    n = len(ordered)
    return None if not n else ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def metric(before: list[float], after: list[float], threshold_pct: float, higher_is_better: bool) -> MetricDelta:
    b, a = _median(before), _median(after)
    noise = max(_spread(before), _spread(after))
    if b is None or a is None or b == 0:
        return MetricDelta(before=b, after=a, change_pct=None, noise=noise)
    change = (a - b) / b * 100
    flagged = None
    if abs(change) >= threshold_pct and abs(a - b) > noise:
        worse = change < 0 if higher_is_better else change > 0
        flagged = "regression" if worse else "improvement"
    return MetricDelta(before=b, after=a, change_pct=round(change, 2), noise=round(noise, 3), flagged=flagged)


def compare(
    current: Evidence, baseline: Evidence, *, source: str, threshold_pct: float = DEFAULT_THRESHOLD_PCT
) -> Comparison:
    now_cells = {c.name: c for c in build_view(current).cells}
    then_cells = {c.name: c for c in build_view(baseline).cells}
    now_rates, now_lat = _samples(current)
    then_rates, then_lat = _samples(baseline)
    cells, regressions, improvements = [], [], []
    for name in [*now_cells, *(n for n in then_cells if n not in now_cells)]:
        before = then_cells[name].result if name in then_cells else None
        after = now_cells[name].result if name in now_cells else None
        tps = metric(then_rates.get(name, []), now_rates.get(name, []), threshold_pct, higher_is_better=True)
        lat = metric(then_lat.get(name, []), now_lat.get(name, []), threshold_pct, higher_is_better=False)
        cells.append(CellDelta(cell=name, before=before, after=after, tok_per_sec=tps, latency_ms=lat))
        if before in ("pass", "partial") and after == "fail":
            regressions.append(f"{name}: {before} → fail")
        elif before == "fail" and after in ("pass", "partial"):
            improvements.append(f"{name}: fail → {after}")
        for label, delta, unit in (("tok/s", tps, ""), ("latency", lat, " ms")):
            if delta.flagged and delta.change_pct is not None and delta.before is not None and delta.after is not None:
                arrow = "↓" if delta.change_pct < 0 else "↑"
                line = (
                    f"{arrow} {abs(delta.change_pct):.0f} % {label} {name} "
                    f"({delta.before:,.1f} → {delta.after:,.1f}{unit})"
                )
                (regressions if delta.flagged == "regression" else improvements).append(line)
    v_now, v_then = current.verdict, baseline.verdict
    gateways = []
    then_gates = {g.id: g.passed for g in v_then.gateways} if v_then else {}
    for gate in v_now.gateways if v_now else []:
        if then_gates.get(gate.id) != gate.passed:
            gateways.append((gate.id, then_gates.get(gate.id), gate.passed))
            if then_gates.get(gate.id) and not gate.passed:
                regressions.insert(0, f"{gate.id} {gate.name}: pass → FAIL")
    if v_now and v_then and v_now.mqs < v_then.mqs:
        regressions.insert(0, f"MQS {v_then.mqs} → {v_now.mqs} ({v_now.mqs - v_then.mqs:+d})")
    elif v_now and v_then and v_now.mqs > v_then.mqs:
        improvements.insert(0, f"MQS {v_then.mqs} → {v_now.mqs} ({v_now.mqs - v_then.mqs:+d})")
    return Comparison(
        baseline=f"{source} ({baseline.run.started:%Y-%m-%d %H:%M} UTC)",
        threshold_pct=threshold_pct,
        mqs_before=v_then.mqs if v_then else None,
        mqs_after=v_now.mqs if v_now else None,
        grade_before=v_then.grade if v_then else None,
        grade_after=v_now.grade if v_now else None,
        gateways=gateways,
        cells=cells,
        regressions=regressions,
        improvements=improvements,
    )


def apply_policy(verdict: Verdict, comparison: Comparison, policy: str) -> Verdict:
    """`--fail-on regression:<pct>`: not qualified when the comparison flags a regression."""
    if not policy.startswith("regression:") or not verdict.qualified or not comparison.regressions:
        return verdict
    return verdict.model_copy(
        update={"qualified": False, "policy_reason": f"regression against the baseline: {comparison.regressions[0]}"}
    )


def with_baseline(evidence: Evidence, baseline: Evidence, source: str, threshold_pct: float) -> Evidence:
    """The evidence with its comparison, and the verdict after a `regression:<pct>` policy."""
    comparison = compare(evidence, baseline, source=source, threshold_pct=threshold_pct)
    verdict = apply_policy(evidence.verdict, comparison, evidence.verdict.policy) if evidence.verdict else None
    return evidence.model_copy(update={"comparison": comparison, "verdict": verdict})


def threshold_for(policy: str) -> float:
    """A `regression:<pct>` policy's percentage, else the default threshold."""
    return float(policy.split(":", 1)[1]) if policy.startswith("regression:") else DEFAULT_THRESHOLD_PCT
