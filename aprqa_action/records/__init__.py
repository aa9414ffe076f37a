"""The records the stages exchange, at the bottom of the package: plain frozen pydantic data, no I/O,
importing nothing else of ours (an import-linter contract holds that).

playbook → plan (Scenario, ResolvedModel, BackendProbe, Selection) → execute (Observation) → judge
(EvidenceItem) → score (Gateway, CategoryScore, Verdict) → report/publish (Evidence, Comparison).
"""

from aprqa_action.records.axes import Backend, Format, Modality
from aprqa_action.records.base import PLAYBOOK_NAME, Record
from aprqa_action.records.comparison import CellDelta, Comparison, MetricDelta
from aprqa_action.records.evidence import (
    REQUIRED_IN_FILES,
    SCHEMA_VERSION,
    EngineInfo,
    Evidence,
    Host,
    PlaybookInfo,
    RunInfo,
    TrustedPlaybook,
)
from aprqa_action.records.judgement import (
    CATEGORY_MAX,
    GATEWAY_NAMES,
    Category,
    CategoryScore,
    CellOutcome,
    CellResult,
    EvidenceItem,
    Gateway,
    Outcome,
    Verdict,
)
from aprqa_action.records.model_file import ExpectedDims, Provenance
from aprqa_action.records.options import FailPolicy, RunOptions
from aprqa_action.records.plan import BackendProbe, ResolvedModel, Selection
from aprqa_action.records.run import Observation, Scenario, Status, base_id

__all__ = [
    "CATEGORY_MAX",
    "GATEWAY_NAMES",
    "PLAYBOOK_NAME",
    "REQUIRED_IN_FILES",
    "SCHEMA_VERSION",
    "Backend",
    "BackendProbe",
    "Category",
    "CategoryScore",
    "CellDelta",
    "CellOutcome",
    "CellResult",
    "Comparison",
    "EngineInfo",
    "Evidence",
    "EvidenceItem",
    "ExpectedDims",
    "FailPolicy",
    "Format",
    "Gateway",
    "Host",
    "MetricDelta",
    "Modality",
    "Observation",
    "Outcome",
    "PlaybookInfo",
    "Provenance",
    "Record",
    "ResolvedModel",
    "RunInfo",
    "RunOptions",
    "Scenario",
    "Selection",
    "Status",
    "TrustedPlaybook",
    "Verdict",
    "base_id",
]
