"""The ggml type table and its block layouts, checked against the `gguf` library as an oracle.

For every block type gguf-py can dequantize: blocks of random bytes whose scale fields (as our table places
them) are set finite must dequantize to finite values — so no float hides anywhere else in the block — and a
NaN planted in any one scale field must both dequantize to a non-finite value and fail I-4 naming that block.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from contracts_fixtures import (  # noqa: F401 - pytest fixtures, registered by import
    gguf_file,
    gguf_tensor_info,
    private_cache_fixture,
)
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

from aprqa_action.contracts import check_invariants
from aprqa_action.contracts.ggml_types import BY_NAME, TYPES, GGMLType, ScaleField, unscannable

NO_DEQUANTIZER = {"Q8_1", "Q8_K", "Q1_0"}  # gguf-py cannot dequantize these: hand-built blocks below
BLOCK_TYPES = [t for t in TYPES.values() if t.scales and t.name not in NO_DEQUANTIZER]
ONE = {"f16": 0x3C00, "f32": 0x3F80_0000, "e8m0": 127, "iq1m": 0x3C00}
NAN = {"f16": 0x7E00, "f32": 0x7FC0_0000, "e8m0": 0xFF, "iq1m": 0x7E00}


def test_sizes_agree_with_gguf_py_except_q8_1() -> None:
    differ = {
        t.name: ((t.block_size, t.type_size), GGML_QUANT_SIZES[GGMLQuantizationType(t.id)])
        for t in TYPES.values()
        if (t.block_size, t.type_size) != GGML_QUANT_SIZES[GGMLQuantizationType(t.id)]
    }
    # ggml's block_q8_1 is {half d; half s; int8 qs[32]} = 36 bytes; gguf-py still lists float d, s (40).
    assert differ == {"Q8_1": ((32, 36), (32, 40))}
    assert unscannable() == []  # every type has a NaN/Inf rule (float bits, block scales, or none possible)


def test_requested_layouts() -> None:
    # The layouts the issue names, byte for byte.
    assert (BY_NAME["Q4_0"].type_size, BY_NAME["Q4_1"].type_size, BY_NAME["Q8_0"].type_size) == (18, 20, 34)
    assert (BY_NAME["Q5_0"].type_size, BY_NAME["Q4_K"].type_size, BY_NAME["Q5_K"].type_size) == (22, 144, 176)
    assert BY_NAME["Q6_K"].type_size == 210 and BY_NAME["Q6_K"].scales == (ScaleField("d", 208, "f16"),)
    assert [s.name for s in BY_NAME["Q4_K"].scales] == ["d", "dmin"]
    assert [s.name for s in BY_NAME["Q4_1"].scales] == ["d", "m"]
    assert BY_NAME["Q8_K"].scales == (ScaleField("d", 0, "f32"),)


def _set(blocks: np.ndarray, field: ScaleField, value: int, rows: slice | int = slice(None)) -> None:
    at = field.offset
    if field.encoding == "f16":
        blocks[rows, at : at + 2] = np.frombuffer(np.uint16(value).tobytes(), np.uint8)
    elif field.encoding == "f32":
        blocks[rows, at : at + 4] = np.frombuffer(np.uint32(value).tobytes(), np.uint8)
    elif field.encoding == "e8m0":
        blocks[rows, at] = value
    else:  # IQ1_M: nibble i of the fp16 value is the top nibble of the block's uint16 scale i
        for i in range(4):
            nibble = (value >> (4 * i)) & 0xF
            high = at + 2 * i + 1  # the little-endian high byte
            blocks[rows, high] = (blocks[rows, high] & 0x0F) | (nibble << 4)


def _blocks(gtype: GGMLType, count: int = 8) -> np.ndarray:
    blocks = np.random.default_rng(gtype.id).integers(0, 256, size=(count, gtype.type_size), dtype=np.uint8)
    for field in gtype.scales:
        _set(blocks, field, ONE[field.encoding])
    return blocks


def _gguf(path: Path, gtype: GGMLType, blocks: np.ndarray) -> Path:
    writer = GGUFWriter(str(path), "llama")
    writer.add_tensor("w", blocks.reshape(1, -1), raw_dtype=GGMLQuantizationType(gtype.id))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _dequantize(gtype: GGMLType, blocks: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN × x is the point of the exercise
        return dequantize(blocks.reshape(1, -1), GGMLQuantizationType(gtype.id)).reshape(len(blocks), -1)


@pytest.mark.parametrize("gtype", BLOCK_TYPES, ids=lambda t: t.name)
def test_finite_scales_mean_finite_values(tmp_path: Path, gtype: GGMLType) -> None:
    blocks = _blocks(gtype)
    assert np.isfinite(_dequantize(gtype, blocks)).all()
    assert check_invariants(_gguf(tmp_path / "m.gguf", gtype, blocks), ["I-4", "I-5"], [])[0].outcome == "pass"


@pytest.mark.parametrize(
    ("gtype", "field"), [(t, f) for t in BLOCK_TYPES for f in t.scales], ids=lambda x: getattr(x, "name", "")
)
def test_a_nan_scale_is_found_in_its_block(tmp_path: Path, gtype: GGMLType, field: ScaleField) -> None:
    blocks = _blocks(gtype)
    _set(blocks, field, NAN[field.encoding], rows=5)
    values = _dequantize(gtype, blocks)
    if field.encoding != "e8m0":  # gguf-py decodes E8M0 0xFF as 2^127, not NaN (the OCP MX spec's NaN)
        assert not np.isfinite(values[5]).all()
        assert np.isfinite(np.delete(values, 5, axis=0)).all()
    (result,) = check_invariants(_gguf(tmp_path / "m.gguf", gtype, blocks), ["I-4"], [])
    assert result.outcome == "fail"
    assert f"({field.name} of 1 of 8 blocks); first in block 5, {field.name}=0x" in result.reason


# -- the types gguf-py cannot dequantize: blocks built by hand from ggml-common.h ---------------------------


def _hand_block(name: str, d: float, s: float, rng: np.random.Generator) -> bytes:
    """One block as ggml-common.h lays it out, written field by field (not from our scale table)."""
    qs = rng.integers(0, 256, size=256, dtype=np.uint8).tobytes()
    if name == "Q8_1":  # {ggml_half d; ggml_half s; int8_t qs[QK8_1 = 32];}: 36 bytes
        return struct.pack("<ee", d, s) + qs[:32]
    if name == "Q8_K":  # {float d; int8_t qs[QK_K = 256]; int16_t bsums[QK_K / 16];}: 292 bytes
        return struct.pack("<f", d) + qs + struct.pack("<16h", *range(-8, 8))
    assert name == "Q1_0"  # {ggml_half d; uint8_t qs[QK1_0 / 8 = 16];} with QK1_0 = 128: 18 bytes
    return struct.pack("<e", d) + qs[:16]


HAND_LAYOUT = {"Q8_1": (9, 32, 36), "Q8_K": (15, 256, 292), "Q1_0": (41, 128, 18)}  # ggml id, QK, bytes/block


def test_every_type_without_a_dequantizer_has_a_hand_built_block() -> None:
    assert set(HAND_LAYOUT) == NO_DEQUANTIZER
    assert {name: (BY_NAME[name].id, BY_NAME[name].block_size, BY_NAME[name].type_size) for name in HAND_LAYOUT} == (
        HAND_LAYOUT
    )


@pytest.mark.parametrize(
    ("name", "field"), [("Q8_1", "d"), ("Q8_1", "s"), ("Q8_K", "d"), ("Q1_0", "d")], ids=lambda x: x
)
def test_a_nan_scale_is_found_in_hand_built_blocks(tmp_path: Path, name: str, field: str) -> None:
    ggml_id, per_block, size = HAND_LAYOUT[name]

    def tensor_file(path: Path, nan_in: int | None, value: float = float("nan")) -> Path:
        rng = np.random.default_rng(ggml_id)
        blocks = []
        for i in range(8):
            bad = value if i == nan_in else 1.0
            blocks.append(_hand_block(name, bad if field == "d" else 0.5, bad if field == "s" else 0.5, rng))
        assert all(len(b) == size for b in blocks)
        info = gguf_tensor_info(b"w", [8 * per_block, 1], ggml_id, 0)
        path.write_bytes(gguf_file([], [info], b"".join(blocks)))
        return path

    assert [r.outcome for r in check_invariants(tensor_file(tmp_path / "ok.gguf", None), ["I-4", "I-5"], [])] == [
        "pass",
        "pass",
    ]
    (result,) = check_invariants(tensor_file(tmp_path / "nan.gguf", 5), ["I-4"], [])
    assert result.outcome == "fail"
    assert f"({field} of 1 of 8 blocks); first in block 5, {field}=0x" in result.reason, result.reason
    data_start = len(gguf_file([], [gguf_tensor_info(b"w", [8 * per_block, 1], ggml_id, 0)]))  # header, padded
    assert result.reason.endswith(f" at byte {data_start + 5 * size + (2 if field == 's' else 0)}")
    (inf,) = check_invariants(tensor_file(tmp_path / "inf.gguf", 2, float("-inf")), ["I-4"], [])
    assert inf.outcome == "fail" and f"first in block 2, {field}=0x" in inf.reason
