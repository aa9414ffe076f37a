"""Evidence sets for the report tests, built deterministically (fixed clock, host, seeds).

They mirror what `aprqa run` writes — the same scenario ids, item shapes, reasons and excerpts as judge/,
oracles and performance gates produce on real runs (see /tmp/demo-out after `make demo`) — while the
gateways and the verdict are computed by the real `score.gateways` and `score.verdict`, so a fixture can
never hold a verdict its items do not justify.

- `qualified()`: every cell on CPU and GPU answers and passes; PROVISIONAL at MQS 700 (EDGE and REGR are
  not measured by any check yet, so 700 is today's ceiling).
- `blocked()`: a base model that loops, a crash, a server that never became ready and a timeout: G1, G3
  and G4 fail, BLOCKED.
- `partially_skipped()`: no GPU on the runner and no APR file: those cells are Skipped with the reason,
  the rest passes.
- `synthetic(n)`: n scenarios over all 18 cells for the size tests and the benchmark, with hostile output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product

from aprqa_action.judge.cells import cell_results
from aprqa_action.records import (
    BackendProbe,
    EngineInfo,
    Evidence,
    EvidenceItem,
    Host,
    Observation,
    Outcome,
    PlaybookInfo,
    ResolvedModel,
    RunInfo,
    Scenario,
)
from aprqa_action.records.axes import Backend, Format, Modality
from aprqa_action.score import verdict
from aprqa_action.score.gateways import gateways

START = datetime(2026, 11, 2, 14, 30, 0, tzinfo=UTC)
NO_GPU = "no GPU: no CUDA device (nvidia-smi not installed) and no ROCm device (/dev/kfd absent)"
HOSTILE = (
    "Sure @someone! <img src=x onerror=alert(1)> ![x](http://evil.example/x.png)\n"
    "```\n</details>\n| a | b |\nhttps://github.com/org/repo/issues/1 #1 <script>alert(2)</script>"
)
PROMPTS = ["What is 2+2?", "Write a Python function that adds two numbers.", "Name three colors."]
ANSWERS = {
    0: "2 + 2 = 4.",
    1: "```python\ndef add(a, b):\n    return a + b\n```\n\nThis function returns the sum of `a` and `b`.",
    2: "Red, green and blue.",
}


def host(gpu: bool) -> Host:
    return Host(
        hostname="gpu-runner-07" if gpu else "ci-runner-03",
        platform="Linux-6.8.0-1015-aws-x86_64-with-glibc2.39",
        python="3.11.9",
        cpu="AMD EPYC 7R13 Processor",
        cpu_count=8,
        memory_gb=62.0 if gpu else 15.6,
    )


def backends(gpu: bool) -> dict[Backend, BackendProbe]:
    probes = {Backend.CPU: BackendProbe(backend=Backend.CPU, available=True, reason="always available")}
    if gpu:
        probes[Backend.GPU] = BackendProbe(
            backend=Backend.GPU,
            available=True,
            reason="1 CUDA device(s)",
            devices=("GPU 0: NVIDIA L4 (UUID: GPU-5f1c2a3e-9b7d-4c21-8e0f-1a2b3c4d5e6f)",),
        )
    else:
        probes[Backend.GPU] = BackendProbe(backend=Backend.GPU, available=False, reason=NO_GPU)
    return probes


@dataclass
class Builder:
    """Accumulates scenarios, observations and items the way a run does, in plan order."""

    playbook: str
    clock: datetime = START
    scenarios: list[Scenario] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    items: list[EvidenceItem] = field(default_factory=list)

    def scenario(
        self,
        modality: Modality,
        backend: Backend,
        fmt: Format,
        index: int,
        *,
        prompt_index: int | None = None,
        purpose: str = "matrix",
        skip_reason: str | None = None,
    ) -> Scenario:
        prompt_index = index % len(PROMPTS) if prompt_index is None else prompt_index
        if purpose == "matrix":
            ident = f"{self.playbook}:{modality}:{backend}:{fmt}:{index:03d}"
        else:
            ident = f"{self.playbook}:profile:{backend}:{fmt}:{purpose}-{index:02d}"
        s = Scenario(
            id=ident,
            index=index,
            modality=modality,
            backend=backend,
            format=fmt,
            model_path=None if skip_reason and fmt == Format.APR else f"models/{self.playbook}/model.{fmt}",
            prompt=PROMPTS[prompt_index],
            prompt_index=prompt_index,
            seed=1416840650 + index,
            temperature=0.0,
            max_tokens=64,
            timeout_ms=60000,
            skip_reason=skip_reason,
            purpose=purpose,  # type: ignore[arg-type]
        )
        self.scenarios.append(s)
        return s

    def _timed(self, s: Scenario, status: str, seconds: float, **fields: object) -> Observation:
        started = self.clock
        self.clock += timedelta(seconds=seconds)
        command = ["apr", str(s.modality), s.model_path or "", "-p", s.prompt, "-n", "64", "--json"]
        observation = Observation(
            scenario_id=s.id,
            status=status,  # type: ignore[arg-type]
            started=started,
            ended=self.clock,
            duration_ms=round(seconds * 1000, 3),
            engine_version="apr 0.4.2 (aprender)",
            command=command if s.backend == Backend.GPU else [*command, "--no-gpu"],
            **fields,  # type: ignore[arg-type]
        )
        self.observations.append(observation)
        return observation

    def answered(
        self,
        s: Scenario,
        text: str,
        tok_per_sec: float,
        *,
        tokens: int = 64,
        oracles: Iterable[tuple[str, Outcome, str]] = (),
        excerpt: str | None = None,
    ) -> None:
        """An ok scenario: G1, G3, G2 and the oracles' items, in judge/'s order."""
        latency = round(tokens / tok_per_sec * 1000, 3)
        o = self._timed(
            s,
            "ok",
            latency / 1000 + 0.4,
            loaded=True,
            exit_code=0,
            text=text,
            tokens=tokens,
            tok_per_sec=tok_per_sec,
            ttft_ms=round(latency / tokens * 3, 3),
            latency_ms=latency,
            load_ms=152.0,
            peak_rss_mb=216.8,
        )
        if s.purpose != "matrix":
            return
        self.item("G1-LOAD", "COMP", "Corroborated", "the engine loaded the model", s)
        self.item("G3-STABILITY", "STAB", "Corroborated", "no crash", s)
        metrics = {"tokens": float(tokens), "tok_per_sec": tok_per_sec}
        self.item("G2-INFERENCE", "COMP", "Corroborated", "non-empty output", s, metrics=metrics)
        for gate, outcome, reason in oracles:
            self.item(
                gate, "QUAL", outcome, reason, s, excerpt=(excerpt or o.text) if outcome != "Corroborated" else None
            )

    def passing(self, s: Scenario, tok_per_sec: float) -> None:
        """An answer every declared oracle accepts (garbage always, arithmetic / code where they apply)."""
        oracles = [("F-QUAL-GARBAGE", "Corroborated", "not garbage (repetition ratio 0.00, 18 distinct characters)")]
        if s.prompt_index == 0:
            oracles.append(("F-QUAL-ARITH", "Corroborated", "2+2 = 4 found in the answer"))
        if s.prompt_index == 1:
            oracles.append(("F-QUAL-CODE", "Corroborated", "python parses"))
        tokens = 11 if s.prompt_index != 1 else 64
        self.answered(s, ANSWERS[s.prompt_index], tok_per_sec, tokens=tokens, oracles=oracles)  # type: ignore[arg-type]

    def skipped(self, s: Scenario, reason: str) -> None:
        self.observations.append(Observation(scenario_id=s.id, status="skipped", reason=reason))
        if s.purpose == "matrix":
            self.item("G1-LOAD", "COMP", "Skipped", reason, s)

    def crashed(self, s: Scenario, reason: str, tail: str) -> None:
        self._timed(s, "crashed", 1.8, loaded=True, signal="SIGSEGV", exit_code=-11, reason=reason, stderr_tail=tail)
        self.item("G1-LOAD", "COMP", "Corroborated", "the engine loaded the model", s)
        self.item("G3-STABILITY", "STAB", "Crashed", reason, s, excerpt=tail[-300:])

    def timed_out(self, s: Scenario, reason: str, tail: str) -> None:
        self._timed(s, "timeout", 60.0, loaded=True, timed_out=True, reason=reason, stderr_tail=tail)
        self.item("G1-LOAD", "COMP", "Corroborated", "the engine loaded the model", s)
        self.item("G3-STABILITY", "STAB", "Timeout", reason, s, excerpt=tail[-300:])

    def never_ready(self, s: Scenario, reason: str, tail: str) -> None:
        self._timed(s, "failed", 30.0, loaded=False, reason=reason, stderr_tail=tail)
        self.item("G3-STABILITY", "STAB", "Corroborated", "no crash", s)
        self.item("G1-LOAD", "COMP", "Falsified", reason, s, excerpt=tail[-300:])

    def item(
        self,
        gate: str,
        category: str,
        outcome: Outcome,
        reason: str,
        s: Scenario | None = None,
        *,
        cell: str | None = None,
        subject: str | None = None,
        metrics: dict[str, float] | None = None,
        excerpt: str | None = None,
    ) -> None:
        self.items.append(
            EvidenceItem(
                id=f"{gate}:{s.id if s is not None else subject}",
                gate_id=gate,
                category=category,  # type: ignore[arg-type]
                outcome=outcome,
                reason=reason,
                scenario_id=s.id if s is not None else None,
                cell=f"{s.format}/{s.backend}/{s.modality}" if s is not None else cell,
                metrics=metrics or {},
                excerpt=excerpt,
            )
        )

    def integrity(self, fmt: Format, outcome: Outcome, reason: str) -> None:
        self.item("G0-INTEGRITY", "COMP", outcome, reason, cell=str(fmt), subject=str(fmt))

    def perf(self, gate: str, fmt: Format, backend: Backend, outcome: Outcome, reason: str, **metrics: float) -> None:
        cell = f"{fmt}/{backend}/run"
        self.item(gate, "PERF", outcome, reason, cell=cell, subject=cell, metrics=metrics)

    def evidence(
        self,
        *,
        version: str,
        gpu: bool,
        models: dict[Format, ResolvedModel],
        state: str = "complete",
        max_failure_fraction: float = 0.0,
    ) -> Evidence:
        gates = gateways(self.items, self.observations, max_failure_fraction)
        executed = {o.scenario_id for o in self.observations if o.status not in ("skipped", "not_run")}
        matrix = [s for s in self.scenarios if s.purpose == "matrix"]
        return Evidence(
            run=RunInfo(
                tool_version="0.1.0",
                started=START,
                ended=self.clock + timedelta(seconds=1),
                state=state,  # type: ignore[arg-type]
                host=host(gpu),
            ),
            playbook=PlaybookInfo(
                name=self.playbook,
                version=version,
                path=f"playbooks/models/{self.playbook}.playbook.yaml",
                sha256="9f2c4e1b7a0d3f5e6c8b1a2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091",
                failure_policy="collect_all",
            ),
            engine=EngineInfo(name="apr", version="apr 0.4.2 (aprender)"),
            models=models,
            backends=backends(gpu),
            scenarios=self.scenarios,
            observations=self.observations,
            items=self.items,
            cells=cell_results(self.scenarios, self.observations, self.items, None),
            verdict=verdict(
                self.items,
                self.observations,
                gates,
                all_cells_executed=all(s.id in executed for s in matrix),
                complete=state == "complete",
            ),
        )


def _gguf(playbook: str) -> ResolvedModel:
    return ResolvedModel(format=Format.GGUF, path=f"models/{playbook}/model.gguf", how="given", reason="the given file")


def _profile(b: Builder, backend: Backend, rates: list[float]) -> list[float]:
    """A warmup and three measure runs of the run modality; returns the measure latencies."""
    b.answered(b.scenario(Modality.RUN, backend, Format.GGUF, 0, purpose="warmup"), ANSWERS[1], rates[0] * 0.9)
    latencies = []
    for i, rate in enumerate(rates):
        b.answered(b.scenario(Modality.RUN, backend, Format.GGUF, i, purpose="measure"), ANSWERS[1], rate)
        latencies.append(round(64 / rate * 1000, 3))
    return latencies


def qualified() -> Evidence:
    b = Builder("qwen2.5-coder-1.5b-ci")
    b.integrity(Format.GGUF, "Corroborated", "models/qwen2.5-coder-1.5b-ci/model.gguf: header parses")
    contracts = [
        ("F-CONTRACT-I2", "I-2: 338 tensor shapes match the GGUF metadata (hidden 1536, 28 layers, vocab 151936)"),
        ("F-CONTRACT-I3", "I-3: tensor types match q4_k_m (Q4_K, Q6_K for output and 1/8 of ffn_down)"),
        ("F-CONTRACT-I4", "I-4: no NaN/Inf in 338 tensors (197 quantized tensors' block scales scanned)"),
        ("F-CONTRACT-I5", "I-5: 338 tensors inside the file, aligned to 32, no overlap (986.0 MiB)"),
    ]
    for gate, reason in contracts:
        b.item(gate, "COMP", "Corroborated", reason, cell="gguf", subject="gguf")
    rates = {Backend.CPU: {Modality.RUN: 21.4, Modality.CHAT: 20.9, Modality.SERVE: 18.2}}
    rates[Backend.GPU] = {Modality.RUN: 96.3, Modality.CHAT: 94.8, Modality.SERVE: 88.5}
    for modality, backend in product(Modality, Backend):
        for index in range(3):
            s = b.scenario(modality, backend, Format.GGUF, index)
            b.passing(s, rates[backend][modality] + index * 0.7)
    for backend, measured in ((Backend.CPU, [21.0, 21.9, 20.6]), (Backend.GPU, [97.2, 95.1, 96.4])):
        latencies = _profile(b, backend, measured)
        minimum = 10.0 if backend == Backend.CPU else 60.0
        median = sorted(measured)[1]
        runs = ", ".join(f"{r:.1f}" for r in measured)
        b.perf(
            f"F-PERF-TPS-{backend.upper()}",
            Format.GGUF,
            backend,
            "Corroborated",
            f"{median:.1f} tok/s ≥ {minimum:g} tok/s (median of 3 runs: {runs})",
            threshold=minimum,
            tok_per_sec=median,
        )
        p99 = max(latencies)
        listed = ", ".join(f"{x:.1f}" for x in latencies)
        b.perf(
            "F-PERF-P99",
            Format.GGUF,
            backend,
            "Corroborated",
            f"p99 latency {p99:.0f} ms ≤ 8000 ms (3 runs: {listed} ms)",
            threshold=8000.0,
            p99_ms=p99,
        )
    return b.evidence(version="2.1.0", gpu=True, models={Format.GGUF: _gguf(b.playbook)})


LOOP = "What is 2+2?\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n<|im_start|>\n<|im_end|>\n"
GARBAGE_REASON = "repetition ratio 0.63 > max_repetition_ratio 0.3: 59 characters repeat from offset 42"
ARITH_REASON = "expected 4 (2+2, ±0.01) in the answer; its numbers: 2, 2"
CRASH_TAIL = (
    "llama_kv_cache_iswa: using full-size SWA cache\n"
    "ggml_compute_forward_soft_max: n_head=4 n_kv=1024\n"
    "Segmentation fault (core dumped)\n"
)


def blocked() -> Evidence:
    b = Builder("gemma3-270m-base-gate")
    b.integrity(Format.GGUF, "Corroborated", "models/gemma3-270m-base-gate/model.gguf: header parses")
    quals = [("F-QUAL-GARBAGE", "Falsified", GARBAGE_REASON), ("F-QUAL-ARITH", "Falsified", ARITH_REASON)]
    for index in range(2):
        s = b.scenario(Modality.RUN, Backend.CPU, Format.GGUF, index, prompt_index=0)
        b.answered(s, LOOP, 23.4 - index, oracles=quals)  # type: ignore[arg-type]
    chat0 = b.scenario(Modality.CHAT, Backend.CPU, Format.GGUF, 0, prompt_index=2)
    b.answered(
        chat0,
        "Red, green, and blue. `|` is a pipe.",
        26.3,
        tokens=12,
        oracles=[("F-QUAL-GARBAGE", "Corroborated", "not garbage (repetition ratio 0.00, 21 distinct characters)")],
    )
    chat1 = b.scenario(Modality.CHAT, Backend.CPU, Format.GGUF, 1, prompt_index=0)
    b.timed_out(chat1, "timed out after 60000 ms (process group killed)", "reference chat: loaded in 564 ms\n")
    serve0 = b.scenario(Modality.SERVE, Backend.CPU, Format.GGUF, 0, prompt_index=0)
    b.crashed(serve0, "killed by SIGSEGV", CRASH_TAIL)
    serve1 = b.scenario(Modality.SERVE, Backend.CPU, Format.GGUF, 1, prompt_index=2)
    b.never_ready(
        serve1,
        "the server never became ready: GET /v1/models did not answer 200 within 30000 ms",
        "INFO:     Started server process [48213]\nINFO:     Waiting for application startup.\n",
    )
    return b.evidence(version="1.0.0", gpu=False, models={Format.GGUF: _gguf(b.playbook)})


def partially_skipped() -> Evidence:
    b = Builder("smollm2-135m-ci")
    apr_reason = "no apr file: none beside model.gguf and no *.apr in models/smollm2-135m-ci"
    b.integrity(Format.GGUF, "Corroborated", "models/smollm2-135m-ci/model.gguf: header parses")
    b.integrity(Format.APR, "Skipped", apr_reason)
    for modality, backend, fmt in product((Modality.RUN, Modality.CHAT), Backend, (Format.GGUF, Format.APR)):
        for index in range(2):
            reason = apr_reason if fmt == Format.APR else NO_GPU if backend == Backend.GPU else None
            s = b.scenario(modality, backend, fmt, index, skip_reason=reason)
            if reason is not None:
                b.skipped(s, reason)
            else:
                b.passing(s, 43.2 - index * 1.9 if modality == Modality.RUN else 41.0 - index)
    _profile(b, Backend.CPU, [40.6, 42.8, 40.3])
    b.perf(
        "F-PERF-TPS-CPU",
        Format.GGUF,
        Backend.CPU,
        "Corroborated",
        "40.6 tok/s ≥ 5 tok/s (median of 3 runs: 40.6, 42.8, 40.3)",
        threshold=5.0,
        tok_per_sec=40.6,
    )
    for i in range(4):
        b.skipped(
            b.scenario(Modality.RUN, Backend.GPU, Format.GGUF, i, purpose="warmup" if i == 0 else "measure"), NO_GPU
        )
    b.perf("F-PERF-TPS-GPU", Format.GGUF, Backend.GPU, "Skipped", f"not measured: {NO_GPU}", threshold=50.0)
    models = {
        Format.GGUF: _gguf(b.playbook),
        Format.APR: ResolvedModel(format=Format.APR, path=None, how="missing", reason=apr_reason),
    }
    return b.evidence(version="1.0.0", gpu=False, models=models)


def synthetic(scenarios: int = 10_000, *, fail_every: int = 1, excerpt_chars: int = 2_000) -> Evidence:
    """`scenarios` matrix scenarios round-robin over all 18 cells; every `fail_every`-th one loops and is
    falsified by two oracles with a hostile excerpt of `excerpt_chars` characters (the worst case for size)."""
    b = Builder("synthetic-scale")
    for fmt in Format:
        b.integrity(fmt, "Corroborated", f"models/synthetic-scale/model.{fmt}: header parses")
    cells = list(product(Modality, Backend, Format))
    unit = HOSTILE + "\n" + "x" * 40 + " `" * 5 + "\n"
    excerpt = (unit * (excerpt_chars // len(unit) + 1))[:excerpt_chars]
    quals = [("F-QUAL-GARBAGE", "Falsified", GARBAGE_REASON), ("F-QUAL-ARITH", "Falsified", ARITH_REASON)]
    for n in range(scenarios):
        modality, backend, fmt = cells[n % len(cells)]
        s = b.scenario(modality, backend, fmt, n // len(cells), prompt_index=0)
        if n % fail_every == 0:
            b.answered(s, excerpt, 30.0 + n % 7, oracles=quals, excerpt=excerpt)  # type: ignore[arg-type]
        else:
            b.passing(s, 30.0 + n % 7)
    models = {
        fmt: ResolvedModel(format=fmt, path=f"models/synthetic-scale/model.{fmt}", how="given", reason="the given file")
        for fmt in Format
    }
    return b.evidence(version="1.0.0", gpu=True, models=models)


def hostile() -> Evidence:
    """Model output, engine messages and an engine version that try every trick on a Markdown report."""
    b = Builder("hostile-output")
    b.integrity(Format.GGUF, "Corroborated", "models/hostile-output/model.gguf: header parses")
    s0 = b.scenario(Modality.RUN, Backend.CPU, Format.GGUF, 0, prompt_index=2)
    golden = f"contains {'@someone <img src=x onerror=alert(1)> | </details>'!r}"
    b.answered(s0, HOSTILE, 31.0, tokens=48, oracles=[("F-QUAL-GOLDEN", "Falsified", golden)])  # type: ignore[list-item]
    s1 = b.scenario(Modality.CHAT, Backend.CPU, Format.GGUF, 0, prompt_index=0)
    b.crashed(s1, f"panicked at src/main.rs:12: {HOSTILE}", HOSTILE)
    s2 = b.scenario(Modality.SERVE, Backend.CPU, Format.GGUF, 0, prompt_index=0)
    b.never_ready(s2, f"the server answered 500: {HOSTILE}", HOSTILE)
    evidence = b.evidence(version="1.0.0", gpu=False, models={Format.GGUF: _gguf(b.playbook)})
    engine = EngineInfo(name="apr", version="apr 0.4.2 @someone <img src=x onerror=alert(1)> |")
    return evidence.model_copy(update={"engine": engine})
