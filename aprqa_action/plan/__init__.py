"""Expand a playbook into Scenarios: modality × backend × format × scenario index, with stable ids.

`test_matrix.seed` drives both the order in which the prompt set is used and the engine seed of each
scenario index; every cell uses the same prompt and seed for the same index, so cells stay comparable.
"""

from __future__ import annotations

import re

from aprqa_action.engines.profile import EngineProfile, ProcessMode
from aprqa_action.errors import InputError
from aprqa_action.oneline import one_line
from aprqa_action.plan.deep import parity_scenarios, perplexity_scenarios
from aprqa_action.plan.edge import edge_scenarios
from aprqa_action.plan.seeds import engine_seed, prompt_order
from aprqa_action.plan.skips import skip_reason
from aprqa_action.playbook import LoadedPlaybook, Playbook
from aprqa_action.records import BackendProbe, Record, ResolvedModel, Scenario
from aprqa_action.records.axes import Backend, Format, Modality


class Plan(Record):
    playbook: str
    engine: str
    seed: int
    timeout_ms: int
    models: dict[Format, ResolvedModel]
    backends: dict[Backend, BackendProbe]
    scenarios: list[Scenario]

    @property
    def runnable(self) -> list[Scenario]:
        return [s for s in self.scenarios if s.skip_reason is None]

    @property
    def matrix(self) -> list[Scenario]:
        return [s for s in self.scenarios if s.purpose == "matrix"]


def scenario_id(playbook: str, modality: Modality, backend: Backend, fmt: Format, index: int) -> str:
    return f"{playbook}:{modality}:{backend}:{fmt}:{index:03d}"


def build_plan(
    playbook: Playbook,
    engine: EngineProfile,
    models: dict[Format, ResolvedModel],
    backends: dict[Backend, BackendProbe],
    unusable: dict[Format, str] | None = None,
    *,
    reference: EngineProfile | None = None,
) -> Plan:
    """`unusable`: formats whose file failed G0 integrity, with the reason; their cells are not run.
    `reference`: engine_parity's reference engine, which answers the matrix prompts again."""
    unusable = unusable or {}
    matrix = playbook.test_matrix
    for modality in matrix.modalities:
        problem = engine.sampling_problem(modality, matrix.sampling)
        if problem is not None:
            raise InputError(problem)
    prompts = matrix.prompt_specs
    order = prompt_order(matrix.seed, matrix.scenario_count, len(prompts))
    scenarios = []
    for modality in matrix.modalities:
        for backend in matrix.backends:
            for fmt in playbook.model.formats:
                reason = skip_reason(modality, backends[backend], models[fmt], engine, unusable.get(fmt))
                for index in range(matrix.scenario_count):
                    base = scenario_id(playbook.name, modality, backend, fmt, index)
                    prompt = prompts[order[index]].prompt
                    scenarios += [
                        Scenario(
                            id=base if matrix.repeat == 1 else f"{base}@r{attempt + 1}",
                            index=index,
                            attempt=attempt,
                            modality=modality,
                            backend=backend,
                            format=fmt,
                            model_path=models[fmt].path,
                            prompt=prompt,
                            prompt_index=order[index],
                            seed=engine_seed(matrix.seed, index),
                            temperature=matrix.temperature,
                            max_tokens=matrix.max_tokens,
                            timeout_ms=playbook.timeout_ms,
                            skip_reason=reason or _chat_prompt_reason(modality, engine, prompt),
                            sampling=matrix.sampling,
                        )
                        for attempt in range(matrix.repeat)  # repeat: the same scenario again, same seed
                    ]
                # after the cell's matrix: in serve they go to the same server (the first prompt again: A → B → A)
                scenarios += edge_scenarios(playbook, engine, modality, backend, models[fmt], reason)
    scenarios += _profile_scenarios(playbook, engine, models, backends, unusable, prompts[order[0]].prompt, order[0])
    scenarios += parity_scenarios(playbook, scenarios, reference)
    scenarios += perplexity_scenarios(playbook, engine, models, backends, unusable)
    return Plan(
        playbook=playbook.name,
        engine=engine.name,
        seed=matrix.seed,
        timeout_ms=playbook.timeout_ms,
        models=models,
        backends=backends,
        scenarios=scenarios,
    )


def _profile_scenarios(
    playbook: Playbook,
    engine: EngineProfile,
    models: dict[Format, ResolvedModel],
    backends: dict[Backend, BackendProbe],
    unusable: dict[Format, str],
    prompt: str,
    prompt_index: int,
) -> list[Scenario]:
    """profile_ci: `warmup` then `measure` runs of the run modality per (format, backend), after the matrix."""
    profile = playbook.profile_ci
    if profile is None or not profile.enabled:
        return []
    matrix = playbook.test_matrix
    scenarios = []
    for backend in profile.backends or matrix.backends:
        probe = backends.get(backend) or BackendProbe(backend=backend, available=False, reason="not probed")
        for fmt in profile.formats or playbook.model.formats:
            model = models.get(fmt) or ResolvedModel(
                format=fmt, path=None, how="missing", reason=f"{fmt} is not in model.formats"
            )
            reason = skip_reason(Modality.RUN, probe, model, engine, unusable.get(fmt))
            runs = [("warmup", i) for i in range(profile.warmup)] + [("measure", i) for i in range(profile.measure)]
            for purpose, i in runs:
                scenarios.append(
                    Scenario(
                        id=f"{playbook.name}:profile:{backend}:{fmt}:{purpose}-{i:02d}",
                        index=i,
                        modality=Modality.RUN,
                        backend=backend,
                        format=fmt,
                        model_path=model.path,
                        prompt=prompt,
                        prompt_index=prompt_index,
                        seed=engine_seed(matrix.seed, 0),
                        temperature=matrix.temperature,
                        max_tokens=matrix.max_tokens,
                        timeout_ms=playbook.timeout_ms,
                        skip_reason=reason,
                        purpose=purpose,  # type: ignore[arg-type]
                        sampling=matrix.sampling,
                    )
                )
    return scenarios


def _chat_prompt_reason(modality: Modality, engine: EngineProfile, prompt: str) -> str | None:
    """A chat mode that pipes the prompt to stdin reads one line per turn: a multi-line prompt would become
    several turns, and a line "/quit" would end the chat. Such scenarios are not run (never passed)."""
    mode = engine.mode(modality) if modality == Modality.CHAT else None
    if not isinstance(mode, ProcessMode) or mode.stdin is None or "{prompt}" not in mode.stdin:
        return None
    lines = re.split(r"\r\n|\r|\n", prompt.strip())  # the line ends a text-mode stdin splits on
    if len(lines) < 2:
        return None
    return f"chat modality sends one line per turn; prompt has {len(lines)} lines"


def format_plan(loaded: LoadedPlaybook, plan: Plan, source: str) -> str:
    """The plan as a person reads it in a terminal or a CI log; `source` says where the model files came from."""
    playbook = loaded.playbook
    lines = [
        f"playbook  {playbook.name} {playbook.version}  ({loaded.path}, sha256 {loaded.sha256[:12]})",
        f"engine    {plan.engine}    seed {plan.seed}    timeout {plan.timeout_ms} ms per scenario",
        f"source    G0-PULL {source}",
        "models:",
    ]
    for fmt, model in plan.models.items():
        where = model.path if model.path else "— skipped"
        lines.append(f"  {fmt:12} {one_line(where)}  ({one_line(model.reason)})")
    lines.append("backends:")
    for backend, found in plan.backends.items():
        lines.append(f"  {backend:12} {'available' if found.available else '— skipped'}  ({one_line(found.reason)})")
    m = playbook.test_matrix
    formats, backends, modalities = len(playbook.model.formats), len(m.backends), len(m.modalities)
    matrix = len(plan.matrix)
    edge = sum(s.purpose == "edge" for s in plan.scenarios)
    deep = sum(s.purpose in ("parity", "perplexity") for s in plan.scenarios)
    profile = len(plan.scenarios) - matrix - edge - deep
    more = f" + {deep} deep gates" if deep else ""
    lines.append(
        f"cells: {formats * backends * modalities} (format × backend × modality = {formats} × {backends} × "
        f"{modalities}), scenarios: {len(plan.scenarios)} ({matrix} matrix + {edge} edge + {profile} profile_ci{more})"
    )
    runnable = len(plan.runnable)
    lines.append(f"scenarios: {len(plan.scenarios)} ({runnable} to run, {len(plan.scenarios) - runnable} skipped)")
    width = max(len(s.id) for s in plan.scenarios)
    for s in plan.scenarios:
        prompt = s.prompt if len(s.prompt) <= 40 else s.prompt[:37] + "..."
        status = "run" if s.skip_reason is None else f"skip: {one_line(s.skip_reason)}"
        lines.append(f"  {s.id:{width}}  seed {s.seed:>10}  {prompt!r:44} {status}")
    return "\n".join(lines)
