"""Reports of a real run: the demo playbook on SmolLM2-135M through the real CLI, once per session."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import xmlschema
from conftest import DEMO, ROOT, aprqa
from junitparser import JUnitXml
from markdown_it import MarkdownIt

from aprqa_action.report import report_from_file
from aprqa_action.report.limits import COMMENT_BUDGET, SUMMARY_LIMIT
from aprqa_action.report.schema import schema_errors
from aprqa_action.store.evidence import EVIDENCE_FILE, read_evidence

pytestmark = pytest.mark.engine
SAMPLE = ROOT / "docs" / "sample" / "evidence.json"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> Path:
    """evidence.json of one real `aprqa run` of the demo playbook (CPU cells run, GPU cells are skipped here)."""
    out = tmp_path_factory.mktemp("demo-run")
    done = aprqa("run", DEMO, "--model-path", smollm2, "--output-dir", out)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out / EVIDENCE_FILE


def test_real_evidence_validates_against_the_schema(demo_run: Path) -> None:
    assert schema_errors(json.loads(demo_run.read_text(encoding="utf-8"))) == []


def test_real_evidence_renders_every_report(demo_run: Path, tmp_path: Path) -> None:
    evidence = read_evidence(demo_run)
    written = report_from_file(demo_run, tmp_path, run_url="https://github.com/o/r/actions/runs/1")

    junit = written["junit"].read_text(encoding="utf-8")
    xmlschema.XMLSchema(Path(__file__).parent / "junit.xsd").validate(junit)
    report = JUnitXml.fromstring(junit)
    outcomes = [i.outcome for i in evidence.items]
    assert (report.tests, report.failures, report.skipped) == (
        len(outcomes),
        outcomes.count("Falsified"),
        outcomes.count("Skipped"),
    )

    summary = written["summary"].read_text(encoding="utf-8")
    comment = written["comment"].read_text(encoding="utf-8")
    assert len(summary.encode()) <= SUMMARY_LIMIT and len(comment) <= COMMENT_BUDGET
    assert summary.startswith("## 🟢 QUALIFIED · smollm2-135m-demo\n")
    html = MarkdownIt("commonmark").enable("table").render(summary)
    gateways = html[html.index("<h3>Gateways</h3>") :]
    body = gateways[: gateways.index("</table>")]
    assert re.findall(r"<tr>\s*<td>(G\d) ", body) == ["G0", "G1", "G2", "G3", "G4"]
    matrix = html[html.index("<h3>Cell matrix</h3>") :]
    rows = re.findall(r"<tr>(.*?)</tr>", matrix[: matrix.index("</table>")], flags=re.S)
    assert len(rows) == 1 + 12  # run, chat, serve × cpu, gpu × gguf, safetensors


def test_the_documented_demo_result_is_what_a_run_gives(demo_run: Path) -> None:
    # The README's sample comment and numbers are rendered from docs/sample/evidence.json: a fresh run agrees
    fresh, documented = read_evidence(demo_run).verdict, read_evidence(SAMPLE).verdict
    assert fresh is not None and documented is not None
    assert (fresh.mqs, fresh.grade, fresh.status) == (documented.mqs, documented.grade, documented.status)
    scores = {c.category: (c.passed, c.judged) for c in documented.categories}
    assert {c.category: (c.passed, c.judged) for c in fresh.categories} == scores
    assert scores["REGR"] == (10, 10)  # format parity holds in run, chat and serve (9), and the perplexity ratio
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"PROVISIONAL (MQS {documented.mqs}:" in readme
    assert "EDGE scores {} of {}".format(*scores["EDGE"]) in readme
