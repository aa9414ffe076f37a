"""The executor through the whole `run` pipeline, on real misbehaving engine processes and servers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import aprqa, hostile_profile, write_playbook

from aprqa_action.execute.progress import LineReporter
from aprqa_action.pipeline import run
from aprqa_action.records import RunOptions
from aprqa_action.store.evidence import STREAM_FILE, read_evidence


def run_hostile(
    tmp_path: Path,
    smollm2: Path,
    profile: dict,
    *,
    modalities=("run",),
    count=1,
    timeout_ms=20000,
    policy="collect_all",
):  # type: ignore[no-untyped-def]
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={
            "modalities": list(modalities),
            "backends": ["cpu"],
            "scenario_count": count,
            "timeout_ms": timeout_ms,
        },
        engine=profile,
        failure_policy=policy,
    )
    out = tmp_path / "out"
    with (tmp_path / "progress.log").open("w") as log:
        evidence = run(RunOptions(playbook=playbook, model_path=smollm2, output_dir=out), reporter=LineReporter(log))
    assert read_evidence(out / "evidence.json") == evidence  # what is on disk is what was returned
    return evidence


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [
        ("hang", "timeout", "killed after timeout_ms=1500"),
        ("segv", "crashed", "killed by SIGSEGV"),
        ("panic", "crashed", "panicked (exit code 101): thread 'main' panicked at src/main.rs:42:5:"),
        ("fail", "failed", "exit code 1: error: failed to load model: unsupported tensor type 42"),
        ("bad-bytes", "ok", ""),
    ],
)
def test_process_outcomes(tmp_path: Path, smollm2: Path, mode: str, status: str, reason: str) -> None:
    evidence = run_hostile(tmp_path, smollm2, hostile_profile(mode), timeout_ms=1500)
    [observation] = evidence.observations
    assert observation.status == status
    assert observation.reason == reason
    if mode == "segv":
        assert observation.signal == "SIGSEGV" and observation.loaded is True  # it printed before dying
    if mode == "bad-bytes":
        assert observation.text == "café \ufffd\ufffd\x00 ok"
        assert "\\xc3(" in observation.stderr_tail  # kept, escaped, not lost


@pytest.mark.parametrize(
    ("behaviour", "status", "reason"),
    [
        ("never-healthy", "failed", "server never became ready within 2.0 s: last GET /health answered 503"),
        (
            "never-binds",
            "failed",
            "server never became ready within 2.0 s: last GET /health: ConnectionError",
        ),
        ("error-500", "failed", "POST /v1/chat/completions answered 500: internal error"),
        ("bad-json", "failed", "server answered invalid JSON: '{not json'"),
        ("wrong-schema", "failed", 'answer does not follow the openai-chat schema: {"result": "4"}'),
        ("die-mid-request", "crashed", "server died during the request (signal SIGKILL)"),
        ("ok", "ok", ""),
    ],
)
def test_serve_outcomes(tmp_path: Path, smollm2: Path, behaviour: str, status: str, reason: str) -> None:
    profile = hostile_profile("ok", serve=behaviour, ready_timeout_ms=2000)
    evidence = run_hostile(tmp_path, smollm2, profile, modalities=("serve",), count=2)
    first, second = evidence.observations
    assert first.status == status
    assert first.reason == reason
    assert first.loaded is (behaviour not in ("never-healthy", "never-binds"))
    if behaviour == "ok":
        assert first.text == "4" and first.tokens == 1 and second.status == "ok"
        assert first.load_ms is not None and first.load_ms > 0


def test_one_server_serves_every_scenario_of_its_cell(tmp_path: Path, smollm2: Path) -> None:
    evidence = run_hostile(tmp_path, smollm2, hostile_profile("ok", serve="ok"), modalities=("serve",), count=3)
    assert [o.status for o in evidence.observations] == ["ok", "ok", "ok"]
    assert len({o.load_ms for o in evidence.observations}) == 1  # one start, shared


def test_fail_fast_stops_after_the_first_failure(tmp_path: Path, smollm2: Path) -> None:
    evidence = run_hostile(
        tmp_path, smollm2, hostile_profile("fail"), modalities=("run", "chat"), count=2, policy="fail_fast"
    )
    statuses = [o.status for o in evidence.observations]
    assert statuses == ["failed", "not_run", "not_run", "not_run"]
    assert evidence.observations[1].reason == "not run: failure_policy fail_fast stopped after t:run:cpu:gguf:000"
    assert evidence.run.state == "stopped"


def test_collect_all_runs_everything(tmp_path: Path, smollm2: Path) -> None:
    evidence = run_hostile(tmp_path, smollm2, hostile_profile("fail"), modalities=("run", "chat"), count=2)
    assert [o.status for o in evidence.observations] == ["failed"] * 4
    assert evidence.run.state == "complete"


def test_observations_stream_as_they_finish(tmp_path: Path, smollm2: Path) -> None:
    evidence = run_hostile(tmp_path, smollm2, hostile_profile("ok"), modalities=("run", "chat"), count=2)
    lines = (tmp_path / "out" / STREAM_FILE).read_text().splitlines()
    assert [json.loads(line)["scenario_id"] for line in lines] == [o.scenario_id for o in evidence.observations]


def test_missing_engine_binary_is_an_infrastructure_error(tmp_path: Path, smollm2: Path) -> None:
    profile = hostile_profile("ok")
    profile["run"]["argv"] = ["no-such-engine-binary", "run", "{model}"]  # type: ignore[index]
    playbook = write_playbook(tmp_path / "p.yaml", engine=profile)
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / "out")
    assert done.returncode == 3
    assert "'no-such-engine-binary' is not installed or not on PATH (needed for run)\n" in done.stderr


def test_a_missing_apr_says_how_to_install_it(tmp_path: Path, smollm2: Path) -> None:
    playbook = write_playbook(tmp_path / "p.yaml", engine="apr")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no apr on this machine anyway; this makes sure
    done = aprqa("run", playbook, "--model-path", smollm2, "--output-dir", tmp_path / "out", env=env)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1] == (
        "aprqa: error: engine apr: 'apr' is not installed or not on PATH (needed for run); install it: "
        "cargo install apr-cli --locked (needs a Rust toolchain; put ~/.cargo/bin on PATH)"
    )
