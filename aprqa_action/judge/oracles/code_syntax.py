"""The code_syntax oracle: does the code the prompt asks for parse?

code_syntax: applies when the prompt names one of the configured languages, starts like Python code ("def ",
"class ", "import "), or the answer has a fence tagged with one; the code is the first fenced block (an
unclosed fence runs to the end); without one, Python is the whole answer if it parses, else every run of lines
starting at a code-looking line (def, class, import, from … import, @decorator) taken as long as it parses —
the rest is prose. Python is parsed with `ast` (also prompt + answer for completion prompts like "def f(n):");
other languages by the checker declared for them (argv with "{file}", exit 0 = valid), else not judged. An
answer cut off at max_tokens whose code does not parse is not judged (unless its code is a closed fenced
block).
"""

from __future__ import annotations

import ast
import re
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from aprqa_action.checks import Judgement, Oracle, register_oracle
from aprqa_action.execute.process import run_process
from aprqa_action.judge.items import excerpt
from aprqa_action.records import Record

if TYPE_CHECKING:
    from aprqa_action.playbook.prompts import PromptSpec


class CodeSyntaxOracle(Record):
    languages: list[Annotated[str, Field(pattern=r"^[a-z0-9+#.-]+$")]] = Field(
        default_factory=lambda: ["python"], min_length=1
    )
    checkers: dict[str, Annotated[list[str], Field(min_length=1)]] = Field(
        default_factory=dict,
        description='argv per language, "{file}" is the code; exit 0 = valid (python needs none: ast)',
    )


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
        return Judgement("code_syntax", "fail", f"python does not parse: {first.msg} ({where})", excerpt(code))
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
            excerpt(text, len("".join(lines[:line]))),
        )
    if not runs:
        return Judgement("code_syntax", "fail", "no python code in the answer", excerpt(text))
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
    return Judgement("code_syntax", "fail", f"{language} rejected by {checker[0]}: {why}", excerpt(code))


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
    if judged.decision == "fail" and truncated and not (fenced is not None and fenced[1]):
        reason = f"the answer was cut off at max_tokens, so its code may be incomplete ({judged.reason})"
        return Judgement("code_syntax", "not_judged", reason, judged.excerpt)
    return judged


register_oracle(
    Oracle(
        "code_syntax",
        "F-QUAL-CODE",
        CodeSyntaxOracle,
        lambda answer, config: code_syntax(
            answer.prompt, answer.text, config, truncated=answer.truncated, programs=answer.programs
        ),
    )
)
