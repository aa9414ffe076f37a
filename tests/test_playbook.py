"""The playbook schema: every key validated, unknown keys and bad YAML reported at file:line:col."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, aprqa, write_playbook

from aprqa_action.errors import InputError
from aprqa_action.playbook import Playbook, json_schema_text, load_playbook

MVP = ROOT / "playbooks" / "models" / "qwen2.5-coder-7b-mvp.playbook.yaml"


def test_seed_mvp_playbook_validates_with_every_key() -> None:
    playbook = load_playbook(MVP).playbook
    assert playbook.model.formats == ["safetensors", "apr", "gguf"]
    assert playbook.model.quantizations == ["q4_k_m"]
    assert playbook.model.size_category == "medium"
    assert playbook.test_matrix.seed == 42
    assert playbook.timeout_ms == 180000
    assert [o.type for o in playbook.oracles] == ["arithmetic", "garbage"]
    assert playbook.oracles[1].config.max_repetition_ratio == 0.3
    assert playbook.profile_ci is not None and playbook.profile_ci.assertions.min_throughput_gpu == 50.0
    assert playbook.contract_tests is not None and playbook.contract_tests.invariants == [
        "I-2",
        "I-3",
        "I-4",
        "I-5",
    ]
    assert playbook.failure_policy == "collect_all"


def test_validate_cli_reports_cells(tmp_path: Path) -> None:
    done = aprqa("validate", MVP)
    assert done.returncode == 0, done.stderr
    assert "18 cells" in done.stdout


def test_malformed_yaml_is_file_line_col_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: '1'\nmodel:\n  formats: [gguf\n  hf_repo: a/b\n")
    done = aprqa("validate", bad)
    assert done.returncode == 2
    assert f"{bad}:5:" in done.stderr and "invalid YAML" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_key_is_reported_at_its_line_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: x\nversion: '1'\nmodel: {hf_repo: a/b, formats: [gguf]}\n"
        "test_matrix:\n  modalities: [run]\n  backends: [cpu]\n  scenario_cont: 3\n"
    )
    done = aprqa("validate", path)
    assert done.returncode == 2
    assert f"{path}:7:3: test_matrix.scenario_cont: unknown key (did you mean 'scenario_count'?)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1.0\n", ":2:1: version: Input should be a valid string"),
        ("gates: {g1_model_loads: true}\n", ":6:9: gates.g1_model_loads: unknown key; allowed here: g4_max_fail"),
        ("failure_policy: sometimes\n", ":6:1: failure_policy: Input should be 'collect_all' or 'fail_fast'"),
        (
            "oracles:\n  - type: arithmetic\n    config: {tolerence: 1}\n",
            ":8:14: oracles[0].config.tolerence",
        ),
        ("oracles:\n  - type: vibes\n", ":7:5: oracles[0]: Input tag 'vibes'"),
        ("contract_tests: {invariants: [I-9]}\n", "contract_tests.invariants[0]: Input should be"),
        (
            "engine: {name: x, formats: [gguf]}\n",
            "engine: an engine profile needs at least one of run, chat, serve",
        ),
    ],
)
def test_schema_violations_name_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    base = (
        "name: x\nversion: '1'\nmodel: {hf_repo: a/b, formats: [gguf]}\n"
        "test_matrix: {modalities: [run], backends: [cpu]}\n"
    )
    if text.startswith("version"):
        base = base.replace("version: '1'\n", "")
        text_in = base.replace("name: x\n", "name: x\n" + text)
    else:
        text_in = base + "#\n" + text
    path = tmp_path / "p.yaml"
    path.write_text(text_in)
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nname: y\n")
    with pytest.raises(InputError, match=r"p.yaml:2:1: duplicate key 'name'"):
        load_playbook(path)


def test_lists_reject_duplicates_and_empty(tmp_path: Path) -> None:
    path = write_playbook(tmp_path / "p.yaml", test_matrix={"modalities": ["run", "run"], "backends": []})
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    message = str(caught.value)
    assert "test_matrix.modalities: listed more than once: run" in message
    assert "test_matrix.backends: List should have at least 1 item" in message


def test_prompt_entries_accept_strings_and_mappings(tmp_path: Path) -> None:
    path = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": ["run"], "backends": ["cpu"], "prompts": ["a", {"prompt": "b"}]},
    )
    prompts = load_playbook(path).playbook.test_matrix.prompt_specs
    assert [p.prompt for p in prompts] == ["a", "b"]


def test_timeout_defaults_from_size_category(tmp_path: Path) -> None:
    path = write_playbook(
        tmp_path / "p.yaml",
        model={"hf_repo": "a/b", "formats": ["gguf"], "size_category": "large"},
        test_matrix={"modalities": ["run"], "backends": ["cpu"]},
    )
    assert load_playbook(path).playbook.timeout_ms == 300_000


def test_empty_and_non_mapping_documents(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InputError, match="a playbook is a YAML mapping, this document is empty"):
        load_playbook(empty)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n")
    with pytest.raises(InputError, match="this document is list"):
        load_playbook(listing)
    with pytest.raises(InputError, match="no such file"):
        load_playbook(tmp_path / "missing.yaml")


def test_exported_json_schema_is_in_sync() -> None:
    committed = (ROOT / "playbooks" / "playbook.schema.json").read_text()
    assert committed == json_schema_text(), "run `aprqa schema > playbooks/playbook.schema.json`"


def test_json_schema_accepts_the_shipped_playbooks_and_rejects_unknown_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads((ROOT / "playbooks" / "playbook.schema.json").read_text())
    for path in sorted((ROOT / "playbooks").rglob("*.playbook.yaml")):
        data = yaml.safe_load(path.read_text())
        jsonschema.validate(data, schema)
        Playbook.model_validate(data)
    data = yaml.safe_load(MVP.read_text())
    data["test_matrix"]["workers"] = 4
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
