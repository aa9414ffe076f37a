"""I-2: tensor shapes agree with the model's declared dimensions (and with the caller's expectations).

The declared dimensions come from `config.json` beside a SafeTensors file (HF names: hidden_size,
num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size, vocab_size, head_dim) or
from GGUF metadata (`<arch>.embedding_length`, `.block_count`, `.attention.head_count[_kv]`,
`.attention.key_length/value_length`, `.feed_forward_length`, `<arch>.vocab_size` or the token list, the
precedence llama.cpp uses). Tensors are matched by the HF llama/qwen2 names and by llama.cpp's GGUF names;
expected shapes are written in row-major order, which for GGUF is the reverse of the stored `ne`, so the
reason shows both. What cannot be checked (no config, unknown names, an unknown dimension) is named in the
reason; nothing unknown is counted as a pass.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aprqa_action.contracts import reasons
from aprqa_action.records.model_file import ExpectedDims, InvariantResult, ModelFile

# Per-head q/k norms are [head_dim] in these architectures; elsewhere (OLMo2, …) they span all heads.
PER_HEAD_NORM_ARCHS = frozenset({"qwen3", "qwen3moe", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text"})
# These fuse the FFN gate into ffn_up ([2·ff, hidden]): their ffn_up is not an [ff, hidden] matrix.
FUSED_GATE_UP_ARCHS = frozenset({"phi3", "chatglm", "glm4"})
# Every layer of these has the same attention and FFN tensors, so a layer missing one is a defect.
DENSE_ARCHS = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "granite", "olmo",
     "olmo2", "stablelm", "internlm2", "starcoder2", "smollm3", "exaone", "cohere", "command-r"}
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    dims: tuple[str, ...]  # symbols resolved by Dims.value
    per_head_norm: bool = False
    ffn_up: bool = False

    def applies(self, arch: str | None) -> bool:
        if self.per_head_norm and arch not in PER_HEAD_NORM_ARCHS:
            return False
        return not (self.ffn_up and arch in FUSED_GATE_UP_ARCHS)


def _rules(spec: list[tuple[str, tuple[str, ...]]], layer: str) -> list[Rule]:
    return [
        Rule(
            re.compile("^" + p.replace("{L}", layer) + "$"),
            dims,
            per_head_norm="_norm" in p and "hd_k" in dims,
            ffn_up="up" in p and dims == ("ff", "hidden"),
        )
        for p, dims in spec
    ]


_HF_LAYER = r"model\.layers\.(\d+)\."
HF_RULES = _rules(
    [
        (r"model\.embed_tokens\.weight", ("vocab", "hidden")),
        (r"lm_head\.weight", ("vocab", "hidden")),
        (r"model\.norm\.weight", ("hidden",)),
        (r"{L}(input_layernorm|post_attention_layernorm|pre_feedforward_layernorm|post_feedforward_layernorm)"
         r"\.weight", ("hidden",)),
        (r"{L}self_attn\.q_proj\.weight", ("q_out", "hidden")),
        (r"{L}self_attn\.k_proj\.weight", ("k_out", "hidden")),
        (r"{L}self_attn\.v_proj\.weight", ("v_out", "hidden")),
        (r"{L}self_attn\.o_proj\.weight", ("hidden", "o_in")),
        (r"{L}self_attn\.q_proj\.bias", ("q_out",)),
        (r"{L}self_attn\.k_proj\.bias", ("k_out",)),
        (r"{L}self_attn\.v_proj\.bias", ("v_out",)),
        (r"{L}self_attn\.(q_norm|k_norm)\.weight", ("hd_k",)),
        (r"{L}mlp\.(gate_proj|up_proj)\.weight", ("ff", "hidden")),
        (r"{L}mlp\.down_proj\.weight", ("hidden", "ff")),
    ],
    _HF_LAYER,
)  # fmt: skip
_GGUF_LAYER = r"blk\.(\d+)\."
GGUF_RULES = _rules(
    [
        (r"token_embd\.weight", ("vocab", "hidden")),
        (r"output\.weight", ("vocab", "hidden")),
        (r"output_norm\.weight", ("hidden",)),
        (r"{L}(attn_norm|ffn_norm|post_attention_norm|post_ffw_norm)\.weight", ("hidden",)),
        (r"{L}attn_q\.weight", ("q_out", "hidden")),
        (r"{L}attn_k\.weight", ("k_out", "hidden")),
        (r"{L}attn_v\.weight", ("v_out", "hidden")),
        (r"{L}attn_output\.weight", ("hidden", "o_in")),
        (r"{L}attn_q\.bias", ("q_out",)),
        (r"{L}attn_k\.bias", ("k_out",)),
        (r"{L}attn_v\.bias", ("v_out",)),
        (r"{L}(attn_q_norm|attn_k_norm)\.weight", ("hd_k",)),
        (r"{L}(ffn_gate|ffn_up)\.weight", ("ff", "hidden")),
        (r"{L}ffn_down\.weight", ("hidden", "ff")),
    ],
    _GGUF_LAYER,
)  # fmt: skip
_LAYER = {"gguf": re.compile(r"^blk\.(\d+)\."), "safetensors": re.compile(r"^model\.layers\.(\d+)\.")}

Value = int | list[int] | None  # per-layer hyperparameters may be arrays in GGUF


@dataclass
class Dims:
    source: str
    arch: str | None = None
    values: dict[str, Value] = field(default_factory=dict)  # hidden, layers, heads, kv_heads, ff, vocab, …
    keys: dict[str, str] = field(default_factory=dict)  # symbol → where it was read, for reasons
    problems: list[str] = field(default_factory=list)

    def at(self, name: str, layer: int | None) -> int | None:
        value = self.values.get(name)
        if isinstance(value, list):
            return value[layer] if layer is not None and 0 <= layer < len(value) else None
        return value

    def value(self, symbol: str, layer: int | None) -> int | None:
        """A shape symbol's value for one layer (None: unknown)."""
        hidden, heads, kv = self.at("hidden", layer), self.at("heads", layer), self.at("kv_heads", layer)
        hd_k = self.at("head_dim_k", layer) or (hidden // heads if hidden and heads else None)
        hd_v = self.at("head_dim_v", layer) or (hidden // heads if hidden and heads else None)
        products = {
            "q_out": (heads, hd_k),
            "k_out": (kv, hd_k),
            "v_out": (kv, hd_v),
            "o_in": (heads, hd_v),
        }
        if symbol in products:
            a, b = products[symbol]
            return a * b if a and b else None
        if symbol == "hd_k":
            return hd_k
        return self.at(symbol, layer)


def _count(raw: Any) -> Value | str:
    """A positive integer (or per-layer list of them), else the text of the problem."""
    if isinstance(raw, bool):
        return f"{raw!r} is not a positive integer"
    if isinstance(raw, int) and raw > 0:
        return raw
    if isinstance(raw, list) and raw and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in raw):
        return [int(v) for v in raw]
    if isinstance(raw, dict) and "length" in raw:
        return f"is an array of {raw['length']} values, too long to keep"
    return f"{raw!r} is not a positive integer"


def _set(dims: Dims, symbol: str, raw: Any, key: str) -> None:
    if raw is None:
        return
    value = _count(raw)
    if isinstance(value, str):
        dims.problems.append(f"{key} {value}")
    else:
        dims.values[symbol] = value
        dims.keys[symbol] = key


def gguf_dims(model: ModelFile) -> Dims:
    meta = model.metadata
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        return Dims(source="GGUF metadata (no general.architecture)")
    dims = Dims(source=f"GGUF metadata ({arch}.*)", arch=arch)
    for symbol, key in (
        ("hidden", "embedding_length"),
        ("layers", "block_count"),
        ("heads", "attention.head_count"),
        ("kv_heads", "attention.head_count_kv"),
        ("head_dim_k", "attention.key_length"),
        ("head_dim_v", "attention.value_length"),
        ("ff", "feed_forward_length"),
        ("vocab", "vocab_size"),
    ):
        _set(dims, symbol, meta.get(f"{arch}.{key}"), f"{arch}.{key}")
    if "kv_heads" not in dims.values and "heads" in dims.values:
        dims.values["kv_heads"] = dims.values["heads"]  # llama.cpp's default: no grouped-query attention
        dims.keys["kv_heads"] = f"{arch}.attention.head_count (no head_count_kv)"
    tokens = meta.get("tokenizer.ggml.tokens")
    if "vocab" not in dims.values and tokens is not None:
        length = tokens.get("length") if isinstance(tokens, dict) else len(tokens) if isinstance(tokens, list) else None
        if isinstance(length, int) and length > 0:
            dims.values["vocab"] = length
            dims.keys["vocab"] = "tokenizer.ggml.tokens length"
    return dims


def hf_dims(model: ModelFile) -> Dims:
    config = model.config
    if config is None:
        return Dims(source="config.json")
    if "hidden_size" not in config and isinstance(config.get("text_config"), dict):
        config = config["text_config"]  # multimodal configs nest the language model's
    arch = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    dims = Dims(source="config.json", arch=arch)
    for symbol, key in (
        ("hidden", "hidden_size"),
        ("layers", "num_hidden_layers"),
        ("heads", "num_attention_heads"),
        ("kv_heads", "num_key_value_heads"),
        ("head_dim_k", "head_dim"),
        ("head_dim_v", "head_dim"),
        ("ff", "intermediate_size"),
        ("vocab", "vocab_size"),
    ):
        _set(dims, symbol, config.get(key), f"config.json {key}")
    if "kv_heads" not in dims.values and "heads" in dims.values:
        dims.values["kv_heads"] = dims.values["heads"]
        dims.keys["kv_heads"] = "config.json num_attention_heads (no num_key_value_heads)"
    return dims


_EXPECTED = {
    "hidden_size": "hidden",
    "num_layers": "layers",
    "num_heads": "heads",
    "num_kv_heads": "kv_heads",
    "intermediate_size": "ff",
    "vocab_size": "vocab",
}


def _apply_expected(dims: Dims, expected: ExpectedDims | None) -> list[str]:
    """Compare the caller's dimensions with the declared ones; adopt those the file does not declare."""
    if expected is None:
        return []
    findings = []
    for name, symbol in _EXPECTED.items():
        want = getattr(expected, name)
        if want is None:
            continue
        have = dims.values.get(symbol)
        if have is None:
            dims.values[symbol] = want
            dims.keys[symbol] = f"expected {name}"
        elif have != want:
            findings.append(f"expected {name} {want}, {dims.keys[symbol]} is {have}")
    return findings


def _expect_text(rule: Rule, want: list[int | None], fmt: str) -> str:
    text = "[" + ", ".join(f"{s}={w}" for s, w in zip(rule.dims, want, strict=True)) + "]"
    if fmt == "gguf" and len(want) > 1:
        text += f" (ne {reasons.shape([w or 0 for w in reversed(want)])})"
    return text


def check_shapes(model: ModelFile, expected: ExpectedDims | None = None) -> InvariantResult:
    fmt = model.format
    dims = gguf_dims(model) if fmt == "gguf" else hf_dims(model)
    if fmt == "safetensors" and model.config_error:
        dims.problems.append(f"{model.config_path}: {model.config_error}")
    findings = list(dims.problems) + _apply_expected(dims, expected)
    rules = GGUF_RULES if fmt == "gguf" else HF_RULES
    tensor_findings: list[str] = []  # reported after the file-level findings, which explain more
    checked = unknown = unmatched = 0
    seen: dict[str, set[int]] = defaultdict(set)  # per-layer tensor name with N for the layer → layers holding it
    layers_found: set[int] = set()
    for t in model.tensors:
        layer_match = _LAYER[fmt].match(t.name)
        layer = int(layer_match.group(1)) if layer_match else None
        if layer is not None:
            layers_found.add(layer)
        rule = next((r for r in rules if r.pattern.match(t.name)), None)
        if rule is None or not rule.applies(dims.arch):
            unmatched += 1
            continue
        if layer_match is not None and layer is not None:  # (the same condition, spelled for the type checker)
            template = t.name[: layer_match.start(1)] + "N" + t.name[layer_match.end(1) :]
            seen[template].add(layer)
        want = [dims.value(s, layer) for s in rule.dims]
        if any(w is None for w in want):
            unknown += 1
            continue
        checked += 1
        if tuple(want) != t.shape:
            tensor_findings.append(
                f"{t.name}: expected {_expect_text(rule, want, fmt)}, found {reasons.shape(t.shape)}"
            )
    shape_checks = checked
    layers = dims.values.get("layers")
    if isinstance(layers, int) and layers_found:
        checked += 1
        # Only the layers the file has are enumerated: a hostile block_count (2**32) must not build a huge set.
        extra = sorted(n for n in layers_found if not 0 <= n < layers)
        complete = len(layers_found) - len(extra) == layers
        if extra or not complete:
            missing = [n for n in range(min(layers, max(layers_found, default=0) + 9)) if n not in layers_found]
            parts = [f"missing {missing[:8]}" if missing else "", f"unexpected {extra[:8]}" if extra else ""]
            findings.append(
                f"{dims.keys['layers']} is {layers}, the file has {len(layers_found)} layers "
                f"({', '.join(p for p in parts if p)})"
            )
        elif dims.arch in DENSE_ARCHS:
            for template, holders in seen.items():
                if holders != layers_found:
                    absent = sorted(layers_found - holders)
                    others = reasons.plural(len(holders), "layer")
                    findings.append(f"layers {absent[:8]} lack {template}, present in the other {others}")
    findings += tensor_findings
    metrics = {
        "tensors_checked": float(checked),
        "tensors_unmatched": float(unmatched),
        "tensors_unknown_dims": float(unknown),
        "layers": float(len(layers_found)),
        "mismatches": float(len(findings)),
    }
    known = ", ".join(f"{s} {v}" for s, v in dims.values.items() if s not in ("head_dim_v",)) or "none"
    if findings:
        reason = f"{reasons.plural(len(findings), 'shape problem')} against {dims.source}: {reasons.join(findings)}"
        return InvariantResult(invariant="I-2", outcome="fail", reason=reason, metrics=metrics)
    if not dims.values:
        what = "no config.json beside the file" if fmt == "safetensors" else dims.source
        reason = f"nothing to compare shapes with: {what} and no expected dimensions given"
        return InvariantResult(invariant="I-2", outcome="skip", reason=reason, metrics=metrics)
    if checked == 0:
        naming = "llama.cpp's GGUF" if fmt == "gguf" else "the HF llama/qwen2"
        reason = (
            f"no tensor follows {naming} naming with known dimensions ({known}): "
            f"{unmatched} tensors unmatched, {unknown} with unknown dimensions"
        )
        return InvariantResult(invariant="I-2", outcome="skip", reason=reason, metrics=metrics)
    unchecked = [
        f"{unmatched} tensors with other names" if unmatched else "",
        f"{unknown} needing undeclared dimensions" if unknown else "",
    ]
    rest = "; not checked: " + ", ".join(u for u in unchecked if u) if unmatched or unknown else ""
    counted = f" and the layer count ({len(layers_found)})" if layers_found and isinstance(layers, int) else ""
    reason = f"{shape_checks} tensor shapes{counted} agree with {dims.source}: {known}{rest}"
    return InvariantResult(invariant="I-2", outcome="pass", reason=reason, metrics=metrics)
