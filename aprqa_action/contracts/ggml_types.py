"""ggml tensor types: block geometry, and where each block keeps the float scales a NaN can hide in.

The type ids and names come from the `gguf` library (the field's own table). The block geometry is that of
ggml's `type_traits`, which is what llama.cpp uses to size and load tensors; it agrees with
`gguf.GGML_QUANT_SIZES` for every type except Q8_1, whose gguf-py entry (40 bytes) predates ggml's half-
precision `block_q8_1` (36 bytes). `SCALE_FIELDS` records, per block-quantized type, the byte offset and
encoding of each float inside a block (ggml-common.h): a quantized tensor can only decode to NaN/Inf through
these, so checking them over a strided view of the file is a complete I-4 check for that tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from aprqa_action.contracts import floats
from aprqa_action.contracts.floats import FloatBits

ScaleEncoding = Literal["f16", "f32", "e8m0", "iq1m"]


@dataclass(frozen=True)
class ScaleField:
    """One float inside a block: `iq1m` is IQ1_M's fp16 scale split over the top nibbles of 4 uint16s."""

    name: str
    offset: int
    encoding: ScaleEncoding


@dataclass(frozen=True)
class GGMLType:
    id: int
    name: str
    block_size: int  # values per block (1 for plain float/int types)
    type_size: int  # bytes per block
    float_bits: FloatBits | None = None  # plain float types: scanned element by element
    scales: tuple[ScaleField, ...] = ()  # block types: the floats of each block
    no_float: bool = False  # integer types, and blocks whose scales cannot encode NaN/Inf

    @property
    def quantized(self) -> bool:
        return self.block_size > 1

    def nbytes(self, n_elements: int) -> int | None:
        """Bytes for `n_elements` values, or None when they are not a whole number of blocks."""
        if n_elements % self.block_size:
            return None
        return n_elements // self.block_size * self.type_size


def _d(offset: int = 0) -> tuple[ScaleField, ...]:
    return (ScaleField("d", offset, "f16"),)


def _d_m(name: str) -> tuple[ScaleField, ...]:
    return (ScaleField("d", 0, "f16"), ScaleField(name, 2, "f16"))


# Block layouts from ggml-common.h (offsets in bytes inside one block).
SCALE_FIELDS: dict[str, tuple[ScaleField, ...]] = {
    "Q4_0": _d(),  # d, qs[16]
    "Q4_1": _d_m("m"),  # d, m, qs[16]
    "Q5_0": _d(),  # d, qh[4], qs[16]
    "Q5_1": _d_m("m"),  # d, m, qh[4], qs[16]
    "Q8_0": _d(),  # d, qs[32]
    "Q8_1": _d_m("s"),  # d, s (= d·Σq), qs[32]
    "Q2_K": (ScaleField("d", 80, "f16"), ScaleField("dmin", 82, "f16")),  # scales[16], qs[64], d, dmin
    "Q3_K": _d(108),  # hmask[32], qs[64], scales[12], d
    "Q4_K": _d_m("dmin"),  # d, dmin, scales[12], qs[128]
    "Q5_K": _d_m("dmin"),  # d, dmin, scales[12], qh[32], qs[128]
    "Q6_K": _d(208),  # ql[128], qh[64], scales[16] (int8), d — the scale is at the END
    "Q8_K": (ScaleField("d", 0, "f32"),),  # float d, qs[256], bsums[16] (int16)
    "IQ2_XXS": _d(),  # d, qs[32] (uint16)
    "IQ2_XS": _d(),  # d, qs[32] (uint16), scales[8]
    "IQ2_S": _d(),  # d, qs[64], qh[8], scales[8]
    "IQ3_XXS": _d(),  # d, qs[96]
    "IQ3_S": _d(),  # d, qs[64], qh[8], signs[32], scales[4]
    "IQ1_S": _d(),  # d, qs[32], qh[8] (uint16)
    "IQ1_M": (ScaleField("d", 48, "iq1m"),),  # qs[32], qh[16], scales[8] with the fp16 d in the top nibbles
    "IQ4_NL": _d(),  # d, qs[16]
    "IQ4_XS": _d(),  # d, scales_h (uint16), scales_l[4], qs[128]
    "TQ1_0": _d(52),  # qs[48], qh[4], d
    "TQ2_0": _d(64),  # qs[64], d
    "MXFP4": (ScaleField("e", 0, "e8m0"),),  # e (E8M0 shared exponent), qs[16]
    "Q1_0": _d(),  # d, qs[16]
}
# ggml's sizes where they differ from gguf-py's table (see the module docstring).
SIZE_OVERRIDES: dict[str, tuple[int, int]] = {"Q8_1": (32, 36)}
# NVFP4's four UE4M3 sub-block scales decode without NaN/Inf in ggml (0x7F reads as 0).
NO_FLOAT_BLOCKS = frozenset({"NVFP4"})
PLAIN_FLOATS: dict[str, FloatBits] = {
    "F32": floats.F32,
    "F16": floats.F16,
    "BF16": floats.BF16,
    "F64": floats.F64,
}
INTEGERS = frozenset({"I8", "I16", "I32", "I64"})


def _build() -> dict[int, GGMLType]:
    table: dict[int, GGMLType] = {}
    for qtype in GGMLQuantizationType:
        sizes = SIZE_OVERRIDES.get(qtype.name) or GGML_QUANT_SIZES.get(qtype)
        if sizes is None:
            continue  # an id gguf-py names but cannot size: treated as unknown
        block, size = sizes
        table[int(qtype)] = GGMLType(
            id=int(qtype),
            name=qtype.name,
            block_size=block,
            type_size=size,
            float_bits=PLAIN_FLOATS.get(qtype.name),
            scales=SCALE_FIELDS.get(qtype.name, ()),
            no_float=qtype.name in INTEGERS or qtype.name in NO_FLOAT_BLOCKS,
        )
    return table


TYPES: dict[int, GGMLType] = _build()
BY_NAME: dict[str, GGMLType] = {t.name: t for t in TYPES.values()}


def unscannable() -> list[str]:
    """Type names for which no NaN/Inf check is defined (a new ggml type this table does not know yet)."""
    return sorted(t.name for t in TYPES.values() if not (t.float_bits or t.scales or t.no_float))
