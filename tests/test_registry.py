"""A new oracle is one module that registers itself: validated in a playbook, judged, scored and reported
with no other module touched. Here the module is this test; the engine is a real process that echoes the
prompt, so the answers are known."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_playbook
from pydantic import Field

from aprqa_action import checks
from aprqa_action.checks import Answer, Judgement, Oracle, register_oracle
from aprqa_action.errors import InputError
from aprqa_action.execute.progress import LineReporter
from aprqa_action.pipeline import run
from aprqa_action.playbook import json_schema, load_playbook
from aprqa_action.records import Record, RunOptions


class NoShouting(Record):
    max_upper_ratio: float = Field(default=0.5, gt=0, le=1)


def no_shouting(answer: Answer, config: NoShouting) -> Judgement:
    letters = [c for c in answer.text if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    verdict = "fail" if upper > config.max_upper_ratio else "pass"
    return Judgement("no_shouting", verdict, f"{upper:.0%} of the letters are capitals", answer.text)


@pytest.fixture
def shouting() -> Iterator[Oracle]:
    oracle = Oracle("no_shouting", "F-QUAL-SHOUT", NoShouting, no_shouting)
    register_oracle(oracle)
    yield oracle
    checks.unregister("no_shouting")


# A real engine process: prints the prompt back as its answer, in the JSON shape the profile reads.
ECHO = {
    "name": "echo",
    "formats": ["gguf"],
    "run": {
        "argv": [
            "{python}",
            "-c",
            "import json, sys; print(json.dumps(dict(text=sys.argv[1], tokens_generated=4, tok_per_sec=8.0)))",
            "{prompt}",
        ],
        "output": {"format": "json", "text": "text", "tokens": "tokens_generated", "tok_per_sec": "tok_per_sec"},
    },
}


def playbook(path: Path, config: dict[str, object]) -> Path:
    return write_playbook(
        path,
        engine=ECHO,
        oracles=[{"type": "no_shouting", "config": config}],
        gates={"g4_max_failure_fraction": 0.5},
        test_matrix={
            "modalities": ["run"],
            "backends": ["cpu"],
            "scenario_count": 2,
            "timeout_ms": 60000,
            "prompts": ["WHAT IS TWO PLUS TWO", {"prompt": "what is two plus two", "oracles": ["no_shouting"]}],
        },
    )


def test_a_registered_oracle_is_in_the_playbook_schema(shouting: Oracle) -> None:
    schema = json_schema()
    entry = schema["$defs"]["NoShoutingEntry"]
    assert entry["properties"]["type"]["const"] == "no_shouting"
    assert schema["$defs"]["NoShouting"]["properties"]["max_upper_ratio"]["default"] == 0.5
    prompt_oracles = schema["$defs"]["PromptSpec"]["properties"]["oracles"]["anyOf"][0]["items"]["enum"]
    assert prompt_oracles == ["garbage", "arithmetic", "code_syntax", "golden", "no_shouting"]


def test_its_config_is_validated_where_the_playbook_declares_it(tmp_path: Path, shouting: Oracle) -> None:
    with pytest.raises(InputError) as caught:
        load_playbook(playbook(tmp_path / "p.yaml", {"max_upper_ratio": 2}))
    assert "p.yaml:" in str(caught.value) and "max_upper_ratio" in str(caught.value)
    with pytest.raises(InputError) as caught:
        load_playbook(playbook(tmp_path / "q.yaml", {"max_upper": 0.3}))
    assert "max_upper" in str(caught.value) and "max_upper_ratio" in str(caught.value)  # did you mean


def test_without_registration_the_playbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_playbook(playbook(tmp_path / "p.yaml", {}))
    assert "no_shouting" in str(caught.value) and "p.yaml:" in str(caught.value)


def test_it_judges_scores_and_reports_a_real_run(tmp_path: Path, smollm2: Path, shouting: Oracle) -> None:
    out = tmp_path / "out"
    with (tmp_path / "progress.log").open("w") as log:
        options = RunOptions(
            playbook=playbook(tmp_path / "p.yaml", {"max_upper_ratio": 0.5}), model_path=smollm2, output_dir=out
        )
        evidence = run(options, reporter=LineReporter(log))
    prompts = {s.id: s.prompt for s in evidence.scenarios}
    judged = {prompts[i.scenario_id or ""]: i for i in evidence.items if i.gate_id == "F-QUAL-SHOUT"}
    assert {p: (i.outcome, i.reason) for p, i in judged.items()} == {
        "WHAT IS TWO PLUS TWO": ("Falsified", "100% of the letters are capitals"),
        "what is two plus two": ("Corroborated", "0% of the letters are capitals"),
    }
    # the only QUAL items (oracles are declared, so garbage does not judge by default): 1 of 2 passed
    assert evidence.verdict is not None
    qual = next(c for c in evidence.verdict.categories if c.category == "QUAL")
    assert (qual.passed, qual.judged, qual.score) == (1, 2, 100.0)
    g4 = evidence.verdict.gateways[4]
    assert g4.passed and g4.reason.startswith("1 of 2 judged scenario(s) falsified (allowed fraction 0.5)")
    summary = (out / "summary.md").read_text()
    assert "F-QUAL-SHOUT" in summary and "100% of the letters are capitals" in summary
    junit = (out / "junit.xml").read_text()
    assert junit.count('name="F-QUAL-SHOUT') == 2 and "100% of the letters are capitals" in junit


def test_plugins_register_through_entry_points(tmp_path: Path) -> None:
    """A package outside aprqa: its module registers an oracle when the `aprqa.checks` entry point loads it,
    and its engine profile is known by the name its `aprqa.engines` entry point gives."""
    (tmp_path / "shout_plugin.py").write_text(
        "from pydantic import Field\n"
        "from aprqa_action.checks import Judgement, Oracle, register_oracle\n"
        "from aprqa_action.records import Record\n"
        "class Loud(Record):\n    level: int = Field(default=1)\n"
        "register_oracle(Oracle('loud', 'F-QUAL-LOUD', Loud, lambda answer, config: Judgement('loud', 'pass', 'ok')))\n"
        "PROFILE = __file__.replace('shout_plugin.py', 'echo.yaml')\n"
    )
    (tmp_path / "echo.yaml").write_text(json.dumps(ECHO | {"name": "echo-plugin", "description": "from a plug-in"}))
    info = tmp_path / "shout_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[aprqa.checks]\nloud = shout_plugin\n\n[aprqa.engines]\necho-plugin = shout_plugin:PROFILE\n"
    )
    code = (
        "from aprqa_action.checks import oracles\n"
        "from aprqa_action.engines import builtin_names, load_profile\n"
        "print(list(oracles()))\n"
        "print('echo-plugin' in builtin_names(), load_profile('echo-plugin').description)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['garbage', 'arithmetic', 'code_syntax', 'golden', 'loud']",
        "True from a plug-in",
    ]
