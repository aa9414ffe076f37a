"""The independent reference engines for parity, `xllamacpp` and `ollama`, driven end to end by `aprqa run`.

xllamacpp is real: its wheel is installed, and its llama.cpp server serves the real SmolLM2 GGUF (one run per
module, shared by the tests that read it). Ollama cannot be installed on this machine (no network beyond the
package registries, which do not carry it), so tests/engines/ollama_standin.py replaces its command line:
`ollama serve`, `ollama create NAME -f Modelfile` and `ollama --version` with Ollama's documented interfaces,
a canned answer and a log of what it was asked. What that proves: the launcher's steps, the Modelfile, the
readiness check, the model name in the requests and the teardown; nothing about Ollama's own inference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml

from aprqa_action.engines.ollama_serve import PROG as OLLAMA_PROG
from aprqa_action.engines.xllamacpp_server import PROG as XL_PROG
from aprqa_action.execute.server import free_port
from tests.conftest import aprqa

STANDIN = Path(__file__).parent / "engines" / "ollama_standin.py"
XL_MODULE = "aprqa_action.engines.xllamacpp_server"
OLLAMA_MODULE = "aprqa_action.engines.ollama_serve"
BASE_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"


@dataclass
class Run:
    done: subprocess.CompletedProcess[str]
    evidence: dict[str, Any]
    survivors: list[str]


def playbook(directory: Path, engine: str, **matrix: object) -> Path:
    path = directory / f"{engine}.playbook.yaml"
    test_matrix = {
        "modalities": ["serve"],
        "backends": ["cpu"],
        "scenario_count": 2,
        "temperature": 0,
        "timeout_ms": 60000,
        "max_tokens": 32,
        "prompts": ["What is 2+2?"],
        **matrix,
    }
    model = {"hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "formats": ["gguf"]}
    data = {"name": f"parity-{engine}", "version": "1.0.0", "model": model, "test_matrix": test_matrix}
    path.write_text(yaml.safe_dump({**data, "engine": engine}))
    return path


def new_processes(before: set[int], marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.pid not in before and marker in line and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(line)
    return found


def run_aprqa(
    directory: Path, engine: str, model: Path, marker: str, env: dict[str, str] | None = None, **matrix: object
) -> Run:
    """`aprqa run` of a serve playbook; the processes started since whose command line holds `marker` survived."""
    before = {p.pid for p in psutil.process_iter()}
    out = directory / "out"
    done = aprqa("run", playbook(directory, engine, **matrix), "--model-path", model, "--output-dir", out, env=env)
    evidence = json.loads((out / "evidence.json").read_text()) if (out / "evidence.json").is_file() else {}
    return Run(done, evidence, new_processes(before, marker))


def one_line_error(stderr: str, prog: str) -> str:
    """The launcher's own error: the last line of stderr, after anything the engine logged; never a traceback."""
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prog}: error: "), stderr
    return last


def wait_for(url: str, contains: str, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    session = requests.Session()
    session.trust_env = False  # loopback, never through a proxy
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            answer = session.get(url, timeout=1)
            if answer.status_code == 200 and contains in answer.text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} never answered with {contains!r}")


def terminate_within(proc: subprocess.Popen[str], seconds: float) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {seconds} s after SIGTERM")
    return proc.returncode, time.monotonic() - started, stderr


# --- xllamacpp: the real wheel on the real model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def xllamacpp() -> str:
    """The installed xllamacpp release; like a missing model file, a missing engine fails the test that needs it."""
    try:
        return metadata.version("xllamacpp")
    except metadata.PackageNotFoundError:
        pytest.fail("xllamacpp is not installed: pip install -e '.[engine-parity]'")


@pytest.fixture(scope="module")
def xllamacpp_run(tmp_path_factory: pytest.TempPathFactory, smollm2: Path, xllamacpp: str) -> Run:
    return run_aprqa(tmp_path_factory.mktemp("xllamacpp"), "xllamacpp", smollm2, XL_MODULE)


@pytest.mark.engine
def test_xllamacpp_serves_the_demo_gguf(xllamacpp_run: Run, smollm2: Path, xllamacpp: str) -> None:
    done, evidence = xllamacpp_run.done, xllamacpp_run.evidence
    assert done.returncode == 0, done.stdout + done.stderr
    assert evidence["engine"] == {"name": "xllamacpp", "version": f"xllamacpp {xllamacpp}"}
    observations = evidence["observations"]
    assert [o["status"] for o in observations] == ["ok", "ok"], observations
    for seen in observations:
        assert "4" in seen["text"], seen["text"]
        assert seen["tokens"] > 0 and seen["tok_per_sec"] > 0 and seen["ttft_ms"] > 0, seen
        assert seen["facts"]["sse_done"] is True  # the stream ended with `data: [DONE]`
    # Greedy: the same prompt gives the same answer whatever the seed.
    assert observations[0]["text"] == observations[1]["text"]
    # One server for the cell, started with the profile's command line.
    command = observations[0]["command"]
    assert observations[1]["command"] == command
    assert command[:4] == [sys.executable, "-m", XL_MODULE, str(smollm2)]
    assert command[-3:] == ["--ctx-size", "2048", "--no-gpu"]


@pytest.mark.engine
def test_xllamacpp_leaves_no_process_behind(xllamacpp_run: Run) -> None:
    assert xllamacpp_run.done.returncode == 0
    assert not xllamacpp_run.survivors, xllamacpp_run.survivors


@pytest.mark.engine
def test_xllamacpp_ends_at_once_on_sigterm(smollm2: Path, xllamacpp: str) -> None:
    port = free_port()
    argv = [sys.executable, "-m", XL_MODULE, str(smollm2), "--host", "127.0.0.1", "--port", str(port), "--no-gpu"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        wait_for(f"http://127.0.0.1:{port}/health", "ok", proc)
        code, took, stderr = terminate_within(proc, 5)
    assert code == 0 and took < 5, stderr
    assert "Traceback" not in stderr


@pytest.mark.engine
def test_xllamacpp_bad_model_files_are_one_line_errors(tmp_path: Path, xllamacpp: str) -> None:
    port = str(free_port())
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))  # the magic, then a header llama.cpp cannot read
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("not a model")
    expected = {
        tmp_path / "missing.gguf": "model file not found",
        not_gguf: "not a GGUF file",
        broken: "llama.cpp could not load",
    }
    for model, words in expected.items():
        argv = [sys.executable, "-m", XL_MODULE, str(model), "--port", port, "--no-gpu"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert words in one_line_error(done.stderr, XL_PROG)


def test_xllamacpp_missing_is_one_line_error(smollm2: Path) -> None:
    # None in sys.modules makes `import xllamacpp` fail as it does where the wheel is not installed.
    code = f"import sys; sys.modules['xllamacpp'] = None; from {XL_MODULE} import main; main(sys.argv[1:])"
    argv = [sys.executable, "-c", code, str(smollm2), "--port", str(free_port()), "--no-gpu"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "pip install -e '.[engine-parity]'" in one_line_error(done.stderr, XL_PROG)


def test_a_missing_model_stops_aprqa_with_one_line(tmp_path: Path) -> None:
    run = run_aprqa(tmp_path, "xllamacpp", tmp_path / "missing.gguf", XL_MODULE)
    assert run.done.returncode == 2
    assert (
        run.done.stderr.strip() == f"aprqa: error: --model-path {tmp_path / 'missing.gguf'}: no such file or directory"
    )
    assert not run.survivors


# --- ollama: the profile and its launcher through a stand-in of Ollama's command line ------------------------------


@pytest.fixture(scope="module")
def ollama_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH whose `ollama` is the stand-in."""
    bin_dir = tmp_path_factory.mktemp("ollama-bin")
    script = bin_dir / "ollama"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    script.chmod(0o755)
    return f"{bin_dir}:{BASE_PATH}"


@dataclass
class OllamaRun(Run):
    log: list[dict[str, Any]]


def events(log: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == name]


@pytest.fixture(scope="module")
def ollama_run(tmp_path_factory: pytest.TempPathFactory, ollama_path: str, smollm2: Path) -> OllamaRun:
    directory = tmp_path_factory.mktemp("ollama")
    log = directory / "standin.jsonl"
    env = {"PATH": ollama_path, "OLLAMA_STANDIN_LOG": str(log)}
    # the playbook's sampling must reach the Modelfile: Ollama's OpenAI route ignores top_k and repeat_penalty
    run = run_aprqa(directory, "ollama", smollm2, str(STANDIN), env, top_k=1, repeat_penalty=1.0)
    lines = log.read_text().splitlines() if log.is_file() else []
    return OllamaRun(run.done, run.evidence, run.survivors, [json.loads(line) for line in lines])


def test_ollama_profile_serves_through_the_standin(ollama_run: OllamaRun, smollm2: Path) -> None:
    done, evidence = ollama_run.done, ollama_run.evidence
    assert done.returncode == 0, done.stdout + done.stderr
    assert evidence["engine"] == {"name": "ollama", "version": "ollama 0.0.1"}
    observations = evidence["observations"]
    assert [o["status"] for o in observations] == ["ok", "ok"], observations
    for seen in observations:
        assert seen["text"] == "The answer is 4."
        assert seen["tokens"] == 5 and seen["ttft_ms"] > 0 and seen["facts"]["sse_done"] is True
    command = observations[0]["command"]
    assert observations[1]["command"] == command
    assert command[:4] == [sys.executable, "-m", OLLAMA_MODULE, str(smollm2)]
    port = command[7]
    tail = ["--name", "default", "--ctx-size", "2048", "--no-gpu", "--top-k", "1", "--repeat-penalty", "1.0"]
    assert command[4:] == ["--host", "127.0.0.1", "--port", port, *tail]


def test_ollama_creates_the_model_from_the_file_and_requests_name_it(ollama_run: OllamaRun, smollm2: Path) -> None:
    log = ollama_run.log
    [created] = events(log, "create")
    assert created["source"] == str(smollm2.resolve())  # the Modelfile's FROM is the model path
    assert created["parameters"] == {
        "num_ctx": "2048",
        "num_gpu": "0",  # cpu backend
        "top_k": "1",
        "repeat_penalty": "1.0",
    }
    [served] = events(log, "serve")
    assert served["OLLAMA_KEEP_ALIVE"] == "-1"
    # The model was loaded before any request, and every request named the created model.
    [loaded] = events(log, "load")
    chats = events(log, "chat")
    assert log.index(loaded) < log.index(chats[0])
    assert len(chats) == 2 and not events(log, "unknown-model")
    assert {f"{c['model']}:latest" for c in chats} == {created["name"]} == {"default:latest"}
    assert all(c["stream"] is True and c["temperature"] == 0 for c in chats)
    # The private store (and its copy of the model) is gone with the server.
    assert not Path(served["OLLAMA_MODELS"]).parent.exists()


def test_ollama_leaves_no_process_behind(ollama_run: OllamaRun) -> None:
    assert ollama_run.done.returncode == 0
    assert not ollama_run.survivors, ollama_run.survivors


def test_ollama_launcher_passes_sigterm_on(tmp_path: Path, ollama_path: str, smollm2: Path) -> None:
    port = free_port()
    env = {**os.environ, "PATH": ollama_path, "OLLAMA_STANDIN_LOG": str(tmp_path / "log")}
    argv = [sys.executable, "-m", OLLAMA_MODULE, str(smollm2), "--host", "127.0.0.1", "--port", str(port)]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        wait_for(f"http://127.0.0.1:{port}/api/ps", '"default:latest"', proc)
        serve = [c for c in psutil.Process(proc.pid).children() if "serve" in c.cmdline()]
        assert len(serve) == 1
        code, took, stderr = terminate_within(proc, 8)  # only the launcher is signalled, not its group
    assert code == 0 and took < 8, stderr
    assert not serve[0].is_running() or serve[0].status() == psutil.STATUS_ZOMBIE
    [served] = events([json.loads(line) for line in (tmp_path / "log").read_text().splitlines()], "serve")
    assert not Path(served["OLLAMA_MODELS"]).parent.exists()
    assert "Traceback" not in stderr


def test_ollama_missing_is_one_line_error_and_a_failed_cell(tmp_path: Path, smollm2: Path) -> None:
    argv = [sys.executable, "-m", OLLAMA_MODULE, str(smollm2), "--port", str(free_port())]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": BASE_PATH})
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "`ollama` is not on PATH" in one_line_error(done.stderr, OLLAMA_PROG)
    # Through aprqa: each serve cell fails with that line as its reason.
    run = run_aprqa(tmp_path, "ollama", smollm2, OLLAMA_MODULE, env={"PATH": BASE_PATH})
    assert run.done.returncode != 0
    reasons = {o["reason"] for o in run.evidence["observations"]}
    assert all("`ollama` is not on PATH" in reason for reason in reasons), reasons
    assert not run.survivors
