"""JUnit XML (`junit.xml`) for the test-report tools CI users already have.

dorny/test-reporter, mikepenz/action-junit-report, EnricoMi/publish-unit-test-result-action and Jenkins
read the common JUnit shape: a `<testsuites>` root with tests/failures/errors/time, `<testsuite>`s with
those counts and `skipped`, `<properties>`, and `<testcase>`s holding at most one `<failure>`, `<error>` or
`<skipped>`. Suites and cases are built with `junit-xml`; the document root is assembled here because
`junit-xml` writes a `disabled` count where these tools expect `skipped`, and no time on cases it has no
duration for.

Layout: one testsuite per matrix cell (format/backend/modality), one per model file for file-level items
(G0 integrity, tensor contracts: their cell is the format), one per profile cell for the performance
assertions (their cell is format/backend/run, so their suite is `…/run (profile_ci)`), and one for items that
name no cell. One testcase per evidence item: name `<gate id> <scenario id>` (or `<gate id> <cell>`),
classname `aprqa.<playbook>.<cell>` — the cell keeps its slashes, so the tools that split a classname at its
last dot still show the cell as the class. Falsified → <failure>, Crashed / Timeout → <error>, Skipped →
<skipped>; the message is the reason (prefixed `not gating:` for a scored check that cannot fail a gateway)
and the text the excerpt that was judged. Every suite carries the verdict as properties (MQS, grade, status,
qualified, the verdict's headline, each gateway's result and reason).
"""

from __future__ import annotations

import gc
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from junit_xml import TestCase, TestSuite  # type: ignore[import-untyped]

from aprqa_action.records import Evidence, EvidenceItem
from aprqa_action.report.escape import visible
from aprqa_action.score.gateways import gates

EXCERPT_LIMIT = 4_000  # characters of an excerpt in a <failure> / <error>; real excerpts are about 300


@dataclass
class _Suite:
    name: str
    classname: str
    items: list[EvidenceItem] = field(default_factory=list)


def _xml(text: str) -> str:
    """XML 1.0 cannot carry most control characters or lone surrogates at all: make them visible instead."""
    return visible(text)


def clip_excerpt(text: str) -> str:
    """A report tool shows the failure text inline; the whole excerpt stays in evidence.json."""
    if len(text) <= EXCERPT_LIMIT:
        return text
    return f"{text[:EXCERPT_LIMIT]}\n… ({len(text) - EXCERPT_LIMIT:,} more characters in evidence.json)"


def _suite_key(item: EvidenceItem) -> tuple[int, str, str]:
    """(kind, suite name, classname suffix); kind orders files, matrix cells, profile cells, the rest."""
    cell = item.cell
    if cell and (item.scenario_id is not None or item.category == "EDGE"):  # F-EDGE-LEAK judges a whole cell
        return (1, cell, cell)
    if cell and item.category == "PERF":
        return (2, f"{cell} (profile_ci)", f"{cell}/profile_ci")
    if cell and "/" not in cell:
        return (0, f"{cell} (model file)", cell)
    if cell:
        return (2, cell, cell)
    return (3, "run", "run")


def _properties(evidence: Evidence) -> dict[str, str]:
    props = {
        "aprqa.playbook": evidence.playbook.name,
        "aprqa.playbook.version": evidence.playbook.version,
        "aprqa.engine": evidence.engine.name,
        "aprqa.engine.version": evidence.engine.version or "unknown",
        "aprqa.run.state": evidence.run.state,
    }
    v = evidence.verdict
    if v is None:
        return props | {"aprqa.status": "NOT JUDGED"}
    props |= {
        "aprqa.mqs": str(v.mqs),
        "aprqa.grade": v.grade,
        "aprqa.status": v.status,
        "aprqa.qualified": "true" if v.qualified else "false",
        "aprqa.verdict": v.headline,
    }
    for gate in v.gateways:
        props[f"aprqa.gateway.{gate.id}"] = f"{'passed' if gate.passed else 'failed'}: {gate.name}"
        props[f"aprqa.gateway.{gate.id}.reason"] = gate.reason
    return {name: _xml(value) for name, value in props.items()}


def _case(item: EvidenceItem, classname: str, seconds: float) -> TestCase:
    """`classname` is escaped already: it is the same for the whole suite."""
    subject = item.scenario_id or item.cell or item.id
    case = TestCase(name=_xml(f"{item.gate_id} {subject}"), classname=classname, elapsed_sec=seconds)
    # junit-xml drops a result with neither message nor text, which would turn a failure into a pass.
    message = _xml(item.reason) or item.outcome
    if item.outcome == "Falsified" and not gates(item):  # as the reports label it
        message = f"not gating: {message}"
    text = _xml(clip_excerpt(item.excerpt)) if item.excerpt else None
    if item.outcome == "Falsified":
        case.add_failure_info(message=message, output=text, failure_type=item.gate_id)
    elif item.outcome in ("Crashed", "Timeout"):
        case.add_error_info(message=message, output=text, error_type=item.outcome)
    elif item.outcome == "Skipped":
        case.add_skipped_info(message=message)
    return case


def _times(evidence: Evidence) -> dict[str, float]:
    """Seconds per item id. A scenario's wall time is shared by the items that judged it, and a profile cell's
    warmup and measure runs by its performance assertions, so case, suite and run totals all add up to the
    time the engine actually ran."""
    seconds = {o.scenario_id: (o.duration_ms or 0.0) / 1000 for o in evidence.observations}
    profile: dict[str, float] = {}
    for s in evidence.scenarios:
        if s.purpose in ("warmup", "measure"):
            cell = s.cell_name  # profile_ci runs are run-modality scenarios
            profile[cell] = profile.get(cell, 0.0) + seconds.get(s.id, 0.0)
    sources: dict[str, list[str]] = {}
    spent: dict[str, float] = {}
    for item in evidence.items:
        if item.scenario_id is not None:
            source, total = item.scenario_id, seconds.get(item.scenario_id, 0.0)
        elif item.category == "PERF" and item.cell is not None:
            source, total = f"profile:{item.cell}", profile.get(item.cell, 0.0)
        else:
            continue
        sources.setdefault(source, []).append(item.id)
        spent[source] = total
    return {ident: spent[source] / len(ids) for source, ids in sources.items() for ident in ids}


@contextmanager
def paused_gc() -> Iterator[None]:
    """Rendering allocates a few objects per evidence item, none of them cyclic; with 50,000 items alive the
    cyclic collector would rescan the heap over and over for nothing (a third of the render time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render_junit(evidence: Evidence) -> str:
    """The JUnit XML document of `evidence` (UTF-8 text, with an XML declaration)."""
    out = io.StringIO()
    write_junit(evidence, out)
    return out.getvalue()


def write_junit(evidence: Evidence, out: TextIO) -> None:
    """`render_junit`'s document, written one suite at a time: with 10,000 scenarios of hostile 2,000-character
    excerpts, the whole tree and its text at once took 140 MB more than the evidence itself."""
    with paused_gc():
        _write(evidence, out)


def _suites(evidence: Evidence) -> list[_Suite]:
    suites: dict[tuple[int, str, str], _Suite] = {}
    playbook = evidence.playbook.name
    for item in evidence.items:
        key = _suite_key(item)
        if key not in suites:
            suites[key] = _Suite(name=key[1], classname=f"aprqa.{playbook}.{key[2]}")
        suites[key].items.append(item)
    return [suites[k] for k in sorted(suites, key=lambda k: k[0])]  # stable: plan order within a kind


def _write(evidence: Evidence, out: TextIO) -> None:
    ordered = _suites(evidence)
    times = _times(evidence)
    properties = _properties(evidence)
    playbook = evidence.playbook.name
    started = evidence.run.started.isoformat(timespec="seconds")
    # The root's counts are known before any suite is built, so its start tag goes first.
    # No `skipped` on <testsuites>: the common schema (Jenkins xunit junit-10.xsd) counts it per suite only.
    root = ET.Element("testsuites", {"name": _xml(f"aprqa {playbook}")})
    items = [item for suite in ordered for item in suite.items]
    root.set("tests", str(len(items)))
    root.set("failures", str(sum(item.outcome == "Falsified" for item in items)))
    root.set("errors", str(sum(item.outcome in ("Crashed", "Timeout") for item in items)))
    total = sum(sum(times.get(item.id, 0.0) for item in suite.items) for suite in ordered)  # as the suites add
    root.set("time", f"{total:.3f}")
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    if not ordered:
        out.write(ET.tostring(root, encoding="unicode") + "\n")
        return
    root.text = " "  # serialized as `<testsuites …> </testsuites>`: its start tag is the text up to " "
    whole = ET.tostring(root, encoding="unicode")
    out.write(whole[: whole.index("> ") + 1])
    for index, suite in enumerate(ordered):
        classname = _xml(suite.classname)
        cases = [_case(i, classname, times.get(i.id, 0.0)) for i in suite.items]
        built = TestSuite(
            name=_xml(suite.name),
            test_cases=cases,
            hostname=_xml(evidence.run.host.hostname),
            id=str(index),
            package=_xml(f"aprqa.{playbook}"),
            timestamp=started,
            properties=properties,
        ).build_xml_doc()
        built.attrib.pop("disabled", None)  # not part of the common schema; aprqa disables nothing
        built.set("time", f"{sum(case.elapsed_sec for case in cases):.3f}")
        for element, case in zip(built.iter("testcase"), cases, strict=True):
            element.set("time", f"{case.elapsed_sec:.3f}")
        ET.indent(built, space="  ", level=1)  # as ET.indent of the whole document indents it
        out.write("\n  ")
        ET.ElementTree(built).write(out, encoding="unicode")
    out.write("\n</testsuites>\n")
