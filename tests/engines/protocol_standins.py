"""An OpenAI chat server without a model (canned, deterministic answers) that breaks one serve-protocol rule
when told to, for the F-HTTP-* and EDGE tests: each break must fail exactly its own check.

    protocol_standins.py --port P [--break none|malformed-500|crash-empty|deadlock|no-done|nondeterministic|
                                           ignore-sigterm|leak|drip]

Standard library only, so it starts in well under a second. GET /health answers 200.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "The answer is four, and that is all there is to say about it today."
_seen: list[str] = []  # nondeterministic: the prompts asked so far leak into the next answers
_flight = threading.Lock()
_in_flight = 0  # deadlock: a request that finds another in flight waits forever


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    broken = "none"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, status: int, payload: dict[str, Any]) -> None:
        """A whole answer, one byte every 0.3 s: each read gets a byte well within any read timeout."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(0.3)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_GET(self) -> None:
        if self.path in ("/health", "/v1/models"):
            self._send(200, {"status": "ok", "data": [{"id": "standin"}]})
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/chat/completions":
            self._error(404, f"no route POST {self.path}")
            return
        try:
            data = json.loads(raw)
        except ValueError:
            if self.broken == "malformed-500":
                self.send_response(500)
                self.send_header("Content-Length", "21")
                self.end_headers()
                self.wfile.write(b"Internal Server Error")
                return
            self._error(400, "request body is not JSON")
            return
        messages = data.get("messages") if isinstance(data, dict) else None
        if isinstance(messages, list) and not messages and self.broken == "crash-empty":
            signal.raise_signal(signal.SIGSEGV)  # in this thread: the process dies before it can answer
        tokens = data.get("max_tokens", 16) if isinstance(data, dict) else None
        if not isinstance(messages, list) or not messages or isinstance(tokens, bool) or not isinstance(tokens, int):
            self._error(400, "'messages' must be a non-empty list and 'max_tokens' an integer")
            return
        if self.broken == "deadlock":
            self._one_at_a_time()
        words = self._answer(str(messages[-1])).split(" ")
        pieces = [w + " " for w in words[: max(1, tokens)]]
        finish = "length" if tokens < len(words) else "stop"
        if data.get("stream"):
            self._stream(pieces, finish)
            return
        text = "".join(pieces).rstrip()
        (self._drip if self.broken == "drip" else self._send)(
            200,
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces), "total_tokens": 5 + len(pieces)},
            },
        )

    def _one_at_a_time(self) -> None:
        global _in_flight
        with _flight:
            _in_flight += 1
            crowded = _in_flight > 1
        if crowded:
            time.sleep(3600)  # waits for a lock nobody gives back
        time.sleep(0.3)  # in flight long enough that concurrent requests meet this one
        with _flight:
            _in_flight -= 1

    def _answer(self, prompt: str) -> str:
        if self.broken == "nondeterministic":  # the same prompt at temperature 0 answers differently after others
            if prompt not in _seen:
                _seen.append(prompt)
            return f"{ANSWER} ({len(_seen)})"
        if self.broken == "leak":
            return "The answer is four.<|im_end|>"
        return ANSWER

    def _stream(self, pieces: list[str], finish: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            text = piece.rstrip() if i == last else piece
            chunk = {
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish if i == last else None}]
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if self.broken != "no-done":
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--break",
        dest="broken",
        default="none",
        choices=[
            "none",
            "malformed-500",
            "crash-empty",
            "deadlock",
            "no-done",
            "nondeterministic",
            "ignore-sigterm",
            "leak",
            "drip",
        ],
    )
    args = parser.parse_args()
    if args.broken == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Handler.broken = args.broken
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
