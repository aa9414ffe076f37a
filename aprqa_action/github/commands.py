"""Workflow commands (`::name props::message`) on stdout, escaped as the runner expects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from aprqa_action.github.redact import Redactor


def escape_data(value: str) -> str:
    # `%` first, or the escapes we add would be escaped again.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_command(name: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in (properties or {}).items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


class WorkflowCommands:
    """Writes workflow commands to one stream, with every secret redacted (except in `add-mask`)."""

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        self._stream = stream
        self._redact = redact

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def issue(self, name: str, message: str, properties: Mapping[str, str] | None = None) -> None:
        props = {key: self._redact(value) for key, value in (properties or {}).items()}
        self._write(format_command(name, self._redact(message), props))

    def add_mask(self, secret: str) -> None:
        # The one place the secret is printed: the runner hides this line and masks the value afterwards.
        self._write(format_command("add-mask", secret))

    def warning(self, message: str, title: str | None = None) -> None:
        self.issue("warning", message, {"title": title} if title else None)

    def error(self, message: str, title: str | None = None) -> None:
        self.issue("error", message, {"title": title} if title else None)
