"""Bit patterns of the float encodings that can hold NaN or Inf, so a scan can find them without decoding.

Every IEEE-like format marks NaN/Inf by an all-ones exponent. Masking the sign bit and comparing the rest
against the smallest non-finite pattern needs two vectorised passes over raw integers and no float
conversion, which is what lets the NaN/Inf scan run at memory speed (numpy's float16 `isfinite` is several
times slower because it converts every element).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FloatBits:
    """How one float encoding marks non-finite values.

    `bits & abs_mask >= threshold` ⇔ the value is NaN or Inf (`== threshold` when `exact`, for the FNUZ
    float8s whose only NaN is the negative-zero pattern 0x80); equality with `inf` (when the encoding has an
    Inf at all) separates Inf from NaN for the reason text.
    """

    name: str
    view: type[np.unsignedinteger]
    abs_mask: int
    threshold: int
    inf: int | None
    exact: bool = False

    @property
    def itemsize(self) -> int:
        return int(np.dtype(self.view).itemsize)


F64 = FloatBits("F64", np.uint64, 0x7FFF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000, 0x7FF0_0000_0000_0000)
F32 = FloatBits("F32", np.uint32, 0x7FFF_FFFF, 0x7F80_0000, 0x7F80_0000)
F16 = FloatBits("F16", np.uint16, 0x7FFF, 0x7C00, 0x7C00)
BF16 = FloatBits("BF16", np.uint16, 0x7FFF, 0x7F80, 0x7F80)
# float8: E5M2 is IEEE-like; E4M3 ("fn") has no Inf and one NaN pattern S.1111.111; E8M0 (unsigned
# power-of-two scales, OCP MX) uses 0xFF as NaN.
F8_E5M2 = FloatBits("F8_E5M2", np.uint8, 0x7F, 0x7C, 0x7C)
F8_E4M3 = FloatBits("F8_E4M3", np.uint8, 0x7F, 0x7F, None)
E8M0 = FloatBits("E8M0", np.uint8, 0xFF, 0xFF, None)
F8_FNUZ = FloatBits("F8_FNUZ", np.uint8, 0xFF, 0x80, None, exact=True)
