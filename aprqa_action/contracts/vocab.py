"""What a model says about its own text: its context window and the special tokens that must never appear in
an answer as text (the edge checks' F-EDGE-LEAK and over-long prompts).

GGUF: `<arch>.context_length`, and the vocabulary's control tokens (token_type 3); the two arrays are walked
here, since `gguf.GGUFReader` takes ~9 s on a 262k-token vocabulary. SafeTensors: `config.json`'s
`max_position_embeddings`, and the special tokens of `tokenizer.json` (`added_tokens` with `special: true`).
Unused placeholders (`<unused12>`, `[unused3]`) are left out: no model writes them, and a Gemma vocabulary has
six thousand.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGUFValueType

from aprqa_action.contracts.gguf_reader import Malformed, _Cursor, _header, _value

CONTROL = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
MAX_TOKENS = 256  # kept per model: the evidence records them
_UNUSED = re.compile(r"^[<\[]?unused[_-]?\d+[>\]]?$", re.IGNORECASE)


def model_text_facts(path: str | Path, fmt: str) -> tuple[int | None, list[str]]:
    """(context length, special tokens) of a model file; (None, []) when the file does not say or cannot be read
    (G0 reports an unreadable file; this only feeds the edge checks)."""
    try:
        return _gguf(Path(path)) if fmt == "gguf" else _safetensors(Path(path))
    except (OSError, ValueError, Malformed, struct.error, KeyError, TypeError):
        return None, []


def _keep(tokens: list[str]) -> list[str]:
    seen: list[str] = []
    for token in tokens:
        if token.strip() and not _UNUSED.match(token) and token not in seen:
            seen.append(token)
    return seen[:MAX_TOKENS]


def _gguf(path: Path) -> tuple[int | None, list[str]]:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf, len(buf))
        _, _, kv_count = _header(cur)
        metadata: dict[str, Any] = {}
        arrays: dict[str, int] = {}
        for index in range(kv_count):
            key = cur.text(f"metadata key #{index}", 65535)
            raw_type = cur.u32(f"value type of {key!r}")
            if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type"):
                arrays[key] = cur.pos
            metadata[key] = _value(cur, raw_type, key)
        arch = metadata.get("general.architecture")
        context = metadata.get(f"{arch}.context_length")
        if "tokenizer.ggml.tokens" not in arrays or "tokenizer.ggml.token_type" not in arrays:
            return _int(context), []
        types = _int_array(buf, arrays["tokenizer.ggml.token_type"])
        wanted = {int(i) for i in np.flatnonzero(types == CONTROL)}
        tokens = _strings(buf, arrays["tokenizer.ggml.tokens"], wanted)
        return _int(context), _keep([t for _, t in sorted(tokens.items())])


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _int_array(buf: mmap.mmap, at: int) -> np.ndarray:
    item_type, count = struct.unpack_from("<IQ", buf, at)
    if item_type not in (GGUFValueType.INT32, GGUFValueType.UINT32):
        raise ValueError("token_type is not an array of 32-bit integers")
    return np.frombuffer(buf, dtype="<i4", count=count, offset=at + 12).copy()  # the map closes after


def _strings(buf: mmap.mmap, at: int, wanted: set[int]) -> dict[int, str]:
    """The strings at indices `wanted` of the string array at `at` (already bounds-checked by the reader)."""
    item_type, count = struct.unpack_from("<IQ", buf, at)
    if item_type != GGUFValueType.STRING:
        raise ValueError("tokens is not an array of strings")
    unpack = struct.Struct("<Q").unpack_from
    pos, found = at + 12, {}
    last = max(wanted, default=-1)
    for index in range(min(count, last + 1)):
        (length,) = unpack(buf, pos)
        if index in wanted:
            found[index] = bytes(buf[pos + 8 : pos + 8 + length]).decode("utf-8", errors="replace")
        pos += 8 + length
    return found


def _safetensors(path: Path) -> tuple[int | None, list[str]]:
    directory = path if path.is_dir() else path.parent
    context = None
    config = directory / "config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        context = _int(data.get("max_position_embeddings")) if isinstance(data, dict) else None
    tokens: list[str] = []
    tokenizer = directory / "tokenizer.json"
    if tokenizer.is_file():
        data = json.loads(tokenizer.read_text(encoding="utf-8"))
        added = data.get("added_tokens") if isinstance(data, dict) else None
        tokens = [t["content"] for t in added or [] if isinstance(t, dict) and t.get("special") and "content" in t]
        tokens = [t for t in tokens if isinstance(t, str)]
    return context, _keep(tokens)
