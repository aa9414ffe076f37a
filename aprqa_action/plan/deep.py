"""The deep gates' scenarios: the matrix prompts again on engine_parity's reference engine, and each format's
perplexity of aprqa's fixed text. Both come after the matrix and profile_ci, each group one executor unit."""

from __future__ import annotations

from aprqa_action.engines.profile import EngineProfile
from aprqa_action.plan.skips import engine_reason, skip_reason
from aprqa_action.playbook import Playbook
from aprqa_action.records import BackendProbe, ResolvedModel, Scenario
from aprqa_action.records.axes import Format, Modality

PERPLEXITY_PROMPT = "aprqa's perplexity text (aprqa_action/data/perplexity.txt)"


def parity_id(playbook: str, engine: str, twin: Scenario) -> str:
    """The id of the scenario in which `engine` answers the matrix scenario `twin` again."""
    return f"{playbook}:parity:{engine}:{twin.modality}:{twin.backend}:{twin.format}:{twin.index:03d}"


def parity_scenarios(playbook: Playbook, matrix: list[Scenario], reference: EngineProfile | None) -> list[Scenario]:
    """The first attempt of each matrix scenario of engine_parity's modality and formats, run by `reference`."""
    parity = playbook.engine_parity
    if parity is None or reference is None:
        return []
    formats = parity.formats or [f for f in playbook.model.formats if f in reference.formats]
    scenarios = []
    for s in matrix:
        if s.purpose != "matrix" or s.attempt or s.modality != parity.modality or s.format not in formats:
            continue
        # the twin's reason covers the model file and the backend here; then what the reference engine can run
        reason = s.skip_reason or engine_reason(reference, s.format, s.modality)
        scenarios.append(
            s.model_copy(
                update={
                    "id": parity_id(playbook.name, reference.name, s),
                    "purpose": "parity",
                    "engine": reference.name,
                    "skip_reason": reason,
                }
            )
        )
    return scenarios


def perplexity_scenarios(
    playbook: Playbook,
    engine: EngineProfile,
    models: dict[Format, ResolvedModel],
    backends: dict[str, BackendProbe],
    unusable: dict[Format, str],
) -> list[Scenario]:
    """One perplexity run per format on perplexity.backend."""
    spec = playbook.perplexity
    if spec is None:
        return []
    probe = backends.get(spec.backend) or BackendProbe(backend=spec.backend, available=False, reason="not probed")
    scenarios = []
    for fmt in playbook.model.formats:
        model = models[fmt]
        reason = skip_reason(Modality.RUN, probe, model, engine, unusable.get(fmt), perplexity=True)
        scenarios.append(
            Scenario(
                id=f"{playbook.name}:perplexity:{spec.backend}:{fmt}",
                index=0,
                modality=Modality.RUN,
                backend=spec.backend,
                format=fmt,
                model_path=model.path,
                prompt=PERPLEXITY_PROMPT,
                prompt_index=0,
                seed=0,
                temperature=0.0,
                max_tokens=1,
                timeout_ms=playbook.timeout_ms,
                skip_reason=reason,
                purpose="perplexity",
            )
        )
    return scenarios
