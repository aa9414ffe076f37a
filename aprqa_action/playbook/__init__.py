"""The playbook: pydantic schema, YAML loading with file:line:col errors, and what `run` can act on."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
    create_model,
    model_validator,
)

from aprqa_action import checks
from aprqa_action.documents.validation import AtKey, validate_document
from aprqa_action.documents.yaml_source import load_yaml
from aprqa_action.engines import builtin_names
from aprqa_action.engines.profile import EngineProfile
from aprqa_action.errors import InputError
from aprqa_action.playbook.prompts import PromptSpec
from aprqa_action.records import PLAYBOOK_NAME, ExpectedDims, Record
from aprqa_action.records.axes import Backend, Format, Modality

SizeCategory = Literal["tiny", "small", "medium", "large", "xlarge"]

# When `timeout_ms` is not given, the size category sets it: bigger models load and generate slower.
DEFAULT_TIMEOUT_MS: dict[str, int] = {
    "tiny": 60_000,
    "small": 120_000,
    "medium": 180_000,
    "large": 300_000,
    "xlarge": 600_000,
}


T = TypeVar("T")


def _unique(items: list[T]) -> list[T]:
    duplicates = sorted({str(x) for x in items if items.count(x) > 1})
    if duplicates:
        raise ValueError(f"listed more than once: {', '.join(duplicates)}")
    return items


Unique = Annotated[list[T], AfterValidator(_unique)]


class ModelSpec(Record):
    hf_repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="Hugging Face repo id, org/name")
    formats: Unique[Format] = Field(min_length=1, description="Formats to qualify; one matrix column each")
    quantizations: Unique[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(
        default_factory=list,
        description="Declared quantization schemes (e.g. q4_k_m); preferred among several files",
    )
    size_category: SizeCategory | None = Field(
        default=None, description="Sets the default timeout_ms when that is not given"
    )


def _kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "spec"


Prompt = Annotated[
    Annotated[str, Tag("text"), Field(min_length=1)] | Annotated[PromptSpec, Tag("spec")],
    Discriminator(_kind),
]


class TestMatrix(Record):
    modalities: Unique[Modality] = Field(min_length=1)
    backends: Unique[Backend] = Field(min_length=1)
    scenario_count: int = Field(default=1, ge=1, le=100_000)
    seed: int = Field(default=42, ge=0, lt=2**63, description="Drives prompt order and engine seeds")
    timeout_ms: int | None = Field(default=None, ge=1, le=86_400_000, description="Per scenario")
    prompts: list[Prompt] | None = Field(
        default=None,
        min_length=1,
        description='Prompt set; a string or {prompt, ...}. Default: "What is 2+2?"',
    )
    max_tokens: int = Field(default=32, ge=1, le=32_768)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # Sampling beyond temperature and seed, given to every modality alike (the engine's `sampling_args` for
    # run and chat, the request body for serve): servers apply their own defaults otherwise, and answers of
    # one prompt would differ by modality for that alone. Not given: the engine's own default.
    top_k: int | None = Field(default=None, ge=0, le=1_000_000)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    repeat_penalty: float | None = Field(default=None, gt=0.0, le=10.0)
    repeat: int = Field(default=1, ge=1, le=1000, description="Run each scenario this many times")
    repeat_min_pass: int | None = Field(
        default=None, ge=1, description="Attempts that must pass for the scenario to pass (default: all)"
    )

    @model_validator(mode="after")
    def _min_pass_fits(self) -> TestMatrix:
        if self.repeat_min_pass is not None and self.repeat_min_pass > self.repeat:
            raise AtKey(
                ("repeat_min_pass",), f"repeat_min_pass {self.repeat_min_pass} is more than repeat {self.repeat}"
            )
        return self

    @property
    def min_pass(self) -> int:
        return self.repeat_min_pass if self.repeat_min_pass is not None else self.repeat

    @property
    def sampling(self) -> dict[str, int | float]:
        """The declared sampling parameters beyond temperature and seed."""
        declared = {"top_k": self.top_k, "top_p": self.top_p, "repeat_penalty": self.repeat_penalty}
        return {key: value for key, value in declared.items() if value is not None}

    @property
    def prompt_specs(self) -> list[PromptSpec]:
        if not self.prompts:
            return [PromptSpec(prompt="What is 2+2?")]
        return [PromptSpec(prompt=p) if isinstance(p, str) else p for p in self.prompts]


class OracleEntry(Record):
    """An `oracles:` entry; the field's type is the union of the registered oracles' entries (see _oracles)."""

    type: str
    config: Record


class Assertions(Record):
    min_throughput_cpu: float | None = Field(default=None, gt=0, description="tok/s")
    min_throughput_gpu: float | None = Field(default=None, gt=0, description="tok/s")
    max_p50_ms: float | None = Field(default=None, gt=0)
    max_p99_ms: float | None = Field(default=None, gt=0)
    min_gpu_speedup: float | None = Field(
        default=2.0, gt=0, description="gpu tok/s ÷ cpu tok/s per format (F-PERF-GPU-SPEEDUP); null turns it off"
    )
    max_throughput_cv: float | None = Field(
        default=None, gt=0, description="tok/s coefficient of variation of the measure runs (F-PERF-TPS-CV), e.g. 0.05"
    )


class ProfileCI(Record):
    enabled: bool = True
    warmup: int = Field(default=1, ge=0, le=100)
    measure: int = Field(default=2, ge=1, le=1000)
    formats: list[Format] | None = None
    backends: list[Backend] | None = None
    assertions: Assertions = Assertions()


class FormatParity(Record):
    """The seed's Golden Rule: one model in several formats must answer alike at temperature 0."""

    reference: Format | None = Field(
        default=None, description="The format the others are compared with (default: the first)"
    )
    modalities: Unique[Modality] = Field(default_factory=lambda: [Modality.RUN], min_length=1)
    first_tokens: int = Field(default=8, ge=1, le=4096, description="K: compare the first K tokens of each answer")
    tolerance: int = Field(default=0, ge=0, description="Mismatching tokens allowed among the first K")


class BackendParity(Record):
    """CPU/GPU parity (the seed's PTX parity, F-PAR-001): a format must answer alike on both backends at
    temperature 0."""

    modalities: Unique[Modality] = Field(default_factory=lambda: [Modality.RUN], min_length=1)
    first_tokens: int = Field(default=8, ge=1, le=4096, description="K: compare the first K tokens of each answer")
    tolerance: int = Field(default=0, ge=0, description="Mismatching tokens allowed among the first K")


class Gates(Record):
    g4_max_failure_fraction: float = Field(
        default=0.0, ge=0, le=1, description="G4 passes while oracle-falsified scenarios / judged ≤ this"
    )


class ContractTests(Record):
    invariants: Unique[Literal["I-2", "I-3", "I-4", "I-5"]] = Field(min_length=1)
    expected: ExpectedDims | None = Field(default=None, description="Dimensions I-2 checks the tensors against")


class MetadataPlausibility(Record):
    """The seed's metadata plausibility (F-META-*, COMP): what each model file declares about its architecture
    — rope base, norm epsilon, context, heads, vocabulary, special ids, chat template — must be plausible."""

    architecture: str | None = Field(
        default=None, description="The architecture the files must declare (GGUF general.architecture, model_type)"
    )
    instruct: bool | None = Field(
        default=None,
        description="An instruct model must ship a chat template (default: when hf_repo or the file's name says so)",
    )


BoundaryCase = Literal[
    "empty",
    "whitespace",
    "over-context",
    "in-context",
    "unicode",
    "special-tokens",
    "max-tokens-1",
    "max-tokens-huge",
]
BOUNDARY_CASES: tuple[str, ...] = BoundaryCase.__args__  # type: ignore[attr-defined]


class Edge(Record):
    """The EDGE category (150 of the MQS points): boundary prompts, leakage of special tokens, the serve
    protocol and determinism, each judged per (format, backend) cell where its modality applies."""

    formats: Unique[Format] | None = Field(default=None, description="The formats probed (default: every format)")
    modalities: Unique[Modality] | None = Field(
        default=None, description="Where boundary prompts and determinism run (default: every matrix modality)"
    )
    boundary: Unique[BoundaryCase] = Field(
        default_factory=lambda: list(BOUNDARY_CASES),
        description="Boundary prompts (F-EDGE-*); [] turns them off",
    )
    leakage: bool = Field(default=True, description="F-EDGE-LEAK: no special token or BPE artefact in any answer")
    determinism: bool = Field(
        default=True, description="F-DET-REPEAT: the first prompt again gives the same text (serve: A → B → A)"
    )
    protocol: bool = Field(default=True, description="F-HTTP-*: serve conformance (serve cells only)")
    concurrency: int = Field(default=4, ge=2, le=64, description="Concurrent requests of F-HTTP-CONCURRENT")
    batch_invariance: bool = Field(
        default=False, description="A differing answer inside a concurrent batch fails F-HTTP-CONCURRENT"
    )
    shutdown_timeout_ms: int = Field(
        default=10_000, ge=100, le=600_000, description="SIGTERM to exit (F-HTTP-SHUTDOWN)"
    )
    max_tokens: int = Field(default=16, ge=1, le=4096, description="Answer length of the boundary prompts")


def known_engine(engine: str | EngineProfile) -> str | EngineProfile:
    """The same names load_profile accepts: a built-in, a path to a profile file, or an inline profile."""
    if not isinstance(engine, str) or engine.endswith((".yaml", ".yml")) or "/" in engine:
        return engine
    known = builtin_names()
    if engine not in known:
        close = difflib.get_close_matches(engine, known, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown engine profile {engine!r}{hint}; known: {', '.join(known)}, "
            "or a profile file (*.yaml) or an inline profile"
        )
    return engine


EngineRef = Annotated[
    Annotated[str, Tag("text")] | Annotated[EngineProfile, Tag("spec")],
    Discriminator(_kind),
    AfterValidator(known_engine),
]


class EngineParity(Record):
    """The seed's Ollama parity: an independent engine answers the matrix prompts of `modality` on the same model
    files at temperature 0; answers must agree on the first `tokens` tokens (F-PAR-ENGINE-TEXT), and the engine
    under test must keep up: tok/s ratio ≥ min_perf_ratio (F-PAR-ENGINE-TPS), TTFT ratio ≤ max_ttft_ratio
    (F-PAR-ENGINE-TTFT), ours ÷ the reference engine's, per cell."""

    reference_engine: EngineRef = Field(description="The independent engine: a built-in profile name, a file or inline")
    formats: Unique[Format] | None = Field(
        default=None, description="The formats compared (default: every format both engines run)"
    )
    modality: Modality = Field(default=Modality.SERVE, description="Whose matrix answers are compared")
    tokens: int = Field(default=8, ge=1, le=4096, description="Compare the first N tokens of each answer")
    tolerance: int = Field(default=0, ge=0, description="Mismatching tokens allowed among the first N")
    min_perf_ratio: float | None = Field(default=0.8, gt=0, description="Our tok/s ÷ theirs must be at least this")
    max_ttft_ratio: float | None = Field(default=3.0, gt=0, description="Our TTFT ÷ theirs must be at most this")


class Perplexity(Record):
    """Quantization quality (the seed's F-PAR-003): each format's perplexity of aprqa's fixed text, and
    quantized ÷ reference ≤ max_ratio (F-PAR-PPL). The engine profile's `perplexity` mode computes it."""

    reference: Format | None = Field(
        default=None, description="The unquantized format (default: safetensors if declared, else the first)"
    )
    max_ratio: float = Field(default=1.10, gt=1.0, le=100.0, description="Perplexity ratio allowed (1.10: 10 % worse)")
    backend: Backend = Field(default=Backend.CPU, description="Where perplexity is computed")


class Playbook(Record):
    name: str = Field(pattern=PLAYBOOK_NAME)
    version: str = Field(min_length=1, description='Quote it in YAML: "1.0.0"')
    description: str = ""
    model: ModelSpec
    test_matrix: TestMatrix
    engine: EngineRef = Field(default="reference", description="A built-in profile name or an inline profile")
    oracles: list[OracleEntry] = Field(
        default_factory=list, description="The oracles that judge every answer, with their config (see `aprqa schema`)"
    )
    profile_ci: ProfileCI | None = None
    contract_tests: ContractTests | None = None
    metadata_plausibility: MetadataPlausibility | None = Field(
        default=None, description="F-META-*: each model file's declared hyperparameters are plausible"
    )
    gates: Gates = Gates()
    format_parity: FormatParity | None = None
    backend_parity: BackendParity | None = Field(
        default=None, description="F-PAR-CPU-GPU: each format answers alike on cpu and gpu (needs both backends)"
    )
    edge: Edge | None = Field(default=None, description="The EDGE checks; without it EDGE is not measured")
    engine_parity: EngineParity | None = Field(
        default=None, description="F-PAR-ENGINE-*: an independent engine's answers, tok/s and TTFT on the same files"
    )
    perplexity: Perplexity | None = Field(
        default=None, description="F-PAR-PPL: perplexity of each format vs the reference format (quantization)"
    )
    failure_policy: Literal["collect_all", "fail_fast"] = Field(
        default="collect_all",
        description="collect_all runs every scenario; fail_fast stops at the first failed scenario",
    )

    @model_validator(mode="after")
    def _prompt_oracles_are_declared(self) -> Playbook:
        types = [o.type for o in self.oracles]
        twice = sorted({t for t in types if types.count(t) > 1})
        if twice:
            again = next(i for i, t in enumerate(types) if t in types[:i])
            raise AtKey(("oracles", again, "type"), f"oracles: {', '.join(twice)} declared more than once")
        registered = checks.oracles()
        usable = {o.name for o in checks.judging(set(types))}
        for i, prompt in enumerate(self.test_matrix.prompt_specs):
            for j, name in enumerate(prompt.oracles or []):
                if name in usable:
                    continue
                if name in registered:
                    why = f"asks for the {name} oracle, which `oracles` does not declare"
                else:
                    close = difflib.get_close_matches(name, list(registered), n=1, cutoff=0.6)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    why = f"asks for {name!r}, which is no oracle{hint}; known: {', '.join(registered)}"
                raise AtKey(("test_matrix", "prompts", i, "oracles", j), f"test_matrix.prompts[{i}] {why}")
        return self

    @model_validator(mode="after")
    def _parity_is_comparable(self) -> Playbook:
        parity = self.format_parity
        if parity is None:
            return self
        if len(self.model.formats) < 2:
            raise AtKey(("model", "formats"), "format_parity compares formats: model.formats needs at least two")
        if parity.reference is not None and parity.reference not in self.model.formats:
            raise AtKey(
                ("format_parity", "reference"), f"format_parity.reference {parity.reference} is not in model.formats"
            )
        if self.test_matrix.temperature != 0:
            raise AtKey(
                ("test_matrix", "temperature"),
                "format_parity compares greedy answers: test_matrix.temperature must be 0",
            )
        missing = [m for m in parity.modalities if m not in self.test_matrix.modalities]
        if missing:
            raise AtKey(
                ("format_parity", "modalities", parity.modalities.index(missing[0])),
                f"format_parity.modalities {', '.join(missing)} not in test_matrix.modalities",
            )
        return self

    @model_validator(mode="after")
    def _backends_are_comparable(self) -> Playbook:
        parity = self.backend_parity
        if parity is None:
            return self
        if not {Backend.CPU, Backend.GPU} <= set(self.test_matrix.backends):
            raise AtKey(("test_matrix", "backends"), "backend_parity compares cpu with gpu: declare both backends")
        if self.test_matrix.temperature != 0:
            raise AtKey(
                ("test_matrix", "temperature"),
                "backend_parity compares greedy answers: test_matrix.temperature must be 0",
            )
        missing = [m for m in parity.modalities if m not in self.test_matrix.modalities]
        if missing:
            raise AtKey(
                ("backend_parity", "modalities", parity.modalities.index(missing[0])),
                f"backend_parity.modalities {', '.join(missing)} not in test_matrix.modalities",
            )
        return self

    @model_validator(mode="after")
    def _deep_gates_are_comparable(self) -> Playbook:
        parity = self.engine_parity
        if parity is not None:
            if self.test_matrix.temperature != 0:
                raise AtKey(
                    ("test_matrix", "temperature"),
                    "engine_parity compares greedy answers: test_matrix.temperature must be 0",
                )
            if parity.modality not in self.test_matrix.modalities:
                raise AtKey(
                    ("engine_parity", "modality"),
                    f"engine_parity.modality {parity.modality} is not in test_matrix.modalities",
                )
            for i, fmt in enumerate(parity.formats or []):
                if fmt not in self.model.formats:
                    raise AtKey(("engine_parity", "formats", i), f"engine_parity.formats {fmt} is not in model.formats")
        ppl = self.perplexity
        if ppl is not None:
            if len(self.model.formats) < 2:
                raise AtKey(("model", "formats"), "perplexity compares formats: model.formats needs at least two")
            if ppl.reference is not None and ppl.reference not in self.model.formats:
                raise AtKey(
                    ("perplexity", "reference"), f"perplexity.reference {ppl.reference} is not in model.formats"
                )
        return self

    @model_validator(mode="after")
    def _edge_axes_are_declared(self) -> Playbook:
        if self.edge is None:
            return self
        for i, modality in enumerate(self.edge.modalities or []):
            if modality not in self.test_matrix.modalities:
                raise AtKey(("edge", "modalities", i), f"edge.modalities {modality} is not in test_matrix.modalities")
        for i, fmt in enumerate(self.edge.formats or []):
            if fmt not in self.model.formats:
                raise AtKey(("edge", "formats", i), f"edge.formats {fmt} is not in model.formats")
        return self

    @model_validator(mode="after")
    def _profile_formats_are_declared(self) -> Playbook:
        # profile_ci measures files the matrix resolves: a format outside model.formats has no file to run
        listed = self.profile_ci.formats if self.profile_ci is not None else None
        for i, fmt in enumerate(listed or []):
            if fmt not in self.model.formats:
                raise AtKey(
                    ("profile_ci", "formats", i),
                    f"profile_ci.formats {fmt} is not in model.formats ({', '.join(self.model.formats)})",
                )
        return self

    @property
    def perplexity_reference(self) -> Format:
        chosen = self.perplexity.reference if self.perplexity is not None else None
        if chosen is not None:
            return chosen
        return Format.SAFETENSORS if Format.SAFETENSORS in self.model.formats else self.model.formats[0]

    @property
    def timeout_ms(self) -> int:
        if self.test_matrix.timeout_ms is not None:
            return self.test_matrix.timeout_ms
        return DEFAULT_TIMEOUT_MS[self.model.size_category or "medium"]


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: Path
    sha256: str


def load_playbook(path: str | Path) -> LoadedPlaybook:
    document = load_yaml(path)
    if not isinstance(document.data, dict):
        kind = "empty" if document.data is None else type(document.data).__name__
        raise InputError(f"{document.where()}: a playbook is a YAML mapping, this document is {kind}")
    playbook = validate_document(Playbook, document)
    digest = hashlib.sha256(document.path.read_bytes()).hexdigest()
    return LoadedPlaybook(playbook=playbook, path=document.path, sha256=digest)


def json_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aprqa playbook"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _entry(oracle: checks.Oracle) -> type[Record]:
    name = "".join(part.capitalize() for part in oracle.name.split("_")) + "Entry"
    return create_model(
        name,
        __base__=Record,
        __doc__=f"The {oracle.name} oracle (gate {oracle.gate_id}).",
        type=(Literal[oracle.name], ...),  # type: ignore[valid-type]
        config=(oracle.config, oracle.config()),
    )


def _oracles_changed() -> None:
    """`oracles:` accepts exactly the registered oracles, each with its own config: the field's type is
    their discriminated union, rebuilt whenever the registry changes (so is the playbook schema)."""
    entries = tuple(_entry(o) for o in checks.oracles().values())
    if not entries:  # the registry is still loading (it imported this module): it calls again when done
        return
    union = Annotated[Union[entries], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    Playbook.model_fields["oracles"].annotation = list[union]  # type: ignore[valid-type]
    Playbook.model_rebuild(force=True)


# Last: the built-in checks import this package's names above.
checks.on_oracles_changed(_oracles_changed)
_oracles_changed()
