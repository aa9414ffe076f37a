"""`aprqa inspect` through the real CLI: its exit code says what the text says, and I-3 falls back on the
scheme a GGUF's own `general.file_type` names."""

from __future__ import annotations

from pathlib import Path

from conftest import aprqa
from contracts_fixtures import private_cache_fixture, tiny_gguf  # noqa: F401 - pytest fixture, registered by import
from gguf import GGMLQuantizationType
from gguf.constants import LlamaFileType

from aprqa_action.contracts import inspect

SMOLLM2_HEADER = 1_785_664  # bytes before SmolLM2's tensor data (its first tensor's offset)


def test_real_models_pass_with_the_scheme_their_file_type_names(smollm2: Path, gemma_base: Path) -> None:
    for path, file_type, scheme, types in (
        (smollm2, "general.file_type 3 (MOSTLY_Q4_1)", "q4_1", "types Q4_1 210, F32 61, Q8_0 1"),
        (gemma_base, "general.file_type 15 (MOSTLY_Q4_K_M)", "q4_k_m", "types F32 109, Q5_0 81, Q4_K 27"),
    ):
        done = aprqa("inspect", path, "--max-tensors", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"(no quantization given: I-3 judges the scheme the file's {file_type} names)" in done.stdout
        assert f"  I-3   PASS  consistent with {scheme}: {file_type} agrees; {types}" in done.stdout
        assert done.stderr == ""


def test_a_failing_invariant_exits_1(smollm2: Path) -> None:
    done = aprqa("inspect", smollm2, "--quantization", "q4_k_m", "--invariants", "I-3")
    assert done.returncode == 1
    assert "  I-3   FAIL" in done.stdout and "general.file_type 3 (MOSTLY_Q4_1) names q4_1, not q4_k_m" in done.stdout
    assert done.stderr == f"aprqa: {smollm2}: I-3 failed\n"
    wrong_dim = aprqa("inspect", smollm2, "--expect", "hidden_size=577", "--invariants", "I-2")
    assert wrong_dim.returncode == 1 and "I-2 failed" in wrong_dim.stderr


def test_a_declared_scheme_is_not_overridden_by_the_file_type(smollm2: Path) -> None:
    declared = inspect(smollm2, ["I-3"], ["q4_1"])
    assert declared.quantization_from is None and declared.results[0].outcome == "pass"
    fallback = inspect(smollm2, ["I-3"])
    assert fallback.quantization_from == "general.file_type 3 (MOSTLY_Q4_1)"


def test_a_file_type_naming_no_known_scheme_leaves_i3_skipped(tmp_path: Path) -> None:
    # MOSTLY_TQ1_0 (36) is a file type with no I-3 scheme; 4 (the removed MOSTLY_Q4_1_SOME_F16) is no
    # LlamaFileType at all: nothing to fall back on either way. 16 Q8_0 = 2 layers x 7 weights + token_embd +
    # output; 5 F32 = 2 x 2 norms + output_norm.
    for file_type in (LlamaFileType.MOSTLY_TQ1_0, 4):
        path = tiny_gguf(tmp_path / f"m{int(file_type)}.gguf", file_type=file_type)
        done = aprqa("inspect", path, "--invariants", "I-3")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "  I-3   SKIP  no quantization declared; the file holds Q8_0 16, F32 5" in done.stdout
        assert "no quantization given" not in done.stdout
    no_type = tiny_gguf(tmp_path / "n.gguf", weight_type=GGMLQuantizationType.Q4_0, file_type=None)
    done = aprqa("inspect", no_type, "--invariants", "I-3")
    assert done.returncode == 0 and "  I-3   SKIP  no quantization declared" in done.stdout


def test_a_truncated_header_exits_2_with_a_clear_message(smollm2: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with smollm2.open("rb") as source:
        cut.write_bytes(source.read(100_000))
    done = aprqa("inspect", cut)
    assert done.returncode == 2
    assert done.stderr == (
        f"aprqa: error: {cut}: cannot be read as a model file: GGUF header: metadata 'tokenizer.ggml.tokens' at "
        "byte 1095: array of 49152 strings cannot fit in the 98893 bytes that remain\n"
    )
    assert "Traceback" not in done.stdout + done.stderr
    missing = aprqa("inspect", tmp_path / "absent.gguf")
    assert missing.returncode == 2 and missing.stderr.endswith(
        "absent.gguf: cannot be read as a model file: no such file\n"
    )


def test_truncated_tensor_data_parses_but_fails_i5(smollm2: Path, tmp_path: Path) -> None:
    # The whole header and 1 MB of data: the header parses, so this is a verdict on the file (1), not an
    # unreadable file (2).
    cut = tmp_path / "short.gguf"
    with smollm2.open("rb") as source:
        cut.write_bytes(source.read(SMOLLM2_HEADER + (1 << 20)))
    done = aprqa("inspect", cut, "--invariants", "I-5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  I-5   FAIL" in done.stdout and done.stderr == f"aprqa: {cut}: I-5 failed\n"
