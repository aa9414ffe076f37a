"""The garbage oracle: is the answer text at all (not empty, not control characters, not a loop)?

garbage: judges what the engine wrote. When its output was over aprqa's cap, the marker aprqa put on a line of
its own where it cut the middle (`[... N bytes dropped ...]`, with any U+FFFD the cut made of a split
character) is not part of it: the head and the tail are judged, a line break between them; size alone is not
garbage. It fails on empty/whitespace-only text, a control character (other than tab, CR, LF), U+FFFD, fewer
than min(min_unique_chars, ⌈n/2⌉) distinct non-space characters (n = non-space characters), an unspaced
cycle, or a repetition ratio above max_repetition_ratio. An unspaced cycle is a stretch of at least 80
characters of one word (letters, digits, `_`) that repeats one unit of at most 64 characters at least 4 times,
wherever it starts and ends in the word (`yyyy…`, `abcdefghijk` × 20, `1234567890` × 10, `Output:xyzyyyy…`):
tokens cannot see it, since the whole word is one token. A unit of only `0` (the zeros of a number: 10¹⁰⁰
written out) or only `_` (a blank to fill in) is not one. The repetition ratio is the share of the text's
tokens (words; single characters of CJK, kana, Thai; runs of ≤ 4 other non-space characters) that repeat an
earlier run of at least `min_repeat_tokens` tokens (a greedy LZ77 parse over tokens: at each position take
the longest run that already occurred, overlaps allowed). Whitespace does not count, so indentation and short
recurring phrases of code ("self.items") are not repetition; a loop is.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from typing import NamedTuple

import numpy as np
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
    """Greedy LZ77 parse of seq: (items covered by repeats of ≥ min_len items, start, length of the longest).

    The hashes of the min_len-grams starting before i say whether position i can start a repeat at all, so a
    text without repeats costs one hash per item, not a search of everything before it."""
    n = len(seq)
    covered = best_start = best_len = 0
    seen: set[int] = set()
    hashed = 0  # the grams starting at 0 … hashed - 1 are in seen
    i = 1
    while i + min_len <= n:
        for j in range(hashed, i):
            seen.add(hash(seq[j : j + min_len]))
        hashed = i
        # the hash only rules out; str.find confirms (a collision is no repeat)
        if hash(seq[i : i + min_len]) not in seen or seq.find(seq[i : i + min_len], 0, i + min_len - 1) == -1:
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


CYCLE_MIN_CHARS = 80  # longer than a 64-bit binary literal or a 40-digit address of zeros
CYCLE_MIN_REPEATS = 4
CYCLE_MAX_PERIOD = 64  # a unit as long as the alphabet and the digits, twice over
_LONG_WORD = re.compile(rf"\w{{{CYCLE_MIN_CHARS},}}")


class Cycle(NamedTuple):
    start: int  # in characters of the text
    unit: str
    length: int  # characters the cycle covers, from start


def _not_a_cycle(unit: str) -> bool:
    """Zeros (of a number: 10¹⁰⁰ written out) or underscores (a blank to fill in) repeat without looping."""
    return unit.strip("0") == "" or unit.strip("_") == ""


def unspaced_cycle(text: str) -> Cycle | None:
    """The first stretch of ≥ 80 characters of a word that repeats one unit of ≤ 64 characters ≥ 4 times.

    Only words of ≥ 80 characters can hold one. They are joined by NUL (no word has one, and two are more than
    64 apart, so no cycle spans words), and each period p is one vectorised comparison of the characters
    with those p further on: a cycle is a run of ≥ max(80, 4p) - p equal pairs. Linear in the long words'
    length, times 64 at most."""
    words = list(_LONG_WORD.finditer(text))
    if not words:
        return None
    joined = "\0".join(word.group(0) for word in words)
    starts = [0]  # where each word starts in joined
    for word in words[:-1]:
        starts.append(starts[-1] + len(word.group(0)) + 1)
    codes = (
        np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        if joined.isascii()
        else np.frombuffer(joined.encode("utf-32-le"), dtype="<u4")
    )
    best: tuple[int, int] | None = None  # (start in joined, period): the earliest start, then the shortest unit
    for period in range(1, CYCLE_MAX_PERIOD + 1):
        need = max(CYCLE_MIN_CHARS, CYCLE_MIN_REPEATS * period) - period  # equal pairs in a row
        # only a cycle that starts before the best so far can replace it
        end = len(codes) if best is None else min(len(codes), best[0] + need + period)
        if end - period < need:
            break
        equal = (codes[period:end] == codes[: end - period]).tobytes()  # one byte (0 or 1) per pair
        at = equal.find(b"\1" * need)
        while at != -1 and _not_a_cycle(joined[at : at + period]):
            stop = equal.find(b"\0", at)
            at = -1 if stop == -1 else equal.find(b"\1" * need, stop)
        if at != -1 and (best is None or at < best[0]):
            best = (at, period)
    if best is None:
        return None
    at, period = best
    differs = np.flatnonzero(codes[at + period :] != codes[at : len(codes) - period])
    length = (int(differs[0]) if len(differs) else len(codes) - period - at) + period
    word = bisect_right(starts, at) - 1
    return Cycle(words[word].start() + at - starts[word], joined[at : at + period], length)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")  # category Cc, but tab, LF, CR
_SPACE = re.compile(r"\s+")  # what str.isspace() says is space
# aprqa's marker, with the U+FFFD a cut through a character left on either side; at the very start or end
# when an all-space head or tail was stripped with the rest of the answer
_CUT = re.compile(rf"(?:\ufffd{{0,3}}\n|\A){DROPPED.pattern}(?:\n\ufffd{{0,3}}|\Z)")


def engine_text(text: str) -> str:
    """The text without aprqa's marker for a capped output's cut middle: the head and the tail, as two lines.

    Only one marker is removed, as a capped output has one: an engine that prints lookalikes is judged on
    them, and removing one line of its own words can hide neither a loop nor a bad character. Capping itself
    is not failed: the head and the tail (each half the cap) show any loop, and a long answer is the
    max_tokens setting's doing."""
    return _CUT.sub("\n", text, count=1)


def garbage(text: str, config: GarbageOracle) -> Judgement:
    text = engine_text(text)
    if not text.strip():
        return Judgement("garbage", "fail", "empty or whitespace-only output", repr(text[:EXCERPT]))
    control = _CONTROL.search(text)
    if control is not None:
        i = control.start()
        return Judgement("garbage", "fail", f"control character U+{ord(text[i]):04X} at offset {i}", excerpt(text, i))
    if "\ufffd" in text:
        i = text.index("\ufffd")
        return Judgement("garbage", "fail", f"U+FFFD (invalid UTF-8 from the engine) at offset {i}", excerpt(text, i))
    visible = _SPACE.sub("", text)
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
        shown = cycle.unit if len(cycle.unit) <= 40 else cycle.unit[:40] + "…"
        reason = (
            f"an unspaced cycle at offset {cycle.start}: {cycle.length} characters repeating {shown!r} "
            f"({len(cycle.unit)} characters)"
        )
        return Judgement("garbage", "fail", reason, excerpt(text, cycle.start))
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
