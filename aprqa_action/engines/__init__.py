"""Engine profiles: the built-ins shipped as YAML, a profile file, or an inline profile in a playbook."""

from __future__ import annotations

import sys
import threading
from importlib.resources import files
from pathlib import Path

from aprqa_action.engines.process import run_process
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError
from aprqa_action.validation import validate_document
from aprqa_action.yaml_source import load_yaml

VERSION_TIMEOUT_S = 60  # `--version` answers at once; a wedged binary must not hold up the run for long


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files(__package__).joinpath("profiles").iterdir()
        if p.name.endswith(".yaml")
    )


def load_profile(ref: str | EngineProfile) -> EngineProfile:
    """A built-in name (`reference`, `apr`, ...), a path to a profile YAML file, or an inline profile, resolved
    for the installed engine's version when the profile has `variants`."""
    if isinstance(ref, EngineProfile):
        return resolve_variants(ref)
    if ref in builtin_names():
        path = Path(str(files(__package__).joinpath("profiles", f"{ref}.yaml")))
    elif ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref)
    else:
        raise InputError(f"unknown engine {ref!r}: use one of {', '.join(builtin_names())} or a profile file")
    return resolve_variants(validate_document(EngineProfile, load_yaml(path)))


def version_output(argv: list[str], stop: threading.Event | None = None) -> str | None:
    """What `version_argv` prints, stdout then stderr (some engines print their version on stderr), or None
    when the program is missing, fails or hangs. Supervised like any engine process: its own group, a
    deadline, and it ends when the run is stopped."""
    command = [sys.executable if a == "{python}" else a for a in argv]
    done = run_process(command, timeout_s=VERSION_TIMEOUT_S, stop=stop)
    return (done.stdout + b"\n" + done.stderr).decode("utf-8", "replace") if done.ok else None


def detect_version(profile: EngineProfile) -> str | None:
    """The installed engine's release number (`apr --version` → "apr 0.31.2 (abc1234)" → "0.31.2")."""
    if not profile.version_argv:
        return None
    output = version_output(profile.version_argv)
    return profile.read_version(output) if output is not None else None


def resolve_variants(profile: EngineProfile) -> EngineProfile:
    """Run `version_argv` once and apply the variant for that release. Without variants nothing runs; with an
    engine that is not installed the profile stays as written (`aprqa plan` works anywhere, and `aprqa run`
    stops with exit 3 before any scenario because the program is missing)."""
    if not profile.variants:
        return profile
    return profile.for_version(detect_version(profile))
