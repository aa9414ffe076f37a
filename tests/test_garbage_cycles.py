"""The garbage oracle on unspaced cycles (loops inside one word) and on capped output (aprqa's marker)."""

from __future__ import annotations

import base64
import random

import pytest

from aprqa_action.execute.process import DROPPED, DROPPED_MARKER, CappedBuffer
from aprqa_action.judge.oracles.garbage import GarbageOracle, _lz77, engine_text, garbage, unspaced_cycle

GARBAGE = GarbageOracle()  # the defaults: max_repetition_ratio 0.3, min_unique_chars 10, min_repeat_tokens 12

CLASS = """class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, count=1):
        self.items[name] = self.items.get(name, 0) + count

    def remove(self, name, count=1):
        if self.items.get(name, 0) < count:
            raise KeyError(name)
        self.items[name] -= count
        if not self.items[name]:
            del self.items[name]

    def total(self):
        return sum(self.items.values())
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abcdefghijk" * 20, "an unspaced cycle at offset 0: 220 characters repeating 'abcdefghijk' (11 characters)"),
        ("1234567890" * 10, "an unspaced cycle at offset 0: 100 characters repeating '1234567890' (10 characters)"),
        # alone, 1 distinct character decides; after an answer's words, the cycle does
        ("y" * 100_000, "only 1 distinct characters in 100000 (needs 10: min_unique_chars 10)"),
        (
            "Sure, here it is: " + "y" * 100_000,
            "an unspaced cycle at offset 18: 100000 characters repeating 'y' (1 characters)",
        ),
    ],
)
def test_the_issues_cycles_fail(text: str, reason: str) -> None:
    judged = garbage(text, GARBAGE)
    assert (judged.decision, judged.reason) == ("fail", reason)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # the cycle need not fill the word: a prefix, a suffix, both ("Result" ":" then one word "q1234…end")
        (
            "Q" + "abcdefghijk" * 20,
            "an unspaced cycle at offset 1: 220 characters repeating 'abcdefghijk' (11 characters)",
        ),
        (
            "abcdefghijk" * 20 + "xyz",
            "an unspaced cycle at offset 0: 220 characters repeating 'abcdefghijk' (11 characters)",
        ),
        (
            "Result:q" + "1234567890" * 10 + "end of it",
            "an unspaced cycle at offset 8: 100 characters repeating '1234567890' (10 characters)",
        ),
        (
            "Thequickbrownfoxjumps" + "y" * 100_000,
            "an unspaced cycle at offset 21: 100000 characters repeating 'y' (1 characters)",
        ),
        # CJK without punctuation is one \w run too: 10 characters × 10
        (
            "答案是" + "我是一个人工智能助手" * 10 + "。",
            "an unspaced cycle at offset 3: 100 characters repeating '我是一个人工智能助手' (10 characters)",
        ),
        # the longest unit looked for: 64 characters × 4 = 256 (the reason shows 40 of them)
        (
            "Here: " + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ__" * 4,
            "an unspaced cycle at offset 6: 256 characters repeating 'abcdefghijklmnopqrstuvwxyz0123456789ABCD…' "
            "(64 characters)",
        ),
        # zeros are exempt, not what follows them: "1" + 100 zeros (11–111) is a number; from the last zero
        # "01" repeats to the end of "10" × 40 (112–191)
        (
            "In binary: 1" + "0" * 100 + "10" * 40,
            "an unspaced cycle at offset 111: 81 characters repeating '01' (2 characters)",
        ),
    ],
)
def test_cycles_anywhere_in_a_word_fail(text: str, reason: str) -> None:
    judged = garbage(text, GARBAGE)
    assert (judged.decision, judged.reason) == ("fail", reason)


@pytest.mark.parametrize(
    "text",
    [
        "getConfigurationValueForEnvironmentVariableNameOrDefaultWhenTheVariableIsUnsetOrEmpty(name) returns it.",
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, computed over the empty file.",
        "sha512: cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f"
        "63b931bd47417a81a538327af927da3e is the digest of nothing.",
        "The blob is " + base64.b64encode(bytes(range(256))).decode() + " when encoded.",
        "See https://example.com/docs/a_very_long_path_with_many_words_inside_it_and_more_words_after_that_one"
        "?page=2&section=installation_and_configuration for details.",
        "Pi is about 3.14159265358979323846264338327950288419716939937510 to fifty places.",
        CLASS,
        "| name | value | unit | note |\n|---|---|---|---|\n| mass | 4 | kg | measured |",
        "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖并释放氧气的过程，它为地球上几乎所有生命提供能量。",
        # long runs real answers have: a googol, a 64-bit mask, the zero address, a blank to fill in
        "A googol is 1" + "0" * 100 + ", ten to the hundredth power.",
        "The mask is 0b" + "1" * 64 + " with all sixty-four bits set.",
        "The null address is 0x" + "0" * 40 + " on Ethereum mainnet.",
        "Name: " + "_" * 120 + " and sign below, please.",
    ],
)
def test_long_words_and_code_that_are_not_cycles_pass(text: str) -> None:
    judged = garbage(text, GARBAGE)
    assert judged.decision == "pass", judged.reason


def test_no_cycle_spans_two_words() -> None:
    # each word alone is 80 characters of no cycle; the period-81 join of the two is never compared
    word = "".join(random.Random(3).choices("abcdefghijklmnopqrstuvwxyz", k=80))
    assert unspaced_cycle(f"{word} {word} {word} {word} {word}") is None


def capped(data: bytes, cap: int) -> str:
    buffer = CappedBuffer(cap)
    buffer.write(data)
    return buffer.getvalue().decode("utf-8", "replace")  # as execute decodes stdout


def test_the_marker_is_what_the_capped_buffer_writes() -> None:
    assert DROPPED.fullmatch(DROPPED_MARKER.format(299_000_000).strip())
    data = b"Answer: " + b"word " * 1000
    text = capped(data, 64)
    assert DROPPED.search(text)
    assert engine_text(text) == (data[:32] + b"\n" + data[-32:]).decode()  # the head and tail as written


def test_a_cut_through_a_character_is_not_the_engines_invalid_utf8() -> None:
    # 30 bytes × 2000, 2048 bytes kept at each end: the head ends 2 bytes into a character (one U+FFFD), the
    # tail starts 1 byte into one (two U+FFFD: its continuation bytes)
    text = capped("我是一个人工智能助手".encode() * 2000, 4096)
    assert text.count("\ufffd") == 3
    assert "\ufffd" not in engine_text(text)
    judged = garbage(text, GARBAGE)
    assert judged.reason.startswith("an unspaced cycle"), judged.reason  # the loop, not the cut, decides


def test_the_marker_alone_or_at_an_end_is_removed() -> None:
    # an all-space head or tail is stripped with the answer, and the marker's line break with it
    assert engine_text("[... 299000000 bytes dropped ...]\nyyyy") == "\nyyyy"
    assert engine_text("yyyy\n[... 299000000 bytes dropped ...]") == "yyyy\n"
    judged = garbage(capped(b" " * 300_000, 1024).strip(), GARBAGE)
    assert (judged.decision, judged.reason) == ("fail", "empty or whitespace-only output")


@pytest.mark.parametrize(
    "text",
    [
        "a\n[... some bytes dropped ...]\nb",  # no count
        "a\n[... 0 bytes dropped ...]\nb",  # a capped buffer never drops 0
        "a\n[... ٣ bytes dropped ...]\nb",  # an Arabic-Indic digit
        "a [... 12 bytes dropped ...] b",  # not on a line of its own
        "a\n[...  12 bytes dropped ...]\nb",  # not its exact words
    ],
)
def test_only_the_exact_marker_is_removed(text: str) -> None:
    assert engine_text(text) == text


def test_only_one_marker_is_removed() -> None:
    # a capped output has one marker: lookalikes an engine prints are its own words, judged as such
    marker = DROPPED_MARKER.format(5)
    text = "Here is an answer with many different words in it. " + marker * 50
    assert engine_text(text).count("bytes dropped") == 49
    judged = garbage(text, GARBAGE)
    assert judged.decision == "fail" and judged.reason.startswith("repetition ratio"), judged.reason


def test_megabytes_are_judged() -> None:
    # one 4 MB word: a cycle after other characters; and 4 MB of base64 (no repeats for the LZ77 parse to find)
    judged = garbage("Output:xyz" + "0123456789abcdef" * 250_000, GARBAGE)
    assert (judged.decision, judged.reason) == (
        "fail",
        "an unspaced cycle at offset 10: 4000000 characters repeating '0123456789abcdef' (16 characters)",
    )
    blob = base64.b64encode(random.Random(1).randbytes(3_000_000)).decode()
    assert garbage(blob, GARBAGE).decision == "pass"


def _lz77_by_search(seq: str, min_len: int) -> tuple[int, int, int]:
    """The parse without the hash prefilter: a search of everything before each position."""
    n, covered, best_start, best_len, i = len(seq), 0, 0, 0, 1
    while i + min_len <= n:
        length = 0
        while i + length < n and seq.find(seq[i : i + length + 1], 0, i + length) != -1:
            length += 1
        if length < min_len:
            i += 1
            continue
        covered += length
        if length > best_len:
            best_start, best_len = i, length
        i += length
    return covered, best_start, best_len


def test_the_hash_prefilter_changes_no_parse() -> None:
    rng = random.Random(7)
    for _ in range(500):
        alphabet = "abcdefghij"[: rng.randint(1, 10)]
        seq = "".join(rng.choices(alphabet, k=rng.randint(0, 120)))
        if seq and rng.random() < 0.5:
            seq = seq[: rng.randint(1, 20)] * rng.randint(1, 8) + seq
        min_len = rng.randint(2, 12)
        assert _lz77(seq, min_len) == _lz77_by_search(seq, min_len), (seq, min_len)
