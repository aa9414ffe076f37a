"""Metadata plausibility (the seed's `apr qa` gate; COMP, F-META-*): what a model file declares about its own
architecture must be what that architecture ships with. A Qwen2 file whose rope base is 10000 instead of
1,000,000 (the seed's Bug 210) loads, answers and passes every oracle — with a model that reads positions
wrongly; only its metadata tells.

Each gate quotes the value and the expected range. A value the file does not declare is Skipped (the engine's
default applies); an APR file or a file that failed G0 has every gate Skipped with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from aprqa_action.contracts.hyperparameters import hyperparameters
from aprqa_action.judge.integrity import FileCheck
from aprqa_action.judge.items import item
from aprqa_action.playbook import MetadataPlausibility
from aprqa_action.records import EvidenceItem, Outcome
from aprqa_action.records.axes import Format
from aprqa_action.records.model_file import Hyperparameters, ModelFile

# The rope base frequency (GGUF `<arch>.rope.freq_base`, config.json `rope_theta`) each architecture's releases
# ship with, as a range. An architecture not listed gets ROPE_ANY.
ROPE_THETA: dict[str, tuple[float, float]] = {
    "qwen2": (5e5, 2e7),  # every Qwen2 / Qwen2.5 release: 1e6 (Qwen2.5-1M: 1e7); 1e4 is the seed's Bug 210
    "qwen2moe": (5e5, 2e7),
    "qwen3": (5e5, 2e7),  # 1e6
    "qwen3moe": (5e5, 2e7),
    "gemma": (5e3, 2e4),  # 1e4
    "gemma2": (5e3, 2e4),
    "gemma3": (5e5, 2e6),  # 1e6 (its sliding-window layers use 1e4, not stored in the file)
    "llama": (5e3, 2e8),  # Llama 2: 1e4, SmolLM2: 1e5, Llama 3: 5e5, Code Llama: 1e6, Mistral Small 3: 1e8
    "mistral": (5e3, 2e8),  # 1e4 (v0.1) to 1e8
    "phi3": (5e3, 1e6),  # 1e4 (Phi-3), 2.5e5 (Phi-4)
}
ROPE_ANY = (1e3, 1e8)
# Architectures whose every release has heads × head size = hidden size; elsewhere a declared head size may
# differ from hidden ÷ heads (Gemma, Qwen3, Mistral-Nemo under the llama architecture).
COUPLED_HEAD_DIM = frozenset({"qwen2", "qwen2moe", "phi3"})
# Rope scaling types that stretch the original context exactly `factor` times (llama3 and longrope do not).
STRETCHING = frozenset({"linear", "yarn"})
EPSILON = (1e-12, 1e-3)  # RMS / layer norm epsilon: 1e-5 and 1e-6 are usual; 1e-12 is BERT's
MIN_CONTEXT = 512
INSTRUCT = re.compile(r"instruct|chat|(?:^|[-_ ])it(?:$|[-_ ])", re.IGNORECASE)
GATES = (
    "F-META-ARCH",
    "F-META-ROPE-THETA",
    "F-META-NORM-EPS",
    "F-META-CONTEXT",
    "F-META-HEADS",
    "F-META-VOCAB",
    "F-META-SPECIAL-IDS",
    "F-META-CHAT-TEMPLATE",
)

Verdict = tuple[Outcome, str]


def _range(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}]"


def arch(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    key = "general.architecture" if h.format == "gguf" else "config.json model_type"
    if h.architecture is None:
        return "Falsified", f"the file declares no architecture ({key}): no engine knows how to run it"
    if spec.architecture is not None and h.architecture != spec.architecture:
        return "Falsified", f"{key} is {h.architecture!r}, the playbook expects {spec.architecture!r}"
    known = "" if h.architecture in ROPE_THETA else " (not in aprqa's table: the general ranges apply)"
    return "Corroborated", f"{key} {h.architecture!r}{known}"


def rope_theta(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    if h.rope_theta is None:
        return "Skipped", "no rope base frequency in the file (the engine's default applies)"
    low, high = ROPE_THETA.get(h.architecture or "", ROPE_ANY)
    where = f"for {h.architecture}" if h.architecture in ROPE_THETA else "for any architecture"
    if low <= h.rope_theta <= high:
        return "Corroborated", f"rope theta {h.rope_theta:g} in {_range(low, high)} {where}"
    return "Falsified", f"rope theta {h.rope_theta:g} outside {_range(low, high)} {where}"


def norm_epsilon(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    if h.norm_epsilon is None:
        return "Skipped", "no norm epsilon in the file (the engine's default applies)"
    low, high = EPSILON
    if low <= h.norm_epsilon <= high:
        return "Corroborated", f"norm epsilon {h.norm_epsilon:g} in {_range(low, high)}"
    return "Falsified", f"norm epsilon {h.norm_epsilon:g} outside {_range(low, high)}"


def context(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    if h.context_length is None:
        return "Skipped", "no context length in the file"
    if h.context_length < MIN_CONTEXT:
        return "Falsified", f"context length {h.context_length} < {MIN_CONTEXT}"
    factor, original = h.rope_scaling_factor, h.rope_original_context
    if factor is not None and not 0 < factor < math.inf:
        return "Falsified", f"rope scaling factor {factor:g} is not a positive number"
    if factor is not None and original is not None and h.rope_scaling_type in STRETCHING:
        scaled = original * factor
        if h.context_length > scaled * 1.001:
            return "Falsified", (
                f"context length {h.context_length} > {original} × {h.rope_scaling_type} rope scaling {factor:g} = "
                f"{scaled:g}: positions past the scaled window are read wrongly"
            )
        return (
            "Corroborated",
            f"context length {h.context_length} ≤ {original} × {h.rope_scaling_type} rope scaling {factor:g}",
        )
    return "Corroborated", f"context length {h.context_length} ≥ {MIN_CONTEXT}"


def heads(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    if h.heads is None or h.hidden_size is None:
        return "Skipped", "the file does not declare its attention heads and hidden size"
    if h.heads < 1 or h.hidden_size < 1:
        return "Falsified", f"{h.heads} heads, hidden size {h.hidden_size}: both must be ≥ 1"
    kv = h.kv_heads if h.kv_heads is not None else h.heads
    if kv < 1 or h.heads % kv:
        return "Falsified", f"{kv} KV heads do not divide {h.heads} attention heads"
    if h.head_dim is None:
        if h.hidden_size % h.heads:
            return "Falsified", f"{h.heads} heads do not divide hidden size {h.hidden_size} (no head size declared)"
        return (
            "Corroborated",
            f"{h.heads} heads × {h.hidden_size // h.heads} = hidden size {h.hidden_size}; {kv} KV heads",
        )
    if h.head_dim < 1:
        return "Falsified", f"head size {h.head_dim}: must be ≥ 1"
    if h.architecture not in COUPLED_HEAD_DIM:
        return "Corroborated", f"{h.heads} heads of {h.head_dim} (declared; hidden size {h.hidden_size}); {kv} KV heads"
    if h.heads * h.head_dim != h.hidden_size:
        return (
            "Falsified",
            f"{h.heads} heads × head size {h.head_dim} = {h.heads * h.head_dim} ≠ hidden {h.hidden_size}",
        )
    return "Corroborated", f"{h.heads} heads × {h.head_dim} = hidden size {h.hidden_size}; {kv} KV heads"


def vocab(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    if h.token_count is None or h.vocab_size is None:
        return "Skipped", "the file does not declare both its vocabulary size and its tokenizer's tokens"
    if h.format == "gguf" and h.token_count != h.vocab_size:
        # llama.cpp takes the vocabulary from the token list: an embedding of another size is a broken file
        return "Falsified", f"the tokenizer has {h.token_count} tokens, the embedding {h.vocab_size} rows"
    if h.token_count > h.vocab_size:
        return "Falsified", f"the tokenizer has {h.token_count} token ids, vocab_size is {h.vocab_size}"
    padded = f" (padded by {h.vocab_size - h.token_count})" if h.vocab_size > h.token_count else ""
    return "Corroborated", f"vocabulary {h.vocab_size}, tokenizer {h.token_count} tokens{padded}"


def special_ids(h: Hyperparameters, spec: MetadataPlausibility) -> Verdict:
    size = h.token_count if h.token_count is not None else h.vocab_size
    if not h.special_ids:
        return "Skipped", "the file declares no bos/eos/padding token ids"
    if size is None:
        return "Skipped", "the file does not say its vocabulary size"
    outside = [f"{name} id {i}" for name, ids in h.special_ids.items() for i in ids if not 0 <= i < size]
    if outside:
        return "Falsified", f"{', '.join(outside)} outside the vocabulary [0, {size})"
    listed = ", ".join(f"{name} {'/'.join(map(str, ids))}" for name, ids in h.special_ids.items())
    return "Corroborated", f"{listed} inside the vocabulary [0, {size})"


def chat_template(h: Hyperparameters, spec: MetadataPlausibility, hf_repo: str = "") -> Verdict:
    instruct = spec.instruct
    said = "the playbook says it is an instruct model"
    if instruct is None:
        named = next((n for n in (hf_repo, h.name) if INSTRUCT.search(n)), None)
        instruct, said = named is not None, f"{named!r} names an instruct model"
    if h.chat_template:
        return "Corroborated", "a chat template is present"
    if instruct:
        return "Falsified", f"no chat template, and {said}: its answers are formatted by guesswork"
    return "Skipped", "no chat template (a base model: nothing requires one)"


_JUDGES: dict[str, Callable[[Hyperparameters, MetadataPlausibility], Verdict]] = {
    "F-META-ARCH": arch,
    "F-META-ROPE-THETA": rope_theta,
    "F-META-NORM-EPS": norm_epsilon,
    "F-META-CONTEXT": context,
    "F-META-HEADS": heads,
    "F-META-VOCAB": vocab,
    "F-META-SPECIAL-IDS": special_ids,
}


def judge_file(h: Hyperparameters, spec: MetadataPlausibility, hf_repo: str = "") -> dict[str, Verdict]:
    verdicts = {gate: judge(h, spec) for gate, judge in _JUDGES.items()}
    verdicts["F-META-CHAT-TEMPLATE"] = chat_template(h, spec, hf_repo)
    return verdicts


def metadata_items(checks: dict[Format, FileCheck], spec: MetadataPlausibility, hf_repo: str) -> list[EvidenceItem]:
    """The F-META-* items (COMP) of every model file, judged before the run."""
    items = []
    for fmt, check in checks.items():
        if isinstance(check.model, ModelFile):
            verdicts = judge_file(hyperparameters(check.model), spec, hf_repo)
        else:
            why = "APR metadata is not read here" if check.model is None else f"the file failed G0: {check.problem}"
            verdicts = dict.fromkeys(GATES, ("Skipped", f"not judged: {why}"))
        for gate, (outcome, reason) in verdicts.items():
            items.append(item(gate, "COMP", outcome, reason, subject=fmt, cell=fmt))
    return items
