"""The job summary: Markdown appended to $GITHUB_STEP_SUMMARY, kept under GitHub's 1 MiB per step."""

from __future__ import annotations

from pathlib import Path

from aprqa_action.github.truncate import truncate_lines, utf8_size
from aprqa_action.report.limits import SUMMARY_LIMIT


def summary_note(full_report: str) -> str:
    return (
        "\n> [!WARNING]\n"
        "> This summary was truncated to fit GitHub's 1 MiB step-summary limit. "
        f"The full report is {full_report}.\n"
    )


def append_summary(path: Path, markdown: str, full_report: str, limit: int = SUMMARY_LIMIT) -> bool:
    """Appends `markdown` to the step summary file; returns whether it had to be truncated.

    The limit is for the whole step, so what an earlier command of this step wrote counts too.
    """
    existing = path.stat().st_size if path.exists() else 0
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    text, truncated = truncate_lines(text, limit - existing, summary_note(full_report), measure=utf8_size)
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return truncated
