"""G0 integrity of a model file before any engine touches it: it exists, is readable and its header parses.

A file that fails here is not handed to an engine: its cells are Skipped with the reason and G0 fails.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from aprqa_action.axes import Format

MAX_SAFETENSORS_HEADER = 100 * 2**20  # the safetensors library's own limit


def check(path: str | Path, fmt: Format) -> str | None:
    """None when the file is usable, else the reason it is not."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return f"{path.name}: empty file"
        with path.open("rb") as handle:
            head = handle.read(24)
            if fmt == Format.GGUF:
                return _gguf(path, head, size)
            if fmt == Format.SAFETENSORS:
                if path.name.endswith(".index.json"):
                    return _index(path)
                return _safetensors(path, handle, head, size)
    except OSError as exc:
        return f"{path.name}: cannot read: {exc.strerror or exc}"
    return None  # APR: its layout is not checked here


def _gguf(path: Path, head: bytes, size: int) -> str | None:
    if len(head) < 24 or head[:4] != b"GGUF":
        return f"{path.name}: not a GGUF file (magic {head[:4]!r}, expected b'GGUF')"
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if version not in (2, 3):
        return f"{path.name}: unsupported GGUF version {version} (2 or 3)"
    if tensors > size or kvs > size:
        return f"{path.name}: GGUF header claims {tensors} tensors and {kvs} metadata entries in {size} bytes"
    return None


def _safetensors(path: Path, handle, head: bytes, size: int) -> str | None:  # type: ignore[no-untyped-def]
    if len(head) < 8:
        return f"{path.name}: {size} bytes, too short for a SafeTensors header"
    (length,) = struct.unpack("<Q", head[:8])
    if length > MAX_SAFETENSORS_HEADER or 8 + length > size:
        return f"{path.name}: SafeTensors header length {length} exceeds the file ({size} bytes) or the limit"
    handle.seek(8)
    try:
        header = json.loads(handle.read(length))
    except ValueError as exc:
        return f"{path.name}: SafeTensors header is not JSON: {exc}"
    if not isinstance(header, dict):
        return f"{path.name}: SafeTensors header is not a JSON object"
    return None


def _index(path: Path) -> str | None:
    try:
        index = json.loads(path.read_text())
        shards = sorted(set(index["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"{path.name}: not a SafeTensors index (weight_map): {exc}"
    missing = [s for s in shards if not (path.parent / s).is_file()]
    if missing:
        return f"{path.name}: missing shard(s): {', '.join(missing)}"
    return None
