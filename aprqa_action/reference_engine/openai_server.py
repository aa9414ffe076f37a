"""A small OpenAI-compatible server for the reference engine's SafeTensors path (standard library only).

    GET  /v1/models            200 with the one model, once it is loaded (the socket opens only then)
    POST /v1/chat/completions  messages, max_tokens, temperature, seed, stream

It speaks the subset llama-cpp-python's server speaks to our harness: a non-streaming answer with
`choices[0].message.content` and `usage`, or with `stream: true` server-sent events, one
`data: {"choices": [{"delta": {"content": …}}]}` per generated piece of text, a last chunk with the
`finish_reason` and `usage`, then `data: [DONE]`. Requests are served on threads but generate one at a time
(a lock): the model is one set of weights on a small machine, and interleaved generations would only make
each slower and their timings meaningless.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aprqa_action.reference_engine.hf import EngineError, Generation, Loaded, generate, load, prompt_inputs

MAX_BODY = 1 << 20  # a chat request is a few KiB; refuse to buffer anything absurd
DEFAULT_MAX_TOKENS = 256  # a client that gives none still gets a bounded answer
DEFAULT_TEMPERATURE = 0.8  # llama-cpp-python's server default, so both serve paths agree on an unset value


class RequestError(Exception):
    """A request we refuse with 4xx and an OpenAI-style error body."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung client must not keep the process alive at shutdown

    def __init__(self, address: tuple[str, int], loaded: Loaded) -> None:
        super().__init__(address, Handler)
        self.loaded = loaded
        self.lock = threading.Lock()
        self.created = int(time.time())


def _content(value: Any) -> str:
    """A message's content: a string, null, or OpenAI's list of parts (the text parts are used)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        return "".join(str(p.get("text", "")) for p in value if p.get("type") == "text")
    raise RequestError(HTTPStatus.BAD_REQUEST, "message content must be a string or a list of text parts")


def parse_chat_request(body: bytes) -> dict[str, Any]:
    """Validate a chat completion request into messages, max_tokens, temperature, seed and stream."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'messages' must be a non-empty list")
    turns = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(HTTPStatus.BAD_REQUEST, "each message needs a string 'role'")
        turns.append({"role": message["role"], "content": _content(message.get("content"))})
    max_tokens = data.get("max_tokens", data.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'max_tokens' must be a positive integer")
    temperature = data.get("temperature", DEFAULT_TEMPERATURE)
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'temperature' must be a number ≥ 0")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError(HTTPStatus.BAD_REQUEST, "'seed' must be an integer")
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(HTTPStatus.BAD_REQUEST, "'stream' must be true or false")
    sampler: dict[str, int | float] = {}
    for key in ("top_k", "top_p", "repeat_penalty"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"'{key}' must be a number ≥ 0")
        sampler[key] = value
    return {
        "messages": turns,
        "max_tokens": max_tokens,
        "temperature": float(temperature),
        "seed": seed,
        "stream": stream,
        "sampler": sampler,
    }


def _usage(result: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.tokens,
        "total_tokens": result.prompt_tokens + result.tokens,
    }


class Handler(BaseHTTPRequestHandler):
    server: OpenAIServer
    server_version = "aprqa-reference"

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request on stderr, as llama-cpp-python's server logs; the harness keeps stderr's tail.
        sys.stderr.write(f"reference serve: {self.address_string()} {format % args}\n")

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": int(status)}})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/v1/models":
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {path}")
            return
        model = {
            "id": self.server.loaded.name,
            "object": "model",
            "created": self.server.created,
            "owned_by": "aprqa-reference",
        }
        self._json(HTTPStatus.OK, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/v1/chat/completions":
            self._error(HTTPStatus.NOT_FOUND, f"no route POST {path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {MAX_BODY} bytes")
            request = parse_chat_request(self.rfile.read(length))
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
            return
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return
        stream = request.pop("stream")
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        try:
            if stream:
                self._stream(completion_id, request)
            else:
                with self.server.lock:
                    result = generate(self.server.loaded, **request)
                self._json(HTTPStatus.OK, self._completion(completion_id, result))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; the generation it interrupted is abandoned
        except EngineError as exc:  # a request that cannot be answered (a prompt over the context): the client's
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # a generation failure is the client's 500, not the server's death
            if stream:
                self._event({"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error"}})
            else:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _completion(self, completion_id: str, result: Generation) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.server.loaded.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result),
        }

    def _event(self, payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    def _chunk(self, completion_id: str, delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.server.loaded.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _stream(self, completion_id: str, request: dict[str, Any]) -> None:
        """SSE: the headers go out before generation starts, then one event per piece as it is decoded.
        HTTP/1.0 without a length: the end of the response is the end of the connection."""
        prompt_inputs(self.server.loaded, request["messages"])  # a refusal is a 400, before the stream's 200
        with self.server.lock:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self._event(self._chunk(completion_id, {"role": "assistant"}))
            result = generate(
                self.server.loaded,
                **request,
                on_piece=lambda piece: self._event(self._chunk(completion_id, {"content": piece})),
            )
        last = self._chunk(completion_id, {}, result.finish_reason)
        last["usage"] = _usage(result)
        self._event(last)
        self._event("[DONE]")


def serve_forever(loaded: Loaded, host: str, port: int, load_ms: float) -> None:
    """Bind only now that the model is loaded, so that readiness (GET /v1/models → 200) means loaded."""
    try:
        server = OpenAIServer((host, port), loaded)
    except OSError as exc:
        raise EngineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(
        f"reference serve: {loaded.name} loaded in {load_ms:.0f} ms; listening on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve(args: argparse.Namespace) -> int:
    """Load, then answer OpenAI chat requests on --host/--port until killed (readiness: GET /v1/models)."""
    loaded, load_ms = load(args.model, args.no_gpu, seed=42)
    serve_forever(loaded, args.host, args.port, load_ms)
    return 0
