"""Cut Markdown at a line boundary to fit a size limit, leaving it well-formed, and append a note."""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _closers(text: str) -> str:
    """What must be appended so a cut inside a code fence or <details> does not swallow the note."""
    fence: str | None = None
    details = 0
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is not None:
            if stripped.startswith(fence) and not stripped[len(fence) :].strip():
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            char = stripped[0]
            fence = char * (len(stripped) - len(stripped.lstrip(char)))
            continue
        details += line.count("<details") - line.count("</details>")
    closing = f"{fence}\n" if fence else ""
    return closing + "</details>\n" * max(details, 0)


def _hard_cut(text: str, budget: int, measure: Measure) -> str:
    # Only when not even one line fits: cut by characters (binary search keeps it exact for bytes too).
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low]


def truncate_lines(text: str, limit: int, note: str, measure: Measure = len) -> tuple[str, bool]:
    """`text` if it fits in `limit`, else whole leading lines + closers + `note` within `limit`."""
    if measure(text) <= limit:
        return text, False
    budget = limit - measure(note)
    if budget <= 0:
        return _hard_cut(note, limit, measure), True
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        size = measure(line)
        if used + size > budget:
            break
        kept.append(line)
        used += size
    while kept:
        body = "".join(kept)
        if not body.endswith("\n"):
            body += "\n"
        body += _closers(body)
        if measure(body) <= budget:
            return body + note, True
        used -= measure(kept.pop())
    return _hard_cut(text, budget, measure) + note, True
