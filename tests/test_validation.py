"""`aprqa validate`: unknown engine names, profile_ci formats, and rules across several keys reported at the
line of the key most to blame (not at file:1:1 (top))."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import aprqa

from aprqa_action.engines import builtin_names
from aprqa_action.errors import InputError
from aprqa_action.playbook import load_playbook

HEAD = """\
name: t
version: "1.0.0"
"""
MATRIX = """\
test_matrix:
  modalities: [run]
  backends: [cpu]
"""


def error_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    return str(caught.value).replace(str(path), "p.yaml")


def test_an_unknown_engine_name_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + "engine: llamacpp-servr\n"
    known = ", ".join(builtin_names())
    assert error_of(tmp_path, text) == (
        "p.yaml:7:1: engine: unknown engine profile 'llamacpp-servr' (did you mean 'llamacpp-server'?); "
        f"known: {known}, or a profile file (*.yaml) or an inline profile"
    )
    path = tmp_path / "p.yaml"
    done = aprqa("validate", path)
    assert done.returncode == 2 and f"{path}:7:1: engine: unknown engine profile 'llamacpp-servr'" in done.stderr


def test_engine_names_that_load_profile_accepts_stay_valid(tmp_path: Path) -> None:
    for engine in ["reference", "llamacpp-server", "profiles/mine.yaml", "./mine"]:
        path = tmp_path / "p.yaml"
        path.write_text(HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + f"engine: {engine}\n")
        assert load_playbook(path).playbook.engine == engine


def test_profile_ci_formats_must_be_model_formats(tmp_path: Path) -> None:
    profile = "profile_ci:\n  formats:\n    - gguf\n    - apr\n"
    text = HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + profile
    assert error_of(tmp_path, text) == (
        "p.yaml:10:7: profile_ci.formats[1]: profile_ci.formats apr is not in model.formats (gguf)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + "  repeat: 2\n  repeat_min_pass: 3\n",
            "p.yaml:8:3: test_matrix.repeat_min_pass: repeat_min_pass 3 is more than repeat 2",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + "oracles:\n"
            "  - type: garbage\n  - type: arithmetic\n  - type: garbage\n",
            "p.yaml:10:5: oracles[2].type: oracles: garbage declared more than once",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + "  prompts:\n"
            "    - {prompt: 'What is 2+2?', oracles: [garbage, arithmetic]}\n",
            "p.yaml:8:51: test_matrix.prompts[0].oracles[1]: test_matrix.prompts[0] asks for the arithmetic "
            "oracle, which `oracles` does not declare",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf]}\n" + MATRIX + "format_parity: {reference: gguf}\n",
            "p.yaml:3:23: model.formats: format_parity compares formats: model.formats needs at least two",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf, apr]}\n" + MATRIX + "format_parity:\n"
            "  reference: safetensors\n",
            "p.yaml:8:3: format_parity.reference: format_parity.reference safetensors is not in model.formats",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf, apr]}\n" + MATRIX + "  temperature: 0.7\nformat_parity: {}\n",
            "p.yaml:7:3: test_matrix.temperature: format_parity compares greedy answers: test_matrix.temperature "
            "must be 0",
        ),
        (
            HEAD + "model: {hf_repo: a/b, formats: [gguf, apr]}\n" + MATRIX + "format_parity:\n"
            "  modalities: [run, serve]\n",
            "p.yaml:8:21: format_parity.modalities[1]: format_parity.modalities serve not in test_matrix.modalities",
        ),
    ],
)
def test_rules_across_keys_point_at_the_key_to_blame(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\n\x1f", "2:1"),
        ("a: 1\r\nb: \x1f", "2:4"),
        ("\x85\x1f", "2:1"),  # NEL breaks a line in YAML (and for str.splitlines): found by the fuzz test
        ("a\u2028b\x00", "2:2"),
    ],
)
def test_a_character_yaml_forbids_is_placed_as_yaml_counts_lines(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    assert str(caught.value).startswith(f"{path}:{where}: invalid YAML: character U+"), caught.value
