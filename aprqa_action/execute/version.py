"""The installed engine's version, and the profile variant for it: the one place a profile's
`version_argv` runs."""

from __future__ import annotations

import sys
import threading

from aprqa_action.engines import load_profile
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.execute.process import run_process

VERSION_TIMEOUT_S = 60  # `--version` answers at once; a wedged binary must not hold up the run for long


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


def installed_profile(ref: str | EngineProfile) -> EngineProfile:
    """The profile `ref` names (see engines.load_profile), with the variant for the installed engine."""
    return resolve_variants(load_profile(ref))
