"""Write every report next to `evidence.json`, each file atomically: a reader never sees half a report."""

from __future__ import annotations

from pathlib import Path

from aprqa_action.records import Evidence
from aprqa_action.report.junit import paused_gc, write_junit
from aprqa_action.report.markdown import render_comment, render_summary
from aprqa_action.report.view import build_view
from aprqa_action.store.evidence import EVIDENCE_FILE, read_evidence, write_atomic

JUNIT_FILE = "junit.xml"
SUMMARY_FILE = "summary.md"
COMMENT_FILE = "comment.md"


def write_reports(
    evidence: Evidence, output_dir: Path, run_url: str | None = None, templates: Path | None = None
) -> dict[str, Path]:
    """junit.xml, summary.md and comment.md in `output_dir`; returns {"junit" | "summary" | "comment": path}.
    `templates`: a directory of the user's own Markdown templates (see report.markdown.environment)."""
    output_dir = Path(output_dir)
    with paused_gc():
        view = build_view(evidence)  # aggregated once, shared by both Markdown reports
        rendered = {
            "summary": (SUMMARY_FILE, render_summary(evidence, run_url, view=view, templates=templates)),
            "comment": (COMMENT_FILE, render_comment(evidence, run_url, view=view, templates=templates)),
        }
    # JUnit holds every excerpt (tens of MB on a large run): written as it is made, one suite at a time.
    write_atomic(output_dir / JUNIT_FILE, lambda out: write_junit(evidence, out))
    written = {"junit": output_dir / JUNIT_FILE}
    for kind, (name, text) in rendered.items():
        path = output_dir / name
        write_atomic(path, text)
        written[kind] = path
    return written


def report_from_file(
    evidence_path: Path, output_dir: Path | None = None, run_url: str | None = None, templates: Path | None = None
) -> dict[str, Path]:
    """`aprqa report EVIDENCE [--output-dir DIR]`: the reports again, from evidence.json alone.

    `evidence_path` may be the file or its directory; the reports go next to it unless `output_dir` is given.
    Raises `InputError` for a missing or invalid evidence file.
    """
    path = Path(evidence_path)
    if path.is_dir():
        path = path / EVIDENCE_FILE
    evidence = read_evidence(path)
    return write_reports(evidence, output_dir if output_dir is not None else path.parent, run_url, templates)
