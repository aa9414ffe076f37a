"""Keep secrets out of every string we print, write or raise."""

from __future__ import annotations

MASK = "***"


class Redactor:
    """Replaces each secret with `***`; longest first so a secret containing another is fully hidden."""

    def __init__(self, *secrets: str | None) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:  # never show what is being hidden
        return f"Redactor({len(self._secrets)} secret(s))"
