"""A misbehaving engine for the supervision tests: `hostile.py MODE [args...]`.

Each MODE is one way a real, immature engine fails. Nothing here is mocked: these are real processes
that the harness must time out, reap and classify.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def answer(text: str = "4") -> None:
    print(json.dumps({"text": text, "tokens_generated": 1, "tok_per_sec": 10.0}), flush=True)


def hang() -> None:
    print("loading...", flush=True)
    while True:
        time.sleep(1)


def ignore_term() -> None:
    # An engine that ignores SIGTERM: only SIGKILL ends it (after the supervisor's grace period).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hang()


def grandchildren() -> None:
    # Two generations of children that hang too, in the same process group as the engine.
    for _ in range(2):
        if os.fork() == 0:
            if os.fork() == 0:
                hang()
            hang()
    with open(sys.argv[2], "w") as pids:  # the test checks these pids are gone afterwards
        pids.write(str(os.getpid()))
    hang()


def daemonize() -> None:
    # The classic double fork: the middle process exits at once, so the grandchild is reparented (to init or
    # a subreaper) and no longer a descendant of the engine, but it stays in the engine's process group. It
    # lets go of the engine's pipes, as a daemon does, so nothing but the group kill can reach it.
    if os.fork() == 0:
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            while True:
                time.sleep(1)
        os._exit(0)
    os.wait()  # reap the middle process
    hang()


def segv() -> None:
    print("partial output", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)


def abort() -> None:
    os.abort()


def oom_killed() -> None:
    # What the kernel's OOM killer does: SIGKILL, no chance to clean up.
    os.kill(os.getpid(), signal.SIGKILL)


def exit_137() -> None:
    # A wrapper script reports its child's SIGKILL as 128 + 9.
    sys.exit(137)


def panic() -> None:
    print("thread 'main' panicked at src/main.rs:42:5:\nindex out of bounds", file=sys.stderr, flush=True)
    sys.exit(101)


def fail() -> None:
    print("error: failed to load model: unsupported tensor type 42", file=sys.stderr, flush=True)
    sys.exit(1)


def flood() -> None:
    chunk = b"x" * 65536
    out = sys.stdout.buffer
    for _ in range(int(sys.argv[2]) // len(chunk)):
        out.write(chunk)
    out.write(b"\n")
    out.flush()
    answer()


def bad_bytes() -> None:
    sys.stdout.buffer.write(b'{"text": "caf\\u00e9 \xff\xfe\x00 ok", "tokens_generated": 3}\n')
    sys.stderr.buffer.write(b"warn: \xc3\x28 invalid \x00 utf-8\n")


def flaky() -> None:
    # Every third call gives no answer: a flaky engine, for test_matrix.repeat.
    counter = sys.argv[2]
    with open(counter, "a+") as handle:
        handle.seek(0)
        calls = int(handle.read() or 0) + 1
    with open(counter, "w") as handle:
        handle.write(str(calls))
    if calls % 3 == 0:
        fail()
    answer()


def echo_stdin() -> None:
    answer(sys.stdin.readline().strip())


def serve(behaviour: str) -> None:
    port = int(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            healthy = behaviour != "never-healthy"
            self.send_response(200 if healthy else 503)
            self.end_headers()
            self.wfile.write(b'{"status": "healthy"}' if healthy else b"loading")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if behaviour == "die-mid-request":
                os.kill(os.getpid(), signal.SIGKILL)
            if behaviour == "hang-request":
                hang()
            if behaviour == "hang-first":
                # Only the very first request of the test hangs, across server restarts: a marker file says
                # it happened (sys.argv[3] is the test's directory).
                marker = os.path.join(sys.argv[3], "hung-once")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    hang()
            if behaviour == "error-500":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"internal error")
                return
            body = {"choices": [{"message": {"content": "4"}}], "usage": {"completion_tokens": 1}}
            if behaviour == "bad-json":
                payload = b"{not json"
            elif behaviour == "wrong-schema":
                payload = json.dumps({"result": "4"}).encode()
            else:
                payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

    if behaviour == "never-binds":
        hang()
    if behaviour == "port-taken":
        port = int(sys.argv[3])  # ignores the port it was given and binds one that is taken
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


MODES = {
    "ok": answer,
    "hang": hang,
    "ignore-term": ignore_term,
    "grandchildren": grandchildren,
    "daemonize": daemonize,
    "segv": segv,
    "abort": abort,
    "oom-killed": oom_killed,
    "exit-137": exit_137,
    "panic": panic,
    "fail": fail,
    "flood": flood,
    "bad-bytes": bad_bytes,
    "echo-stdin": echo_stdin,
    "flaky": flaky,
}

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode.startswith("serve-"):
        serve(mode.removeprefix("serve-"))
    else:
        MODES[mode]()
