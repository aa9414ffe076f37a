"""Engine profiles: the built-ins shipped as YAML, a profile file, or an inline profile in a playbook."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError
from aprqa_action.validation import validate_document
from aprqa_action.yaml_source import load_yaml


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files(__package__).joinpath("profiles").iterdir()
        if p.name.endswith(".yaml")
    )


def load_profile(ref: str | EngineProfile) -> EngineProfile:
    """A built-in name (`reference`, `apr`, ...), a path to a profile YAML file, or an inline profile."""
    if isinstance(ref, EngineProfile):
        return ref
    if ref in builtin_names():
        path = Path(str(files(__package__).joinpath("profiles", f"{ref}.yaml")))
    elif ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref)
    else:
        raise InputError(f"unknown engine {ref!r}: use one of {', '.join(builtin_names())} or a profile file")
    return validate_document(EngineProfile, load_yaml(path))
