"""How much a Markdown report may show, and the final guard that keeps it inside GitHub's limits.

A report is rendered with the first `Limits` of its ladder; if the result is too large, with the next, smaller
one. Tables are bounded by the matrix, so the rungs only shorten the failure details, excerpts and reasons.
Should even the last rung not fit (a pathological evidence file), `cut` drops whole trailing lines, closes a
code fence or `<details>` left open, and says so — the limit holds for any input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Measure = Callable[[str], int]

SUMMARY_LIMIT = 1024 * 1024  # bytes: GitHub shows no step summary larger than 1 MiB
COMMENT_LIMIT = 65_536  # characters: GitHub refuses a longer comment body
# The publisher prefixes the comment with its hidden marker line (and may add a truncation note); the
# rendered comment leaves it this much room.
COMMENT_BUDGET = COMMENT_LIMIT - 2_048


@dataclass(frozen=True)
class Limits:
    failures: int  # failure details shown, each a collapsed <details> with its excerpt
    excerpt: int  # characters of one excerpt
    reason: int  # characters of a reason in a table cell or a line
    groups: int  # rows of the failures-by-gate table
    rows: int  # rows of the contract and performance tables


# Worst case at the first rung: 50 failures × (2,000-character excerpt + 600-character reason, each escaped
# character at most 5 characters of 4 bytes) stays well below 1 MiB; the smaller rungs exist for the rest.
SUMMARY_LADDER = (
    Limits(failures=50, excerpt=2_000, reason=600, groups=40, rows=60),
    Limits(failures=20, excerpt=600, reason=300, groups=20, rows=30),
    Limits(failures=5, excerpt=200, reason=160, groups=10, rows=15),
    Limits(failures=0, excerpt=0, reason=100, groups=5, rows=5),
)
COMMENT_LADDER = (
    Limits(failures=5, excerpt=600, reason=300, groups=10, rows=10),
    Limits(failures=3, excerpt=200, reason=160, groups=5, rows=5),
    Limits(failures=0, excerpt=0, reason=80, groups=3, rows=3),
)


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _closers(text: str) -> str:
    """What must follow `text` so a cut inside a code fence or a <details> leaves well-formed Markdown."""
    fence: str | None = None
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[: len(stripped) - len(stripped.lstrip(stripped[0]))]
            continue
        # Only our own tags start a line: escaped text never contains a literal "<".
        depth += stripped.count("<details>") - stripped.count("</details>")
    return (f"{fence}\n" if fence else "") + "</details>\n" * max(depth, 0)


def cut(text: str, limit: int, note: str, measure: Measure = len) -> str:
    """`text` if it fits in `limit`; else its leading whole lines, closers and `note`, within `limit`."""
    if measure(text) <= limit:
        return text
    budget = limit - measure(note)
    lines = text.splitlines(keepends=True)
    kept = len(lines)
    while kept > 0:
        body = "".join(lines[:kept])
        body = (body if body.endswith("\n") else body + "\n") + _closers(body)
        overflow = measure(body) - budget
        if overflow <= 0:
            return body + note
        # Drop at least the overflow's worth of trailing lines, then re-check: the closers may have changed.
        while kept > 0 and overflow > 0:
            kept -= 1
            overflow -= measure(lines[kept])
    if budget > 0 and lines:  # not one whole line fits: keep what fits of the first one
        head = lines[0]
        while head and measure(head) > budget:
            head = head[: len(head) * budget // max(measure(head), 1) or len(head) - 1]
        return head + note
    while note and measure(note) > limit:
        note = note[:-1]
    return note
