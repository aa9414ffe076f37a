"""GitHub publishing: the only package that knows GitHub (REST API, workflow commands, step files)."""

from aprqa_action.github.publish import PublishReport, PublishRequest, StepResult, publish

__all__ = ["PublishReport", "PublishRequest", "StepResult", "publish"]
