"""The Markdown reports: the job summary (`summary.md`) and the PR comment (`comment.md`), from Jinja templates.

Both read well in either place: GitHub-flavoured Markdown only, tables, collapsed `<details>` for failure
excerpts, and a Mermaid chart in the summary. Escaping is not left to the template author's memory: the
environment's `finalize` refuses any plain `str` a template tries to print, so every value must pass through
one of the escaping filters (which return `Md`) — a forgotten filter is a render error in the tests, never
raw model output in a PR.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    Undefined,
)
from jinja2.sandbox import SandboxedEnvironment

from aprqa_action.errors import InputError
from aprqa_action.oneline import one_line
from aprqa_action.records import SCHEMA_VERSION, Evidence
from aprqa_action.report import escape
from aprqa_action.report.escape import Md
from aprqa_action.report.limits import (
    COMMENT_BUDGET,
    COMMENT_LADDER,
    SUMMARY_LADDER,
    SUMMARY_LIMIT,
    Limits,
    Measure,
    cut,
    utf8_size,
)
from aprqa_action.report.view import CATEGORY_NAMES, ReportView, build_view, cell_note, pass_rate
from aprqa_action.score.gateways import gates

OUTCOME_BADGES = {
    "Corroborated": "✅ pass",
    "Falsified": "❌ fail",
    "Crashed": "💥 crash",
    "Timeout": "⏱️ timeout",
    "Skipped": "⏭️ skip",
}
NOT_GATING = frozenset({"❌ fail"})  # the badge a scored-only failure shows (a crash always gates: G3)
CELL_BADGES = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭️ skip", "partial": "🟡 partial", "pending": "⏳ pending"}
STATUS_BADGES = {"CERTIFIED": "🏅 CERTIFIED", "PROVISIONAL": "🟡 PROVISIONAL", "BLOCKED": "🔴 BLOCKED"}
CUT_NOTE = (
    "\n> [!WARNING]\n> This report was cut to fit GitHub's size limit. Every result is in `evidence.json`; "
    "`aprqa report evidence.json` renders it again.\n"
)


def _only_escaped(value: Any) -> Any:
    if isinstance(value, Md) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise TypeError(f"report template printed an unescaped {type(value).__name__}: {str(value)[:80]!r}")


def _num(value: float | None, digits: int = 1) -> Md:
    return Md("—" if value is None else f"{value:,.{digits}f}")


def _decimal(value: float) -> Md:
    """A number for Mermaid: no thousands separator, which would split the list."""
    return Md(f"{value:.1f}")


def _count(value: int) -> Md:
    return Md(f"{value:,}")


def _threshold(value: float | None) -> Md:
    return Md("—" if value is None else f"{value:,g}")


def _when(moment: datetime) -> Md:
    return Md(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _duration(seconds: float | None) -> Md:
    if seconds is None:
        return Md("still running")
    if seconds < 120:
        return Md(f"{seconds:.1f} s")
    minutes, secs = divmod(round(seconds), 60)
    return Md(f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min {secs} s")


def _axis_max(values: list[float]) -> Md:
    """A round y-axis maximum a little above the largest bar."""
    top = max(values, default=1.0) * 1.15
    step = 10 ** max(math.floor(math.log10(top)) - 1, 0) if top > 0 else 1
    return Md(f"{math.ceil(top / step) * step:g}")


def _label(text: str) -> Md:
    """A Mermaid axis label: cell names are enum values, but nothing else may close the quotes."""
    return Md("".join(ch for ch in text if ch.isalnum() or ch in "/._-"))


def _url(url: str) -> Md:
    # Percent-encoding spaces, parentheses, quotes and angle brackets keeps the link destination intact.
    return Md(quote(url, safe="/:?#&=%@+,;~-._!*$"))


def _change(delta: Any) -> Md:
    """A metric's change in percent, with 🔻 for a flagged regression and 🔺 for a flagged improvement."""
    if delta.change_pct is None:
        return Md("—")
    mark = {"regression": " 🔻", "improvement": " 🔺"}.get(delta.flagged or "", "")
    return Md(f"{delta.change_pct:+.1f} %{mark}")


def _rate(value: tuple[float, float, float] | None) -> Md:
    if value is None:
        return Md("—")
    rate, low, high = value
    return Md(f"{rate:.0%} ({low:.0%}–{high:.0%})")


def _lookup(table: dict[str, str]) -> Any:
    return lambda key: Md(table.get(str(key), escape.inline(str(key))))


def _badge(table: dict[str, str]) -> Any:
    """A failure's badge, labelled when it is scored but cannot fail a gateway (`gating` false)."""

    def badge(key: object, gating: bool = True) -> Md:
        shown = table.get(str(key), escape.inline(str(key)))
        return Md(shown if gating or shown not in NOT_GATING else f"{shown} (not gating)")

    return badge


def environment(templates: Path | None = None) -> Environment:
    """The Jinja environment of the reports; `templates`: a directory whose files replace the shipped
    templates and partials of the same name (`--templates DIR`)."""
    if templates is not None and not templates.is_dir():
        raise InputError(f"--templates {templates}: not a directory")
    return _environment(str(templates.resolve()) if templates is not None else None)


@cache
def _environment(templates: str | None) -> Environment:
    shipped = PackageLoader("aprqa_action.templates", ".")
    # Sandboxed: a user's template reaches the report's records, never Python's internals through them.
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(templates), shipped]) if templates is not None else shipped,
        autoescape=False,  # HTML autoescaping is the wrong escaping for Markdown; see _only_escaped
        undefined=StrictUndefined,
        finalize=_only_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    ours = dict(
        cell=escape.table_cell,
        inline=escape.inline,
        html=escape.html_text,
        code=escape.code_block,
        num=_num,
        count=_count,
        decimal=_decimal,
        threshold=_threshold,
        when=_when,
        duration=_duration,
        axis_max=_axis_max,
        label=_label,
        url=_url,
        change=_change,
        rate=_rate,
        cell_note=cell_note,
        pass_rate=pass_rate,
        outcome_badge=_badge(OUTCOME_BADGES),
        cell_badge=_badge(CELL_BADGES),
        gates=gates,
        status_badge=_lookup(STATUS_BADGES),
    )
    env.filters.update({name: _defined(f) for name, f in ours.items()})
    return env


def _defined(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter given an undefined name says so (StrictUndefined), instead of failing inside the filter."""

    def checked(value: Any, *args: Any) -> Any:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return function(value, *args)

    return checked


def _check_url(run_url: str | None) -> str | None:
    """The run link is decoration: anything but an http(s) URL is left out rather than failing the report."""
    if run_url is None:
        return None
    parts = urlsplit(run_url)
    return run_url if parts.scheme in ("https", "http") and parts.netloc else None


def check_templates(templates: Path) -> None:
    """Compile every template in the user's directory: a mistake is an error (exit 2) before a run, not
    after it."""
    env = environment(templates)
    for path in sorted(templates.rglob("*.j2")):
        name = path.relative_to(templates).as_posix()
        try:
            env.get_template(name)
        except TemplateError as exc:
            raise InputError(_template_error(templates, exc, name)) from None


def _template_error(templates: Path, exc: Exception, name: str) -> str:
    """`file:line: template error: …`, the file and line where it happened: Jinja's traceback frames are the
    templates' own (a partial's, for an error in a partial)."""
    where = f"{templates / (getattr(exc, 'name', None) or name)}"
    line = getattr(exc, "lineno", None)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if line is None and frames:
        where, line = frames[-1].filename, frames[-1].lineno
    return f"{where}{f':{line}' if line else ''}: template error: {one_line(str(getattr(exc, 'message', None) or exc))}"


def _render(
    name: str, view: ReportView, limits: Limits, run_url: str | None, claim: bool, templates: Path | None
) -> str:
    try:
        return (
            environment(templates)
            .get_template(name)
            .render(
                view=view,
                v=view.verdict,
                ev=view.evidence,
                limits=limits,
                run_url=run_url,
                claim=claim,
                schema_version=SCHEMA_VERSION,
                names=CATEGORY_NAMES,
            )
        )
    except (TemplateError, TypeError) as exc:
        if templates is None:  # ours: a bug, with its traceback
            raise
        raise InputError(_template_error(templates, exc, name)) from None


def _fit(
    name: str,
    view: ReportView,
    ladder: tuple[Limits, ...],
    limit: int,
    measure: Measure,
    run_url: str | None,
    claim: bool,
    templates: Path | None,
) -> str:
    text = ""
    for limits in ladder:
        text = _render(name, view, limits, run_url, claim, templates)
        if measure(text) <= limit:
            return text
    return cut(text, limit, CUT_NOTE, measure)


def render_summary(
    evidence: Evidence,
    run_url: str | None = None,
    *,
    view: ReportView | None = None,
    claim: bool = False,
    templates: Path | None = None,
) -> str:
    """The job summary ($GITHUB_STEP_SUMMARY, `summary.md`): at most 1 MiB of UTF-8 for any evidence.
    `claim`: the evidence was made by code a fork controls, and the report says it is unverified."""
    view = view if view is not None else build_view(evidence)
    url = _check_url(run_url)
    return _fit("summary.md.j2", view, SUMMARY_LADDER, SUMMARY_LIMIT, utf8_size, url, claim, templates)


def render_comment(
    evidence: Evidence,
    run_url: str | None = None,
    *,
    view: ReportView | None = None,
    claim: bool = False,
    templates: Path | None = None,
) -> str:
    """The PR comment (`comment.md`): compact, and short enough for GitHub with the publisher's marker line."""
    view = view if view is not None else build_view(evidence)
    return _fit("comment.md.j2", view, COMMENT_LADDER, COMMENT_BUDGET, len, _check_url(run_url), claim, templates)
