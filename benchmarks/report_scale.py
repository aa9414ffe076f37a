"""How the reports scale: a synthetic 10,000-scenario evidence file, written, read back, rendered.

    .venv/bin/python benchmarks/report_scale.py [--scenarios 10000] [--fail-every 5] [--excerpt-chars 300]

Without options it runs two cases: a realistic one (every 5th scenario falsified, 300-character excerpts as
the oracles cut them) and the worst case (every scenario falsified by two oracles, 2,000-character hostile
excerpts). For each it prints the time to read evidence.json back, the render time of every report (the
evidence → view → summary, comment and JUnit path `write_reports` takes, timed without instrumentation), the
peak traced memory of a second, traced render (tracemalloc), and the sizes against GitHub's limits. Then
what `aprqa report evidence.json` costs as a whole: read + write_reports in a fresh process (so that building the
synthetic evidence here does not count), its total time and its peak RSS (interpreter and imports included;
the RSS after the imports is printed too). Targets on the reference machine: render ≤ 2 s and read + render
≤ 2 s, ≤ 200 MB traced and ≤ 200 MB peak RSS, comment ≤ 65,536 characters. It is not part of the test
suite: tests never assert wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the evidence builders the tests use

from report_fixtures import synthetic  # noqa: E402

from aprqa_action.records import Evidence  # noqa: E402
from aprqa_action.report import write_reports  # noqa: E402
from aprqa_action.report.junit import paused_gc, render_junit  # noqa: E402
from aprqa_action.report.limits import COMMENT_LIMIT, SUMMARY_LIMIT  # noqa: E402
from aprqa_action.report.markdown import render_comment, render_summary  # noqa: E402
from aprqa_action.report.view import build_view  # noqa: E402
from aprqa_action.store.evidence import read_evidence, write_evidence  # noqa: E402

MB = 1024 * 1024
TARGET_S = 2.0
TARGET_MB = 200

# `aprqa report`'s work in a fresh interpreter: read evidence.json, write every report (write_reports, as
# `aprqa report` does: JUnit goes to its file as it is made). Prints one JSON line.
FRESH = """
import json, sys, tempfile, time
from pathlib import Path
from aprqa_action.store.evidence import read_evidence
from aprqa_action.report import write_reports
def hwm_mb():  # VmHWM belongs to this process's own memory map: ru_maxrss may carry the parent's over exec
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
imported_mb = hwm_mb()
started, cpu = time.perf_counter(), time.process_time()
evidence = read_evidence(Path(sys.argv[1]))
read_s, read_mb = time.perf_counter() - started, hwm_mb()
with tempfile.TemporaryDirectory() as out:
    write_reports(evidence, Path(out))
total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
figures = {"read_s": read_s, "total_s": total_s, "cpu_s": cpu_s, "rss_mb": hwm_mb(), "imported_mb": imported_mb}
figures["read_mb"] = read_mb
print(json.dumps(figures))
"""


def fresh_read_and_render(path: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", FRESH, str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def render_all(evidence: Evidence) -> tuple[str, str, str]:
    with paused_gc():  # as write_reports does
        view = build_view(evidence)
        return render_summary(evidence, view=view), render_comment(evidence, view=view), render_junit(evidence)


def case(scenarios: int, fail_every: int, excerpt_chars: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="aprqa-scale-") as tmp:
        directory = Path(tmp)
        path = write_evidence(directory, synthetic(scenarios, fail_every=fail_every, excerpt_chars=excerpt_chars))
        json_mb = path.stat().st_size / MB
        started = time.perf_counter()
        evidence = read_evidence(path)  # as `aprqa report evidence.json` would
        load_s = time.perf_counter() - started

        started = time.perf_counter()
        summary, comment, junit = render_all(evidence)
        render_s = time.perf_counter() - started

        started = time.perf_counter()
        write_reports(evidence, directory / "reports")
        write_s = time.perf_counter() - started

        tracemalloc.start()
        render_all(evidence)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        fresh = fresh_read_and_render(path)

    failing = len(range(0, scenarios, fail_every))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; this process built it all
    summary_bytes = len(summary.encode("utf-8"))
    print(
        f"{scenarios:,} scenarios, {failing:,} falsified, {excerpt_chars:,}-character excerpts, "
        f"{len(evidence.items):,} evidence items, evidence.json {json_mb:.1f} MB"
    )
    print(f"  read evidence.json   {load_s:6.2f} s")
    print(f"  render all reports   {render_s:6.2f} s   (write_reports with files: {write_s:.2f} s)")
    print(f"  render peak memory   {peak / MB:6.1f} MB traced (this process, generator included: {rss_mb:.0f} MB RSS)")
    print(
        f"  read + render, fresh {fresh['total_s']:6.2f} s   (read {fresh['read_s']:.2f} s, "
        f"CPU {fresh['cpu_s']:.2f} s); peak RSS {fresh['rss_mb']:.0f} MB ({fresh['imported_mb']:.0f} MB after the "
        f"imports, {fresh['read_mb']:.0f} MB after the read)"
    )
    print(f"  summary.md           {summary_bytes:>10,} bytes of {SUMMARY_LIMIT:,}")
    print(f"  comment.md           {len(comment):>10,} characters of {COMMENT_LIMIT:,}")
    print(f"  junit.xml            {len(junit.encode('utf-8')):>10,} bytes")
    checks = {
        f"render ≤ {TARGET_S:g} s": render_s <= TARGET_S,
        f"read + render ≤ {TARGET_S:g} s": fresh["total_s"] <= TARGET_S,
        f"≤ {TARGET_MB} MB traced": peak <= TARGET_MB * MB,
        f"peak RSS ≤ {TARGET_MB} MB": fresh["rss_mb"] <= TARGET_MB,
        "within GitHub's limits": len(comment) <= COMMENT_LIMIT and summary_bytes <= SUMMARY_LIMIT,
    }
    missed = [name for name, met in checks.items() if not met]
    print(f"  targets ({', '.join(checks)}): {'met' if not missed else 'MISSED: ' + ', '.join(missed)}")
    return not missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--fail-every", type=int, help="every n-th scenario is falsified (default: both cases)")
    parser.add_argument("--excerpt-chars", type=int, default=300)
    args = parser.parse_args()
    cases = (
        [(args.scenarios, args.fail_every, args.excerpt_chars)]
        if args.fail_every
        else [(args.scenarios, 5, 300), (args.scenarios, 1, 2_000)]
    )
    results = [case(*c) for c in cases]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
