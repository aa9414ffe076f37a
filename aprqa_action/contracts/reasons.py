"""How findings become one reason a person can act on: the first few, named, then a count of the rest."""

from __future__ import annotations

SHOWN = 5


def join(findings: list[str], limit: int = SHOWN) -> str:
    shown = "; ".join(findings[:limit])
    rest = len(findings) - limit
    return f"{shown}; …and {rest} more" if rest > 0 else shown


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"


def shape(dims: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"
