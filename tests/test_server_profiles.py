"""The serve-only profiles (`llamacpp-server`, `openai`) driven end to end by `aprqa run`.

Neither `llama-server` nor `vllm` can be installed on this machine (no GitHub for llama.cpp's binaries, no
CUDA for vLLM), so each is replaced by tests/engines/standin_server.py: the binary's own command line in
front of llama-cpp-python's real server on the real SmolLM2 file. The engine, the model and the HTTP traffic
are real; only the binary's name is borrowed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import aprqa

STANDIN = Path(__file__).parent / "engines" / "standin_server.py"


def _bin_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("llama-server", "vllm"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {name} "$@"\n')
        script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(("profile", "version"), [("llamacpp-server", "version: 4242 (standin)"), ("openai", "0.0.1")])
def test_serve_only_profile_qualifies_the_demo_model(tmp_path: Path, smollm2: Path, profile: str, version: str) -> None:
    playbook = tmp_path / "serve.playbook.yaml"
    playbook.write_text(
        yaml.safe_dump(
            {
                "name": "serve-only",
                "version": "1.0.0",
                "model": {"hf_repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "formats": ["gguf"]},
                "test_matrix": {
                    "modalities": ["serve"],
                    "backends": ["cpu"],
                    "scenario_count": 2,
                    "timeout_ms": 120000,
                    "max_tokens": 16,
                    "prompts": ["What is 2+2?"],
                },
            }
        )
    )
    out = tmp_path / "out"
    env = {"PATH": f"{_bin_dir(tmp_path)}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    before = {p.pid for p in psutil.process_iter()}
    done = aprqa("run", playbook, "--model-path", smollm2, "--engine", profile, "--output-dir", out, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["engine"] == {"name": profile, "version": version}
    observations = evidence["observations"]
    assert [o["status"] for o in observations] == ["ok", "ok"], observations
    assert all(o["text"].strip() and o["tokens"] > 0 for o in observations)
    # Both scenarios went to one server, started with the profile's own command line.
    assert observations[0]["command"] == observations[1]["command"]
    assert observations[0]["command"][:2] == (
        ["llama-server", "-m"] if profile == "llamacpp-server" else ["env", "CUDA_VISIBLE_DEVICES="]
    )
    survivors = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before and str(STANDIN) in " ".join(p.info["cmdline"] or [])
    ]
    assert not survivors, survivors
