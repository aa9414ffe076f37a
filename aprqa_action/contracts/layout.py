"""I-5: every tensor's bytes are where the header says, as many as its shape and type need, inside the file.

Checks, per file: size = shape × dtype (whole blocks for quantized types), offsets inside the file (a
tensor starting past EOF vs one cut short by truncation), no two tensors sharing bytes, and the data section
fully accounted for. SafeTensors requires the tensors to tile the data section exactly (the library rejects
gaps and trailing bytes). GGUF requires what llama.cpp's `gguf_init` requires: each tensor at the running
offset of the ones declared before it, each padded to `general.alignment`; the file may end anywhere between
the last tensor's end and its padded end. Reader-time findings (index/shard disagreements, the safetensors
library refusing a file) are included. `scannable` tells I-4 which tensors' bytes can be read safely.
"""

from __future__ import annotations

from collections import defaultdict

from aprqa_action.contracts import reasons
from aprqa_action.contracts.ggml_types import BY_NAME
from aprqa_action.records.model_file import FileInfo, InvariantResult, ModelFile, TensorInfo


def scannable(tensor: TensorInfo, file_size: int) -> bool:
    """The tensor's bytes exist and match its shape, so a scan can read them without running off the file."""
    return (
        tensor.expected_nbytes is not None
        and tensor.nbytes == tensor.expected_nbytes
        and tensor.offset + tensor.nbytes <= file_size
    )


def _span(t: TensorInfo) -> str:
    return f"[{t.offset}, {t.offset + t.nbytes})"


def _sizes(model: ModelFile, tensors: list[TensorInfo]) -> list[str]:
    found = []
    for t in tensors:
        if t.expected_nbytes is None and model.format == "gguf":
            gtype = BY_NAME[t.dtype]
            row = t.shape[-1] if t.shape else 1
            found.append(
                f"{t.name}: rows of {row} values are not whole {t.dtype} blocks of {gtype.block_size} "
                f"(shape {reasons.shape(t.shape)})"
            )
        elif t.expected_nbytes is not None and t.nbytes != t.expected_nbytes and t.nbytes >= 0:
            found.append(
                f"{t.name}: {t.dtype} {reasons.shape(t.shape)} needs {t.expected_nbytes} bytes, "
                f"the header gives it {t.nbytes} ({_span(t)})"
            )
    return found


def _bounds(tensors: list[TensorInfo], size: int) -> list[str]:
    found = []
    for t in tensors:
        end = t.offset + t.nbytes
        if t.nbytes > 0 and t.offset >= size:
            found.append(f"{t.name}: starts at byte {t.offset}, past the end of the file ({size} bytes)")
        elif end > size:
            found.append(
                f"{t.name}: bytes {_span(t)} run {end - size} bytes past the end of the file ({size} bytes): truncated"
            )
    return found


def _overlaps(tensors: list[TensorInfo]) -> list[str]:
    found = []
    ordered = sorted((t for t in tensors if t.nbytes > 0), key=lambda t: (t.offset, t.offset + t.nbytes))
    widest: TensorInfo | None = None  # the tensor reaching furthest so far
    for t in ordered:
        if widest is not None and t.offset < widest.offset + widest.nbytes:
            shared = min(widest.offset + widest.nbytes, t.offset + t.nbytes) - t.offset
            found.append(f"{t.name} {_span(t)} overlaps {widest.name} {_span(widest)} by {shared} bytes")
        if widest is None or t.offset + t.nbytes > widest.offset + widest.nbytes:
            widest = t
    return found


def _safetensors_cover(info: FileInfo, tensors: list[TensorInfo]) -> tuple[list[str], int]:
    """Gaps in, and bytes after, the data section (SafeTensors tiles it exactly)."""
    start = info.data_start or 0
    found: list[str] = []
    gap_bytes = 0
    cursor = start
    for t in sorted((t for t in tensors if t.nbytes > 0), key=lambda t: t.offset):
        if t.offset > cursor:
            found.append(f"bytes [{cursor}, {t.offset}) before {t.name} belong to no tensor")
            gap_bytes += t.offset - cursor
        cursor = max(cursor, t.offset + t.nbytes)
    if info.size > cursor:
        found.append(f"{info.size - cursor} bytes after the last tensor's data belong to no tensor")
        gap_bytes += info.size - cursor
    return found, gap_bytes


def _gguf_order(model: ModelFile, info: FileInfo, tensors: list[TensorInfo]) -> tuple[list[str], list[str]]:
    """llama.cpp's rule: declaration order, each tensor at the padded end of the previous one.

    Returns (misaligned offsets, other departures from the rule: gaps, reordering, trailing bytes).
    """
    align = model.alignment or 32
    start = info.data_start or 0
    misaligned: list[str] = []
    order: list[str] = []
    running = 0
    for t in tensors:
        relative = t.offset - start
        if relative % align:
            misaligned.append(f"{t.name}: data offset {relative} is not a multiple of general.alignment {align}")
        elif relative != running:
            order.append(
                f"{t.name}: data offset {relative}, llama.cpp expects {running} (declaration order, each "
                f"tensor padded to {align} bytes)"
            )
        running = max(running, relative) + -(-t.nbytes // align) * align
    padded_end = start + running
    if tensors and info.size > padded_end:
        order.append(
            f"{info.size - padded_end} bytes after the data section (it ends at byte {padded_end}, "
            f"the file at {info.size})"
        )
    elif not tensors and info.size > start:
        order.append(f"{info.size - start} bytes after the header of a file without tensors")
    return misaligned, order


def check_layout(model: ModelFile) -> InvariantResult:
    findings: list[str] = list(model.read_issues)
    by_file: dict[str, list[TensorInfo]] = defaultdict(list)
    for t in model.tensors:
        by_file[t.file].append(t)
    metrics: dict[str, float] = {"tensors": len(model.tensors)}
    counts = {
        "size_mismatches": 0,
        "out_of_bounds": 0,
        "overlaps": 0,
        "misaligned": 0,
        "unaccounted_bytes": 0,
    }
    declared = 0
    for info in model.files:
        if info.role == "index":
            continue
        tensors = by_file.get(info.path, [])
        declared += sum(max(t.nbytes, 0) for t in tensors)
        sizes, bounds, overlaps = _sizes(model, tensors), _bounds(tensors, info.size), _overlaps(tensors)
        counts["size_mismatches"] += len(sizes)
        counts["out_of_bounds"] += len(bounds)
        counts["overlaps"] += len(overlaps)
        # The most specific findings first: a truncated or overlapping tensor also breaks the tiling rules.
        findings += sizes + bounds + overlaps
        if model.format == "safetensors":
            cover, gap_bytes = _safetensors_cover(info, tensors)
            counts["unaccounted_bytes"] += gap_bytes
            if not (bounds or overlaps):
                findings += cover
        else:
            misaligned, order = _gguf_order(model, info, tensors)
            counts["misaligned"] += len(misaligned)
            findings += misaligned if (bounds or overlaps) else misaligned + order
    if model.library_error and not findings:
        findings.append(model.library_error)
    metrics.update({k: float(v) for k, v in counts.items()})
    metrics["data_bytes"] = float(declared)
    metrics["file_bytes"] = float(model.total_size)
    if findings:
        reason = f"{reasons.plural(len(findings), 'layout problem')}: {reasons.join(findings)}"
        return InvariantResult(invariant="I-5", outcome="fail", reason=reason, metrics=metrics, unusable=True)
    files = [f for f in model.files if f.role != "index"]
    where = f"{len(files)} files" if len(files) > 1 else f"{model.files[0].size} bytes"
    extra = f", aligned to {model.alignment}" if model.format == "gguf" else ""
    reason = (
        f"{len(model.tensors)} tensors, {reasons.size(declared)} of data in {where}: every size matches its shape "
        f"and type, every offset is inside the file, no overlaps, no unaccounted bytes{extra}"
    )
    return InvariantResult(invariant="I-5", outcome="pass", reason=reason, metrics=metrics)
