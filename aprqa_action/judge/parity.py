"""Format parity (the seed's Golden Rule, its I-5 "inference output mismatch after conversion"): the same prompt
and seed at temperature 0, answered from each format of the model, must agree on the first K tokens.

Tokens here are words and punctuation marks (`\\w+|[^\\w\\s]`), not an engine's tokens: formats may be run by
different libraries with different tokenizers, and what a user sees is the text. An F-REGR-PARITY item (REGR)
compares each non-reference format with the reference, per backend, modality and scenario index.
"""

from __future__ import annotations

import re

from aprqa_action.checks import Check, register_check
from aprqa_action.judge.items import item as make_item
from aprqa_action.playbook import FormatParity, Playbook
from aprqa_action.records import EvidenceItem, Observation, Outcome, Scenario
from aprqa_action.records.axes import cell_label

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def compare_texts(reference: str, other: str, first: int) -> tuple[int, int | None]:
    """(mismatches among the first K tokens, the first diverging position from 1, or None)."""
    a, b = tokens(reference)[:first], tokens(other)[:first]
    length = max(len(a), len(b))
    diverging = [i for i in range(length) if i >= len(a) or i >= len(b) or a[i] != b[i]]
    return len(diverging), (diverging[0] + 1 if diverging else None)


def parity_items(playbook: Playbook, scenarios: list[Scenario], observations: list[Observation]) -> list[EvidenceItem]:
    parity = playbook.format_parity
    if parity is None:
        return []
    reference = parity.reference or playbook.model.formats[0]
    observed = {o.scenario_id: o for o in observations}
    answers: dict[tuple[str, str, int, int], dict[str, Observation]] = {}
    for s in scenarios:
        if s.purpose == "matrix" and s.modality in parity.modalities and s.id in observed:
            answers.setdefault((s.backend, s.modality, s.index, s.attempt), {})[s.format] = observed[s.id]
    items = []
    for (backend, modality, index, attempt), by_format in answers.items():
        for fmt, seen in by_format.items():
            if fmt != reference:
                items.append(
                    _item(parity, reference, fmt, backend, modality, index, attempt, by_format.get(reference), seen)
                )
    return items


def _item(
    parity: FormatParity,
    reference: str,
    fmt: str,
    backend: str,
    modality: str,
    index: int,
    attempt: int,
    ref: Observation | None,
    seen: Observation,
) -> EvidenceItem:
    cell = cell_label(fmt, backend, modality)
    subject = f"{cell}:{index:03d}" + (f"@r{attempt + 1}" if attempt else "")

    def item(
        outcome: Outcome, reason: str, metrics: dict[str, float] | None = None, excerpt: str | None = None
    ) -> EvidenceItem:
        return make_item(
            "F-REGR-PARITY",
            "REGR",
            outcome,
            reason,
            subject=subject,
            scenario_id=seen.scenario_id,
            cell=cell,
            metrics=metrics,
            excerpt=excerpt,
        )

    if ref is None or ref.status != "ok" or seen.status != "ok":
        why = "no answer from " + " and ".join(
            f"{name} ({o.status if o else 'not run'})"
            for name, o in ((reference, ref), (fmt, seen))
            if o is None or o.status != "ok"
        )
        return item("Skipped", f"not compared: {why}")
    mismatches, position = compare_texts(ref.text or "", seen.text or "", parity.first_tokens)
    metrics = {"mismatches": float(mismatches), "first_tokens": float(parity.first_tokens)}
    if mismatches <= parity.tolerance:
        return item("Corroborated", f"{fmt} agrees with {reference} on the first {parity.first_tokens} tokens", metrics)
    ours, theirs = tokens(seen.text or ""), tokens(ref.text or "")
    at = (position or 1) - 1
    got = ours[at] if at < len(ours) else "(end)"
    want = theirs[at] if at < len(theirs) else "(end)"
    reason = (
        f"{fmt} diverges from {reference} at token {position} of the first {parity.first_tokens}: {got!r} vs "
        f"{want!r} ({mismatches} mismatching, tolerance {parity.tolerance})"
    )
    return item(
        "Falsified",
        reason,
        {**metrics, "position": float(position or 0)},
        excerpt=f"{reference}: {ref.text!r}\n{fmt}: {seen.text!r}"[:600],
    )


register_check(Check("parity", lambda run: parity_items(run.playbook, run.scenarios, list(run.observations.values()))))
