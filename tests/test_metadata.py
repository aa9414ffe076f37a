"""Metadata plausibility (F-META-*): the real demo models pass; copies of SmolLM2 rewritten by the gguf library
with one implausible value each fail exactly their own gate, quoting the value and the expected range."""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from aprqa_action.contracts import read_model
from aprqa_action.contracts.hyperparameters import hyperparameters
from aprqa_action.judge.integrity import check_file, check_files
from aprqa_action.judge.metadata import GATES, judge_file, metadata_items
from aprqa_action.playbook import MetadataPlausibility
from aprqa_action.records import ResolvedModel
from aprqa_action.records.axes import Format
from aprqa_action.records.model_file import Hyperparameters
from tests.contracts_fixtures import GEMMA, SMOLLM2, rewrite_gguf

SPEC = MetadataPlausibility()
REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"


def verdicts(path: Path, spec: MetadataPlausibility = SPEC, repo: str = REPO) -> dict[str, tuple[str, str]]:
    model = read_model(path)
    assert not hasattr(model, "reason"), model
    return judge_file(hyperparameters(model), spec, repo)  # type: ignore[arg-type]


def failing(found: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {gate: reason for gate, (outcome, reason) in found.items() if outcome != "Corroborated"}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("meta")
    made = {
        "same": rewrite_gguf(SMOLLM2, out / "same.gguf", {}),
        "rope-1": rewrite_gguf(SMOLLM2, out / "rope.gguf", {"llama.rope.freq_base": 1.0}),
        "eps-0.5": rewrite_gguf(SMOLLM2, out / "eps.gguf", {"llama.attention.layer_norm_rms_epsilon": 0.5}),
        "eos-past": rewrite_gguf(SMOLLM2, out / "eos.gguf", {"tokenizer.ggml.eos_token_id": 49152}),
        "qwen2-1e4": rewrite_gguf(SMOLLM2, out / "qwen2.gguf", {"qwen2.rope.freq_base": 10000.0}, arch="qwen2"),
        "qwen2-1e6": rewrite_gguf(SMOLLM2, out / "qwen2-ok.gguf", {"qwen2.rope.freq_base": 1e6}, arch="qwen2"),
    }
    return made


def test_the_demo_models_are_plausible() -> None:
    for path in (SMOLLM2, SMOLLM2.parent / "model.safetensors"):
        assert failing(verdicts(path)) == {}
    # the Gemma base model has no chat template: nothing requires one of a base model
    assert failing(verdicts(GEMMA, repo="google/gemma-3-270m")) == {
        "F-META-CHAT-TEMPLATE": "no chat template (a base model: nothing requires one)"
    }


def test_an_unchanged_copy_is_byte_identical(copies: dict[str, Path]) -> None:
    assert copies["same"].read_bytes() == SMOLLM2.read_bytes()


@pytest.mark.parametrize(
    ("copy", "gate", "reason"),
    [
        ("rope-1", "F-META-ROPE-THETA", "rope theta 1 outside [5000, 2e+08] for llama"),
        ("eps-0.5", "F-META-NORM-EPS", "norm epsilon 0.5 outside [1e-12, 0.001]"),
        ("eos-past", "F-META-SPECIAL-IDS", "eos id 49152 outside the vocabulary [0, 49152)"),
        ("qwen2-1e4", "F-META-ROPE-THETA", "rope theta 10000 outside [500000, 2e+07] for qwen2"),
    ],
)
def test_each_implausible_copy_fails_its_own_gate(copies: dict[str, Path], copy: str, gate: str, reason: str) -> None:
    found = verdicts(copies[copy])
    assert failing(found) == {gate: reason}
    assert found[gate][0] == "Falsified"


def test_qwen2_with_its_own_rope_base_passes(copies: dict[str, Path]) -> None:
    found = verdicts(copies["qwen2-1e6"])
    assert failing(found) == {}
    assert found["F-META-ROPE-THETA"][1] == "rope theta 1e+06 in [500000, 2e+07] for qwen2"


def h(**fields: object) -> Hyperparameters:
    base: dict[str, object] = {
        "format": "safetensors", "architecture": "llama", "rope_theta": 1e4, "norm_epsilon": 1e-5,
        "context_length": 4096, "hidden_size": 4096, "heads": 32, "kv_heads": 8, "vocab_size": 32000,
        "token_count": 32000, "special_ids": {"bos": [1], "eos": [2]}, "chat_template": True,
    }  # fmt: skip
    return Hyperparameters.model_validate(base | fields)


@pytest.mark.parametrize(
    ("fields", "gate", "outcome", "reason"),
    [
        ({}, "F-META-HEADS", "Corroborated", "32 heads × 128 = hidden size 4096; 8 KV heads"),
        ({"kv_heads": 6}, "F-META-HEADS", "Falsified", "6 KV heads do not divide 32 attention heads"),
        (
            {"architecture": "qwen2", "rope_theta": 1e6, "head_dim": 64}, "F-META-HEADS", "Falsified",
            "32 heads × head size 64 = 2048 ≠ hidden 4096",
        ),
        (  # Mistral-Nemo under the llama architecture: a declared head size, not hidden ÷ heads
            {"hidden_size": 5120, "head_dim": 128}, "F-META-HEADS", "Corroborated",
            "32 heads of 128 (declared; hidden size 5120); 8 KV heads",
        ),
        ({"head_dim": 0}, "F-META-HEADS", "Falsified", "head size 0: must be ≥ 1"),
        (
            {"heads": 30, "kv_heads": 10}, "F-META-HEADS", "Falsified",
            "30 heads do not divide hidden size 4096 (no head size declared)",
        ),
        (
            {"architecture": "qwen3", "heads": 16, "kv_heads": 8, "head_dim": 128, "hidden_size": 1024},
            "F-META-HEADS", "Corroborated", "16 heads of 128 (declared; hidden size 1024); 8 KV heads",
        ),
        ({"context_length": 256}, "F-META-CONTEXT", "Falsified", "context length 256 < 512"),
        (
            {"rope_scaling_type": "linear", "rope_scaling_factor": float("nan"), "rope_original_context": 4096},
            "F-META-CONTEXT", "Falsified",
            "rope scaling factor nan is not a positive number",
        ),
        (
            {"rope_theta": float("inf")}, "F-META-ROPE-THETA", "Falsified",
            "rope theta inf outside [5000, 2e+08] for llama",
        ),
        (
            {"context_length": 131072, "rope_scaling_type": "linear", "rope_scaling_factor": 8.0,
             "rope_original_context": 8192},
            "F-META-CONTEXT", "Falsified",
            "context length 131072 > 8192 × linear rope scaling 8 = 65536: positions past the scaled window are "
            "read wrongly",
        ),
        (
            {"context_length": 131072, "rope_scaling_type": "yarn", "rope_scaling_factor": 4.0,
             "rope_original_context": 32768},
            "F-META-CONTEXT", "Corroborated", "context length 131072 ≤ 32768 × yarn rope scaling 4",
        ),
        (  # Llama 3.1's config: llama3 scaling works per frequency band, not as factor × original
            {"context_length": 131072, "rope_scaling_type": "llama3", "rope_scaling_factor": 8.0,
             "rope_original_context": 8192},
            "F-META-CONTEXT", "Corroborated", "context length 131072 ≥ 512",
        ),
        (
            {"vocab_size": 32064}, "F-META-VOCAB", "Corroborated",
            "vocabulary 32064, tokenizer 32000 tokens (padded by 64)",
        ),
        ({"token_count": 32010}, "F-META-VOCAB", "Falsified", "the tokenizer has 32010 token ids, vocab_size is 32000"),
        (
            {"format": "gguf", "vocab_size": 32064}, "F-META-VOCAB", "Falsified",
            "the tokenizer has 32000 tokens, the embedding 32064 rows",
        ),
        ({"special_ids": {"bos": [1], "eos": [2, 32000]}}, "F-META-SPECIAL-IDS", "Falsified",
         "eos id 32000 outside the vocabulary [0, 32000)"),
        ({"rope_theta": None}, "F-META-ROPE-THETA", "Skipped",
         "no rope base frequency in the file (the engine's default applies)"),
        ({"architecture": None}, "F-META-ARCH", "Falsified",
         "the file declares no architecture (config.json model_type): no engine knows how to run it"),
        ({"architecture": "mamba", "rope_theta": 5.0}, "F-META-ROPE-THETA", "Falsified",
         "rope theta 5 outside [1000, 1e+08] for any architecture"),
        ({"chat_template": False}, "F-META-CHAT-TEMPLATE", "Falsified",
         "no chat template, and 'HuggingFaceTB/SmolLM2-135M-Instruct' names an instruct model: its answers are "
         "formatted by guesswork"),
    ],
)  # fmt: skip
def test_hand_computed_cases(fields: dict[str, object], gate: str, outcome: str, reason: str) -> None:
    assert judge_file(h(**fields), SPEC, REPO)[gate] == (outcome, reason)


def test_declared_architecture_and_instruct_override_the_guess() -> None:
    spec = MetadataPlausibility(architecture="qwen2", instruct=False)
    found = judge_file(h(chat_template=False), spec, REPO)
    assert found["F-META-ARCH"] == ("Falsified", "config.json model_type is 'llama', the playbook expects 'qwen2'")
    assert found["F-META-CHAT-TEMPLATE"][0] == "Skipped"


def test_a_config_without_values_is_skipped_not_passed(tmp_path: Path) -> None:
    shutil.copy(SMOLLM2.parent / "model.safetensors", tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    found = verdicts(tmp_path / "model.safetensors")
    assert {g for g, (o, _) in found.items() if o == "Corroborated"} == {"F-META-ARCH"}
    assert found["F-META-CHAT-TEMPLATE"][0] == "Falsified"  # the repo name says instruct, no template


def test_truncated_and_metadata_less_files_are_clear_failures(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(SMOLLM2.read_bytes()[:100_000])
    empty = tmp_path / "empty.gguf"  # a valid GGUF v3 header: no tensors, no metadata at all
    empty.write_bytes(struct.pack("<4sIQQ", b"GGUF", 3, 0, 0))
    models = {
        fmt: ResolvedModel(format=Format.GGUF, path=str(path), how="given", reason="test")
        for fmt, path in ((Format.GGUF, truncated), (Format.APR, empty))
    }
    checks = check_files(models)
    checks[Format.APR] = replace(check_file(str(empty), Format.GGUF), format=Format.APR)  # judged as the GGUF it is
    items = metadata_items(checks, SPEC, "org/model")  # a name that says nothing of instruct
    cut = [i for i in items if i.cell == "gguf"]
    assert [i.gate_id for i in cut] == list(GATES)
    assert all(i.outcome == "Skipped" and i.reason.startswith("not judged: the file failed G0: ") for i in cut)
    bare = {i.gate_id: (i.outcome, i.reason) for i in items if i.cell == "apr"}
    assert bare["F-META-ARCH"] == (
        "Falsified",
        "the file declares no architecture (general.architecture): no engine knows how to run it",
    )
    assert {o for g, (o, _) in bare.items() if g != "F-META-ARCH"} == {"Skipped"}


def test_the_tokenizer_count_reads_every_vocabulary_form(tmp_path: Path) -> None:
    from aprqa_action.contracts.hyperparameters import _tokenizer_count

    unigram = {"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["a", -1.0], ["b", -2.0]]},
               "added_tokens": [{"id": 3, "content": "<s>"}, {"id": 4, "content": "</s>"}]}  # fmt: skip
    (tmp_path / "tokenizer.json").write_text(json.dumps(unigram))
    assert _tokenizer_count(tmp_path) == 5
    broken = {"model": {"vocab": {"a": 0, "b": -7}}, "added_tokens": 5}  # odd, not a traceback
    (tmp_path / "tokenizer.json").write_text(json.dumps(broken))
    assert _tokenizer_count(tmp_path) == 1
