"""Compared with the base branch: deltas of MQS, grade, gateways, cell results, tok/s and latency per cell.

A change in tok/s or latency is flagged only when it is larger than the threshold percentage AND larger than
the noise — the spread (max − min) of that cell's measurements in either run (its answered matrix scenarios
and, for run cells, the profile_ci measure runs). A cell with one measurement per run has no spread: the
percentage alone decides. The MQS is flagged when it moves by at least the threshold percentage of the
baseline's; a gateway that fails, or a cell that passed and now fails, is skipped or is gone, is a regression
whatever the threshold. With `--fail-on regression:<pct>`, pct is the threshold.

The baseline must be a run of the same playbook (by name; another one is refused). A changed playbook file
or model file is compared all the same and named in the comparison's baseline line.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from aprqa_action.errors import InputError
from aprqa_action.judge.cells import median, spread
from aprqa_action.records import GATEWAY_NAMES, CellDelta, Comparison, Evidence, FailPolicy, MetricDelta, Verdict
from aprqa_action.records.options import DEFAULT_THRESHOLD_PCT


def _samples(evidence: Evidence) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    cells = {s.id: (s.cell_name, s.purpose) for s in evidence.scenarios}
    rates: dict[str, list[float]] = defaultdict(list)
    latencies: dict[str, list[float]] = defaultdict(list)
    for o in evidence.observations:
        cell, purpose = cells.get(o.scenario_id, ("", "warmup"))
        # warmups are not measurements; parity runs are another engine's, perplexity runs generate nothing
        if o.status != "ok" or purpose in ("warmup", "parity", "perplexity"):
            continue
        if o.tok_per_sec is not None:
            rates[cell].append(o.tok_per_sec)
        if o.latency_ms is not None:
            latencies[cell].append(o.latency_ms)
    return rates, latencies


def metric(before: list[float], after: list[float], threshold_pct: float, higher_is_better: bool) -> MetricDelta:
    b, a = median(before), median(after)
    noise = max(spread(before), spread(after))
    if b is None or a is None or b == 0:
        return MetricDelta(before=b, after=a, change_pct=None, noise=noise)
    change = (a - b) / b * 100
    flagged: Literal["regression", "improvement"] | None = None
    if abs(change) >= threshold_pct and abs(a - b) > noise:
        worse = change < 0 if higher_is_better else change > 0
        flagged = "regression" if worse else "improvement"
    return MetricDelta(before=b, after=a, change_pct=round(change, 2), noise=round(noise, 3), flagged=flagged)


TESTED = ("pass", "partial")


def check_baseline(current_playbook: str, baseline: Evidence, source: str) -> None:
    """A baseline of another playbook compares unrelated cells: refused (exit 2) before anything runs."""
    if baseline.playbook.name != current_playbook:
        raise InputError(
            f"--baseline {source}: its playbook is {baseline.playbook.name!r}, not {current_playbook!r}; "
            "compare runs of the same playbook"
        )


def differences(current: Evidence, baseline: Evidence) -> list[str]:
    """What makes the baseline a different subject: a changed playbook file or model file (same playbook name,
    e.g. a pull request that edits them). Compared all the same, and said in the report."""
    found = []
    if current.playbook.sha256 != baseline.playbook.sha256:
        found.append(f"the playbook changed (sha256 {baseline.playbook.sha256[:12]} → {current.playbook.sha256[:12]})")
    before = {str(f): p.sha256[:12] for f, p in baseline.provenance.items()}
    after = {str(f): p.sha256[:12] for f, p in current.provenance.items()}
    for fmt in sorted(before.keys() & after.keys()):
        if before[fmt] != after[fmt]:
            found.append(f"the {fmt} model file changed (sha256 {before[fmt]} → {after[fmt]})")
    return found


def compare(
    current: Evidence, baseline: Evidence, *, source: str, threshold_pct: float = DEFAULT_THRESHOLD_PCT
) -> Comparison:
    now_cells = {c.name: c for c in current.cells}
    then_cells = {c.name: c for c in baseline.cells}
    now_rates, now_lat = _samples(current)
    then_rates, then_lat = _samples(baseline)
    cells = []
    for name in [*now_cells, *(n for n in then_cells if n not in now_cells)]:
        before = then_cells[name].result if name in then_cells else None
        after = now_cells[name].result if name in now_cells else None
        tps = metric(then_rates.get(name, []), now_rates.get(name, []), threshold_pct, higher_is_better=True)
        lat = metric(then_lat.get(name, []), now_lat.get(name, []), threshold_pct, higher_is_better=False)
        cells.append(CellDelta(cell=name, before=before, after=after, tok_per_sec=tps, latency_ms=lat))
    v_now, v_then = current.verdict, baseline.verdict
    gateways: list[tuple[str, bool | None, bool | None]] = []
    then_gates = {g.id: g.passed for g in v_then.gateways} if v_then else {}
    for gate in v_now.gateways if v_now else []:
        if then_gates.get(gate.id) != gate.passed:
            gateways.append((gate.id, then_gates.get(gate.id), gate.passed))
    label = f"{source} ({baseline.run.started:%Y-%m-%d %H:%M} UTC)"
    notes = differences(current, baseline)
    comparison = Comparison(
        baseline=label + (f"; note: {'; '.join(notes)}" if notes else ""),
        threshold_pct=threshold_pct,
        mqs_before=v_then.mqs if v_then else None,
        mqs_after=v_now.mqs if v_now else None,
        grade_before=v_then.grade if v_then else None,
        grade_after=v_now.grade if v_now else None,
        gateways=gateways,
        cells=cells,
        regressions=[],
        improvements=[],
    )
    regressions, improvements = flagged(comparison, threshold_pct)
    return comparison.model_copy(update={"regressions": regressions, "improvements": improvements})


def _beyond(delta: MetricDelta, pct: float) -> str | None:
    """The metric's flag at `pct` (the same rule as metric(), from the recorded medians and spread)."""
    if delta.change_pct is None or delta.before is None or delta.after is None:
        return None
    if abs(delta.change_pct) < pct or abs(delta.after - delta.before) <= delta.noise:
        return None
    return delta.flagged or ("regression" if delta.change_pct < 0 else "improvement")


def flagged(comparison: Comparison, pct: float) -> tuple[list[str], list[str]]:
    """(regressions, improvements) at `pct`: a gateway pass → FAIL; a cell pass/partial → fail, → skip or
    gone (it is no longer qualified); MQS down by ≥ pct % of the baseline's; tok/s or latency worse by ≥ pct %
    and beyond the noise. Failing gateways and cells are regressions whatever pct is."""
    regressions, improvements = [], []
    for gate, before, after in comparison.gateways:
        if before and not after:
            regressions.append(f"{gate} {GATEWAY_NAMES.get(gate, '')}: pass → FAIL".replace("  ", " "))
        elif before is False and after:
            improvements.append(f"{gate} {GATEWAY_NAMES.get(gate, '')}: FAIL → pass".replace("  ", " "))
    b, a = comparison.mqs_before, comparison.mqs_after
    if a is not None and b is not None and a != b:
        line = f"MQS {b} → {a} ({a - b:+d})"
        if a < b and (b == 0 or (b - a) / b * 100 >= pct):
            regressions.append(line)
        elif a > b and (b == 0 or (a - b) / b * 100 >= pct):
            improvements.append(line)
    for c in comparison.cells:
        if c.before in TESTED and c.after == "fail":
            regressions.append(f"{c.cell}: {c.before} → fail")
        elif c.before in TESTED and c.after is None:
            regressions.append(f"{c.cell}: {c.before} → not in this run")
        elif c.before in TESTED and c.after in ("skip", "pending"):
            regressions.append(f"{c.cell}: {c.before} → {c.after} (not tested in this run)")
        elif c.before == "fail" and c.after in TESTED:
            improvements.append(f"{c.cell}: fail → {c.after}")
        for what, delta, unit, lower_is_better in (
            ("tok/s", c.tok_per_sec, "", False),
            ("latency", c.latency_ms, " ms", True),
        ):
            flag = _beyond(delta, pct)
            if flag is None or delta.change_pct is None or delta.before is None or delta.after is None:
                continue
            worse = delta.change_pct > 0 if lower_is_better else delta.change_pct < 0
            arrow = "↓" if delta.change_pct < 0 else "↑"
            line = (
                f"{arrow} {abs(delta.change_pct):.0f} % {what} {c.cell} "
                f"({delta.before:,.1f} → {delta.after:,.1f}{unit})"
            )
            (regressions if worse else improvements).append(line)
    return regressions, improvements


def apply_policy(verdict: Verdict, comparison: Comparison, policy: FailPolicy) -> Verdict:
    """`--fail-on regression:<pct>`: not qualified when the comparison, judged at pct, has a regression."""
    if policy.kind != "regression" or not verdict.qualified:
        return verdict
    regressions, _ = flagged(comparison, policy.threshold_pct)
    if not regressions:
        return verdict
    return verdict.model_copy(
        update={"qualified": False, "policy_reason": f"regression against the baseline: {regressions[0]}"}
    )


def with_baseline(evidence: Evidence, baseline: Evidence, source: str, policy: FailPolicy) -> Evidence:
    """The evidence with its comparison (flagging changes beyond the policy's threshold), and the verdict
    after a `regression:<pct>` policy. Refused (exit 2): a baseline of another playbook."""
    check_baseline(evidence.playbook.name, baseline, source)
    comparison = compare(evidence, baseline, source=source, threshold_pct=policy.threshold_pct)
    verdict = apply_policy(evidence.verdict, comparison, policy) if evidence.verdict else None
    return evidence.model_copy(update={"comparison": comparison, "verdict": verdict})
