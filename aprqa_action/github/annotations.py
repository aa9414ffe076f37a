"""Failed gates as `::error` annotations, within the runner's 10-errors-per-step limit."""

from __future__ import annotations

from collections.abc import Sequence

from aprqa_action.github.commands import WorkflowCommands

MAX_ERROR_ANNOTATIONS = 10  # the runner drops error annotations beyond 10 per step


def gate_annotations(
    playbook: str, failed_gates: Sequence[tuple[str, str]], limit: int = MAX_ERROR_ANNOTATIONS
) -> list[tuple[str, str]]:
    """(title, message) pairs; past the limit the last slot counts the rest, so none vanish silently."""
    items = [(f"aprqa {playbook}: {gate}", reason or "failed") for gate, reason in failed_gates]
    if len(items) <= limit:
        return items
    hidden = len(items) - (limit - 1)
    more = (
        f"aprqa {playbook}: {hidden} more failed gates",
        "Not annotated (GitHub shows at most 10 error annotations per step); see the job summary.",
    )
    return [*items[: limit - 1], more]


def emit_gate_errors(commands: WorkflowCommands, playbook: str, failed_gates: Sequence[tuple[str, str]]) -> int:
    annotations = gate_annotations(playbook, failed_gates)
    for title, message in annotations:
        commands.error(message, title=title)
    return len(annotations)
