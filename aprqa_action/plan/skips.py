"""Why a planned scenario will not run here: said in the plan, recorded as its observation, never passed."""

from __future__ import annotations

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.records import BackendProbe, ResolvedModel
from aprqa_action.records.axes import Modality


def skip_reason(
    modality: Modality,
    backend: BackendProbe,
    model: ResolvedModel,
    engine: EngineProfile,
    unusable: str | None,
    *,
    perplexity: bool = False,
) -> str | None:
    """`unusable`: why the model file failed G0; `perplexity`: the scenario needs the profile's perplexity
    mode rather than the modality's."""
    if model.path is None:
        return model.reason
    if unusable is not None:
        return f"G0 integrity failed: {unusable}"
    if not backend.available:
        return backend.reason
    return engine_reason(engine, model.format, modality, perplexity=perplexity)


def engine_reason(engine: EngineProfile, fmt: str, modality: Modality, *, perplexity: bool = False) -> str | None:
    """Why `engine` cannot run `fmt` in `modality` (or score its perplexity), whatever the machine."""
    if perplexity and engine.perplexity is None:
        return f"engine {engine.name} does not say how it computes perplexity (no `perplexity` in its profile)"
    if fmt not in engine.formats:
        return f"engine {engine.name} cannot run {fmt} (it runs {', '.join(engine.formats)})"
    if not perplexity and engine.mode(modality) is None:
        return f"engine {engine.name} has no {modality} mode"
    return None
