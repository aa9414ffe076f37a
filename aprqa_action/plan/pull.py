"""G0-PULL: get the files of a playbook's `model.hf_repo` into the Hugging Face cache when no --model-path is given.

`pull()` lists the repo once (`HfApi.model_info`), chooses only the files the declared formats need — GGUF/APR: the
file(s) named after a declared quantization, never the whole 10-quant repo; SafeTensors: weights, index, config and
tokenizer — and downloads them with huggingface_hub's `snapshot_download` into the standard HF cache. The snapshot
directory it returns is then used exactly like a --model-path directory (`resolve.resolve_models`).

Why huggingface_hub: the cache layout, refs, auth, mirrors (HF_ENDPOINT) and offline mode then behave like every
other HF tool on the runner — a model pre-fetched with `hf download` is found here, and the other way round.

The cache comes first: when the snapshot of the revision already holds the needed files (checked with
`local_files_only=True` against the cached file listing), nothing is asked of the Hub — with HF_HUB_OFFLINE that is
the only way, and no request is ever made. A cached branch is therefore not refreshed; pin a commit as `revision`
(or clear the cache) to move on.

Environment: huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME / HF_HUB_CACHE and
HF_HUB_DISABLE_PROGRESS_BARS once, when it is imported. `pull` reads them from the `env` it is given (default:
`os.environ` at call time) with the library's own rules and passes them explicitly (`endpoint=`, `cache_dir=`,
`token=`, `local_files_only=`, `tqdm_class=`), so the environment of the call is what counts. Offline mode set at
import still applies as well (the library then refuses every request). HF_TOKEN comes from `env`, else the library
finds one itself (token file); no token ever appears in a reason. One thing is left to the library: its user agent
may look up an agent registry at the import-time endpoint once per process, unless HF_HUB_DISABLE_TELEMETRY=1.

`pull` never raises (KeyboardInterrupt and SystemExit aside): every failure is a Falsified result whose reason says
what to do. The library is imported lazily so that the rest of aprqa works without it (extra `pull`).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aprqa_action.records.axes import Format, format_of

# A CI tool does not phone home: without this, huggingface_hub looks up an "agent registry" on huggingface.co
# once per process (a 3 s wait on an air-gapped runner). A user's explicit setting wins.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
from aprqa_action.records import Record

if TYPE_CHECKING:
    from aprqa_action.playbook import ModelSpec

PullOutcome = Literal["Corroborated", "Falsified", "Skipped"]


class PullResult(Record):
    directory: str | None  # the snapshot directory in the HF cache: use it like a --model-path directory
    files: list[str]  # absolute paths of the chosen files inside `directory`
    from_cache: bool  # nothing was downloaded
    outcome: PullOutcome
    reason: str
    commit: str | None = None  # the commit the files come from


# SafeTensors needs more than its weights to be loaded by an engine.
_SAFETENSORS_COMPANIONS = ("config.json", "generation_config.json")
_SPLIT = re.compile(r"^(?P<stem>.+)-\d{5}-of-\d{5}(?P<ext>\.[A-Za-z0-9.]+)$")
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub.constants.ENV_VARS_TRUE_VALUES


# -- which files -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFiles:
    files: list[str]  # repo paths to download, grouped by format in the order asked
    missing: list[Format]  # formats with no file
    notes: list[str]  # why a format has no file, or how one of several was chosen


def choose_files(
    names: Iterable[str], formats: Sequence[Format], quantizations: Sequence[str], *, whole_repo: bool = True
) -> HubFiles:
    """The repo files the formats need. Only top-level files count: that is where `resolve` looks.

    `whole_repo=False` says `names` is only what a cache happens to hold: a lone file there that is not named after
    a declared quantization is then not taken for it (the repo may well have the right one).
    """
    top = sorted({n for n in names if "/" not in n})
    files: list[str] = []
    missing: list[Format] = []
    notes: list[str] = []
    for fmt in formats:
        candidates = [n for n in top if format_of(n) == fmt]
        if fmt == Format.SAFETENSORS:
            chosen = _safetensors(candidates, top)
        else:
            chosen = _single_file(fmt, candidates, quantizations, notes, lone_ok=whole_repo)
        if not candidates:
            notes.append(f"no {fmt} file {'at the top of the repo' if whole_repo else 'in the cached snapshot'}")
        if not chosen:
            missing.append(fmt)
        files += [n for n in chosen if n not in files]
    return HubFiles(files, missing, notes)


def _safetensors(weights: list[str], top: list[str]) -> list[str]:
    if not weights:
        return []
    companions = [n for n in top if n in _SAFETENSORS_COMPANIONS or n.startswith("tokenizer")]
    return weights + companions


def _single_file(
    fmt: Format, candidates: list[str], quantizations: Sequence[str], notes: list[str], *, lone_ok: bool
) -> list[str]:
    # A split GGUF (`x-00001-of-00003.gguf`) is one model in several files: choose and download them together.
    units: dict[str, list[str]] = {}
    for name in candidates:
        split = _SPLIT.match(name)
        units.setdefault(split["stem"] + split["ext"] if split else name, []).append(name)
    if not units:
        return []
    if quantizations:
        patterns = [_quant_pattern(q) for q in quantizations]
        matching = [parts for parts in units.values() if any(p.search(parts[0].lower()) for p in patterns)]
        if matching:
            return [name for parts in matching for name in parts]
        if len(units) > 1 or not lone_ok:
            shown = ", ".join(sorted(units)[:6]) + (", …" if len(units) > 6 else "")
            notes.append(
                f"no {fmt} file is named after {'/'.join(quantizations)} ({shown}): "
                "declare one of theirs in model.quantizations"
            )
            return []
        # One file whose name does not say its quantization: the contract checks judge its tensor types.
        only = next(iter(units.values()))
        notes.append(f"the only {fmt} file, {only[0]}, is not named after {'/'.join(quantizations)}: pulled it")
        return only
    if len(units) == 1:
        return next(iter(units.values()))
    # Several and none declared: the one `resolve` would pick from a directory of all of them, not all of them.
    best = min(units.values(), key=lambda parts: (_stem(parts[0]) != "model", len(parts[0]), parts[0]))
    notes.append(
        f"{len(units)} {fmt} files and no quantization declared: chose {best[0]} (declare model.quantizations)"
    )
    return best


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0].lower()


@functools.cache
def _quant_pattern(quantization: str) -> re.Pattern[str]:
    # `q4_k_m` matches Q4_K_M / q4-k-m as a whole token: `f16` is not `bf16`, `q4_k` is not `q4_k_m`.
    parts = [re.escape(p) for p in re.split(r"[_-]", quantization.lower()) if p]
    return re.compile(r"(?<![a-z0-9])" + r"[_-]?".join(parts) + r"(?![a-z0-9]|_[a-z0-9])")


def include_patterns(formats: Sequence[Format], quantizations: Sequence[str]) -> list[str]:
    """Case-insensitive `hf download --include` globs for the formats, for a user to fetch them by hand."""

    def anycase(text: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else glob.escape(c) for c in text)

    patterns: list[str] = []
    for fmt in formats:
        if fmt == Format.SAFETENSORS:
            patterns += ["*.safetensors", "*.safetensors.index.json", *_SAFETENSORS_COMPANIONS, "tokenizer*"]
        elif quantizations:
            patterns += [f"*{anycase(q)}*.{fmt}" for q in quantizations]
        else:
            patterns.append(f"*.{fmt}")
    return patterns


# -- the environment, read as huggingface_hub reads it ------------------------------------------------------


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    cache_dir: str
    offline: bool
    token: str | None  # None: let huggingface_hub find one (HF_TOKEN, `hf auth login`)
    progress: bool


def hub_settings(env: Mapping[str, str]) -> HubSettings:
    """The settings huggingface_hub.constants would compute at import, from `env` (imports the library)."""
    from huggingface_hub import constants

    def path(value: str) -> str:
        return os.path.expandvars(os.path.expanduser(value))

    home = path(env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface"))
    cache = path(env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub"))
    offline = _is_true(env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE")) or constants.is_offline_mode()
    bars = env.get("HF_HUB_DISABLE_PROGRESS_BARS")
    return HubSettings(
        endpoint=(env.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"),
        cache_dir=cache,
        offline=offline,
        token=(env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip() or None,
        # Bars on a terminal only, so CI logs stay clean; the variable decides when it is set, as in the library.
        progress=not _is_true(bars) if bars is not None else sys.stderr.isatty(),
    )


def _is_true(value: str | None) -> bool:
    return value is not None and value.upper() in _TRUE


# -- pull ----------------------------------------------------------------------------------------------------


def pull_model(
    model: ModelSpec,
    model_path: str | Path | None,
    *,
    revision: str | None = None,
    env: Mapping[str, str] | None = None,
) -> PullResult:
    """G0-PULL for a playbook's model: Skipped when --model-path is given (the given files are judged, and nothing
    is downloaded behind the user's back), else `pull` of its hf_repo."""
    if model_path is not None:
        return PullResult(
            directory=None,
            files=[],
            from_cache=False,
            outcome="Skipped",
            reason=f"--model-path {model_path} given: {model.hf_repo} is not pulled",
        )
    return pull(model.hf_repo, list(model.formats), list(model.quantizations), revision=revision, env=env)


def pull(
    hf_repo: str,
    formats: Sequence[str],
    quantizations: Sequence[str],
    *,
    revision: str | None = None,
    env: Mapping[str, str] | None = None,
) -> PullResult:
    """Get the files `formats` need from `hf_repo` into the HF cache (or find them there). Never raises."""
    environ: Mapping[str, str] = os.environ if env is None else env
    secrets = [environ.get("HF_TOKEN"), environ.get("HUGGING_FACE_HUB_TOKEN")]
    try:
        settings = hub_settings(environ)
    except ImportError as exc:
        return _scrubbed(_falsified(f"huggingface_hub is not installed ({exc}): pip install 'aprqa-action[pull]'"))
    secrets.append(settings.token)
    try:
        fmts = [Format(f) for f in formats]
    except ValueError as exc:
        return _falsified(f"cannot pull {hf_repo}: {exc} (known: {', '.join(Format)})")
    try:
        result = _pull(hf_repo, fmts, list(quantizations), revision, settings)
    except Exception as exc:
        result = _falsified(_failure(exc, hf_repo, revision, settings))
    return _scrubbed(result, secrets)


def _pull(
    repo: str, formats: list[Format], quantizations: list[str], revision: str | None, hub: HubSettings
) -> PullResult:
    if not formats:
        return PullResult(
            directory=None, files=[], from_cache=False, outcome="Skipped", reason=f"no format to pull from {repo}"
        )
    cached = _from_cache(repo, formats, quantizations, revision, hub)
    if isinstance(cached, PullResult):
        return cached
    if hub.offline:
        include = " ".join(f"--include '{p}'" for p in include_patterns(formats, quantizations))
        rev = f" --revision {revision}" if revision else ""
        return _falsified(
            f"HF_HUB_OFFLINE=1 and {_at(repo, revision)} is not in the HF cache (looked in {hub.cache_dir}: {cached}): "
            f"run `hf download {repo}{rev} {include}` where the Hub is reachable, with the same HF_HOME, "
            "or pass --model-path"
        )
    return _download(repo, formats, quantizations, revision, hub)


def _from_cache(
    repo: str, formats: list[Format], quantizations: list[str], revision: str | None, hub: HubSettings
) -> PullResult | str:
    """The cached snapshot, if it holds every file the formats need; else why not. Never touches the network."""
    from huggingface_hub import get_cached_repo_tree, snapshot_download
    from huggingface_hub.errors import CachedRepoTreeNotFoundError, LocalEntryNotFoundError

    listed = True
    try:
        # The listing of the whole commit, saved by snapshot_download: it tells what the cache may be missing.
        names = [f.path for f in get_cached_repo_tree(repo, revision=revision, cache_dir=hub.cache_dir)]
    except CachedRepoTreeNotFoundError:
        try:
            folder = snapshot_download(repo, revision=revision, cache_dir=hub.cache_dir, local_files_only=True)
        except LocalEntryNotFoundError:
            return "no snapshot of it"
        # Filled by other means (hf_hub_download of single files): judge by what is there.
        listed = False
        names = [p.name for p in Path(folder).iterdir() if p.is_file()]
    selection = choose_files(names, formats, quantizations, whole_repo=listed)
    if not selection.files or (selection.missing and not listed and not hub.offline):
        # Online, a format the cache cannot answer for is asked of the Hub; offline, what is there is used.
        return f"its cached snapshot has no file for {_formats(selection.missing)} ({'; '.join(selection.notes)})"
    try:
        folder = snapshot_download(
            repo,
            revision=revision,
            cache_dir=hub.cache_dir,
            local_files_only=True,
            allow_patterns=[glob.escape(n) for n in selection.files],
        )
    except LocalEntryNotFoundError:  # IncompleteSnapshotError included
        folder = None
    missing = [n for n in selection.files if folder is None or not (Path(folder) / n).is_file()]
    if folder is None or missing:
        return f"its cached snapshot lacks {', '.join(missing)}"
    files = [str(Path(folder) / n) for n in selection.files]
    notes = selection.notes + ([] if listed else ["cached without a file listing: the Hub's copy was not compared"])
    return PullResult(
        directory=folder,
        files=files,
        from_cache=True,
        outcome="Corroborated",
        reason=_join(
            f"found {_count(files)} ({_size(files)}) of {repo}@{Path(folder).name} in the HF cache at {folder}: "
            "nothing downloaded",
            notes,
        ),
        commit=Path(folder).name,
    )


def _download(
    repo: str, formats: list[Format], quantizations: list[str], revision: str | None, hub: HubSettings
) -> PullResult:
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.file_download import repo_folder_name

    # One listing with sizes and the commit; model_info does not retry, so an unreachable Hub fails at once. The
    # revision is spelled out: without one model_info lists the default branch, snapshot_download fetches "main".
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    info = api.model_info(repo, revision=revision or constants.DEFAULT_REVISION, files_metadata=True)
    commit = info.sha or ""
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    selection = choose_files(sizes, formats, quantizations)
    if not selection.files:
        return _falsified(
            f"{repo}@{commit} has no file for {_formats(formats)} ({'; '.join(selection.notes)}): "
            "check model.hf_repo and model.formats, or pass --model-path"
        )
    snapshot = Path(hub.cache_dir) / repo_folder_name(repo_id=repo, repo_type="model") / "snapshots" / commit
    already = {n for n in selection.files if (snapshot / n).is_file()}
    folder = snapshot_download(
        repo,
        revision=revision,
        cache_dir=hub.cache_dir,
        endpoint=hub.endpoint,
        token=hub.token,
        allow_patterns=[glob.escape(n) for n in selection.files],
        tqdm_class=None if hub.progress else _quiet_tqdm(),
    )
    missing = [n for n in selection.files if not (Path(folder) / n).is_file()]
    if missing:  # the branch moved between the listing and the download
        return _falsified(
            f"{repo}@{commit} listed {', '.join(missing)} but the download of {revision or 'main'} "
            f"({Path(folder).name}) did not bring them: run again"
        )
    fetched = [n for n in selection.files if n not in already]
    files = [str(Path(folder) / n) for n in selection.files]
    at = f"{repo}@{Path(folder).name}"
    if fetched:
        size = _human(sum(sizes.get(n, 0) for n in fetched))
        head = f"pulled {_count(fetched)} ({size}) of {at} into {folder}"
        if already:
            head += f" ({len(already)} already cached)"
    else:
        head = f"all {_count(files)} ({_size(files)}) of {at} were already in the HF cache at {folder}"
    return PullResult(
        directory=folder,
        files=files,
        from_cache=not fetched,
        outcome="Corroborated",
        reason=_join(head, selection.notes),
        commit=Path(folder).name,
    )


@functools.cache
def _quiet_tqdm() -> type[Any]:
    """huggingface_hub's progress bar, switched off (the library shows its overall bar even off a terminal)."""
    from huggingface_hub.utils import tqdm

    class QuietTqdm(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return QuietTqdm


# -- reasons -------------------------------------------------------------------------------------------------


def _failure(exc: Exception, repo: str, revision: str | None, hub: HubSettings) -> str:
    """An actionable reason for whatever huggingface_hub (or the disk) raised."""
    import httpx2
    from huggingface_hub import errors

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__

    def find(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    at = f"the Hub at {hub.endpoint}"
    if find(errors.GatedRepoError):
        return f"{repo} is gated on {at}: accept its conditions there with the account whose token is in HF_TOKEN"
    if find(errors.RepositoryNotFoundError):
        return (
            f"repository not found: {repo} on {at} (a private or gated repo answers the same without a token "
            "that may read it: set HF_TOKEN)"
        )
    if find(errors.RevisionNotFoundError):
        return f"revision {revision!r} not found in {repo} on {at}"
    if found := find(httpx2.TransportError, errors.OfflineModeIsEnabled):
        return f"cannot reach {at}: {_first_line(found)} (set HF_ENDPOINT for a mirror, or pass --model-path)"
    if (found := find(errors.HfHubHTTPError)) and isinstance(found, errors.HfHubHTTPError):
        status = found.response.status_code if found.response is not None else "?"
        return f"{at} answered HTTP {status} for {repo}: {_first_line(found)}"
    if found := find(errors.HFValidationError):
        return f"invalid repo id or revision for {repo}: {_first_line(found)}"
    if found := find(OSError):
        return f"pulling {repo} into {hub.cache_dir} failed: {type(found).__name__}: {_first_line(found)}"
    return f"pulling {repo} failed: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{20,}")


def _scrubbed(result: PullResult, secrets: Iterable[str | None] = ()) -> PullResult:
    reason = result.reason
    for secret in secrets:
        if secret and len(secret) >= 4:
            reason = reason.replace(secret, "***")
    reason = _HF_TOKEN.sub("hf_***", _BEARER.sub(r"\1***", reason))
    return result if reason == result.reason else result.model_copy(update={"reason": reason})


def _falsified(reason: str) -> PullResult:
    return PullResult(directory=None, files=[], from_cache=False, outcome="Falsified", reason=reason)


def _at(repo: str, revision: str | None) -> str:
    return f"{repo}@{revision}" if revision else repo


def _formats(formats: list[Format]) -> str:
    return "/".join(str(f) for f in formats)


def _join(head: str, notes: list[str]) -> str:
    return "; ".join([head, *notes])


def _count(files: Iterable[str]) -> str:
    n = len(list(files))
    return f"{n} file{'' if n == 1 else 's'}"


def _size(paths: Iterable[str]) -> str:
    return _human(sum(Path(p).stat().st_size for p in paths))


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
