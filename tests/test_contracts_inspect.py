"""`inspect` / `inspect_text`: the tensor table and invariant results a person reads for one file."""

from __future__ import annotations

import json
from pathlib import Path

from contracts_fixtures import (
    SMOLLM2,
    private_cache_fixture,  # noqa: F401 - pytest fixtures, registered by import
    raw_safetensors,
)

from aprqa_action.contracts import inspect, inspect_text


def test_table_rows_are_exact(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "F16", "shape": [3], "data_offsets": [16, 22]},
    }
    path = raw_safetensors(tmp_path / "m.safetensors", header, bytes(22))
    start = 8 + len(json.dumps(header))
    text = inspect_text(path, quantizations=["f32"])
    lines = text.splitlines()
    assert lines[0] == str(path)
    table = lines.index("Tensors (2)")
    assert lines[table + 1].split() == ["name", "type", "shape", "(row-major)", "offset", "bytes"]
    assert lines[table + 2].split() == ["a", "F32", "[2,", "2]", str(start), "16"]
    assert lines[table + 3].split() == ["b", "F16", "[3]", str(start + 16), "6"]
    assert "  I-2   SKIP  nothing to compare shapes with: no config.json beside the file" in text
    assert "  I-5   PASS  2 tensors, 22 B of data" in text


def test_real_model_and_truncated_table() -> None:
    result = inspect(SMOLLM2, quantizations=["q4_1"])
    assert len(result.tensors) == 272 and result.format == "gguf" and result.failure is None
    assert [r.outcome for r in result.results] == ["pass"] * 4
    text = inspect_text(SMOLLM2, quantizations=["q4_1"], max_tensors=3)
    row = next(line for line in text.splitlines() if line.startswith("  token_embd.weight"))
    assert row.split() == ["token_embd.weight", "Q8_0", "[49152,", "576]", "1785664", "30081024"]
    assert "  …269 more" in text
    assert "general.architecture = llama" in text and "tokenizer.ggml.tokens" not in text
    assert "quantization q4_1 (most parameters: Q4_1)" in text


def test_unreadable_file_renders_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + bytes(3))
    text = inspect_text(path)
    assert "unreadable: 7 bytes is too short for a GGUF header (24)" in text
    assert "  I-5   FAIL (unusable)  7 bytes is too short for a GGUF header (24)" in text
