"""The records stages exchange: Scenario (plan → execute) and Observation (execute → judge)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aprqa_action.axes import Backend, Format, Modality


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @property
    def cell(self) -> tuple[Format, Backend, Modality]:
        return (self.format, self.backend, self.modality)


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
    latency_ms: float | None = None
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    engine_version: str | None = None
    command: list[str] = []
    stdout_tail: str = ""
    stderr_tail: str = ""
