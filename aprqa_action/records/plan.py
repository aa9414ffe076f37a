"""What the plan rests on: the model file each format resolved to, the backends this machine has, and
the part of the plan an evidence file holds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aprqa_action.records.axes import Backend, Format
from aprqa_action.records.base import Record


class ResolvedModel(Record):
    format: Format
    path: str | None
    how: Literal["given", "sibling", "candidate", "missing"]
    reason: str
    # Read from the file (GGUF metadata, config.json, tokenizer.json) for the edge checks: the context window
    # the boundary prompts probe, and the special tokens that must not leak into answers.
    context_length: int | None = None
    special_tokens: list[str] = Field(default_factory=list)


class BackendProbe(Record):
    backend: Backend
    available: bool
    reason: str
    devices: tuple[str, ...] = ()


class Selection(Record):
    """Which part of the plan an evidence file holds; `plan_ids` are every scenario id of the whole plan."""

    shard_index: int | None = None  # 1-based
    shard_count: int | None = None
    only: dict[str, list[str]] = Field(default_factory=dict)
    plan_ids: list[str]
    # A merged evidence: each part it was merged from — its selection, host and GPU — one line each.
    parts: list[str] = Field(default_factory=list)

    @property
    def is_part(self) -> bool:
        return self.shard_count is not None or bool(self.only)

    @property
    def label(self) -> str:
        parts = [f"shard {self.shard_index}/{self.shard_count}"] if self.shard_count else []
        parts += [f"{k}={'|'.join(v)}" for k, v in self.only.items()]
        return ", ".join(parts) or "everything"
