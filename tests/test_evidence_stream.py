"""Reading evidence.json streaming (store/json_stream.py): the records and the errors `model_validate_json`
gave, element by element — malformed text, unknown keys and forged fields refused as before, with where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import report_fixtures as fx

from aprqa_action.errors import InputError
from aprqa_action.records import Evidence
from aprqa_action.store.evidence import dump, read_evidence
from aprqa_action.store.json_stream import MAX_DEPTH

DOCS = "https://errors.pydantic.dev"


def _write(tmp_path: Path, content: str | dict[str, Any]) -> Path:
    path = tmp_path / "evidence.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_evidence(path)
    return str(caught.value).removeprefix(f"{path}: ")


def _lines(message: str) -> list[str]:
    """A validation message without pydantic's links to its documentation."""
    return [line for line in message.splitlines() if DOCS not in line]


@pytest.mark.parametrize(
    "build",
    [fx.qualified, fx.blocked, fx.partially_skipped, fx.hostile, lambda: fx.synthetic(60, fail_every=3)],
    ids=["qualified", "blocked", "partially_skipped", "hostile", "synthetic"],
)
def test_a_file_reads_back_as_model_validate_json_read_it(build: Any, tmp_path: Path) -> None:
    text = dump(build())
    whole = Evidence.model_validate_json(text)
    read = read_evidence(_write(tmp_path, text))
    assert read == whole
    assert read.model_fields_set == whole.model_fields_set
    assert [s.model_fields_set for s in read.scenarios] == [s.model_fields_set for s in whole.scenarios]
    assert dump(read) == text


def test_values_are_the_types_json_mode_gave(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["scenarios"][0]["sampling"] = {"top_k": 40, "top_p": 0.9, "repeat_penalty": 1.0}
    data["scenarios"][0]["temperature"] = 1  # an integer where a float is declared
    data["observations"][0]["facts"] = {"status": 200, "json": True, "ratio": 0.5, "body": "{}", "none": None}
    data["playbook"]["spec"] = {"nested": {"list": [1, 2.5, "x", None, False]}, "float": 1e-7}
    read = read_evidence(_write(tmp_path, data))
    assert read.scenarios[0].sampling == {"top_k": 40, "top_p": 0.9, "repeat_penalty": 1.0}
    assert [type(v) for v in read.scenarios[0].sampling.values()] == [int, float, float]
    assert read.scenarios[0].temperature == 1.0 and type(read.scenarios[0].temperature) is float
    assert read.observations[0].facts == {"status": 200, "json": True, "ratio": 0.5, "body": "{}", "none": None}
    assert read.playbook.spec == {"nested": {"list": [1, 2.5, "x", None, False]}, "float": 1e-7}
    assert str(read.run.started) == "2026-11-02 14:30:00+00:00"  # a datetime, from its string
    assert read.scenarios[0].format.value == data["scenarios"][0]["format"]  # an enum, from its value


def test_a_file_truncated_mid_array_is_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"schema_version": 2, "scenarios": [{"id": "a"}, ')
    assert _refusal(path) == "not a JSON evidence file: Invalid JSON: EOF while parsing a value at line 1 column 49"


def test_trailing_garbage_is_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, dump(fx.blocked()) + "{}\n")
    message = _refusal(path)
    assert message.startswith("not a JSON evidence file: Invalid JSON: trailing characters at line ")
    assert "\n" not in message


def test_an_empty_file_is_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    assert _refusal(path) == "not a JSON evidence file: Invalid JSON: EOF while parsing a value at line 1 column 0"


def test_an_unknown_key_in_one_scenario_is_refused_where_it_is(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["scenarios"][1]["surprise"] = "x"
    assert _lines(_refusal(_write(tmp_path, data))) == [
        "not a valid evidence file: 1 validation error for Evidence",
        "scenarios.1.surprise",
        "  Extra inputs are not permitted [type=extra_forbidden, input_value='x', input_type=str]",
    ]


def test_a_forged_field_in_an_evidence_item_is_refused(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["items"][0]["trusted"] = True
    assert _lines(_refusal(_write(tmp_path, data)))[1:] == [
        "items.0.trusted",
        "  Extra inputs are not permitted [type=extra_forbidden, input_value=True, input_type=bool]",
    ]


def test_every_error_of_the_file_is_said_in_the_order_of_the_fields(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["surprise"] = True
    data["verdict"]["status"] = "GREAT"
    data["items"][2]["outcome"] = "Passed"
    data["scenarios"][0]["index"] = "x"
    data["scenarios"].append(None)
    del data["run"]["host"]
    lines = _lines(_refusal(_write(tmp_path, data)))
    assert lines[0] == "not a valid evidence file: 6 validation errors for Evidence"
    assert lines[1::2] == [
        "run.host",
        "scenarios.0.index",
        f"scenarios.{len(data['scenarios']) - 1}",
        "items.2.outcome",
        "verdict.status",
        "surprise",
    ]
    # the messages a JSON document gets, not a Python object's
    assert "  Input should be an object [type=model_type, input_value=None, input_type=NoneType]" in lines


def test_a_big_array_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["observations"] = {"a": 1}
    assert _lines(_refusal(_write(tmp_path, data)))[1:] == [
        "observations",
        "  Input should be a valid array [type=list_type, input_value={'a': 1}, input_type=dict]",
    ]


def test_a_document_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    assert _lines(_refusal(_write(tmp_path, "[1, 2]"))) == [
        "not a valid evidence file: 1 validation error for Evidence",
        "  Input should be an object [type=model_type, input_value=[1, 2], input_type=list]",
    ]


def test_what_the_streaming_parser_refuses_is_decided_as_before(tmp_path: Path) -> None:
    # An integer beyond 64 bits, nesting past the streaming limit: JSON, read as model_validate_json read them.
    data = json.loads(dump(fx.blocked()))
    data["observations"][0]["tokens"] = 2**70
    deep: list[Any] = []
    for _ in range(MAX_DEPTH + 10):
        deep = [deep]
    data["playbook"]["spec"] = {"deep": deep}
    read = read_evidence(_write(tmp_path, data))
    assert read.observations[0].tokens == 2**70
    assert read.playbook.spec == {"deep": deep}


def test_nesting_too_deep_for_pydantic_is_not_json(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    data["playbook"]["spec"] = {"deep": "DEEP"}
    text = json.dumps(data).replace('"DEEP"', "[" * 300 + "]" * 300)
    message = _refusal(_write(tmp_path, text))
    assert message.startswith("not a JSON evidence file: Invalid JSON: recursion limit exceeded at line ")


def test_a_file_without_items_is_not_evidence(tmp_path: Path) -> None:
    data = json.loads(dump(fx.blocked()))
    del data["items"]
    assert _refusal(_write(tmp_path, data)) == "not a valid evidence file: missing items"


def test_a_missing_file(tmp_path: Path) -> None:
    assert _refusal(tmp_path / "evidence.json") == "no such file"
