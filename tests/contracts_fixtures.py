"""Builders for the tensor-contract tests: tiny valid models (written by the field's own libraries) and the
corruptions I-2..I-5 must catch, each made in a temporary directory.

Valid files come from `safetensors.numpy.save_file` and `gguf.GGUFWriter`, so a pass means "agrees with what
the ecosystem writes"; corrupt files are those plus a byte patch, a truncation, or a hand-built header.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize
from safetensors.numpy import save_file

from aprqa_action.contracts import ModelFile, read_model
from aprqa_action.contracts.ggml_types import BY_NAME

ROOT = Path(__file__).resolve().parent.parent
SMOLLM2 = ROOT / "models" / "smollm2-135m" / "model.gguf"
GEMMA = ROOT / "models" / "gemma3-270m-base" / "model.gguf"

# A llama-shaped model small enough to write in milliseconds: head_dim 16, grouped-query attention 4/2.
TINY: dict[str, int] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 96,
}
NAN_F16 = 0x7E00  # the canonical fp16 quiet NaN
INF_F16 = 0x7C00


def llama_tensors(config: dict[str, int] = TINY, dtype: type = np.float16, seed: int = 0) -> dict[str, np.ndarray]:
    """HF llama/qwen2 tensor names and shapes for `config`, small random finite values."""
    rng = np.random.default_rng(seed)
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = hidden // heads

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(dtype)

    tensors = {
        "model.embed_tokens.weight": w(vocab, hidden),
        "model.norm.weight": w(hidden),
        "lm_head.weight": w(vocab, hidden),
    }
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        tensors |= {
            p + "input_layernorm.weight": w(hidden),
            p + "post_attention_layernorm.weight": w(hidden),
            p + "self_attn.q_proj.weight": w(heads * head_dim, hidden),
            p + "self_attn.k_proj.weight": w(kv * head_dim, hidden),
            p + "self_attn.v_proj.weight": w(kv * head_dim, hidden),
            p + "self_attn.o_proj.weight": w(hidden, heads * head_dim),
            p + "mlp.gate_proj.weight": w(inter, hidden),
            p + "mlp.up_proj.weight": w(inter, hidden),
            p + "mlp.down_proj.weight": w(hidden, inter),
        }
    return tensors


def _quantized(values: np.ndarray, kind: GGMLQuantizationType) -> np.ndarray:
    """gguf.quants where it can quantize; else random blocks with finite scales (K-quants: no Python encoder)."""
    try:
        return quantize(values, kind)
    except NotImplementedError:
        gtype = BY_NAME[kind.name]
        rows, cols = values.shape
        blocks = np.random.default_rng(rows * cols).integers(
            0, 256, (rows * cols // gtype.block_size, gtype.type_size), np.uint8
        )
        for scale in gtype.scales:  # fp16 0.01 in every scale field
            blocks[:, scale.offset : scale.offset + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
        return blocks.reshape(rows, -1)


def write_config(directory: Path, config: dict[str, int] = TINY, **extra: object) -> Path:
    path = directory / "config.json"
    path.write_text(json.dumps({"model_type": "llama", **config, **extra}))
    return path


def tiny_safetensors(directory: Path, config: dict[str, int] = TINY, dtype: type = np.float16) -> Path:
    """model.safetensors + config.json, written by the safetensors library."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.safetensors"
    save_file(llama_tensors(config, dtype), str(path), metadata={"format": "pt"})
    write_config(directory, config)
    return path


def tiny_sharded(directory: Path, config: dict[str, int] = TINY) -> Path:
    """model.safetensors.index.json naming two shards (layer 0 + embeddings, the rest)."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = llama_tensors(config)
    names = sorted(tensors)
    first = [n for n in names if "layers.0." in n or "embed" in n]
    parts = {
        "model-00001-of-00002.safetensors": first,
        "model-00002-of-00002.safetensors": [n for n in names if n not in first],
    }
    weight_map: dict[str, str] = {}
    for shard, members in parts.items():
        save_file({n: tensors[n] for n in members}, str(directory / shard))
        weight_map |= dict.fromkeys(members, shard)
    total = sum(t.nbytes for t in tensors.values())
    index = directory / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    write_config(directory, config)
    return index


def raw_safetensors(path: Path, header: Mapping[str, object], data: bytes, length: int | None = None) -> Path:
    """A hand-built SafeTensors file: 8-byte length (or `length`, to lie), JSON header, data."""
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded) if length is None else length) + encoded + data)
    return path


def data_start(path: Path) -> int:
    model = read_model(path)
    assert isinstance(model, ModelFile), model
    return model.files[-1].data_start or 0


def tensor(path: Path, name: str):  # type: ignore[no-untyped-def]
    model = read_model(path)
    assert isinstance(model, ModelFile), model
    return next(t for t in model.tensors if t.name == name)


def patch(path: Path, offset: int, data: bytes) -> bytes:
    """Overwrite bytes in place; returns the bytes that were there."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        old = handle.read(len(data))
        handle.seek(offset)
        handle.write(data)
    return old


@contextmanager
def patched(path: Path, offset: int, data: bytes) -> Iterator[Path]:
    """Patch a shared file for the duration of a test, then restore it."""
    old = patch(path, offset, data)
    try:
        yield path
    finally:
        patch(path, offset, old)


@contextmanager
def truncated(path: Path, size: int) -> Iterator[Path]:
    """Cut a shared file to `size` bytes for the duration of a test, then put the tail back."""
    with open(path, "rb") as handle:
        handle.seek(size)
        tail = handle.read()
    os.truncate(path, size)
    try:
        yield path
    finally:
        with open(path, "ab") as handle:
            handle.write(tail)


def tiny_gguf(
    path: Path,
    *,
    weight_type: GGMLQuantizationType = GGMLQuantizationType.Q8_0,
    file_type: int | None = 7,  # LlamaFileType.MOSTLY_Q8_0
    overrides: dict[str, np.ndarray] | None = None,
    metadata: dict[str, int] | None = None,
    config: dict[str, int] = TINY,
    extra: Mapping[str, np.ndarray] | None = None,
    drop: frozenset[str] = frozenset(),
    arch: str = "llama",
    retype: Mapping[str, GGMLQuantizationType] | None = None,
) -> Path:
    """A llama GGUF written by gguf.GGUFWriter: 2-D weights quantized with gguf.quants, norms F32.

    `overrides` replaces a tensor's float data (kept as F32/F16 by its dtype: a "silent fallback");
    `metadata` replaces llama.* integers (to declare dimensions the tensors do not have); `extra` adds
    tensors stored as given; `drop` leaves tensors out; `arch` names the architecture (and its keys);
    `retype` gives single tensors another quantized type.
    """
    retype = retype or {}
    writer = GGUFWriter(str(path), arch)
    hidden, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    meta = {
        "embedding_length": hidden,
        "block_count": layers,
        "attention.head_count": config["num_attention_heads"],
        "attention.head_count_kv": config["num_key_value_heads"],
        "feed_forward_length": config["intermediate_size"],
    } | (metadata or {})
    for key, value in meta.items():
        writer.add_uint32(f"{arch}.{key}", value)
    writer.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(vocab)])
    if file_type is not None:
        writer.add_file_type(file_type)
    gguf_names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "lm_head.weight": "output.weight",
        "model.norm.weight": "output_norm.weight",
    }
    layer_names = {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
    }  # fmt: skip
    for hf_name, values in llama_tensors(config, np.float32).items():
        name = gguf_names.get(hf_name)
        if name is None:
            layer, rest = hf_name.removeprefix("model.layers.").split(".", 1)
            name = f"blk.{layer}.{layer_names[rest.removesuffix('.weight')]}.weight"
        if name in drop:
            continue
        if overrides and name in overrides:
            writer.add_tensor(name, overrides[name])
        elif values.ndim == 1:
            writer.add_tensor(name, values)
        else:
            kind = retype.get(name, weight_type)
            writer.add_tensor(name, _quantized(values, kind), raw_dtype=kind)
    for name, values in (extra or {}).items():
        writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def gguf_string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def gguf_kv(key: bytes, value_type: int, payload: bytes) -> bytes:
    return gguf_string(key) + struct.pack("<I", value_type) + payload


def gguf_tensor_info(name: bytes, ne: list[int], ggml_type: int, offset: int) -> bytes:
    dims = b"".join(struct.pack("<Q", d) for d in ne)
    return gguf_string(name) + struct.pack("<I", len(ne)) + dims + struct.pack("<IQ", ggml_type, offset)


def gguf_file(
    kvs: list[bytes],
    infos: list[bytes],
    data: bytes = b"",
    *,
    version: int = 3,
    counts: tuple[int, int] | None = None,
    alignment: int = 32,
) -> bytes:
    """A GGUF byte string built field by field (counts default to the lists' lengths)."""
    tensors, entries = counts if counts is not None else (len(infos), len(kvs))
    head = b"GGUF" + struct.pack("<IQQ", version, tensors, entries) + b"".join(kvs) + b"".join(infos)
    return head + bytes(-len(head) % alignment) + data


def gguf_offset_field(path: Path, name: str) -> int:
    """Byte position of the data-offset field in `name`'s tensor info (to move a tensor by patching it)."""
    encoded = name.encode()
    with open(path, "rb") as handle:
        head = handle.read(16 * 2**20)
    at = head.index(gguf_string(encoded)) + 8 + len(encoded)
    (n_dims,) = struct.unpack_from("<I", head, at)
    return at + 4 + 8 * n_dims + 4


@pytest.fixture(scope="session", name="gemma_copy")
def gemma_copy_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the Gemma GGUF per session: tests patch or truncate it and restore it afterwards."""
    if not GEMMA.is_file():
        pytest.fail(f"{GEMMA} is missing: run `make models` (scripts/fetch_models.py) first")
    target = tmp_path_factory.mktemp("gemma") / "model.gguf"
    shutil.copyfile(GEMMA, target)
    return target


@pytest.fixture(autouse=True, name="private_cache")
def private_cache_fixture(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the sha256 cache of these tests out of the user's ~/.cache."""
    directory = tmp_path_factory.getbasetemp() / "aprqa-cache"
    monkeypatch.setenv("APRQA_CACHE_DIR", str(directory))
    return directory


def rewrite_gguf(source: Path, target: Path, changes: Mapping[str, object], arch: str | None = None) -> Path:
    """A copy of the GGUF `source` written by gguf.GGUFWriter with metadata `changes` (a value None removes the
    key) and, with `arch`, every `<arch>.*` key moved to that architecture; tensors are copied byte for byte.
    With no changes the copy is byte-identical (tests/test_metadata.py checks it)."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(source)
    old = reader.fields["general.architecture"].contents()
    arch = arch or old
    writer = GGUFWriter(str(target), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        name = arch + key[len(old) :] if key.startswith(old + ".") else key
        value = changes[name] if name in changes else field.contents()
        if value is None:
            continue
        sub_type = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, field.types[0], sub_type=sub_type)
    for tensor in reader.tensors:
        data = tensor.data
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
    return target
