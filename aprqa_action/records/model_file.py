"""The records of the tensor-contract package: what a reader found, what an invariant concluded.

Every record is frozen pydantic, so stages and reports exchange plain data. Shapes are in row-major (numpy /
PyTorch) order for both formats; GGUF stores its `ne` dimensions the other way round, and the GGUF reader
reverses them so that a person reading `[vocab, hidden]` reads the same thing for either file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aprqa_action.records.base import Record
from aprqa_action.records.judgement import Outcome

ModelFormat = Literal["gguf", "safetensors"]
InvariantOutcome = Literal["pass", "fail", "skip"]
_EVIDENCE: dict[str, Outcome] = {"pass": "Corroborated", "fail": "Falsified", "skip": "Skipped"}
INVARIANTS: tuple[str, ...] = ("I-2", "I-3", "I-4", "I-5")


class ExpectedDims(Record):
    """Dimensions the playbook expects (`contract_tests.expected`); each one given is compared with the file (I-2)."""

    hidden_size: int | None = Field(default=None, ge=1)
    num_layers: int | None = Field(default=None, ge=1)
    num_heads: int | None = Field(default=None, ge=1)
    num_kv_heads: int | None = Field(default=None, ge=1)
    intermediate_size: int | None = Field(default=None, ge=1)
    vocab_size: int | None = Field(default=None, ge=1)


class TensorInfo(Record):
    name: str
    dtype: str  # SafeTensors dtype ("F16", "BF16", …) or ggml type name ("Q4_K", "F32", …)
    shape: tuple[int, ...]  # row-major; for GGUF the reverse of the stored ne[]
    offset: int  # absolute byte offset of the data in `file`
    nbytes: int  # bytes the header gives the tensor (GGUF: implied by shape and type, see expected_nbytes)
    expected_nbytes: int | None  # shape × dtype; None when the shape is not a whole number of blocks
    file: str  # the file holding the data (a shard, for a sharded SafeTensors model)

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


class FileInfo(Record):
    path: str
    size: int
    role: Literal["model", "index", "shard"]
    data_start: int | None = None  # first byte of the data section; None for an index file


class ModelFile(Record):
    """A model whose header parsed. Layout problems (I-5) may still be present: `read_issues` and the
    tensor table are what the invariants judge."""

    format: ModelFormat
    path: str
    files: list[FileInfo]
    tensors: list[TensorInfo]
    metadata: dict[str, Any] = Field(default_factory=dict)  # GGUF key/values (long arrays summarised)
    config: dict[str, Any] | None = None  # SafeTensors: config.json beside the file
    config_path: str | None = None
    config_error: str | None = None  # config.json present but unreadable
    gguf_version: int | None = None
    alignment: int | None = None  # GGUF data alignment (general.alignment, default 32)
    read_issues: list[str] = Field(default_factory=list)  # layout problems found while reading (→ I-5)
    library_error: str | None = None  # the field's library refused a file our own checks accepted (→ I-5)

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


class ReadFailure(Record):
    """A file that cannot be parsed; `reason` says where and why, for a person."""

    path: str
    format: ModelFormat | None = None
    reason: str


class InvariantResult(Record):
    invariant: str  # "I-2".."I-5", or "PARSE" when no invariant was requested of an unparseable file
    outcome: InvariantOutcome
    reason: str
    metrics: dict[str, float] = Field(default_factory=dict)
    unusable: bool = False  # the file cannot be used at all (parse failure or I-5): the caller fails G0

    @property
    def evidence_outcome(self) -> Outcome:
        """The outcome in evidence's words (the contracts library says pass / fail / skip, as `aprqa inspect`)."""
        return _EVIDENCE[self.outcome]


class FileDigest(Record):
    path: str
    size: int
    sha256: str


class Provenance(Record):
    path: str
    size: int  # bytes of every file of the model (index + shards for a sharded SafeTensors model)
    sha256: str  # of the file at `path` (the index file, for a sharded model; see `files`)
    format: ModelFormat | None
    quantization: str | None  # detected scheme: GGUF general.file_type, else inferred from the dominant type
    dominant_type: str | None  # the dtype/ggml type holding the most parameters
    tensor_count: int
    parameter_count: int
    files: list[FileDigest]
    error: str | None = None  # the header did not parse: format-derived fields are empty


class Hyperparameters(Record):
    """What a model file declares about its architecture (contracts.hyperparameters), None where it is silent:
    what the metadata-plausibility gates judge."""

    format: ModelFormat
    architecture: str | None = None  # GGUF general.architecture, config.json model_type
    rope_theta: float | None = None
    rope_scaling_type: str | None = None  # linear, yarn, llama3, longrope, … (None: no scaling declared)
    rope_scaling_factor: float | None = None
    rope_original_context: int | None = None  # the context the rope scaling stretches
    norm_epsilon: float | None = None  # RMS norm (or layer norm) epsilon
    context_length: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None  # only when declared (GGUF attention.key_length, config head_dim)
    vocab_size: int | None = None  # rows of the embedding as declared (GGUF: vocab_size or token_embd)
    token_count: int | None = None  # token ids the tokenizer defines
    special_ids: dict[str, list[int]] = Field(default_factory=dict)  # bos / eos / padding
    chat_template: bool = False
    name: str = ""  # the model's own name (GGUF general.name/finetune, config _name_or_path)
