"""The base of every record: unknown keys are errors (a typo in a user's file, a forged field in evidence)
and values are immutable, so stages exchange plain data."""

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A playbook's name: it names files, scenario ids, the PR comment's marker and the commit status context.
PLAYBOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
