"""G0 integrity of a model file before any engine touches it: it resolves, its header parses and its bytes
are where the header says (I-5: sizes, offsets, overlaps, truncation). A file that fails is not handed to an
engine: its cells are Skipped with the reason and G0 fails. The declared `contract_tests` are judged here too.

An APR file is checked as far as its public container fixes it: the magic, the 64-byte v2 header and that the
header's metadata, tensor-index and data offsets lie inside the file; its tensors are not (see APR_UNKNOWN).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from aprqa_action.checks import Check, Run, register_check
from aprqa_action.contracts import ModelFile, Provenance, ReadFailure, provenance, read_model, run_invariants
from aprqa_action.judge.items import item
from aprqa_action.plan.pull import PullResult
from aprqa_action.playbook import ContractTests
from aprqa_action.records import EvidenceItem, Outcome, ResolvedModel
from aprqa_action.records.axes import Format

APR_UNKNOWN = (
    "APR tensor contracts are not checked: the APR v2 container is public (aprender's apr-format crate), but its "
    "tensor-type byte and compression flag mean different things to aprender's format crate and to its inference "
    "engine, so APR files are checked by the engine only"
)


# aprender's format crate writes "APR\0"; its inference engine (realizar) also reads the "APR2" spelling.
APR_MAGICS = (b"APR\x00", b"APR2")
APR_HEADER = 64  # bytes: magic, version, flags, tensor count, then the offsets read below (little-endian)
APR_VERIFIED = (
    "APR magic and 64-byte v2 header present, metadata/tensor-index/data offsets inside the file; "
    "tensor layout not verified: no public reader agrees on APR tensor types"
)
GGUF_SAFETENSORS_VERIFIED = "header parses, bytes where it says (I-5)"


def verified(fmt: Format) -> str:
    """What a G0 pass of a file of this format says was checked."""
    return APR_VERIFIED if fmt == Format.APR else GGUF_SAFETENSORS_VERIFIED


def _apr_problem(path: str) -> str | None:
    """Why an APR file fails G0, or None; only what the public v2 container fixes is checked."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(APR_HEADER)
        size = Path(path).stat().st_size
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    if size == 0:
        return f"{path}: empty file"
    if head[:4] not in APR_MAGICS:
        return f"{path}: not an APR file: magic {head[:4]!r}, expected {APR_MAGICS[0]!r} (or {APR_MAGICS[1]!r})"
    if size < APR_HEADER:
        return f"{path}: truncated: {size} bytes, shorter than the {APR_HEADER}-byte APR header"
    metadata_offset, metadata_size, index_offset, data_offset = struct.unpack_from("<QIQQ", head, 12)
    regions = [
        ("metadata", metadata_offset, metadata_offset + metadata_size),
        ("tensor index", index_offset, index_offset),
        ("tensor data", data_offset, data_offset),
    ]
    for name, start, end in regions:
        if start < APR_HEADER or end > size:
            where = f"byte {start}" if start == end else f"bytes {start}..{end}"
            return f"{path}: the APR header puts the {name} at {where}, outside the file's {APR_HEADER}..{size}"
    return None


@dataclass(frozen=True)
class FileCheck:
    format: Format
    path: str
    model: ModelFile | ReadFailure | None  # None: a format whose layout we cannot read (APR)
    problem: str | None  # why G0 fails for this file, or None


def check_file(path: str, fmt: Format) -> FileCheck:
    if fmt == Format.APR:
        return FileCheck(fmt, path, None, _apr_problem(path))
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
        results: list[tuple[str, Outcome, str, dict[str, float]]]
        if check.model is None:
            results = [(name, "Skipped", APR_UNKNOWN, {}) for name in contracts.invariants]
        else:
            results = [
                (
                    r.invariant,
                    r.evidence_outcome,
                    r.reason,
                    r.metrics,
                )
                for r in run_invariants(check.model, contracts.invariants, quantizations, contracts.expected)
            ]
        for name, outcome, reason, metrics in results:
            gate = f"F-CONTRACT-{name.replace('-', '')}"
            items.append(item(gate, "COMP", outcome, reason, subject=fmt, cell=fmt, metrics=metrics))
    return items


def provenances(checks: dict[Format, FileCheck]) -> dict[Format, Provenance]:
    """sha256 (streamed, cached by size and mtime), size, format, quantization and counts of each file."""
    return {fmt: provenance(check.path) for fmt, check in checks.items()}


def integrity_items(models: dict[Format, ResolvedModel], problems: dict[Format, str]) -> list[EvidenceItem]:
    """G0-INTEGRITY per model file: Skipped without a file, Falsified with the problem its check found."""
    items = []
    for fmt, model in models.items():
        if model.path is None:
            outcome, reason = "Skipped", model.reason
        elif fmt in problems:
            outcome, reason = "Falsified", problems[fmt]
        else:
            outcome, reason = "Corroborated", f"{model.path}: {verified(fmt)}"
        items.append(item("G0-INTEGRITY", "COMP", outcome, reason, subject=fmt, cell=fmt))  # type: ignore[arg-type]
    return items


def pull_item(pulled: PullResult) -> EvidenceItem:
    return item("G0-PULL", "COMP", pulled.outcome, pulled.reason, subject="model")


def integrity(run: Run) -> list[EvidenceItem]:
    """G0 per model file, then what was judged of the files before the run (the pull, the contracts)."""
    return integrity_items(run.models, run.problems) + run.per_file


register_check(Check("integrity", integrity))
