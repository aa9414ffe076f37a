"""Engine profiles: the built-ins shipped as YAML, a profile file, or an inline profile in a playbook.

Loading a profile starts nothing; execute/ drives the engine a profile describes."""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from pathlib import Path

from aprqa_action.documents.validation import validate_document
from aprqa_action.documents.yaml_source import load_yaml
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError

ENTRY_POINTS = "aprqa.engines"


def _shipped() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files(__package__).joinpath("profiles").iterdir()
        if p.name.endswith(".yaml")
    )


def _plugins() -> dict[str, EntryPoint]:
    """Profiles other packages register: entry point group `aprqa.engines`, name → an `EngineProfile` or the
    path of a profile YAML file. A shipped profile of the same name wins."""
    shipped = set(_shipped())
    return {point.name: point for point in entry_points(group=ENTRY_POINTS) if point.name not in shipped}


def builtin_names() -> list[str]:
    """The profiles a playbook or `--engine` may name: the shipped ones and those of installed plug-ins."""
    return sorted([*_shipped(), *_plugins()])


def load_profile(ref: str | EngineProfile) -> EngineProfile:
    """A built-in name (`reference`, `apr`, ...), a path to a profile YAML file, or an inline profile, as
    written: `execute.version.resolve_variants` applies the variant for the installed engine's version."""
    if isinstance(ref, EngineProfile):
        return ref
    plugins = _plugins()
    if ref in plugins:
        try:
            found = plugins[ref].load()
        except Exception as exc:  # a broken plug-in is its author's to fix: say which, not a traceback
            raise InputError(f"the {ENTRY_POINTS} entry point {ref} ({plugins[ref].value}): {exc}") from None
        if isinstance(found, EngineProfile):
            return found
        path = Path(str(found))
    elif ref in _shipped():
        path = Path(str(files(__package__).joinpath("profiles", f"{ref}.yaml")))
    elif ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref)
    else:
        close = difflib.get_close_matches(ref, builtin_names(), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown engine {ref!r}{hint}: use one of {', '.join(builtin_names())} or a profile file")
    return validate_document(EngineProfile, load_yaml(path))
