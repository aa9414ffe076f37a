"""What runs and what was seen: Scenario (plan → execute) and Observation (execute → judge)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from aprqa_action.records.axes import Backend, Format, Modality, cell_label
from aprqa_action.records.base import Record

LONG_PROMPT_WORD = " hello"  # one token in the common BPE and SentencePiece vocabularies


def base_id(scenario_id: str) -> str:
    """A scenario id without its repeat suffix ("@r<n>"): the attempts of one scenario share it."""
    return scenario_id.split("@", 1)[0]


class Scenario(Record):
    id: str
    index: int
    modality: Modality
    backend: Backend
    format: Format
    model_path: str | None
    prompt: str
    prompt_index: int
    seed: int
    temperature: float
    max_tokens: int
    timeout_ms: int
    skip_reason: str | None = None
    # warmup/measure: profile_ci runs; parity: the matrix prompt answered by engine_parity's reference engine;
    # perplexity: the engine's perplexity of aprqa's fixed text (quantization quality)
    purpose: Literal["matrix", "warmup", "measure", "edge", "parity", "perplexity"] = "matrix"
    attempt: int = 0  # test_matrix.repeat: the attempt's number, from 0; its id ends in @r<attempt + 1>
    probe: str | None = None  # purpose edge: which edge case ("empty", "determinism", "http:stream", ...)
    # A long prompt is `prompt` and then " hello" this many times (about one token each): not stored whole
    prompt_repeat: int = Field(default=0, ge=0)
    probe_config: dict[str, float] = Field(default_factory=dict)  # e.g. concurrency, grace_s (the playbook's edge)
    # Sampling beyond temperature and seed the playbook declares (top_k, top_p, repeat_penalty): every
    # modality gets the same, so answers compare like for like.
    sampling: dict[str, int | float] = Field(default_factory=dict)  # top_k stays an integer
    engine: str | None = None  # the engine profile that runs it when not the run's own (engine_parity)

    @property
    def full_prompt(self) -> str:
        """The prompt as the engine gets it."""
        return self.prompt + LONG_PROMPT_WORD * self.prompt_repeat

    @property
    def base_id(self) -> str:
        return base_id(self.id)

    @property
    def cell(self) -> tuple[Format, Backend, Modality]:
        return (self.format, self.backend, self.modality)

    @property
    def cell_name(self) -> str:
        return cell_label(self.format, self.backend, self.modality)

    @property
    def group(self) -> tuple[Format, Backend, Modality, str, str | None]:
        """Scenarios that run together: a matrix cell with its edge cases (one server in serve: A → B → A), a
        cell's profile runs, a cell's answers from another engine, a format's perplexity."""
        kind = {"edge": "matrix", "warmup": "profile", "measure": "profile"}.get(self.purpose, self.purpose)
        return (self.format, self.backend, self.modality, kind, self.engine)


# ok: the engine answered; failed: it exited non-zero, answered an error or unreadable output, or never
# became ready; crashed: a signal or a panic; timeout: killed at timeout_ms; skipped: never started, with
# the reason; not_run: stopped before its turn (fail_fast, cancellation).
Status = Literal["ok", "failed", "crashed", "timeout", "skipped", "not_run"]


class Observation(Record):
    scenario_id: str
    status: Status
    reason: str = ""
    loaded: bool | None = None
    started: datetime | None = None
    ended: datetime | None = None
    exit_code: int | None = None
    signal: str | None = None
    panicked: bool = False
    timed_out: bool = False
    text: str | None = None
    tokens: int | None = None
    tok_per_sec: float | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None  # the generation as the engine reports it, else the wall time
    duration_ms: float | None = None  # wall time of the scenario: the process (run, chat) or the request
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    engine_version: str | None = None
    command: list[str] = Field(default_factory=list)
    stdout_tail: str = ""
    stderr_tail: str = ""
    # What an edge probe saw, as data for the judge: HTTP statuses, whether a body was JSON, counts, texts.
    facts: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
