"""The serve protocol gates (F-HTTP-*), decided from the facts execute/conformance.py recorded:

- F-HTTP-MALFORMED, F-HTTP-EMPTY-MESSAGES, F-HTTP-WRONG-TYPES, F-HTTP-UNKNOWN-ROUTE: a body that is not JSON,
  an empty `messages` (no `prompt`), `messages: "hi"` with `max_tokens: "many"`, a route that does not exist
  — each answered with a 4xx whose body is JSON, and the server healthy afterwards (its health check and a
  one-token request answered).
- F-HTTP-SSE: a streamed answer is server-sent events — `data:` lines of JSON chunks, `data: [DONE]` last —
  and its text equals the non-streamed answer to the same request (temperature and seed as the matrix's).
- F-HTTP-USAGE: `usage` has integer prompt, completion and total tokens, and prompt + completion = total.
- F-HTTP-FINISH-REASON: `length` when `max_tokens: 1` cut the answer, `stop` when it ended by itself (when the
  model did not stop within the budget, that half is not judged).
- F-HTTP-CONCURRENT: `edge.concurrency` simultaneous requests all answered 200 within the timeout (no
  deadlock); whether each equals the answer given alone (batch invariance) is said, and fails it only with
  `edge.batch_invariance: true`.
- F-HTTP-SHUTDOWN: SIGTERM stops the server within `edge.shutdown_timeout_ms`, nothing of its process group
  left running.

Facts come from evidence files too: a missing or mistyped fact is a failure to show, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Decision = Literal["Corroborated", "Falsified", "Skipped"]
GATES = {
    "malformed-json": "F-HTTP-MALFORMED",
    "empty-messages": "F-HTTP-EMPTY-MESSAGES",
    "wrong-types": "F-HTTP-WRONG-TYPES",
    "unknown-route": "F-HTTP-UNKNOWN-ROUTE",
    "stream": "F-HTTP-SSE",
    "usage": "F-HTTP-USAGE",
    "finish-reason": "F-HTTP-FINISH-REASON",
    "concurrency": "F-HTTP-CONCURRENT",
    "shutdown": "F-HTTP-SHUTDOWN",
}
WHAT = {
    "malformed-json": "a body that is not JSON",
    "empty-messages": "an empty messages list",
    "wrong-types": "wrongly typed fields",
    "unknown-route": "an unknown route",
}


def _int(facts: Mapping[str, object], key: str) -> int | None:
    value = facts.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(facts: Mapping[str, object], key: str) -> str:
    value = facts.get(key)
    return value[:120] if isinstance(value, str) else ""


def _refusal(name: str, facts: Mapping[str, object]) -> tuple[Decision, str]:
    status = _int(facts, "status")
    what = WHAT[name]
    if status is None:
        error = _text(facts, "error") or "no answer"
        return "Falsified", f"{what}: {error}"
    if not 400 <= status < 500:
        return "Falsified", f"{what} was answered {status}, not a 4xx: {_text(facts, 'body')!r}"
    if facts.get("json_body") is not True:
        return "Falsified", f"{what} was answered {status} without a JSON error body: {_text(facts, 'body')!r}"
    if facts.get("healthy_after") is not True:
        return "Falsified", (
            f"{what} was answered {status}, but the server is not healthy afterwards (health check "
            f"{facts.get('health_status')}, a one-token request {facts.get('followup_status')})"
        )
    return "Corroborated", f"{what}: {status} with a JSON error, and the server healthy afterwards"


def _stream(facts: Mapping[str, object]) -> tuple[Decision, str]:
    if facts.get("applies") is False:
        return "Skipped", _text(facts, "why") or "no event stream in this dialect"
    status = _int(facts, "stream_status")
    if status != 200:
        return "Falsified", f"the streamed request was answered {status}: {_text(facts, 'error')}".rstrip(": ")
    if facts.get("error"):
        return "Falsified", f"the stream broke: {_text(facts, 'error')}"
    if (_int(facts, "bad_lines") or 0) > 0:
        return "Falsified", f"{facts.get('bad_lines')} line(s) of the stream are not `data:` JSON chunks"
    if facts.get("done") is not True:
        return "Falsified", f"the stream ended without `data: [DONE]` after {_int(facts, 'data_lines')} chunk(s)"
    if facts.get("data_after_done") is True:
        return "Falsified", "data after `data: [DONE]`"
    if facts.get("same_text") is not True:
        return "Falsified", (
            f"the streamed text differs from the non-streamed answer: {_text(facts, 'stream_text')!r} vs "
            f"{_text(facts, 'plain_text')!r}"
        )
    return "Corroborated", f"{_int(facts, 'data_lines')} data chunk(s) then [DONE]; the same text as without streaming"


def _usage(facts: Mapping[str, object]) -> tuple[Decision, str]:
    if _int(facts, "status") != 200:
        return "Falsified", f"the request was answered {facts.get('status')}: {_text(facts, 'error')}".rstrip(": ")
    counts = {k: _int(facts, k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    missing = [k for k, v in counts.items() if v is None]
    if missing:
        return "Falsified", f"usage has no integer {', '.join(missing)}"
    prompt, completion, total = counts.values()
    if prompt + completion != total:  # type: ignore[operator]
        return "Falsified", f"usage does not add up: {prompt} + {completion} ≠ {total}"
    return "Corroborated", f"usage: {prompt} + {completion} = {total} tokens"


def _finish(facts: Mapping[str, object]) -> tuple[Decision, str]:
    short, long = facts.get("short_reason"), facts.get("long_reason")
    if _int(facts, "short_status") != 200 or _int(facts, "long_status") != 200:
        return "Falsified", f"answered {facts.get('short_status')} and {facts.get('long_status')}, not 200"
    if short != "length":
        return "Falsified", f"finish_reason {short!r} for an answer max_tokens 1 cut, not 'length'"
    tokens, budget = _int(facts, "long_tokens"), _int(facts, "long_budget")
    if long == "stop":
        return "Corroborated", "finish_reason 'length' at max_tokens 1, 'stop' when the answer ended"
    if long == "length" and tokens is not None and budget is not None and tokens >= budget:
        return (
            "Corroborated",
            f"finish_reason 'length' at max_tokens 1 ('stop' not judged: {budget} tokens did not end it)",
        )
    return "Falsified", f"finish_reason {long!r} for an answer that ended after {tokens} of {budget} tokens, not 'stop'"


def _concurrency(facts: Mapping[str, object], batch_gate: bool) -> tuple[Decision, str]:
    sent, completed = _int(facts, "sent"), _int(facts, "completed")
    if sent is None or completed is None:
        return "Falsified", "no record of the concurrent requests"
    if _int(facts, "alone_status") != 200:
        return "Falsified", f"the request alone was answered {facts.get('alone_status')}"
    if completed < sent:
        unfinished = _int(facts, "unfinished") or 0
        why = f"{unfinished} never finished (a deadlock?)" if unfinished else f"first: {_text(facts, 'first_error')}"
        return "Falsified", f"{completed} of {sent} concurrent requests answered 200; {why}"
    same = _int(facts, "same_as_alone") or 0
    invariant = f"{same} of {sent} equal to the answer given alone"
    if same < sent:
        invariant += f" (one was {_text(facts, 'differing_text')!r})"
        if batch_gate:
            return "Falsified", f"{sent} concurrent requests answered, but not batch-invariant: {invariant}"
    return "Corroborated", f"{sent} concurrent requests all answered in {facts.get('elapsed_ms')} ms; {invariant}"


def _shutdown(facts: Mapping[str, object]) -> tuple[Decision, str]:
    if facts.get("running") is False:
        return "Skipped", "the server was not running any more when the shutdown was probed"
    grace = facts.get("grace_ms")
    if facts.get("exited") is not True:
        return "Falsified", f"SIGTERM did not stop the server within {grace} ms (it was killed)"
    if facts.get("left_behind") is not False:
        return "Falsified", "the server exited on SIGTERM but left processes of its group running (killed)"
    return "Corroborated", f"SIGTERM stopped the server in {facts.get('exit_ms')} ms (≤ {grace} ms), nothing left"


def judge_probe(name: str, facts: Mapping[str, object], *, batch_gate: bool = False) -> tuple[Decision, str]:
    """The outcome and reason of one protocol probe from its facts."""
    if name in WHAT:
        return _refusal(name, facts)
    match name:
        case "stream":
            return _stream(facts)
        case "usage":
            return _usage(facts)
        case "finish-reason":
            return _finish(facts)
        case "concurrency":
            return _concurrency(facts, batch_gate)
        case "shutdown":
            return _shutdown(facts)
    return "Skipped", f"no protocol probe is named {name!r}"
