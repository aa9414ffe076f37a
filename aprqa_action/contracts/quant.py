"""I-3: the tensor types agree with the declared quantization, the way llama.cpp assigns them.

A real `q4_k_m` file is a mix: Q4_K for most weights, Q6_K (and Q5_K) where llama-quantize spends more bits,
Q5_0/Q5_1/Q8_0 for rows whose length is not a multiple of 256 (its fallbacks for Q4_K/Q5_K/Q6_K), and float
1-D norms. So each scheme is a family: the types llama.cpp may choose for a ≥2-D weight, the row fallbacks
(allowed only where the row length rules out the K-quant, or on token_embd/output, which users retype on the
command line), and the primary type at least one weight must carry. What is flagged is what a person must
hear about: a ≥2-D weight silently left F32/F16 where a quantized type was declared (unless llama.cpp never
quantizes it by name, or no block type fits its rows), a type outside the family, a `general.file_type`
that names another scheme. For SafeTensors the schemes are the float dtypes f32/f16/bf16.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gguf.constants import LlamaFileType

from aprqa_action.contracts import reasons
from aprqa_action.records.model_file import InvariantResult, ModelFile, TensorInfo

FLOATS = frozenset({"F32", "F16", "BF16", "F64"})
QK_K = 256
# llama-quantize leaves these in float whatever the scheme (llama_model_quantize_impl's exclusions).
NEVER_QUANTIZED = (
    "_norm.weight", "ffn_gate_inp.weight", "pos_embd", "position_embd", "token_types", "ssm_conv1d",
    "shortconv.conv", "ssm_a", "ssm_d", "attn_rel_b", "time_mix_first", "time_mix_w0", "time_mix_w1",
    "time_mix_w2", "time_mix_v0", "time_mix_v1", "time_mix_v2", "time_mix_a0", "time_mix_a1", "time_mix_a2",
    "time_mix_g1", "time_mix_g2", "time_mix_decay_w1", "time_mix_decay_w2", "time_mix_lerp_fused",
)  # fmt: skip
RETYPED_BY_USERS = ("token_embd.weight", "output.weight")
# llama-quantize stores attn_k and attn_v Q8_0 in every scheme when the model has exactly 8 experts (Mixtral:
# "bumping this to Q8_0 trades just ~128MB"), read from `<arch>.expert_count`.
EIGHT_EXPERT_Q8_0 = ("attn_k.weight", "attn_v.weight")


@dataclass(frozen=True)
class Scheme:
    name: str
    primary: frozenset[str]  # at least one ≥2-D weight has one of these (the type or its row fallback)
    allowed: frozenset[str]  # types llama.cpp may give any ≥2-D weight
    row_fallbacks: frozenset[str] = frozenset()  # only where ne[0] % 256 != 0 (or on token_embd/output)


def _s(name: str, primary: str, allowed: str, fallbacks: str = "") -> Scheme:
    return Scheme(name, frozenset(primary.split()), frozenset(allowed.split()), frozenset(fallbacks.split()))


_K2 = "IQ4_NL Q4_0 Q4_1 Q5_0 Q5_1 Q8_0"  # fallbacks of Q2_K/Q3_K (IQ4_NL; Q4_0 in older llama.cpp) and above
_IQ = "IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ4_NL IQ4_XS Q2_K Q3_K Q4_K Q5_K Q6_K Q4_0 Q5_0 Q5_1 Q8_0"
SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        _s("f32", "F32", "F32"),
        _s("f16", "F16", "F16"),
        _s("bf16", "BF16", "BF16"),
        _s("q8_0", "Q8_0", "Q8_0"),
        _s("q4_0", "Q4_0", "Q4_0 Q6_K Q8_0"),
        _s("q4_1", "Q4_1", "Q4_1 Q6_K Q8_0"),
        _s("q5_0", "Q5_0", "Q5_0 Q6_K Q8_0"),
        _s("q5_1", "Q5_1", "Q5_1 Q6_K Q8_0"),
        _s("q2_k", "Q2_K IQ4_NL Q4_0", "Q2_K Q3_K Q4_K Q5_K Q6_K", _K2),
        _s("q2_k_s", "Q2_K IQ4_NL Q4_0", "Q2_K Q3_K Q4_K Q5_K Q6_K", _K2),
        _s("q3_k_s", "Q3_K IQ4_NL Q4_0", "Q3_K Q4_K Q5_K Q6_K", _K2),
        _s("q3_k_m", "Q3_K IQ4_NL Q4_0", "Q3_K Q4_K Q5_K Q6_K", _K2),
        _s("q3_k_l", "Q3_K IQ4_NL Q4_0", "Q3_K Q4_K Q5_K Q6_K", _K2),
        _s("q4_k_s", "Q4_K Q5_0", "Q4_K Q5_K Q6_K", "Q5_0 Q5_1 Q8_0"),
        _s("q4_k_m", "Q4_K Q5_0", "Q4_K Q5_K Q6_K", "Q5_0 Q5_1 Q8_0"),
        _s("q5_k_s", "Q5_K Q5_1", "Q5_K Q6_K", "Q5_1 Q8_0"),
        _s("q5_k_m", "Q5_K Q5_1", "Q5_K Q6_K", "Q5_1 Q8_0"),
        _s("q6_k", "Q6_K Q8_0", "Q6_K", "Q8_0"),
        _s("iq4_nl", "IQ4_NL", "IQ4_NL Q4_K Q5_K Q6_K Q5_0 Q8_0"),
        _s("iq4_xs", "IQ4_XS IQ4_NL", "IQ4_XS IQ4_NL Q4_K Q5_K Q6_K Q5_0 Q8_0"),
        _s("iq3_xxs", "IQ3_XXS", _IQ),
        _s("iq2_xxs", "IQ2_XXS", _IQ),
        _s("iq3_s", "IQ3_S", _IQ),
        _s("iq3_m", "IQ3_S", _IQ),
        _s("iq3_xs", "IQ3_XXS IQ3_S", _IQ),
        _s("iq2_xs", "IQ2_XS", _IQ),
        _s("iq2_s", "IQ2_S IQ2_XS", _IQ),
        _s("iq2_m", "IQ2_S", _IQ),
        _s("iq1_s", "IQ1_S", _IQ),
        _s("iq1_m", "IQ1_M", _IQ),
    )
}
SAFETENSORS_SCHEMES: dict[str, Scheme] = {name: _s(name, name.upper(), name.upper()) for name in ("f32", "f16", "bf16")}
KNOWN_QUANTIZATIONS: tuple[str, ...] = tuple(SCHEMES)


def normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def file_type_scheme(model: ModelFile) -> tuple[str, str] | None:
    """(scheme, 'general.file_type N (NAME)') from GGUF metadata, when it names a known scheme."""
    raw = model.metadata.get("general.file_type")
    if not isinstance(raw, int) or isinstance(raw, bool):
        return None
    try:
        ftype = LlamaFileType(raw)
    except ValueError:
        return None
    name = ftype.name.removeprefix("MOSTLY_").removeprefix("ALL_").lower()
    return (name, f"general.file_type {raw} ({ftype.name})") if name in SCHEMES else None


def histogram(tensors: list[TensorInfo]) -> Counter[str]:
    return Counter(t.dtype for t in tensors)


def _text(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.most_common())


def _grouped(groups: dict[tuple[str, str], list[TensorInfo]], scheme: Scheme) -> list[str]:
    """One finding per (problem, type), naming the first tensors: 200 identical lines help nobody."""
    family = ", ".join(sorted(scheme.allowed | scheme.row_fallbacks))
    texts = {
        "fallback_row": f"{scheme.name}'s fallback for rows that are not a multiple of {QK_K}, though theirs are",
        "float": f"left unquantized where {scheme.name} was declared (silent fallback)",
        "float_in_float": f"where {scheme.name} was declared",
        "outside": f"outside the {scheme.name} family ({family})",
        "one_d": f"outside the {scheme.name} family ({family}) for a 1-D tensor",
    }
    findings = []
    for (problem, dtype), tensors in groups.items():
        named = ", ".join(f"{t.name} {reasons.shape(t.shape)}" for t in tensors[:3])
        more = f", …{len(tensors) - 3} more" if len(tensors) > 3 else ""
        findings.append(f"{reasons.plural(len(tensors), 'tensor')} stored {dtype}, {texts[problem]}: {named}{more}")
    return findings


def expert_count(model: ModelFile) -> int | None:
    arch = model.metadata.get("general.architecture")
    count = model.metadata.get(f"{arch}.expert_count") if isinstance(arch, str) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _judge_gguf(model: ModelFile, scheme: Scheme) -> list[str]:
    groups: dict[tuple[str, str], list[TensorInfo]] = {}
    quantized_scheme = not scheme.primary <= FLOATS
    primary_seen = False
    eight_experts = expert_count(model) == 8
    for t in model.tensors:
        row = t.shape[-1] if t.shape else 1
        fallback_ok = bool(row % QK_K) or t.name in RETYPED_BY_USERS
        problem: str | None = None
        if eight_experts and t.dtype == "Q8_0" and len(t.shape) >= 2 and t.name.endswith(EIGHT_EXPERT_Q8_0):
            continue  # llama.cpp's own choice for 8-expert models, whatever the scheme
        if len(t.shape) < 2:
            if t.dtype not in FLOATS and t.dtype not in scheme.allowed | scheme.row_fallbacks:
                problem = "one_d"
        elif t.dtype in scheme.allowed:
            primary_seen = primary_seen or t.dtype in scheme.primary
        elif t.dtype in scheme.row_fallbacks:
            primary_seen = primary_seen or (t.dtype in scheme.primary and fallback_ok)
            problem = None if fallback_ok else "fallback_row"
        elif t.dtype in FLOATS:
            if not any(part in t.name for part in NEVER_QUANTIZED):
                if not quantized_scheme:
                    problem = "float_in_float"
                elif not t.shape[-1] % 32:  # rows that fit no block stay float in llama.cpp
                    problem = "float"
        elif t.dtype not in ("I8", "I16", "I32", "I64"):
            problem = "outside"
        if problem is not None:
            groups.setdefault((problem, t.dtype), []).append(t)
    findings = _grouped(groups, scheme)
    if not primary_seen:
        findings.append(f"no ≥2-D weight has {scheme.name}'s type {' or '.join(sorted(scheme.primary))}")
    declared = file_type_scheme(model)
    if declared is not None and declared[0] != scheme.name:
        findings.insert(0, f"{declared[1]} names {declared[0]}, not {scheme.name}")
    return findings


def _judge_safetensors(model: ModelFile, scheme: Scheme) -> list[str]:
    (want,) = scheme.primary
    groups: dict[tuple[str, str], list[TensorInfo]] = {}
    for t in model.tensors:
        if t.dtype.startswith(("I", "U", "BOOL")):
            continue  # integer buffers (position ids, masks) are not weights
        if len(t.shape) < 2 and t.dtype in (want, "F32"):
            continue  # norms and biases are often kept in F32
        if t.dtype != want:
            groups.setdefault(("float_in_float", t.dtype), []).append(t)
    return _grouped(groups, scheme)


def check_quantization(model: ModelFile, quantizations: list[str]) -> InvariantResult:
    counts = histogram(model.tensors)
    metrics = {f"tensors_{name}": float(n) for name, n in counts.items()}
    if not quantizations:
        return InvariantResult(
            invariant="I-3", outcome="skip", reason=f"no quantization declared; the file holds {_text(counts)}",
            metrics=metrics,
        )  # fmt: skip
    table = SCHEMES if model.format == "gguf" else SAFETENSORS_SCHEMES
    wanted = [normalize(q) for q in quantizations]
    known = [table[q] for q in wanted if q in table]
    unknown = [q for q in wanted if q not in table]
    if not known:
        kind = "GGUF" if model.format == "gguf" else "SafeTensors"
        reason = (
            f"none of the declared quantizations ({', '.join(wanted)}) applies to a {kind} file "
            f"(known: {', '.join(table)}); the file holds {_text(counts)}"
        )
        return InvariantResult(invariant="I-3", outcome="skip", reason=reason, metrics=metrics)
    judged = {s.name: (_judge_gguf if model.format == "gguf" else _judge_safetensors)(model, s) for s in known}
    note = f" (not applicable: {', '.join(unknown)})" if unknown else ""
    passing = [name for name, findings in judged.items() if not findings]
    if passing:
        declared = file_type_scheme(model)
        agrees = f"{declared[1]} agrees; " if declared else ""
        reason = f"consistent with {passing[0]}{note}: {agrees}types {_text(counts)}"
        return InvariantResult(invariant="I-3", outcome="pass", reason=reason, metrics=metrics)
    parts = [f"{name}: {reasons.join(findings, 3)}" for name, findings in judged.items()]
    metrics["mismatches"] = float(min(len(f) for f in judged.values()))
    reason = f"types {_text(counts)} do not match the declared quantization{note} — " + " | ".join(parts)
    return InvariantResult(invariant="I-3", outcome="fail", reason=reason, metrics=metrics)


def detect(model: ModelFile) -> tuple[str | None, str | None]:
    """(quantization scheme, dominant type): general.file_type when present, else the dominant weight type."""
    by_params: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    for t in model.tensors:
        by_params[t.dtype] += t.n_elements
        if len(t.shape) >= 2 and t.name not in RETYPED_BY_USERS and "embed" not in t.name and "lm_head" not in t.name:
            weights[t.dtype] += t.n_elements
    dominant = by_params.most_common(1)[0][0] if by_params else None
    if model.format == "gguf":
        declared = file_type_scheme(model)
        if declared is not None:
            return declared[0], dominant
    main = (weights or by_params).most_common(1)
    return (main[0][0].lower() if main else None), dominant
