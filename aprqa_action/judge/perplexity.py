"""Quantization quality (the seed's F-PAR-003: Q4_K_M perplexity ≤ 10 % worse than F16): each format's
perplexity of aprqa's fixed text (plan.deep), and per quantized format an F-PAR-PPL item (REGR): its perplexity
÷ the reference format's ≤ `perplexity.max_ratio`. The ratio is only meaningful between files of one model
(one tokenizer): the token counts of both runs are said, and a mismatch fails — one model in two formats
tokenises a text alike, so two counts mean a conversion broke the tokenizer. A run that failed, crashed or
timed out is that outcome (both runs are the engine under test's); a skipped one is Skipped.

The bound holds both ways: a quantized file far *better* than its reference (ratio < 1 / max_ratio) means one of
the two is not what it claims — a damaged reference would otherwise make any quantization pass.
"""

from __future__ import annotations

import math

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.judge.items import broken_outcome, item
from aprqa_action.records import EvidenceItem, Observation, Outcome


def _value(seen: Observation) -> float | None:
    value = seen.facts.get("perplexity")  # evidence read from a file may hold anything: only what one can be
    if not isinstance(value, int | float) or isinstance(value, bool) or not 1 <= value < math.inf:
        return None
    return float(value)


def perplexity(run: Run) -> list[EvidenceItem]:
    spec = run.playbook.perplexity
    if spec is None:
        return []
    reference = str(run.playbook.perplexity_reference)
    scored = {str(s.format): run.observed(s) for s in run.scenarios if s.purpose == "perplexity"}
    if reference not in scored:
        return []
    return [
        _ratio(fmt, seen, reference, scored[reference], spec.max_ratio)
        for fmt, seen in scored.items()
        if fmt != reference
    ]


def _ratio(fmt: str, seen: Observation, reference: str, ref: Observation, bound: float) -> EvidenceItem:
    def made(outcome: Outcome, reason: str, metrics: dict[str, float] | None = None) -> EvidenceItem:
        return item(
            "F-PAR-PPL", "REGR", outcome, reason, subject=f"{fmt}÷{reference}", scenario_id=seen.scenario_id,
            cell=fmt, metrics={"threshold": bound} | (metrics or {}),
        )  # fmt: skip

    def without(runs: list[tuple[str, Observation]]) -> str:
        return "no perplexity from " + "; ".join(f"{f} ({o.reason or o.status})" for f, o in runs)

    broken = [(f, o) for f, o in ((fmt, seen), (reference, ref)) if o.status in ("failed", "crashed", "timeout")]
    if broken:  # both runs are the engine under test's: its failure to score a text is a failure, not a skip
        return made(broken_outcome([o for _, o in broken]), without(broken))
    mine, theirs = _value(seen), _value(ref)
    if mine is None or theirs is None:
        missing = [(f, o) for f, o, v in ((fmt, seen, mine), (reference, ref, theirs)) if v is None]
        return made("Skipped", f"not compared: {without(missing)}")
    if seen.tokens is not None and ref.tokens is not None and seen.tokens != ref.tokens:
        # one model in two formats tokenises one text alike: two counts mean two tokenizers (a broken conversion)
        return made(
            "Falsified",
            f"{fmt} scored {seen.tokens} tokens of aprqa's text, {reference} {ref.tokens}: not one tokenizer",
        )
    ratio = mine / theirs
    said = f"perplexity {fmt} {mine:.3f} ÷ {reference} {theirs:.3f} = {ratio:.3f}"
    tokens = f" ({seen.tokens} tokens)" if seen.tokens else ""
    passed = 1 / bound <= ratio <= bound
    if ratio < 1 / bound:
        reason = f"{said} < 1/{bound:g}: {fmt} is far better than its reference; is the {reference} file damaged?"
    else:
        reason = f"{said} {'≤' if passed else '>'} {bound:g}"
    reason += tokens
    metrics = {"ratio": ratio, "perplexity": mine, "reference_perplexity": theirs}
    return made("Corroborated" if passed else "Falsified", reason, metrics)


register_check(Check("perplexity", perplexity))
