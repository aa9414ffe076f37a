"""The embedded reference engine: `run`, `chat` and `serve` on a GGUF or a SafeTensors model.

    python -m aprqa_action.reference_engine run MODEL -p PROMPT -n 32 --seed 1 --no-gpu --json
    echo "What is 2+2?" | python -m aprqa_action.reference_engine chat MODEL --no-gpu
    python -m aprqa_action.reference_engine serve MODEL --port 8080 --no-gpu
    python -m aprqa_action.reference_engine perplexity MODEL [--text FILE] [--ctx N] --no-gpu --json

The model path picks the inference library: a `.gguf` file runs on llama-cpp-python (this module); a
SafeTensors model — a `.safetensors` file, a `*.safetensors.index.json` or a model directory with its
config.json and tokenizer — runs on transformers (`hf`, served by `openai_server`).
Both are driven by the same CLI and report the same JSON fields and `[stats]` line, so one model in two
formats is measured the same way.

Like `apr`, the GPU is used unless `--no-gpu` is given; asking for it where there is none is an error.
`chat` writes each reply on stdout and a `[stats] tokens=N tok/s=X ttft_ms=T` line on stderr.

Prompts are formatted with the model's own chat template. A model without one (a base model) gets ChatML
and stops only on its end-of-generation token, as llama.cpp itself does; llama-cpp-python's own fallback
("llama-2") would hide such a model's behaviour behind an empty answer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aprqa_action import __version__
from aprqa_action.plan.backends import probe
from aprqa_action.records.axes import Backend
from aprqa_action.reference_engine import hf as reference_hf
from aprqa_action.reference_engine import openai_server

N_CTX = 2048
CHAT_FORMAT = "aprqa-auto"


def _register_chat_format() -> None:
    from llama_cpp import llama_chat_format as formats

    @formats.register_chat_format("aprqa-chatml-fallback")
    def chatml(messages: list[dict[str, Any]], **kwargs: Any) -> formats.ChatFormatterResponse:
        turns = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
        return formats.ChatFormatterResponse(prompt=turns + "<|im_start|>assistant\n")

    fallback = formats.get_chat_completion_handler("aprqa-chatml-fallback")

    def auto(*, llama: Any, **kwargs: Any) -> Any:
        own = llama._chat_handlers.get("chat_template.default")  # built from the GGUF's template, if any
        return (own or fallback)(llama=llama, **kwargs)

    formats.LlamaChatCompletionHandlerRegistry().register_chat_completion_handler(CHAT_FORMAT, auto)


def _llama_version() -> str:
    try:
        import llama_cpp
    except ImportError:
        return "not installed"
    return str(getattr(llama_cpp, "__version__", "unknown"))


def _fail(message: str, code: int = 1) -> None:
    print(f"reference: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _gpu_layers(no_gpu: bool) -> int:
    if no_gpu:
        return 0
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        _fail("gpu backend requested, but this llama-cpp-python build has no GPU offload; pass --no-gpu", 2)
    gpu = probe(Backend.GPU)
    if not gpu.available:
        _fail(f"gpu backend requested, but {gpu.reason}; pass --no-gpu", 2)
    return -1


def _load(model: str, no_gpu: bool, seed: int, *, n_ctx: int = N_CTX, logits_all: bool = False) -> tuple[Any, float]:
    if not Path(model).is_file():
        _fail(f"model file not found: {model}")
    layers = _gpu_layers(no_gpu)
    from llama_cpp import Llama

    _register_chat_format()
    started = time.perf_counter()
    try:
        llm = Llama(
            model_path=model,
            n_gpu_layers=layers,
            n_ctx=n_ctx,
            seed=seed,
            chat_format=CHAT_FORMAT,
            logits_all=logits_all,
            verbose=False,
        )
    except Exception as exc:  # llama-cpp-python raises ValueError/RuntimeError on a bad file
        _fail(f"failed to load model {model}: {exc}")
    return llm, (time.perf_counter() - started) * 1000


def _generate(
    llm: Any,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    seed: int,
    sampler: dict[str, int | float] | None = None,
) -> dict:
    """One chat completion, streamed so that time to first token is measured. `sampler`: top_k, top_p,
    repeat_penalty as given (else llama-cpp-python's defaults)."""
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    tokens = 0
    completion = llm.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stream=True, **(sampler or {})
    )
    for chunk in _refusing(completion):
        delta = chunk["choices"][0].get("delta", {})
        content = delta.get("content")
        if content:
            if first is None:
                first = time.perf_counter()
            pieces.append(content)
            tokens += 1  # llama-cpp-python streams one chunk per generated token
    ended = time.perf_counter()
    gen_s = ended - (first or started)
    return {
        "text": "".join(pieces),
        "tokens_generated": tokens,
        "tok_per_sec": round(tokens / gen_s, 3) if tokens and gen_s > 0 else 0.0,
        "ttft_ms": round(((first or ended) - started) * 1000, 3),
        "inference_time_ms": round((ended - started) * 1000, 3),
    }


def _refusing(chunks: Any) -> Any:
    """llama-cpp-python's chunks; a prompt over the context window (its ValueError) is a refusal, said in one
    line, not a traceback."""
    try:
        yield from chunks
    except ValueError as exc:
        _fail(str(exc))


def _serve_gguf(args: argparse.Namespace) -> int:
    """llama-cpp-python's own OpenAI-compatible server, in this process."""
    if not Path(args.model).is_file():
        _fail(f"model file not found: {args.model}")
    layers = _gpu_layers(args.no_gpu)
    from llama_cpp.server.__main__ import main as server_main

    _register_chat_format()  # in this process, so the server can use it
    sys.argv = [
        "llama_cpp.server",
        "--model",
        args.model,
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--n_gpu_layers",
        str(layers),
        "--n_ctx",
        str(N_CTX),
        "--chat_format",
        CHAT_FORMAT,
    ]
    server_main()
    return 0


@dataclass(frozen=True)
class Runtime:
    """What run, chat and serve need from an inference library. `generate` returns the fields of
    `run --json` that describe one completion (text, tokens_generated, tok_per_sec, ttft_ms,
    inference_time_ms)."""

    engine: str
    version: Callable[[], str]
    load: Callable[[str, bool, int], tuple[Any, float]]
    generate: Callable[..., dict[str, Any]]  # (model, messages, max_tokens, temperature, seed, sampler)
    serve: Callable[[argparse.Namespace], int]


LLAMA_CPP = Runtime("llama-cpp-python", _llama_version, _load, _generate, _serve_gguf)
TRANSFORMERS = Runtime(
    reference_hf.ENGINE, reference_hf.version, reference_hf.load, reference_hf.generate_stats, openai_server.serve
)


def runtime_for(model: str) -> Runtime:
    """The library for a model path: SafeTensors (file, index or directory) → transformers, else GGUF."""
    return TRANSFORMERS if reference_hf.is_transformers_model(model) else LLAMA_CPP


def _sampler(args: argparse.Namespace) -> dict[str, float]:
    given = {"top_k": args.top_k, "top_p": args.top_p, "repeat_penalty": args.repeat_penalty}
    return {key: value for key, value in given.items() if value is not None}


def cmd_run(args: argparse.Namespace) -> int:
    runtime = runtime_for(args.model)
    llm, load_ms = runtime.load(args.model, args.no_gpu, args.seed)
    messages = [{"role": "user", "content": args.prompt}]
    result = runtime.generate(llm, messages, args.max_tokens, args.temperature, args.seed, _sampler(args))
    if args.json:
        payload = {
            "model": args.model,
            **result,
            "max_tokens": args.max_tokens,
            "load_time_ms": round(load_ms, 3),
            "used_gpu": not args.no_gpu,
            "engine": runtime.engine,
            "engine_version": runtime.version(),
        }
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(result["text"])
        print(f"[stats] tokens={result['tokens_generated']} tok/s={result['tok_per_sec']}", file=sys.stderr)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    runtime = runtime_for(args.model)
    llm, load_ms = runtime.load(args.model, args.no_gpu, args.seed)
    print(
        f"reference chat: {args.model} loaded in {load_ms:.0f} ms; /quit to leave, /clear to forget",
        file=sys.stderr,
    )
    history: list[dict[str, str]] = []
    for line in sys.stdin:
        prompt = line.strip()
        if not prompt:
            continue
        if prompt == "/quit":
            break
        if prompt == "/clear":
            history.clear()
            continue
        history.append({"role": "user", "content": prompt})
        result = runtime.generate(llm, history, args.max_tokens, args.temperature, args.seed, _sampler(args))
        history.append({"role": "assistant", "content": result["text"]})
        print(result["text"], flush=True)
        print(
            f"[stats] tokens={result['tokens_generated']} tok/s={result['tok_per_sec']} "
            f"ttft_ms={result['ttft_ms']} inference_ms={result['inference_time_ms']} load_ms={load_ms:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return runtime_for(args.model).serve(args)


# -- perplexity ---------------------------------------------------------------------------------------------------
# How much a quantization cost: exp of the mean negative log-likelihood of a fixed text, every token after the
# first given all the ones before it. Each format is scored with its own library and tokenizer, the text
# tokenized once; a text longer than --ctx is cut into non-overlapping windows, each scored from its own start.


@dataclass(frozen=True)
class Perplexity:
    perplexity: float
    nll: float  # mean negative log-likelihood per scored token, in nats
    tokens: int  # tokens scored


def perplexity_of(logprobs: Iterable[float]) -> Perplexity:
    """The perplexity of tokens given their natural-log probabilities."""
    values = [float(v) for v in logprobs]
    if not values:
        raise ValueError("no tokens to score")
    if not all(v <= 0.0 for v in values):  # also catches NaN: a log-probability is never above 0
        raise ValueError("a log-probability must be a number ≤ 0")
    nll = -math.fsum(values) / len(values)  # fsum: hundreds of terms, no drift
    try:
        value = math.exp(nll)
    except OverflowError:
        value = math.inf
    return Perplexity(value, nll, len(values))


def windows(n_tokens: int, ctx: int) -> list[tuple[int, int]]:
    """The [start, end) spans of non-overlapping windows of at most `ctx` tokens; a last window of one token has
    nothing to score (its token has no context) and is left out."""
    spans = [(start, min(start + ctx, n_tokens)) for start in range(0, n_tokens, ctx)]
    return [(start, end) for start, end in spans if end - start >= 2]


def _gguf_tokenize(llm: Any, text: str) -> list[int]:
    # add_bos=True adds a BOS only where the GGUF's tokenizer says the model wants one
    return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))


def _gguf_logprobs(llm: Any, ids: list[int]) -> list[float]:
    """One window's token log-probabilities from llama.cpp's logits (kept for every position: logits_all)."""
    import numpy as np

    llm.reset()
    try:
        llm.eval(ids)
    except Exception as exc:  # llama.cpp's decode failures surface as RuntimeError/ValueError
        _fail(f"evaluation failed: {exc}")
    logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)  # row i predicts token i + 1
    top = logits.max(axis=1)
    log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))  # log-sum-exp, shifted: no overflow
    return (logits[np.arange(len(ids) - 1), ids[1:]] - log_norm).tolist()


def _gguf_scoring_load(model: str, no_gpu: bool, ctx: int) -> tuple[Any, float]:
    return _load(model, no_gpu, 0, n_ctx=ctx, logits_all=True)


def _hf_scoring_load(model: str, no_gpu: bool, ctx: int) -> tuple[Any, float]:
    return reference_hf.load(model, no_gpu, 0)


@dataclass(frozen=True)
class Scorer:
    """What `perplexity` needs from an inference library: load (model, no_gpu, ctx), tokenize, and one window's
    token log-probabilities."""

    load: Callable[[str, bool, int], tuple[Any, float]]
    tokenize: Callable[[Any, str], list[int]]
    logprobs: Callable[[Any, list[int]], list[float]]


SCORERS = {
    LLAMA_CPP.engine: Scorer(_gguf_scoring_load, _gguf_tokenize, _gguf_logprobs),
    TRANSFORMERS.engine: Scorer(_hf_scoring_load, reference_hf.tokenize_text, reference_hf.token_logprobs),
}


def _read_text(path: str | None) -> tuple[str, str]:
    """(its name, the text): the given file, else the text shipped with aprqa."""
    if path is None:
        from importlib import resources

        name = "aprqa_action/data/perplexity.txt"
        try:
            shipped = resources.files("aprqa_action").joinpath("data").joinpath("perplexity.txt")
            return name, shipped.read_text(encoding="utf-8")
        except OSError:  # an installation built without its package data
            _fail(f"the shipped text {name} is missing from this installation; pass --text FILE")
    if not Path(path).is_file():
        _fail(f"text file not found: {path}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _fail(f"{path} is not UTF-8 text")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    if not text.strip():
        _fail(f"{path} is empty: there is nothing to score")
    return path, text


def cmd_perplexity(args: argparse.Namespace) -> int:
    if args.ctx < 2:
        _fail(f"--ctx must be at least 2 (one token of context, one to score), not {args.ctx}", 2)
    name, text = _read_text(args.text)  # before loading: a bad text costs no model load
    runtime = runtime_for(args.model)
    scorer = SCORERS[runtime.engine]
    llm, load_ms = scorer.load(args.model, args.no_gpu, args.ctx)
    started = time.perf_counter()
    ids = scorer.tokenize(llm, text)
    if len(ids) < 2:
        _fail(f"{name} is {len(ids)} token(s) long; perplexity needs at least 2")
    spans = windows(len(ids), args.ctx)
    logprobs: list[float] = []
    for start, end in spans:
        logprobs.extend(scorer.logprobs(llm, ids[start:end]))
    elapsed_ms = (time.perf_counter() - started) * 1000
    result = perplexity_of(logprobs)
    if args.json:
        payload = {
            "model": args.model,
            "text": name,
            "perplexity": result.perplexity,
            "nll": result.nll,
            "tokens": result.tokens,
            "windows": len(spans),
            "ctx": args.ctx,
            "load_time_ms": round(load_ms, 3),
            "inference_time_ms": round(elapsed_ms, 3),
            "used_gpu": not args.no_gpu,
            "engine": f"{runtime.engine} {runtime.version()}",
        }
        print(json.dumps(payload))
    else:
        print(
            f"perplexity {result.perplexity:.4f} (nll {result.nll:.4f} nats) over {result.tokens} tokens "
            f"in {len(spans)} window(s) of ≤ {args.ctx}; {elapsed_ms:.0f} ms"
        )
    return 0


class _Version(argparse.Action):
    """--version on one line: argparse's own action wraps at 80 columns, and the harness keeps the first line."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"aprqa-reference {__version__} (llama-cpp-python {_llama_version()}; {reference_hf.versions()})")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aprqa_action.reference_engine",
        description="The reference engine: llama-cpp-python on a GGUF file, transformers on a SafeTensors model.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the versions and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "model",
            help="a GGUF file, or a SafeTensors model: *.safetensors, *.safetensors.index.json or its directory",
        )
        p.add_argument("--no-gpu", "--cpu", dest="no_gpu", action="store_true", help="run on the CPU")

    def sampling(p: argparse.ArgumentParser, temperature: float) -> None:
        p.add_argument("-n", "--max-tokens", type=int, default=32)
        p.add_argument("--temperature", type=float, default=temperature)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--top-k", type=int, default=None)
        p.add_argument("--top-p", type=float, default=None)
        p.add_argument("--repeat-penalty", type=float, default=None)

    run = sub.add_parser("run", help="one prompt, one answer")
    common(run)
    run.add_argument("-p", "--prompt", required=True)
    sampling(run, 0.0)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser("chat", help="prompts on stdin, one per line; replies on stdout")
    common(chat)
    sampling(chat, 0.7)
    chat.set_defaults(func=cmd_chat)

    serve = sub.add_parser("serve", help="an OpenAI-compatible server (llama-cpp-python's for GGUF)")
    common(serve)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)

    perplexity = sub.add_parser("perplexity", help="the model's perplexity on a text (quantization damage)")
    common(perplexity)
    perplexity.add_argument("--text", default=None, help="a UTF-8 text file (default: the text shipped with aprqa)")
    perplexity.add_argument(
        "--ctx", type=int, default=N_CTX, help=f"window length in tokens; a longer text is cut (default {N_CTX})"
    )
    perplexity.add_argument("--json", action="store_true", help="print one JSON object")
    perplexity.set_defaults(func=cmd_perplexity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except reference_hf.EngineError as exc:  # the SafeTensors path reports its failures this way
        _fail(str(exc), exc.code)
        return exc.code  # not reached: _fail exits


if __name__ == "__main__":
    raise SystemExit(main())
