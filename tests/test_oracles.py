"""Oracles on hand-written outputs, with hand-computed expectations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import ROOT, make_scenario, write_playbook

from aprqa_action.judge.oracles import composite, configured, select
from aprqa_action.judge.oracles.arithmetic import ArithmeticOracle, arithmetic, find_expression, numbers_in
from aprqa_action.judge.oracles.code_syntax import CodeSyntaxOracle, code_syntax
from aprqa_action.judge.oracles.garbage import GarbageOracle, garbage, repetition
from aprqa_action.judge.oracles.golden import golden
from aprqa_action.judge.scenarios import scenario_items
from aprqa_action.playbook import PromptSpec, load_playbook
from aprqa_action.records import Observation

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
        # only real questions are judged: ranges, dates and resolutions are not arithmetic
        ("Name 5-10 animals.", "cat, dog, cow, pig, hen", "not_judged"),
        ("What is 2024-01-15?", "A Monday.", "not_judged"),
        ("What day was 15/01/2024?", "A Monday.", "not_judged"),
        ("What is 1920x1080?", "Full HD.", "not_judged"),
        ("Set the screen to 1920 x 1080 and tell me what is 2+2.", "4", "pass"),  # the question is 2+2
        ("What is 5-10?", "-5", "pass"),  # a range-looking expression that is asked about is judged
        ("What is 7 x 8?", "56", "pass"),
        ("How much is 6 * 7?", "42", "pass"),
        ("Compute: 9-3", "6", "pass"),
        ("7*8?", "56", "pass"),
        ("Tell me about 7*8 in history.", "56", "not_judged"),  # an expression, but no question about it
        # the answer number: whole numbers only, echoes and operands ignored, the marked number preferred
        ("What is 7*8?", "It is 54, 55, 56 or 57", "fail"),  # a hedge, although 56 is among them
        ("What is 2+2?", "It could be 3 or 4.", "fail"),
        ("What is 12/4?", "It is the 3rd.", "fail"),  # "3rd" is no number
        ("What is 4*1?", "What is 4*1?", "fail"),  # the echo's 4 is not an answer
        ("What is 4*1?", "4", "pass"),  # an operand that is also the result counts
        ("What is 4*1?", "4*1 = 4", "pass"),
        ("What is 7*8?", "You multiply 7 by 8 to get 56.", "pass"),  # 7 and 8 are the question's operands
        ("What is 7*8?", "7 times 8 is 54. Wait, 56.", "fail"),  # the marked number is the answer
        ("What is 2+2?", "2+2 is 4, not 5.", "pass"),  # ", not" is no hedge
        ("What is 2+2?", "4 plus nothing. The answer is 5", "fail"),
        ("What is 7*8?", "7*8 = 56. That is one of the harder facts.", "pass"),  # digits win over "one"
        ("What is 7*8?", "The answer is **56**.", "pass"),
        ("What is 17 multiplied by 3?", "The result of \\(17 \\times 3\\) is \\(51\\).", "pass"),
        ("What is 144 divided by 12?", "144 divided by 12 is 12.", "pass"),
        ("What is 1,000 plus 250?", "1,000 + 250 = 1,250", "pass"),
        ("What is 3.5 + 1.25?", "3.5 + 1.25 = 4.75", "pass"),
        ("12*12=", "12*12 = 144", "pass"),
    ],
)
def test_arithmetic(prompt: str, text: str, verdict: str) -> None:
    assert arithmetic(PromptSpec(prompt=prompt), text, ARITH).decision == verdict


@pytest.mark.parametrize(
    ("prompt", "text", "reason"),
    [
        # deliberately changed: the reason names the one answer number, not every number of the text
        ("What is 2+2?", "2+2=5", "expected 4 (2+2, ±0.01); the answer says 5"),
        (
            "What is 7*8?",
            "It is 54, 55, 56 or 57",
            "expected 56 (7*8, ±0.01); the answer hedges between 54, 55, 56, 57",
        ),
        (
            "What is 4*1?",
            "What is 4*1?",
            "expected 4 (4*1, ±0.01); the answer has no number of its own (echoes of the question do not count)",
        ),
        ("What is 2+2?", "The answer is 4.", "2+2 = 4 found in the answer"),
        ("Name 5-10 animals.", "cat", "the prompt asks no arithmetic question"),
    ],
)
def test_arithmetic_reason(prompt: str, text: str, reason: str) -> None:
    assert arithmetic(PromptSpec(prompt=prompt), text, ARITH).reason == reason


def test_expression_finding_and_numbers() -> None:
    assert find_expression("What is 2+2?") == "2+2"
    assert find_expression("Calculate 7 x 8 please") == "7*8"
    assert find_expression("what's 12 divided by 4") == "12/4"
    assert find_expression("What is 1,000 plus 250?") == "1000+250"
    assert find_expression("Tell me a joke") is None
    assert find_expression("Name 5-10 animals.") is None
    assert find_expression("What is 1920x1080?") is None
    assert numbers_in("I have 3 apples and twenty-one pears, 1,500 coins") == [3.0, 21.0, 1500.0]
    assert numbers_in("the 3rd x4 v1.2, then 54, 55 and -2") == [54.0, 55.0, -2.0]  # whole numbers only


def test_every_arithmetic_prompt_of_the_shipped_playbooks_is_judged() -> None:
    # the new question rule must not silently stop judging the prompts the playbooks rely on
    asked = {
        spec.prompt
        for path in sorted((ROOT / "playbooks").rglob("*.playbook.yaml"))
        for spec in load_playbook(path).playbook.test_matrix.prompt_specs
        if "arithmetic" in (spec.oracles or ["arithmetic"]) and any(c.isdigit() for c in spec.prompt)
    }
    assert len(asked) >= 12
    assert [p for p in sorted(asked) if find_expression(p) is None] == []


# Hand-written answers the Qwen coder playbooks ask for: correct code and prose must not look like loops.
STACK = """class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if self.is_empty():
            raise IndexError("pop from empty stack")
        return self.items.pop()

    def is_empty(self):
        return len(self.items) == 0
"""
FIBONACCI = """def fibonacci(n):
    if n <= 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fibonacci(n - 1) + fibonacci(n - 2)
"""
PROSE = """Photosynthesis is the process plants use to turn light into chemical energy. In the chloroplasts, \
chlorophyll absorbs mostly red and blue light and uses that energy to split water molecules, releasing oxygen.

The energy captured in the light reactions is stored in ATP and NADPH. These carriers then power the Calvin \
cycle, where carbon dioxide from the air is fixed into sugars that the plant builds into glucose and starch.

Because nearly every food chain starts with plants or algae, photosynthesis is the foundation of most life on \
Earth. It also keeps the oxygen level of the atmosphere steady and removes carbon dioxide from the air.
"""
# Gemma-3-270M base on the reference engine (-n 64) for "What is 2+2?": it echoes and loops on ChatML markers
GEMMA_LOOP = "What is 2+2?\n" + "<|im_end|>\n<|im_start|>\n" * 3 + "<|im_end|>\n<|im_end|>\n"
NO_DISTINCT_RULE = GarbageOracle(min_unique_chars=0)  # only the repetition ratio can fail


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
        (  # a 3-word loop: 4 tokens (Quick brown fox .) 4 times = 16; tokens 4–15 repeat tokens 0–11, 12/16 = 0.75.
            # Deliberately changed from characters (50/67) to tokens; the repeat is still 50 characters from 17.
            "Quick brown fox. Quick brown fox. Quick brown fox. Quick brown fox.",
            "fail",
            "repetition ratio 0.75 > max_repetition_ratio 0.3: 12 of 16 tokens repeat earlier text "
            "(the longest repeat: 50 characters from offset 17)",
        ),
        (
            "Hello world Hello world Hello world",
            "fail",
            "only 7 distinct characters in 30 (needs 10: min_unique_chars 10)",
        ),
        # correct code and prose pass: the longest token run that occurs twice in STACK is 4 tokens
        # ("):" "self" "." "items"), in FIBONACCI 4 ("fibonacci" "(" "n" "-"), in PROSE 5 ("carbon dioxide
        # from the air") — all below 12, so nothing counts (the old character measure: STACK 0.43, FIBONACCI
        # 0.41, both failed)
        (STACK, "pass", "not garbage (repetition ratio 0.00, 33 distinct characters)"),
        (FIBONACCI, "pass", "not garbage (repetition ratio 0.00, 24 distinct characters)"),
        (PROSE, "pass", "not garbage (repetition ratio 0.00, 35 distinct characters)"),
        (  # 6 tokens (What is 2 + 2 ?), then 8 markers of 3 tokens ("<|" name "|>") = 30. From token 12 the
            # markers end,start,end,start,end + "<|" repeat tokens 6–21 (16 tokens, ≥ 12); the last "im_end |>"
            # is 2 tokens, too short. 16/30 = 0.53
            GEMMA_LOOP,
            "fail",
            "repetition ratio 0.53 > max_repetition_ratio 0.3: 16 of 30 tokens repeat earlier text "
            "(the longest repeat: 61 characters from offset 37)",
        ),
    ],
)
def test_garbage(text: str, verdict: str, reason: str) -> None:
    judged = garbage(text, GARBAGE)
    assert (judged.decision, judged.reason) == (verdict, reason)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (STACK, "pass"),
        (FIBONACCI, "pass"),
        (PROSE, "pass"),
        ("<|im_end|>" * 20, "fail"),  # a 2-token loop (with the "|><|" between): 37/41, below
        ("the " * 30, "fail"),  # 29/30, below
        ("我是一个人工智能助手" * 6, "fail"),  # unspaced script: each character a token, 50/60
        ("The answer is 4." + "." * 60, "fail"),  # punctuation runs of ≤ 4: 15 "...." tokens, 14 repeat
        (STACK + "        return self.items.pop()\n" * 10, "fail"),  # correct code, then a loop
        ("def f():\n" + "    return 1\n" * 15, "fail"),
    ],
)
def test_repetition_alone_tells_loops_from_code(text: str, verdict: str) -> None:
    assert garbage(text, NO_DISTINCT_RULE).decision == verdict


def test_repetition_ratio_by_hand() -> None:
    # "the " × 30: 30 tokens; token 0 is new, tokens 1–29 repeat from token 0 (an overlapping copy): 29/30,
    # the repeat from offset 4 to the end of the last "the" (119): 115 characters
    assert repetition("the " * 30, 12) == (29 / 30, 29, 30, 4, 115)
    # "<|im_end|>" × 20 tokenizes as "<|", then ("im_end", "|><|") × 19, "im_end", "|>": 41 tokens. Tokens 0–2
    # are new; from token 3 (the second "im_end", offset 12) tokens 3–39 repeat from token 1: 37 tokens, up
    # to the last "im_end" (offset 198); the final "|>" is new. 37/41 = 0.902
    assert repetition("<|im_end|>" * 20, 12) == (37 / 41, 37, 41, 12, 186)
    assert repetition("abcdefgh abcdefgh", 1) == (0.5, 1, 2, 9, 8)  # two words, the second repeats
    assert repetition("The answer to this classic math problem is 4.", 8) == (0.0, 0, 10, 0, 0)
    assert repetition("", 8) == (0.0, 0, 0, 0, 0)
    assert repetition(STACK, 4).ratio > 0 and repetition(STACK, 5).ratio == 0  # its longest repeat: 4 tokens


PYTHON = CodeSyntaxOracle(languages=["python"])
WRITE = "Write a Python function add(a, b) that returns the sum. Reply with only the code."
ADD = "def add(a, b):\n    return a + b\n"


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
        # code among prose: a preface, trailing prose, both, a fence among prose
        (WRITE, "Here's the function:\n\n" + ADD, "pass"),
        (WRITE, ADD + "\nThis function returns the sum of a and b.", "pass"),
        (WRITE, "Sure! Here it is:\n\n" + ADD + "\nExample usage:\n\nprint(add(2, 3))  # 5\n\nIt adds.", "pass"),
        (WRITE, "Here:\n```python\n" + ADD + "```\nIt returns a + b.", "pass"),
        (
            WRITE,
            "Two of them:\n\n" + ADD + "\nAnd an indented one:\n\n    def sub(a, b):\n        return a - b\n",
            "pass",
        ),
        (
            "def fibonacci(n):",
            "\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n\nIt recurses.",
            "pass",
        ),
        # broken code stays broken with prose around it
        (WRITE, "Here's the function:\n\ndef add(a, b)\n    return a + b\n\nIt adds.", "fail"),
        (WRITE, "import math\n\ndef area(r)\n    return math.pi * r * r\n", "fail"),  # not just the import
        (WRITE, "I cannot write that function.", "fail"),
    ],
)
def test_code_syntax_python(prompt: str, text: str, verdict: str) -> None:
    assert code_syntax(PromptSpec(prompt=prompt), text, PYTHON).decision == verdict


@pytest.mark.parametrize(
    ("text", "truncated", "verdict"),
    [
        ("Here's the function:\n\ndef add(a, b):\n    return (a +", True, "not_judged"),  # cut off mid-code
        ("Here's the function:\n\ndef add(a, b):\n    return (a +", False, "fail"),  # stopped there: broken
        ("```python\ndef add(a, b):\n    return (a +", True, "not_judged"),  # an unclosed fence, cut off
        ("```python\ndef add(a, b)\n    return a\n```\nMore words", True, "fail"),  # a closed block is complete
        ("Here's the function:\n\n" + ADD + "\nIt adds a and", True, "pass"),  # cut off in the prose: parses
    ],
)
def test_code_syntax_on_an_answer_cut_off_at_max_tokens(text: str, truncated: bool, verdict: str) -> None:
    assert code_syntax(PromptSpec(prompt=WRITE), text, PYTHON, truncated=truncated).decision == verdict


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "```python\ndef add(a, b)\n    return a\n```",
            "python does not parse: expected ':' (line 1 of the fenced block)",
        ),
        (
            "Here's the function:\n\ndef add(a, b)\n    return a\n",
            "python does not parse: expected ':' (line 3 of the answer)",
        ),
        ("Here's the function:\n\n" + ADD + "\nIt adds.", "python parses (lines 3–5 of the answer; the rest is prose)"),
        ("I cannot write that function.", "no python code in the answer"),
    ],
)
def test_code_syntax_reason(text: str, reason: str) -> None:
    # deliberately changed: a fenced block's line numbers say so ("line 1" before)
    assert code_syntax(PromptSpec(prompt=WRITE), text, PYTHON).reason == reason


def test_code_syntax_uses_a_declared_checker_or_does_not_judge() -> None:
    config = CodeSyntaxOracle(
        languages=["json", "rust"], checkers={"json": [sys.executable, "-m", "json.tool", "{file}"]}
    )
    assert code_syntax(PromptSpec(prompt="Give me JSON"), '```json\n{"a": 1}\n```', config).decision == "pass"
    bad = code_syntax(PromptSpec(prompt="Give me JSON"), '```json\n{"a": 1,}\n```', config)
    assert bad.decision == "fail" and bad.reason.startswith("json rejected by")
    cut = code_syntax(PromptSpec(prompt="Give me JSON"), '```json\n{"a": [1,', config, truncated=True)
    assert cut.decision == "not_judged" and cut.reason.startswith("the answer was cut off at max_tokens")
    rust = code_syntax(PromptSpec(prompt="Write a rust function"), "fn main() {}", config)
    assert (rust.decision, rust.reason) == ("not_judged", "no checker declared for rust")


def test_golden() -> None:
    spec = PromptSpec(prompt="q", expected_prefix="The answer", must_contain=["4"], must_not_contain=["5"])
    assert golden(spec, "  The answer is 4").decision == "pass"
    assert golden(spec, "Answer: 4").reason == "does not start with 'The answer'"
    assert golden(spec, "The answer is four").reason == "does not contain '4'"
    assert golden(spec, "The answer is 4, not 5").reason == "contains '5'"
    assert golden(PromptSpec(prompt="q"), "x").decision == "not_judged"


LOOP = "What is 2+2?\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n"


def test_composite_keeps_every_reason_and_the_first_falsification_is_garbage() -> None:
    oracles = select({"arithmetic": ARITH, "garbage": GARBAGE})
    judged = composite(PromptSpec(prompt="What is 2+2?"), LOOP, oracles)
    assert [(j.oracle, j.decision) for j in judged] == [("garbage", "fail"), ("arithmetic", "fail")]
    assert judged[0].reason.startswith("repetition ratio")


def test_composite_respects_a_prompts_oracle_selection() -> None:
    oracles = select({"arithmetic": ARITH, "garbage": GARBAGE})
    judged = composite(PromptSpec(prompt="What is 2+2?", oracles=["arithmetic"]), LOOP, oracles)
    assert [j.oracle for j in judged] == ["arithmetic"]


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        # docs/gates.md's example: golden is not listed, yet its must_not_contain is enforced
        (
            PromptSpec(prompt="Name a prime.", oracles=["garbage"], must_not_contain=["4"]),
            "4 is a prime",
            [("garbage", "pass"), ("golden", "fail")],
        ),
        (
            PromptSpec(prompt="Name a prime.", oracles=["garbage"], must_not_contain=["4"]),
            "7 is a prime",
            [("garbage", "pass"), ("golden", "pass")],
        ),
        (
            PromptSpec(prompt="Say hi.", oracles=["arithmetic"], expected_prefix="Hi"),
            "Hello",
            [("golden", "fail")],
        ),
        (PromptSpec(prompt="Say hi.", oracles=["garbage"]), "Hello there, friend", [("garbage", "pass")]),
    ],
)
def test_golden_expectations_are_enforced_whatever_the_oracle_list(
    spec: PromptSpec, text: str, expected: list[tuple[str, str]]
) -> None:
    judged = composite(spec, text, select({"arithmetic": ARITH, "garbage": GARBAGE}))
    assert [(j.oracle, j.decision) for j in judged] == expected


def test_a_scenario_that_used_every_token_is_not_judged_by_code_syntax(tmp_path: Path) -> None:
    # the wiring in gates: the observation's generated tokens == the scenario's max_tokens means "cut off"
    playbook = load_playbook(
        write_playbook(
            tmp_path / "p.yaml",
            test_matrix={"modalities": ["run"], "backends": ["cpu"], "prompts": [WRITE], "max_tokens": 16},
            oracles=[{"type": "code_syntax"}],
        )
    ).playbook
    scenario = make_scenario(id="t:run:cpu:gguf:0", prompt=WRITE, max_tokens=16)
    cut = "Here's the function:\n\ndef add(a, b):\n    return (a +"

    def quality(tokens: int) -> list[tuple[str, str]]:
        seen = Observation(scenario_id=scenario.id, status="ok", loaded=True, text=cut, tokens=tokens)
        items = scenario_items(playbook, scenario, seen, configured(playbook))
        return [(i.gate_id, i.outcome) for i in items if i.category == "QUAL"]

    assert quality(16) == []  # cut off: not judged
    assert quality(15) == [("F-QUAL-CODE", "Falsified")]  # it stopped on its own: broken code


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abcdefghijk" * 20, "an unspaced cycle at offset 0: 220 characters repeating 'abcdefghijk' (11 characters)"),
        ("1234567890" * 10, "an unspaced cycle at offset 0: 100 characters repeating '1234567890' (10 characters)"),
        (
            "The answer is 4, then " + "0123456789ab" * 40,
            "an unspaced cycle at offset 22: 480 characters repeating '0123456789ab' (12 characters)",
        ),
        # 4 MB of one cycle: the whole word is compared, once per period (vectorised), in linear time
        (
            "abcdefghijk" * 400_000,
            "an unspaced cycle at offset 0: 4400000 characters repeating 'abcdefghijk' (11 characters)",
        ),
    ],
)
def test_unspaced_cycles_are_garbage(text: str, reason: str) -> None:
    judged = garbage(text, GARBAGE)
    assert (judged.decision, judged.reason) == ("fail", reason)


def test_the_capping_marker_is_not_the_engines_output() -> None:
    # 300 MB of `y`, capped: head and tail kept, aprqa's marker between — whose 17 distinct characters once
    # made it "not garbage"
    capped = "y" * 524_288 + "\n[... 299000000 bytes dropped ...]\n" + "y" * 524_288
    judged = garbage(capped, GARBAGE)
    assert (judged.decision, judged.reason) == (
        "fail",
        "only 1 distinct characters in 1048576 (needs 10: min_unique_chars 10)",
    )


@pytest.mark.parametrize(
    "text",
    [
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, computed over the empty file.",
        "Pi is about 3.14159265358979323846264338327950288419716939937510 to fifty places.",
        "See https://example.com/docs/a_very_long_path_with_many_words_inside_it?page=2 for details.",
        "The blob is aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBlbmNvZGVkIHN0cmluZw== when encoded.",
        "Fill in your name here: ________________________________ and sign below, please.",
        "| name | value | unit | note |\n|---|---|---|---|\n| mass | 4 | kg | measured |",
        "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖并释放氧气的过程，它为地球上几乎所有生命提供能量。",
        "getConfigurationValueForEnvironmentVariableName(name) returns the value, or None when unset.",
    ],
)
def test_long_words_that_are_not_cycles_pass(text: str) -> None:
    judged = garbage(text, GARBAGE)
    assert judged.decision == "pass", judged.reason
