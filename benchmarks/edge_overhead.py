"""What the EDGE checks add to the demo's wall time: the demo playbook as shipped (with its `edge:` section)
next to the same playbook without it, each run through the real CLI on the real model, alternating, in one
run of this script — so the ratio holds on any machine however fast. The target: ≤ 1.15.

    .venv/bin/python benchmarks/edge_overhead.py [--playbook P] [--model-path M] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "playbooks" / "examples" / "smollm2-135m-demo.playbook.yaml"
MODEL = ROOT / "models" / "smollm2-135m" / "model.gguf"


def _timed(playbook: Path, model: Path, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aprqa_action",
            "run",
            str(playbook),
            "--model-path",
            str(model),
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"aprqa run {playbook} exited {done.returncode}: {done.stderr[-1000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playbook", type=Path, default=DEMO)
    parser.add_argument("--model-path", type=Path, default=MODEL)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aprqa-edge-bench-") as tmp:
        work = Path(tmp)
        data = yaml.safe_load(args.playbook.read_text(encoding="utf-8"))
        if "edge" not in data:
            sys.exit(f"{args.playbook} declares no edge: section: nothing to measure")
        without = work / "without-edge.playbook.yaml"
        without.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "edge"}), encoding="utf-8")
        times: dict[str, list[float]] = {"with": [], "without": []}
        for i in range(args.rounds):
            times["without"].append(_timed(without, args.model_path, work / f"without-{i}"))
            times["with"].append(_timed(args.playbook, args.model_path, work / f"with-{i}"))
    base, edge = statistics.median(times["without"]), statistics.median(times["with"])
    print(
        f"demo without edge: {base:.1f} s (median of {args.rounds}: {', '.join(f'{t:.1f}' for t in times['without'])})"
    )
    print(f"demo with edge:    {edge:.1f} s (median of {args.rounds}: {', '.join(f'{t:.1f}' for t in times['with'])})")
    ratio = edge / base
    print(f"ratio with/without: {ratio:.3f} (target ≤ 1.15) {'ok' if ratio <= 1.15 else 'OVER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
