"""The evidence file: what ran, on what, and what was observed. Written atomically, as the run goes.

`evidence.json` is rewritten (write-to-temp, fsync, rename) after every cell, and every observation is
appended to `observations.jsonl` the moment it exists, so a killed run loses at most the scenario in flight.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import ConfigDict, Field, ValidationError

from aprqa_action import __version__
from aprqa_action.axes import Backend, Format
from aprqa_action.backends import BackendProbe
from aprqa_action.contracts.models import Provenance
from aprqa_action.records import (
    PLAYBOOK_NAME,
    Comparison,
    EvidenceItem,
    Observation,
    Record,
    Scenario,
    Verdict,
)
from aprqa_action.resolve import ResolvedModel
from aprqa_action.shard import Selection

SCHEMA_VERSION = 1
EVIDENCE_FILE = "evidence.json"
STREAM_FILE = "observations.jsonl"


class Host(Record):
    hostname: str
    platform: str
    python: str
    cpu: str
    cpu_count: int | None
    memory_gb: float


class RunInfo(Record):
    tool: str = "aprqa"
    tool_version: str = __version__
    started: datetime
    ended: datetime | None = None
    state: Literal["running", "complete", "cancelled", "stopped"] = "running"
    host: Host


class PlaybookInfo(Record):
    name: str = Field(pattern=PLAYBOOK_NAME, max_length=200)  # checked again: evidence may come from a fork
    version: str
    path: str
    sha256: str
    failure_policy: str
    spec: dict[str, Any] = Field(default_factory=dict)  # the validated playbook, so a merge can judge again


class TrustedPlaybook(Record):
    """The playbook file `merge`/`publish --playbook` judged and named the evidence with (from the base
    branch's checkout), instead of the spec the evidence recorded: a fork writes its evidence, not this."""

    path: str
    sha256: str
    recorded_sha256: str  # the sha256 of the playbook the run says it ran

    @property
    def differs(self) -> bool:
        return self.sha256 != self.recorded_sha256


class EngineInfo(Record):
    name: str
    version: str | None


# Defaults for the code that builds evidence, but always written: a file without them is not evidence.
REQUIRED_IN_FILES = ("schema_version", "items")


def _require_in_files(schema: dict[str, Any]) -> None:
    required = {*schema.get("required", []), *REQUIRED_IN_FILES}
    schema["required"] = [name for name in schema["properties"] if name in required]


class Evidence(Record):
    model_config = ConfigDict(**Record.model_config, json_schema_extra=_require_in_files)

    schema_version: int = SCHEMA_VERSION
    run: RunInfo
    playbook: PlaybookInfo
    engine: EngineInfo
    models: dict[Format, ResolvedModel]
    provenance: dict[Format, Provenance] = Field(default_factory=dict)  # sha256, size, quantization, counts
    backends: dict[Backend, BackendProbe]
    scenarios: list[Scenario]
    observations: list[Observation]
    items: list[EvidenceItem] = Field(default_factory=list)
    selection: Selection | None = None  # the part of the plan this file holds (--shard, --only)
    verdict: Verdict | None = None  # None while the run is going
    comparison: Comparison | None = None  # against a baseline evidence (--baseline)
    trusted_playbook: TrustedPlaybook | None = None  # set by merge/publish --playbook, never by a run


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


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
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
    from aprqa_action.errors import InputError

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    try:
        # Parsed by pydantic-core straight from the bytes: no intermediate tree of Python dicts.
        evidence = Evidence.model_validate_json(raw)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InputError(f"{path}: not a JSON evidence file: {exc.errors()[0]['msg']}") from None
        raise InputError(f"{path}: not a valid evidence file: {exc}") from None
    missing = [name for name in REQUIRED_IN_FILES if name not in evidence.model_fields_set]
    if missing:
        raise InputError(f"{path}: not a valid evidence file: missing {', '.join(missing)}")
    return evidence
