"""What a run was asked to do: its options (from the CLI, which the action calls) and its --fail-on policy,
each parsed once where it comes in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from aprqa_action.records.base import Record

DEFAULT_THRESHOLD_PCT = 10.0  # a metric change a baseline comparison flags when no regression:<pct> says


class FailPolicy(Record):
    """`--fail-on`: besides the gateways, what must hold for the run to qualify — nothing (`gateway`), a
    grade (`grade:B`), an MQS (`mqs:800`), a certification status (`status`: not BLOCKED; `status:CERTIFIED`),
    every declared cell executed (`executed`) or no regression against a baseline (`regression:10`)."""

    kind: Literal["gateway", "grade", "mqs", "status", "executed", "regression"] = "gateway"
    grade: str | None = None
    mqs: int | None = None
    status: Literal["PROVISIONAL", "CERTIFIED"] | None = None  # the least status that qualifies
    regression_pct: float | None = None

    def __str__(self) -> str:
        if self.kind == "status":
            return "status" if self.status == "PROVISIONAL" else f"status:{self.status}"
        value = {"grade": self.grade, "mqs": self.mqs, "regression": self.regression_pct}.get(self.kind)
        if isinstance(value, float):
            value = f"{value:g}"
        return self.kind if value is None else f"{self.kind}:{value}"

    @property
    def threshold_pct(self) -> float:
        """The change a baseline comparison flags: the regression policy's, else the default."""
        return self.regression_pct if self.regression_pct is not None else DEFAULT_THRESHOLD_PCT


class RunOptions(Record):
    """`aprqa run`'s options, parsed and checked once."""

    playbook: Path
    model_path: Path | None = None
    engine: str | None = None  # a profile name or file, instead of the playbook's
    output_dir: Path
    fail_on: FailPolicy = FailPolicy()
    shard: tuple[int, int] | None = None  # (i, n): the i-th of n shards
    only: dict[str, list[str]] | None = None  # axis → values
    baseline: Path | None = None  # evidence to compare with
    resume: bool = False  # keep what an earlier run in output_dir finished
    run_url: str | None = Field(default=None, description="the CI run, linked from the reports")
    templates: Path | None = None  # the user's own report templates (--templates DIR)
    # Progress: -1 (--quiet) only scenarios that did not pass; 1 (--verbose) also each one's command and error.
    verbosity: int = Field(default=0, ge=-1, le=1)
