"""SIGTERM/SIGINT (a cancelled GitHub job) stop `aprqa run` cleanly, lose nothing, and `--resume` finishes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import DEMO, HOSTILE, ROOT, hostile_profile, write_playbook

from aprqa_action.store.evidence import STREAM_FILE, read_evidence

TAG = "APRQA_TEST_CANCEL_TAG"  # in aprqa's environment, so in every engine process it starts


def start(*args: str | Path, tag: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aprqa_action", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, TAG: tag},
    )


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen, limit_s: float = 300) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.is_file() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def engine_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info["cmdline"] or []) and proc.pid != os.getpid():
            found.append(proc)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left


def tagged(tag: str) -> list[psutil.Process]:
    """Processes started by the aprqa run that carries `tag` (whatever their command line or parent now)."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        if (proc.info["environ"] or {}).get(TAG) == tag and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def assert_cancelled_and_saved(out: Path) -> None:
    """evidence.json and summary.md exist, say cancelled, and every scenario is accounted for as not run."""
    evidence = read_evidence(out / "evidence.json")
    assert evidence.run.state == "cancelled" and evidence.verdict is not None and not evidence.verdict.qualified
    assert len(evidence.observations) == len(evidence.scenarios) > 0
    assert all(o.status == "not_run" and o.reason == "not run (cancelled)" for o in evidence.observations)
    summary = (out / "summary.md").read_text()
    assert "**Run:** cancelled" in summary and f"{len(evidence.scenarios)} not\\_run" in summary


@pytest.mark.engine
def test_sigterm_halfway_through_the_demo_then_resume(tmp_path: Path, smollm2: Path) -> None:
    out = tmp_path / "out"
    proc = start("run", DEMO, "--model-path", smollm2, "--output-dir", out, tag=str(tmp_path))
    # Four lines: the gguf run cell and run:cpu:safetensors:000 are done; the signal lands while a SafeTensors
    # process (run:cpu:safetensors:001) runs, whose command names model.safetensors, not model.gguf.
    wait_for_lines(out / STREAM_FILE, 4, proc)
    engines = psutil.Process(proc.pid).children(recursive=True)  # just before the signal
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "SIGTERM: stopping, saving the evidence so far" in stderr
    assert not alive(engines) and not tagged(str(tmp_path))
    summary = (out / "summary.md").read_text()
    assert "**Run:** cancelled" in summary and "not\\_run" in summary
    evidence = read_evidence(out / "evidence.json")
    assert evidence.run.state == "cancelled" and evidence.verdict is not None and not evidence.verdict.qualified
    statuses = [o.status for o in evidence.observations]
    assert len(statuses) == len(evidence.scenarios)  # every scenario is accounted for
    assert statuses[:3] == ["ok", "ok", "ok"] and "not_run" in statuses
    assert all(o.reason == "not run (cancelled)" for o in evidence.observations if o.status == "not_run")
    finished = {o.scenario_id: o.started for o in evidence.observations if o.status == "ok"}

    resumed = start("run", DEMO, "--model-path", smollm2, "--resume", out)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stdout + stderr
    evidence = read_evidence(out / "evidence.json")
    assert evidence.run.state == "complete" and evidence.verdict is not None and evidence.verdict.qualified
    assert "not_run" not in [o.status for o in evidence.observations]
    for scenario_id, started in finished.items():  # finished scenarios were not redone
        assert next(o for o in evidence.observations if o.scenario_id == scenario_id).started == started


def test_sigterm_during_a_hanging_server_request(tmp_path: Path, smollm2: Path) -> None:
    profile = hostile_profile("ok", serve="hang-request")
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": ["serve"], "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 600000},
        engine=profile,
    )
    out = tmp_path / "out"
    proc = start("run", playbook, "--model-path", smollm2, "--output-dir", out)
    deadline = time.monotonic() + 60
    while not engine_processes("serve-hang-request"):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)  # the request is in flight
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)  # not the 600 s request timeout
    assert not engine_processes("serve-hang-request")
    evidence = read_evidence(out / "evidence.json")
    assert [o.status for o in evidence.observations] == ["not_run", "not_run"]


def test_sigterm_while_preparing_ends_at_once_with_evidence(tmp_path: Path, smollm2: Path) -> None:
    # `engine --version` hangs: a slow preparation step that, before, never looked at the signal.
    profile = hostile_profile("ok") | {"version_argv": ["{python}", str(HOSTILE), "hang", marker(tmp_path)]}
    playbook = write_playbook(tmp_path / "p.yaml", engine=profile)
    out = tmp_path / "out"
    proc = start("run", playbook, "--model-path", smollm2, "--output-dir", out, tag=str(tmp_path))
    wait_for_process(marker(tmp_path), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)  # not the 60 s the version command may take
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "SIGTERM: stopping" in stderr
    assert_cancelled_and_saved(out)
    assert not tagged(str(tmp_path))


def test_a_second_signal_while_preparing_still_saves_the_evidence(tmp_path: Path, smollm2: Path) -> None:
    profile = hostile_profile("ok") | {"version_argv": ["{python}", str(HOSTILE), "hang", marker(tmp_path)]}
    playbook = write_playbook(tmp_path / "p.yaml", engine=profile)
    out = tmp_path / "out"
    proc = start("run", playbook, "--model-path", smollm2, "--output-dir", out, tag=str(tmp_path))
    wait_for_process(marker(tmp_path), proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)  # what a GitHub cancel sends next
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert_cancelled_and_saved(out)
    assert not tagged(str(tmp_path))


def test_a_second_signal_while_running_kills_the_engine_and_saves_the_evidence(tmp_path: Path, smollm2: Path) -> None:
    # The engine ignores SIGTERM; the second signal must not wait out the grace period, nor lose the evidence.
    profile = hostile_profile("ignore-term", args=[marker(tmp_path)])
    matrix = {"modalities": ["run"], "backends": ["cpu"], "scenario_count": 2, "timeout_ms": 600000}
    playbook = write_playbook(tmp_path / "p.yaml", test_matrix=matrix, engine=profile)
    out = tmp_path / "out"
    proc = start("run", playbook, "--model-path", smollm2, "--output-dir", out, tag=str(tmp_path))
    wait_for_process(marker(tmp_path), proc)
    time.sleep(0.5)  # the engine has set up its SIGTERM handling
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "again: killing the engine now" in stderr
    assert_cancelled_and_saved(out)
    assert not tagged(str(tmp_path))


def marker(tmp_path: Path) -> str:
    """In the engine's command line only (aprqa's own names other paths under tmp_path)."""
    return str(tmp_path / "engine-marker")


def wait_for_process(text: str, proc: subprocess.Popen, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while not engine_processes(text):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)


def test_resume_refuses_another_playbook(tmp_path: Path, smollm2: Path) -> None:
    out = tmp_path / "out"
    first = write_playbook(tmp_path / "a.yaml", engine=hostile_profile("ok"))
    done = subprocess.run(
        [sys.executable, "-m", "aprqa_action", "run", first, "--model-path", smollm2, "--output-dir", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    other = write_playbook(tmp_path / "b.yaml", engine=hostile_profile("ok"), description="changed")
    done = subprocess.run(
        [sys.executable, "-m", "aprqa_action", "run", other, "--model-path", smollm2, "--resume", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "from another version of the playbook" in done.stderr
