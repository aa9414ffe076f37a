"""A prompt of the matrix with what its answer is judged by."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aprqa_action import checks
from aprqa_action.records import Record


def _oracle_names(schema: dict[str, Any]) -> None:
    # names are checked against the registry when the playbook is validated; the schema lists them too
    for option in schema.get("anyOf", []):
        if option.get("type") == "array":
            option["items"]["enum"] = list(checks.oracles())


class PromptSpec(Record):
    prompt: str = Field(min_length=1)
    oracles: list[str] | None = Field(
        default=None,
        description="Judge this prompt with only these of the declared oracles",
        json_schema_extra=_oracle_names,
    )
    expected_prefix: str | None = None
    must_contain: list[str] = Field(default_factory=list)
    must_not_contain: list[str] = Field(default_factory=list)
