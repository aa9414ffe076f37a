"""Format parity (the seed's Golden Rule, its I-5 "inference output mismatch after conversion"): the same prompt
and seed at temperature 0, answered from each format of the model, must agree on the first K tokens.

Tokens here are words and punctuation marks (`\\w+|[^\\w\\s]`), not an engine's tokens: formats may be run by
different libraries with different tokenizers, and what a user sees is the text. An F-REGR-PARITY item (REGR)
compares each non-reference format with the reference, per backend, modality and scenario index.

CPU/GPU parity (the seed's PTX parity, F-PAR-001; `backend_parity:`) is the same comparison between the two
backends: an F-PAR-CPU-GPU item (REGR) per format, modality and scenario index, Skipped where the gpu cell
did not run (no GPU here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aprqa_action.checks import Check, register_check
from aprqa_action.judge.items import item as make_item
from aprqa_action.playbook import Playbook
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
    return format_parity(playbook, scenarios, observations) + backend_parity(playbook, scenarios, observations)


def _answers(
    scenarios: list[Scenario], observations: list[Observation], modalities: list[str], axis: str
) -> dict[tuple[str, ...], dict[str, Observation]]:
    """Matrix answers grouped by everything but `axis` ("format" or "backend"), keyed by that axis's value."""
    observed = {o.scenario_id: o for o in observations}
    answers: dict[tuple[str, ...], dict[str, Observation]] = {}
    for s in scenarios:
        if s.purpose == "matrix" and s.modality in modalities and s.id in observed:
            other = s.backend if axis == "format" else s.format
            answers.setdefault((other, s.modality, str(s.index), str(s.attempt)), {})[getattr(s, axis)] = observed[s.id]
    return answers


def format_parity(playbook: Playbook, scenarios: list[Scenario], observations: list[Observation]) -> list[EvidenceItem]:
    parity = playbook.format_parity
    if parity is None:
        return []
    reference = parity.reference or playbook.model.formats[0]
    items = []
    for (backend, modality, index, attempt), by_format in _answers(
        scenarios, observations, parity.modalities, "format"
    ).items():
        for fmt, seen in by_format.items():
            if fmt != reference:
                compare = Comparison("F-REGR-PARITY", parity.first_tokens, parity.tolerance, reference, fmt)
                cell = cell_label(fmt, backend, modality)
                items.append(compare.item(cell, _subject(cell, index, attempt), by_format.get(reference), seen))
    return items


def backend_parity(
    playbook: Playbook, scenarios: list[Scenario], observations: list[Observation]
) -> list[EvidenceItem]:
    parity = playbook.backend_parity
    if parity is None:
        return []
    compare = Comparison("F-PAR-CPU-GPU", parity.first_tokens, parity.tolerance, "cpu", "gpu")
    items = []
    for (fmt, modality, index, attempt), by_backend in _answers(
        scenarios, observations, parity.modalities, "backend"
    ).items():
        if "gpu" in by_backend:
            cell = cell_label(fmt, "gpu", modality)
            items.append(compare.item(cell, _subject(cell, index, attempt), by_backend.get("cpu"), by_backend["gpu"]))
    return items


def _subject(cell: str, index: str, attempt: str) -> str:
    return f"{cell}:{int(index):03d}" + (f"@r{int(attempt) + 1}" if attempt != "0" else "")


@dataclass(frozen=True)
class Comparison:
    """`other`'s answer against `reference`'s on the first K tokens, as one evidence item of `gate`."""

    gate: str
    first_tokens: int
    tolerance: int
    reference: str  # how the reason names each side: a format, a backend, an engine
    other: str

    def item(self, cell: str, subject: str, ref: Observation | None, seen: Observation) -> EvidenceItem:
        def made(
            outcome: Outcome, reason: str, metrics: dict[str, float] | None = None, excerpt: str | None = None
        ) -> EvidenceItem:
            return make_item(
                self.gate, "REGR", outcome, reason, subject=subject, scenario_id=seen.scenario_id, cell=cell,
                metrics=metrics, excerpt=excerpt,
            )  # fmt: skip

        if ref is None or ref.status != "ok" or seen.status != "ok":
            why = "no answer from " + " and ".join(
                f"{name} ({o.status if o else 'not run'})"
                for name, o in ((self.reference, ref), (self.other, seen))
                if o is None or o.status != "ok"
            )
            return made("Skipped", f"not compared: {why}")
        mismatches, position = compare_texts(ref.text or "", seen.text or "", self.first_tokens)
        metrics = {"mismatches": float(mismatches), "first_tokens": float(self.first_tokens)}
        if mismatches <= self.tolerance:
            return made(
                "Corroborated",
                f"{self.other} agrees with {self.reference} on the first {self.first_tokens} tokens",
                metrics,
            )
        ours, theirs = tokens(seen.text or ""), tokens(ref.text or "")
        at = (position or 1) - 1
        got = ours[at] if at < len(ours) else "(end)"
        want = theirs[at] if at < len(theirs) else "(end)"
        reason = (
            f"{self.other} diverges from {self.reference} at token {position} of the first {self.first_tokens}: "
            f"{got!r} vs {want!r} ({mismatches} mismatching, tolerance {self.tolerance})"
        )
        excerpt = f"{self.reference}: {ref.text!r}\n{self.other}: {seen.text!r}"[:600]
        return made("Falsified", reason, {**metrics, "position": float(position or 0)}, excerpt=excerpt)


register_check(Check("parity", lambda run: parity_items(run.playbook, run.scenarios, list(run.observations.values()))))
