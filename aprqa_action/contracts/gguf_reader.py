"""GGUF v2/v3 header reader: metadata and tensor infos, bounds-checked at every step, over a memory map.

`gguf.GGUFReader` is not used to parse: it walks every element of every metadata array in Python (18 s for
Gemma-3's 262k-token vocabulary here), and a hostile array length makes it loop without end. This reader
checks each length against the bytes that remain *before* reading, walks string arrays with one
`struct.unpack_from` per element and reads numeric arrays with a single numpy view, and turns every
malformation into a precise reason (byte offset, field, expected vs found). The ggml type table comes from
the `gguf` library (see ggml_types). Layout facts that do not stop parsing — offsets past EOF, overlaps,
misalignment, rows that are not whole blocks — are left for I-5 to judge from the tensor table.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGUF_DEFAULT_ALIGNMENT, GGUFValueType

from aprqa_action.contracts.ggml_types import TYPES
from aprqa_action.records.model_file import FileInfo, ModelFile, ReadFailure, TensorInfo

MAGIC = b"GGUF"
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NAME = 64  # the GGUF spec's limit on tensor names (llama.cpp: GGML_MAX_NAME)
MAX_KEY = 65535  # the GGUF spec's limit on metadata keys
KEEP_ARRAY = 16  # string arrays up to this length are kept in `metadata`; longer ones are summarised
KEEP_NUMBERS = 1024  # numeric arrays (per-layer hyperparameters) up to this length are kept
KEEP_STRING = 1 << 20  # string values longer than this are summarised, not copied
INT64_MAX = 2**63 - 1

_SCALARS: dict[int, tuple[str, int]] = {
    GGUFValueType.UINT8: ("<B", 1),
    GGUFValueType.INT8: ("<b", 1),
    GGUFValueType.UINT16: ("<H", 2),
    GGUFValueType.INT16: ("<h", 2),
    GGUFValueType.UINT32: ("<I", 4),
    GGUFValueType.INT32: ("<i", 4),
    GGUFValueType.FLOAT32: ("<f", 4),
    GGUFValueType.BOOL: ("<?", 1),
    GGUFValueType.UINT64: ("<Q", 8),
    GGUFValueType.INT64: ("<q", 8),
    GGUFValueType.FLOAT64: ("<d", 8),
}
_NUMPY: dict[int, str] = {
    GGUFValueType.UINT8: "<u1",
    GGUFValueType.INT8: "<i1",
    GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2",
    GGUFValueType.UINT32: "<u4",
    GGUFValueType.INT32: "<i4",
    GGUFValueType.FLOAT32: "<f4",
    GGUFValueType.BOOL: "<u1",
    GGUFValueType.UINT64: "<u8",
    GGUFValueType.INT64: "<i8",
    GGUFValueType.FLOAT64: "<f8",
}


class Malformed(Exception):
    """The header cannot be parsed; the message is the reason."""


def _type_name(raw: int) -> str:
    try:
        return GGUFValueType(raw).name
    except ValueError:
        return f"type {raw}"


class _Cursor:
    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, n: int, what: str) -> int:
        if n > self.size - self.pos:
            raise Malformed(
                f"{what} at byte {self.pos} needs {n} bytes but the file ends {self.size - self.pos} bytes later"
            )
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, n: int, what: str) -> Any:
        return struct.unpack_from(fmt, self.buf, self.take(n, what))[0]

    def u32(self, what: str) -> int:
        return int(self.unpack("<I", 4, what))

    def u64(self, what: str) -> int:
        return int(self.unpack("<Q", 8, what))

    def raw_string(self, what: str, limit: int | None = None) -> tuple[int, int]:
        """(start, length) of a length-prefixed string, without copying it."""
        at = self.pos
        length = self.u64(f"{what} length")
        if limit is not None and length > limit:
            raise Malformed(f"{what} at byte {at} is {length} bytes long; the GGUF limit is {limit}")
        return self.take(length, what), length

    def text(self, what: str, limit: int | None = None) -> str:
        start, length = self.raw_string(what, limit)
        try:
            return bytes(self.buf[start : start + length]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed(f"{what} at byte {start} is not valid UTF-8 ({exc.reason})") from None


def _value(cur: _Cursor, raw_type: int, key: str) -> Any:
    if raw_type in _SCALARS:
        fmt, size = _SCALARS[raw_type]
        return cur.unpack(fmt, size, f"value of {key!r}")
    if raw_type == GGUFValueType.STRING:
        start, length = cur.raw_string(f"value of {key!r}")
        if length > KEEP_STRING:
            return {"string_bytes": length}
        return bytes(cur.buf[start : start + length]).decode("utf-8", errors="replace")
    if raw_type == GGUFValueType.ARRAY:
        return _array(cur, key)
    raise Malformed(f"metadata {key!r} has unknown value type {raw_type} (GGUF defines 0..12)")


def _array(cur: _Cursor, key: str) -> Any:
    at = cur.pos
    item_type = cur.u32(f"array type of {key!r}")
    count = cur.u64(f"array length of {key!r}")
    remaining = cur.size - cur.pos
    if item_type in _NUMPY:
        itemsize = _SCALARS[item_type][1]
        if count > remaining // itemsize:
            raise Malformed(
                f"metadata {key!r} at byte {at}: array of {count} {_type_name(item_type)} needs "
                f"{count * itemsize} bytes, only {remaining} remain"
            )
        start = cur.take(count * itemsize, f"array {key!r}")
        if count > KEEP_NUMBERS:
            return {"array": _type_name(item_type), "length": count}
        values = np.frombuffer(cur.buf, dtype=_NUMPY[item_type], count=count, offset=start)
        return [bool(v) for v in values] if item_type == GGUFValueType.BOOL else values.tolist()
    if item_type == GGUFValueType.STRING:
        if count > remaining // 8:  # every string has at least its 8-byte length
            raise Malformed(
                f"metadata {key!r} at byte {at}: array of {count} strings cannot fit in the {remaining} "
                "bytes that remain"
            )
        return _string_array(cur, key, count)
    if item_type == GGUFValueType.ARRAY:
        raise Malformed(f"metadata {key!r} at byte {at} is an array of arrays, which llama.cpp does not support")
    raise Malformed(f"metadata {key!r} at byte {at}: array of unknown value type {item_type}")


def _string_array(cur: _Cursor, key: str, count: int) -> Any:
    # The hot loop of the reader (a 262k-token vocabulary): locals, one unpack and one comparison per item.
    buf, size, pos = cur.buf, cur.size, cur.pos
    unpack = struct.Struct("<Q").unpack_from
    kept: list[str] = []
    for index in range(count):
        if pos + 8 > size:
            raise Malformed(f"metadata {key!r}: string {index} of {count} starts past the end of the file")
        (length,) = unpack(buf, pos)
        pos += 8
        if length > size - pos:
            raise Malformed(
                f"metadata {key!r}: string {index} of {count} at byte {pos - 8} claims {length} bytes, "
                f"only {size - pos} remain"
            )
        if index < KEEP_ARRAY and count <= KEEP_ARRAY:
            kept.append(bytes(buf[pos : pos + length]).decode("utf-8", errors="replace"))
        pos += length
    cur.pos = pos
    if count > KEEP_ARRAY:
        return {"array": "STRING", "length": count}
    return kept


def _header(cur: _Cursor) -> tuple[int, int, int]:
    magic = bytes(cur.buf[0:4]) if cur.size >= 4 else bytes(cur.buf[: cur.size])
    if magic != MAGIC:
        raise Malformed(f"not a GGUF file: magic {magic!r}, expected {MAGIC!r}")
    cur.take(4, "magic")
    version = cur.u32("version")
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if version & 0xFFFF == 0 and swapped in (2, 3):
        raise Malformed(f"big-endian GGUF (version {swapped} byte-swapped) is not supported")
    if version not in (2, 3):
        raise Malformed(f"unsupported GGUF version {version} (2 and 3 are supported)")
    tensor_count = cur.u64("tensor count")
    kv_count = cur.u64("metadata count")
    remaining = cur.size - cur.pos
    # Smallest encodings: a key/value is 8 (key length) + 4 (type) + 1 (u8 value); a tensor info is
    # 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
    if kv_count > remaining // 13:
        raise Malformed(f"header claims {kv_count} metadata entries; {remaining} bytes cannot hold them")
    if tensor_count > remaining // 24:
        raise Malformed(f"header claims {tensor_count} tensors; {remaining} bytes cannot hold their infos")
    return version, tensor_count, kv_count


def _metadata(cur: _Cursor, kv_count: int) -> tuple[dict[str, Any], dict[str, int]]:
    metadata: dict[str, Any] = {}
    types: dict[str, int] = {}
    for index in range(kv_count):
        key = cur.text(f"metadata key #{index}", MAX_KEY)
        if key in metadata:
            raise Malformed(f"metadata key {key!r} appears twice")
        raw_type = cur.u32(f"value type of {key!r}")
        metadata[key] = _value(cur, raw_type, key)
        types[key] = raw_type
    return metadata, types


def _alignment(metadata: dict[str, Any], types: dict[str, int]) -> int:
    if "general.alignment" not in metadata:
        return GGUF_DEFAULT_ALIGNMENT
    if types["general.alignment"] != GGUFValueType.UINT32:
        raise Malformed(f"general.alignment must be UINT32, found {_type_name(types['general.alignment'])}")
    alignment = int(metadata["general.alignment"])
    if alignment == 0 or alignment & (alignment - 1):
        raise Malformed(f"general.alignment {alignment} is not a power of two")
    return alignment


def _tensor_infos(cur: _Cursor, count: int) -> list[tuple[str, list[int], int, int]]:
    infos: list[tuple[str, list[int], int, int]] = []
    seen: set[str] = set()
    for index in range(count):
        name = cur.text(f"name of tensor #{index}", MAX_NAME)
        if name in seen:
            raise Malformed(f"tensor {name!r} is declared twice")
        seen.add(name)
        n_dims = cur.u32(f"n_dims of {name!r}")
        if n_dims > MAX_DIMS:
            raise Malformed(f"tensor {name!r} has {n_dims} dimensions; ggml supports at most {MAX_DIMS}")
        ne = [cur.u64(f"dimension {d} of {name!r}") for d in range(n_dims)]
        elements = 1
        for dim in ne:
            elements *= dim
        if any(d > INT64_MAX for d in ne) or elements > INT64_MAX:
            raise Malformed(f"tensor {name!r} has dimensions {ne} whose element count overflows int64")
        raw_type = cur.u32(f"type of {name!r}")
        if raw_type not in TYPES:
            raise Malformed(f"tensor {name!r} has unknown ggml type {raw_type}")
        offset = cur.u64(f"data offset of {name!r}")
        infos.append((name, ne, raw_type, offset))
    return infos


def parse(buf: mmap.mmap, size: int, path: str) -> ModelFile:
    cur = _Cursor(buf, size)
    version, tensor_count, kv_count = _header(cur)
    metadata, types = _metadata(cur, kv_count)
    alignment = _alignment(metadata, types)
    infos = _tensor_infos(cur, tensor_count)
    data_start = -(-cur.pos // alignment) * alignment
    tensors: list[TensorInfo] = []
    for name, ne, raw_type, rel in infos:
        gtype = TYPES[raw_type]
        elements = 1
        for dim in ne:
            elements *= dim
        # ggml stores whole blocks per row: a row (ne[0]) that is not a multiple of the block size has no
        # defined size, and the rounded-up size still bounds the bytes it could occupy.
        expected = gtype.nbytes(elements) if not ne or ne[0] % gtype.block_size == 0 else None
        nbytes = expected if expected is not None else -(-elements // gtype.block_size) * gtype.type_size
        tensors.append(
            TensorInfo(
                name=name,
                dtype=gtype.name,
                shape=tuple(reversed(ne)),
                offset=data_start + rel,
                nbytes=nbytes,
                expected_nbytes=expected,
                file=path,
            )
        )
    return ModelFile(
        format="gguf",
        path=path,
        files=[FileInfo(path=path, size=size, role="model", data_start=data_start)],
        tensors=tensors,
        metadata=metadata,
        gguf_version=version,
        alignment=alignment,
    )


def read_gguf(path: str | Path) -> ModelFile | ReadFailure:
    name = str(path)
    try:
        size = os.stat(path).st_size
        if size < 24:
            return ReadFailure(path=name, format="gguf", reason=f"{size} bytes is too short for a GGUF header (24)")
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return parse(buf, size, name)
    except Malformed as exc:
        return ReadFailure(path=name, format="gguf", reason=f"GGUF header: {exc}")
    except OSError as exc:
        return ReadFailure(path=name, format="gguf", reason=f"cannot read: {exc.strerror or exc}")
