"""A model's hyperparameters as its file declares them, in one vocabulary for GGUF and SafeTensors: what the
metadata-plausibility gates (judge/metadata.py) judge.

GGUF: the `<arch>.*`, `tokenizer.ggml.*` and `tokenizer.chat_template` keys. SafeTensors: `config.json`
(`rope_theta` at the top, or in `rope_parameters` / `rope_scaling` as transformers 5 writes it), the token ids
of `tokenizer.json` and the chat template of `tokenizer_config.json` or `chat_template.jinja`. A value the file
does not declare is None: the engine's default applies, and the gate says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aprqa_action.records.model_file import Hyperparameters, ModelFile


def hyperparameters(model: ModelFile) -> Hyperparameters:
    return _gguf(model) if model.format == "gguf" else _safetensors(model)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ids(value: Any) -> list[int]:
    """A token id or a list of them (Llama 3's config has two eos ids)."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if _integer(v) is not None]


def _gguf(model: ModelFile) -> Hyperparameters:
    meta = model.metadata
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) and arch else None
    key = f"{arch}." if arch else "\0"  # no architecture: no `<arch>.` key can match
    tokens = meta.get("tokenizer.ggml.tokens")
    token_count = (
        _integer(tokens.get("length"))
        if isinstance(tokens, dict)
        else len(tokens)
        if isinstance(tokens, list)
        else None
    )
    embedding = next((t for t in model.tensors if t.name == "token_embd.weight"), None)
    vocab = _integer(meta.get(key + "vocab_size"))
    if vocab is None and embedding is not None and len(embedding.shape) == 2:
        vocab = embedding.shape[0]
    eps = _number(meta.get(key + "attention.layer_norm_rms_epsilon"))
    if eps is None:
        eps = _number(meta.get(key + "attention.layer_norm_epsilon"))
    template = meta.get("tokenizer.chat_template")
    names = " ".join(str(meta.get(k, "")) for k in ("general.name", "general.finetune", "general.basename"))
    return Hyperparameters(
        format="gguf",
        architecture=arch,
        rope_theta=_number(meta.get(key + "rope.freq_base")),
        rope_scaling_type=_text(meta.get(key + "rope.scaling.type")),
        rope_scaling_factor=_number(meta.get(key + "rope.scaling.factor")),
        rope_original_context=_integer(meta.get(key + "rope.scaling.original_context_length")),
        norm_epsilon=eps,
        context_length=_integer(meta.get(key + "context_length")),
        hidden_size=_integer(meta.get(key + "embedding_length")),
        heads=_integer(meta.get(key + "attention.head_count")),
        kv_heads=_integer(meta.get(key + "attention.head_count_kv")),
        head_dim=_integer(meta.get(key + "attention.key_length")),
        vocab_size=vocab,
        token_count=token_count,
        special_ids={
            name: ids
            for name in ("bos", "eos", "padding")
            if (ids := _ids(meta.get(f"tokenizer.ggml.{name}_token_id")))
        },
        chat_template=isinstance(template, str) and bool(template.strip()),
        name=names.strip(),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tokenizer_count(directory: Path) -> int | None:
    """The number of token ids tokenizer.json defines: the highest id + 1 of its vocabulary (a BPE/WordPiece
    mapping of token → id, or a Unigram list whose index is the id) and its added tokens."""
    data = _read_json(directory / "tokenizer.json")
    model = data.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        ids = [i for i in vocab.values() if _integer(i) is not None]
    else:
        ids = list(range(len(vocab))) if isinstance(vocab, list) else []
    added = data.get("added_tokens")
    ids += (
        [t["id"] for t in added if isinstance(t, dict) and _integer(t.get("id")) is not None]
        if isinstance(added, list)
        else []
    )
    ids = [i for i in ids if i >= 0]
    return max(ids) + 1 if ids else None


def _safetensors(model: ModelFile) -> Hyperparameters:
    config = model.config or {}
    directory = Path(model.config_path).parent if model.config_path else Path(model.path).parent
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope = rope if isinstance(rope, dict) else {}
    theta = _number(config.get("rope_theta"))
    theta = theta if theta is not None else _number(rope.get("rope_theta"))
    kind = _text(rope.get("rope_type", rope.get("type")))
    kind = None if kind == "default" else kind
    tokenizer_config = _read_json(directory / "tokenizer_config.json")
    template = tokenizer_config.get("chat_template")
    has_template = (isinstance(template, str | list) and bool(template)) or (
        directory / "chat_template.jinja"
    ).is_file()
    eps = _number(config.get("rms_norm_eps"))
    return Hyperparameters(
        format="safetensors",
        architecture=config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        rope_theta=theta,
        rope_scaling_type=kind,
        rope_scaling_factor=_number(rope.get("factor")) if kind is not None else None,
        rope_original_context=_integer(rope.get("original_max_position_embeddings")),
        norm_epsilon=eps if eps is not None else _number(config.get("layer_norm_eps")),
        context_length=_integer(config.get("max_position_embeddings")),
        hidden_size=_integer(config.get("hidden_size")),
        heads=_integer(config.get("num_attention_heads")),
        kv_heads=_integer(config.get("num_key_value_heads")),
        head_dim=_integer(config.get("head_dim")),
        vocab_size=_integer(config.get("vocab_size")),
        token_count=_tokenizer_count(directory),
        special_ids={
            name: ids
            for name, field in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("padding", "pad_token_id"))
            if (ids := _ids(config.get(field)))
        },
        chat_template=has_template,
        name=str(config.get("_name_or_path") or config.get("_model_name_or_path") or ""),
    )
