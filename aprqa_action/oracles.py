"""Oracles: decide from the *generated text only* whether an answer is right, garbage, valid code or golden.

Each oracle returns pass, fail or not_judged (it does not apply to this prompt — never a silent pass).
The composite runs the oracles that apply in a fixed order (garbage, arithmetic, code_syntax, golden):
the first falsification is the verdict, and every reason is kept.

Definitions (the README repeats them):
- arithmetic: the first expression in the prompt ("What is 2+2?", "Calculate 7*8", "2+2=", "what's 12
  divided by 4") is evaluated; the answer passes when any number in the generated text — digits, or a number
  word from zero to ninety-nine ("four") — is within `tolerance` (absolute) of the result.
- garbage: fails on empty/whitespace-only text, a control character (other than tab, CR, LF), U+FFFD,
  fewer than min(min_unique_chars, ⌈n/2⌉) distinct non-space characters (n = non-space characters), or a
  repetition ratio above max_repetition_ratio. The repetition ratio is the share of the text's characters
  that repeat an earlier stretch of at least `min_repeat_chars` characters (a greedy LZ77 parse: at each
  position take the longest stretch that already occurred, overlaps allowed).
- code_syntax: applies when the prompt names one of the configured languages, starts like Python code
  ("def ", "class ", "import "), or the answer has a fence tagged with one; the code is the first fenced
  block (an unclosed fence runs to the end) or else the whole answer. Python is parsed with `ast` (as the
  answer alone, then as prompt + answer for completion-style prompts); other languages by the checker
  declared for them (argv with "{file}", exit 0 = valid), else not judged.
- golden: the prompt's expected_prefix (after leading whitespace), must_contain, must_not_contain
  (case-sensitive substrings).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aprqa_action.engines.process import run_process
from aprqa_action.playbook import (
    ArithmeticOracle,
    CodeSyntaxOracle,
    GarbageOracle,
    OracleName,
    PromptSpec,
)

Verdict = Literal["pass", "fail", "not_judged"]
EXCERPT = 300


@dataclass(frozen=True)
class Judgement:
    oracle: OracleName
    verdict: Verdict
    reason: str
    excerpt: str | None = None


def _excerpt(text: str, start: int = 0) -> str:
    start = max(0, min(start, len(text) - EXCERPT))
    piece = text[start : start + EXCERPT]
    return ("…" if start else "") + piece + ("…" if start + EXCERPT < len(text) else "")


# ---------------------------------------------------------------- arithmetic

_NUMBER = r"-?\d+(?:\.\d+)?"
_OP = r"[-+*/x]"
_EXPRESSION = re.compile(rf"{_NUMBER}(?:\s*{_OP}\s*{_NUMBER})+")
_WORD_OPERATORS = [
    (r"\bmultiplied\s+by\b", "*"),
    (r"\bdivided\s+by\b", "/"),
    (r"\btimes\b", "*"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    ("×", "*"),
    ("÷", "/"),
    ("−", "-"),
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
_WORD_NUMBERS = {word: i for i, word in enumerate(_UNITS)}
for _t, _tens in enumerate(_TENS):
    _WORD_NUMBERS[_tens] = 20 + 10 * _t
    for _u in range(1, 10):
        _WORD_NUMBERS[f"{_tens}-{_UNITS[_u]}"] = 20 + 10 * _t + _u
_NUMBER_IN_TEXT = re.compile(
    r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?|\b[a-z]+(?:-[a-z]+)?\b"
)
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def find_expression(prompt: str) -> str | None:
    """The first arithmetic expression in a natural-language prompt, in Python syntax."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", prompt.lower())  # 1,000 → 1000
    for pattern, symbol in _WORD_OPERATORS:
        text = re.sub(pattern, f" {symbol} ", text)
    found = _EXPRESSION.search(text)
    return re.sub(r"\s+", "", found.group(0)).replace("x", "*") if found else None


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


def numbers_in(text: str) -> list[float]:
    found = []
    for match in _NUMBER_IN_TEXT.finditer(text.lower()):
        token = match.group(0)
        if token in _WORD_NUMBERS:
            found.append(float(_WORD_NUMBERS[token]))
        elif token[0].isdigit() or token[0] == "-":
            found.append(float(token.replace(",", "")))
    return found


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def arithmetic(prompt: PromptSpec, text: str, config: ArithmeticOracle) -> Judgement:
    expression = find_expression(prompt.prompt)
    if expression is None:
        return Judgement("arithmetic", "not_judged", "the prompt has no arithmetic expression")
    try:
        expected = evaluate(expression)
    except (ValueError, ZeroDivisionError, SyntaxError) as exc:
        return Judgement("arithmetic", "not_judged", f"cannot evaluate {expression}: {exc}")
    seen = numbers_in(text)
    if any(abs(n - expected) <= config.tolerance for n in seen):
        return Judgement("arithmetic", "pass", f"{expression} = {_fmt(expected)} found in the answer")
    listed = ", ".join(_fmt(n) for n in seen[:10]) or "none"
    return Judgement(
        "arithmetic",
        "fail",
        f"expected {_fmt(expected)} ({expression}, ±{config.tolerance}) in the answer; its numbers: {listed}",
        _excerpt(text),
    )


# ---------------------------------------------------------------- garbage


def repetition(text: str, min_len: int) -> tuple[float, int, int]:
    """(ratio, start, length) of the greedy LZ77 parse: the share of characters that repeat an earlier
    stretch of ≥ min_len characters, and the longest such repeat."""
    n = len(text)
    covered = best_start = best_len = 0
    i = 1
    while i < n:
        if i + min_len > n or text.find(text[i : i + min_len], 0, i + min_len - 1) == -1:
            i += 1
            continue
        # matches are monotone in length: double, then bisect, for the longest earlier occurrence
        good, step = min_len, min_len
        while i + good + step <= n and text.find(text[i : i + good + step], 0, i + good + step - 1) != -1:
            good += step
            step *= 2
        low, high = good, min(n - i, good + step)
        while low < high:
            mid = (low + high + 1) // 2
            if text.find(text[i : i + mid], 0, i + mid - 1) != -1:
                low = mid
            else:
                high = mid - 1
        covered += low
        if low > best_len:
            best_start, best_len = i, low
        i += low
    return (covered / n if n else 0.0), best_start, best_len


def garbage(text: str, config: GarbageOracle) -> Judgement:
    if not text.strip():
        return Judgement("garbage", "fail", "empty or whitespace-only output", repr(text[:EXCERPT]))
    for i, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in "\t\r\n":
            return Judgement("garbage", "fail", f"control character U+{ord(char):04X} at offset {i}", _excerpt(text, i))
    if "\ufffd" in text:
        i = text.index("\ufffd")
        return Judgement("garbage", "fail", f"U+FFFD (invalid UTF-8 from the engine) at offset {i}", _excerpt(text, i))
    visible = [c for c in text if not c.isspace()]
    distinct = len(set(visible))
    needed = min(config.min_unique_chars, math.ceil(len(visible) / 2))
    if distinct < needed:
        return Judgement(
            "garbage",
            "fail",
            f"only {distinct} distinct characters in {len(visible)} (needs {needed}: min_unique_chars "
            f"{config.min_unique_chars})",
            _excerpt(text),
        )
    ratio, start, length = repetition(text, config.min_repeat_chars)
    if ratio > config.max_repetition_ratio:
        return Judgement(
            "garbage",
            "fail",
            f"repetition ratio {ratio:.2f} > max_repetition_ratio {config.max_repetition_ratio}: "
            f"{length} characters repeat from offset {start}",
            _excerpt(text),
        )
    return Judgement("garbage", "pass", f"not garbage (repetition ratio {ratio:.2f}, {distinct} distinct characters)")


# ---------------------------------------------------------------- code_syntax

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_START = re.compile(r"^\s*(def |class |import |from \w+ import |async def )")
_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "node": "javascript",
    "ts": "typescript",
    "rs": "rust",
}


def _language(prompt: str, text: str, languages: list[str]) -> str | None:
    wanted = [lang.lower() for lang in languages]
    for lang in wanted:
        if re.search(rf"\b{re.escape(lang)}\b", prompt.lower()):
            return lang
    if "python" in wanted and _PY_START.match(prompt):
        return "python"
    for match in _FENCE.finditer(text):
        tag = _ALIASES.get(match.group(1).lower(), match.group(1).lower())
        if tag in wanted:
            return tag
    return None


def extract_code(text: str, language: str) -> str:
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    for tag, body in blocks:
        if _ALIASES.get(tag, tag) == language:
            return body
    for tag, body in blocks:
        if not tag:
            return body
    return text


def code_syntax(prompt: PromptSpec, text: str, config: CodeSyntaxOracle) -> Judgement:
    language = _language(prompt.prompt, text, config.languages)
    if language is None:
        return Judgement("code_syntax", "not_judged", f"no code in {', '.join(config.languages)} was asked for")
    code = extract_code(text, language)
    if language == "python":
        try:
            ast.parse(code)
        except SyntaxError as first:
            try:  # a completion-style prompt ("def fibonacci(n):") is continued by the answer
                ast.parse(prompt.prompt + code)
            except SyntaxError:
                where = f"line {first.lineno}" if first.lineno else "somewhere"
                return Judgement("code_syntax", "fail", f"python does not parse: {first.msg} ({where})", _excerpt(code))
        return Judgement("code_syntax", "pass", "python parses")
    checker = config.checkers.get(language)
    if checker is None:
        return Judgement("code_syntax", "not_judged", f"no checker declared for {language}")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"answer.{language}"
        source.write_text(code)
        result = run_process([a.replace("{file}", str(source)) for a in checker], timeout_s=60)
    if result.ok:
        return Judgement("code_syntax", "pass", f"{language} accepted by {checker[0]}")
    detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip().splitlines()
    why = result.spawn_error or (detail[0][:200] if detail else f"exit code {result.exit_code}")
    return Judgement("code_syntax", "fail", f"{language} rejected by {checker[0]}: {why}", _excerpt(code))


# ---------------------------------------------------------------- golden


def golden(prompt: PromptSpec, text: str) -> Judgement:
    if prompt.expected_prefix is None and not prompt.must_contain and not prompt.must_not_contain:
        return Judgement("golden", "not_judged", "the prompt has no golden expectations")
    if prompt.expected_prefix is not None and not text.lstrip().startswith(prompt.expected_prefix):
        return Judgement("golden", "fail", f"does not start with {prompt.expected_prefix!r}", _excerpt(text))
    for needle in prompt.must_contain:
        if needle not in text:
            return Judgement("golden", "fail", f"does not contain {needle!r}", _excerpt(text))
    for needle in prompt.must_not_contain:
        if needle in text:
            return Judgement("golden", "fail", f"contains {needle!r}", _excerpt(text, text.index(needle)))
    return Judgement("golden", "pass", "matches the golden expectations")


# ---------------------------------------------------------------- composite


@dataclass(frozen=True)
class OracleSet:
    """The oracles a playbook declares, with their configuration."""

    arithmetic: ArithmeticOracle | None = None
    garbage: GarbageOracle | None = None
    code_syntax: CodeSyntaxOracle | None = None


def composite(prompt: PromptSpec, text: str, oracles: OracleSet) -> list[Judgement]:
    """Every applicable oracle's judgement, in order; the caller takes the first "fail" as the verdict."""
    chosen = set(prompt.oracles) if prompt.oracles is not None else None

    def wanted(name: str) -> bool:
        return chosen is None or name in chosen

    judgements = []
    if oracles.garbage is not None and wanted("garbage"):
        judgements.append(garbage(text, oracles.garbage))
    if oracles.arithmetic is not None and wanted("arithmetic"):
        judgements.append(arithmetic(prompt, text, oracles.arithmetic))
    if oracles.code_syntax is not None and wanted("code_syntax"):
        judgements.append(code_syntax(prompt, text, oracles.code_syntax))
    if wanted("golden"):
        judgements.append(golden(prompt, text))
    return [j for j in judgements if j.verdict != "not_judged"]


def declared(playbook_oracles: list) -> OracleSet:  # type: ignore[type-arg]
    """The playbook's `oracles:`; with none declared, the garbage oracle with its defaults judges every answer."""
    if not playbook_oracles:
        return OracleSet(garbage=GarbageOracle())
    configs = {entry.type: entry.config for entry in playbook_oracles}
    return OracleSet(
        arithmetic=configs.get("arithmetic"),  # type: ignore[arg-type]
        garbage=configs.get("garbage"),  # type: ignore[arg-type]
        code_syntax=configs.get("code_syntax"),  # type: ignore[arg-type]
    )
