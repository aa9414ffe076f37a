"""Engine profiles are data: how to drive an engine's run, chat and serve modes and read its output.

Built-in profiles (engines/profiles/*.yaml) are written in exactly the format a user writes inline under
`engine:` in a playbook, so both travel the same path.

An engine whose command line changed between releases (apr: `apr serve FILE` became `apr serve run FILE`)
declares `variants`: each names a version range and the modes that differ there. The profile is resolved once,
when it is loaded (`aprqa_action.engines.load_profile`): `version_argv` runs, `version_pattern` reads the
version, and the first variant whose range holds replaces those modes. The profile as written is what runs
when no variant applies or the version cannot be read.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from aprqa_action.records import Record
from aprqa_action.records.axes import Backend, Format, Modality

# Placeholders an argv element or stdin template may use. "{backend_args}" and "{sampling_args}" must stand
# alone: each is replaced by zero or more elements (the backend's flags, e.g. ["--no-gpu"] for cpu; the flags
# of the sampling parameters the playbook declares).
PLACEHOLDERS = frozenset(
    {
        "python", "model", "prompt", "max_tokens", "seed", "temperature", "port", "host", "backend_args",
        "sampling_args", "text_file",  # text_file: aprqa's perplexity text (the `perplexity` mode)
    }
)  # fmt: skip
SamplingKey = Literal["top_k", "top_p", "repeat_penalty"]


def _sampling_flags(flags: list[str]) -> list[str]:
    for flag in flags:
        for _, name, _, _ in string.Formatter().parse(flag):
            if name is not None and name != "value":
                raise ValueError(f"sampling_args: unknown placeholder {{{name}}} (only {{value}})")
    if not any("{value}" in flag for flag in flags):
        raise ValueError("sampling_args: the flags must pass {value}")
    return flags


def _check_template(text: str) -> str:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None and name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(sorted(PLACEHOLDERS))})")
    return text


def _check_regex(pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if compiled.groups < 1:
        raise ValueError("the regular expression needs one capturing group: the value to read")
    return pattern


Regex = Annotated[str, Field(min_length=1)]
FieldName = Annotated[str, Field(min_length=1)]
# A release number as engines print it ("0.31.2"); compared numerically, part by part (0.4.10 > 0.4.9).
VersionText = Annotated[str, Field(pattern=r"^\d+(\.\d+)*$")]
# Without a version_pattern: the first dotted number in the output ("apr 0.31.2 (abc1234)" → 0.31.2).
DEFAULT_VERSION_PATTERN = r"(\d+(?:\.\d+)+)"


def version_key(version: str) -> tuple[int, ...]:
    """The release as numbers to compare; trailing zeros do not count ("0.4" is "0.4.0")."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class JsonOutput(Record):
    """A JSON object on stdout (the last line that parses as one); `fields` maps our names to its keys."""

    format: Literal["json"]
    text: FieldName = "text"
    tokens: FieldName | None = None
    tok_per_sec: FieldName | None = None
    ttft_ms: FieldName | None = None
    latency_ms: FieldName | None = None
    load_ms: FieldName | None = None
    # A boolean: on a gpu cell, false (the engine fell back to the CPU) fails the cell.
    used_gpu: FieldName | None = None


class TextOutput(Record):
    """Plain text: the generated text is stdout (or the first group of `text` over it, DOTALL);
    statistics are read by regex (first group) from stderr, then stdout."""

    format: Literal["text"]
    text: Regex | None = None
    tokens: Regex | None = None
    tok_per_sec: Regex | None = None
    ttft_ms: Regex | None = None
    latency_ms: Regex | None = None
    load_ms: Regex | None = None
    time_unit: Literal["ms", "s"] = Field(default="ms", description="Unit of the ttft/latency/load numbers read")

    @field_validator("text", "tokens", "tok_per_sec", "ttft_ms", "latency_ms", "load_ms")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)


Output = Annotated[JsonOutput | TextOutput, Field(discriminator="format")]
Argv = Annotated[list[str], Field(min_length=1)]


class ProcessMode(Record):
    """run / chat: one process per scenario."""

    argv: Argv
    stdin: str | None = None
    output: Output

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        for item in argv:
            _check_template(item)
            for alone in ("{backend_args}", "{sampling_args}"):
                if alone in item and item != alone:
                    raise ValueError(f"{alone} must be an argv element of its own")
        return argv

    @field_validator("stdin")
    @classmethod
    def _stdin(cls, stdin: str | None) -> str | None:
        if stdin is not None and ("{backend_args}" in stdin or "{sampling_args}" in stdin):
            raise ValueError("{backend_args} and {sampling_args} are only allowed in argv")
        return None if stdin is None else _check_template(stdin)


class PerplexityOutput(Record):
    """How the engine reports a perplexity: JSON keys of the last JSON object on stdout, or regexes (first
    group) over stderr, then stdout."""

    format: Literal["json", "text"] = "json"
    perplexity: FieldName = "perplexity"
    tokens: FieldName | None = Field(default=None, description="How many tokens were scored")

    @model_validator(mode="after")
    def _regexes(self) -> PerplexityOutput:
        if self.format == "text":
            for pattern in (self.perplexity, self.tokens):
                if pattern is not None:
                    _check_regex(pattern)
        return self


class PerplexityMode(Record):
    """One process per format that scores aprqa's fixed text ("{text_file}") and prints its perplexity."""

    argv: Argv
    output: PerplexityOutput = PerplexityOutput()

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        ProcessMode._argv(argv)
        if "{text_file}" not in argv:
            raise ValueError('a perplexity argv must pass "{text_file}" (the text to score) as an element of its own')
        return argv


class Health(Record):
    path: str = Field(pattern=r"^/")
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = None


Dialect = Literal["openai-chat", "openai-completions", "apr-generate"]
DEFAULT_PATHS: dict[str, str] = {
    "openai-chat": "/v1/chat/completions",
    "openai-completions": "/v1/completions",
    "apr-generate": "/generate",
}


class Request(Record):
    dialect: Dialect = "openai-chat"
    path: str | None = Field(default=None, pattern=r"^/")
    stream: bool = False

    @property
    def url_path(self) -> str:
        return self.path or DEFAULT_PATHS[self.dialect]


class ServeMode(Record):
    """serve: one server per (format, backend); requests per scenario."""

    argv: Argv
    health: Health
    request: Request = Request()
    ready_timeout_ms: int | None = Field(default=None, ge=1)

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        ProcessMode._argv(argv)
        if not any("{port}" in item for item in argv):
            raise ValueError("a serve argv must pass {port}: the harness picks a free port per server")
        return argv


class VersionRange(Record):
    """The releases a variant is for: `min_version` ≤ version < `below_version` (either bound may be left out)."""

    min_version: VersionText | None = None
    below_version: VersionText | None = None

    @model_validator(mode="after")
    def _bounded(self) -> VersionRange:
        if self.min_version is None and self.below_version is None:
            raise ValueError("give min_version, below_version or both")
        if (
            self.min_version is not None
            and self.below_version is not None
            and version_key(self.min_version) >= version_key(self.below_version)
        ):
            raise ValueError(f"min_version {self.min_version} is not below below_version {self.below_version}")
        return self

    def holds(self, version: str) -> bool:
        key = version_key(version)
        if self.min_version is not None and key < version_key(self.min_version):
            return False
        return self.below_version is None or key < version_key(self.below_version)


class Variant(Record):
    """What differs for a range of engine releases; every key given replaces the profile's own."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    when: VersionRange
    backend_args: dict[Backend, list[str]] | None = None
    run: ProcessMode | None = None
    chat: ProcessMode | None = None
    serve: ServeMode | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Variant:
        if self.backend_args is None and self.run is None and self.chat is None and self.serve is None:
            raise ValueError(f"variant {self.name} changes nothing: give backend_args, run, chat or serve")
        return self


class Requirement(Record):
    """Python modules an engine run by "{python}" imports, for some formats (and modalities): checked before
    a run, so a missing library is one clear error (exit 3) naming how to install it, not a failed cell."""

    formats: list[Format] = Field(min_length=1)
    modalities: list[Modality] | None = Field(default=None, description="default: every modality")
    modules: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*$")]] = Field(min_length=1)
    package: str = Field(min_length=1, description="what to install, as a person names it")
    install: str = Field(min_length=1, description="the command that installs it")
    extra: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="the aprqa package extra that installs it (the action's `extras` input picks it)",
    )


class EngineProfile(Record):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    formats: list[Format] = Field(min_length=1)
    version_argv: list[str] | None = None
    version_pattern: Regex | None = Field(
        default=None, description="Reads the version from version_argv's output (group 1); default: a dotted number"
    )
    backend_args: dict[Backend, list[str]] = Field(default_factory=dict)
    sampling_args: dict[SamplingKey, Annotated[list[str], AfterValidator(_sampling_flags)]] = Field(
        default_factory=dict,
        description='How run and chat take a playbook\'s top_k/top_p/repeat_penalty, e.g. top_k: [--top-k, "{value}"]',
    )
    run: ProcessMode | None = None
    chat: ProcessMode | None = None
    serve: ServeMode | None = None
    perplexity: PerplexityMode | None = Field(
        default=None, description="How the engine computes a perplexity (the playbook's `perplexity:` gate)"
    )
    variants: list[Variant] = Field(
        default_factory=list,
        description="Modes that differ by engine release; the first whose `when` holds is used",
    )
    requires: list[Requirement] = Field(default_factory=list)
    install: str | None = Field(
        default=None, description="how to install the engine's program, said when it is not on PATH"
    )

    @field_validator("version_pattern")
    @classmethod
    def _version_pattern(cls, value: str | None) -> str | None:
        return None if value is None else _check_regex(value)

    @model_validator(mode="after")
    def _consistent(self) -> EngineProfile:
        if self.run is None and self.chat is None and self.serve is None:
            raise ValueError("an engine profile needs at least one of run, chat, serve")
        if self.variants and not self.version_argv:
            raise ValueError("variants are chosen by the engine's version: give version_argv")
        names = [v.name for v in self.variants]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"variants: {', '.join(twice)} named more than once")
        return self

    def extras(self, formats: Iterable[Format], modalities: Iterable[Modality]) -> list[str]:
        """The aprqa package extras that install what this engine needs for these formats and modalities,
        in the order the profile requires them (the action's `extras: auto`)."""
        formats, modalities = set(formats), set(modalities)
        found: list[str] = []
        for need in self.requires:
            wanted = formats & set(need.formats) and (need.modalities is None or modalities & set(need.modalities))
            if wanted and need.extra and need.extra not in found:
                found.append(need.extra)
        return found

    def sampling_problem(self, modality: Modality, sampling: Iterable[str]) -> str | None:
        """Why this engine cannot give a run or chat process the declared sampling parameters, or None (serve
        requests carry them in the body)."""
        mode = self.mode(modality)
        if not isinstance(mode, ProcessMode):
            return None
        missing = [key for key in sampling if key not in self.sampling_args]
        if not missing and (not sampling or "{sampling_args}" in mode.argv):
            return None
        what = ", ".join(missing) if missing else "{sampling_args}"
        return (
            f"engine {self.name} cannot pass {', '.join(sampling)} to its {modality} command (no {what} in the "
            f"profile): leave them out of test_matrix, or give the profile sampling_args"
        )

    def mode(self, modality: Modality) -> ProcessMode | ServeMode | None:
        return {Modality.RUN: self.run, Modality.CHAT: self.chat, Modality.SERVE: self.serve}[modality]

    def read_version(self, output: str) -> str | None:
        """The release number in what `version_argv` printed, or None when the pattern does not find one."""
        found = re.search(self.version_pattern or DEFAULT_VERSION_PATTERN, output)
        if found is None or found.group(1) is None:
            return None
        version = found.group(1)
        return version if re.fullmatch(r"\d+(\.\d+)*", version) else None

    def variant_for(self, version: str | None) -> Variant | None:
        if version is None:
            return None
        return next((v for v in self.variants if v.when.holds(version)), None)

    def for_version(self, version: str | None) -> EngineProfile:
        """This profile for one engine release: the first variant that holds applied, no variants left. The
        description says what was chosen (`aprqa engines` shows it; the argv of each observation proves it)."""
        if not self.variants:
            return self
        variant = self.variant_for(version)
        if version is None:
            note = "version unknown: as written"
        else:
            note = f"version {version}: " + (f"variant {variant.name}" if variant else "as written")
        changes: dict[str, object] = {"variants": [], "description": f"{self.description} ({note})".strip()}
        if variant is not None:
            changes |= {
                key: getattr(variant, key)
                for key in ("backend_args", "run", "chat", "serve")
                if getattr(variant, key) is not None
            }
        return self.model_copy(update=changes)
