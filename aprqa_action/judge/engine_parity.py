"""Reference-engine parity (the seed's Ollama parity, F-OLLAMA-001..003): an independent engine answers the
matrix prompts on the same model files at temperature 0 (plan.deep).

- F-PAR-ENGINE-TEXT per scenario: our answer agrees with the reference engine's on the first N tokens (words
  and punctuation, as format parity: two engines may tokenise differently).
- F-PAR-ENGINE-TPS per cell: our median tok/s ÷ the reference engine's ≥ min_perf_ratio.
- F-PAR-ENGINE-TTFT per cell: our median time to first token ÷ the reference engine's ≤ max_ttft_ratio.

Medians are over the scenarios both engines answered. A side that did not answer, or did not report the
number, is Skipped with the reason — never passed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from math import inf

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.judge.items import item
from aprqa_action.judge.parity import Comparison
from aprqa_action.records import EvidenceItem, Observation, Outcome


def engine_parity(run: Run) -> list[EvidenceItem]:
    parity = run.playbook.engine_parity
    if parity is None:
        return []
    ours = {(s.cell, s.index): s for s in run.scenarios if s.purpose == "matrix" and s.attempt == 0}
    pairs: dict[str, list[tuple[Observation, Observation]]] = {}
    items = []
    for theirs in (s for s in run.scenarios if s.purpose == "parity"):
        own = ours.get((theirs.cell, theirs.index))
        if own is None:
            continue
        engine = theirs.engine or "the reference engine"
        compare = Comparison("F-PAR-ENGINE-TEXT", parity.tokens, parity.tolerance, engine, "ours")
        mine, reference = run.observed(own), run.observed(theirs)
        items.append(compare.item(own.cell_name, f"{theirs.cell_name}:{own.index:03d}", reference, mine))
        pairs.setdefault(own.cell_name, []).append((mine, reference))
    name = next((s.engine for s in run.scenarios if s.purpose == "parity" and s.engine), "reference")
    for cell, answered in pairs.items():
        if parity.min_perf_ratio is not None:
            items.append(
                _ratio("F-PAR-ENGINE-TPS", cell, name, answered, lambda o: o.tok_per_sec, parity.min_perf_ratio)
            )
        if parity.max_ttft_ratio is not None:
            items.append(_ratio("F-PAR-ENGINE-TTFT", cell, name, answered, lambda o: o.ttft_ms, parity.max_ttft_ratio))
    return items


def _ratio(
    gate: str,
    cell: str,
    engine: str,
    answered: list[tuple[Observation, Observation]],
    value: Callable[[Observation], float | None],
    bound: float,
) -> EvidenceItem:
    """ours ÷ theirs of a per-scenario number's median; tok/s must be ≥ bound, TTFT ≤ bound."""
    higher_is_better = gate == "F-PAR-ENGINE-TPS"
    what, unit = ("tok/s", "tok/s") if higher_is_better else ("TTFT", "ms")

    def made(outcome: Outcome, reason: str, metrics: dict[str, float] | None = None) -> EvidenceItem:
        return item(
            gate, "REGR", outcome, reason, subject=cell, cell=cell, metrics={"threshold": bound} | (metrics or {})
        )

    both = [(value(a), value(b)) for a, b in answered if a.status == "ok" and b.status == "ok"]
    # a number an engine reports about itself (run's JSON) is only taken when it can be one: finite and > 0
    measured = [(a, b) for a, b in both if a is not None and b is not None and 0 < a < inf and 0 < b < inf]
    if not measured:
        why = (
            "no scenario answered by both engines"
            if not both
            else "an engine did not report it (or not as a number > 0)"
        )
        return made("Skipped", f"{what} not compared: {why}")
    mine = statistics.median(a for a, _ in measured)
    theirs = statistics.median(b for _, b in measured)
    ratio = mine / theirs
    passed = ratio >= bound if higher_is_better else ratio <= bound
    relation = ("≥" if passed else "<") if higher_is_better else ("≤" if passed else ">")
    reason = (
        f"{what} ours {mine:.1f} {unit} ÷ {engine} {theirs:.1f} {unit} = {ratio:.2f} {relation} {bound:g} "
        f"(medians of {len(measured)} scenario(s))"
    )
    metrics = {"ratio": ratio, "ours": mine, "reference": theirs}
    return made("Corroborated" if passed else "Falsified", reason, metrics)


register_check(Check("engine-parity", engine_parity))
