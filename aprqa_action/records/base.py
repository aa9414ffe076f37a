"""The base of every record: unknown keys are errors (a typo in a user's file, a forged field in evidence)
and values are immutable, so stages exchange plain data."""

from typing import Any

from pydantic import BaseModel, ConfigDict

# Each validated model gets its own set of the field names it was given: 728 bytes for an evidence item,
# 2,264 for an observation, over half of what 10,000 scenarios cost in memory. Records are frozen, so nothing
# adds to the set after validation and models given the same fields can share one (`model_copy` copies it).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        given = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(given), given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)


# A playbook's name: it names files, scenario ids, the PR comment's marker and the commit status context.
PLAYBOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
