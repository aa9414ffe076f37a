"""The reference engine on SafeTensors (transformers, torch CPU), on the SafeTensors twin of SmolLM2-135M.

The twin is made once per session by the documented command (`scripts/make_safetensors_twin.py`) next to
the GGUF in models/; a rerun finds it up to date and does nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from conftest import ROOT

from aprqa_action.engines import load_profile
from aprqa_action.execute.server import EngineServer
from aprqa_action.reference_engine.cli import LLAMA_CPP, TRANSFORMERS, runtime_for
from aprqa_action.reference_engine.hf import chatml
from aprqa_action.reference_engine.openai_server import RequestError, parse_chat_request

REFERENCE = [sys.executable, "-m", "aprqa_action.reference_engine"]
TWIN_SCRIPT = ROOT / "scripts" / "make_safetensors_twin.py"
QUESTION = "What is 2+2?"
TWIN_FILES = ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json")


def reference(*args: str | Path | float, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*REFERENCE, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=timeout)


def run_json(
    model: Path, prompt: str = QUESTION, *, n: int = 32, temperature: float = 0.0, seed: int = 1
) -> dict[str, Any]:
    """`run --json` on the CPU; the parsed JSON object."""
    done = reference(
        "run", model, "-p", prompt, "-n", n, "--seed", seed, "--temperature", temperature, "--no-gpu", "--json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def twin_script(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TWIN_SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def model_dir(tmp: Path, twin: Path, *, weights: dict[str, Path], template: bool = True) -> Path:
    """A model directory that borrows the twin's config and tokenizer, with the given weight files (symlinks:
    the 540 MB file is never copied)."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(twin / name, tmp / name)
    if template:
        shutil.copy(twin / "chat_template.jinja", tmp / "chat_template.jinja")
    for name, target in weights.items():
        (tmp / name).symlink_to(target)
    return tmp


@pytest.fixture(scope="session")
def twin(smollm2: Path) -> Path:
    """The twin's directory (the GGUF's own): made by the documented command, or found up to date."""
    done = twin_script("--gguf", smollm2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all((smollm2.parent / name).is_file() for name in TWIN_FILES)
    return smollm2.parent


@pytest.fixture(scope="session")
def perturbed(twin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A twin whose first MLP projection is zeroed: the same file layout, a broken model."""
    out = tmp_path_factory.mktemp("perturbed")
    done = twin_script(
        "--gguf", twin / "model.gguf", "--perturb", "model.layers.0.mlp.down_proj.weight", "--scale", "0", "--out", out
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def twin_answer(twin: Path) -> dict[str, Any]:
    return run_json(twin / "model.safetensors")


# -- no engine: dispatch and request parsing -----------------------------------------------------------------


def test_the_model_path_picks_the_library(tmp_path: Path) -> None:
    assert runtime_for("models/x/model.gguf") is LLAMA_CPP
    assert runtime_for("missing.GGUF") is LLAMA_CPP
    assert runtime_for("models/x/model.safetensors") is TRANSFORMERS
    assert runtime_for("models/x/model.safetensors.index.json") is TRANSFORMERS
    assert runtime_for(str(tmp_path)) is TRANSFORMERS  # a model directory
    assert TRANSFORMERS.engine == "transformers" and LLAMA_CPP.engine == "llama-cpp-python"


def test_the_profile_declares_both_formats() -> None:
    assert [f.value for f in load_profile("reference").formats] == ["gguf", "safetensors"]


def test_chatml_fallback_is_the_gguf_paths_prompt() -> None:
    assert chatml([{"role": "user", "content": "hi"}]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_chat_requests_are_validated() -> None:
    parsed = parse_chat_request(
        json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "seed": 3}).encode()
    )
    assert parsed["messages"] == [{"role": "user", "content": "hi"}]
    assert parsed["seed"] == 3 and parsed["stream"] is False and parsed["max_tokens"] > 0
    for body in (b"{", b"[]", b'{"messages": []}', b'{"messages": [{"content": "x"}]}'):
        with pytest.raises(RequestError):
            parse_chat_request(body)
    for bad in ({"max_tokens": 0}, {"max_tokens": True}, {"temperature": -1}, {"seed": "1"}, {"stream": "yes"}):
        with pytest.raises(RequestError):
            parse_chat_request(json.dumps({"messages": [{"role": "user", "content": "x"}], **bad}).encode())


# -- the twin ------------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_the_twin_is_the_ggufs_weights_in_safetensors(twin: Path) -> None:
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    with safe_open(str(twin / "model.safetensors"), framework="np") as weights:
        names = set(weights.keys())
        assert weights.metadata() == {"format": "pt"}
        down = weights.get_tensor("model.layers.0.mlp.down_proj.weight")
        assert all(
            weights.get_tensor(n).dtype == np.float32 for n in ("model.embed_tokens.weight", "model.norm.weight")
        )
    assert len(names) == 272 and "lm_head.weight" not in names  # tied to the embeddings: stored once
    # exactly what the GGUF's Q4_1 block encodes, dequantized
    [tensor] = [t for t in GGUFReader(twin / "model.gguf").tensors if t.name == "blk.0.ffn_down.weight"]
    assert np.array_equal(dequantize(tensor.data, tensor.tensor_type).reshape(down.shape), down)
    config = json.loads((twin / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert "<|im_start|>" in (twin / "chat_template.jinja").read_text()


@pytest.mark.engine
def test_the_twin_is_made_once(twin: Path) -> None:
    before = (twin / "model.safetensors").stat().st_mtime_ns
    done = twin_script("--gguf", twin / "model.gguf", timeout=120)
    assert done.returncode == 0 and "model.safetensors: present" in done.stdout
    assert (twin / "model.safetensors").stat().st_mtime_ns == before
    manifest = json.loads((twin / "safetensors-twin.json").read_text())
    assert set(TWIN_FILES) <= set(manifest["files"])


@pytest.mark.engine
def test_a_perturbed_twin_differs_in_exactly_one_tensor(twin: Path, perturbed: Path) -> None:
    from safetensors import safe_open

    name = "model.layers.0.mlp.down_proj.weight"
    with (
        safe_open(str(twin / "model.safetensors"), framework="np") as clean,
        safe_open(str(perturbed / "model.safetensors"), framework="np") as bad,
    ):
        assert set(clean.keys()) == set(bad.keys())
        assert not bad.get_tensor(name).any() and clean.get_tensor(name).any()
        assert np.array_equal(
            clean.get_tensor("model.layers.1.mlp.down_proj.weight"),
            bad.get_tensor("model.layers.1.mlp.down_proj.weight"),
        )
    assert not (perturbed / "model.gguf").exists()
    wrong = twin_script("--perturb", "model.layer.0.mlp.down_proj", "--scale", "2", "--out", perturbed, timeout=120)
    assert wrong.returncode == 2 and "did you mean model.layers.0.mlp.down_proj.weight" in wrong.stderr
    clobber = twin_script("--perturb", name, "--scale", "2", "--out", twin, timeout=120)
    assert clobber.returncode == 2 and "another directory" in clobber.stderr


# -- the engine on the twin ------------------------------------------------------------------------------------


@pytest.mark.engine
def test_run_prints_the_same_json_fields_as_the_gguf_path(twin_answer: dict[str, Any]) -> None:
    fields = {"text", "tokens_generated", "tok_per_sec", "ttft_ms", "inference_time_ms", "load_time_ms", "used_gpu"}
    assert fields | {"engine", "engine_version"} <= set(twin_answer)
    assert twin_answer["text"].strip() and "4" in twin_answer["text"]
    assert 0 < twin_answer["tokens_generated"] <= 32 and twin_answer["tok_per_sec"] > 0
    assert 0 < twin_answer["ttft_ms"] < twin_answer["inference_time_ms"] and twin_answer["load_time_ms"] > 0
    assert twin_answer["used_gpu"] is False and twin_answer["engine"] == "transformers"
    assert twin_answer["engine_version"].startswith(tuple("0123456789"))


@pytest.mark.engine
def test_the_twin_answers_as_the_gguf_does_at_temperature_0(
    smollm2: Path, twin_answer: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = run_json(smollm2)
    with capsys.disabled():
        print(f"\n  gguf:        {gguf['text']!r} ({gguf['tokens_generated']} tokens)")
        print(f"  safetensors: {twin_answer['text']!r} ({twin_answer['tokens_generated']} tokens)")
    # The GGUF runs Q4_1 kernels, the twin float32 on the same dequantized weights: the first words must agree.
    assert twin_answer["text"].split()[:5] == gguf["text"].split()[:5]


@pytest.mark.engine
def test_the_seed_is_honoured_when_sampling(twin: Path) -> None:
    answers = [run_json(twin, "Name a prime.", n=12, temperature=0.9, seed=7)["text"] for _ in range(2)]
    assert answers[0] == answers[1] and answers[0].strip()


@pytest.mark.engine
def test_chat_reads_prompts_from_stdin(twin: Path) -> None:
    done = reference(
        "chat", twin, "--no-gpu", "-n", "16", "--temperature", "0", stdin=f"{QUESTION}\nAnd 3+3?\n/quit\nnever\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    stats = [line for line in done.stderr.splitlines() if line.startswith("[stats]")]
    assert len(stats) == 2 and all("ttft_ms=" in s and "load_ms=" in s for s in stats)
    assert all(float(s.split("tok/s=")[1].split()[0]) > 0 for s in stats)
    assert "Traceback" not in done.stderr


@pytest.mark.engine
def test_serve_answers_openai_chat_requests(twin: Path) -> None:
    profile = load_profile("reference")
    assert profile.serve is not None and profile.serve.request.stream  # the profile streams: SSE is exercised
    server = EngineServer(lambda port: [*REFERENCE, "serve", str(twin), "--port", str(port), "--no-gpu"], profile.serve)
    try:
        assert server.start(ready_timeout_s=180) is None
        reply = server.request(QUESTION, max_tokens=16, temperature=0.0, seed=1, timeout_s=120)
        url = server.base_url + "/v1/chat/completions"
        plain = requests.post(
            url, json={"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 16, "temperature": 0}
        )
        refused = requests.post(url, data=b'{"messages": "nope"}')
    finally:
        server.close()
    assert reply.status == "ok", reply.reason
    assert reply.text and reply.tokens and reply.tok_per_sec and reply.tok_per_sec > 0
    assert reply.ttft_ms is not None and reply.ttft_ms > 0
    answer = plain.json()
    assert plain.status_code == 200 and answer["choices"][0]["message"]["content"] == reply.text
    assert answer["usage"]["completion_tokens"] == reply.tokens and answer["choices"][0]["finish_reason"] == "stop"
    assert refused.status_code == 400 and "messages" in refused.json()["error"]["message"]
    assert not server.alive()


@pytest.mark.engine
def test_a_model_without_a_chat_template_gets_chatml(tmp_path: Path, twin: Path) -> None:
    base = model_dir(tmp_path / "base", twin, weights={"model.safetensors": twin / "model.safetensors"}, template=False)
    answer = run_json(base, n=16)
    assert answer["text"].strip() and answer["tokens_generated"] > 0


@pytest.mark.engine
def test_a_named_weights_file_is_the_one_loaded(
    tmp_path: Path, twin: Path, perturbed: Path, twin_answer: dict[str, Any]
) -> None:
    both = model_dir(
        tmp_path / "both",
        twin,
        weights={
            "model.safetensors": twin / "model.safetensors",
            "broken.safetensors": perturbed / "model.safetensors",
        },
    )
    broken = run_json(both / "broken.safetensors", n=12)
    # the zeroed projection answers, not the clean model.safetensors beside it
    assert broken["text"].split()[:3] != twin_answer["text"].split()[:3]


# -- failures ----------------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_gpu_without_cuda_is_a_clear_error(twin: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the no-GPU message cannot be shown")
    done = reference("run", twin, "-p", "hi", timeout=120)
    assert done.returncode == 2
    assert "gpu backend requested" in done.stderr and "--no-gpu" in done.stderr and "CUDA" in done.stderr
    assert "Traceback" not in done.stderr


def _missing_weights(tmp: Path, twin: Path) -> Path:
    """A model directory whose weights file holds one of the model's 272 tensors."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    directory = model_dir(tmp, twin, weights={})
    with safe_open(str(twin / "model.safetensors"), framework="np") as weights:
        save_file({"model.norm.weight": weights.get_tensor("model.norm.weight")}, str(directory / "model.safetensors"))
    return directory


@pytest.mark.engine
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "model file not found"),
        ("empty-dir", "directory without SafeTensors weights"),
        ("no-config", "no config.json"),
        ("corrupt", "failed to load model"),
        ("missing-weights", "weight(s) missing"),
        ("shard", "one shard of a sharded model"),
    ],
)
def test_a_bad_safetensors_model_fails_clearly(tmp_path: Path, twin: Path, case: str, message: str) -> None:
    if case == "missing":
        model = tmp_path / "nowhere" / "model.safetensors"
    elif case == "empty-dir":
        model = tmp_path
    elif case == "no-config":
        model = tmp_path / "model.safetensors"
        model.symlink_to(twin / "model.safetensors")
    elif case == "corrupt":
        model = model_dir(tmp_path, twin, weights={}) / "model.safetensors"
        model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    elif case == "missing-weights":
        model = _missing_weights(tmp_path, twin)
    else:
        model = model_dir(tmp_path, twin, weights={}) / "model-00001-of-00002.safetensors"
        model.write_bytes(b"")
    done = reference("run", model, "-p", "hi", "--no-gpu", "--json", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr and done.stderr.startswith("reference: error:")
    assert "Traceback" not in done.stderr and not done.stdout.strip()
