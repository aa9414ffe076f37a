"""How long `aprqa qa` takes on the demo model, against the 3-minute budget of the seed's `apr qa` (3.3 min on
a 7B GPU model): wall time of the real CLI, per deep gate the wall time of its scenarios (from the evidence), and
the ratio wall ÷ 180 s, measured in this one run. The target: ≤ 1.0 on a 2-core machine.

    .venv/bin/python benchmarks/qa_duration.py [--model models/smollm2-135m/model.gguf] [-- QA FLAGS…]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "smollm2-135m" / "model.gguf"
BUDGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("flags", nargs="*", help="more `aprqa qa` flags (after --)")
    args = parser.parse_args()
    from aprqa_action.report.qa_table import qa_rows
    from aprqa_action.store.evidence import read_evidence

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "qa"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "aprqa_action", "qa", str(args.model), "--output-dir", str(out), *args.flags],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"aprqa qa exited {done.returncode}: {done.stderr[-1000:]}")
        evidence = read_evidence(out / "evidence.json")
    print(f"aprqa qa {args.model.name}: {wall:.1f} s wall, exit {done.returncode}")
    for row in qa_rows(evidence):
        print(f"  {row.gate:24} {row.status:5} {row.duration:>8}")
    print(f"ratio wall / {BUDGET_S:.0f} s budget: {wall / BUDGET_S:.2f} (target ≤ 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
