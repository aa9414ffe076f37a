"""EDGE on the real engine and models: the certifiable demo playbook end to end (once per session), and the
Gemma-3 base model (no chat template) leaking ChatML's end token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, aprqa, write_playbook

from aprqa_action.judge.protocol import GATES
from aprqa_action.records import Evidence
from aprqa_action.store.evidence import EVIDENCE_FILE, read_evidence

pytestmark = pytest.mark.engine
CERTIFY = ROOT / "playbooks" / "examples" / "smollm2-135m-certify.playbook.yaml"
# What llama-cpp-python's own server (0.3.x, the reference engine's GGUF serve) gets wrong — real failures of
# the engine under test, the only EDGE failures here; the SafeTensors server passes them all:
KNOWN = {
    # a prompt over the context window, streamed: 200 and an event stream with no event at all (no error, no
    # [DONE]); without streaming it answers a proper 400
    "F-EDGE-OVER-CONTEXT": "an empty 200 (the event stream ended without data: [DONE] and without an error)",
    "F-EDGE-IN-CONTEXT": "an empty 200 (the event stream ended without data: [DONE] and without an error)",
    "F-HTTP-MALFORMED": "a body that is not JSON was answered 500, not a 4xx",  # text/plain "Internal Server Error"
    "F-HTTP-EMPTY-MESSAGES": "an empty messages list was answered 200, not a 4xx",  # it completes nothing
    "F-HTTP-WRONG-TYPES": "wrongly typed fields was answered 500, not a 4xx",  # its validation error, as a 500
}


@pytest.fixture(scope="session")
def certify_run(tmp_path_factory: pytest.TempPathFactory, smollm2: Path) -> tuple[Evidence, Path]:
    out = tmp_path_factory.mktemp("certify-run")
    done = aprqa("run", CERTIFY, "--model-path", smollm2, "--output-dir", out, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return read_evidence(out / EVIDENCE_FILE), out


def test_the_certifiable_demo_is_certified(certify_run: tuple[Evidence, Path]) -> None:
    evidence, _ = certify_run
    verdict = evidence.verdict
    assert verdict is not None
    assert (verdict.status, verdict.all_cells_executed) == ("CERTIFIED", True), verdict.status_reason
    assert verdict.mqs >= 900
    scores = {c.category: c for c in verdict.categories}
    assert all(c.measured for c in scores.values())  # every category, EDGE too
    assert (scores["REGR"].passed, scores["REGR"].judged) == (9, 9)  # parity in run, chat and serve alike


def test_every_edge_check_passes_but_the_engines_real_failures(certify_run: tuple[Evidence, Path]) -> None:
    evidence, _ = certify_run
    edge = [i for i in evidence.items if i.category == "EDGE"]
    failed = {i.gate_id: i for i in edge if i.outcome != "Corroborated"}
    assert set(failed) == set(KNOWN), {k: v.reason for k, v in failed.items()}
    for gate, item in failed.items():
        assert item.outcome == "Falsified" and item.cell == "gguf/cpu/serve"
        assert item.reason.startswith(KNOWN[gate])
    assert len([i for i in edge if i.outcome != "Corroborated"]) == len(KNOWN)  # once each
    gates = {i.gate_id for i in edge}
    assert {"F-EDGE-LEAK", "F-DET-REPEAT", "F-DET-ISOLATION", "F-EDGE-UNICODE", "F-EDGE-MAX-TOKENS-HUGE"} <= gates
    assert {g for g in gates if g.startswith("F-HTTP-")} == set(GATES.values())  # every protocol probe
    # the same refusal without streaming, from the SafeTensors server: a 400 with a JSON error
    over = next(i for i in edge if i.id.endswith("serve:cpu:safetensors:over-context"))
    assert (over.outcome, over.reason) == ("Corroborated", "refused cleanly: HTTP 400 with a JSON error")


def test_edge_is_in_every_report(certify_run: tuple[Evidence, Path]) -> None:
    _, out = certify_run
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    case = 'name="F-EDGE-OVER-CONTEXT smollm2-135m-certify:edge:serve:cpu:gguf:over-context"'
    assert case in junit and "<failure" in junit[junit.index(case) :].split("</testcase>", 1)[0]
    for report in ("summary.md", "comment.md"):
        text = (out / report).read_text(encoding="utf-8")
        assert "EDGE" in text and "CERTIFIED" in text
    assert "F-EDGE-OVER-CONTEXT" in (out / "summary.md").read_text(encoding="utf-8")  # a failure is named
    schema = json.loads((ROOT / "aprqa_action" / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
    assert "EDGE" in json.dumps(schema) and "facts" in json.dumps(schema)


def test_a_base_model_without_a_template_leaks_chatml(tmp_path: Path, gemma_base: Path) -> None:
    playbook = write_playbook(
        tmp_path / "gemma.yaml",
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "scenario_count": 1, "max_tokens": 32},
        edge={"boundary": [], "determinism": False, "protocol": False},
    )
    done = aprqa("run", playbook, "--model-path", gemma_base, "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    evidence = read_evidence(tmp_path / "out" / EVIDENCE_FILE)
    [leak] = [i for i in evidence.items if i.gate_id == "F-EDGE-LEAK"]
    assert leak.outcome == "Falsified"
    assert leak.reason.startswith("<|im_end|> in the answer of t:run:cpu:gguf:000 at offset ")
    assert "<|im_end|>" in (leak.excerpt or "")
