"""Serve protocol probes: what a live server does with malformed, empty, mistyped and misrouted requests, a
stream, usage, finish_reason, concurrent requests and SIGTERM — recorded as facts (flat JSON values) for
judge/protocol.py to decide. Nothing here raises on the engine's behaviour, and every request is bounded.

Each probe uses its own HTTP session: a connection a misbehaving server broke is never reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

from aprqa_action.execute.server import EngineServer, answer_text, is_json, loopback_session, request_body

Facts = dict[str, str | int | float | bool | None]
EXCERPT = 300
CONNECT_S = 5.0
UNKNOWN_ROUTE = "/v1/aprqa-no-such-route"
COUNT_PROMPT = "Count from one to twenty."  # needs more than one token
STOP_PROMPT = "Reply with the single word: yes."  # ends well within 64 tokens


def _body(server: EngineServer, prompt: str, max_tokens: int, sampling: Mapping[str, Any]) -> dict[str, object]:
    return request_body(server.mode.request.dialect, prompt, max_tokens, sampling)


def _exchange(
    session: requests.Session, server: EngineServer, timeout_s: float, **kwargs: Any
) -> tuple[Facts, str | None]:
    """One POST (to the request path unless `path=`): its status and the body's start, or the error; and the
    whole body."""
    path = kwargs.pop("path", server.mode.request.url_path)
    try:
        answer = session.post(server.base_url + path, timeout=(CONNECT_S, timeout_s), **kwargs)
    except requests.Timeout:
        return {"status": None, "error": f"no answer within {timeout_s:.1f} s"}, None
    except requests.RequestException as exc:
        return {"status": None, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}, None
    return {"status": answer.status_code, "body": answer.text[:EXCERPT]}, answer.text


def _answer(
    session: requests.Session,
    server: EngineServer,
    prompt: str,
    max_tokens: int,
    sampling: Mapping[str, Any],
    timeout_s: float,
) -> tuple[Facts, str | None, dict[str, Any]]:
    """A well-formed, non-streamed request: (facts of the exchange, the answer text, the parsed document)."""
    facts, body = _exchange(session, server, timeout_s, json=_body(server, prompt, max_tokens, sampling))
    try:
        data = json.loads(body or "")
        text = answer_text(server.mode.request.dialect, data)
    except (ValueError, KeyError, IndexError, TypeError):
        return facts, None, {}
    return facts, (text if isinstance(text, str) else None), data if isinstance(data, dict) else {}


def healthy(server: EngineServer, sampling: Mapping[str, Any], timeout_s: float) -> Facts:
    """Whether the server still answers: its health check, and a one-token request."""
    session = loopback_session()
    health = server.mode.health
    try:
        got = session.get(server.base_url + health.path, timeout=(CONNECT_S, min(timeout_s, 10.0)))
        ok = got.status_code == health.status and (health.contains is None or health.contains in got.text)
        facts: Facts = {"health_status": got.status_code}
    except requests.RequestException as exc:
        ok, facts = False, {"health_status": None, "health_error": f"{type(exc).__name__}"}
    answered, _, _ = _answer(session, server, "Hi", 1, sampling, timeout_s)
    session.close()
    return facts | {"followup_status": answered["status"], "healthy_after": ok and answered["status"] == 200}


def _refusal(server: EngineServer, sampling: Mapping[str, Any], timeout_s: float, **request: Any) -> Facts:
    session = loopback_session()
    facts, body = _exchange(session, server, timeout_s, **request)
    session.close()
    if body is not None:
        facts["json_body"] = is_json(body)
    return facts | healthy(server, sampling, timeout_s)


def _stream(server: EngineServer, prompt: str, max_tokens: int, sampling: Mapping[str, Any], timeout_s: float) -> Facts:
    if server.mode.request.dialect == "apr-generate":
        return {"applies": False, "why": "the apr-generate dialect has no event stream"}
    session = loopback_session()
    plain, text, _ = _answer(session, server, prompt, max_tokens, sampling, timeout_s)
    facts: Facts = {"applies": True, "plain_status": plain["status"], "plain_text": (text or "")[:EXCERPT]}
    chat = server.mode.request.dialect == "openai-chat"
    body = _body(server, prompt, max_tokens, sampling) | {"stream": True}
    pieces: list[str] = []
    data_lines = bad_lines = 0
    done = after_done = False
    deadline = time.monotonic() + timeout_s
    try:
        with session.post(
            server.base_url + server.mode.request.url_path, json=body, stream=True, timeout=(CONNECT_S, timeout_s)
        ) as answer:
            facts |= {"stream_status": answer.status_code, "content_type": answer.headers.get("content-type", "")}
            for raw in answer.iter_lines():
                if time.monotonic() > deadline:
                    facts["error"] = f"the stream did not end within {timeout_s:.1f} s"
                    break
                line = raw.decode("utf-8", "replace").strip()
                if not line or line.startswith((":", "event:", "id:", "retry:")):
                    continue
                if not line.startswith("data:"):
                    bad_lines += 1
                    continue
                data = line[5:].strip()
                if done:
                    after_done = True
                    continue
                if data == "[DONE]":
                    done = True
                    continue
                data_lines += 1
                try:
                    choice = json.loads(data)["choices"][0]
                    piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    bad_lines += 1
                    continue
                if isinstance(piece, str):
                    pieces.append(piece)
    except requests.RequestException as exc:
        facts["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    session.close()
    streamed = "".join(pieces)
    return facts | {
        "data_lines": data_lines,
        "bad_lines": bad_lines,
        "done": done,
        "data_after_done": after_done,
        "stream_text": streamed[:EXCERPT],
        "same_text": text is not None and streamed == text,
    }


def _usage(server: EngineServer, prompt: str, max_tokens: int, sampling: Mapping[str, Any], timeout_s: float) -> Facts:
    session = loopback_session()
    facts, _, data = _answer(session, server, prompt, max_tokens, sampling, timeout_s)
    session.close()
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key) if isinstance(usage, dict) else None
        facts[key] = value if isinstance(value, int) and not isinstance(value, bool) else None
    return facts


def _finish(server: EngineServer, sampling: Mapping[str, Any], timeout_s: float, max_tokens: int) -> Facts:
    session = loopback_session()
    short, _, short_data = _answer(session, server, COUNT_PROMPT, 1, sampling, timeout_s)
    budget = max(64, max_tokens)
    long, _, long_data = _answer(session, server, STOP_PROMPT, budget, sampling, timeout_s)
    session.close()

    def reason(data: dict[str, Any]) -> str | None:
        try:
            value = data["choices"][0]["finish_reason"]
        except (KeyError, IndexError, TypeError):
            return None
        return value if isinstance(value, str) else None

    def tokens(data: dict[str, Any]) -> int | None:
        usage = data.get("usage")
        value = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return {
        "short_status": short["status"],
        "short_reason": reason(short_data),
        "long_status": long["status"],
        "long_reason": reason(long_data),
        "long_tokens": tokens(long_data),
        "long_budget": budget,
    }


def _concurrency(
    server: EngineServer, prompt: str, max_tokens: int, sampling: Mapping[str, Any], timeout_s: float, count: int
) -> Facts:
    session = loopback_session()
    alone, alone_text, _ = _answer(session, server, prompt, max_tokens, sampling, timeout_s)
    session.close()
    results: list[tuple[Facts, str | None] | None] = [None] * count
    start = threading.Barrier(count)

    def ask(i: int) -> None:
        own = loopback_session()
        with contextlib.suppress(threading.BrokenBarrierError):  # start together, or as soon as possible
            start.wait(timeout=CONNECT_S)
        facts, text, _ = _answer(own, server, prompt, max_tokens, sampling, timeout_s)
        results[i] = (facts, text)
        own.close()

    began = time.monotonic()
    threads = [threading.Thread(target=ask, args=(i,), daemon=True, name=f"aprqa-concurrent-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = began + timeout_s + CONNECT_S + 2
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    answered = [r for r in results if r is not None and r[0]["status"] == 200]
    texts = [text for _, text in answered]
    differing = next((t for t in texts if t != alone_text), None)
    return {
        "sent": count,
        "completed": len(answered),
        "unfinished": sum(r is None for r in results),
        "errors": sum(r is not None and r[0]["status"] != 200 for r in results),
        "first_error": next(
            (str(r[0].get("error") or r[0]["status"]) for r in results if r and r[0]["status"] != 200), None
        ),
        "elapsed_ms": round((time.monotonic() - began) * 1000, 1),
        "alone_status": alone["status"],
        "alone_text": (alone_text or "")[:EXCERPT],
        "same_as_alone": sum(t == alone_text for t in texts),
        "differing_text": differing[:EXCERPT] if differing is not None else None,
    }


def probe(
    name: str,
    server: EngineServer,
    *,
    prompt: str,
    max_tokens: int,
    sampling: Mapping[str, Any],
    timeout_s: float,
    concurrency: int = 4,
) -> Facts:
    """The facts of one protocol probe (see PROBES in plan/edge.py) against a ready server. `sampling`: what
    every request carries (temperature, seed and the playbook's sampling), so answers compare."""
    chat = server.mode.request.dialect == "openai-chat"
    headers = {"Content-Type": "application/json"}
    match name:
        case "malformed-json":
            return _refusal(
                server, sampling, timeout_s, data=b'{"messages": [{"role": "user", "content": ', headers=headers
            )
        case "empty-messages":
            body = (
                {"model": "default", "messages": [], "max_tokens": max_tokens} if chat else {"max_tokens": max_tokens}
            )
            return _refusal(server, sampling, timeout_s, json=body)
        case "wrong-types":
            body = (
                {"model": "default", "messages": "hi", "max_tokens": "many"}
                if chat
                else {"prompt": 42, "max_tokens": "many"}
            )
            return _refusal(server, sampling, timeout_s, json=body)
        case "unknown-route":
            return _refusal(server, sampling, timeout_s, path=UNKNOWN_ROUTE, json=_body(server, prompt, 1, sampling))
        case "stream":
            return _stream(server, prompt, max_tokens, sampling, timeout_s)
        case "usage":
            return _usage(server, prompt, max_tokens, sampling, timeout_s)
        case "finish-reason":
            return _finish(server, sampling, timeout_s, max_tokens)
        case "concurrency":
            return _concurrency(server, prompt, max_tokens, sampling, timeout_s, concurrency)
    raise ValueError(f"unknown protocol probe {name!r}")


def shutdown(server: EngineServer, grace_s: float = 10.0) -> Facts:
    """SIGTERM to the server's process group: did it exit within `grace_s`, and is nothing of it left? What is
    left is killed (and said)."""
    process = server.process
    if process is None or process.poll() is not None:
        return {"running": False}
    began = time.monotonic()
    process.signal_group(signal.SIGTERM)
    exited = process.wait_until(began + grace_s)
    took = round((time.monotonic() - began) * 1000, 1)
    settle = time.monotonic() + 0.5  # children the leader told to stop may need a moment after it
    while (left := _group_alive(process.pgid)) and exited and time.monotonic() < settle:
        time.sleep(0.02)
    if not exited or left:
        process.kill_all(grace_s=0)
    return {
        "running": True,
        "exited": exited,
        "exit_ms": took if exited else None,
        "grace_ms": round(grace_s * 1000, 1),
        "exit_code": process.proc.returncode if exited else None,
        "left_behind": left,
    }


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
