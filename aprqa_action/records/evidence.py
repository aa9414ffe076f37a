"""The evidence record: what ran, on what, what was observed and what was concluded (store/ reads and
writes it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from aprqa_action import __version__
from aprqa_action.records.axes import Backend, Format
from aprqa_action.records.base import PLAYBOOK_NAME, Record
from aprqa_action.records.comparison import Comparison
from aprqa_action.records.judgement import CellResult, EvidenceItem, Verdict
from aprqa_action.records.model_file import Provenance
from aprqa_action.records.plan import BackendProbe, ResolvedModel, Selection
from aprqa_action.records.run import Observation, Scenario

# 2: per-cell results (`cells`) are judged once and stored; files of version 1 are still read (store/).
SCHEMA_VERSION = 2


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
    cells: list[CellResult] = Field(default_factory=list)  # the matrix cells judged, in plan order
    selection: Selection | None = None  # the part of the plan this file holds (--shard, --only)
    verdict: Verdict | None = None  # None while the run is going
    comparison: Comparison | None = None  # against a baseline evidence (--baseline)
    trusted_playbook: TrustedPlaybook | None = None  # set by merge/publish --playbook, never by a run
