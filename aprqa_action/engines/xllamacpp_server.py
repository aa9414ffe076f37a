"""llama.cpp's own server from the xllamacpp wheel, in the foreground: the `xllamacpp` profile's command line.

    python -m aprqa_action.engines.xllamacpp_server MODEL --host H --port P [--no-gpu] [--ctx-size N] [--threads N]
    python -m aprqa_action.engines.xllamacpp_server --version

xllamacpp has no command line of its own: `xllamacpp.Server(CommonParams)` loads the model and serves
llama.cpp's C++ HTTP server (the one `llama-server` runs) from threads of the calling process. This module is
that call, kept in the foreground until SIGTERM or SIGINT. GET /health answers 503 while the model loads and
200 once it can serve; POST /v1/chat/completions streams SSE chunks and ends with `data: [DONE]`.

Like llama-server's -ngl, the GPU gets every layer unless --no-gpu is given; asking for the GPU from a build
that sees none is an error rather than a CPU run under a gpu label. Errors are one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from aprqa_action.engines.gguf_file import gguf_problem

PROG = "xllamacpp_server"
INSTALL = "pip install -e '.[engine-parity]'"
ALL_LAYERS = 999  # "all of them", as llamacpp-server.yaml passes: the default changed across llama.cpp releases
LOG_SETTLE_S = 0.3
STOP_GRACE_S = 5  # the native server's shutdown joins its threads; past this the process is ended anyway


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def version() -> str:
    try:
        return f"xllamacpp {metadata.version('xllamacpp')}"
    except metadata.PackageNotFoundError:
        fail(f"xllamacpp is not installed for {sys.executable}: {INSTALL}")


def check_model(path: Path) -> None:
    problem = gguf_problem(path)
    if problem is not None:
        fail(problem)


def port_taken(host: str, port: int) -> OSError | None:
    """Whether (host, port) cannot be bound now. llama.cpp's own message for it names no errno, and the
    harness retries on another port only when it reads "address already in use"."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def has_gpu(xlc: Any) -> bool:
    wanted = {
        xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_GPU,
        xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_IGPU,
    }
    return any(device.get("type") in wanted for device in xlc.get_device_info())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="llama.cpp's server from the xllamacpp wheel")
    parser.add_argument("model", type=Path, help="a GGUF file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-gpu", action="store_true", help="keep every layer on the CPU")
    parser.add_argument("--ctx-size", type=int, default=2048, help="context length in tokens (default 2048)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    check_model(args.model)
    taken = port_taken(args.host, args.port)
    if taken is not None:
        fail(f"cannot listen on {args.host}:{args.port}: {taken}")
    try:
        import xllamacpp as xlc
    except ImportError as exc:
        fail(f"cannot import xllamacpp in {sys.executable} ({exc}): {INSTALL}")
    if not args.no_gpu and not has_gpu(xlc):
        fail(
            "the GPU was asked for, but this xllamacpp build sees no GPU device: pass --no-gpu, or install a GPU wheel"
        )

    params = xlc.CommonParams()
    params.model.path = str(args.model)
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx_size
    params.n_gpu_layers = 0 if args.no_gpu else ALL_LAYERS
    params.n_parallel = 1  # one slot: the whole context for each request, and requests answered in order
    if args.threads is not None:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads

    # Until the model is loaded, SIGTERM and SIGINT end the process at once: the constructor holds the GIL, so
    # a Python handler (KeyboardInterrupt too) would only run after a load that may take minutes.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        server = xlc.Server(params)
    except RuntimeError:
        # llama.cpp logs from its own thread: let its last lines out first, so that ours is the last on stderr
        time.sleep(LOG_SETTLE_S)
        taken = port_taken(args.host, args.port)
        if taken is not None and taken.errno == errno.EADDRINUSE:
            fail(f"cannot listen on {args.host}:{args.port}: {taken}")
        fail(f"llama.cpp could not load {args.model} (its log above says why)")

    # The native server installed its own SIGTERM/SIGINT handlers, which stop its threads but leave this
    # process waiting forever: take them back.
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    layers = 0 if args.no_gpu else ALL_LAYERS
    print(
        f"{PROG}: {version()} serving {args.model} on {server.listening_address} "
        f"(ctx {args.ctx_size}, gpu layers {layers})",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    # The destructor joins the native threads while holding the GIL: an alarm left at its default action
    # ends a shutdown that hangs, with no Python code needed to run.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(STOP_GRACE_S)
    del server


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:
        print(version())
        return
    serve(parse(argv))


if __name__ == "__main__":
    main()
