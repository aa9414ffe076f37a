"""`inspect`: one model file's tensor table, provenance and invariant results, and a plain-text rendering.

This is what `aprqa inspect MODEL` shows a person deciding why a model fails G0: every tensor with its type,
row-major shape, byte offset and size, then each invariant's outcome and reason. It reads the header once
and shares it between the table and the invariants.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aprqa_action.contracts import reasons
from aprqa_action.contracts.invariants import run_invariants
from aprqa_action.contracts.provenance import provenance
from aprqa_action.contracts.quant import file_type_scheme
from aprqa_action.contracts.reader import read_model
from aprqa_action.oneline import one_line
from aprqa_action.records import Record
from aprqa_action.records.model_file import (
    INVARIANTS,
    ExpectedDims,
    InvariantResult,
    ModelFile,
    ModelFormat,
    Provenance,
    TensorInfo,
)

# Metadata shown in the text view: everything except the long tokenizer payloads.
HIDDEN_METADATA = ("tokenizer.chat_template", "tokenizer.ggml.tokens", "tokenizer.ggml.merges")


class Inspection(Record):
    path: str
    format: ModelFormat | None
    failure: str | None  # the parse reason, when the header does not parse
    tensors: list[TensorInfo]
    metadata: dict[str, Any]
    provenance: Provenance
    results: list[InvariantResult]
    # Where I-3's scheme came from when none was declared: GGUF `general.file_type` (None: declared, or none).
    quantization_from: str | None = None


def inspect(
    path: str | Path,
    invariants: Sequence[str] = INVARIANTS,
    quantizations: Sequence[str] = (),
    expected: ExpectedDims | None = None,
) -> Inspection:
    """Without declared quantizations, a GGUF's own `general.file_type` names the scheme I-3 judges."""
    model = read_model(path)
    source = None
    if not quantizations and isinstance(model, ModelFile) and (named := file_type_scheme(model)) is not None:
        quantizations, source = [named[0]], named[1]
    results = run_invariants(model, invariants, quantizations, expected)
    origin = provenance(path)
    if isinstance(model, ModelFile):
        return Inspection(
            quantization_from=source,
            path=str(path),
            format=model.format,
            failure=None,
            tensors=model.tensors,
            metadata={**model.metadata, **({"config.json": model.config} if model.config else {})},
            provenance=origin,
            results=results,
        )
    return Inspection(
        path=str(path), format=model.format, failure=model.reason, tensors=[], metadata={}, provenance=origin,
        results=results,
    )  # fmt: skip


def _value(value: Any) -> str:
    if isinstance(value, dict) and "length" in value:
        return f"<{value.get('array', 'array')} × {value['length']}>"
    text = repr(value) if not isinstance(value, str) else one_line(value)  # the file's text, on its line
    return text if len(text) <= 100 else text[:97] + "..."


def render(inspection: Inspection, max_tensors: int | None = None) -> str:
    p = inspection.provenance
    lines = [f"{inspection.path}"]
    if inspection.failure is not None:
        lines.append(f"  unreadable: {one_line(inspection.failure)}")
    else:
        lines.append(
            f"  format {inspection.format} · {p.tensor_count} tensors · {p.parameter_count:,} parameters · "
            f"{reasons.size(p.size)} · quantization {p.quantization} (most parameters: {p.dominant_type})"
        )
    for digest in p.files:
        lines.append(f"  sha256 {digest.sha256}  {digest.path} ({digest.size} bytes)")
    if p.error and inspection.failure is None:
        lines.append(f"  provenance: {one_line(p.error)}")
    shown = {k: v for k, v in inspection.metadata.items() if k not in HIDDEN_METADATA}
    if shown:
        lines.append("")
        lines.append("Metadata")
        lines += [f"  {one_line(key)} = {_value(value)}" for key, value in shown.items()]
    if inspection.tensors:
        table = inspection.tensors if max_tensors is None else inspection.tensors[:max_tensors]
        rows = [("name", "type", "shape (row-major)", "offset", "bytes")]
        rows += [(one_line(t.name), t.dtype, reasons.shape(t.shape), str(t.offset), str(t.nbytes)) for t in table]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines += ["", f"Tensors ({len(inspection.tensors)})"]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(
                    c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        if len(table) < len(inspection.tensors):
            lines.append(f"  …{len(inspection.tensors) - len(table)} more")
    lines += ["", "Invariants"]
    if inspection.quantization_from is not None:
        lines.append(
            f"  (no quantization given: I-3 judges the scheme the file's {inspection.quantization_from} names)"
        )
    for r in inspection.results:
        flag = " (unusable)" if r.unusable else ""
        lines.append(f"  {r.invariant:<5} {r.outcome.upper():<4}{flag}  {r.reason}")
    return "\n".join(lines) + "\n"


def inspect_text(
    path: str | Path,
    invariants: Sequence[str] = INVARIANTS,
    quantizations: Sequence[str] = (),
    expected: ExpectedDims | None = None,
    max_tensors: int | None = None,
) -> str:
    """Never raises: an unreadable file renders as its reason."""
    try:
        return render(inspect(path, invariants, quantizations, expected), max_tensors)
    except Exception as exc:  # the text view must not take the CLI down
        return f"{path}\n  internal error while inspecting (a bug in aprqa): {type(exc).__name__}: {exc}\n"
