"""publish/action.yml under act on a fork's hostile artifact (the fork-safe split's privileged half).

The artifact's recorded playbook names a program as its code checker and as its engine; its reasons carry
workflow commands. The publisher must start neither program (a sentinel file is never created), keep the token
out of the merge step (the trusted playbook's own checker records the environment it ran in), let no line of
the log start a command from the artifact's text, and publish the result as the fork's unverified claim.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import aprqa, hostile_profile, repository_copy, write_playbook
from github_api_server import HEAD_SHA, PR, REPO, TOKEN, running

BIN = Path(sys.executable).parent
PROMPTS = ["Write a C function that adds two numbers.", "What is 2+2?"]
INJECTED = "engine said:\n::error::pwned\n::add-mask::pwned\n::stop-commands::pwned"


@pytest.mark.engine
def test_the_publish_action_on_a_hostile_fork_artifact(tmp_path: Path, smollm2: Path) -> None:
    repo = repository_copy(tmp_path, REPO)
    sentinel, env_dump = tmp_path / "sentinel", tmp_path / "merge-env"
    # The trusted playbook (this repository's): its C checker is a program of ours; it records its environment.
    checker = ["sh", "-c", f"env > {env_dump}", "{file}"]
    trusted = write_playbook(
        repo / "trusted.playbook.yaml",
        name="hostile-artifact",
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "scenario_count": 2, "prompts": PROMPTS},
        engine=hostile_profile("ok"),
        oracles=[{"type": "code_syntax", "config": {"languages": ["c"], "checkers": {"c": checker}}}],
    )
    done = aprqa("run", trusted, "--model-path", smollm2, "--output-dir", tmp_path / "fork")
    assert done.returncode == 0, done.stdout + done.stderr
    env_dump.unlink()  # the fork's own run used it; the merge must make it again
    # What the fork uploads: its evidence, edited.
    data = json.loads((tmp_path / "fork" / "evidence.json").read_text())
    spec = data["playbook"]["spec"]
    spec["oracles"][0]["config"]["checkers"]["c"] = ["sh", "-c", f"touch {sentinel}", "{file}"]
    spec["engine"]["run"]["argv"] = ["sh", "-c", f"touch {sentinel}"]
    arithmetic = next(s["id"] for s in data["scenarios"] if s["prompt"] == PROMPTS[1])  # the C answer stays
    next(o for o in data["observations"] if o["scenario_id"] == arithmetic).update(
        status="failed", reason=INJECTED, loaded=True, text=None
    )
    artifact = tmp_path / "artifact" / "evidence.json"
    artifact.parent.mkdir()
    artifact.write_text(json.dumps(data))

    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "completed",
                "workflow_run": {
                    "id": 99,
                    "head_sha": HEAD_SHA,
                    "pull_requests": [],
                    "head_repository": {"full_name": "a-fork/models"},
                    "repository": {"full_name": REPO},
                },
            }
        )
    )
    with running() as github:
        github.add_pull(REPO, PR, HEAD_SHA)
        argv = [
            BIN / "act",
            "workflow_run",
            "-e",
            event,
            "-W",
            "tests/act/publish-hostile.yml",
            "-P",
            "ubuntu-latest=-self-hosted",
            "-s",
            f"GITHUB_TOKEN={TOKEN}",
            "--env",
            f"GITHUB_API_URL={github.url}",
            "--env",
            f"HOSTILE_EVIDENCE={artifact}",
            "--env",
            "TRUSTED_PLAYBOOK=trusted.playbook.yaml",
            "--env",
            f"HOSTILE_PR={PR}",
        ]
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=1800)
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-6000:]
        [status] = github.commit_statuses(REPO, HEAD_SHA)
        [comment] = github.issue_comments(REPO, PR)
        everything = "".join(r.path + r.body for r in github.requests)

    assert not sentinel.exists()  # neither the fork's checker nor its engine ran
    assert env_dump.exists()  # the trusted checker did, in the merge step …
    merge_env = env_dump.read_text()
    assert TOKEN not in merge_env and not re.search(r"^(GITHUB_TOKEN|GH_TOKEN)=.", merge_env, re.M)  # … tokenless
    assert status["context"] == "aprqa/hostile-artifact (fork)" and status["state"] == "failure"
    assert status["description"].startswith("unverified fork claim: ")
    assert "(unverified fork claim)" in comment["body"] and "\n::error::pwned" not in comment["body"]
    # The artifact's text reached the log folded: no line of it starts a command, and act never ran its
    # add-mask (which would have hidden every later "pwned" as ***).
    assert "engine said:\\n::error::pwned" in log
    for line in log.splitlines():
        text = line.split("| ", 1)[-1].strip()
        assert not (text.startswith("::") and "pwned" in text.split("::")[1]), line
    assert TOKEN not in log and TOKEN not in everything
