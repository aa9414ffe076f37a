"""Oracles: decide from the *generated text only* whether an answer is right, garbage, valid code or golden.

Each oracle returns pass, fail or not_judged (it does not apply to this prompt — never a silent pass).
The composite runs the oracles that apply in a fixed order (garbage, arithmetic, code_syntax, golden):
the first falsification is the verdict, and every reason is kept.

Definitions (the README repeats them):
- arithmetic: judges a prompt that asks for a value — "what is / what's / what does / how much is /
  calculate / compute / evaluate / solve <expr>", or a prompt that is only "<expr>", "<expr>=", "<expr>?";
  dates, ranges outside such a question ("Name 5-10 animals.") and "1920x1080" are not judged. The answer
  is the first number marked as one ("= 56", "is 56", "equals", "it's", "Answer:"), else the last number;
  echoes of an expression and the question's operands do not count, digits win over number words (zero to
  ninety-nine), only whole numbers count ("3rd" is none). It passes when that number is within `tolerance`
  of the result; several numbers joined by ",", "or", "/", "to" around it are a hedge and fail.
- garbage: fails on empty/whitespace-only text, a control character (other than tab, CR, LF), U+FFFD,
  fewer than min(min_unique_chars, ⌈n/2⌉) distinct non-space characters (n = non-space characters), or a
  repetition ratio above max_repetition_ratio. The repetition ratio is the share of the text's tokens
  (words; single characters of CJK, kana, Thai; runs of ≤ 4 other non-space characters) that repeat an
  earlier run of at least `min_repeat_tokens` tokens (a greedy LZ77 parse over tokens: at each position
  take the longest run that already occurred, overlaps allowed). Whitespace does not count, so indentation
  and short recurring phrases of code ("self.items") are not repetition; a loop is.
- code_syntax: applies when the prompt names one of the configured languages, starts like Python code
  ("def ", "class ", "import "), or the answer has a fence tagged with one; the code is the first fenced
  block (an unclosed fence runs to the end); without one, Python is the whole answer if it parses, else
  every run of lines starting at a code-looking line (def, class, import, from … import, @decorator) taken
  as long as it parses — the rest is prose. Python is parsed with `ast` (also prompt + answer for
  completion prompts like "def f(n):"); other languages by the checker declared for them (argv with
  "{file}", exit 0 = valid), else not judged. An answer cut off at max_tokens whose code does not parse
  is not judged (unless its code is a closed fenced block).
- golden: the prompt's expected_prefix (after leading whitespace), must_contain, must_not_contain
  (case-sensitive substrings) — whenever the prompt declares any, whatever its `oracles:` list says.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import tempfile
import textwrap
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from aprqa_action.execute.process import run_process
from aprqa_action.playbook import ArithmeticOracle, CodeSyntaxOracle, GarbageOracle, OracleName, PromptSpec

# external: judging needs a program (a checker), which evidence read from a file never starts: the judgement
# the run itself made is kept instead (see gates.scenario_items).
Verdict = Literal["pass", "fail", "not_judged", "external"]
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
        return Judgement("arithmetic", "fail", why, _excerpt(text))
    if len(values) > 1:
        why = f"{wanted}; the answer hedges between {', '.join(_fmt(v) for v in values)}"
        return Judgement("arithmetic", "fail", why, _excerpt(text))
    if abs(values[0] - expected) <= config.tolerance:
        return Judgement("arithmetic", "pass", f"{expression} = {_fmt(expected)} found in the answer")
    return Judgement("arithmetic", "fail", f"{wanted}; the answer says {_fmt(values[0])}", _excerpt(text))


# ---------------------------------------------------------------- garbage

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
    rep = repetition(text, config.min_repeat_tokens)
    if rep.ratio > config.max_repetition_ratio:
        return Judgement(
            "garbage",
            "fail",
            f"repetition ratio {rep.ratio:.2f} > max_repetition_ratio {config.max_repetition_ratio}: "
            f"{rep.repeated} of {rep.tokens} tokens repeat earlier text (the longest repeat: {rep.length} "
            f"characters from offset {rep.start})",
            _excerpt(text),
        )
    return Judgement(
        "garbage", "pass", f"not garbage (repetition ratio {rep.ratio:.2f}, {distinct} distinct characters)"
    )


# ---------------------------------------------------------------- code_syntax

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(```|\Z)", re.DOTALL)
# a line that starts Python code; prose rarely starts this way, so it is where a run of code may begin
_PY_START = re.compile(r"^[ \t]*(def |class |import |from [\w.]+ import |async def |@\w)")
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


def extract_code(text: str, language: str) -> tuple[str, bool] | None:
    """The first fenced block tagged `language`, else the first untagged one, with whether its fence is
    closed (an unclosed fence runs to the end); None without such a block."""
    blocks = [(m.group(1).lower(), m.group(2), bool(m.group(3))) for m in _FENCE.finditer(text)]
    for tag, body, closed in blocks:
        if _ALIASES.get(tag, tag) == language:
            return body, closed
    for tag, body, closed in blocks:
        if not tag:
            return body, closed
    return None


def _syntax_error(code: str) -> SyntaxError | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError) as exc:  # a NUL byte; nesting too deep for the parser
        return SyntaxError(str(exc) or type(exc).__name__)
    return None


def python_runs(text: str) -> tuple[list[tuple[int, int]], tuple[int, SyntaxError] | None]:
    """The code in a mixed answer: from each line that starts like Python code (def, class, import, from …
    import, async def, @decorator), the longest run of lines that parses (dedented); lines outside the runs
    are prose. Returns the runs as [first, end) line indexes, and the first start line from which nothing
    parses with its error (then the runs found before it)."""
    lines = text.splitlines(keepends=True)
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        if not _PY_START.match(lines[i]):
            i += 1
            continue
        end, first_error = len(lines), None
        while end > i:
            error = _syntax_error(textwrap.dedent("".join(lines[i:end])))
            if error is None:
                break
            first_error = first_error or error
            # a prefix that still holds the line of the error fails on it too: skip those
            end = min(end - 1, i + error.lineno - 1) if error.lineno and error.lineno >= 1 else end - 1
        if end <= i:
            assert first_error is not None
            return runs, (i, first_error)
        runs.append((i, end))
        i = end
    return runs, None


def _python(prompt: str, text: str, fenced: tuple[str, bool] | None) -> Judgement:
    completion = bool(_PY_START.match(prompt))  # "def fibonacci(n):" is continued by the answer
    if fenced is not None:
        code = fenced[0]
        first = _syntax_error(code)
        if first is None or (completion and _syntax_error(prompt + code) is None):
            return Judgement("code_syntax", "pass", "python parses")
        where = f"line {first.lineno} of the fenced block" if first.lineno else "in the fenced block"
        return Judgement("code_syntax", "fail", f"python does not parse: {first.msg} ({where})", _excerpt(code))
    if _syntax_error(text) is None or (completion and _syntax_error(prompt + text) is None):
        return Judgement("code_syntax", "pass", "python parses")
    runs, broken = python_runs(text)
    lines_of = "the answer"
    if completion and (broken is not None or not runs):
        with_prompt = python_runs(prompt + text)
        if with_prompt[0] and with_prompt[1] is None:
            runs, broken, lines_of = *with_prompt, "prompt + answer"
    if broken is not None:
        line, error = broken
        where = f"line {line + error.lineno}" if error.lineno else f"from line {line + 1}"
        lines = text.splitlines(keepends=True)
        return Judgement(
            "code_syntax",
            "fail",
            f"python does not parse: {error.msg} ({where} of the answer)",
            _excerpt(text, len("".join(lines[:line]))),
        )
    if not runs:
        return Judgement("code_syntax", "fail", "no python code in the answer", _excerpt(text))
    shown = ", ".join(f"{a + 1}–{b}" if b > a + 1 else f"{a + 1}" for a, b in runs)
    return Judgement("code_syntax", "pass", f"python parses (lines {shown} of {lines_of}; the rest is prose)")


def _checked(language: str, code: str, checker: list[str]) -> Judgement:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"answer.{language}"
        source.write_text(code)
        result = run_process([a.replace("{file}", str(source)) for a in checker], timeout_s=60)
    if result.ok:
        return Judgement("code_syntax", "pass", f"{language} accepted by {checker[0]}")
    detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip().splitlines()
    why = result.spawn_error or (detail[0][:200] if detail else f"exit code {result.exit_code}")
    return Judgement("code_syntax", "fail", f"{language} rejected by {checker[0]}: {why}", _excerpt(code))


def code_syntax(
    prompt: PromptSpec, text: str, config: CodeSyntaxOracle, *, truncated: bool = False, programs: bool = True
) -> Judgement:
    """`truncated`: the engine stopped at max_tokens, so code that does not parse may only be cut off — not
    judged, unless it is a closed fenced block. `programs`: False when the checkers come from evidence (data,
    never instructions): a language that needs one is "external"."""
    language = _language(prompt.prompt, text, config.languages)
    if language is None:
        return Judgement("code_syntax", "not_judged", f"no code in {', '.join(config.languages)} was asked for")
    fenced = extract_code(text, language)
    if language == "python":
        judged = _python(prompt.prompt, text, fenced)
    else:
        checker = config.checkers.get(language)
        if checker is None:
            return Judgement("code_syntax", "not_judged", f"no checker declared for {language}")
        if not programs:
            return Judgement("code_syntax", "external", f"{language} is judged by a program")
        judged = _checked(language, fenced[0] if fenced is not None else text, checker)
    if judged.verdict == "fail" and truncated and not (fenced is not None and fenced[1]):
        reason = f"the answer was cut off at max_tokens, so its code may be incomplete ({judged.reason})"
        return Judgement("code_syntax", "not_judged", reason, judged.excerpt)
    return judged


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


def composite(
    prompt: PromptSpec, text: str, oracles: OracleSet, *, truncated: bool = False, programs: bool = True
) -> list[Judgement]:
    """Every applicable oracle's judgement, in order; the caller takes the first "fail" as the verdict.
    A prompt's `oracles:` selects among arithmetic, garbage and code_syntax; its golden expectations
    (expected_prefix, must_contain, must_not_contain) are checked whenever it declares any.
    `truncated`: the engine stopped at max_tokens, `programs`: checkers may run (see code_syntax)."""
    chosen = set(prompt.oracles) if prompt.oracles is not None else None

    def wanted(name: str) -> bool:
        return chosen is None or name in chosen

    judgements = []
    if oracles.garbage is not None and wanted("garbage"):
        judgements.append(garbage(text, oracles.garbage))
    if oracles.arithmetic is not None and wanted("arithmetic"):
        judgements.append(arithmetic(prompt, text, oracles.arithmetic))
    if oracles.code_syntax is not None and wanted("code_syntax"):
        judgements.append(code_syntax(prompt, text, oracles.code_syntax, truncated=truncated, programs=programs))
    # a declared expectation is always enforced: leaving golden out of `oracles:` must not silence it
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
