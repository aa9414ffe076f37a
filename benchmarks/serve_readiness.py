"""How soon the harness uses a server once it is ready: from the server's first healthy answer to our first
request arriving at it (target ≤ 50 ms).

Each start goes through `aprqa_action.execute.server.EngineServer` with the reference profile's serve mode on
the SmolLM2 GGUF, exactly as the executor drives a serve cell: `start()` (free port, spawn, readiness poll every
20 ms), then the first scenario's `request()`. Two independent observers:

  (a) a poller thread of this benchmark that GETs the server's health URL (/v1/models) every 1 ms, directly on
      the server, and timestamps the first 200;
  (b) a tiny TCP proxy in front of the server: EngineServer is handed the proxy's port (its `argv_for_port`
      starts the proxy there and the engine on a port of its own), so every byte the harness sends passes it;
      it timestamps the first request that starts with "POST".

The gap (b) − (a) is the harness's readiness latency. Both clocks are this process's time.monotonic().
The distribution over N starts is printed.

    .venv/bin/python benchmarks/serve_readiness.py [--starts 10] [--model models/smollm2-135m/model.gguf]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

from aprqa_action.engines import load_profile
from aprqa_action.execute.server import HOST, EngineServer, free_port

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "smollm2-135m" / "model.gguf"
TARGET_MS = 50.0
POLL_S = 0.001


class Proxy:
    """Listens on `port`, forwards each connection to `target`, remembers when the first POST arrived."""

    def __init__(self, port: int, target: int) -> None:
        self.target = target
        self.first_post: float | None = None
        self.listener = socket.create_server((HOST, port))
        self.listener.settimeout(0.2)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client, socket.create_connection((HOST, self.target)) as upstream:
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
            back.start()
            self._pipe(client, upstream, watch=True)
            back.join(timeout=30)

    def _pipe(self, source: socket.socket, sink: socket.socket, watch: bool = False) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if watch and self.first_post is None and data.startswith(b"POST "):
                    self.first_post = time.monotonic()
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


class Poller:
    """GETs the health URL every POLL_S and remembers the first time it answered 200."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.first_ok: float | None = None
        self.polls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        while not self.stop.is_set() and self.first_ok is None:
            self.polls += 1
            with contextlib.suppress(requests.RequestException):
                if session.get(self.url, timeout=0.5).status_code == 200:
                    self.first_ok = time.monotonic()
                    return
            time.sleep(POLL_S)


def one_start(model: Path) -> tuple[float, float, int]:
    """(gap ms, load ms as EngineServer measured it, poller requests)."""
    profile = load_profile("reference")
    mode = profile.serve
    assert mode is not None
    inner = free_port()
    proxy: Proxy | None = None
    poller: Poller | None = None

    def argv_for_port(port: int) -> list[str]:
        nonlocal proxy, poller
        if port and proxy is None:  # port 0 is only asked for to name the program in an error
            proxy = Proxy(port, inner)
            poller = Poller(f"http://{HOST}:{inner}{mode.health.path}")
        values = {"python": sys.executable, "model": str(model), "host": HOST, "port": inner}
        argv: list[str] = []
        for item in mode.argv:
            argv += profile.backend_args.get("cpu", []) if item == "{backend_args}" else [item.format_map(values)]
        return argv

    server = EngineServer(argv_for_port, mode)
    try:
        failure = server.start(120.0)
        if failure is not None:
            raise SystemExit(f"server did not start: {failure}")
        reply = server.request("What is 2+2?", 8, 0.0, 42, 60.0)  # the first scenario, as the executor sends it
        if reply.status != "ok":
            raise SystemExit(f"first request failed: {reply.reason}")
    finally:
        server.close()
        if poller is not None:
            poller.stop.set()
        if proxy is not None:
            proxy.close()
    assert proxy is not None and poller is not None
    if proxy.first_post is None or poller.first_ok is None:
        raise SystemExit("an observer saw nothing: no POST through the proxy or no 200 from the server")
    return (proxy.first_post - poller.first_ok) * 1000, server.load_ms or 0.0, poller.polls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} is missing: run `make models` first")
    gaps: list[float] = []
    for index in range(args.starts):
        gap, load_ms, polls = one_start(args.model)
        gaps.append(gap)
        print(
            f"  start {index + 1:2d}: ready after {load_ms:7.0f} ms · first POST {gap:6.1f} ms after the first 200 "
            f"({polls} polls at 1 ms)",
            flush=True,
        )
    gaps.sort()
    p90 = gaps[max(0, -(-len(gaps) * 9 // 10) - 1)]  # nearest rank
    print(f"\nfirst healthy answer → first request, over {len(gaps)} starts (ms):")
    print(f"  min {gaps[0]:.1f} · median {statistics.median(gaps):.1f} · p90 {p90:.1f} · max {gaps[-1]:.1f}")
    print(f"  all: {', '.join(f'{g:.1f}' for g in gaps)}")
    worst_ok = gaps[-1] <= TARGET_MS
    print(
        f"target ≤ {TARGET_MS:.0f} ms: {'met' if worst_ok else 'NOT met'} for every start "
        f"({sum(g <= TARGET_MS for g in gaps)}/{len(gaps)} within)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
