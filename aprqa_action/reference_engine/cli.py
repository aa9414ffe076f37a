"""The embedded reference engine: `run`, `chat` and `serve` on a GGUF or a SafeTensors model.

    python -m aprqa_action.reference_engine run MODEL -p PROMPT -n 32 --seed 1 --no-gpu --json
    echo "What is 2+2?" | python -m aprqa_action.reference_engine chat MODEL --no-gpu
    python -m aprqa_action.reference_engine serve MODEL --port 8080 --no-gpu

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
import sys
import time
from collections.abc import Callable
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


def _load(model: str, no_gpu: bool, seed: int) -> tuple[Any, float]:
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
            n_ctx=N_CTX,
            seed=seed,
            chat_format=CHAT_FORMAT,
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
