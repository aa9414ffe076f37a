"""The evidence JSON Schema: shipped, in sync with the `Evidence` model, and describing what aprqa writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import report_fixtures as fx

from aprqa_action.errors import InputError
from aprqa_action.records import SCHEMA_VERSION, Evidence
from aprqa_action.report.schema import evidence_schema, evidence_schema_text, main, schema_errors, schema_path
from aprqa_action.store.evidence import dump, read_evidence


def test_the_shipped_schema_is_in_sync_with_the_model() -> None:
    assert schema_path().is_file(), "run python -m aprqa_action.report.schema --write"
    assert schema_path().read_text(encoding="utf-8") == evidence_schema_text(), (
        "the Evidence model changed: run `python -m aprqa_action.report.schema --write` and review the diff"
    )
    assert main(["--check"]) == 0


def test_the_schema_is_versioned() -> None:
    schema = evidence_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/evidence-v{SCHEMA_VERSION}.schema.json")
    assert schema["title"] == f"aprqa evidence (schema version {SCHEMA_VERSION})"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "build", [fx.qualified, fx.blocked, fx.partially_skipped, fx.hostile], ids=lambda f: f.__name__
)
def test_evidence_files_validate(build: Callable[[], Evidence]) -> None:
    assert schema_errors(json.loads(dump(build()))) == []


def test_the_schema_rejects_what_aprqa_would_not_read() -> None:
    data = json.loads(dump(fx.blocked()))
    data["schema_version"] = SCHEMA_VERSION + 1
    data["items"][0]["outcome"] = "Passed"
    data["verdict"]["status"] = "GREAT"
    del data["run"]["host"]
    data["surprise"] = True
    assert schema_errors(data) == [
        "(root): Additional properties are not allowed ('surprise' was unexpected)",
        "items/0/outcome: 'Passed' is not one of ['Corroborated', 'Falsified', 'Skipped', 'Timeout', 'Crashed']",
        "run: 'host' is a required property",
        f"schema_version: {SCHEMA_VERSION} was expected",
        "verdict/status: 'GREAT' is not one of ['CERTIFIED', 'PROVISIONAL', 'BLOCKED']",
    ]


@pytest.mark.parametrize("field", ["schema_version", "items"])
def test_a_file_without_schema_version_or_items_is_not_evidence(field: str, tmp_path: Path) -> None:
    # Both have defaults in the model (for the code that builds evidence) but are always written.
    data = json.loads(dump(fx.blocked()))
    del data[field]
    assert schema_errors(data) == [f"(root): '{field}' is a required property"]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=f"missing {field}"):
        read_evidence(path)
