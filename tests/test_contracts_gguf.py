"""GGUF: the real SmolLM2 (Q4_1) and Gemma-3 (Q4_K_M) files pass; patched copies fail the right invariant."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from contracts_fixtures import (  # noqa: F401 - pytest fixtures, registered by import
    GEMMA,
    SMOLLM2,
    TINY,
    gemma_copy_fixture,
    gguf_file,
    gguf_kv,
    gguf_offset_field,
    gguf_string,
    gguf_tensor_info,
    patch,
    patched,
    private_cache_fixture,
    tensor,
    tiny_gguf,
    truncated,
)
from gguf import GGMLQuantizationType, GGUFValueType

from aprqa_action.contracts import (
    ExpectedDims,
    InvariantResult,
    ModelFile,
    ReadFailure,
    check_invariants,
    provenance,
    read_model,
)

ALL = ["I-2", "I-3", "I-4", "I-5"]
GEMMA_SIZE = 253_113_024
# From the Gemma file's tensor table (cross-checked with gguf.GGUFReader when the tests were written).
ATTN_OUTPUT_0 = 184_901_824  # blk.0.attn_output.weight: Q4_K [640, 1024] = 2560 blocks of 144 bytes
FFN_DOWN_0 = 185_896_128  # blk.0.ffn_down.weight: Q6_K [640, 2048] = 5120 blocks of 210 bytes
LAST = 253_110_464  # blk.17.post_ffw_norm.weight: F32 [640], 2560 bytes, ends at the end of the file


def by_name(results: list[InvariantResult]) -> dict[str, InvariantResult]:
    return {r.invariant: r for r in results}


def outcomes(results: list[InvariantResult]) -> dict[str, str]:
    return {r.invariant: r.outcome for r in results}


@pytest.mark.parametrize(
    ("path", "quant", "types", "tensors"),
    [
        (SMOLLM2, "q4_1", {"Q4_1": 210, "F32": 61, "Q8_0": 1}, 272),
        (GEMMA, "q4_k_m", {"F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9}, 236),
    ],
)
def test_real_models_pass_with_their_declared_quantization(
    path: Path, quant: str, types: dict[str, int], tensors: int
) -> None:
    results = by_name(check_invariants(path, ALL, [quant]))
    assert outcomes(list(results.values())) == dict.fromkeys(ALL, "pass"), results
    assert {k.removeprefix("tensors_"): v for k, v in results["I-3"].metrics.items()} == types
    assert results["I-2"].metrics["tensors_checked"] == tensors + 1
    assert results["I-2"].metrics["tensors_unmatched"] == 0
    assert results["I-4"].metrics["tensors_scanned"] == tensors
    assert results["I-5"].metrics["file_bytes"] == path.stat().st_size


def test_real_model_provenance() -> None:
    smol = provenance(SMOLLM2)
    assert smol.sha256 == hashlib.sha256(SMOLLM2.read_bytes()).hexdigest()
    assert (smol.format, smol.quantization, smol.dominant_type) == ("gguf", "q4_1", "Q4_1")
    assert (smol.tensor_count, smol.parameter_count, smol.size) == (272, 134_515_008, 98_362_432)
    gemma = provenance(GEMMA)
    # general.file_type says Q4_K_M; the 262144 × 640 Q8_0 embedding holds most parameters.
    assert (gemma.quantization, gemma.dominant_type, gemma.tensor_count) == ("q4_k_m", "Q8_0", 236)
    assert gemma.parameter_count == 268_098_176 and gemma.error is None


def test_nan_in_a_q4_k_block_scale(gemma_copy: Path) -> None:
    at = ATTN_OUTPUT_0 + 17 * 144  # block 17's d: the first two bytes of the block
    with patched(gemma_copy, at, struct.pack("<H", 0x7E00)):
        results = by_name(check_invariants(gemma_copy, ALL, ["q4_k_m"]))
    assert outcomes(list(results.values())) == {"I-2": "pass", "I-3": "pass", "I-4": "fail", "I-5": "pass"}
    assert results["I-4"].reason == (
        "1 tensor with NaN/Inf: blk.0.attn_output.weight (Q4_K [640, 1024]): non-finite block scale "
        f"(d of 1 of 2560 blocks); first in block 17, d=0x7E00 at byte {at}"
    )
    assert not results["I-4"].unusable


def test_inf_in_the_last_q4_k_dmin(gemma_copy: Path) -> None:
    at = ATTN_OUTPUT_0 + 2559 * 144 + 2  # the last block's dmin
    with patched(gemma_copy, at, struct.pack("<H", 0xFC00)):  # -Inf
        (result,) = check_invariants(gemma_copy, ["I-4"], [])
    assert result.outcome == "fail"
    assert f"(dmin of 1 of 2560 blocks); first in block 2559, dmin=0xFC00 at byte {at}" in result.reason


def test_q6_k_scale_is_at_the_end_of_its_block(gemma_copy: Path) -> None:
    block = FFN_DOWN_0 + 3 * 210
    with patched(gemma_copy, block, struct.pack("<H", 0x7E00)):  # ql bytes: not a float, no verdict
        assert check_invariants(gemma_copy, ["I-4"], [])[0].outcome == "pass"
    with patched(gemma_copy, block + 208, struct.pack("<H", 0x7E00)):
        (result,) = check_invariants(gemma_copy, ["I-4"], [])
    assert result.outcome == "fail"
    assert (
        "blk.0.ffn_down.weight (Q6_K [640, 2048]): non-finite block scale (d of 1 of 5120 blocks); first in block 3"
        in (result.reason)
    )


def test_truncated_gemma_fails_i5(gemma_copy: Path) -> None:
    with truncated(gemma_copy, GEMMA_SIZE - 1000):
        results = by_name(check_invariants(gemma_copy, ALL, ["q4_k_m"]))
    assert results["I-5"].outcome == "fail" and results["I-5"].unusable
    assert results["I-5"].reason == (
        f"1 layout problem: blk.17.post_ffw_norm.weight: bytes [{LAST}, {LAST + 2560}) run 1000 bytes past the "
        f"end of the file ({GEMMA_SIZE - 1000} bytes): truncated"
    )
    assert results["I-4"].outcome == "skip" and "blk.17.post_ffw_norm.weight" in results["I-4"].reason
    assert results["I-4"].metrics["tensors_scanned"] == 235
    assert results["I-2"].outcome == "pass" and results["I-3"].outcome == "pass"


def test_offset_past_eof_in_gemma(gemma_copy: Path) -> None:
    field = gguf_offset_field(gemma_copy, "blk.5.ffn_up.weight")
    with patched(gemma_copy, field, struct.pack("<Q", 2**40)):
        result = by_name(check_invariants(gemma_copy, ALL, ["q4_k_m"]))
    data_start = 6_525_120
    assert result["I-5"].outcome == "fail" and result["I-5"].unusable
    assert result["I-5"].reason == (
        f"1 layout problem: blk.5.ffn_up.weight: starts at byte {data_start + 2**40}, past the end of the file "
        f"({GEMMA_SIZE} bytes)"
    )
    assert result["I-4"].outcome == "skip"


def test_overlap_misalignment_and_trailing_bytes(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "m.gguf")
    q, k = tensor(path, "blk.0.attn_q.weight"), tensor(path, "blk.0.attn_k.weight")
    start = read_model(path).files[0].data_start  # type: ignore[union-attr]
    with patched(path, gguf_offset_field(path, "blk.0.attn_k.weight"), struct.pack("<Q", q.offset - start)):
        (result,) = check_invariants(path, ["I-5"], [])
    assert result.outcome == "fail"
    assert (
        f"blk.0.attn_q.weight [{q.offset}, {q.offset + 4352}) overlaps blk.0.attn_k.weight "
        f"[{q.offset}, {q.offset + k.nbytes}) by {k.nbytes} bytes"
    ) in result.reason
    up = tensor(path, "blk.1.ffn_up.weight")
    with patched(path, gguf_offset_field(path, "blk.1.ffn_up.weight"), struct.pack("<Q", up.offset - start + 2)):
        (result,) = check_invariants(path, ["I-5"], [])
    assert f"blk.1.ffn_up.weight: data offset {up.offset - start + 2} is not a multiple of general.alignment 32" in (
        result.reason
    )
    assert check_invariants(path, ["I-5"], [])[0].outcome == "pass"
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(bytes(64))
    (result,) = check_invariants(path, ["I-5"], [])
    assert (
        result.reason
        == f"1 layout problem: 64 bytes after the data section (it ends at byte {size}, the file at {size + 64})"
    )


def test_shapes_against_gguf_metadata(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "ff.gguf", metadata={"feed_forward_length": 96})
    (result,) = check_invariants(path, ["I-2"], [])
    assert result.outcome == "fail"
    # row-major [128, 64] is ne [64, 128] in the file; the reason shows both orders
    assert "blk.0.ffn_gate.weight: expected [ff=96, hidden=64] (ne [64, 96]), found [128, 64]" in result.reason
    path = tiny_gguf(tmp_path / "layers.gguf", metadata={"block_count": 3, "vocab_size": 100})
    (result,) = check_invariants(path, ["I-2"], [])
    assert result.reason.startswith(
        "3 shape problems against GGUF metadata (llama.*): "
        "llama.block_count is 3, the file has 2 layers (missing [2]); "
        "token_embd.weight: expected [vocab=100, hidden=64] (ne [64, 100]), found [96, 64]"
    )


def test_expected_dims_against_real_metadata() -> None:
    right = ExpectedDims(
        hidden_size=576, num_layers=30, num_heads=9, num_kv_heads=3, intermediate_size=1536, vocab_size=49152
    )
    assert check_invariants(SMOLLM2, ["I-2"], [], right)[0].outcome == "pass"
    (wrong,) = check_invariants(SMOLLM2, ["I-2"], [], right.model_copy(update={"num_heads": 8}))
    assert wrong.outcome == "fail"
    assert wrong.reason.endswith("expected num_heads 8, llama.attention.head_count is 9")


def test_unknown_architecture_checks_what_it_can(tmp_path: Path) -> None:
    from gguf import GGUFWriter

    path = tmp_path / "m.gguf"
    writer = GGUFWriter(str(path), "mystery")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    writer.add_tensor("token_embd.weight", np.zeros((3, 8), np.float32))
    writer.add_tensor("mixer.weight", np.zeros((8, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    results = by_name(check_invariants(path, ALL, []))
    assert results["I-2"].outcome == "skip"
    assert results["I-2"].reason == (
        "no tensor follows llama.cpp's GGUF naming with known dimensions (vocab 3): "
        "1 tensors unmatched, 1 with unknown dimensions"
    )
    assert results["I-4"].outcome == "pass" and results["I-5"].outcome == "pass"


def test_silent_float_fallback_is_flagged(tmp_path: Path) -> None:
    up = np.zeros((128, 64), np.float16)
    path = tiny_gguf(tmp_path / "m.gguf", overrides={"blk.1.ffn_up.weight": up})
    (result,) = check_invariants(path, ["I-3"], ["q8_0"])
    assert result.outcome == "fail"
    assert (
        "1 tensor stored F16, left unquantized where q8_0 was declared (silent fallback): blk.1.ffn_up.weight [128, 64]"
        in result.reason
    )


def test_float_by_design_is_not_flagged(tmp_path: Path) -> None:
    extra: dict[str, np.ndarray] = {
        "blk.0.ffn_gate_inp.weight": np.zeros((4, 64), np.float32),  # MoE router: never quantized
        "blk.0.odd.weight": np.zeros((2, 48), np.float16),  # rows of 48 fit no 32-value block
    }
    path = tiny_gguf(tmp_path / "m.gguf", extra=extra)
    (result,) = check_invariants(path, ["I-3"], ["q8_0"])
    assert result.outcome == "pass", result.reason


def test_file_type_and_family(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "ft.gguf", file_type=2)  # Q8_0 data, general.file_type MOSTLY_Q4_0
    (result,) = check_invariants(path, ["I-3"], ["q8_0"])
    assert result.outcome == "fail"
    assert "q8_0: general.file_type 2 (MOSTLY_Q4_0) names q4_0, not q8_0" in result.reason
    path = tiny_gguf(tmp_path / "q40.gguf", weight_type=GGMLQuantizationType.Q4_0, file_type=None)
    (result,) = check_invariants(path, ["I-3"], ["q4_1"])
    assert "16 tensors stored Q4_0, outside the q4_1 family (Q4_1, Q6_K, Q8_0)" in result.reason
    assert "no ≥2-D weight has q4_1's type Q4_1" in result.reason
    assert check_invariants(path, ["I-3"], ["q4_0"])[0].outcome == "pass"
    (real,) = check_invariants(GEMMA, ["I-3"], ["q4_1"])
    assert real.outcome == "fail" and "general.file_type 15 (MOSTLY_Q4_K_M) names q4_k_m, not q4_1" in real.reason


def test_k_quant_row_fallbacks(tmp_path: Path) -> None:
    # Rows of 64 (and 128) cannot hold a 256-value Q4_K block: llama.cpp stores such a q4_k_m tensor Q5_0.
    narrow = tiny_gguf(tmp_path / "narrow.gguf", weight_type=GGMLQuantizationType.Q5_0, file_type=None)
    assert check_invariants(narrow, ["I-3"], ["q4_k_m"])[0].outcome == "pass"
    wide_config = {**TINY, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1}
    wide = tiny_gguf(tmp_path / "wide.gguf", weight_type=GGMLQuantizationType.Q5_0, file_type=None, config=wide_config)
    (result,) = check_invariants(wide, ["I-3"], ["q4_k_m"])
    assert result.outcome == "fail"
    # token_embd and output may be retyped by the user (--token-embedding-type): the 7 others may not
    assert "7 tensors stored Q5_0, q4_k_m's fallback for rows that are not a multiple of 256, though theirs are" in (
        result.reason
    )


def _kv_u32(key: bytes, value: int) -> bytes:
    return gguf_kv(key, GGUFValueType.UINT32, struct.pack("<I", value))


def _arr(key: bytes, item_type: int, count: int, payload: bytes = b"") -> bytes:
    return gguf_kv(key, GGUFValueType.ARRAY, struct.pack("<IQ", item_type, count) + payload)


F32_W = gguf_tensor_info(b"w", [4], GGMLQuantizationType.F32, 0)
MALFORMED = [
    (b"GGUX" + bytes(40), "not a GGUF file: magic b'GGUX', expected b'GGUF'"),
    (gguf_file([], [], version=1), "unsupported GGUF version 1 (2 and 3 are supported)"),
    (b"GGUF" + struct.pack(">I", 3) + bytes(16), "big-endian GGUF (version 3 byte-swapped) is not supported"),
    (gguf_file([], [], counts=(0, 2**60)), f"header claims {2**60} metadata entries"),
    (gguf_file([], [], counts=(2**40, 0)), f"header claims {2**40} tensors"),
    (
        gguf_file([struct.pack("<Q", 2**63) + bytes(32)], [], counts=(0, 1)),
        "is 9223372036854775808 bytes long; the GGUF limit is 65535",
    ),
    (
        gguf_file([gguf_kv(b"k", GGUFValueType.STRING, struct.pack("<Q", 2**62))], []),
        "value of 'k' at byte 45 needs 4611686018427387904 bytes but the file ends 19 bytes later",
    ),
    (gguf_file([_arr(b"a", GGUFValueType.UINT8, 2**62)], []), f"array of {2**62} UINT8 needs {2**62} bytes"),
    (gguf_file([_arr(b"a", GGUFValueType.STRING, 2**40)], []), f"array of {2**40} strings cannot fit"),
    (
        gguf_file([_arr(b"a", GGUFValueType.STRING, 2, gguf_string(b"x") + struct.pack("<Q", 2**50))], []),
        "string 1 of 2",
    ),
    (gguf_file([gguf_kv(b"k", 13, b"")], []), "metadata 'k' has unknown value type 13"),
    (gguf_file([_arr(b"a", GGUFValueType.ARRAY, 1)], []), "is an array of arrays"),
    (gguf_file([_kv_u32(b"k", 1), _kv_u32(b"k", 2)], []), "metadata key 'k' appears twice"),
    (gguf_file([_kv_u32(b"general.alignment", 48)], []), "general.alignment 48 is not a power of two"),
    (
        gguf_file([gguf_kv(b"general.alignment", GGUFValueType.UINT64, struct.pack("<Q", 64))], []),
        "general.alignment must be UINT32, found UINT64",
    ),
    (
        gguf_file([], [gguf_tensor_info(b"w", [1, 1, 1, 1, 1], 0, 0)]),
        "tensor 'w' has 5 dimensions; ggml supports at most 4",
    ),
    (gguf_file([], [gguf_tensor_info(b"w", [4], 99, 0)]), "tensor 'w' has unknown ggml type 99"),
    (gguf_file([], [gguf_tensor_info(b"x" * 65, [4], 0, 0)]), "is 65 bytes long; the GGUF limit is 64"),
    (gguf_file([], [F32_W, F32_W]), "tensor 'w' is declared twice"),
    (gguf_file([], [gguf_tensor_info(b"w", [2**40, 2**40], 0, 0)]), "whose element count overflows int64"),
    # header 24 bytes, name length 8 + "w", n_dims 4, then each dimension 8 bytes: dimension 2 starts at 53
    (gguf_file([], [gguf_tensor_info(b"w", [1, 1, 1, 1], 0, 0)])[:53], "dimension 2 of 'w' at byte 53 needs 8 bytes"),
    # …and for ne [4]: dims 37..45, type 45..49, the data offset at 49
    (
        gguf_file([], [F32_W])[:54],
        "data offset of 'w' at byte 49 needs 8 bytes but the file ends 5 bytes later",
    ),
]


@pytest.mark.parametrize(("data", "phrase"), MALFORMED)
def test_malformed_headers_are_read_failures(tmp_path: Path, data: bytes, phrase: str) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    failure = read_model(path)
    assert isinstance(failure, ReadFailure), failure
    assert phrase in failure.reason
    assert failure.reason.startswith("GGUF header: ") or "too short" in failure.reason
    results = check_invariants(path, ALL, ["q8_0"])
    assert [(r.outcome, r.unusable) for r in results] == [("fail", True)] * 4


def test_hand_built_v2_file_with_custom_alignment(tmp_path: Path) -> None:
    data = np.arange(4, dtype=np.float32).tobytes() + bytes(48) + np.ones(8, np.float16).tobytes()
    infos = [gguf_tensor_info(b"a", [4], 0, 0), gguf_tensor_info(b"b", [8], 1, 64)]
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_file([_kv_u32(b"general.alignment", 64)], infos, data, version=2, alignment=64))
    model = read_model(path)
    assert isinstance(model, ModelFile)
    assert (model.gguf_version, model.alignment) == (2, 64)
    assert [(t.name, t.dtype, t.shape, t.nbytes) for t in model.tensors] == [
        ("a", "F32", (4,), 16),
        ("b", "F16", (8,), 16),
    ]
    assert model.files[0].data_start % 64 == 0
    assert [r.outcome for r in check_invariants(path, ["I-4", "I-5"], [])] == ["pass", "pass"]


def test_rows_that_are_not_whole_blocks(tmp_path: Path) -> None:
    info = gguf_tensor_info(b"w", [128, 2], GGMLQuantizationType.Q4_K, 0)  # 256 values, but rows of 128
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_file([], [info], bytes(288)))
    (result,) = check_invariants(path, ["I-5"], [])
    assert result.outcome == "fail"
    assert "w: rows of 128 values are not whole Q4_K blocks of 256 (shape [2, 128])" in result.reason


def test_misnamed_file_is_read_by_content(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "m.gguf")
    renamed = path.rename(tmp_path / "model.safetensors")
    model = read_model(renamed)
    assert isinstance(model, ModelFile) and model.format == "gguf"
    patch(renamed, 0, b"GGUX")
    assert "not a GGUF file" not in read_model(renamed).reason  # type: ignore[union-attr]  # read as SafeTensors


WIDE = {**TINY, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1}


def test_k_quant_schemes(tmp_path: Path) -> None:
    q6 = tiny_gguf(tmp_path / "q6.gguf", weight_type=GGMLQuantizationType.Q6_K, file_type=18, config=WIDE)
    assert check_invariants(q6, ["I-3", "I-4"], ["q6_k"])[0].outcome == "pass"
    (result,) = check_invariants(q6, ["I-3"], ["q5_k_m"])
    assert "q5_k_m: general.file_type 18 (MOSTLY_Q6_K) names q6_k, not q5_k_m" in result.reason
    assert "no ≥2-D weight has q5_k_m's type Q5_1 or Q5_K" in result.reason
    # Q5_K_M: Q5_K weights, Q6_K where llama-quantize spends more bits (attn_v, ffn_down, output)
    more_bits = dict.fromkeys(
        ["blk.0.attn_v.weight", "blk.0.ffn_down.weight", "output.weight"], GGMLQuantizationType.Q6_K
    )
    q5 = tiny_gguf(
        tmp_path / "q5.gguf", weight_type=GGMLQuantizationType.Q5_K, file_type=17, config=WIDE, retype=more_bits
    )
    assert [r.outcome for r in check_invariants(q5, ["I-2", "I-3", "I-4", "I-5"], ["q5_k_m"])] == ["pass"] * 4
    (wrong,) = check_invariants(q5, ["I-3"], ["q4_k_m"])
    # Q5_K and Q6_K both belong to the q4_k_m family; what is wrong is the absence of Q4_K, and the file type
    assert wrong.reason == (
        "types Q5_K 6, F32 3, Q6_K 3 do not match the declared quantization — q4_k_m: general.file_type 17 "
        "(MOSTLY_Q5_K_M) names q5_k_m, not q4_k_m; no ≥2-D weight has q4_k_m's type Q4_K or Q5_0"
    )


def test_eight_expert_models_keep_attn_k_and_v_in_q8_0(tmp_path: Path) -> None:
    # llama-quantize gives attn_k/attn_v Q8_0 whatever the scheme when n_expert == 8 (Mixtral): a real
    # Mixtral q4_k_m holds them so. Rows of 256 rule out Q8_0 as q4_k_m's row fallback, so only the expert
    # count can make them right.
    q8_kv = {name: GGMLQuantizationType.Q8_0 for name in ("blk.0.attn_k.weight", "blk.0.attn_v.weight")}

    def judged(name: str, metadata: dict[str, int]) -> tuple[str, str]:
        path = tiny_gguf(
            tmp_path / name, weight_type=GGMLQuantizationType.Q4_K, file_type=15, config=WIDE, retype=q8_kv,
            metadata=metadata,
        )  # fmt: skip
        (result,) = check_invariants(path, ["I-3"], ["q4_k_m"])
        return result.outcome, result.reason

    assert judged("mixtral.gguf", {"expert_count": 8, "expert_used_count": 2})[0] == "pass"
    flagged = "2 tensors stored Q8_0, q4_k_m's fallback for rows that are not a multiple of 256, though theirs are"
    for name, metadata in (("dense.gguf", {}), ("four.gguf", {"expert_count": 4}), ("16.gguf", {"expert_count": 16})):
        outcome, reason = judged(name, metadata)
        assert outcome == "fail" and flagged in reason, (name, reason)
    # Only attn_k/attn_v: Q8_0 on attn_q of the same 8-expert model is still flagged.
    q8_kv["blk.0.attn_q.weight"] = GGMLQuantizationType.Q8_0
    outcome, reason = judged("mixtral-q.gguf", {"expert_count": 8})
    assert outcome == "fail" and "1 tensor stored Q8_0" in reason and "blk.0.attn_q.weight" in reason, reason


def test_a_huge_block_count_is_reported_without_enumerating_it(tmp_path: Path) -> None:
    # The fuzzer found a block_count of 2**32 - 1 making I-2 build a set of four billion layers.
    path = tiny_gguf(tmp_path / "m.gguf", metadata={"block_count": 2**32 - 1})
    [result] = check_invariants(path, ["I-2"], [])
    assert result.outcome == "fail" and "is 4294967295, the file has 2 layers (missing [" in result.reason
