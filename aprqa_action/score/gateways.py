"""The gateways G0–G4, decided from the evidence items: any one failing blocks the model (MQS 0)."""

from __future__ import annotations

from collections.abc import Iterable

from aprqa_action.records import EvidenceItem, Gateway, Observation, base_id


def gates(item: EvidenceItem) -> bool:
    """Whether a failing item can fail a gateway: any crash (its scenario's G3 item fails G3), the G0–G3 items
    (a timeout is penalised, not gating) and the oracles G4 counts. Performance, contract, parity and edge-case
    checks are scored, not gating."""
    if item.outcome in ("Crashed", "Timeout"):
        return item.outcome == "Crashed"
    return item.gate_id.startswith(("G0", "G1-", "G2-", "G3-")) or item.category == "QUAL"


def _first(items: Iterable[EvidenceItem], limit: int = 3) -> str:
    listed = list(items)
    shown = "; ".join(f"{i.scenario_id or i.cell}: {i.reason}" for i in listed[:limit])
    more = f" (and {len(listed) - limit} more)" if len(listed) > limit else ""
    return shown + more


def gateways(
    items: list[EvidenceItem],
    observations: list[Observation],
    max_failure_fraction: float,
    *,
    min_pass: int = 1,
    part: bool = False,
) -> list[Gateway]:
    """G0–G4 from the items. With `test_matrix.repeat`, G1, G2 and G4 judge a scenario by its attempts: it
    fails when fewer than `min_pass` of them pass; a crash in any attempt still fails G3.
    `part`: this evidence holds part of a plan (--shard, --only): running nothing here (an empty shard, or
    only gpu cells on a machine without a GPU) is not a G1 failure — the merged evidence decides."""

    result = []
    g0_bad = [i for i in items if i.gate_id.startswith("G0") and i.outcome == "Falsified"]
    g0_ok = [i for i in items if i.gate_id == "G0-INTEGRITY" and i.outcome == "Corroborated"]
    if g0_bad:
        result.append(Gateway(id="G0", name="integrity", passed=False, reason=_first(g0_bad)))
    elif not g0_ok:
        result.append(Gateway(id="G0", name="integrity", passed=False, reason="no model file resolved for any format"))
    else:
        result.append(Gateway(id="G0", name="integrity", passed=True, reason=f"{len(g0_ok)} model file(s) parse"))

    loaded = [i for i in items if i.gate_id == "G1-LOAD" and i.outcome == "Corroborated"]
    g1_bad = _failing(items, "G1-LOAD", min_pass)
    if g1_bad:
        result.append(Gateway(id="G1", name="load", passed=False, reason=_first(g1_bad)))
    elif part and not loaded:
        result.append(Gateway(id="G1", name="load", passed=True, reason="nothing executed in this part of the plan"))
    elif not loaded:
        result.append(Gateway(id="G1", name="load", passed=False, reason=_nothing_loaded(items)))
    else:
        result.append(
            Gateway(id="G1", name="load", passed=True, reason=f"the model loaded in {len(loaded)} scenario(s)")
        )

    g2_bad = _failing(items, "G2-INFERENCE", min_pass)
    g2_ok = len({base_id(i.scenario_id) for i in items if i.gate_id == "G2-INFERENCE" and i.scenario_id}) - len(g2_bad)
    result.append(
        Gateway(id="G2", name="inference", passed=False, reason=_first(g2_bad))
        if g2_bad
        else Gateway(id="G2", name="inference", passed=True, reason=f"{g2_ok} scenario(s) produced output")
    )

    # every crashed scenario, matrix or profile_ci (warmup included), has its G3-STABILITY item; the F-PERF
    # item of a crashed measure run says the same again and is not listed twice
    crashed = [i for i in items if i.gate_id == "G3-STABILITY" and i.outcome == "Crashed"]
    timeouts = sum(o.status == "timeout" for o in observations)
    note = f"; {timeouts} timeout(s), penalised" if timeouts else ""
    result.append(
        Gateway(id="G3", name="stability", passed=False, reason=_first(crashed))
        if crashed
        else Gateway(id="G3", name="stability", passed=True, reason="no crash" + note)
    )
    result.append(_quality(items, max_failure_fraction, min_pass))
    return result


def _nothing_loaded(items: list[EvidenceItem]) -> str:
    """Why G1 has no load to show: every scenario was skipped, or the ones that ran timed out or crashed
    before the engine loaded the model."""
    ended = [i for i in items if i.gate_id == "G3-STABILITY" and i.outcome in ("Timeout", "Crashed")]
    if not ended:
        skipped = [i for i in items if i.gate_id == "G1-LOAD" and i.outcome == "Skipped"]
        return "no scenario was executed" + (f": all skipped ({_first(skipped, 1)})" if skipped else "")
    timeouts = sum(i.outcome == "Timeout" for i in ended)
    counts = [f"{n} {what}" for n, what in ((timeouts, "timed out"), (len(ended) - timeouts, "crashed")) if n]
    return f"no scenario loaded the model: {' and '.join(counts)} before loading it ({_first(ended)})"


def _failing(items: list[EvidenceItem], gate: str, min_pass: int) -> list[EvidenceItem]:
    """One falsified item per scenario that fails `gate`: fewer than min_pass of its judged attempts passed
    (with no repeat, any falsification)."""
    tries: dict[str, list[EvidenceItem]] = {}
    for item in items:
        if item.gate_id == gate and item.outcome in ("Corroborated", "Falsified"):
            tries.setdefault(base_id(item.scenario_id or item.id), []).append(item)
    return [
        next(i for i in attempts if i.outcome == "Falsified")
        for attempts in tries.values()
        if sum(i.outcome == "Corroborated" for i in attempts) < min(min_pass, len(attempts))
    ]


def _quality(items: list[EvidenceItem], max_failure_fraction: float, min_pass: int) -> Gateway:
    attempts: dict[str, bool] = {}  # attempt → passed every oracle
    first: dict[str, EvidenceItem] = {}  # per attempt, its first falsification is the verdict
    for item in items:
        # a Skipped oracle (e.g. a check that needs a program, on evidence read from a file) judged nothing
        if item.category == "QUAL" and item.scenario_id is not None and item.outcome != "Skipped":
            attempts[item.scenario_id] = attempts.get(item.scenario_id, True) and item.outcome == "Corroborated"
            if item.outcome == "Falsified":
                first.setdefault(item.scenario_id, item)
    scenarios: dict[str, list[bool]] = {}
    for attempt, ok in attempts.items():
        scenarios.setdefault(base_id(attempt), []).append(ok)
    failures = [base for base, oks in scenarios.items() if sum(oks) < min(min_pass, len(oks))]
    if not scenarios:
        return Gateway(id="G4", name="quality", passed=True, reason="no answer was judged by an oracle")
    fraction = len(failures) / len(scenarios)
    reason = (
        f"{len(failures)} of {len(scenarios)} judged scenario(s) falsified (allowed fraction {max_failure_fraction:g})"
    )
    if failures:
        shown = [i for attempt, i in first.items() if base_id(attempt) in failures]
        reason += ": " + _first(shown)
    return Gateway(id="G4", name="quality", passed=fraction <= max_failure_fraction, reason=reason)
