"""A stand-in for `llama-server` and `vllm serve`, the server binaries the `llamacpp-server` and `openai`
profiles drive, neither of which can be installed here (no GitHub, no CUDA).

It accepts each binary's own command line and answers with llama-cpp-python's real OpenAI-compatible server on
the real model, plus the `/health` route both of them have and llama-cpp-python's server lacks. What it proves:
the profiles' command lines, version reading, readiness check and request dialect work end to end; what it
cannot prove: anything about the real binaries beyond their documented interfaces.

    llama-server --version | -m MODEL --host H --port P -ngl N
    vllm --version | serve MODEL --host H --port P --seed S
"""

from __future__ import annotations

import argparse
import os
import sys


def _serve(model: str, host: str, port: int, gpu_layers: int, seed: int) -> None:
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    app = create_app(
        server_settings=ServerSettings(host=host, port=port),
        model_settings=[ModelSettings(model=model, n_gpu_layers=gpu_layers, seed=seed, n_ctx=2048, verbose=False)],
    )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host=host, port=port, log_level="warning")


def llama_server(argv: list[str]) -> None:
    if argv == ["--version"]:
        print("version: 4242 (standin)", file=sys.stderr)  # where llama-server prints it
        return
    parser = argparse.ArgumentParser(prog="llama-server")
    parser.add_argument("-m", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-ngl", type=int, default=0)
    args = parser.parse_args(argv)
    _serve(args.m, args.host, args.port, args.ngl, 0)


def vllm(argv: list[str]) -> None:
    if argv == ["--version"]:
        print("0.0.1")
        return
    parser = argparse.ArgumentParser(prog="vllm")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    if os.environ.get("CUDA_VISIBLE_DEVICES") != "":
        sys.exit("standin vllm: a cpu cell must hide the GPU (CUDA_VISIBLE_DEVICES=)")
    _serve(args.model, args.host, args.port, 0, args.seed)


if __name__ == "__main__":
    # `standin_server.py NAME ARGS...`: tests put a NAME script on PATH that execs this.
    {"llama-server": llama_server, "vllm": vllm}[sys.argv[1]](sys.argv[2:])
