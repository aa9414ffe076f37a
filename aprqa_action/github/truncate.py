"""Cut Markdown to GitHub's size limits: the report's own cutter (`report.limits.cut`), which keeps whole
lines, closes an open code fence or <details> and appends the note."""

from __future__ import annotations

from aprqa_action.report.limits import Measure, cut, utf8_size

__all__ = ["truncate_lines", "utf8_size"]


def truncate_lines(text: str, limit: int, note: str, measure: Measure = len) -> tuple[str, bool]:
    """`text` if it fits in `limit`, else whole leading lines + closers + `note`; and whether it was cut."""
    result = cut(text, limit, note, measure)
    return result, result != text
