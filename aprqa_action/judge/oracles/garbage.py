"""The garbage oracle: is the answer text at all (not empty, not control characters, not a loop)?

garbage: judges what the engine wrote — the marker aprqa puts where it cut the middle of an output over its cap
is not part of it — and fails on empty/whitespace-only text, a control character (other than tab, CR, LF),
U+FFFD, fewer than min(min_unique_chars, ⌈n/2⌉) distinct non-space characters (n = non-space characters), an
unspaced cycle, or a repetition ratio above max_repetition_ratio. An unspaced cycle is a word of at least 32
characters that repeats one unit at least 4 times (`yyyy…`, `abcdefghijk` × 20, `1234567890` × 10; a run of
underscores, a blank to fill in, is not one): tokens cannot see it, since the whole cycle is one token. The
repetition ratio is the share of the text's tokens (words; single characters of CJK, kana, Thai; runs of ≤ 4
other non-space characters) that repeat an earlier run of at least `min_repeat_tokens` tokens (a greedy LZ77
parse over tokens: at each position take the longest run that already occurred, overlaps allowed).
Whitespace does not count, so indentation and short recurring phrases of code ("self.items") are not
repetition; a loop is.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import NamedTuple

from pydantic import Field

from aprqa_action.checks import Judgement, Oracle, register_oracle
from aprqa_action.execute.process import DROPPED
from aprqa_action.judge.items import EXCERPT, excerpt
from aprqa_action.records import Record


class GarbageOracle(Record):
    max_repetition_ratio: float = Field(default=0.3, gt=0, le=1)
    min_unique_chars: int = Field(default=10, ge=0)
    # tokens, not characters: code repeats short phrases ("self.items", indentation) without looping
    min_repeat_tokens: int = Field(
        default=12, ge=2, description="Shortest run of tokens (words, punctuation) that counts as a repeat"
    )


# scripts written without spaces: each character is a token, so a loop in them is seen
_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_UNSPACED}]|(?:(?![{_UNSPACED}])\w)+|[^\w\s]{{1,4}}")


class Repetition(NamedTuple):
    ratio: float  # repeated tokens / tokens
    repeated: int
    tokens: int
    start: int  # the longest repeat, in characters of the text
    length: int


def _lz77(seq: str, min_len: int) -> tuple[int, int, int]:
    """Greedy LZ77 parse of seq: (items covered by repeats of ≥ min_len items, start, length of the longest)."""
    n = len(seq)
    covered = best_start = best_len = 0
    i = 1
    while i < n:
        if i + min_len > n or seq.find(seq[i : i + min_len], 0, i + min_len - 1) == -1:
            i += 1
            continue
        # matches are monotone in length: double, then bisect, for the longest earlier occurrence
        good, step = min_len, min_len
        while i + good + step <= n and seq.find(seq[i : i + good + step], 0, i + good + step - 1) != -1:
            good += step
            step *= 2
        low, high = good, min(n - i, good + step)
        while low < high:
            mid = (low + high + 1) // 2
            if seq.find(seq[i : i + mid], 0, i + mid - 1) != -1:
                low = mid
            else:
                high = mid - 1
        covered += low
        if low > best_len:
            best_start, best_len = i, low
        i += low
    return covered, best_start, best_len


def tokens(text: str) -> list[re.Match[str]]:
    """Words (runs of letters, digits, _), single characters of unspaced scripts (CJK, kana, Thai), and
    runs of up to 4 other non-space characters ("<|", "):", "..."). Whitespace separates and is dropped."""
    return list(_TOKEN.finditer(text))


def repetition(text: str, min_tokens: int) -> Repetition:
    """The share of the text's tokens that repeat an earlier run of ≥ min_tokens tokens (greedy LZ77 over
    tokens, overlaps allowed), and the longest such repeat in characters."""
    found = tokens(text)
    ids: dict[str, int] = {}
    # one character per distinct token, so str.find does the matching
    seq = "".join(chr(0x10000 + ids.setdefault(m.group(0), len(ids))) for m in found)
    covered, start, length = _lz77(seq, min_tokens)
    if not length:
        return Repetition(0.0, 0, len(found), 0, 0)
    first, last = found[start].start(), found[start + length - 1].end()
    return Repetition(covered / len(found), covered, len(found), first, last - first)


CYCLE_MIN_CHARS = 32
CYCLE_MIN_REPEATS = 4
CYCLE_WINDOW = 4096  # a cycle shows in a word's first 4 KiB: bounded work on a megabyte of one word
_WORD = re.compile(rf"\w{{{CYCLE_MIN_CHARS},}}")


def unspaced_cycle(text: str) -> tuple[int, str, int] | None:
    """(offset, unit, length) of the first word of ≥ 32 characters that is one unit repeated ≥ 4 times."""
    for word in _WORD.finditer(text):
        head = word.group(0)[:CYCLE_WINDOW]
        for period in range(1, len(head) // CYCLE_MIN_REPEATS + 1):
            if head[period:] == head[:-period]:  # the word is periodic with this period (C-speed compare)
                unit = head[:period]
                if unit.strip("_"):
                    return word.start(), unit, len(word.group(0))
                break
    return None


def garbage(text: str, config: GarbageOracle) -> Judgement:
    text = DROPPED.sub("\n", text)  # aprqa's marker for a cut middle: not the engine's output
    if not text.strip():
        return Judgement("garbage", "fail", "empty or whitespace-only output", repr(text[:EXCERPT]))
    for i, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in "\t\r\n":
            return Judgement("garbage", "fail", f"control character U+{ord(char):04X} at offset {i}", excerpt(text, i))
    if "\ufffd" in text:
        i = text.index("\ufffd")
        return Judgement("garbage", "fail", f"U+FFFD (invalid UTF-8 from the engine) at offset {i}", excerpt(text, i))
    visible = [c for c in text if not c.isspace()]
    distinct = len(set(visible))
    needed = min(config.min_unique_chars, math.ceil(len(visible) / 2))
    if distinct < needed:
        return Judgement(
            "garbage",
            "fail",
            f"only {distinct} distinct characters in {len(visible)} (needs {needed}: min_unique_chars "
            f"{config.min_unique_chars})",
            excerpt(text),
        )
    cycle = unspaced_cycle(text)
    if cycle is not None:
        at, unit, length = cycle
        shown = unit if len(unit) <= 40 else unit[:40] + "…"
        reason = f"an unspaced cycle at offset {at}: {length} characters repeating {shown!r} ({len(unit)} characters)"
        return Judgement("garbage", "fail", reason, excerpt(text, at))
    rep = repetition(text, config.min_repeat_tokens)
    if rep.ratio > config.max_repetition_ratio:
        return Judgement(
            "garbage",
            "fail",
            f"repetition ratio {rep.ratio:.2f} > max_repetition_ratio {config.max_repetition_ratio}: "
            f"{rep.repeated} of {rep.tokens} tokens repeat earlier text (the longest repeat: {rep.length} "
            f"characters from offset {rep.start})",
            excerpt(text),
        )
    return Judgement(
        "garbage", "pass", f"not garbage (repetition ratio {rep.ratio:.2f}, {distinct} distinct characters)"
    )


register_oracle(
    Oracle(
        "garbage", "F-QUAL-GARBAGE", GarbageOracle, lambda answer, config: garbage(answer.text, config), by_default=True
    )
)
