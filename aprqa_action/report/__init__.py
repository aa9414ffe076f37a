"""Reports people read, all rendered from one `Evidence` (so all regenerable from evidence.json alone).

- `render_junit(evidence)`: JUnit XML for dorny/test-reporter, action-junit-report, EnricoMi's publisher, Jenkins.
- `render_summary(evidence, run_url)`: the job summary, ≤ 1 MiB; `render_comment(evidence, run_url)`: the PR
  comment, within GitHub's 65,536 characters with room for the publisher's marker.
- `write_reports(evidence, output_dir, run_url)`: all three files, atomically; `report_from_file(path)` for
  `aprqa report`.
- `aprqa_action.report.schema`: the versioned JSON Schema of evidence.json (`evidence_schema()`,
  `schema_errors(data)`; `python -m aprqa_action.report.schema --write|--check`). Not imported here, so that
  running it as a module does not import it twice.
"""

from aprqa_action.report.junit import render_junit
from aprqa_action.report.markdown import check_templates, render_comment, render_summary
from aprqa_action.report.write import COMMENT_FILE, JUNIT_FILE, SUMMARY_FILE, report_from_file, write_reports

__all__ = [
    "COMMENT_FILE",
    "JUNIT_FILE",
    "SUMMARY_FILE",
    "check_templates",
    "render_comment",
    "render_junit",
    "render_summary",
    "report_from_file",
    "write_reports",
]
