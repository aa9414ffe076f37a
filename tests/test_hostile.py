"""The hostile-engine suite: every way an immature engine fails ends as the right outcome with an actionable
reason, within timeout + 2 s, with bounded memory in aprqa, and with no process left behind."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import HOSTILE, ROOT, hostile_profile, write_playbook

from aprqa_action.execute import process
from aprqa_action.execute.process import run_process
from aprqa_action.store.evidence import read_evidence

TIMEOUT_MS = 3000
BOUND_MS = TIMEOUT_MS + 2000  # the acceptance bound of every scenario: its timeout + 2 s
STARTUP_S = 10  # the whole run may add interpreter start-up of aprqa (and of each engine) to the scenarios
PEAK_RSS = 200 * 2**20  # aprqa's own memory stays bounded whatever the engine does (1 GiB of output, hangs …)


def survivors(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmdline)
    return found


def kill_survivors(marker: str) -> None:
    found = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=10)  # a killed orphan is gone once its new parent (init) reaps it


def run_cli(
    tmp_path: Path, smollm2: Path, profile: dict, modality: str, count: int = 1, timeout_ms: int = TIMEOUT_MS
) -> tuple[list[dict], float]:
    """Run `aprqa run` as a user would, with `count` scenarios; returns the observations and the wall time,
    and checks aprqa's peak RSS (sampled every 20 ms: aprqa's own process, not the engine's)."""
    matrix = {"modalities": [modality], "backends": ["cpu"], "timeout_ms": timeout_ms, "scenario_count": count}
    playbook = write_playbook(tmp_path / "p.yaml", test_matrix=matrix, engine=profile)
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
    assert 0 < peak < PEAK_RSS, f"aprqa's peak RSS {peak / 2**20:.0f} MiB"
    assert (tmp_path / "o" / "evidence.json").is_file(), stderr
    evidence = read_evidence(tmp_path / "o" / "evidence.json")
    assert len(evidence.observations) == count
    return [json.loads(o.model_dump_json()) for o in evidence.observations], elapsed


def within_bound(observation: dict, timeout_ms: int = TIMEOUT_MS) -> None:
    assert observation["duration_ms"] is not None, observation
    assert observation["duration_ms"] <= timeout_ms + 2000, observation


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("hang", "timeout", f"killed after timeout_ms={TIMEOUT_MS}"),
        ("grandchildren", "timeout", f"killed after timeout_ms={TIMEOUT_MS}"),
        ("daemonize", "timeout", f"killed after timeout_ms={TIMEOUT_MS}"),
        ("segv", "crashed", "killed by SIGSEGV"),
        ("abort", "crashed", "killed by SIGABRT"),
        ("oom-killed", "crashed", re.compile(r"killed by SIGKILL \(likely the OOM killer; peak RSS (\d+) MiB\)")),
        (
            "exit-137",
            "crashed",
            re.compile(
                r"exit code 137 \(128 \+ SIGKILL, reported by a wrapper; likely the OOM killer; peak RSS (\d+) MiB\)"
            ),
        ),
        ("panic", "crashed", "panicked (exit code 101): thread 'main' panicked at src/main.rs:42:5:"),
        ("flood", "ok", ""),
        ("bad-bytes", "ok", ""),
    ],
)
def test_process_engines(tmp_path: Path, smollm2: Path, mode: str, status: str, reason: str | re.Pattern) -> None:
    # the tmp path rides along in argv so that any survivor can be found by it
    args = {"grandchildren": [tmp_path / "pid"], "flood": [2**30]}.get(mode, [])
    profile = hostile_profile(mode, args=[*args, "--marker", tmp_path])
    # Piping a gigabyte takes its time on a busy machine: that case is about memory, not the deadline.
    timeout_ms = 60000 if mode == "flood" else TIMEOUT_MS
    [observation], elapsed = run_cli(tmp_path, smollm2, profile, "run", timeout_ms=timeout_ms)
    assert observation["status"] == status
    if isinstance(reason, re.Pattern):
        found = reason.fullmatch(observation["reason"])
        assert found, observation["reason"]
        assert abs(int(found[1]) - observation["peak_rss_mb"]) <= 0.6  # the peak the observation records
        assert observation["signal"] == ("SIGKILL" if mode == "oom-killed" else None)
        assert observation["exit_code"] == (-9 if mode == "oom-killed" else 137)
    else:
        assert observation["reason"] == reason
    within_bound(observation, timeout_ms)
    assert elapsed <= (timeout_ms + 2000) / 1000 + STARTUP_S
    assert not survivors(str(tmp_path))
    if mode == "flood":  # 1 GiB on stdout: aprqa keeps capped head and tail, not the gigabyte (PEAK_RSS)
        assert "bytes dropped" in observation["stdout_tail"] or observation["text"] == "4"


def test_the_survivor_check_fails_without_the_group_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberately broken supervisor (its group kill a no-op) must make the daemonize case fail: the
    grandchild left the engine's tree, so only the group kill reaches it. Without this the check proves nothing."""
    monkeypatch.setattr(process.SupervisedProcess, "signal_group", lambda self, sig: None)
    marker = str(tmp_path)
    try:
        result = run_process(hostile_argv("daemonize", "--marker", marker), timeout_s=1.0)
        assert result.timed_out
        assert survivors(marker), "the broken supervisor left nothing behind: the survivor check cannot fail"
    finally:
        kill_survivors(marker)
    assert not survivors(marker)


def hostile_argv(*args: str) -> list[str]:
    return [sys.executable, str(HOSTILE), *args]


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
    [observation], elapsed = run_cli(tmp_path, smollm2, profile, "serve")
    assert observation["status"] == status
    assert observation["reason"].startswith(reason_start), observation["reason"]
    within_bound(observation)  # the readiness wait, or the request, each within its timeout + 2 s
    assert elapsed <= 2 * BOUND_MS / 1000 + STARTUP_S  # readiness and then the request
    assert not survivors(str(tmp_path))


def test_a_timed_out_request_kills_the_server_and_the_next_gets_a_fresh_one(tmp_path: Path, smollm2: Path) -> None:
    # The first request hangs (the server would go on "generating"); the next two must not wait behind it.
    profile = hostile_profile("ok", serve="hang-first")
    profile["serve"]["argv"].append(str(tmp_path))  # type: ignore[index]
    observations, elapsed = run_cli(tmp_path, smollm2, profile, "serve", count=3)
    assert [o["status"] for o in observations] == ["timeout", "ok", "ok"]
    assert observations[0]["reason"] == f"no complete answer within {TIMEOUT_MS / 1000:.1f} s (the server was killed)"
    assert observations[0]["signal"] is None  # our kill is not a crash
    assert [o["text"] for o in observations[1:]] == ["4", "4"]
    for observation in observations:
        within_bound(observation)
    assert elapsed <= 2 * BOUND_MS / 1000 + 2 * BOUND_MS / 1000 + STARTUP_S  # two starts, three requests
    assert not survivors(str(tmp_path))


def test_a_server_that_always_hangs_gives_each_scenario_its_own_timeout(tmp_path: Path, smollm2: Path) -> None:
    profile = hostile_profile("ok", serve="hang-request")
    profile["serve"]["argv"].append(str(tmp_path))  # type: ignore[index]
    observations, elapsed = run_cli(tmp_path, smollm2, profile, "serve", count=2)
    assert [o["status"] for o in observations] == ["timeout", "timeout"]
    for observation in observations:
        within_bound(observation)
        assert observation["duration_ms"] >= TIMEOUT_MS  # its own full timeout: not cut short, not shared
    assert elapsed <= 2 * BOUND_MS / 1000 + 2 * BOUND_MS / 1000 + STARTUP_S  # two starts, two requests
    assert not survivors(str(tmp_path))


def test_a_taken_port_is_retried_then_reported(tmp_path: Path, smollm2: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        profile = hostile_profile("ok", serve="port-taken")
        profile["serve"]["argv"] += [str(taken.getsockname()[1]), str(tmp_path)]  # type: ignore[index]
        [observation], elapsed = run_cli(tmp_path, smollm2, profile, "serve")
    assert observation["status"] == "failed"
    assert "Address already in use" in observation["reason"] and "(port taken 3 times)" in observation["reason"]
    within_bound(observation)  # three attempts together, within the readiness timeout + 2 s
    assert elapsed <= BOUND_MS / 1000 + STARTUP_S
    assert not survivors(str(tmp_path))


def test_hostile_script_exists() -> None:
    assert HOSTILE.is_file()
