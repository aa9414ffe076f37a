"""The hostile-engine suite: every way an immature engine fails ends as the right outcome with an actionable
reason, within timeout + 2 s, with bounded memory in aprqa, and with no process left behind."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import HOSTILE, ROOT, hostile_profile, write_playbook

from aprqa_action.evidence import read_evidence

TIMEOUT_MS = 3000


def survivors(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmdline)
    return found


def run_cli(tmp_path: Path, smollm2: Path, profile: dict, modality: str) -> tuple[dict, float, int]:
    """Run `aprqa run` as a user would; returns the observation, the wall time and aprqa's peak RSS (bytes,
    sampled every 20 ms: aprqa's own process, not the engine's)."""
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": [modality], "backends": ["cpu"], "timeout_ms": TIMEOUT_MS},
        engine=profile,
    )
    argv = [
        sys.executable,
        "-m",
        "aprqa_action",
        "run",
        playbook,
        "--model-path",
        smollm2,
        "--output-dir",
        tmp_path / "o",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    with contextlib.suppress(psutil.Error):
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, watched.memory_info().rss)
            time.sleep(0.02)
    _, stderr = proc.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert "Traceback" not in stderr, stderr
    evidence = read_evidence(tmp_path / "o" / "evidence.json")
    [observation] = evidence.observations
    return json.loads(observation.model_dump_json()), elapsed, peak


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("hang", "timeout", f"killed after timeout_ms={TIMEOUT_MS}"),
        ("grandchildren", "timeout", f"killed after timeout_ms={TIMEOUT_MS}"),
        ("segv", "crashed", "killed by SIGSEGV"),
        ("abort", "crashed", "killed by SIGABRT"),
        ("oom-killed", "crashed", "killed by SIGKILL"),
        ("exit-137", "crashed", "killed by SIGKILL"),
        ("panic", "crashed", "panicked (exit code 101): thread 'main' panicked at src/main.rs:42:5:"),
        ("flood", "ok", ""),
        ("bad-bytes", "ok", ""),
    ],
)
def test_process_engines(tmp_path: Path, smollm2: Path, mode: str, status: str, reason: str) -> None:
    # the tmp path rides along in argv so that any survivor can be found by it
    args = {"grandchildren": [tmp_path / "pid"], "flood": [2**30]}.get(mode, [])
    profile = hostile_profile(mode, args=[*args, "--marker", tmp_path])
    observation, elapsed, peak = run_cli(tmp_path, smollm2, profile, "run")
    assert (observation["status"], observation["reason"]) == (status, reason)
    assert elapsed <= TIMEOUT_MS / 1000 + 2 + 10  # + 10 s: interpreter start-up of aprqa and the engine
    assert not survivors(str(tmp_path))
    if mode == "flood":  # 1 GiB on stdout: aprqa keeps capped head and tail, not the gigabyte
        assert peak < 200 * 2**20
        assert "bytes dropped" in observation["stdout_tail"] or observation["text"] == "4"


@pytest.mark.parametrize(
    ("behaviour", "status", "reason_start"),
    [
        ("never-binds", "failed", "server never became ready within 3.0 s: last GET /health: ConnectionError"),
        ("never-healthy", "failed", "server never became ready within 3.0 s: last GET /health answered 503"),
        ("error-500", "failed", "POST /v1/chat/completions answered 500: internal error"),
        ("bad-json", "failed", "server answered invalid JSON"),
        ("wrong-schema", "failed", "answer does not follow the openai-chat schema"),
        ("die-mid-request", "crashed", "server died during the request (signal SIGKILL)"),
        ("hang-request", "timeout", f"no complete answer within {TIMEOUT_MS / 1000:.1f} s"),
    ],
)
def test_server_engines(tmp_path: Path, smollm2: Path, behaviour: str, status: str, reason_start: str) -> None:
    profile = hostile_profile("ok", serve=behaviour)
    profile["serve"]["argv"].append(str(tmp_path))  # type: ignore[index]
    observation, elapsed, _ = run_cli(tmp_path, smollm2, profile, "serve")
    assert observation["status"] == status
    assert observation["reason"].startswith(reason_start), observation["reason"]
    assert elapsed <= 2 * TIMEOUT_MS / 1000 + 2 + 10  # readiness and request each have the timeout
    assert not survivors(str(tmp_path))


def test_a_taken_port_is_retried_then_reported(tmp_path: Path, smollm2: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        profile = hostile_profile("ok", serve="port-taken")
        profile["serve"]["argv"] += [str(taken.getsockname()[1]), str(tmp_path)]  # type: ignore[index]
        observation, _, _ = run_cli(tmp_path, smollm2, profile, "serve")
    assert observation["status"] == "failed"
    assert "Address already in use" in observation["reason"] and "(port taken 3 times)" in observation["reason"]
    assert not survivors(str(tmp_path))


def test_hostile_script_exists() -> None:
    assert HOSTILE.is_file()
