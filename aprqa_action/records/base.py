"""The base of every record: unknown keys are errors (a typo in a user's file, a forged field in evidence)
and values are immutable, so stages exchange plain data."""

import sys
from typing import Any

from pydantic import BaseModel, ConfigDict

# Each validated model gets its own set of the field names it was given: 728 bytes for an evidence item,
# 2,264 for an observation, over half of what 10,000 scenarios cost in memory. Records are frozen, so nothing
# adds to the set after validation and models given the same fields can share one (`model_copy` copies it).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
# Long strings repeat across records (an answer is the observation's text and the excerpt of each item that
# judged it): the interned copy is kept, the duplicate freed at once, so a 10,000-scenario evidence file reads
# into a fraction of the memory. Interned strings are freed when nothing refers to them any more.
_SHARED_LENGTH = 64


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        given = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(given), given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)
        for name, value in self.__dict__.items():
            if type(value) is str and len(value) >= _SHARED_LENGTH:
                self.__dict__[name] = sys.intern(value)


# A playbook's name: it names files, scenario ids, the PR comment's marker and the commit status context.
PLAYBOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
