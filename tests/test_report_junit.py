"""junit.xml: valid against the common JUnit schema, parsed by junitparser with the counts the evidence has."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import report_fixtures as fx
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from aprqa_action.records import Evidence, EvidenceItem
from aprqa_action.report import render_junit

XSD = xmlschema.XMLSchema(Path(__file__).parent / "junit.xsd")
SETS: list[Callable[[], Evidence]] = [fx.qualified, fx.blocked, fx.partially_skipped, fx.hostile]


def parsed(evidence: Evidence) -> JUnitXml:
    return JUnitXml.fromstring(render_junit(evidence))


def suites(evidence: Evidence) -> dict[str, TestSuite]:
    return {s.name: s for s in parsed(evidence)}


@pytest.mark.parametrize("build", SETS, ids=lambda f: f.__name__)
def test_junit_is_valid_against_the_schema(build: Callable[[], Evidence]) -> None:
    XSD.validate(render_junit(build()))


def test_the_schema_rejects_what_the_tools_would_not_read() -> None:
    text = render_junit(fx.blocked())
    XSD.validate(text)
    assert not XSD.is_valid(text.replace("<testsuite ", '<testsuite disabled="0" ', 1))
    assert not XSD.is_valid(text.replace('time="0.000"', 'time="soon"', 1))
    assert not XSD.is_valid(text.replace("<testcase ", "<testcase ", 1).replace(' name="G0-INTEGRITY gguf"', "", 1))
    # junit-10.xsd counts skipped tests per <testsuite> only; a root `skipped` is not the standard layout.
    assert not XSD.is_valid(text.replace("<testsuites ", '<testsuites skipped="0" ', 1))


def test_the_root_carries_no_skipped_count() -> None:
    root = ET.fromstring(render_junit(fx.partially_skipped()))
    assert root.tag == "testsuites" and "skipped" not in root.attrib
    assert sorted(root.attrib) == ["errors", "failures", "name", "tests", "time"]
    assert sum(int(suite.get("skipped", "0")) for suite in root) > 0  # the counts are still there, per suite


@pytest.mark.parametrize("build", SETS, ids=lambda f: f.__name__)
def test_counts_match_the_evidence_items(build: Callable[[], Evidence]) -> None:
    evidence = build()
    report = parsed(evidence)
    outcomes = [i.outcome for i in evidence.items]
    assert report.tests == len(outcomes)
    assert report.failures == outcomes.count("Falsified")
    assert report.errors == outcomes.count("Crashed") + outcomes.count("Timeout")
    assert sum(s.skipped for s in report) == outcomes.count("Skipped")  # per suite: the root has no count
    assert sum(s.tests for s in report) == report.tests
    for suite in report:
        results = [type(r) for case in suite for r in case.result]
        assert suite.failures == results.count(Failure)
        assert suite.errors == results.count(Error)
        assert suite.skipped == results.count(Skipped)


def test_blocked_run_suites_by_hand() -> None:
    found = suites(fx.blocked())
    # G0 per file; per scenario G1, G3, G2 + oracles when answered; G1 + G3 when crashed or timed out.
    assert {name: (s.tests, s.failures, s.errors, s.skipped) for name, s in found.items()} == {
        "gguf (model file)": (1, 0, 0, 0),
        "gguf/cpu/run": (10, 4, 0, 0),  # 2 loops × (G1, G3, G2, garbage ✗, arithmetic ✗)
        "gguf/cpu/chat": (6, 0, 1, 0),  # 1 answer × 4, 1 timeout × 2
        "gguf/cpu/serve": (4, 1, 1, 0),  # 1 crash × 2, 1 never-ready × 2 (G1 ✗)
    }
    report = parsed(fx.blocked())
    assert (report.tests, report.failures, report.errors) == (21, 5, 2)
    assert sum(s.skipped for s in report) == 0
    # Wall time of all six scenarios: 3.135 + 3.257 + 0.856 + 60 + 1.8 + 30 seconds.
    assert report.time == pytest.approx(99.048, abs=0.002)
    assert sum(s.time for s in report) == pytest.approx(report.time, abs=0.005)


def _case(evidence: Evidence, suite: str, name: str) -> TestCase:
    return next(c for c in suites(evidence)[suite] if c.name == name)


def test_outcomes_map_to_failure_error_and_skipped() -> None:
    blocked = fx.blocked()
    loop = _case(blocked, "gguf/cpu/run", "F-QUAL-GARBAGE gemma3-270m-base-gate:run:cpu:gguf:000")
    assert loop.classname == "aprqa.gemma3-270m-base-gate.gguf/cpu/run"
    [failure] = loop.result
    assert isinstance(failure, Failure)
    assert (failure.message, failure.type, failure.text) == (fx.GARBAGE_REASON, "F-QUAL-GARBAGE", fx.LOOP)
    crash = _case(blocked, "gguf/cpu/serve", "G3-STABILITY gemma3-270m-base-gate:serve:cpu:gguf:000")
    [error] = crash.result
    assert isinstance(error, Error)
    assert (error.message, error.type, error.text) == ("killed by SIGSEGV", "Crashed", fx.CRASH_TAIL)
    timeout = _case(blocked, "gguf/cpu/chat", "G3-STABILITY gemma3-270m-base-gate:chat:cpu:gguf:001")
    assert isinstance(timeout.result[0], Error) and timeout.result[0].type == "Timeout"
    passed = _case(blocked, "gguf/cpu/chat", "G2-INFERENCE gemma3-270m-base-gate:chat:cpu:gguf:000")
    assert passed.result == []

    partial = fx.partially_skipped()
    gpu = _case(partial, "gguf/gpu/chat", "G1-LOAD smollm2-135m-ci:chat:gpu:gguf:001")
    [skipped] = gpu.result
    assert isinstance(skipped, Skipped) and skipped.message == fx.NO_GPU
    apr = _case(partial, "apr (model file)", "G0-INTEGRITY apr")
    assert isinstance(apr.result[0], Skipped) and apr.classname == "aprqa.smollm2-135m-ci.apr"
    perf = suites(partial)["gguf/gpu/run (profile_ci)"]
    assert [c.name for c in perf] == ["F-PERF-TPS-GPU gguf/gpu/run"]
    assert next(iter(perf)).classname == "aprqa.smollm2-135m-ci.gguf/gpu/run/profile_ci"


def test_suites_are_files_then_cells_then_profiles() -> None:
    assert list(suites(fx.partially_skipped())) == [
        "gguf (model file)",
        "apr (model file)",
        "gguf/cpu/run",
        "apr/cpu/run",
        "gguf/gpu/run",
        "apr/gpu/run",
        "gguf/cpu/chat",
        "apr/cpu/chat",
        "gguf/gpu/chat",
        "apr/gpu/chat",
        "gguf/cpu/run (profile_ci)",
        "gguf/gpu/run (profile_ci)",
    ]


def test_every_suite_carries_the_verdict() -> None:
    for suite in parsed(fx.blocked()):
        props = {p.name: p.value for p in suite.properties()}
        assert props["aprqa.mqs"] == "0"
        assert props["aprqa.grade"] == "F"
        assert props["aprqa.status"] == "BLOCKED"
        assert props["aprqa.qualified"] == "false"
        assert props["aprqa.gateway.G0"] == "passed: integrity"
        assert props["aprqa.gateway.G1"] == "failed: load"
        assert props["aprqa.gateway.G3.reason"] == "gemma3-270m-base-gate:serve:cpu:gguf:000: killed by SIGSEGV"
    qualified = {p.name: p.value for p in next(iter(parsed(fx.qualified()))).properties()}
    assert (qualified["aprqa.mqs"], qualified["aprqa.grade"], qualified["aprqa.status"]) == ("700", "C-", "PROVISIONAL")


def test_output_xml_cannot_carry_is_made_visible() -> None:
    evidence = fx.blocked()
    dirty = "\x1b[31mred\x1b[0m \x00 nul \ud800 surrogate \ufffe"
    items = [
        i.model_copy(update={"excerpt": dirty, "reason": "bad\x07bell"}) if i.outcome == "Falsified" else i
        for i in evidence.items
    ]
    text = render_junit(evidence.model_copy(update={"items": items}))
    XSD.validate(text)
    text.encode("utf-8")  # no lone surrogate survived
    failure = next(r for s in JUnitXml.fromstring(text) for c in s for r in c.result if isinstance(r, Failure))
    assert failure.text == "\u241b[31mred\u241b[0m \u2400 nul \ufffd surrogate \ufffd"
    assert failure.message == "bad\u2407bell"


def test_a_falsification_without_reason_or_excerpt_still_fails() -> None:
    evidence = fx.blocked()
    bare = EvidenceItem(id="F-QUAL-GOLDEN:x", gate_id="F-QUAL-GOLDEN", category="QUAL", outcome="Falsified", reason="")
    report = JUnitXml.fromstring(render_junit(evidence.model_copy(update={"items": [bare]})))
    assert (report.tests, report.failures) == (1, 1)
    assert next(iter(next(iter(report)))).result[0].message == "Falsified"


def test_long_excerpts_are_clipped_in_junit() -> None:
    evidence = fx.synthetic(18, excerpt_chars=10_000)
    failure = next(r for s in parsed(evidence) for c in s for r in c.result if isinstance(r, Failure))
    assert failure.text.endswith("\n… (6,000 more characters in evidence.json)")
    assert len(failure.text) == 4_000 + len("\n… (6,000 more characters in evidence.json)")


@pytest.mark.parametrize("build", [*SETS, lambda: fx.blocked().model_copy(update={"items": []})], ids=str)
def test_the_document_written_suite_by_suite_is_the_whole_tree_indented(build: Callable[[], Evidence]) -> None:
    # JUnit is written one suite at a time (a large run's excerpts are tens of MB): what comes out must be what
    # ElementTree writes for the whole document indented at once, the layout the report tools were tested on.
    text = render_junit(build())
    declaration = '<?xml version="1.0" encoding="utf-8"?>\n'
    assert text.startswith(declaration) and text.endswith("\n")
    root = ET.fromstring(text)
    ET.indent(root, space="  ")
    assert text == declaration + ET.tostring(root, encoding="unicode") + "\n"


def test_write_reports_writes_the_rendered_document(tmp_path: Path) -> None:
    from aprqa_action.report import write_reports

    evidence = fx.hostile()
    written = write_reports(evidence, tmp_path)
    assert written["junit"].read_text(encoding="utf-8") == render_junit(evidence)
