"""Engine profiles are data: how to drive an engine's run, chat and serve modes and read its output.

Built-in profiles (engines/profiles/*.yaml) are written in exactly the format a user writes inline under
`engine:` in a playbook, so both travel the same path.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from aprqa_action.axes import Backend, Format, Modality
from aprqa_action.strict import Strict

# Placeholders an argv element or stdin template may use. "{backend_args}" must stand alone: it is
# replaced by zero or more elements (the backend's flags, e.g. ["--no-gpu"] for cpu).
PLACEHOLDERS = frozenset(
    {"python", "model", "prompt", "max_tokens", "seed", "temperature", "port", "host", "backend_args"}
)


def _check_template(text: str) -> str:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(sorted(PLACEHOLDERS))})")
    return text


def _check_regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if compiled.groups < 1:
        raise ValueError("the regular expression needs one capturing group: the value to read")
    return pattern


Regex = Annotated[str, Field(min_length=1)]
FieldName = Annotated[str, Field(min_length=1)]


class JsonOutput(Strict):
    """A JSON object on stdout (the last line that parses as one); `fields` maps our names to its keys."""

    format: Literal["json"]
    text: FieldName = "text"
    tokens: FieldName | None = None
    tok_per_sec: FieldName | None = None
    ttft_ms: FieldName | None = None
    latency_ms: FieldName | None = None
    load_ms: FieldName | None = None


class TextOutput(Strict):
    """Plain text: the generated text is stdout (or the first group of `text` over it, DOTALL);
    statistics are read by regex (first group) from stderr, then stdout."""

    format: Literal["text"]
    text: Regex | None = None
    tokens: Regex | None = None
    tok_per_sec: Regex | None = None
    ttft_ms: Regex | None = None
    latency_ms: Regex | None = None
    load_ms: Regex | None = None

    @field_validator("text", "tokens", "tok_per_sec", "ttft_ms", "latency_ms", "load_ms")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)


Output = Annotated[JsonOutput | TextOutput, Field(discriminator="format")]
Argv = Annotated[list[str], Field(min_length=1)]


class ProcessMode(Strict):
    """run / chat: one process per scenario."""

    argv: Argv
    stdin: str | None = None
    output: Output

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        for item in argv:
            _check_template(item)
            if "{backend_args}" in item and item != "{backend_args}":
                raise ValueError("{backend_args} must be an argv element of its own")
        return argv

    @field_validator("stdin")
    @classmethod
    def _stdin(cls, stdin: str | None) -> str | None:
        if stdin is not None and "{backend_args}" in stdin:
            raise ValueError("{backend_args} is only allowed in argv")
        return None if stdin is None else _check_template(stdin)


class Health(Strict):
    path: str = Field(pattern=r"^/")
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None


Dialect = Literal["openai-chat", "openai-completions", "apr-generate"]
DEFAULT_PATHS: dict[str, str] = {
    "openai-chat": "/v1/chat/completions",
    "openai-completions": "/v1/completions",
    "apr-generate": "/generate",
}


class Request(Strict):
    dialect: Dialect = "openai-chat"
    path: str | None = Field(default=None, pattern=r"^/")
    stream: bool = False

    @property
    def url_path(self) -> str:
        return self.path or DEFAULT_PATHS[self.dialect]


class ServeMode(Strict):
    """serve: one server per (format, backend); requests per scenario."""

    argv: Argv
    health: Health
    request: Request = Request()
    ready_timeout_ms: int | None = Field(default=None, ge=1)

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        ProcessMode._argv(argv)
        if not any("{port}" in item for item in argv):
            raise ValueError("a serve argv must pass {port}: the harness picks a free port per server")
        return argv


class EngineProfile(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    formats: list[Format] = Field(min_length=1)
    version_argv: list[str] | None = None
    backend_args: dict[Backend, list[str]] = Field(default_factory=dict)
    run: ProcessMode | None = None
    chat: ProcessMode | None = None
    serve: ServeMode | None = None

    @model_validator(mode="after")
    def _has_a_mode(self) -> EngineProfile:
        if self.run is None and self.chat is None and self.serve is None:
            raise ValueError("an engine profile needs at least one of run, chat, serve")
        return self

    def mode(self, modality: Modality) -> ProcessMode | ServeMode | None:
        return {Modality.RUN: self.run, Modality.CHAT: self.chat, Modality.SERVE: self.serve}[modality]
