"""Scenario → Observation through an engine profile.

run and chat start one process per scenario; serve starts one server per (format, backend) cell and sends
it every scenario of that cell. Observations are handed to `sink` the moment they exist.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import NamedTuple

from aprqa_action.engines.profile import EngineProfile, PerplexityMode, ProcessMode, ServeMode
from aprqa_action.errors import InfrastructureError
from aprqa_action.execute import conformance
from aprqa_action.execute.output import OutputError, Parsed, parse_output, parse_perplexity
from aprqa_action.execute.process import ProcessResult, kill_live_groups, run_process
from aprqa_action.execute.progress import Reporter, cell_name
from aprqa_action.execute.server import HOST, EngineServer
from aprqa_action.execute.version import version_output
from aprqa_action.records import Observation, Scenario
from aprqa_action.records.axes import Modality

# Public-domain prose shipped with aprqa (data/README.md says whose): what every engine's perplexity scores.
PERPLEXITY_TEXT = Path(__file__).resolve().parent.parent / "data" / "perplexity.txt"
TAIL = 4000  # characters of stdout/stderr kept in each observation
ARG_SHOWN = 1000  # characters of one command-line argument kept in each observation
PROBE_REQUESTS = 3  # a protocol probe's requests in a row, at most (a refusal, the health check, one more)
Sink = Callable[[Observation], None]


# A KeyboardInterrupt: the steps' own `except Exception` must not swallow it, and any code that cleans up
# after Ctrl-C (subprocess.run kills its child) does so for it too.
class Cancelled(KeyboardInterrupt):
    """SIGTERM/SIGINT while the run is still preparing (pull, hashing, contract scan, `engine --version`): the
    signal handler raises it to interrupt whatever step is running; `aprqa run` then saves every scenario as
    not run (pipeline.cancelled_run)."""


def _values(scenario: Scenario, port: int | None = None) -> dict[str, object]:
    return {
        "python": sys.executable,
        "model": scenario.model_path or "",
        "prompt": scenario.full_prompt,
        "max_tokens": scenario.max_tokens,
        "seed": scenario.seed,
        "temperature": scenario.temperature,
        "port": port if port is not None else "",
        "host": HOST,
        "text_file": str(PERPLEXITY_TEXT),
    }


def render(template: list[str], scenario: Scenario, profile: EngineProfile, port: int | None = None) -> list[str]:
    """Fill an argv template; the element "{backend_args}" becomes the backend's flags, "{sampling_args}" those
    of the declared sampling parameters (zero or more each)."""
    values = _values(scenario, port)
    argv: list[str] = []
    for item in template:
        if item == "{backend_args}":
            argv += profile.backend_args.get(scenario.backend, [])
        elif item == "{sampling_args}":  # the plan refused a declared parameter the profile cannot pass
            for key, value in scenario.sampling.items():
                argv += [flag.replace("{value}", str(value)) for flag in profile.sampling_args[key]]  # type: ignore[index]
        else:
            argv.append(item.format_map(values))
    return argv


def engine_version(profile: EngineProfile, stop: threading.Event | None = None) -> str | None:
    """The first line the engine's version command prints, as the evidence records it."""
    output = version_output(profile.version_argv, stop) if profile.version_argv else None
    lines = output.strip().splitlines() if output else []
    return lines[0][:200] if lines else None


def check_engine(profile: EngineProfile, scenarios: list[Scenario]) -> None:
    """Fail early (exit 3) when an engine command the plan needs is not installed, or a Python module the
    profile `requires` for a planned format and modality: an engine run as {python} runs on this interpreter,
    so what is importable here is what it can import; without the check every cell would fail with a
    traceback."""
    problem = engine_problem(profile, {(s.modality, str(s.format)) for s in scenarios if s.purpose != "perplexity"})
    scored = {str(s.format) for s in scenarios if s.purpose == "perplexity"}
    if problem is None and scored and profile.perplexity is not None:  # a process like run: run's requirements
        problem = _program_problem(profile, profile.perplexity.argv[0], Modality.RUN, scored)
    if problem is not None:
        raise InfrastructureError(problem)


def engine_problem(profile: EngineProfile, needs: set[tuple[Modality, str]]) -> str | None:
    """Why `profile` cannot run these (modality, format) pairs here, or None (see check_engine)."""
    for modality in sorted({m for m, _ in needs}):
        mode = profile.mode(modality)
        if mode is not None:
            problem = _program_problem(profile, mode.argv[0], modality, {f for m, f in needs if m == modality})
            if problem is not None:
                return problem
    return None


def _program_problem(profile: EngineProfile, program: str, modality: Modality, formats: set[str]) -> str | None:
    import importlib.util

    def importable(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    if program == "{python}":  # this interpreter runs it: the profile says which modules it must import
        for fmt in sorted(formats):
            for need in profile.requires:
                if fmt not in need.formats or (need.modalities is not None and modality not in need.modalities):
                    continue
                missing = [m for m in need.modules if not importable(m)]
                if missing:
                    action = f" (in the GitHub Action: the input extras: {need.extra})" if need.extra else ""
                    return (
                        f"engine {profile.name}: {fmt} {modality} needs {need.package}, but {sys.executable} "
                        f"cannot import {', '.join(missing)}; install it: {need.install}{action}"
                    )
        return None
    if shutil.which(program) is None and not Path(program).is_file():
        how = f"; install it: {profile.install}" if profile.install else ""
        return f"engine {profile.name}: {program!r} is not installed or not on PATH (needed for {modality}){how}"
    return None


def shown(argv: list[str]) -> list[str]:
    """The command line as the evidence records it: an argument over ARG_SHOWN characters (a long prompt) is
    cut, saying how long it was."""
    return [a if len(a) <= ARG_SHOWN else f"{a[:ARG_SHOWN]}… ({len(a)} characters)" for a in argv]


def _tail(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")[-TAIL:]


def off_gpu_reason(scenario: Scenario, parsed: Parsed) -> str | None:
    """Why a gpu cell's answer does not count: its engine says it ran on the CPU (apr falls back quietly)."""
    if scenario.backend == "gpu" and parsed.used_gpu is False:
        return "the gpu backend was asked for, but the engine reports it ran on the CPU (used_gpu: false)"
    return None


class _Engine(NamedTuple):
    """An engine a cell runs on: its profile and the version its version command printed."""

    profile: EngineProfile
    version: str | None


class Executor:
    def __init__(
        self,
        profile: EngineProfile,
        reporter: Reporter,
        sink: Sink,
        *,
        fail_fast: bool = False,
        stop: threading.Event | None = None,
        on_cell_done: Callable[[], None] | None = None,
        others: dict[str, EngineProfile] | None = None,
    ) -> None:
        """`others`: engine profiles by name for scenarios that name their engine (engine_parity's reference)."""
        self.reporter = reporter
        self.sink = sink
        self.fail_fast = fail_fast
        self.stop = stop or threading.Event()
        self.on_cell_done = on_cell_done
        self.stopped_by: str | None = None
        self.version = engine_version(profile, self.stop)
        # By the name a scenario gives (None: this run's own engine).
        self.engines: dict[str | None, _Engine] = {None: _Engine(profile, self.version)}
        for name, other in (others or {}).items():
            self.engines[name] = _Engine(other, engine_version(other, self.stop))
        self._server: EngineServer | None = None
        self._done: set[str] = set()

    def cancel(self, hard: bool = False) -> None:
        """Stop the run (a signal handler calls this): a running process sees the stop within 50 ms; a
        server in the middle of a request is killed so the request ends now, not at its timeout. `hard`
        (a second signal): every engine process group is killed at once, without the SIGTERM grace."""
        self.stop.set()
        if self._server is not None:
            self._server.kill()
        if hard:
            kill_live_groups()

    def run(self, scenarios: list[Scenario], done: set[str] | None = None) -> None:
        """Run `scenarios` in order; ids in `done` were observed by an earlier run (resume) and are passed over."""
        self._done = done or set()
        self.reporter.begin(len(scenarios) - len(self._done))
        for _, group in groupby(scenarios, key=lambda s: s.group):
            cell = [s for s in group if s.id not in self._done]
            if not cell:
                continue
            self.reporter.cell(cell_name(cell[0]), len(cell))
            try:
                self._run_cell(cell)
            finally:
                self.reporter.end_cell()
                if self.on_cell_done:
                    self.on_cell_done()
        self.reporter.close()

    def _emit(self, scenario: Scenario, observation: Observation) -> None:
        self.sink(observation)
        self.reporter.done(scenario, observation)
        if self.fail_fast and observation.status in ("failed", "crashed", "timeout") and not self.stop.is_set():
            self.stopped_by = scenario.id
            self.stop.set()

    def _not_run(self, scenario: Scenario) -> Observation:
        reason = (
            f"not run: failure_policy fail_fast stopped after {self.stopped_by}"
            if self.stopped_by
            else "not run (cancelled)"
        )
        return Observation(scenario_id=scenario.id, status="not_run", reason=reason)

    def _pending(self, cell: list[Scenario]) -> Iterator[Scenario]:
        """Scenarios still to run; skipped and stopped ones are observed as such on the way."""
        for scenario in cell:
            if scenario.skip_reason is not None:
                self._emit(
                    scenario,
                    Observation(scenario_id=scenario.id, status="skipped", reason=scenario.skip_reason),
                )
            elif self.stop.is_set():
                self._emit(scenario, self._not_run(scenario))
            else:
                yield scenario

    def _run_cell(self, cell: list[Scenario]) -> None:
        engine = self.engines[cell[0].engine]  # another engine's cell (engine_parity) runs as that engine
        if cell[0].purpose == "perplexity":
            perplexity = engine.profile.perplexity
            for scenario in self._pending(cell):  # without a perplexity mode the plan skipped every one
                assert perplexity is not None
                self._emit(scenario, self._run_process(engine, scenario, perplexity))
            return
        mode = engine.profile.mode(cell[0].modality)
        if isinstance(mode, ServeMode) and any(s.skip_reason is None for s in cell) and not self.stop.is_set():
            self._run_serve_cell(engine, cell, mode)
            return
        for scenario in self._pending(cell):
            assert isinstance(mode, ProcessMode)
            self._emit(scenario, self._run_process(engine, scenario, mode))

    def _run_process(self, engine: _Engine, scenario: Scenario, mode: ProcessMode | PerplexityMode) -> Observation:
        argv = render(mode.argv, scenario, engine.profile)
        template = mode.stdin if isinstance(mode, ProcessMode) else None
        stdin = template.format_map(_values(scenario)).encode() if template is not None else None
        started = datetime.now(UTC)
        result = run_process(argv, timeout_s=scenario.timeout_ms / 1000, stdin=stdin, stop=self.stop)
        return self._observe(engine, scenario, mode, result, started)

    def _observe(  # type: ignore[no-untyped-def]
        self, engine: _Engine, scenario: Scenario, mode: ProcessMode | PerplexityMode, result: ProcessResult, started
    ) -> Observation:
        stdout = result.stdout.decode("utf-8", "replace")
        stderr = result.stderr.decode("utf-8", "replace")
        common = {
            "scenario_id": scenario.id,
            "started": started,
            "ended": datetime.now(UTC),
            "exit_code": result.exit_code,
            "signal": result.signal,
            "panicked": result.panicked,
            "timed_out": result.timed_out,
            "duration_ms": round(result.duration_s * 1000, 3),
            "peak_rss_mb": round(result.peak_rss_bytes / 2**20, 1) if result.peak_rss_bytes else None,
            "engine_version": engine.version,
            "command": shown(result.argv),
            "stdout_tail": _tail(result.stdout),
            "stderr_tail": _tail(result.stderr),
        }
        last_err = (stderr.strip().splitlines() or [""])[-1][:300]
        if result.spawn_error:
            return Observation(status="failed", reason=result.spawn_error, loaded=False, **common)
        if result.cancelled:
            return Observation(status="not_run", reason="not run (cancelled)", **common)
        if result.timed_out:
            reason = f"killed after timeout_ms={scenario.timeout_ms}"
            return Observation(status="timeout", reason=reason, loaded=bool(stdout.strip()) or None, **common)
        if result.crashed:
            if result.signal or result.wrapped_signal:
                reason = result.death_words()  # "killed by SIGSEGV", "exit code 137 (128 + SIGKILL …)"
            else:
                panic = next((ln for ln in stderr.splitlines() if "panicked" in ln), last_err)
                reason = f"panicked (exit code {result.exit_code}): {panic[:300]}"
            return Observation(status="crashed", reason=reason, loaded=bool(stdout.strip()), **common)
        if result.exit_code != 0:
            reason = f"exit code {result.exit_code}" + (f": {last_err}" if last_err else "")
            return Observation(status="failed", reason=reason, loaded=bool(stdout.strip()), **common)
        if isinstance(mode, PerplexityMode):
            try:
                perplexity, scored = parse_perplexity(mode.output, stdout, stderr)
            except OutputError as exc:
                return Observation(status="failed", reason=f"unreadable output: {exc}", loaded=True, **common)
            facts: dict[str, str | int | float | bool | None] = {"perplexity": perplexity}
            return Observation(status="ok", loaded=True, tokens=scored, facts=facts, **common)
        try:
            parsed = parse_output(mode.output, stdout, stderr)
        except OutputError as exc:
            return Observation(status="failed", reason=f"unreadable output: {exc}", loaded=True, **common)
        off_gpu = off_gpu_reason(scenario, parsed)
        return Observation(
            status="failed" if off_gpu else "ok",
            reason=off_gpu or "",
            loaded=True,
            text=parsed.text,
            tokens=parsed.tokens,
            tok_per_sec=parsed.tok_per_sec,
            ttft_ms=parsed.ttft_ms,
            latency_ms=parsed.latency_ms if parsed.latency_ms is not None else common["duration_ms"],
            load_ms=parsed.load_ms,
            **common,
        )

    def _run_serve_cell(self, engine: _Engine, cell: list[Scenario], mode: ServeMode) -> None:
        first = next(s for s in cell if s.skip_reason is None)
        server = EngineServer(lambda port: render(mode.argv, first, engine.profile, port), mode)
        ready_s = (mode.ready_timeout_ms or first.timeout_ms) / 1000
        started = datetime.now(UTC)
        self._server = server
        try:
            clock = time.monotonic()
            failure = server.start(ready_s, self.stop)
            start_ms = (time.monotonic() - clock) * 1000
            restart = False
            for scenario in self._pending(cell):
                # an edge probe that killed the server fails its own check, not every probe after it
                restart = restart or (scenario.purpose == "edge" and failure is None and not server.alive())
                if restart:  # the last request timed out and its server was killed: a fresh one for this
                    started, clock = datetime.now(UTC), time.monotonic()
                    failure = server.restart(ready_s, self.stop)
                    start_ms = (time.monotonic() - clock) * 1000
                observation = self._serve_one(engine, server, scenario, failure, started, start_ms)
                if self.stop.is_set() and observation.status != "ok" and not self.stopped_by:
                    observation = self._not_run(scenario)  # we killed it: not the engine's failure
                restart = observation.status == "timeout"
                self._emit(scenario, observation)
        finally:
            self._server = None
            server.close()

    def _serve_one(  # type: ignore[no-untyped-def]
        self, engine: _Engine, server: EngineServer, scenario: Scenario, failure: str | None, started, start_ms: float
    ) -> Observation:
        """`start_ms`: how long starting the server took, the duration of a scenario it failed."""
        command = server.process.argv if server.process else []
        base = {"scenario_id": scenario.id, "engine_version": engine.version, "command": shown(command)}
        if failure is not None:
            proc = server.process.result() if server.process else None
            status = "crashed" if proc is not None and proc.crashed else "failed"
            return Observation(
                status=status,
                reason=failure,
                loaded=False,
                started=started,
                ended=datetime.now(UTC),
                duration_ms=round(start_ms, 3),
                exit_code=proc.exit_code if proc else None,
                signal=proc.signal if proc else None,
                panicked=proc.panicked if proc else False,
                stderr_tail=_tail(proc.stderr) if proc else "",
                stdout_tail=_tail(proc.stdout) if proc else "",
                **base,
            )
        if not server.alive():
            proc = server.process.result()  # type: ignore[union-attr]
            return Observation(
                status="crashed" if proc.crashed else "failed",
                reason=f"server is gone (exit code {proc.exit_code}, signal {proc.signal})",
                loaded=True,
                exit_code=proc.exit_code,
                signal=proc.signal,
                stderr_tail=_tail(proc.stderr),
                **base,
            )
        t0, clock = datetime.now(UTC), time.monotonic()
        if scenario.probe is not None and scenario.probe.startswith("http:"):
            return self._http_probe(server, scenario, t0, base)
        reply = server.request(
            scenario.full_prompt,
            scenario.max_tokens,
            scenario.temperature,
            scenario.seed,
            scenario.timeout_ms / 1000,
            sampling=scenario.sampling,
        )
        duration_ms = (time.monotonic() - clock) * 1000  # every outcome has one, a timeout too
        timed_out = reply.status == "timeout"  # then we killed the server: its SIGKILL is not a crash
        proc = server.process.result(timed_out=timed_out) if server.process and not server.alive() else None
        rss = server.process.peak_rss if server.process else 0
        return Observation(
            status=reply.status,  # type: ignore[arg-type]
            reason=reply.reason,
            loaded=True,
            started=t0,
            ended=datetime.now(UTC),
            timed_out=timed_out,
            text=reply.text,
            tokens=reply.tokens,
            tok_per_sec=round(reply.tok_per_sec, 3) if reply.tok_per_sec else reply.tok_per_sec,
            ttft_ms=round(reply.ttft_ms, 3) if reply.ttft_ms is not None else None,
            latency_ms=round(reply.latency_ms, 3) if reply.latency_ms is not None else None,
            duration_ms=round(duration_ms, 3),
            load_ms=round(server.load_ms, 3) if server.load_ms is not None else None,
            peak_rss_mb=round(rss / 2**20, 1) if rss else None,
            exit_code=proc.exit_code if proc else None,
            signal=proc.signal if proc else None,
            stderr_tail=_tail(proc.stderr) if proc else "",
            facts=reply.facts,
            **base,
        )

    def _http_probe(self, server: EngineServer, scenario: Scenario, t0: datetime, base: dict) -> Observation:  # type: ignore[type-arg]
        """A serve protocol probe: what it saw is the observation's facts; judge/edge.py decides."""
        name = scenario.probe.removeprefix("http:")  # type: ignore[union-attr]
        clock = time.monotonic()
        config = scenario.probe_config
        timeout_s = scenario.timeout_ms / 1000
        # A read timeout restarts with every byte a slow server drips: a watchdog bounds the whole probe (its
        # requests run one after another, up to three) and kills the server at the deadline.
        limit_s = PROBE_REQUESTS * timeout_s + 5
        expired = threading.Event()
        watchdog = threading.Timer(limit_s, lambda: (expired.set(), server.kill()))
        watchdog.daemon = True
        watchdog.start()
        try:
            if name == "shutdown":
                facts = conformance.shutdown(server, grace_s=config.get("grace_s", 10.0))
            else:
                facts = conformance.probe(
                    name,
                    server,
                    prompt=scenario.prompt,
                    max_tokens=scenario.max_tokens,
                    sampling={"temperature": scenario.temperature, "seed": scenario.seed, **scenario.sampling},
                    timeout_s=timeout_s,
                    concurrency=int(config.get("concurrency", 4)),
                )
        finally:
            watchdog.cancel()
        if expired.is_set():
            reason = f"the probe did not finish within {limit_s:.0f} s (the server was killed)"
            return Observation(status="timeout", reason=reason, loaded=True, timed_out=True, facts=facts, **base)
        if facts.get("healthy_after") is False and server.process is not None:
            server.process.wait_until(time.monotonic() + 0.5)  # a dying server: let it be reaped, to say how
        died = name != "shutdown" and not server.alive()
        proc = server.process.result() if died and server.process else None
        return Observation(
            status="crashed" if proc is not None and proc.crashed else "ok",
            reason=f"the server died during the probe ({proc.death_words()})" if proc is not None else "",
            loaded=True,
            started=t0,
            ended=datetime.now(UTC),
            duration_ms=round((time.monotonic() - clock) * 1000, 3),
            exit_code=proc.exit_code if proc else None,
            signal=proc.signal if proc else None,
            stderr_tail=_tail(proc.stderr) if proc else "",
            facts=facts,
            **base,
        )
