"""The nightly fuzz run: ≥ 10,000 generated or mutated playbooks and ≥ 10,000 mutated model files.

Playbooks go through `load_playbook` with the strategies of tests/test_fuzz_playbook.py (random YAML-ish text,
line and tree mutations of the shipped playbooks with deeper nesting and longer strings than the test suite
uses, anchors and aliases, invalid UTF-8), then the alias bombs run in a subprocess under an address-space
limit and a call budget. Model files go through `read_model` and `check_invariants`: byte mutations and
truncations of tiny GGUF and SafeTensors files written by the ecosystem's own libraries (tests/contracts_
fixtures.py), of a sharded index, and of the first 4 MB of the real SmolLM2 GGUF (its 1.78 MB header and the
start of its data). Every bug the fuzzers found so far is fixed, so any uncaught exception is a failure.

Prints, per part: inputs, valid results, clear errors, unclear errors, uncaught exceptions (by type, with
where the first one came from), hangs, peak traced memory per input and the process's peak RSS. Exits 1 when
anything but valid results and clear errors was seen. Failing inputs are kept under --keep.

    .venv/bin/python benchmarks/fuzz_nightly.py [--playbook-inputs 10000] [--model-inputs 10000]
        [--keep DIR] [--atheris-runs 0]

The optional atheris part (coverage-guided, libFuzzer) runs when `atheris` imports (PyPI wheel; install it
with `pip install atheris`, or put it on PYTHONPATH) and --atheris-runs > 0. An uncaught exception there is a
crash too.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from contracts_fixtures import SMOLLM2, tiny_gguf, tiny_safetensors, tiny_sharded  # noqa: E402
from gguf import GGMLQuantizationType  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from test_fuzz_playbook import (  # noqa: E402
    PEAK_LIMIT,
    assert_clear,
    billion_laughs,
    bounded_aliases,
    bounded_load,
    invalid_utf8,
    mutated_text,
    mutated_tree,
    yamlish,
)

from aprqa_action.contracts import InvariantResult, ModelFile, ReadFailure, check_invariants, read_model  # noqa: E402
from aprqa_action.errors import InputError  # noqa: E402
from aprqa_action.playbook import load_playbook  # noqa: E402

ALL = ["I-2", "I-3", "I-4", "I-5"]
TRACE_EVERY = 10  # inputs per traced one
ADDRESS_SPACE = 8 << 30  # the whole run: an input that explodes memory raises MemoryError (counted)
RSS_JUMP_MIB = 64  # kept and listed
RSS_OUTLIER_MIB = 256  # counted as a bad outcome: no input of these sizes needs that much
HANG_S = 60  # one input taking this long is a hang (the slowest legitimate one takes ~2 s here)
TRACED_HANG_S = 10  # under tracemalloc; then the input runs again untraced, under HANG_S
INTERESTING = [0, 1, 7, 31, 255, 2**16 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**62, 2**63, 2**64 - 1]


class Hang(KeyboardInterrupt):
    """Raised by the alarm when one input runs past HANG_S. An interrupt, as aprqa's own cancellation
    (execute.Cancelled) is: the readers' safety nets turn any other BaseException (a Rust panic) into an
    "internal error" reason, which swallowed a plain BaseException here and counted a slow traced input as
    an uncaught exception instead of re-running it untraced."""


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Tally:
    name: str
    inputs: int = 0
    valid: int = 0
    clear: int = 0
    unclear: int = 0
    hangs: int = 0
    uncaught: collections.Counter[str] = field(default_factory=collections.Counter)
    first_trace: dict[str, str] = field(default_factory=dict)
    peak: int = 0  # bytes traced by tracemalloc during one input, the largest
    rss_jumps: list[tuple[float, int]] = field(default_factory=list)  # (MiB, input number): raised peak RSS
    slowest: float = 0.0  # untraced
    retried_untraced: int = 0  # inputs that ran past TRACED_HANG_S under tracemalloc
    kept: list[str] = field(default_factory=list)

    @property
    def memory_outliers(self) -> int:
        return sum(mib >= RSS_OUTLIER_MIB for mib, _ in self.rss_jumps)

    @property
    def bad(self) -> int:
        return self.unclear + self.hangs + sum(self.uncaught.values()) + self.memory_outliers

    def lines(self) -> list[str]:
        out = [
            f"{self.name}:",
            f"  inputs               {self.inputs}",
            f"  valid results        {self.valid}",
            f"  clear errors         {self.clear}",
            f"  unclear errors       {self.unclear}",
            f"  uncaught exceptions  {sum(self.uncaught.values())}  (must be 0)",
            f"  hangs (> {HANG_S} s)      {self.hangs}",
            f"  peak traced memory   {self.peak / 2**20:.1f} MiB per input (largest; 1 in {TRACE_EVERY} traced)",
            f"  slowest input        {self.slowest * 1000:.0f} ms (untraced)",
        ]
        if self.retried_untraced:
            out.append(
                f"  {self.retried_untraced} traced input(s) over {TRACED_HANG_S} s under tracemalloc, re-run untraced"
            )
        out.append(
            f"  memory outliers      {self.memory_outliers}  (an input raising peak RSS by ≥ {RSS_OUTLIER_MIB} MiB)"
        )
        for mib, number in sorted(self.rss_jumps, reverse=True)[:3]:
            out.append(f"    input #{number} raised the process's peak RSS by {mib:.0f} MiB")
        for kind, count in self.uncaught.most_common():
            out.append(f"    {count:6d} × {kind}")
            out.append(f"           first at: {self.first_trace[kind]}")
        if self.kept:
            out.append(f"  failing inputs kept: {len(self.kept)} (e.g. {self.kept[0]})")
        return out


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/aprqa_action/" in f.filename] or frames
    last = ours[-1] if ours else None
    return f"{Path(last.filename).name}:{last.lineno} ({last.name})" if last else "?"


class Runner:
    def __init__(self, tally: Tally, keep: Path | None, trace_every: int = TRACE_EVERY) -> None:
        self.tally = tally
        self.keep = keep
        self.trace_every = trace_every

    def _keep(self, data: bytes, kind: str, suffix: str, always: bool = False) -> None:
        if self.keep is None or (len(self.tally.kept) >= 200 and not always):
            return
        self.keep.mkdir(parents=True, exist_ok=True)
        part = self.tally.name.split()[0]
        label = "".join(c if c.isalnum() else "-" for c in kind)[:40].strip("-")
        path = self.keep / f"{part}-{len(self.tally.kept):03d}-{label}{suffix}"
        path.write_bytes(data)
        self.tally.kept.append(str(path))

    def one(self, data: bytes, suffix: str, judge: Callable[[], str]) -> None:
        """Run `judge` (which reads the input file) once: 'valid', 'clear' or 'unclear'; count everything else."""
        self.tally.inputs += 1
        # tracemalloc slows allocation-heavy inputs ~25× (and deep recursion far more): trace a sample, and
        # time an input that hangs while traced again untraced before calling it a hang.
        traced = self.tally.inputs % self.trace_every == 0
        try:
            verdict = self._timed(data, suffix, judge, traced)
        except Hang:
            if not traced:
                raise
            self.tally.retried_untraced += 1
            verdict = self._timed(data, suffix, judge, traced=False)
        if verdict in ("hang", "uncaught"):
            return
        if verdict == "valid":
            self.tally.valid += 1
        elif verdict == "clear":
            self.tally.clear += 1
        else:
            self.tally.unclear += 1
            self._keep(data, "unclear", suffix)

    def _timed(self, data: bytes, suffix: str, judge: Callable[[], str], traced: bool) -> str:
        if traced:
            tracemalloc.start()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        try:
            with hang_guard(TRACED_HANG_S if traced else HANG_S):
                return judge()
        except Hang:
            if traced:
                raise
            self.tally.hangs += 1
            self._keep(data, "hang", suffix, always=True)
            return "hang"
        except Exception as exc:
            kind = type(exc).__name__
            self.tally.uncaught[kind] += 1
            self.tally.first_trace.setdefault(kind, _where(exc) + f": {str(exc)[:120]!r}")
            self._keep(data, kind, suffix)
            return "uncaught"
        finally:
            took = time.perf_counter() - started
            if took > self.tally.slowest and not traced:
                self.tally.slowest = took
                self._keep(data, f"slowest-{took:.1f}s", suffix, always=True)
            jump = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
            if jump >= RSS_JUMP_MIB:  # the high-water mark moved: this input is a memory outlier
                self.tally.rss_jumps.append((jump, self.tally.inputs))
                self._keep(data, f"rss-jump-{jump:.0f}MiB", suffix, always=True)
            if traced:
                self.tally.peak = max(self.tally.peak, tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()


# -- playbooks -------------------------------------------------------------------------------------------


def judge_playbook(path: Path, text: str | None) -> str:
    try:
        load_playbook(path)
    except InputError as exc:
        try:
            raw = assert_clear(str(exc), path, text)
        except AssertionError:
            return "unclear"
        return "unclear" if raw else "clear"
    return "valid"


def fuzz_playbooks(total: int, workdir: Path, keep: Path | None, rng_seed: int) -> Tally:
    tally = Tally("playbook loader (load_playbook)")
    runner = Runner(tally, keep)
    path = workdir / "fuzzed.playbook.yaml"

    def feed(data: bytes) -> None:
        path.write_bytes(data)
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        runner.one(data, ".yaml", lambda: judge_playbook(path, text))

    # Deeper nesting and longer strings than the test suite: the stack and the scanner are what they test.
    shares = [
        (yamlish(), 0.25),
        (mutated_text(max_depth=2000), 0.25),
        (mutated_tree(max_depth=250, max_long=300_000), 0.25),  # 250: what yaml.safe_dump can write
        (bounded_aliases().map(lambda case: case[0]), 0.10),
        (invalid_utf8(), 0.15),
    ]
    # Hypothesis stops early on a strategy whose space it has exhausted: go round until `total` is reached.
    for _ in range(10):
        missing = total - tally.inputs
        if missing <= 0:
            break
        for strategy, share in shares:
            count = max(1, round(missing * share))
            as_bytes = strategy.map(lambda x: x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass"))

            @settings(
                max_examples=count,
                database=None,
                deadline=None,
                phases=[Phase.generate],  # count inputs, never shrink: nothing here fails the "test"
                suppress_health_check=list(HealthCheck),
            )
            @seed(rng_seed + tally.inputs)  # reproducible: the same --seed generates the same inputs
            @given(data=as_bytes)
            def run(data: bytes) -> None:
                feed(data)

            before, clock = tally.inputs, time.monotonic()
            run()
            took = time.monotonic() - clock
            print(f"  {tally.inputs - before:6d} inputs from {strategy!r:.70} in {took:.0f} s", flush=True)

    # The bombs: each in a child, under an address-space limit and a call budget (see the test module).
    for kind in ("lists", "merge"):
        bomb = workdir / f"bomb-{kind}.yaml"
        bomb.write_text(billion_laughs(kind=kind))
        report = bounded_load(bomb)
        tally.inputs += 1
        tally.peak = max(tally.peak, int(report["peak"]))
        print(f"  billion laughs ({kind}): {report['result'][:80]} after {report['calls']} calls")
        if report["result"].startswith("error: "):
            tally.clear += 1
        elif report["result"] == "over budget":
            tally.hangs += 1  # unbounded work: 10^9 node visits, stopped by the call budget
            runner._keep(bomb.read_bytes(), "alias bomb over budget", ".yaml")
        else:
            tally.uncaught[report["result"][:60]] += 1
            tally.first_trace.setdefault(report["result"][:60], "subprocess")
    return tally


# -- model files -----------------------------------------------------------------------------------------


@dataclass
class Base:
    name: str
    data: bytes
    suffix: str
    region: int  # mutations land within the first `region` bytes (the header, mostly)
    quantizations: list[str]


def model_bases(workdir: Path) -> list[tuple[Base, float]]:
    """(base file, share of the inputs)."""
    made = workdir / "bases"
    made.mkdir()
    q8 = tiny_gguf(made / "q8.gguf").read_bytes()
    q4 = tiny_gguf(made / "q4.gguf", weight_type=GGMLQuantizationType.Q4_0, file_type=2).read_bytes()
    f16 = tiny_gguf(made / "f16.gguf", overrides={"output_norm.weight": np.ones(64, np.float16)}).read_bytes()
    st_dir = made / "st"
    st_dir.mkdir()
    safetensors = tiny_safetensors(st_dir).read_bytes()
    (length,) = struct.unpack("<Q", safetensors[:8])
    shard_dir = made / "sharded"
    shard_dir.mkdir()
    index = tiny_sharded(shard_dir)
    bases = [
        (Base("tiny-gguf-q8_0", q8, ".gguf", 3000, ["q8_0"]), 0.25),
        (Base("tiny-gguf-q4_0", q4, ".gguf", 3000, ["q4_0"]), 0.15),
        (Base("tiny-gguf-f16-norm", f16, ".gguf", 3000, ["q8_0"]), 0.10),
        (Base("tiny-safetensors-f16", safetensors, ".safetensors", 8 + length, ["f16"]), 0.25),
        (Base("sharded-index-json", index.read_bytes(), ".safetensors.index.json", 10**6, ["f16"]), 0.10),
    ]
    if SMOLLM2.is_file():
        with SMOLLM2.open("rb") as handle:
            head = handle.read(4 << 20)  # the 1.78 MB header and the start of the data, never the 98 MB
        bases.append((Base("smollm2-gguf-first-4MB", head, ".gguf", 1_785_664, ["q4_1"]), 0.15))
    else:
        print(f"  (no {SMOLLM2}: its share goes to the tiny files; run `make models` for it)")
    # The mutated files are read beside the shards the index names and the config.json I-2 compares with.
    for kept in [*shard_dir.glob("*.safetensors"), shard_dir / "config.json"]:
        shutil.copy(kept, workdir / kept.name)
    return bases


def mutate(rng: random.Random, base: Base) -> bytes:
    data = bytearray(base.data)
    limit = min(len(data), base.region)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(max(1, limit))
        roll = rng.random()
        if roll < 0.45:
            data[at : at + 1] = bytes([rng.randrange(256)])
        elif roll < 0.85:
            width = rng.choice([4, 8])
            value = rng.choice(INTERESTING) % (2 ** (8 * width))
            data[at : at + width] = value.to_bytes(width, "little")
        elif roll < 0.92:
            del data[at : at + rng.randint(1, 64)]
        else:
            data[at:at] = data[at : at + rng.randint(1, 64)]
    if rng.random() < 0.2:
        del data[rng.randrange(len(data) + 1) :]
    return bytes(data)


def judge_model(path: Path, quantizations: list[str]) -> str:
    model = read_model(path)
    results = check_invariants(path, ALL, quantizations)
    assert [r.invariant for r in results] == ALL
    reasons = [model.reason] if isinstance(model, ReadFailure) else []
    reasons += [r.reason for r in results if isinstance(r, InvariantResult) and r.outcome != "pass"]
    if any("internal error" in reason for reason in reasons):
        # The readers catch every exception as a reason; this one is a bug that the safety net hid.
        raise RuntimeError(next(r for r in reasons if "internal error" in r))
    if isinstance(model, ReadFailure):
        return "clear" if model.reason else "unclear"
    assert isinstance(model, ModelFile)
    failed = [r for r in results if r.outcome == "fail"]
    if any(not r.reason for r in failed):
        return "unclear"
    return "clear" if failed else "valid"


def fuzz_models(total: int, workdir: Path, keep: Path | None, seed: int) -> Tally:
    tally = Tally("model readers (read_model + check_invariants)")
    runner = Runner(tally, keep)
    rng = random.Random(seed)
    bases = model_bases(workdir)
    weight = sum(share for _, share in bases)
    for base, share in bases:
        count = round(total * share / weight)
        path = workdir / ("model.safetensors.index.json" if base.suffix.endswith(".json") else f"model{base.suffix}")
        clock = time.monotonic()
        for _ in range(count):
            data = mutate(rng, base)
            path.write_bytes(data)
            runner.one(data, base.suffix, lambda p=path, q=base.quantizations: judge_model(p, q))
        took = time.monotonic() - clock
        print(f"  {count:6d} inputs from {base.name} ({len(base.data):,} bytes) in {took:.0f} s", flush=True)
    return tally


# -- atheris (optional) ----------------------------------------------------------------------------------


# Run in a fresh interpreter: only PyYAML and aprqa_action are instrumented for coverage (instrumenting all that
# this script has loaded — numpy, hypothesis — takes minutes). libFuzzer drives parse + validate; anything but
# an InputError is a crash.
ATHERIS_CHILD = """
import sys, tempfile
from pathlib import Path
import atheris
with atheris.instrument_imports(include=["yaml", "aprqa_action"]):
    import yaml
    from aprqa_action.errors import InputError
    from aprqa_action.playbook import load_playbook

path = Path(tempfile.mkdtemp()) / "atheris.playbook.yaml"

def target(data: bytes) -> None:
    path.write_bytes(data)
    try:
        load_playbook(path)
    except InputError:
        pass

atheris.Setup([sys.argv[0], "-runs=" + sys.argv[1], "-max_len=4096", "-rss_limit_mb=2048", sys.argv[2]], target)
atheris.Fuzz()
"""


def fuzz_atheris(runs: int, workdir: Path) -> str:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "atheris: skipped (not importable; `pip install atheris` has a wheel for CPython 3.11 on x86-64)"
    corpus = workdir / "atheris-corpus"
    corpus.mkdir()
    for playbook in sorted(ROOT.glob("playbooks/**/*.playbook.yaml"))[:8]:
        shutil.copy(playbook, corpus / playbook.name)
    done = subprocess.run(
        [sys.executable, "-c", ATHERIS_CHILD, str(runs), str(corpus)],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=workdir,
    )
    wanted = re.compile(r"^(#\d+\s+DONE|Done \d+ runs|=== Uncaught|Uncaught)")
    tail = [line.strip() for line in done.stderr.splitlines() if wanted.match(line)][-3:]
    verdict = "no new crash" if done.returncode == 0 else f"CRASH (exit {done.returncode})"
    return f"atheris: {runs} runs, {verdict}: " + " | ".join(tail)


# -- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--playbook-inputs", type=int, default=10_000)
    parser.add_argument("--model-inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20_240_601, help="drives every generated input")
    parser.add_argument("--keep", type=Path, help="keep failing inputs here")
    parser.add_argument("--atheris-runs", type=int, default=0, help="libFuzzer runs of the optional atheris target")
    args = parser.parse_args()
    started = time.monotonic()
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    tallies: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="aprqa-fuzz-") as tmp:
        workdir = Path(tmp)
        print(f"playbooks: {args.playbook_inputs} inputs", flush=True)
        (workdir / "pb").mkdir()
        tallies.append(fuzz_playbooks(args.playbook_inputs, workdir / "pb", args.keep, args.seed))
        print(f"model files: {args.model_inputs} inputs", flush=True)
        (workdir / "models").mkdir()
        tallies.append(fuzz_models(args.model_inputs, workdir / "models", args.keep, args.seed))
        extra = fuzz_atheris(args.atheris_runs, workdir) if args.atheris_runs > 0 else None
    print()
    for tally in tallies:
        print("\n".join(tally.lines()))
    if extra:
        print(extra)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB · traced peak limit per input {PEAK_LIMIT >> 20} MiB")
    over = [t.name for t in tallies if t.peak >= PEAK_LIMIT]
    bad = sum(t.bad for t in tallies) + len(over)
    print(f"total {sum(t.inputs for t in tallies)} inputs in {time.monotonic() - started:.0f} s: ", end="")
    memory = f", over the memory limit: {over}" if over else ""
    print("PASS (valid results and clear errors only)" if bad == 0 else f"FAIL ({bad} bad outcomes{memory})")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
