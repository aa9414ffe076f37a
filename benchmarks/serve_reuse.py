"""Server starts per (format, backend) cell: a serve-only playbook with scenario_count 10 on the real engine
(target: 1 start per cell, every scenario answered by it).

`aprqa run` runs the playbook on the SmolLM2 GGUF with the reference engine, as a user would. Starts are
counted three independent ways:

  * a psutil poller (every 10 ms, from this benchmark) records the PID of every process whose command line
    is the reference engine's `serve` — a process is one server start;
  * the distinct `command` lines of the cell's observations (each start gets a free port of its own);
  * the distinct `load_ms` values of the cell's observations (each start measures its own readiness).

    .venv/bin/python benchmarks/serve_reuse.py [--scenarios 10] [--model models/smollm2-135m/model.gguf]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "smollm2-135m" / "model.gguf"
SERVE_MARK = ("aprqa_action.reference_engine", "serve")


def playbook(directory: Path, scenarios: int) -> Path:
    data = {
        "name": "serve-reuse",
        "version": "1.0.0",
        "model": {"hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "formats": ["gguf"], "size_category": "tiny"},
        "test_matrix": {
            "modalities": ["serve"],
            "backends": ["cpu", "gpu"],  # gpu is Skipped where there is none: no server may start for it
            "scenario_count": scenarios,
            "max_tokens": 8,
            "prompts": ["What is 2+2?", "Name a prime number.", "Say hello."],
        },
        "engine": "reference",
    }
    path = directory / "serve-reuse.playbook.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class ServerWatch:
    """PIDs (and command lines) of reference `serve` processes among `root`'s descendants while it runs (other
    processes on the machine, a test suite's servers say, are not ours to count)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, list[str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(self.root).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        cmdline = proc.cmdline()
                        if all(mark in cmdline for mark in SERVE_MARK):
                            self.seen.setdefault(proc.pid, cmdline)
            time.sleep(0.01)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=10, help="scenario_count of the serve cell")
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} is missing: run `make models` first")

    with tempfile.TemporaryDirectory(prefix="aprqa-serve-reuse-") as tmp:
        directory = Path(tmp)
        book = playbook(directory, args.scenarios)
        started = time.monotonic()
        argv = [sys.executable, "-m", "aprqa_action", "run", book, "--model-path", args.model, "--output-dir",
                directory / "out"]  # fmt: skip
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as aprqa:
            watch = ServerWatch(aprqa.pid)
            try:
                _, stderr = aprqa.communicate(timeout=1800)
            finally:
                watch.close()
        wall = time.monotonic() - started
        if aprqa.returncode not in (0, 1):
            raise SystemExit(f"aprqa run failed ({aprqa.returncode}):\n{stderr[-3000:]}")
        evidence = json.loads((directory / "out" / "evidence.json").read_text())

    cells: dict[str, list[dict]] = defaultdict(list)
    for obs in evidence["observations"]:
        cells[obs["scenario_id"].rsplit(":", 1)[0]].append(obs)
    ports_by_pid = {pid: cmd[cmd.index("--port") + 1] for pid, cmd in watch.seen.items() if "--port" in cmd}
    print(
        f"serve-only playbook, scenario_count {args.scenarios}: `aprqa run` took {wall:.1f} s (exit {aprqa.returncode})"
    )
    print(f"{'cell':36} {'scenarios':>9} {'ok':>4} {'server PIDs':>11} {'commands':>9} {'load_ms':>8}  starts")
    all_met = True
    for cell, observations in sorted(cells.items()):
        ran = [o for o in observations if o["status"] != "skipped"]
        ok = sum(o["status"] == "ok" for o in ran)
        commands = {json.dumps(o["command"]) for o in ran if o.get("command")}
        loads = {o["load_ms"] for o in ran if o.get("load_ms") is not None}
        ports = {c[c.index("--port") + 1] for c in map(json.loads, commands) if "--port" in c}
        pids = [pid for pid, port in ports_by_pid.items() if port in ports]
        starts = max(len(pids), len(commands), len(loads))
        if not ran:
            print(
                f"{cell:36} {len(observations):9d} {'-':>4} {0:11d} {0:9d} {0:8d}  0 (skipped: "
                f"{observations[0].get('reason', '')[:60]})"
            )
            continue
        met = starts == 1 and ok == len(ran)
        all_met &= met
        print(
            f"{cell:36} {len(observations):9d} {ok:4d} {len(pids):11d} {len(commands):9d} {len(loads):8d}  "
            f"{starts} ({'met' if met else 'NOT met'})"
        )
    print(f"server processes seen in all: {len(watch.seen)}")
    print(f"target 1 start per (format, backend) cell, every scenario answered: {'met' if all_met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
