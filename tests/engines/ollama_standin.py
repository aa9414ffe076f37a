#!/usr/bin/env python3
"""A stand-in for Ollama's command line, which cannot be installed on the machines these tests run on (no
network beyond the package registries, and Ollama is not on them). Tests put it on PATH as `ollama`.

    ollama --version                 what Ollama's versionHandler prints (the server's, then the client's)
    ollama serve                     HTTP on OLLAMA_HOST: GET / ("Ollama is running"), /api/version, /api/tags,
                                     /api/ps; POST /api/create, /api/generate (an empty prompt loads the model),
                                     /v1/chat/completions (streamed as SSE ending in `data: [DONE]`, or not)
    ollama create NAME -f Modelfile  a client of that server, as Ollama's is: fails when none runs

It follows Ollama's documented interfaces, names and JSON shapes (a model "x" is "x:latest"; an unknown model
is a 404) and answers every prompt with one canned sentence. Nothing here runs a model. Every command and
request it sees is appended as one JSON line to $OLLAMA_STANDIN_LOG (when set), for the tests to read.
Standard library only.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = "0.0.1"
ANSWER = ["The", " answer", " is", " 4", "."]  # one "token" per piece, deterministic
DEFAULT_HOST = "127.0.0.1:11434"


def log(event: str, **fields: object) -> None:
    path = os.environ.get("OLLAMA_STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"event": event, **fields}) + "\n")


def address() -> tuple[str, int]:
    """OLLAMA_HOST as Ollama reads it: an optional http:// scheme, a host, an optional port."""
    value = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST
    value = value.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = value.rpartition(":")
    if not host:
        return value.strip("[]") or "127.0.0.1", 11434
    return host.strip("[]"), int(port)


def full_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def go_json(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))  # Go's encoding/json: no spaces


def request(method: str, path: str, body: object = None) -> tuple[int, Any]:
    host, port = address()
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body))
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


# --- ollama serve ---------------------------------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.loaded: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    server: OllamaServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet, like `ollama serve` without OLLAMA_DEBUG
        pass

    def send(self, status: int, body: str, content_type: str = "application/json; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        store = self.server.store
        if self.path == "/":
            self.send(200, "Ollama is running", "text/plain; charset=utf-8")
        elif self.path == "/api/version":
            self.send(200, go_json({"version": VERSION}))
        elif self.path in ("/api/tags", "/api/ps"):
            names = sorted(store.models) if self.path == "/api/tags" else sorted(store.loaded)
            self.send(200, go_json({"models": [{"name": n, "model": n, "size": 1} for n in names]}))
        else:
            self.send(404, "404 page not found", "text/plain")

    def do_POST(self) -> None:
        store = self.server.store
        body = self.body()
        if self.path == "/api/create":
            name = full_name(body["model"])
            store.models[name] = {"from": body["from"], "parameters": body.get("parameters", {})}
            log("create", name=name, source=body["from"], parameters=body.get("parameters", {}))
            self.send(200, go_json({"status": "success"}))
            return
        name = full_name(str(body.get("model", "")))
        if name not in store.models:
            log("unknown-model", path=self.path, model=body.get("model"))
            if self.path.startswith("/v1/"):
                error = {"message": f'model "{body.get("model")}" not found, try pulling it first', "type": "api_error"}
                self.send(404, go_json({"error": error}))
            else:
                self.send(404, go_json({"error": f"model '{body.get('model')}' not found"}))
            return
        store.loaded.add(name)
        if self.path == "/api/generate" and not body.get("prompt"):
            log("load", model=body["model"], keep_alive=body.get("keep_alive"))
            self.send(200, go_json({"model": body["model"], "response": "", "done": True, "done_reason": "load"}))
        elif self.path == "/v1/chat/completions":
            self.chat(body)
        else:
            self.send(404, "404 page not found", "text/plain")

    def chat(self, body: dict[str, Any]) -> None:
        fields = {k: body.get(k) for k in ("model", "stream", "max_tokens", "temperature", "seed", "top_p")}
        log("chat", **fields, messages=body.get("messages"))
        limit = body.get("max_tokens")
        pieces = ANSWER[:limit] if isinstance(limit, int) and limit > 0 else ANSWER
        finish = "length" if len(pieces) < len(ANSWER) else "stop"
        base = {
            "id": "chatcmpl-1",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_ollama",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(pieces)}
            usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
            choice = {"index": 0, "message": message, "finish_reason": finish}
            self.send(200, go_json({**base, "object": "chat.completion", "choices": [choice], "usage": usage}))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # no length: the body ends when the connection closes (HTTP/1.0)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            delta = {"role": "assistant", "content": piece}
            choice = {"index": 0, "delta": delta, "finish_reason": finish if last else None}
            chunk = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(f"data: {go_json(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


class OllamaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, where: tuple[str, int]) -> None:
        super().__init__(where, Handler)
        self.store = Store()


def serve() -> int:
    host, port = address()
    log("serve", host=host, port=port, **{k: os.environ.get(k) for k in ("OLLAMA_MODELS", "OLLAMA_KEEP_ALIVE")})
    try:
        server = OllamaServer((host, port))
    except OSError as exc:
        print(f"Error: listen tcp {host}:{port}: bind: {exc.strerror}", file=sys.stderr)
        return 1
    # SIGTERM ends it as Ollama's graceful shutdown does: exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f'time=0 level=INFO msg="Listening on {host}:{port} (version {VERSION})"', file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# --- the client commands --------------------------------------------------------------------------------------


def unquote(text: str) -> str:
    for quote in ('"""', '"'):
        if len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(quote):
            return text[len(quote) : -len(quote)]
    return text


def create(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "-f":
        print("Error: usage: ollama create NAME -f Modelfile", file=sys.stderr)
        return 1
    name, modelfile = argv[0], Path(argv[2])
    source: str | None = None
    parameters: dict[str, str] = {}
    for line in modelfile.read_text(encoding="utf-8").splitlines():
        command, _, rest = line.strip().partition(" ")
        if command.upper() == "FROM":
            source = unquote(rest.strip())
        elif command.upper() == "PARAMETER":
            key, _, value = rest.strip().partition(" ")
            parameters[key] = unquote(value.strip())
    if source is None:
        print("Error: no FROM line", file=sys.stderr)
        return 1
    path = Path(source).expanduser()
    path = path if path.is_absolute() else modelfile.parent / path
    if not path.is_file():  # Ollama would take it for a model name to pull
        print(f"Error: pull model manifest: file does not exist: {source}", file=sys.stderr)
        return 1
    try:
        status, answer = request("POST", "/api/create", {"model": name, "from": str(path), "parameters": parameters})
    except OSError:
        print("Error: could not connect to ollama server, run 'ollama serve' to start it", file=sys.stderr)
        return 1
    if status != 200:
        print(f"Error: {answer}", file=sys.stderr)
        return 1
    print("gathering model components\ncopying file sha256:0 100%\nparsing GGUF\nwriting manifest\nsuccess")
    return 0


def version() -> int:
    try:
        server_version = request("GET", "/api/version")[1]["version"]
    except OSError:
        print("Warning: could not connect to a running Ollama instance")
        server_version = ""
    if server_version:
        print(f"ollama version is {server_version}")
    if server_version != VERSION:
        print(f"Warning: client version is {VERSION}")
    return 0


def main(argv: list[str]) -> int:
    log("command", argv=argv)
    if argv in (["--version"], ["-v"]):
        return version()
    if argv == ["serve"]:
        return serve()
    if argv[:1] == ["create"]:
        return create(argv[1:])
    print(f"Error: unknown command {argv!r} for the stand-in", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
