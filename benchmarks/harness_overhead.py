"""What the harness costs: the demo's run and chat cells through `aprqa run`, next to the same engine commands
run bare.

The playbook is the demo (playbooks/examples/smollm2-135m-demo.playbook.yaml) restricted to its run and chat
cells on CPU (serve is measured by serve_readiness.py / serve_reuse.py; profile_ci's extra runs are left out so
the cells are the demo's matrix cells). By default only its GGUF cells: `--formats all` adds the SafeTensors
twin's, which run on transformers and take ~4× longer. Each repetition runs `aprqa run` once, then re-runs
every command aprqa ran — the exact argv from each observation's `command` in evidence.json, with the profile's
stdin for chat — with `subprocess.run`, nothing else. The two alternate which goes first, so drift on a noisy
machine hits both.

Per cell, the aprqa time is the cell's span in the evidence (first scenario's start to last scenario's end:
process supervision, output parsing, judging and streaming the evidence included) and the bare time is the sum
of the bare processes' wall times. The ratio of their medians is the harness overhead; target ≤ 1.03. The
ratio of the best (minimum) times is printed beside it: other load on the machine inflates medians more than
minimums. The whole run's ratio is printed too: it adds aprqa's fixed costs (interpreter start, plan, the G0
contract scan of the 98 MB model, reports), which do not grow with the cells.

    .venv/bin/python benchmarks/harness_overhead.py [--repeat 9] [--formats gguf|all] [--verbose]
        [--model models/smollm2-135m/model.gguf]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from aprqa_action.engines import load_profile

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "playbooks" / "examples" / "smollm2-135m-demo.playbook.yaml"
MODEL = ROOT / "models" / "smollm2-135m" / "model.gguf"
TARGET = 1.03


def playbook(directory: Path, formats: list[str] | None) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["name"] = "smollm2-135m-demo-overhead"
    data["test_matrix"]["modalities"] = ["run", "chat"]
    data["test_matrix"]["backends"] = ["cpu"]
    if formats:
        data["model"]["formats"] = [f for f in data["model"]["formats"] if f in formats]
        if len(data["model"]["formats"]) < 2:
            data.pop("format_parity", None)  # compares formats: needs two
    data.pop("profile_ci", None)
    path = directory / "overhead.playbook.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cell_of(scenario_id: str) -> str:
    return scenario_id.rsplit(":", 1)[0]


def through_aprqa(book: Path, model: Path, out: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aprqa_action", "run", book, "--model-path", model, "--output-dir", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"aprqa run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, json.loads((out / "evidence.json").read_text())


def spans(evidence: dict[str, Any]) -> dict[str, float]:
    """Seconds from a cell's first scenario start to its last scenario end."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for obs in evidence["observations"]:
        if obs.get("started") and obs.get("ended"):
            times[cell_of(obs["scenario_id"])] += [
                datetime.fromisoformat(obs["started"]),
                datetime.fromisoformat(obs["ended"]),
            ]
    return {cell: (max(ts) - min(ts)).total_seconds() for cell, ts in times.items()}


def commands(evidence: dict[str, Any]) -> list[tuple[str, list[str], bytes | None]]:
    """(cell, argv, stdin) of every process aprqa ran, in order."""
    profile = load_profile("reference")
    scenarios = {s["id"]: s for s in evidence["scenarios"]}
    found = []
    for obs in evidence["observations"]:
        if obs["status"] == "skipped" or not obs.get("command"):
            continue
        scenario = scenarios[obs["scenario_id"]]
        stdin = None
        if scenario["modality"] == "chat" and profile.chat is not None and profile.chat.stdin is not None:
            values = {**scenario, "python": sys.executable, "model": scenario["model_path"], "port": "", "host": ""}
            stdin = profile.chat.stdin.format_map(values).encode()
        found.append((cell_of(obs["scenario_id"]), list(obs["command"]), stdin))
    return found


def bare(cmds: list[tuple[str, list[str], bytes | None]]) -> tuple[float, dict[str, float]]:
    per_cell: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    for cell, argv, stdin in cmds:
        t0 = time.perf_counter()
        done = subprocess.run(argv, input=stdin, capture_output=True, env=dict(os.environ))
        per_cell[cell] += time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"bare command failed ({done.returncode}): {argv}\n{done.stderr[-2000:]!r}")
    return time.perf_counter() - started, dict(per_cell)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9, help="repetitions of each side (medians are compared)")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument(
        "--formats",
        default="gguf",
        help="comma-separated formats of the demo to measure, or `all` (the SafeTensors cells run on transformers "
        "and take ~4× longer)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every repetition's per-cell times")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} is missing: run `make models` first")

    with tempfile.TemporaryDirectory(prefix="aprqa-overhead-") as tmp:
        directory = Path(tmp)
        book = playbook(directory, None if args.formats == "all" else args.formats.split(","))
        # Warm-up (not counted): page cache, sha256 cache, first imports.
        _, evidence = through_aprqa(book, args.model, directory / "warmup")
        cmds = commands(evidence)
        bare(cmds[:1])
        cells = sorted({cell for cell, _, _ in cmds})
        ours: dict[str, list[float]] = defaultdict(list)
        theirs: dict[str, list[float]] = defaultdict(list)
        ours_total: list[float] = []
        theirs_total: list[float] = []
        for rep in range(args.repeat):
            order = ["aprqa", "bare"] if rep % 2 == 0 else ["bare", "aprqa"]
            for side in order:
                if side == "aprqa":
                    wall, evidence = through_aprqa(book, args.model, directory / f"run{rep}")
                    ours_total.append(wall)
                    measured = spans(evidence)
                    for cell, seconds in measured.items():
                        ours[cell].append(seconds)
                else:
                    wall, measured = bare(cmds)
                    theirs_total.append(wall)
                    for cell, seconds in measured.items():
                        theirs[cell].append(seconds)
                if args.verbose:
                    times = " ".join(
                        f"{cell.split(':', 1)[1]}={seconds:.2f}" for cell, seconds in sorted(measured.items())
                    )
                    print(f"    {side:5} total={wall:.2f} {times}", flush=True)
            print(f"  repetition {rep + 1}/{args.repeat} done", flush=True)

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nharness overhead: {len(cmds)} engine processes per run, {args.repeat} repetitions (load average {load})")
    print(f"{'cell':44} {'aprqa s':>9} {'bare s':>9} {'ratio':>7}  {'best-of ratio':>13}  target ≤ {TARGET} (medians)")
    met = True
    for cell in cells:
        mine, base = statistics.median(ours[cell]), statistics.median(theirs[cell])
        ratio, best = mine / base, min(ours[cell]) / min(theirs[cell])
        met &= ratio <= TARGET
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"{cell:44} {mine:9.3f} {base:9.3f} {ratio:7.3f}  {best:13.3f}  {verdict}")
    whole = statistics.median(ours_total) / statistics.median(theirs_total)
    best_whole = min(ours_total) / min(theirs_total)
    print(
        f"{'whole `aprqa run` (fixed costs included)':44} {statistics.median(ours_total):9.3f} "
        f"{statistics.median(theirs_total):9.3f} {whole:7.3f}  {best_whole:13.3f}  (informational)"
    )
    print(f"per-cell target ≤ {TARGET} (ratio of medians): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
