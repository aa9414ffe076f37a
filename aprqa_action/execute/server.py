"""The serve lifecycle: free port, spawn in its own group, readiness poll, requests, teardown."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from aprqa_action.engines.profile import ServeMode
from aprqa_action.execute.process import ProcessResult, SupervisedProcess

HOST = "127.0.0.1"
POLL_INTERVAL_S = 0.02  # readiness is polled at most this far apart (≤ 50 ms)
PORT_ATTEMPTS = 3
_PORT_TAKEN = ("address already in use", "errno 98", "eaddrinuse", "only one usage of each socket address")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    """One request's outcome. `status` is ok / failed / timeout / crashed (the server died)."""

    status: str
    reason: str = ""
    text: str | None = None
    tokens: int | None = None
    tok_per_sec: float | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None
    facts: dict[str, str | int | float | bool | None] = field(default_factory=dict)  # the HTTP status and body


def loopback_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    return session


def request_body(dialect: str, prompt: str, max_tokens: int, fields: Mapping[str, object]) -> dict[str, object]:
    """A completion request in `dialect`: the prompt, max_tokens and `fields` (temperature, seed, the playbook's
    sampling — a server's own defaults would make answers differ from run and chat)."""
    body: dict[str, object] = {"max_tokens": max_tokens, **fields}
    if dialect == "openai-chat":
        return body | {"model": "default", "messages": [{"role": "user", "content": prompt}]}
    return body | {"prompt": prompt}


def answer_text(dialect: str, data: Any) -> object:
    """Where a non-streamed answer of `dialect` keeps its text; KeyError, IndexError or TypeError when the answer
    does not follow the dialect's schema."""
    if dialect == "openai-chat":
        return data["choices"][0]["message"]["content"]
    if dialect == "openai-completions":
        return data["choices"][0]["text"]
    return data["text"]


def is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


class EngineServer:
    def __init__(
        self, argv_for_port: Callable[[int], list[str]], mode: ServeMode, env: Mapping[str, str] | None = None
    ) -> None:
        self.argv_for_port = argv_for_port
        self.mode = mode
        self.env = env
        self.process: SupervisedProcess | None = None
        self.port: int | None = None
        self.load_ms: float | None = None
        self.session = loopback_session()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_timeout_s: float, stop: threading.Event | None = None) -> str | None:
        """Start and wait until healthy. None when ready, else the reason it is not."""
        reason = "not started"
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self.process = SupervisedProcess(self.argv_for_port(self.port), env=self.env)
            except OSError as exc:
                return f"cannot start server {self.argv_for_port(0)[0]!r}: {exc.strerror or exc}"
            started = time.monotonic()
            reason = self._wait_ready(started + ready_timeout_s, stop)
            if reason is None:
                self.load_ms = (time.monotonic() - started) * 1000
                return None
            stderr = self.process.stderr.getvalue().decode("utf-8", "replace").lower()
            if self.process.poll() is not None and any(s in stderr for s in _PORT_TAKEN):
                self.process.kill_all()
                continue  # someone took the port between our probe and the bind: try another
            return reason
        return reason + f" (port taken {PORT_ATTEMPTS} times)"

    def restart(self, ready_timeout_s: float, stop: threading.Event | None = None) -> str | None:
        """Kill the server (and its group) and start a fresh one: after a request timed out, the old one may
        still be generating, and the next request would wait behind it."""
        if self.process is not None:
            self.process.kill_all()
        self.load_ms = None
        return self.start(ready_timeout_s, stop)

    def _wait_ready(self, deadline: float, stop: threading.Event | None) -> str | None:
        assert self.process is not None
        health = self.mode.health
        url = self.base_url + health.path
        last = "no answer"
        while True:
            if self.process.poll() is not None:
                return f"server exited before becoming ready ({self._exit_words()})"
            if stop is not None and stop.is_set():
                return "cancelled while waiting for the server"
            try:
                answer = self.session.get(url, timeout=max(0.05, min(1.0, deadline - time.monotonic())))
                body = answer.text
                if answer.status_code == health.status and (health.contains is None or health.contains in body):
                    return None
                last = f"GET {health.path} answered {answer.status_code}"
                if health.contains is not None and answer.status_code == health.status:
                    last += f" without {health.contains!r}"
            except requests.RequestException as exc:
                last = f"GET {health.path}: {type(exc).__name__}"
            if time.monotonic() >= deadline:
                return f"server never became ready within {self._seconds(deadline)}: last {last}"
            self.process.wait_until(min(deadline, time.monotonic() + POLL_INTERVAL_S))

    def _seconds(self, deadline: float) -> str:
        assert self.process is not None
        return f"{deadline - self.process.started:.1f} s"

    def _exit_words(self) -> str:
        assert self.process is not None
        result = self.process.result()
        words = f"signal {result.signal}" if result.signal else result.death_words()
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        # The last line that says "error" explains more than a trailing hint ("For more information, try --help").
        said = next((line for line in reversed(tail) if "error" in line.lower()), tail[-1] if tail else "")
        return words + (f": {said.strip()[:300]}" if said else "")

    def request(
        self,
        prompt: str,
        max_tokens: int,
        temperature: float,
        seed: int,
        timeout_s: float,
        sampling: Mapping[str, int | float] | None = None,
    ) -> Reply:
        """One request, over within `timeout_s`: at the deadline a watchdog kills the server's process group,
        which ends the request (a read timeout alone restarts with every byte a slow server trickles). A
        timed-out request leaves the server dead: `restart` it for the next one."""
        assert self.process is not None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self.kill()

        watchdog = threading.Timer(timeout_s, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            reply = self._request(prompt, max_tokens, temperature, seed, timeout_s, sampling or {})
        finally:
            watchdog.cancel()
        if expired.is_set() or reply.status == "timeout":
            self.kill()  # stop the generation that nobody waits for any more
            self.process.wait_until(time.monotonic() + 1.0)
            reason = reply.reason if reply.status == "timeout" else f"no complete answer within {timeout_s:.1f} s"
            return Reply("timeout", reason + " (the server was killed)")
        return reply

    def _request(
        self,
        prompt: str,
        max_tokens: int,
        temperature: float,
        seed: int,
        timeout_s: float,
        sampling: Mapping[str, int | float],
    ) -> Reply:
        assert self.process is not None
        req = self.mode.request
        fields = {"temperature": temperature, "seed": seed, **sampling}
        payload = request_body(req.dialect, prompt, max_tokens, fields)
        if req.stream:
            payload["stream"] = True
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            with self.session.post(
                self.base_url + req.url_path, json=payload, stream=req.stream, timeout=(5.0, timeout_s)
            ) as answer:
                if answer.status_code != 200:
                    body = answer.text
                    facts = {"http_status": answer.status_code, "json_body": is_json(body), "body": body[:300]}
                    reason = f"POST {req.url_path} answered {answer.status_code}: {body[:300]}"
                    return Reply("failed", reason, facts=facts)
                if req.stream:
                    return self._read_stream(answer, started, deadline)
                body = answer.text
        except requests.Timeout:
            return Reply("timeout", f"no complete answer within {timeout_s:.1f} s")
        except requests.RequestException as exc:
            return self._died_or_failed(f"POST {req.url_path}: {type(exc).__name__}: {exc}")
        latency = time.monotonic() - started
        if time.monotonic() > deadline:
            return Reply("timeout", f"answer took {latency:.1f} s, over the {timeout_s:.1f} s timeout")
        try:
            data = json.loads(body)
        except ValueError:
            return Reply("failed", f"server answered invalid JSON: {body[:200]!r}")
        return self._parse(data, latency)

    def _parse(self, data: object, latency_s: float) -> Reply:
        dialect = self.mode.request.dialect
        try:
            text = answer_text(dialect, data)
        except (KeyError, IndexError, TypeError):
            return Reply("failed", f"answer does not follow the {dialect} schema: {json.dumps(data)[:200]}")
        if not isinstance(text, str):
            return Reply("failed", f"answer text is {type(text).__name__}, not a string")
        tokens = None
        with contextlib.suppress(KeyError, TypeError):
            tokens = int(data["usage"]["completion_tokens"])  # type: ignore[index]
        if tokens is None and isinstance(data, dict) and isinstance(data.get("tokens_generated"), int):
            tokens = data["tokens_generated"]
        rate = tokens / latency_s if tokens and latency_s > 0 else None
        return Reply("ok", text=text, tokens=tokens, tok_per_sec=rate, latency_ms=latency_s * 1000)

    def _read_stream(self, answer: requests.Response, started: float, deadline: float) -> Reply:
        """Server-sent events: one `data: {json}` per chunk, `data: [DONE]` at the end."""
        pieces: list[str] = []
        first: float | None = None
        chat = self.mode.request.dialect == "openai-chat"
        done = False
        for raw in answer.iter_lines():
            if time.monotonic() > deadline:
                return Reply("timeout", "streamed answer did not finish within the timeout")
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                choice = json.loads(data)["choices"][0]
                piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                return Reply("failed", f"stream chunk does not follow the schema: {data[:200]!r}")
            if piece:
                first = first or time.monotonic()
                pieces.append(piece)
        ended = time.monotonic()
        gen_s = ended - (first or ended)
        tokens = len(pieces)  # one chunk per generated token
        if not done:  # a stream cut off mid-response may leave its connection unusable: never reuse it
            self._fresh_session()
        return Reply(
            "ok",
            text="".join(pieces),
            tokens=tokens,
            tok_per_sec=tokens / gen_s if tokens and gen_s > 0 else None,
            ttft_ms=((first or ended) - started) * 1000,
            latency_ms=(ended - started) * 1000,
            facts={"http_status": 200, "sse_done": done},
        )

    def _fresh_session(self) -> None:
        self.session.close()
        self.session = loopback_session()

    def _died_or_failed(self, reason: str) -> Reply:
        assert self.process is not None
        self.process.wait_until(time.monotonic() + 0.5)  # give a dying server a moment to be reaped
        if self.process.poll() is not None:
            result = self.process.result()
            status = "crashed" if result.crashed else "failed"
            return Reply(status, f"server died during the request ({self._exit_words()})")
        return Reply("failed", reason)

    def kill(self) -> None:
        """Kill the server's process group at once (safe from a signal handler: one system call)."""
        if self.process is not None:
            self.process.signal_group(signal.SIGKILL)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> ProcessResult | None:
        self.session.close()
        if self.process is None:
            return None
        self.process.kill_all()
        return self.process.result(cancelled=True)
