"""The arithmetic oracle: is the number the answer gives the value the prompt asks for?

arithmetic: judges a prompt that asks for a value — "what is / what's / what does / how much is / calculate /
compute / evaluate / solve <expr>", or a prompt that is only "<expr>", "<expr>=", "<expr>?"; dates, ranges
outside such a question ("Name 5-10 animals.") and "1920x1080" are not judged. The answer is the first number
marked as one ("= 56", "is 56", "equals", "it's", "Answer:"), else the last number; echoes of an expression
and the question's operands do not count, digits win over number words (zero to ninety-nine), only whole
numbers count ("3rd" is none). It passes when that number is within `tolerance` of the result; several numbers
joined by ",", "or", "/", "to" around it are a hedge and fail.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from aprqa_action.checks import Judgement, Oracle, register_oracle
from aprqa_action.judge.items import excerpt
from aprqa_action.records import Record

if TYPE_CHECKING:
    from aprqa_action.playbook.prompts import PromptSpec


class ArithmeticOracle(Record):
    tolerance: float = Field(default=0.01, ge=0)


_NUMBER = r"-?\d+(?:\.\d+)?"
# 'x' multiplies only between spaces ("7 x 8"): "1920x1080" is a resolution, not a question
_OP = r"(?:\s*[-+*/]\s*|\s+x\s+)"
_EXPRESSION = re.compile(rf"(?<![\w.]){_NUMBER}(?:{_OP}{_NUMBER})+(?!\w|\.\d)")
_DATE = re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[-/]\d{1,2}[-/]\d{4}")
# a question that asks for the value of the expression right after it ("What is 2+2?", "Calculate: 7*8")
_ASKS = re.compile(
    r"(?:\bwhat\s+is|\bwhat's|\bwhats|\bwhat\s+does|\bhow\s+much\s+is|\bcalculate|\bcompute|\bevaluate|\bsolve)"
    r"\s*:?\s*(?:the\s+(?:value|result)\s+of\s+)?\Z"
)
_ONLY_ASKS = re.compile(r"\s*(?:=\s*\??|\?)?\s*")  # what may follow a prompt that is just the expression: "2+2="
_WORD_OPERATORS = [
    (r"\bmultiplied\s+by\b", " * "),
    (r"\bdivided\s+by\b", " / "),
    (r"\btimes\b", " * "),
    (r"\bplus\b", " + "),
    (r"\bminus\b", " - "),
    ("×", " * "),
    ("÷", " / "),
    ("−", "-"),
    ("’", "'"),
]
_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_NUMBER = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[-\s](?P<unit>{'|'.join(_UNITS[1:10])}))?|(?P<small>{'|'.join(_UNITS)}))\b"
)
# whole numbers only: not part of "3rd", "x4" or "v1.2"; a '-' is a sign unless it follows a digit ("3-5")
_DIGIT_NUMBER = re.compile(r"(?:(?<![\w)\]])-)?(?<![\w.])\d+(?:\.\d+)?(?!\w|\.\d)")
_FILLER = (
    r"(?:[\s*_`$\\(\[{:]"
    r"|\b(?:just|simply|exactly|then|therefore|thus|so|now|indeed|clearly|approximately|about|roughly|around)\b)*"
)
# what marks the number after it as the answer: "= 56", "is 56", "equals 56", "it's 3", "Answer: 4"
_MARKED = re.compile(
    rf"(?:=|≈|\bis|\bequals|\bequal\s+to|\bgives|\bget|\bmakes|\bbe|'s|\banswer\s*:|\bresult\s*:){_FILLER}\Z"
)
# what joins the numbers of a hedge: "54, 55, 56 or 57", "56/57", "5 to 6"
_HEDGE = re.compile(r"\s*(?:,\s*(?:or\s+|and\s+)?|or|/|to|–|—)\s*")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _normalize(text: str) -> str:
    """Lower case, the operators written as words or signs in Python syntax, 1,000 as 1000. Lengths change."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower())
    for pattern, symbol in _WORD_OPERATORS:
        text = re.sub(pattern, symbol, text)
    return text


def find_expression(prompt: str) -> str | None:
    """The expression a prompt asks to evaluate, in Python syntax, or None when it asks no arithmetic.

    Judged: "what is / what's / what does / how much is / calculate / compute / evaluate / solve <expr>"
    (optionally "the value/result of <expr>"), or a prompt that is only "<expr>", "<expr>=" or "<expr>?".
    Not judged: an expression anywhere else ("Name 5-10 animals."), a date (2024-01-15, 15/01/2024) and
    "1920x1080" ('x' multiplies only between spaces)."""
    text = _normalize(prompt)
    for found in _EXPRESSION.finditer(text):
        compact = re.sub(r"\s+", "", found.group(0))
        if _DATE.fullmatch(compact):
            continue
        asked = _ASKS.search(text[: found.start()])
        alone = not text[: found.start()].strip() and _ONLY_ASKS.fullmatch(text[found.end() :])
        if asked or alone:
            return compact.replace("x", "*")
    return None


def evaluate(expression: str) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval").body)


@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    value: float


def _numbers(text: str, words: bool) -> list[_Number]:
    """Whole numbers in normalized text: digits (-2 and 2.5 included), or number words zero–ninety-nine."""
    if not words:
        return [_Number(m.start(), m.end(), float(m.group(0))) for m in _DIGIT_NUMBER.finditer(text)]
    found = []
    for m in _WORD_NUMBER.finditer(text):
        if m.group("small"):
            value = _UNITS.index(m.group("small"))
        else:
            value = 20 + 10 * _TENS.index(m.group("tens")) + (_UNITS.index(m.group("unit")) if m.group("unit") else 0)
        found.append(_Number(m.start(), m.end(), float(value)))
    return found


def numbers_in(text: str) -> list[float]:
    """Every whole number in the text, digits and number words, in order."""
    text = _normalize(text)
    return [n.value for n in sorted(_numbers(text, words=False) + _numbers(text, words=True), key=lambda n: n.start)]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _answer(text: str, expression: str, expected: float, tolerance: float) -> tuple[list[float], str]:
    """The number(s) the text gives as its answer, and how they were chosen.

    Numbers inside an arithmetic expression of the text (an echo: "7*8 = 56" keeps 56) and numbers equal
    to an operand of the question (other than the expected result) are not answers. Digits win over number
    words (words count only in an answer without digits). The answer is the first number marked as one
    ("= 56", "is 56", "equals 56", "it's 3", "Answer: 56"), else the last number — together with the
    numbers joined to it by ",", "or", "/", "to" (a hedge: "54, 55, 56 or 57")."""
    norm = _normalize(text)
    echoes = [m.span() for m in _EXPRESSION.finditer(norm)]
    operands = [n.value for n in _numbers(expression, words=False)]

    def answer_like(n: _Number) -> bool:
        inside = any(a <= n.start < b for a, b in echoes)
        operand = any(n.value == o for o in operands) and abs(n.value - expected) > tolerance
        return not inside and not operand

    candidates = [n for n in _numbers(norm, words=False) if answer_like(n)]
    if not candidates:
        candidates = [n for n in _numbers(norm, words=True) if answer_like(n)]
    if not candidates:
        return [], "none"
    marked = [i for i, n in enumerate(candidates) if _MARKED.search(norm[max(0, n.start - 80) : n.start])]
    first = last = marked[0] if marked else len(candidates) - 1
    while first > 0 and _HEDGE.fullmatch(norm[candidates[first - 1].end : candidates[first].start]):
        first -= 1
    while last + 1 < len(candidates) and _HEDGE.fullmatch(norm[candidates[last].end : candidates[last + 1].start]):
        last += 1
    distinct: list[float] = []
    for n in candidates[first : last + 1]:
        if all(abs(n.value - d) > tolerance for d in distinct):
            distinct.append(n.value)
    return distinct, "marked" if marked else "last"


def arithmetic(prompt: PromptSpec, text: str, config: ArithmeticOracle) -> Judgement:
    expression = find_expression(prompt.prompt)
    if expression is None:
        return Judgement("arithmetic", "not_judged", "the prompt asks no arithmetic question")
    try:
        expected = evaluate(expression)
    except (ValueError, ZeroDivisionError, SyntaxError) as exc:
        return Judgement("arithmetic", "not_judged", f"cannot evaluate {expression}: {exc}")
    wanted = f"expected {_fmt(expected)} ({expression}, ±{config.tolerance})"
    values, _ = _answer(text, expression, expected, config.tolerance)
    if not values:
        why = f"{wanted}; the answer has no number of its own (echoes of the question do not count)"
        return Judgement("arithmetic", "fail", why, excerpt(text))
    if len(values) > 1:
        why = f"{wanted}; the answer hedges between {', '.join(_fmt(v) for v in values)}"
        return Judgement("arithmetic", "fail", why, excerpt(text))
    if abs(values[0] - expected) <= config.tolerance:
        return Judgement("arithmetic", "pass", f"{expression} = {_fmt(expected)} found in the answer")
    return Judgement("arithmetic", "fail", f"{wanted}; the answer says {_fmt(values[0])}", excerpt(text))


register_oracle(
    Oracle(
        "arithmetic",
        "F-QUAL-ARITH",
        ArithmeticOracle,
        lambda answer, config: arithmetic(answer.prompt, answer.text, config),
    )
)
