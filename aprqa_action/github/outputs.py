"""Step outputs in $GITHUB_OUTPUT, in the runner's `name<<DELIMITER` heredoc format."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_output(name: str, value: str) -> str:
    """One output; the heredoc form is used for every value (as @actions/core does), so newlines are safe."""
    if not _NAME.match(name):
        raise ValueError(f"invalid output name: {name!r}")
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    while delimiter in value:  # a value that contains the delimiter would end the heredoc early
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    text = "".join(format_output(name, value) for name, value in outputs.items())
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
