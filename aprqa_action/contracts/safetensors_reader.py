"""SafeTensors reader: one file, or a sharded set named by `model.safetensors.index.json`.

The header is an 8-byte little-endian length and that many bytes of JSON. We parse it ourselves — after
bounding the length by the file size and by the library's 100 MB limit, so a length of 2^63 is a reason,
not an allocation — because the `safetensors` library stops at the first layout problem with a terse
message ("invalid offset for tensor `b`"), while I-5 must name the overlapping tensors, the missing bytes
or the size mismatch. The library is still consulted on every file whose header parses: its verdict and its
dtype/shape for each tensor are compared with ours, and any disagreement becomes an I-5 finding.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from safetensors import safe_open

from aprqa_action.contracts import floats
from aprqa_action.contracts.floats import FloatBits
from aprqa_action.records.model_file import FileInfo, ModelFile, ReadFailure, TensorInfo

MAX_HEADER = 100_000_000  # the safetensors library's own limit on the JSON header
MAX_JSON_FILE = 100_000_000  # index.json / config.json are small; a larger one is not read
METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class SafeDType:
    name: str
    bits: int
    float_bits: FloatBits | None = None  # None: the encoding has no NaN/Inf (integers, FP4/FP6)


DTYPES: dict[str, SafeDType] = {
    d.name: d
    for d in (
        SafeDType("BOOL", 8),
        SafeDType("U8", 8),
        SafeDType("I8", 8),
        SafeDType("U16", 16),
        SafeDType("I16", 16),
        SafeDType("U32", 32),
        SafeDType("I32", 32),
        SafeDType("U64", 64),
        SafeDType("I64", 64),
        SafeDType("F4", 4),  # OCP MX E2M1, E2M3, E3M2: no NaN/Inf encodings
        SafeDType("F6_E2M3", 6),
        SafeDType("F6_E3M2", 6),
        SafeDType("F8_E5M2", 8, floats.F8_E5M2),
        SafeDType("F8_E4M3", 8, floats.F8_E4M3),
        SafeDType("F8_E8M0", 8, floats.E8M0),
        SafeDType("F8_E4M3FNUZ", 8, floats.F8_FNUZ),
        SafeDType("F8_E5M2FNUZ", 8, floats.F8_FNUZ),
        SafeDType("F16", 16, floats.F16),
        SafeDType("BF16", 16, floats.BF16),
        SafeDType("F32", 32, floats.F32),
        SafeDType("F64", 64, floats.F64),
        SafeDType("C64", 64, floats.F32),  # complex64: two F32 per element, scanned as F32
    )
}


class Malformed(Exception):
    """The header cannot be parsed; the message is the reason."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Malformed(f"key {key!r} appears twice in the JSON header")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise Malformed(f"the JSON header contains {name}, which JSON does not allow")


def _load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise Malformed(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Malformed(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Malformed(f"{what} nests JSON too deeply") from None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(name: str, entry: Any) -> tuple[SafeDType, tuple[int, ...], int, int]:
    if not isinstance(entry, dict):
        raise Malformed(f"tensor {name!r}: entry is {type(entry).__name__}, expected an object")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
    if missing:
        raise Malformed(f"tensor {name!r}: missing {', '.join(missing)}")
    dtype = DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    if dtype is None:
        raise Malformed(f"tensor {name!r}: unknown dtype {entry['dtype']!r} (known: {', '.join(DTYPES)})")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise Malformed(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
    offsets = entry["data_offsets"]
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise Malformed(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end] in bytes")
    return dtype, tuple(shape), offsets[0], offsets[1]


def _header(handle: Any, size: int, name: str) -> tuple[int, dict[str, Any]]:
    if size < 8:
        raise Malformed(f"{size} bytes is too short for a SafeTensors header (8-byte length prefix)")
    (length,) = struct.unpack("<Q", os.pread(handle.fileno(), 8, 0))
    # Bound the claimed length before reading it: 2**63 must become a reason, not an allocation.
    if length > size - 8:
        raise Malformed(
            f"header length {length} exceeds the file: only {size - 8} bytes follow the 8-byte length prefix"
        )
    if length > MAX_HEADER:
        raise Malformed(f"header length {length} exceeds the safetensors limit of {MAX_HEADER} bytes")
    header = _load_json(os.pread(handle.fileno(), length, 8), "the JSON header")
    if not isinstance(header, dict):
        raise Malformed(f"the JSON header is {type(header).__name__}, expected an object")
    return length, header


def read_file(path: Path, role: Literal["model", "shard"] = "model") -> ModelFile:
    """One .safetensors file; raises Malformed with the reason when its header cannot be parsed."""
    name = str(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        length, header = _header(handle, size, name)
    metadata = header.pop(METADATA_KEY, None)
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise Malformed(f"{METADATA_KEY} must map strings to strings, found {json.dumps(metadata)[:200]}")
    data_start = 8 + length
    tensors: list[TensorInfo] = []
    issues: list[str] = []
    for tensor_name, entry in header.items():
        dtype, shape, begin, end = _entry(tensor_name, entry)
        elements = 1
        for dim in shape:
            elements *= dim
        expected = elements * dtype.bits // 8 if elements * dtype.bits % 8 == 0 else None
        if expected is None:
            issues.append(f"{tensor_name}: {elements} {dtype.name} values are not a whole number of bytes")
        if end < begin:
            issues.append(f"{tensor_name}: data_offsets [{begin}, {end}] end before they begin")
        tensors.append(
            TensorInfo(
                name=tensor_name,
                dtype=dtype.name,
                shape=shape,
                offset=data_start + begin,
                nbytes=end - begin,
                expected_nbytes=expected,
                file=name,
            )
        )
    return ModelFile(
        format="safetensors",
        path=name,
        files=[FileInfo(path=name, size=size, role=role, data_start=data_start)],
        tensors=tensors,
        metadata=dict(metadata or {}),
        read_issues=issues,
        library_error=_library_opinion(path, tensors),
    )


def _library_opinion(path: Path, tensors: list[TensorInfo]) -> str | None:
    """What the `safetensors` library says about the file: None when it agrees with our reading."""
    try:
        with safe_open(str(path), framework="numpy") as lib:
            keys = set(lib.keys())
            ours = {t.name: t for t in tensors}
            if keys != set(ours):
                return f"the safetensors library lists tensors {sorted(keys ^ set(ours))[:5]} differently"
            for key in sorted(keys):
                view = lib.get_slice(key)
                shape, dtype = tuple(view.get_shape()), view.get_dtype()
                if shape != ours[key].shape or dtype != ours[key].dtype:
                    return f"the safetensors library reads {key} as {dtype} {list(shape)}"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # its verdict is data here; a Rust panic arrives as a BaseException (pyo3)
        return f"the safetensors library refuses the file: {exc}"
    return None


def _config(directory: Path) -> tuple[dict[str, Any] | None, str | None, str | None]:
    path = directory / "config.json"
    if not path.is_file():
        return None, None, None
    try:
        if path.stat().st_size > MAX_JSON_FILE:
            return None, str(path), f"{path.name} is larger than {MAX_JSON_FILE} bytes"
        data = _load_json(path.read_bytes(), path.name)
    except (OSError, Malformed) as exc:
        return None, str(path), str(exc)
    if not isinstance(data, dict):
        return None, str(path), f"{path.name} is {type(data).__name__}, expected an object"
    return data, str(path), None


def _read_index(path: Path) -> ModelFile:
    if path.stat().st_size > MAX_JSON_FILE:
        raise Malformed(f"index file is larger than {MAX_JSON_FILE} bytes")
    index = _load_json(path.read_bytes(), "the index file")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise Malformed("the index has no weight_map object mapping tensor names to shard file names")
    shards: dict[str, list[str]] = {}
    for tensor, shard in weight_map.items():
        shards.setdefault(shard, []).append(tensor)
    for shard in shards:
        pure = PurePosixPath(shard)
        if pure.is_absolute() or ".." in pure.parts or not shard:
            raise Malformed(f"weight_map names shard {shard!r}, which is not a file beside the index")
    missing = [s for s in sorted(shards) if not (path.parent / s).is_file()]
    if missing:
        details = "; ".join(f"{s} (for {len(shards[s])} tensors, e.g. {shards[s][0]!r})" for s in missing)
        raise Malformed(f"weight_map names missing shard file(s): {details}")
    files = [FileInfo(path=str(path), size=path.stat().st_size, role="index")]
    tensors: list[TensorInfo] = []
    issues: list[str] = []
    library_errors: list[str] = []
    holder: dict[str, str] = {}
    for shard in sorted(shards):
        try:
            part = read_file(path.parent / shard, role="shard")
        except Malformed as exc:
            raise Malformed(f"shard {shard}: {exc}") from None
        files.extend(part.files)
        issues.extend(f"{shard}: {issue}" for issue in part.read_issues)
        if part.library_error:
            library_errors.append(f"{shard}: {part.library_error}")
        for tensor in part.tensors:
            if tensor.name in holder:
                issues.append(f"{tensor.name} is stored twice: in {holder[tensor.name]} and {shard}")
                continue
            holder[tensor.name] = shard
            tensors.append(tensor)
            if weight_map.get(tensor.name) != shard:
                where = weight_map.get(tensor.name)
                said = f"maps it to {where}" if where else "does not list it"
                issues.append(f"{shard} holds {tensor.name}, but the index {said}")
    for tensor, shard in weight_map.items():
        if tensor not in holder:
            issues.append(f"the index maps {tensor} to {shard}, which holds no such tensor")
    metadata = index.get("metadata") if isinstance(index.get("metadata"), dict) else {}
    return ModelFile(
        format="safetensors",
        path=str(path),
        files=files,
        tensors=tensors,
        metadata=metadata,
        read_issues=issues,
        library_error="; ".join(library_errors) or None,
    )


def read_safetensors(path: str | Path) -> ModelFile | ReadFailure:
    path = Path(path)
    try:
        model = _read_index(path) if path.name.endswith(".json") else read_file(path)
        config, config_path, config_error = _config(path.parent)
        return model.model_copy(update={"config": config, "config_path": config_path, "config_error": config_error})
    except Malformed as exc:
        what = "SafeTensors index" if path.name.endswith(".json") else "SafeTensors header"
        return ReadFailure(path=str(path), format="safetensors", reason=f"{what}: {exc}")
    except OSError as exc:
        return ReadFailure(path=str(path), format="safetensors", reason=f"cannot read: {exc.strerror or exc}")
