"""I-4: no NaN/Inf, found by integer bit tests over a memory map — never by decoding the model.

Float tensors (F32/F16/BF16/F64, float8): view the bytes as unsigned integers, clear the sign bit into a
reusable buffer and compare the maximum with the smallest non-finite pattern (floats.FloatBits). Block-
quantized tensors decode to NaN/Inf only through their float scales, so every block's scale fields (d, and
dmin/m/s where the type has them; ggml_types.SCALE_FIELDS) are read through a strided numpy view — one
element per block, no Python loop over blocks. Work is split into pieces of a few MB so memory stays
bounded (one 512 KB buffer per thread; the pages of a finished piece are dropped from the mapping) and two
threads can share the scan: numpy releases the GIL in these loops. Exact counts and positions are computed
only for a piece whose fast test fires.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from aprqa_action.contracts import floats, reasons
from aprqa_action.contracts.floats import FloatBits
from aprqa_action.contracts.ggml_types import BY_NAME, GGMLType, ScaleField
from aprqa_action.contracts.layout import scannable
from aprqa_action.contracts.safetensors_reader import DTYPES
from aprqa_action.records.model_file import InvariantResult, ModelFile, TensorInfo

CHUNK_BYTES = 512 * 1024  # one L2-sized buffer per thread: measured fastest here (256K F16 values)
PIECE_BYTES = 16 * 1024 * 1024  # unit of work handed to a thread
WORKERS = max(1, min(4, os.cpu_count() or 1))
PAGE = mmap.PAGESIZE


@dataclass(frozen=True)
class _Piece:
    tensor: int  # index in the tensor list
    file: str
    start: int  # absolute offset of the first element / block of the piece
    count: int  # elements (float) or blocks
    first: int  # index of that element / block inside the tensor
    bits: FloatBits | None = None  # a float tensor
    gtype: GGMLType | None = None  # a block-quantized tensor


@dataclass
class _Found:
    """Non-finite values found in one tensor (or one piece of it)."""

    nan: int = 0
    inf: int = 0
    first: int | None = None  # element or block index
    fields: dict[str, int] = field(default_factory=dict)  # block types: scale field → blocks hit
    raw: int | None = None  # the first offending bit pattern
    first_field: str | None = None  # block types: the scale field holding it

    def add(self, other: _Found) -> None:
        self.nan += other.nan
        self.inf += other.inf
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first, self.raw, self.first_field = other.first, other.raw, other.first_field
        for name, count in other.fields.items():
            self.fields[name] = self.fields.get(name, 0) + count


def _check(values: np.ndarray, bits: FloatBits, buf: np.ndarray) -> _Found | None:
    """Non-finite entries of `values` (raw bit patterns of `bits`), or None when all are finite."""
    masked = buf[: values.size]
    np.bitwise_and(values, bits.abs_mask, out=masked)
    if bits.exact:
        if not (masked == bits.threshold).any():
            return None
        bad = masked == bits.threshold
    else:
        if masked.max() < bits.threshold:
            return None
        bad = masked >= bits.threshold
    inf = int(np.count_nonzero(masked == bits.inf)) if bits.inf is not None else 0
    first = int(np.argmax(bad))
    return _Found(nan=int(np.count_nonzero(bad)) - inf, inf=inf, first=first, raw=int(values[first]))


def _float_piece(buf_map: mmap.mmap, piece: _Piece) -> _Found | None:
    bits = piece.bits
    assert bits is not None
    values = np.frombuffer(buf_map, dtype=bits.view, count=piece.count, offset=piece.start)
    step = CHUNK_BYTES // bits.itemsize
    scratch = np.empty(min(step, piece.count), dtype=bits.view)
    found: _Found | None = None
    for lo in range(0, piece.count, step):
        hit = _check(values[lo : lo + step], bits, scratch)
        if hit is not None:
            hit.first = (hit.first or 0) + lo + piece.first
            found = found or _Found()
            found.add(hit)
    return found


def _field_values(buf_map: mmap.mmap, piece: _Piece, scale: ScaleField, lo: int, n: int) -> np.ndarray:
    gtype = piece.gtype
    assert gtype is not None
    base = piece.start + lo * gtype.type_size + scale.offset

    def strided(dtype: str, extra: int = 0) -> np.ndarray:
        return np.ndarray((n,), dtype=dtype, buffer=buf_map, offset=base + extra, strides=(gtype.type_size,))

    if scale.encoding == "f16":
        return strided("<u2")
    if scale.encoding == "f32":
        return strided("<u4")
    if scale.encoding == "e8m0":
        return strided("<u1")
    # IQ1_M: the fp16 scale is the top nibble of each of the block's four uint16 scales.
    s0, s1, s2, s3 = (strided("<u2", 2 * i) for i in range(4))
    return (s0 >> 12) | ((s1 >> 8) & 0x00F0) | ((s2 >> 4) & 0x0F00) | (s3 & 0xF000)


_SCALE_BITS = {"f16": floats.F16, "f32": floats.F32, "e8m0": floats.E8M0, "iq1m": floats.F16}


def _block_piece(buf_map: mmap.mmap, piece: _Piece) -> _Found | None:
    gtype = piece.gtype
    assert gtype is not None
    step = max(1, CHUNK_BYTES // 4)
    scratch = {enc: np.empty(min(step, piece.count), dtype=b.view) for enc, b in _SCALE_BITS.items()}
    found: _Found | None = None
    for lo in range(0, piece.count, step):
        n = min(step, piece.count - lo)
        # All fields of a chunk of blocks in turn, so the second field reads cache lines the first loaded.
        for scale in gtype.scales:
            hit = _check(
                _field_values(buf_map, piece, scale, lo, n), _SCALE_BITS[scale.encoding], scratch[scale.encoding]
            )
            if hit is not None:
                hit.first = (hit.first or 0) + lo + piece.first
                hit.fields = {scale.name: hit.nan + hit.inf}
                hit.first_field = scale.name
                found = found or _Found()
                found.add(hit)
    return found


def _release(buf_map: mmap.mmap, piece: _Piece, nbytes: int) -> None:
    # Drop the piece's pages from our mapping so resident memory stays bounded on a 100 GB model; the
    # kernel keeps them in the page cache, so nothing is re-read from disk.
    lo = piece.start - piece.start % PAGE
    hi = min(piece.start + nbytes, len(buf_map))
    hi -= hi % PAGE
    if hi > lo:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # advice only (absent on some OSes)
            buf_map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


def _pieces(index: int, t: TensorInfo, fmt: str) -> Iterator[_Piece] | None:
    """The scan pieces of one tensor; None when its type cannot hold NaN/Inf."""
    if fmt == "gguf":
        gtype = BY_NAME[t.dtype]
        if gtype.float_bits is not None:
            bits, unit, per_unit = gtype.float_bits, gtype.float_bits.itemsize, None
        elif gtype.scales:
            bits, unit, per_unit = None, gtype.type_size, gtype
        else:
            return None
    else:
        safe = DTYPES[t.dtype]
        if safe.float_bits is None:
            return None
        bits, unit, per_unit = safe.float_bits, safe.float_bits.itemsize, None
    total = t.nbytes // unit
    step = max(1, PIECE_BYTES // unit)
    return (
        _Piece(index, t.file, t.offset + lo * unit, min(step, total - lo), lo, bits=bits, gtype=per_unit)
        for lo in range(0, total, step)
    )


def _describe(t: TensorInfo, found: _Found, unit: int) -> str:
    label = f"{t.name} ({t.dtype} {reasons.shape(t.shape)})"
    first = found.first or 0
    if found.fields:
        gtype = BY_NAME[t.dtype]
        blocks = t.nbytes // gtype.type_size
        which = ", ".join(f"{name} of {count}" for name, count in found.fields.items())
        scale = next(s for s in gtype.scales if s.name == found.first_field)
        at = t.offset + first * gtype.type_size + scale.offset
        return (
            f"{label}: non-finite block scale ({which} of {blocks} blocks); first in block {first}, "
            f"{scale.name}=0x{found.raw or 0:04X} at byte {at}"
        )
    values = t.nbytes // unit  # C64 holds two F32 values per element
    where = f"index {first}"
    if len(t.shape) >= 2 and values == t.n_elements:
        where += " (" + ", ".join(str(int(i)) for i in np.unravel_index(first, t.shape)) + ")"
    return f"{label}: {found.nan} NaN and {found.inf} Inf among {values} values; first at {where}"


def _unit(piece: _Piece) -> int:
    return piece.bits.itemsize if piece.bits is not None else piece.gtype.type_size  # type: ignore[union-attr]


def _scan(pieces: list[_Piece]) -> tuple[dict[int, _Found], set[int]]:
    """Run the pieces on a thread pool over one read-only map per file: (findings, tensors left unscanned)."""
    found: dict[int, _Found] = {}
    maps: dict[str, mmap.mmap] = {}
    try:
        for path in {p.file for p in pieces}:
            with open(path, "rb") as handle:  # the map keeps its own reference to the file
                maps[path] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        # A file that shrank since its header was read would fault (SIGBUS) past its new end: leave those out.
        fits = [p for p in pieces if p.start + p.count * _unit(p) <= len(maps[p.file])]
        missed = {p.tensor for p in pieces} - {p.tensor for p in fits}

        def work(piece: _Piece) -> tuple[int, _Found | None]:
            buf_map = maps[piece.file]
            result = (_float_piece if piece.bits is not None else _block_piece)(buf_map, piece)
            _release(buf_map, piece, piece.count * _unit(piece))
            return piece.tensor, result

        pool = ThreadPoolExecutor(max_workers=WORKERS)
        try:
            for tensor, result in pool.map(work, [p for p in fits if p.tensor not in missed]):
                if result is not None:
                    found.setdefault(tensor, _Found()).add(result)
        finally:
            # Interrupted (a cancelled run), the queued pieces are dropped: only those being scanned are waited
            # for, before their maps are closed.
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        for buf_map in maps.values():
            with contextlib.suppress(BufferError):  # a view still alive after an error: the GC closes it
                buf_map.close()
    return found, missed


def check_finite(model: ModelFile) -> InvariantResult:
    started = time.perf_counter()
    sizes = {f.path: f.size for f in model.files}
    pieces: list[_Piece] = []
    skipped: list[str] = []
    no_float = 0
    for index, t in enumerate(model.tensors):
        if not scannable(t, sizes.get(t.file, 0)):
            skipped.append(t.name)
            continue
        parts = _pieces(index, t, model.format)
        if parts is None:
            no_float += 1
            continue
        pieces.extend(parts)
    found, missed = _scan(pieces) if pieces else ({}, set())
    skipped += [model.tensors[i].name for i in sorted(missed)]
    units = {p.tensor: _unit(p) for p in pieces}
    scanned_tensors = set(units) - missed
    seconds = time.perf_counter() - started
    scanned_bytes = sum(model.tensors[i].nbytes for i in scanned_tensors)
    metrics = {
        "tensors_scanned": float(len(scanned_tensors)),
        "tensors_without_float_encoding": float(no_float),
        "tensors_not_scannable": float(len(skipped)),
        "bytes_scanned": float(scanned_bytes),
        "nonfinite_tensors": float(len(found)),
        "nonfinite_values": float(sum(f.nan + f.inf for f in found.values())),
        "seconds": seconds,
        "gb_per_s": scanned_bytes / seconds / 1e9 if seconds > 0 else 0.0,
    }
    if found:
        described = [_describe(model.tensors[i], f, units[i]) for i, f in sorted(found.items())]
        reason = f"{reasons.plural(len(found), 'tensor')} with NaN/Inf: {reasons.join(described)}"
        return InvariantResult(invariant="I-4", outcome="fail", reason=reason, metrics=metrics)
    if skipped:
        reason = (
            f"{reasons.plural(len(skipped), 'tensor')} could not be scanned because their bytes are not where "
            f"the header says (see I-5): {reasons.join(skipped)}; the other {len(scanned_tensors)} are finite"
        )
        return InvariantResult(invariant="I-4", outcome="skip", reason=reason, metrics=metrics)
    if not model.tensors:
        return InvariantResult(invariant="I-4", outcome="skip", reason="the file holds no tensors", metrics=metrics)
    note = f"; {no_float} hold no encoding of NaN/Inf (integer types)" if no_float else ""
    reason = (
        f"no NaN/Inf in {len(scanned_tensors)} tensors ({reasons.size(scanned_bytes)}: float values by "
        f"exponent bits, quantized blocks by their scales){note}"
    )
    return InvariantResult(invariant="I-4", outcome="pass", reason=reason, metrics=metrics)
