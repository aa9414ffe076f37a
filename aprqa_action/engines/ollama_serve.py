"""Ollama serving one GGUF file, in the foreground: the `ollama` profile's command line.

    python -m aprqa_action.engines.ollama_serve MODEL --host H --port P [--no-gpu] [--ctx-size N] [--name NAME]
        [--models-dir DIR] [--top-k K] [--top-p P] [--repeat-penalty R] [--ready-timeout S]
    python -m aprqa_action.engines.ollama_serve --version

Ollama serves only models in its own store, so one file takes three steps, all through its command line:

  1. `ollama serve`, its address from OLLAMA_HOST=H:P (the server must run before anything can be created);
  2. `ollama create NAME -f Modelfile` with a Modelfile `FROM <MODEL>` (and PARAMETER lines: num_ctx, num_gpu 0
     for the CPU, the playbook's sampling), which copies the file into the store;
  3. POST /api/generate {"model": NAME} with no prompt, which loads it: Ollama otherwise loads a model on its
     first request, and that request's TTFT would be the load time.

Then it waits on `ollama serve` until SIGTERM/SIGINT, which it passes on. GET /api/ps lists NAME only once
step 3 is done: that is the readiness to check (GET / answers "Ollama is running" before any model exists).

The store is a fresh temporary directory (OLLAMA_MODELS) unless --models-dir names one: a private store never
touches the user's models and never holds a stale NAME. Errors are one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn

from aprqa_action.engines.gguf_file import gguf_problem

PROG = "ollama_serve"
INSTALL = "install Ollama (https://ollama.com/download) and put `ollama` on PATH"
POLL_S = 0.05
STOP_GRACE_S = 5.0
# An address nobody answers on: `ollama --version` then reports the binary's own (client) version rather
# than that of whichever Ollama server happens to run on the default port.
NOBODY = "127.0.0.1:1"


class Stopped(Exception):
    """SIGTERM or SIGINT: raised from the handler to leave whatever step is waiting."""


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def ollama() -> str:
    found = shutil.which("ollama")
    if found is None:
        fail(f"`ollama` is not on PATH: {INSTALL}")
    return found


def version() -> str:
    """The line "ollama X.Y.Z", read from what `ollama --version` prints (several lines, some of them warnings)."""
    env = {**os.environ, "OLLAMA_HOST": NOBODY}
    try:
        done = subprocess.run([ollama(), "--version"], capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"`ollama --version` failed: {exc}")
    said = done.stdout + done.stderr
    found = re.search(r"client version is (\S+)", said) or re.search(r"ollama version is (\S+)", said)
    if done.returncode != 0 or found is None:
        fail(f"`ollama --version` said no version (exit {done.returncode}): {said.strip()[:200]!r}")
    return f"ollama {found.group(1)}"


def check_model(path: Path) -> None:
    problem = gguf_problem(path)
    if problem is not None:
        fail(problem)


def modelfile(args: argparse.Namespace) -> str:
    path = str(args.model.resolve())
    if "\n" in path or '"' in path:
        fail(f"a Modelfile cannot name this path: {path!r}")
    # Quoted, so that a path with leading or trailing spaces survives Ollama's parser.
    lines = [f'FROM "{path}"', f"PARAMETER num_ctx {args.ctx_size}"]
    if args.no_gpu:
        lines.append("PARAMETER num_gpu 0")  # layers offloaded to the GPU: none
    # Ollama's OpenAI route ignores top_k and repeat_penalty in a request body: the model's own parameters
    # are the only way to give them.
    for key, value in (("top_k", args.top_k), ("top_p", args.top_p), ("repeat_penalty", args.repeat_penalty)):
        if value is not None:
            lines.append(f"PARAMETER {key} {value}")
    return "\n".join(lines) + "\n"


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def call(host: str, port: int, method: str, path: str, body: object = None, timeout: float = 5.0) -> tuple[int, str]:
    """One HTTP exchange on loopback (http.client: no proxy from the environment)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


def wait_up(serve: subprocess.Popen[bytes], host: str, port: int, deadline: float) -> None:
    while True:
        if serve.poll() is not None:
            fail(f"`ollama serve` exited with code {serve.returncode} before answering on {host_port(host, port)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if call(host, port, "GET", "/", timeout=1.0)[0] == 200:
                return
        if time.monotonic() > deadline:
            fail(f"`ollama serve` did not answer on {host_port(host, port)} in time")
        time.sleep(POLL_S)


def create(binary: str, name: str, file: Path, env: dict[str, str], deadline: float) -> None:
    # Ollama's progress display goes to a pipe, kept for the error: a terminal's spinner is noise in a log.
    with subprocess.Popen(
        [binary, "create", name, "-f", str(file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            fail(f"`ollama create {name}` did not finish in time")
        except Stopped:
            proc.terminate()
            raise
    if proc.returncode != 0:
        said = [line.strip() for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
        fail(f"`ollama create {name}` failed (exit {proc.returncode}): {said[-1] if said else 'no output'}")


def preload(host: str, port: int, name: str, deadline: float) -> None:
    timeout = max(1.0, deadline - time.monotonic())
    try:
        status, body = call(host, port, "POST", "/api/generate", {"model": name, "keep_alive": -1}, timeout)
    except (OSError, http.client.HTTPException) as exc:
        fail(f"loading {name} failed: {exc}")
    if status != 200:
        fail(f"loading {name} failed: POST /api/generate answered {status}: {body.strip()[:300]}")


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def end(serve: subprocess.Popen[bytes]) -> None:
    if serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        serve.wait(timeout=STOP_GRACE_S)
        return
    serve.kill()
    serve.wait()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Ollama serving one GGUF file")
    parser.add_argument("model", type=Path, help="a GGUF file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-gpu", action="store_true", help="keep every layer on the CPU (num_gpu 0)")
    parser.add_argument("--ctx-size", type=int, default=2048, help="num_ctx (default 2048; Ollama's own varies)")
    parser.add_argument("--name", default="default", help="the model's name in Ollama, which requests must send")
    parser.add_argument("--models-dir", type=Path, default=None, help="Ollama's store (default: a temporary one)")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--repeat-penalty", type=float, default=None)
    parser.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to start, create and load")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    binary = ollama()
    check_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="aprqa-ollama-"))
    env = {
        **os.environ,
        "OLLAMA_HOST": host_port(args.host, args.port),
        "OLLAMA_MODELS": str(args.models_dir or work / "models"),
        "OLLAMA_KEEP_ALIVE": "-1",  # never unload between scenarios: a reload would land in one request's TTFT
        "OLLAMA_NUM_PARALLEL": "1",  # one slot with the whole context, as the other engines serve
    }
    deadline = time.monotonic() + args.ready_timeout
    server: subprocess.Popen[bytes] | None = None
    try:
        with stopped_by_signals():
            (work / "Modelfile").write_text(modelfile(args))
            server = subprocess.Popen([binary, "serve"], env=env)
            wait_up(server, args.host, args.port, deadline)
            create(binary, args.name, work / "Modelfile", env, deadline)
            preload(args.host, args.port, args.name, deadline)
            print(
                f"{PROG}: {args.name} created from {args.model} and loaded; Ollama serves it on "
                f"http://{host_port(args.host, args.port)}",
                file=sys.stderr,
                flush=True,
            )
            code = server.wait()
        print(f"{PROG}: error: `ollama serve` exited with code {code}", file=sys.stderr, flush=True)
        return 1
    except Stopped:
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
        # Before the wait: a supervisor that kills this process group after a grace must not leave a copy of
        # the model in a private store behind.
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            end(server)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:
        print(version())
        return
    raise SystemExit(serve(parse(argv)))


if __name__ == "__main__":
    main()
