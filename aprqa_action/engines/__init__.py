"""Engine profiles: the built-ins shipped as YAML, a profile file, or an inline profile in a playbook.

Loading a profile starts nothing; execute/ drives the engine a profile describes."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aprqa_action.documents.validation import validate_document
from aprqa_action.documents.yaml_source import load_yaml
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files(__package__).joinpath("profiles").iterdir()
        if p.name.endswith(".yaml")
    )


def load_profile(ref: str | EngineProfile) -> EngineProfile:
    """A built-in name (`reference`, `apr`, ...), a path to a profile YAML file, or an inline profile, as
    written: `execute.version.resolve_variants` applies the variant for the installed engine's version."""
    if isinstance(ref, EngineProfile):
        return ref
    if ref in builtin_names():
        path = Path(str(files(__package__).joinpath("profiles", f"{ref}.yaml")))
    elif ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref)
    else:
        raise InputError(f"unknown engine {ref!r}: use one of {', '.join(builtin_names())} or a profile file")
    return validate_document(EngineProfile, load_yaml(path))
