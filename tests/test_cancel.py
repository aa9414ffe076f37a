"""SIGTERM/SIGINT (a cancelled GitHub job) stop `aprqa run` cleanly, lose nothing, and `--resume` finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import DEMO, ROOT, hostile_profile, write_playbook

from aprqa_action.evidence import STREAM_FILE, read_evidence


def start(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aprqa_action", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


@pytest.mark.engine
def test_sigterm_halfway_through_the_demo_then_resume(tmp_path: Path, smollm2: Path) -> None:
    out = tmp_path / "out"
    proc = start("run", DEMO, "--model-path", smollm2, "--output-dir", out)
    wait_for_lines(out / STREAM_FILE, 4, proc)  # the run cell and the first gpu cell are done
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "SIGTERM: stopping, saving the evidence so far" in stderr
    assert not engine_processes(str(smollm2))
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
