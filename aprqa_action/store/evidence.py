"""The evidence file: what ran, on what, and what was observed. Written atomically, as the run goes.

`evidence.json` is rewritten (write-to-temp, fsync, rename) after every cell, and every observation is
appended to `observations.jsonl` the moment it exists, so a killed run loses at most the scenario in flight.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import psutil
from pydantic import ValidationError

from aprqa_action.errors import InputError
from aprqa_action.judge.cells import cell_results
from aprqa_action.records import REQUIRED_IN_FILES, CellResult, Evidence, EvidenceItem, Host, Observation, Scenario
from aprqa_action.store.json_stream import NotStreamable, validate_streaming

EVIDENCE_FILE = "evidence.json"
# An evidence file may come from a fork's artifact: one larger than any run writes (10,000 scenarios with
# 2,000-character excerpts are 90 MB) is refused before it is read, not read until the publisher runs out of memory.
MAX_EVIDENCE_BYTES = 1 << 30
STREAM_FILE = "observations.jsonl"
# The arrays that grow with the run, validated element by element as the file is parsed (store/json_stream.py).
STREAMED = {"scenarios": Scenario, "observations": Observation, "items": EvidenceItem, "cells": CellResult}


def now() -> datetime:
    return datetime.now(UTC)


def host_info() -> Host:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Host(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
    )


def write_atomic(path: Path, text: str | Callable[[TextIO], None]) -> None:
    """`text`, or what the callable writes (a large report is written as it is made, never held whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if callable(text):
                text(handle)
            else:
                handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump(evidence: Evidence) -> str:
    return evidence.model_dump_json(indent=2) + "\n"


def write_evidence(directory: Path, evidence: Evidence) -> Path:
    path = directory / EVIDENCE_FILE
    write_atomic(path, dump(evidence))
    return path


def append_stream(directory: Path, observation: Observation) -> None:
    with (directory / STREAM_FILE).open("a", encoding="utf-8") as handle:
        handle.write(observation.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_stream(directory: Path) -> dict[str, Observation]:
    """The observations streamed to DIR/observations.jsonl; a later line for a scenario wins. A torn last
    line (the process was killed mid-write) is ignored."""
    found: dict[str, Observation] = {}
    try:
        lines = (directory / STREAM_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        try:
            observation = Observation.model_validate_json(line)
        except ValueError:
            continue
        found[observation.scenario_id] = observation
    return found


def read_evidence(path: Path) -> Evidence:
    try:
        size = path.stat().st_size
        if size > MAX_EVIDENCE_BYTES:
            raise InputError(f"{path}: {size:,} bytes, more than an evidence file can be ({MAX_EVIDENCE_BYTES:,})")
        # Streamed: the largest run's file (90 MB) would otherwise be held as bytes and as a parsed tree at once.
        evidence = validate_streaming(path, Evidence, STREAMED)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except NotStreamable:
        evidence = _validate_whole(path)  # rare (malformed): pydantic's parser decides, and says where
    except ValidationError as exc:
        raise InputError(f"{path}: not a valid evidence file: {exc}") from None
    missing = [name for name in REQUIRED_IN_FILES if name not in evidence.model_fields_set]
    if missing:
        raise InputError(f"{path}: not a valid evidence file: missing {', '.join(missing)}")
    return with_cells(evidence)


def _validate_whole(path: Path) -> Evidence:
    try:
        return Evidence.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InputError(f"{path}: not a JSON evidence file: {exc.errors()[0]['msg']}") from None
        raise InputError(f"{path}: not a valid evidence file: {exc}") from None


def with_cells(evidence: Evidence) -> Evidence:
    """Evidence without its per-cell results — written by 0.1.0 (schema version 1), or a run killed before
    judging — gets them judged from its items, with the repeat rule the run recorded."""
    if evidence.cells or not any(s.purpose == "matrix" for s in evidence.scenarios):
        return evidence
    cells = cell_results(evidence.scenarios, evidence.observations, evidence.items, _recorded_min_pass(evidence))
    return evidence.model_copy(update={"cells": cells})


def _recorded_min_pass(evidence: Evidence) -> int | None:
    """test_matrix.repeat_min_pass from the playbook the run recorded; None: every attempt must pass."""
    matrix = evidence.playbook.spec.get("test_matrix") or {}
    value = matrix.get("repeat_min_pass") if isinstance(matrix, dict) else None
    return value if isinstance(value, int) and value >= 1 else None
