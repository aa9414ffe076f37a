"""Tensor contracts: read SafeTensors and GGUF headers and check invariants I-2..I-5 before an engine runs.

  I-2  tensor shapes match the model's config / GGUF metadata (and the caller's expected dimensions)
  I-3  tensor types match the declared quantization (llama.cpp's type families, fallbacks included)
  I-4  no NaN/Inf: float exponent bits and quantized block scales, scanned over a memory map
  I-5  sizes, offsets, overlaps, truncation: the bytes are where the header says

Public API: `read_model`, `check_invariants`, `provenance`, `inspect`, `inspect_text`, and the records.
None of these functions raises on a bad file: every problem becomes a reason.
"""

from aprqa_action.contracts.inspect import Inspection, inspect, inspect_text, render
from aprqa_action.contracts.invariants import check_invariants, run_invariants
from aprqa_action.contracts.provenance import provenance
from aprqa_action.contracts.quant import KNOWN_QUANTIZATIONS
from aprqa_action.contracts.reader import read_model
from aprqa_action.records.model_file import (
    INVARIANTS,
    ExpectedDims,
    FileDigest,
    FileInfo,
    InvariantResult,
    ModelFile,
    Provenance,
    ReadFailure,
    TensorInfo,
)

__all__ = [
    "INVARIANTS",
    "KNOWN_QUANTIZATIONS",
    "ExpectedDims",
    "FileDigest",
    "FileInfo",
    "Inspection",
    "InvariantResult",
    "ModelFile",
    "Provenance",
    "ReadFailure",
    "TensorInfo",
    "check_invariants",
    "inspect",
    "inspect_text",
    "provenance",
    "read_model",
    "render",
    "run_invariants",
]
