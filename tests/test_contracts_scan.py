"""I-4's scan: exact counts and positions across chunk and piece boundaries, integers, empty tensors."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from contracts_fixtures import private_cache_fixture  # noqa: F401 - pytest fixtures, registered by import
from safetensors.numpy import save_file

from aprqa_action.contracts import check_invariants, read_model
from aprqa_action.contracts import scan as scan_module


def _write(path: Path, tensors: Mapping[str, np.ndarray]) -> Path:
    save_file(dict(tensors), str(path))
    return path


def _poison(values: np.ndarray) -> np.ndarray:
    """F16 [40, 64] with NaN at 31, 32 and 2559, +Inf at 1000, -Inf at 1500."""
    bits = values.view(np.uint16).reshape(-1)
    bits[[31, 32, 2559]] = 0x7E00
    bits[1000] = 0x7C00
    bits[1500] = 0xFC00
    return values


@pytest.mark.parametrize(("chunk", "piece"), [(64, 256), (scan_module.CHUNK_BYTES, scan_module.PIECE_BYTES)])
def test_counts_and_first_position_across_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, piece: int
) -> None:
    # 64-byte chunks and 256-byte pieces put the NaNs at 31/32 on a chunk edge and spread the tensor over
    # 20 pieces, so per-chunk and per-piece results must be merged correctly.
    monkeypatch.setattr(scan_module, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(scan_module, "PIECE_BYTES", piece)
    values = _poison(np.ones((40, 64), np.float16))
    path = _write(tmp_path / "m.safetensors", {"a": np.zeros(3, np.float32), "w": values})
    (result,) = check_invariants(path, ["I-4"], [])
    assert result.outcome == "fail"
    assert result.reason == (
        "1 tensor with NaN/Inf: w (F16 [40, 64]): 3 NaN and 2 Inf among 2560 values; first at index 31 (0, 31)"
    )
    assert result.metrics["nonfinite_values"] == 5
    assert result.metrics["tensors_scanned"] == 2


def test_integers_and_empty_tensors_pass(tmp_path: Path) -> None:
    tensors: dict[str, np.ndarray] = {
        "ids": np.full(8, -1, np.int64),  # all-ones bits: a NaN pattern if mistaken for a float
        "mask": np.full(8, 0xFF, np.uint8),
        "empty": np.zeros((0, 4), np.float16),
        "w": np.ones((2, 2), np.float32),
    }
    path = _write(tmp_path / "m.safetensors", tensors)
    results = check_invariants(path, ["I-4", "I-5"], [])
    assert [r.outcome for r in results] == ["pass", "pass"], results
    assert results[0].metrics["tensors_without_float_encoding"] == 2
    assert "2 hold no encoding of NaN/Inf (integer types)" in results[0].reason


def test_nan_in_a_large_f32_tensor_is_located(tmp_path: Path) -> None:
    values = np.zeros((1024, 1024), np.float32)  # 4 MB: several chunks
    values.view(np.uint32)[700, 3] = 0xFFC00000
    path = _write(tmp_path / "m.safetensors", {"big": values})
    (result,) = check_invariants(path, ["I-4"], [])
    assert "big (F32 [1024, 1024]): 1 NaN and 0 Inf among 1048576 values; first at index 716803 (700, 3)" in (
        result.reason
    )


def test_scan_does_not_load_the_file(tmp_path: Path) -> None:
    # 64 MB of F16: the scan's own allocations stay at one chunk buffer per thread, whatever the file size.
    import tracemalloc

    path = _write(tmp_path / "m.safetensors", {"w": np.ones((4096, 8192), np.float16)})
    model = read_model(path)
    tracemalloc.start()
    (result,) = check_invariants(path, ["I-4"], [])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.outcome == "pass"
    assert model.total_size > 64 * 2**20  # type: ignore[union-attr]
    assert peak < 8 * 2**20, peak


def test_patched_bytes_are_seen_through_the_map(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.safetensors", {"w": np.ones(16, np.float16)})
    model = read_model(path)
    offset = model.tensors[0].offset  # type: ignore[union-attr]
    with open(path, "r+b") as handle:
        handle.seek(offset + 2 * 15)
        handle.write(struct.pack("<H", 0x7C00))
    (result,) = check_invariants(path, ["I-4"], [])
    assert result.reason.endswith("0 NaN and 1 Inf among 16 values; first at index 15")
