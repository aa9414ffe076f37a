"""G0 integrity of a model file before any engine touches it: it resolves, its header parses and its bytes
are where the header says (I-5: sizes, offsets, overlaps, truncation). A file that fails is not handed to an
engine: its cells are Skipped with the reason and G0 fails. The declared `contract_tests` are judged here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aprqa_action.axes import Format
from aprqa_action.contracts import ModelFile, Provenance, ReadFailure, provenance, read_model, run_invariants
from aprqa_action.playbook import ContractTests
from aprqa_action.records import EvidenceItem
from aprqa_action.resolve import ResolvedModel

APR_UNKNOWN = (
    "APR tensor contracts are not checked: the APR v2 container is public (aprender's apr-format crate), but its "
    "tensor-type byte and compression flag mean different things to aprender's format crate and to its inference "
    "engine, so APR files are checked by the engine only"
)


@dataclass(frozen=True)
class FileCheck:
    format: Format
    path: str
    model: ModelFile | ReadFailure | None  # None: a format whose layout we cannot read (APR)
    problem: str | None  # why G0 fails for this file, or None


def check_file(path: str, fmt: Format) -> FileCheck:
    if fmt == Format.APR:
        try:
            size = Path(path).stat().st_size
        except OSError as exc:
            return FileCheck(fmt, path, None, f"{path}: cannot read: {exc.strerror or exc}")
        return FileCheck(fmt, path, None, f"{path}: empty file" if size == 0 else None)
    model = read_model(path)
    if isinstance(model, ReadFailure):
        return FileCheck(fmt, path, model, model.reason)
    [layout] = run_invariants(model, ["I-5"], [])
    return FileCheck(fmt, path, model, f"I-5: {layout.reason}" if layout.outcome == "fail" else None)


def check_files(models: dict[Format, ResolvedModel]) -> dict[Format, FileCheck]:
    return {fmt: check_file(m.path, fmt) for fmt, m in models.items() if m.path is not None}


def contract_items(
    checks: dict[Format, FileCheck], contracts: ContractTests, quantizations: list[str]
) -> list[EvidenceItem]:
    """One F-CONTRACT-I<n> item (COMP) per declared invariant and model file."""
    items = []
    for fmt, check in checks.items():
        if check.model is None:
            results = [(name, "Skipped", APR_UNKNOWN, {}) for name in contracts.invariants]
        else:
            results = [
                (
                    r.invariant,
                    {"pass": "Corroborated", "fail": "Falsified", "skip": "Skipped"}[r.outcome],
                    r.reason,
                    r.metrics,
                )
                for r in run_invariants(check.model, contracts.invariants, quantizations, contracts.expected)
            ]
        for name, outcome, reason, metrics in results:
            gate = f"F-CONTRACT-{name.replace('-', '')}"
            items.append(
                EvidenceItem(
                    id=f"{gate}:{fmt}",
                    gate_id=gate,
                    category="COMP",
                    outcome=outcome,  # type: ignore[arg-type]
                    reason=reason,
                    cell=str(fmt),
                    metrics=metrics,
                )
            )
    return items


def provenances(checks: dict[Format, FileCheck]) -> dict[Format, Provenance]:
    """sha256 (streamed, cached by size and mtime), size, format, quantization and counts of each file."""
    return {fmt: provenance(check.path) for fmt, check in checks.items()}
