"""The reference engine on SafeTensors: transformers (PyTorch), chosen by `reference.py` for such a model.

A SafeTensors model is a Hugging Face model directory: `config.json`, the tokenizer files and the weights in
`*.safetensors` (one file, or shards named by a `*.safetensors.index.json`). The engine accepts the directory,
its weights file or its index. It behaves as the GGUF path does, so that one model in two formats is judged
by the same measure:

- greedy decoding at temperature 0; above it, llama-cpp-python's default sampler settings (top_k 40,
  top_p 0.95, min_p 0.05), seeded per generation with the request's seed;
- the tokenizer's chat template, or ChatML for a base model without one, stopping only on the model's
  end-of-generation token(s) as llama.cpp does;
- the same statistics: tokens counted exactly (the generated token ids that make up the text, not the end
  token), time to first token measured where generate() hands over the first new token, and tok/s over the
  time after it;
- llama-cpp-python's thread policy (half the logical CPUs): PyTorch's default of every CPU makes its worker
  threads spin against each other whenever another process holds a core, ten times slower on 2 cores.

Nothing here touches the network: transformers runs with HF_HUB_OFFLINE and local files only, and weights
are only ever read from SafeTensors (`use_safetensors=True`), never from pickles.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ENGINE = "transformers"
N_CTX = 2048  # the context the GGUF path gives llama.cpp; bounds an unlimited (≤ 0) max_tokens the same way
# llama-cpp-python's create_chat_completion defaults, so that sampling above temperature 0 matches the GGUF path.
SAMPLER = {"top_k": 40, "top_p": 0.95, "min_p": 0.05}
INDEX_SUFFIX = ".safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
_SHARD = re.compile(r"-\d{5}-of-\d{5}\.safetensors$")

OnPiece = Callable[[str], None]


class EngineError(Exception):
    """A failure to report as one clear line (`reference: error: …`) and exit with `code`, not a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def is_transformers_model(model: str) -> bool:
    """Whether `model` names a SafeTensors model (by its name; it may not exist yet): a `.safetensors`
    file, an index, or a directory. Everything else (a `.gguf` file above all) is llama-cpp-python's."""
    name = model.lower()
    return name.endswith((".safetensors", INDEX_SUFFIX)) or Path(model).is_dir()


def _distribution(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version() -> str:
    """`5.24.0 (torch 2.13.0+cpu)`, read from the installed distributions without importing them (fast)."""
    return f"{_distribution('transformers')} (torch {_distribution('torch')})"


def versions() -> str:
    """`transformers 5.24.0, torch 2.13.0+cpu`, for `--version`."""
    return f"transformers {_distribution('transformers')}, torch {_distribution('torch')}"


@dataclass(frozen=True)
class ModelFiles:
    """Where a SafeTensors model's parts are. `weights` is None when the directory's own canonical weights
    (model.safetensors or its index) are meant: transformers then finds them itself."""

    directory: Path
    weights: list[Path] | None


def locate(model: str) -> ModelFiles:
    """Check the layout before loading anything, so that a wrong path is one clear sentence."""
    path = Path(model)
    if not path.exists():
        raise EngineError(f"model file not found: {model}")
    if path.is_dir():
        has_weights = any(path.glob("*.safetensors")) or any(path.glob("*" + INDEX_SUFFIX))
        if not has_weights:
            gguf = sorted(p.name for p in path.glob("*.gguf"))
            hint = f"; for GGUF give the file itself ({path / gguf[0]})" if gguf else ""
            raise EngineError(f"{model} is a directory without SafeTensors weights (*.safetensors){hint}")
        files = ModelFiles(path, None)
    elif path.name.lower().endswith(INDEX_SUFFIX):
        files = ModelFiles(path.parent, None if path.name == "model" + INDEX_SUFFIX else _indexed_shards(path))
    elif _SHARD.search(path.name):
        raise EngineError(f"{model} is one shard of a sharded model; give its index (*{INDEX_SUFFIX}) or its directory")
    else:
        files = ModelFiles(path.parent, None if path.name == "model.safetensors" else [path])
    directory = files.directory
    if not (directory / "config.json").is_file():
        raise EngineError(
            f"{model}: no config.json in {directory} (a SafeTensors model needs its config.json and tokenizer "
            "files beside the weights)"
        )
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise EngineError(f"{model}: no tokenizer in {directory} (looked for {', '.join(TOKENIZER_FILES)})")
    return files


def _indexed_shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EngineError(f"{index} is not a SafeTensors index (no readable weight_map): {exc}") from None
    missing = [n for n in names if not (index.parent / n).is_file()]
    if missing:
        raise EngineError(f"{index} names shard(s) that are not there: {', '.join(missing)}")
    return [index.parent / n for n in names]


@dataclass
class Loaded:
    """A loaded model with what generation needs; without a chat template, prompts are written in ChatML."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    has_chat_template: bool
    stop_ids: frozenset[int]
    pad_id: int | None
    name: str = ""
    used_gpu: bool = False


def _import_torch_transformers() -> None:
    """Configure the libraries before their first import: offline, quiet, and the thread policy."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import torch
        import transformers  # noqa: F401 - imported here so that a missing extra is one clear error
    except ImportError as exc:
        raise EngineError(
            f"SafeTensors needs transformers and torch ({exc}); install them: pip install torch==2.13.0 "
            "transformers accelerate",
            3,
        ) from None
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))


def _device(no_gpu: bool) -> torch.device:
    import torch

    if no_gpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise EngineError(
            f"gpu backend requested, but torch {torch.__version__} sees no CUDA device "
            "(torch.cuda.is_available() is false); pass --no-gpu",
            2,
        )
    return torch.device("cuda")


def load(model: str, no_gpu: bool, seed: int) -> tuple[Loaded, float]:
    """Load the model and tokenizer onto the chosen device; the milliseconds exclude importing the libraries,
    as the GGUF path's exclude importing llama_cpp."""
    files = locate(model)
    _import_torch_transformers()
    device = _device(no_gpu)
    import torch
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    torch.manual_seed(seed)
    # CPU: float32, exact for bf16/f16 weights and the dtype PyTorch's CPU kernels are fastest in.
    # GPU: the checkpoint's own dtype.
    dtype: Any = torch.float32 if device.type == "cpu" else "auto"
    started = time.perf_counter()
    try:
        config = AutoConfig.from_pretrained(files.directory, local_files_only=True)
        model_class = MODEL_FOR_CAUSAL_LM_MAPPING.get(type(config), None)
        if model_class is None:
            raise EngineError(f"{model}: {type(config).__name__} ({config.model_type}) is not a causal language model")
        if files.weights is None:
            net, info = model_class.from_pretrained(
                files.directory,
                dtype=dtype,
                local_files_only=True,
                use_safetensors=True,
                output_loading_info=True,
            )
        else:
            # Weights under another name than the directory's canonical one: read exactly the named file(s).
            from safetensors.torch import load_file

            state: dict[str, torch.Tensor] = {}
            for path in files.weights:
                state.update(load_file(str(path)))
            net, info = model_class.from_pretrained(
                None, config=config, state_dict=state, dtype=dtype, output_loading_info=True
            )
        tokenizer = AutoTokenizer.from_pretrained(files.directory, local_files_only=True)
    except EngineError:
        raise
    except Exception as exc:  # transformers/safetensors raise OSError, ValueError, SafetensorError, …
        raise EngineError(f"failed to load model {model}: {type(exc).__name__}: {_first_line(exc)}") from None
    missing = sorted(info.get("missing_keys") or [])
    mismatched = info.get("mismatched_keys") or []
    if missing or mismatched:
        # transformers would initialize these at random and answer anyway: never qualify such a model.
        what = f"{len(missing)} weight(s) missing (e.g. {', '.join(missing[:3])})" if missing else ""
        what += ("; " if what else "") + (f"{len(mismatched)} with the wrong shape" if mismatched else "")
        raise EngineError(f"failed to load model {model}: {what}")
    net.to(device)
    net.eval()
    stop = _stop_ids(net, tokenizer)
    pad = net.generation_config.pad_token_id
    if isinstance(pad, list):
        pad = pad[0] if pad else None
    loaded = Loaded(
        model=net,
        tokenizer=tokenizer,
        device=device,
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        stop_ids=stop,
        pad_id=pad if pad is not None else (min(stop) if stop else None),
        name=model,
        used_gpu=device.type == "cuda",
    )
    return loaded, (time.perf_counter() - started) * 1000


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def _stop_ids(net: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """The end-of-generation tokens: the generation config's (one id or several) and the tokenizer's."""
    ids: set[int] = set()
    configured = net.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, list):
        ids.update(i for i in configured if isinstance(i, int))
    if isinstance(tokenizer.eos_token_id, int):
        ids.add(tokenizer.eos_token_id)
    return frozenset(ids)


def chatml(messages: list[dict[str, str]]) -> str:
    """ChatML, for a model without a chat template: the same prompt the GGUF path gives such a model."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


@dataclass
class Generation:
    """One completion with the measurements `run --json`, the `[stats]` line and the server report."""

    text: str
    tokens: int
    prompt_tokens: int
    finish_reason: str  # "stop" (end token) or "length" (max_tokens reached)
    ttft_ms: float
    inference_ms: float
    tok_per_sec: float

    def stats(self) -> dict[str, Any]:
        """The fields the GGUF path's generation reports, under the same names."""
        return {
            "text": self.text,
            "tokens_generated": self.tokens,
            "tok_per_sec": self.tok_per_sec,
            "ttft_ms": self.ttft_ms,
            "inference_time_ms": self.inference_ms,
        }


class _Collector:
    """A generate() streamer: receives the prompt, then each new token the moment it exists, in this thread.

    It records when the first new token arrived, keeps the ids that make up the answer (not the end token)
    and hands each newly decodable piece of text to `on_piece` (the server's SSE writer). Text that ends in
    an incomplete UTF-8 sequence (U+FFFD) is held back until the next token completes it; one that no token
    completed (max_tokens cut a character in two) is dropped, as llama.cpp drops it.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stop_ids: frozenset[int], on_piece: OnPiece | None):
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.on_piece = on_piece
        self.ids: list[int] = []
        self.first_at: float | None = None
        self.stopped = False
        self._prompt_seen = False
        self._emitted = 0

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.first_at = self.first_at or time.perf_counter()
        for token in value.reshape(-1).tolist():
            if token in self.stop_ids:
                self.stopped = True
                continue
            self.ids.append(int(token))
        self._flush()

    def end(self) -> None:
        self._flush()

    def text(self) -> str:
        return str(self.tokenizer.decode(self.ids, skip_special_tokens=True)).rstrip("\ufffd")

    def _flush(self) -> None:
        if self.on_piece is None:
            return
        text = self.text()
        piece = text[self._emitted :]
        self._emitted = len(text)
        if piece:
            self.on_piece(piece)


def prompt_inputs(loaded: Loaded, messages: list[dict[str, str]]) -> Any:
    """The tokenized prompt; EngineError when it does not fit the context window (llama.cpp refuses such a
    prompt too: the same window for both formats)."""
    tokenizer = loaded.tokenizer
    if loaded.has_chat_template:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template writes its own BOS where the model wants one; adding another would change the prompt.
        inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    else:
        inputs = tokenizer(chatml(messages), add_special_tokens=True, return_tensors="pt")
    prompt_tokens = int(inputs["input_ids"].shape[1])
    if prompt_tokens >= N_CTX:
        raise EngineError(f"the prompt has {prompt_tokens} tokens; the context window is {N_CTX}")
    return inputs.to(loaded.device)


def generate(
    loaded: Loaded,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    seed: int | None,
    on_piece: OnPiece | None = None,
    sampler: Mapping[str, int | float] | None = None,
) -> Generation:
    """One chat completion. `on_piece` receives the text as it is generated (for streaming); `sampler`: top_k,
    top_p and repeat_penalty given by the caller, in llama-cpp-python's names."""
    import torch
    from transformers import GenerationConfig

    started = time.perf_counter()
    inputs = prompt_inputs(loaded, messages)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    room = N_CTX - prompt_tokens
    limit = min(max_tokens, room) if max_tokens > 0 else room
    sampling = temperature > 0
    given = dict(sampler or {})
    penalty = float(given.pop("repeat_penalty", 1.0))  # llama-cpp-python's default repeat_penalty
    # Every choice that shapes the output is set here: generate() fills what is left unset from the model's own
    # generation_config.json (a num_beams or repetition_penalty there would change what is being measured).
    config = GenerationConfig(
        max_new_tokens=limit,
        do_sample=sampling,
        num_beams=1,
        repetition_penalty=penalty,
        eos_token_id=sorted(loaded.stop_ids) or None,
        pad_token_id=loaded.pad_id,
        **({"temperature": temperature, **SAMPLER, **given} if sampling else {}),
    )
    if seed is not None:
        torch.manual_seed(seed)
    collector = _Collector(loaded.tokenizer, loaded.stop_ids, on_piece)
    with torch.inference_mode():
        loaded.model.generate(**inputs, generation_config=config, streamer=collector)
    ended = time.perf_counter()
    tokens = len(collector.ids)
    first = collector.first_at or ended
    gen_s = ended - first
    return Generation(
        text=collector.text(),
        tokens=tokens,
        prompt_tokens=prompt_tokens,
        finish_reason="stop" if collector.stopped or tokens < limit else "length",
        ttft_ms=round((first - started) * 1000, 3),
        inference_ms=round((ended - started) * 1000, 3),
        tok_per_sec=round(tokens / gen_s, 3) if tokens and gen_s > 0 else 0.0,
    )


def generate_stats(
    loaded: Loaded,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    seed: int,
    sampler: Mapping[str, int | float] | None = None,
) -> dict[str, Any]:
    """`generate` in the shape the dispatcher's run and chat share with the GGUF path."""
    return generate(loaded, messages, max_tokens, temperature, seed, sampler=sampler).stats()


# -- perplexity (`perplexity` subcommand; the windows and the arithmetic are the dispatcher's) --------------------


def tokenize_text(loaded: Loaded, text: str) -> list[int]:
    """The text's token ids with the special tokens the tokenizer adds by itself (a BOS where the model wants
    one), as llama.cpp adds the GGUF's: both formats then score the same sequence."""
    return [int(i) for i in loaded.tokenizer(text, add_special_tokens=True)["input_ids"]]


def token_logprobs(loaded: Loaded, ids: list[int]) -> list[float]:
    """The natural-log probability of each token after the first, given all the tokens before it in `ids` (one
    window): one forward pass, the log-softmax taken in float64 as the GGUF path takes it."""
    import torch

    with torch.no_grad():
        tokens = torch.tensor([ids], device=loaded.device)
        logits = loaded.model(input_ids=tokens, use_cache=False).logits[0, :-1].to(torch.float64)
        target = logits.gather(1, tokens[0, 1:].unsqueeze(1)).squeeze(1)  # row i predicts token i + 1
        return (target - torch.logsumexp(logits, dim=-1)).cpu().tolist()
