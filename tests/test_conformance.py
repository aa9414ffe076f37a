"""The serve protocol (F-HTTP-*) and the other EDGE checks against real stand-in servers that each break one
rule (tests/engines/protocol_standins.py: no model, canned answers, standard library), through the whole `run`
pipeline; and the judgement of protocol facts by hand, hostile facts included. The reference engine passing
them all is tests/test_edge_real.py."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_scenario, write_playbook

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.execute import Executor, render
from aprqa_action.execute.progress import LineReporter
from aprqa_action.execute.server import EngineServer
from aprqa_action.judge.protocol import GATES, judge_probe
from aprqa_action.pipeline import run
from aprqa_action.records import Evidence, RunOptions

STANDIN = Path(__file__).parent / "engines" / "protocol_standins.py"
EDGE = {
    "boundary": ["empty", "max-tokens-1"],
    "concurrency": 3,
    "shutdown_timeout_ms": 2000,
    "max_tokens": 8,
}


def run_standin(tmp_path: Path, model: Path, broken: str) -> Evidence:
    profile = {
        "name": "standin",
        "formats": ["gguf"],
        "serve": {
            "argv": [sys.executable, str(STANDIN), "--port", "{port}", "--break", broken],
            "health": {"path": "/health"},
            "request": {"dialect": "openai-chat", "stream": False},
        },
    }
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={
            "modalities": ["serve"],
            "backends": ["cpu"],
            "scenario_count": 2,
            "timeout_ms": 3000,  # bounds a deadlocked request
            "prompts": ["What is 2+2?", "Name three colors."],
        },
        engine=profile,
        edge=EDGE,
    )
    with (tmp_path / "progress.log").open("w") as log:
        return run(
            RunOptions(playbook=playbook, model_path=model, output_dir=tmp_path / "out"), reporter=LineReporter(log)
        )


@pytest.mark.parametrize(
    ("broken", "fails"),
    [
        ("none", set()),
        ("malformed-500", {"F-HTTP-MALFORMED"}),
        ("crash-empty", {"F-HTTP-EMPTY-MESSAGES"}),
        ("deadlock", {"F-HTTP-CONCURRENT"}),
        ("no-done", {"F-HTTP-SSE"}),
        ("nondeterministic", {"F-DET-ISOLATION"}),  # the same prompt answered differently after another
        ("ignore-sigterm", {"F-HTTP-SHUTDOWN"}),
        ("leak", {"F-EDGE-LEAK"}),
    ],
)
def test_each_standin_fails_exactly_its_check(tmp_path: Path, smollm2: Path, broken: str, fails: set[str]) -> None:
    evidence = run_standin(tmp_path, smollm2, broken)
    edge = [i for i in evidence.items if i.category == "EDGE"]
    assert {i.gate_id for i in edge} == {"F-EDGE-EMPTY", "F-EDGE-MAX-TOKENS-1", "F-DET-ISOLATION", "F-EDGE-LEAK"} | set(
        GATES.values()
    )
    failed = {i.gate_id: i for i in edge if i.outcome != "Corroborated"}
    assert set(failed) == fails, {g: i.reason for g, i in failed.items()}
    crashed = [i for i in evidence.items if i.outcome == "Crashed"]
    if broken == "crash-empty":  # its crash is a crash of the engine: G3 fails, the penalty applies
        assert failed["F-HTTP-EMPTY-MESSAGES"].outcome == "Crashed"
        assert {i.gate_id for i in crashed} == {"F-HTTP-EMPTY-MESSAGES", "G3-STABILITY"}
        assert evidence.verdict is not None and evidence.verdict.crashes == 1
    else:
        assert not crashed
    # no process is left behind: the autouse no_stray_processes fixture checks every child of this test


def test_what_each_break_is_told(tmp_path: Path, smollm2: Path) -> None:
    evidence = run_standin(tmp_path, smollm2, "ignore-sigterm")
    [shutdown] = [i for i in evidence.items if i.gate_id == "F-HTTP-SHUTDOWN"]
    assert shutdown.reason == "SIGTERM did not stop the server within 2000.0 ms (it was killed)"


# --- protocol facts judged by hand --------------------------------------------------------------------------

HEALTHY = {"healthy_after": True, "health_status": 200, "followup_status": 200}


@pytest.mark.parametrize(
    ("name", "facts", "outcome", "reason"),
    [
        (
            "malformed-json",
            {"status": 400, "json_body": True, **HEALTHY},
            "Corroborated",
            "a body that is not JSON: 400 with a JSON error, and the server healthy afterwards",
        ),
        (
            "malformed-json",
            {"status": 500, "json_body": False, "body": "Internal Server Error", **HEALTHY},
            "Falsified",
            "a body that is not JSON was answered 500, not a 4xx: 'Internal Server Error'",
        ),
        (
            "unknown-route",
            {"status": 404, "json_body": False, "body": "nope", **HEALTHY},
            "Falsified",
            "an unknown route was answered 404 without a JSON error body: 'nope'",
        ),
        (
            "empty-messages",
            {"status": 422, "json_body": True, "healthy_after": False, "health_status": None, "followup_status": None},
            "Falsified",
            "an empty messages list was answered 422, but the server is not healthy afterwards (health check None, "
            "a one-token request None)",
        ),
        (
            "wrong-types",
            {"status": None, "error": "ConnectionError: reset"},
            "Falsified",
            "wrongly typed fields: ConnectionError: reset",
        ),
        (
            "stream",
            {"applies": True, "stream_status": 200, "bad_lines": 0, "done": True, "data_lines": 5, "same_text": True},
            "Corroborated",
            "5 data chunk(s) then [DONE]; the same text as without streaming",
        ),
        (
            "stream",
            {"applies": True, "stream_status": 200, "bad_lines": 0, "done": False, "data_lines": 5},
            "Falsified",
            "the stream ended without `data: [DONE]` after 5 chunk(s)",
        ),
        (
            "stream",
            {
                "applies": True,
                "stream_status": 200,
                "bad_lines": 0,
                "done": True,
                "same_text": False,
                "stream_text": "Four",
                "plain_text": "4",
            },
            "Falsified",
            "the streamed text differs from the non-streamed answer: 'Four' vs '4'",
        ),
        ("stream", {"applies": False, "why": "no stream here"}, "Skipped", "no stream here"),
        (
            "usage",
            {"status": 200, "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            "Corroborated",
            "usage: 10 + 5 = 15 tokens",
        ),
        (
            "usage",
            {"status": 200, "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 16},
            "Falsified",
            "usage does not add up: 10 + 5 ≠ 16",
        ),
        (
            "usage",
            {"status": 200, "prompt_tokens": "10", "completion_tokens": True, "total_tokens": 15},
            "Falsified",
            "usage has no integer prompt_tokens, completion_tokens",
        ),
        (
            "finish-reason",
            {"short_status": 200, "short_reason": "length", "long_status": 200, "long_reason": "stop"},
            "Corroborated",
            "finish_reason 'length' at max_tokens 1, 'stop' when the answer ended",
        ),
        (
            "finish-reason",
            {"short_status": 200, "short_reason": "stop", "long_status": 200, "long_reason": "stop"},
            "Falsified",
            "finish_reason 'stop' for an answer max_tokens 1 cut, not 'length'",
        ),
        (
            "finish-reason",
            {
                "short_status": 200,
                "short_reason": "length",
                "long_status": 200,
                "long_reason": "length",
                "long_tokens": 64,
                "long_budget": 64,
            },
            "Corroborated",
            "finish_reason 'length' at max_tokens 1 ('stop' not judged: 64 tokens did not end it)",
        ),
        (
            "concurrency",
            {"sent": 4, "completed": 2, "unfinished": 2, "alone_status": 200},
            "Falsified",
            "2 of 4 concurrent requests answered 200; 2 never finished (a deadlock?)",
        ),
        (
            "concurrency",
            {
                "sent": 4,
                "completed": 4,
                "alone_status": 200,
                "same_as_alone": 3,
                "differing_text": "x",
                "elapsed_ms": 9,
            },
            "Corroborated",
            "4 concurrent requests all answered in 9 ms; 3 of 4 equal to the answer given alone (one was 'x')",
        ),
        (
            "shutdown",
            {"running": True, "exited": True, "exit_ms": 120.5, "grace_ms": 10000.0, "left_behind": False},
            "Corroborated",
            "SIGTERM stopped the server in 120.5 ms (≤ 10000.0 ms), nothing left",
        ),
        (
            "shutdown",
            {"running": True, "exited": True, "exit_ms": 1.0, "grace_ms": 10000.0, "left_behind": True},
            "Falsified",
            "the server exited on SIGTERM but left processes of its group running (killed)",
        ),
    ],
)
def test_protocol_facts_by_hand(name: str, facts: dict[str, object], outcome: str, reason: str) -> None:
    assert judge_probe(name, facts) == (outcome, reason)


def test_batch_invariance_gates_only_when_asked() -> None:
    facts = {"sent": 2, "completed": 2, "alone_status": 200, "same_as_alone": 1, "differing_text": "y", "elapsed_ms": 5}
    assert judge_probe("concurrency", facts)[0] == "Corroborated"
    assert judge_probe("concurrency", facts, batch_gate=True) == (
        "Falsified",
        "2 concurrent requests answered, but not batch-invariant: 1 of 2 equal to the answer given alone (one was 'y')",
    )


@pytest.mark.parametrize("name", ["malformed-json", "stream", "usage", "finish-reason", "concurrency", "shutdown", "x"])
@pytest.mark.parametrize("facts", [{}, {"status": "200", "sent": "4", "done": "yes", "exited": 1, "running": None}])
def test_hostile_or_missing_facts_never_pass_and_never_raise(name: str, facts: dict[str, object]) -> None:
    outcome, reason = judge_probe(name, facts)
    assert outcome in ("Falsified", "Skipped") and reason


def test_a_probe_is_bounded_even_when_the_server_drips(tmp_path: Path) -> None:
    # A 200 whose body comes one byte every 0.3 s: each read is within any read timeout, so only the probe's
    # own deadline (3 requests × timeout_ms + 5 s) ends it — by killing the server, as a timed-out request does.
    profile = EngineProfile.model_validate(
        {
            "name": "drip",
            "formats": ["gguf"],
            "serve": {
                "argv": [sys.executable, str(STANDIN), "--port", "{port}", "--break", "drip"],
                "health": {"path": "/health"},
            },
        }
    )
    assert profile.serve is not None
    executor = Executor(profile, LineReporter(io.StringIO()), sink=lambda _: None)
    server = EngineServer(lambda port: render(profile.serve.argv, scenario, profile, port), profile.serve)  # type: ignore[union-attr]
    scenario = make_scenario(
        id="t:edge:serve:cpu:gguf:http:usage", modality="serve", purpose="edge", probe="http:usage", timeout_ms=500
    )
    try:
        assert server.start(10) is None
        seen = executor._http_probe(server, scenario, datetime.now(UTC), {"scenario_id": scenario.id})
    finally:
        server.close()
    assert (seen.status, seen.reason) == ("timeout", "the probe did not finish within 6 s (the server was killed)")
    assert judge_probe("usage", seen.facts)[0] == "Falsified"
