"""The job summary and the PR comment: golden files, tables as rendered HTML, hostile output, size limits.

Golden files live in tests/golden/; after an intended change, regenerate them with
`APRQA_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report_markdown.py` and review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import report_fixtures as fx
from conftest import ROOT
from markdown_it import MarkdownIt

from aprqa_action.judge.cells import cell_results
from aprqa_action.records import Evidence, Observation
from aprqa_action.report import render_comment, render_summary, report_from_file, write_reports
from aprqa_action.report.limits import COMMENT_BUDGET, COMMENT_LIMIT, SUMMARY_LADDER, SUMMARY_LIMIT, cut, utf8_size
from aprqa_action.report.markdown import CUT_NOTE, _fit, environment
from aprqa_action.report.view import build_view, cell_note
from aprqa_action.store.evidence import EVIDENCE_FILE, write_evidence

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("APRQA_UPDATE_GOLDEN") == "1"
RUN_URL = "https://github.com/paiml/apr-qa-action/actions/runs/123456789"
SETS: dict[str, tuple[Callable[[], Evidence], str | None]] = {
    "qualified": (fx.qualified, RUN_URL),
    "blocked": (fx.blocked, RUN_URL),
    "partially-skipped": (fx.partially_skipped, None),
}


def html(markdown: str) -> str:
    """GitHub-like: CommonMark with GFM tables and strikethrough, raw HTML allowed (GitHub sanitises after)."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def tables(rendered: str) -> list[list[list[str]]]:
    """Every table of the rendered HTML as rows of cell texts (header row first)."""
    found = []
    for table in re.findall(r"<table>(.*?)</table>", rendered, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        found.append(
            [
                [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
                for r in rows
            ]
        )
    return found


def table_after(rendered: str, heading: str) -> list[list[str]]:
    """The first table after the <h3> `heading`."""
    start = rendered.index(f"<h3>{heading}</h3>")
    return tables(rendered[start:])[0]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with APRQA_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: review, then APRQA_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", SETS)
def test_summary_matches_its_golden_file(name: str) -> None:
    build, run_url = SETS[name]
    check_golden(f"{name}.summary.md", render_summary(build(), run_url=run_url))


@pytest.mark.parametrize("name", SETS)
def test_comment_matches_its_golden_file(name: str) -> None:
    build, run_url = SETS[name]
    check_golden(f"{name}.comment.md", render_comment(build(), run_url=run_url))


def test_rendering_is_deterministic() -> None:
    assert render_summary(fx.blocked()) == render_summary(fx.blocked())


def test_qualified_summary_tables_have_the_expected_rows() -> None:
    rendered = html(render_summary(fx.qualified(), run_url=RUN_URL))
    assert "<h2>🟢 QUALIFIED · qwen2.5-coder-1.5b-ci</h2>" in rendered
    gateways = table_after(rendered, "Gateways")
    assert gateways[0] == ["gateway", "result", "reason"]
    assert [row[:2] for row in gateways[1:]] == [
        ["G0 integrity", "✅ pass"],
        ["G1 load", "✅ pass"],
        ["G2 inference", "✅ pass"],
        ["G3 stability", "✅ pass"],
        ["G4 quality", "✅ pass"],
    ]
    matrix = table_after(rendered, "Cell matrix")
    assert len(matrix[0]) == 10
    # 3 modalities × 2 backends, 3 scenarios each; the fixture's run/cpu rates are 21.4, 22.1, 22.8.
    assert [row[:7] for row in matrix[1:3]] == [
        ["gguf", "cpu", "run", "✅ pass", "3", "0", "0"],
        ["gguf", "gpu", "run", "✅ pass", "3", "0", "0"],
    ]
    assert matrix[1][7] == "22.1"
    assert len(matrix) == 1 + 6
    categories = table_after(rendered, "Score by category")
    assert [row[1] for row in categories[1:]] == [
        "200.0 / 200",
        "150.0 / 150",
        "200.0 / 200",
        "150.0 / 150",
        "not measured (0 / 150)",
        "not measured (0 / 150)",
    ]
    perf = table_after(rendered, "Performance assertions")
    assert [row[:5] for row in perf[1:]] == [
        ["F-PERF-TPS-CPU", "gguf/cpu", "✅ pass", "21.0 tok/s", "≥ 10 tok/s"],
        ["F-PERF-P99", "gguf/cpu", "✅ pass", "3,106.8 ms", "≤ 8,000 ms"],
        ["F-PERF-TPS-GPU", "gguf/gpu", "✅ pass", "96.4 tok/s", "≥ 60 tok/s"],
        ["F-PERF-P99", "gguf/gpu", "✅ pass", "673.0 ms", "≤ 8,000 ms"],
    ]
    contracts = table_after(rendered, "Contracts and integrity")
    assert [row[0] for row in contracts[1:]] == [
        "G0-INTEGRITY",
        "F-CONTRACT-I2",
        "F-CONTRACT-I3",
        "F-CONTRACT-I4",
        "F-CONTRACT-I5",
    ]
    assert '<a href="https://github.com/paiml/apr-qa-action/actions/runs/123456789">workflow run</a>' in rendered
    assert "xychart-beta" in rendered


def test_blocked_summary_shows_every_failure_collapsed() -> None:
    rendered = html(render_summary(fx.blocked()))
    assert "<h2>🔴 NOT QUALIFIED · gemma3-270m-base-gate</h2>" in rendered
    gateways = table_after(rendered, "Gateways")
    assert [row[1] for row in gateways[1:]] == ["✅ pass", "❌ FAIL", "✅ pass", "❌ FAIL", "❌ FAIL"]
    failures = table_after(rendered, "Failures")
    assert [row[:3] for row in failures[1:]] == [
        ["F-QUAL-ARITH", "❌ fail", "2"],
        ["F-QUAL-GARBAGE", "❌ fail", "2"],
        ["G1-LOAD", "❌ fail", "1"],
        ["G3-STABILITY", "💥 crash", "1"],
        ["G3-STABILITY", "⏱️ timeout", "1"],
    ]
    # One block per failing scenario, most severe first: crash, timeout, load failure, then the two loops.
    summaries = re.findall(r"<summary>(.*?)</summary>", rendered)
    assert [re.sub(r"<[^>]+>", "", s) for s in summaries] == [
        "💥 crash gemma3-270m-base-gate:serve:cpu:gguf:000 · G3-STABILITY",
        "⏱️ timeout gemma3-270m-base-gate:chat:cpu:gguf:001 · G3-STABILITY",
        "❌ fail gemma3-270m-base-gate:serve:cpu:gguf:001 · G1-LOAD",
        "❌ fail gemma3-270m-base-gate:run:cpu:gguf:000 · F-QUAL-GARBAGE, F-QUAL-ARITH",
        "❌ fail gemma3-270m-base-gate:run:cpu:gguf:001 · F-QUAL-GARBAGE, F-QUAL-ARITH",
    ]
    assert rendered.count("<details>") == rendered.count("</details>") == 5
    # The loop's chat tokens are shown as text inside the code block, escaped for HTML.
    assert "&lt;|im_end|&gt;\n&lt;|im_start|&gt;" in rendered


def test_partially_skipped_cells_say_why() -> None:
    rendered = html(render_summary(fx.partially_skipped()))
    matrix = table_after(rendered, "Cell matrix")
    by_cell = {tuple(row[:3]): row for row in matrix[1:]}
    assert len(by_cell) == 8
    assert by_cell[("gguf", "cpu", "run")][3:7] == ["✅ pass", "2", "0", "0"]
    assert by_cell[("gguf", "gpu", "chat")][3:7] == ["⏭️ skip", "0", "0", "2"]
    assert by_cell[("gguf", "gpu", "chat")][9] == by_cell[("apr", "cpu", "run")][9] == "skipped"
    # Why, once, under the headline: the 4 apr cells for want of a file, the 2 gguf gpu cells for want of a GPU.
    [said] = re.findall(r"<li><strong>Not executed:</strong> (.*?)</li>", rendered)
    assert said == (
        "6 of 8 cells (12 scenario(s)) — apr/cpu/run, apr/gpu/run, apr/cpu/chat, apr/gpu/chat: no apr file: none "
        f"beside model.gguf and no *.apr in models/smollm2-135m-ci; gguf/gpu/run, gguf/gpu/chat: {fx.NO_GPU}"
    )
    assert render_comment(fx.partially_skipped()).count(fx.NO_GPU) == 1  # not once per cell
    perf = table_after(rendered, "Performance assertions")
    assert perf[2][:5] == ["F-PERF-TPS-GPU", "gguf/gpu", "⏭️ skip", "—", "≥ 50 tok/s"]
    contracts = table_after(rendered, "Contracts and integrity")
    assert contracts[2][:3] == ["G0-INTEGRITY", "apr", "⏭️ skip"]


def test_comment_is_compact() -> None:
    rendered = html(render_comment(fx.blocked(), run_url=RUN_URL))
    headings = re.findall(r"<h3>(.*?)</h3>", rendered)
    assert headings == ["Gateways", "Cell matrix", "Top failures"]
    matrix = table_after(rendered, "Cell matrix")
    assert matrix[0] == ["cell", "result", "passed", "failed", "skipped", "tok/s", "latency", "note"]
    assert [row[0] for row in matrix[1:]] == ["gguf/cpu/run", "gguf/cpu/chat", "gguf/cpu/serve"]
    assert '<a href="https://github.com/paiml/apr-qa-action/actions/runs/123456789">the workflow run</a>' in rendered


@pytest.mark.parametrize("render", [render_summary, render_comment])
def test_hostile_output_renders_inert(render: Callable[..., str]) -> None:
    markdown = render(fx.hostile(), run_url=RUN_URL)
    assert not re.search(r"(^|\s)@someone", markdown, flags=re.M)  # no mention anywhere, code included
    rendered = html(markdown)
    assert "<img" not in rendered and "<script" not in rendered
    assert "evil.example" not in "".join(re.findall(r'(?:href|src)="([^"]*)"', rendered))
    # Our <details> only: one per failing scenario, none closed early by an excerpt or a reason.
    assert rendered.count("<details>") == rendered.count("</details>") == 3
    for block in re.findall(r"<details>(.*?)</details>", rendered, flags=re.S):
        assert block.count("<pre><code") == 1
    # Every table keeps its column count, and the hostile reason stays inside its one cell.
    for table in tables(rendered):
        assert {len(row) for row in table} == {len(table[0])}
    gateways = table_after(rendered, "Gateways")
    assert gateways[2][2].startswith("hostile-output:serve:cpu:gguf:000: the server answered 500: Sure @")
    assert gateways[2][2].endswith("&lt;script&gt;alert(2)&lt;/script&gt;")  # text, not an element


def test_every_printed_value_must_be_escaped() -> None:
    template = environment().from_string("{{ value }}")
    with pytest.raises(TypeError, match="unescaped str"):
        template.render(value="<img src=x>")
    assert environment().from_string("{{ value|inline }} {{ n }}").render(value="<b>", n=3) == "&lt;b&gt; 3"


def test_a_certified_run_and_an_unjudged_run_render() -> None:
    base = fx.qualified()
    assert base.verdict is not None
    certified = base.model_copy(update={"verdict": base.verdict.model_copy(update={"status": "CERTIFIED", "mqs": 950})})
    assert "**🏅 CERTIFIED**" in render_summary(certified)
    running = base.model_copy(
        update={"verdict": None, "items": [], "run": base.run.model_copy(update={"state": "running", "ended": None})}
    )
    for text in (render_summary(running), render_comment(running)):
        assert text.startswith("## ⚪ NOT JUDGED · qwen2.5-coder-1.5b-ci\n")
        assert "still running" in text or "Not judged yet." in text


def test_a_cell_cut_short_by_cancellation_is_partial() -> None:
    evidence = fx.qualified()
    victim = next(s for s in evidence.scenarios if s.id.endswith(":run:cpu:gguf:002"))
    observations = [
        Observation(scenario_id=o.scenario_id, status="not_run", reason="not run (cancelled)")
        if o.scenario_id == victim.id
        else o
        for o in evidence.observations
    ]
    items = [i for i in evidence.items if i.scenario_id != victim.id]
    cells = cell_results(evidence.scenarios, observations, items, None)
    cancelled = evidence.model_copy(update={"observations": observations, "items": items, "cells": cells})
    row = next(c for c in build_view(cancelled).cells if c.name == "gguf/cpu/run")
    assert (row.passed, row.skipped, row.result) == (2, 1, "partial")
    assert cell_note(row) == "skipped"
    assert build_view(cancelled).unexecuted == "1 of 6 cells (1 scenario(s)) — gguf/cpu/run: not run (cancelled)"


def test_run_url_is_encoded_and_anything_but_http_is_left_out() -> None:
    text = render_comment(fx.qualified(), run_url="https://example.test/run (1)")
    assert "[the workflow run](https://example.test/run%20%281%29)" in text
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "not a url"):
        assert "workflow run](" not in render_comment(fx.qualified(), run_url=bad)


def test_ten_thousand_scenarios_fit_and_say_what_they_left_out() -> None:
    evidence = fx.synthetic(10_000, fail_every=1, excerpt_chars=2_000)
    view = build_view(evidence)
    summary = render_summary(evidence, view=view)
    comment = render_comment(evidence, view=view)
    assert utf8_size(summary) <= SUMMARY_LIMIT
    assert len(comment) <= COMMENT_BUDGET < COMMENT_LIMIT
    # Every scenario falsified (two oracles each): 50 detailed in the summary, 5 in the comment.
    assert "20,000 evidence item(s) falsified, crashed or timed out, in 10,000 scenario(s) or file(s)." in summary
    assert "… and 9,950 more failures, see `evidence.json`." in summary
    assert "… and 9,995 more failures, see `evidence.json`." in comment
    rendered = html(summary)
    assert len(table_after(rendered, "Cell matrix")) == 1 + 18
    assert rendered.count("<details>") == rendered.count("</details>") == 50
    assert not re.search(r"(^|\s)@someone", summary + comment, flags=re.M)


def test_the_ladder_and_the_final_cut_hold_any_limit() -> None:
    view = build_view(fx.blocked())
    for limit in (20_000, 6_000, 3_000, 600):
        text = _fit("summary.md.j2", view, SUMMARY_LADDER, limit, utf8_size, None, False, None)
        assert utf8_size(text) <= limit
        rendered = html(text)
        assert rendered.count("<details>") == rendered.count("</details>")
        assert rendered.count("<pre><code") == len(re.findall(r"</code></pre>", rendered))
    assert _fit("summary.md.j2", view, SUMMARY_LADDER, 3_000, utf8_size, None, False, None).endswith(CUT_NOTE)


def test_cut_closes_an_open_fence_and_details() -> None:
    text = "# t\n\n<details><summary>s</summary>\n\n````text\n" + "line\n" * 100 + "````\n\n</details>\n"
    out = cut(text, 200, "\nNOTE\n")
    assert len(out) <= 200 and out.endswith("\nNOTE\n")
    assert "````\n" in out[out.index("````text") + 8 :]
    assert out.count("<details>") == out.count("</details>") == 1
    assert cut("short", 200, "NOTE") == "short"


def test_write_reports_and_regenerating_from_evidence_json_agree(tmp_path: Path) -> None:
    evidence = fx.blocked()
    written = write_reports(evidence, tmp_path / "direct", run_url=RUN_URL)
    assert {k: p.name for k, p in written.items()} == {
        "junit": "junit.xml",
        "summary": "summary.md",
        "comment": "comment.md",
    }
    assert written["summary"].read_text(encoding="utf-8") == render_summary(evidence, run_url=RUN_URL)
    assert sorted(p.name for p in (tmp_path / "direct").iterdir()) == ["comment.md", "junit.xml", "summary.md"]
    # A user with only evidence.json gets the same files back.
    write_evidence(tmp_path / "artifact", evidence)
    again = report_from_file(tmp_path / "artifact" / EVIDENCE_FILE, run_url=RUN_URL)
    for kind, path in again.items():
        assert path.parent == tmp_path / "artifact"
        assert path.read_bytes() == written[kind].read_bytes(), kind


def test_a_scored_check_that_cannot_fail_a_gateway_is_labelled_wherever_it_fails() -> None:
    """The demo's real evidence (docs/sample): every gateway passed, and llama-cpp-python's server failed five
    EDGE checks (scored, gating nothing). The reports and JUnit say so; none says just ❌ fail."""
    import xml.etree.ElementTree as ET

    from aprqa_action.report.junit import render_junit
    from aprqa_action.store.evidence import read_evidence

    evidence = read_evidence(ROOT / "docs" / "sample" / "evidence.json")
    assert evidence.verdict is not None and evidence.verdict.headline == "QUALIFIED"
    comment = render_comment(evidence)
    assert "| gguf/cpu/serve | ✅ pass | 3 | 0 | 0 |" in comment  # its matrix scenarios passed
    assert "### Top failures (scored; none can fail a gateway)\n" in comment
    assert "❌ fail (not gating) **F-HTTP-MALFORMED:**" in comment
    assert "| ❌ fail |" not in comment and "❌ fail <" not in comment
    summary = render_summary(evidence)
    assert "None of them can fail a gateway: they are scored, not gating." in summary
    assert "| F-EDGE-OVER-CONTEXT | ❌ fail (not gating) | 1 |" in summary
    root = ET.fromstring(render_junit(evidence))
    failures = list(root.iter("failure"))
    assert len(failures) == 5
    assert all(f.get("message", "").startswith("not gating: ") for f in failures)
    props = {p.get("name"): p.get("value") for p in next(root.iter("properties"))}
    assert props["aprqa.verdict"] == "QUALIFIED"
