"""The one builder of evidence items: every check makes its items here, so ids and cells read alike."""

from __future__ import annotations

from aprqa_action.records import Category, EvidenceItem, Observation, Outcome, Scenario

EXCERPT = 300


def item(
    gate: str,
    category: Category,
    outcome: Outcome,
    reason: str,
    *,
    subject: str,
    scenario: Scenario | None = None,
    scenario_id: str | None = None,
    cell: str | None = None,
    metrics: dict[str, float] | None = None,
    excerpt: str | None = None,
) -> EvidenceItem:
    """An item with id `<gate>:<subject>`: the subject is a scenario id, a format (a model file), a cell or
    another name the gate judges one of. With `scenario`, its id and cell are the item's (unless `cell` is given)."""
    return EvidenceItem(
        id=f"{gate}:{subject}",
        gate_id=gate,
        category=category,
        outcome=outcome,
        reason=reason,
        scenario_id=scenario.id if scenario is not None else scenario_id,
        cell=scenario.cell_name if scenario is not None and cell is None else cell,
        metrics=metrics or {},
        excerpt=excerpt,
    )


def of_scenario(
    gate: str,
    category: Category,
    outcome: Outcome,
    reason: str,
    s: Scenario,
    *,
    metrics: dict[str, float] | None = None,
    excerpt: str | None = None,
) -> EvidenceItem:
    return item(gate, category, outcome, reason, subject=s.id, scenario=s, metrics=metrics, excerpt=excerpt)


def broken_outcome(seen: list[Observation]) -> Outcome:
    """What runs that did not complete make of a check: Crashed if one crashed, Timeout if all timed out, else
    Falsified."""
    if any(o.status == "crashed" for o in seen):
        return "Crashed"
    return "Timeout" if all(o.status == "timeout" for o in seen) else "Falsified"


def tail(seen: Observation) -> str | None:
    """The end of what the engine printed (stderr first): what a crash or a failure left behind."""
    output = (seen.stderr_tail or seen.stdout_tail).strip()
    return output[-EXCERPT:] if output else None


def excerpt(text: str, start: int = 0) -> str:
    """At most EXCERPT characters of `text` from about `start`, with … where it was cut."""
    start = max(0, min(start, len(text) - EXCERPT))
    piece = text[start : start + EXCERPT]
    return ("…" if start else "") + piece + ("…" if start + EXCERPT < len(text) else "")
