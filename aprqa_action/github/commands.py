"""Workflow commands (`::name props::message`) on stdout, escaped as the runner expects, and the guard that
lets no other line of aprqa's output be read as one."""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from aprqa_action.github.redact import Redactor

# The runner reads a command from a line whose trimmed text starts with `::`, and a legacy one from `##[`
# anywhere in a line. Python's strip() removes at least the whitespace .NET's Trim() does.
_LEGACY = "##["
_BROKEN = "#\u200b#["
INERT = "[text] "
_LINE_END = re.compile(r"(\r\n|\r|\n)")


def escape_data(value: str) -> str:
    # `%` first, or the escapes we add would be escaped again. NEL, LS and PS: no reader may split on them;
    # and no legacy `##[` command may hide in the message of ours.
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(_LEGACY, _BROKEN)
    return value.replace("\x85", "%C2%85").replace("\u2028", "%E2%80%A8").replace("\u2029", "%E2%80%A9")


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
        # Through a CommandGuard, only this path may send a command.
        write = getattr(self._stream, "write_command", None)
        if write is not None:
            write(line)
        else:
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

    def group(self, title: str) -> None:
        self.issue("group", title)

    def endgroup(self) -> None:
        self._write("::endgroup::")


def inert(line: str) -> str:
    """`line` unable to be read as a workflow command: one that would be gets a visible prefix, and the
    legacy `##[` a zero-width space inside it."""
    if _LEGACY in line:
        line = line.replace(_LEGACY, _BROKEN)
    return INERT + line if line.strip().startswith("::") else line


class CommandGuard(io.TextIOBase):
    """A text stream that passes every line through `inert`: whatever aprqa prints — an engine's error, a
    playbook name from an artifact — cannot become a workflow command. `write_command` is the one way for a
    command through (WorkflowCommands uses it). Lines are held until they end, so a line is judged whole."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        parts = _LINE_END.split(self._pending + text)
        self._pending = parts.pop()
        # parts alternate: line, line end, line, line end …
        self._stream.write("".join(inert(p) if i % 2 == 0 else p for i, p in enumerate(parts)))
        return len(text)

    def write_command(self, line: str) -> None:
        self._drain()
        self._stream.write(line + "\n")

    def _drain(self) -> None:
        if self._pending:
            self._stream.write(inert(self._pending) + "\n")
            self._pending = ""

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:  # the wrapped stream is not ours to close
        self._drain()
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


@contextmanager
def guarded_output() -> Iterator[None]:
    """stdout and stderr through a CommandGuard, unless they are a terminal (no runner reads those)."""
    saved = sys.stdout, sys.stderr
    guards = [CommandGuard(s) if not s.isatty() else None for s in saved]
    sys.stdout, sys.stderr = (g or s for g, s in zip(guards, saved, strict=True))
    try:
        yield
    finally:
        for guard in guards:
            if guard is not None:
                guard.close()
        sys.stdout, sys.stderr = saved


def workflow_groups() -> WorkflowCommands | None:
    """On GitHub Actions, the commands that fold the run's progress into one group per cell (to stdout,
    where runners read workflow commands); elsewhere None."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    return WorkflowCommands(sys.stdout, Redactor())
