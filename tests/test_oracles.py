"""Oracles on hand-written outputs, with hand-computed expectations."""

from __future__ import annotations

import sys

import pytest

from aprqa_action.oracles import (
    OracleSet,
    arithmetic,
    code_syntax,
    composite,
    find_expression,
    garbage,
    golden,
    numbers_in,
    repetition,
)
from aprqa_action.playbook import ArithmeticOracle, CodeSyntaxOracle, GarbageOracle, PromptSpec

ARITH = ArithmeticOracle(tolerance=0.01)
GARBAGE = GarbageOracle(max_repetition_ratio=0.3, min_unique_chars=10)


@pytest.mark.parametrize(
    ("prompt", "text", "verdict"),
    [
        ("What is 2+2?", "The answer is 4.", "pass"),
        ("What is 2+2?", "The answer is four.", "pass"),  # decided: number words count as answers
        ("What is 2+2?", "2+2=5", "fail"),
        ("What is 2+2?", "I am not sure.", "fail"),
        ("What is 2+2?", "14", "fail"),  # a number, not a substring
        ("What is 2+2?", "What is 2+2?", "fail"),  # an echo of the question is not an answer
        ("Calculate 7*8", "7*8 = 56", "pass"),
        ("2+2=", "4", "pass"),
        ("what's 12 divided by 4", "It's 3.", "pass"),
        ("What is 7 times 6?", "forty-two", "pass"),
        ("What is 10/4?", "2.51", "pass"),  # |2.51 − 2.5| = 0.01 ≤ 0.01
        ("What is 10/4?", "2.52", "fail"),  # 0.02 > 0.01
        ("What is 1,000 + 1?", "It is 1,001.", "pass"),
        ("What is 3 - 5?", "-2", "pass"),
        ("Name three colors.", "red, green, blue", "not_judged"),
        ("What is 1/0?", "infinity", "not_judged"),
    ],
)
def test_arithmetic(prompt: str, text: str, verdict: str) -> None:
    assert arithmetic(PromptSpec(prompt=prompt), text, ARITH).verdict == verdict


def test_arithmetic_reason_names_expected_and_found() -> None:
    judged = arithmetic(PromptSpec(prompt="What is 2+2?"), "2+2=5", ARITH)
    assert judged.reason == "expected 4 (2+2, ±0.01) in the answer; its numbers: 2, 2, 5"


def test_expression_finding_and_numbers() -> None:
    assert find_expression("What is 2+2?") == "2+2"
    assert find_expression("Calculate 7 x 8 please") == "7*8"
    assert find_expression("what's 12 divided by 4") == "12/4"
    assert find_expression("Tell me a joke") is None
    assert numbers_in("I have 3 apples and twenty-one pears, 1,500 coins") == [3.0, 21.0, 1500.0]


@pytest.mark.parametrize(
    ("text", "verdict", "reason"),
    [
        ("", "fail", "empty or whitespace-only output"),
        ("   \n\t", "fail", "empty or whitespace-only output"),
        ("ok\x00 fine", "fail", "control character U+0000 at offset 2"),
        ("caf\ufffd au lait", "fail", "U+FFFD (invalid UTF-8 from the engine) at offset 3"),
        (
            "information about Inf and NaN values",
            "pass",
            "not garbage (repetition ratio 0.00, 17 distinct characters)",
        ),
        ("4", "pass", "not garbage (repetition ratio 0.00, 1 distinct characters)"),
        ("a" * 20, "fail", "only 1 distinct characters in 20 (needs 10: min_unique_chars 10)"),
        (  # a 3-word loop: after the first 17 characters, the other 50 of 67 repeat them (50/67 = 0.746)
            "Quick brown fox. Quick brown fox. Quick brown fox. Quick brown fox.",
            "fail",
            "repetition ratio 0.75 > max_repetition_ratio 0.3: 50 characters repeat from offset 17",
        ),
        (
            "Hello world Hello world Hello world",
            "fail",
            "only 7 distinct characters in 30 (needs 10: min_unique_chars 10)",
        ),
    ],
)
def test_garbage(text: str, verdict: str, reason: str) -> None:
    judged = garbage(text, GARBAGE)
    assert (judged.verdict, judged.reason) == (verdict, reason)


def test_repetition_ratio_by_hand() -> None:
    assert repetition("abcdefghabcdefgh", 4) == (0.5, 8, 8)  # the second half repeats the first
    assert repetition("ab" * 10, 4) == (0.9, 2, 18)  # an overlapping copy from offset 2 to the end
    assert repetition("The answer to this classic math problem is 4.", 8) == (0.0, 0, 0)
    assert repetition("", 8) == (0.0, 0, 0)


PYTHON = CodeSyntaxOracle(languages=["python"])


@pytest.mark.parametrize(
    ("prompt", "text", "verdict"),
    [
        (
            "Write a Python function that adds two numbers.",
            "```python\ndef add(a, b):\n    return a + b\n```",
            "pass",
        ),
        (
            "Write a Python function that adds two numbers.",
            "```python\ndef add(a, b)\n    return a + b\n```",
            "fail",
        ),
        ("Write a python function.", "```py\ndef f():\n    return 1", "pass"),  # unclosed fence: to the end
        ("Write a Python function.", "def f(:\n  pass", "fail"),  # bare code
        ("def fibonacci(n):", "\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n", "pass"),
        ("Name three colors.", "red, green, blue", "not_judged"),
    ],
)
def test_code_syntax_python(prompt: str, text: str, verdict: str) -> None:
    assert code_syntax(PromptSpec(prompt=prompt), text, PYTHON).verdict == verdict


def test_code_syntax_reason_for_invalid_python() -> None:
    judged = code_syntax(PromptSpec(prompt="Write Python"), "```python\ndef add(a, b)\n    return a\n```", PYTHON)
    assert judged.reason == "python does not parse: expected ':' (line 1)"


def test_code_syntax_uses_a_declared_checker_or_does_not_judge() -> None:
    config = CodeSyntaxOracle(
        languages=["json", "rust"], checkers={"json": [sys.executable, "-m", "json.tool", "{file}"]}
    )
    assert code_syntax(PromptSpec(prompt="Give me JSON"), '```json\n{"a": 1}\n```', config).verdict == "pass"
    bad = code_syntax(PromptSpec(prompt="Give me JSON"), '```json\n{"a": 1,}\n```', config)
    assert bad.verdict == "fail" and bad.reason.startswith("json rejected by")
    rust = code_syntax(PromptSpec(prompt="Write a rust function"), "fn main() {}", config)
    assert (rust.verdict, rust.reason) == ("not_judged", "no checker declared for rust")


def test_golden() -> None:
    spec = PromptSpec(prompt="q", expected_prefix="The answer", must_contain=["4"], must_not_contain=["5"])
    assert golden(spec, "  The answer is 4").verdict == "pass"
    assert golden(spec, "Answer: 4").reason == "does not start with 'The answer'"
    assert golden(spec, "The answer is four").reason == "does not contain '4'"
    assert golden(spec, "The answer is 4, not 5").reason == "contains '5'"
    assert golden(PromptSpec(prompt="q"), "x").verdict == "not_judged"


LOOP = "What is 2+2?\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n"


def test_composite_keeps_every_reason_and_the_first_falsification_is_garbage() -> None:
    oracles = OracleSet(arithmetic=ARITH, garbage=GARBAGE)
    judged = composite(PromptSpec(prompt="What is 2+2?"), LOOP, oracles)
    assert [(j.oracle, j.verdict) for j in judged] == [("garbage", "fail"), ("arithmetic", "fail")]
    assert judged[0].reason.startswith("repetition ratio")


def test_composite_respects_a_prompts_oracle_selection() -> None:
    oracles = OracleSet(arithmetic=ARITH, garbage=GARBAGE)
    judged = composite(PromptSpec(prompt="What is 2+2?", oracles=["arithmetic"]), LOOP, oracles)
    assert [j.oracle for j in judged] == ["arithmetic"]
