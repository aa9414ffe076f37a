"""Engine profiles: every built-in validates; the documented `apr` outputs go through the real parser; the
installed apr's version picks its serve generation (a real `apr --version` subprocess); inline profiles drive
real engine processes through `aprqa run`.

The `apr` outputs are fixtures under tests/fixtures/apr/, reconstructed from the documented formats (each says
so in its header): no `apr` binary exists on the machines these tests run on. fake_apr.py there stands in for
the binary where a process is needed.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from conftest import HOSTILE, ROOT, aprqa, hostile_profile, make_scenario, write_playbook

from aprqa_action.documents.validation import validate_document
from aprqa_action.documents.yaml_source import load_yaml
from aprqa_action.engines import builtin_names
from aprqa_action.engines.profile import EngineProfile, ProcessMode
from aprqa_action.errors import InputError
from aprqa_action.execute import render
from aprqa_action.execute.output import OutputError, Parsed, parse_output
from aprqa_action.execute.version import detect_version, installed_profile
from aprqa_action.playbook import load_playbook
from aprqa_action.records import Scenario
from aprqa_action.records.axes import Backend
from aprqa_action.store.evidence import read_evidence

FIXTURES = Path(__file__).parent / "fixtures" / "apr"
FAKE_APR = FIXTURES / "fake_apr.py"
PROFILES = ROOT / "aprqa_action" / "engines" / "profiles"
LEGACY = ["apr", "serve", "{model}", "--port", "{port}", "{backend_args}"]
CURRENT = ["apr", "serve", "run", "{model}", "--port", "{port}", "--host", "{host}", "{backend_args}"]


def output_of(name: str) -> str:
    """A fixture as the engine printed it: without the "#|" header that says where it comes from."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0].startswith("#|") and "RECONSTRUCTED" in text, f"{name} must say where it comes from"
    return "\n".join(line for line in lines if not line.startswith("#|"))


def mode(profile: str, modality: str) -> ProcessMode:
    found = getattr(installed_profile(profile), modality)
    assert isinstance(found, ProcessMode)
    return found


def fake_apr(directory: Path, version: str) -> Path:
    """A directory holding an executable `apr` that is fake_apr.py as release `version`; put it on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "apr"
    script.write_text(f'#!/bin/sh\nFAKE_APR_VERSION={version} exec "{sys.executable}" "{FAKE_APR}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


def scenario(backend: str, modality: str = "serve") -> Scenario:
    return make_scenario(modality=modality, backend=backend, seed=7)


# --- every built-in ---------------------------------------------------------------------------------------


def test_the_built_ins_are_the_documented_ones() -> None:
    assert {"reference", "apr", "apr-text", "llamacpp-server", "openai"} <= set(builtin_names())


@pytest.mark.parametrize("name", builtin_names())
def test_every_built_in_loads_and_validates(name: str, tmp_path: Path) -> None:
    raw = validate_document(EngineProfile, load_yaml(PROFILES / f"{name}.yaml"))
    assert raw.name == name and raw.description
    loaded = installed_profile(name)
    assert loaded.variants == []  # resolved for the installed version (here: none installed)
    assert loaded.formats == raw.formats
    # A built-in is written exactly as a user writes a profile inline: the same YAML under `engine:` is valid.
    inline = yaml.safe_load((PROFILES / f"{name}.yaml").read_text())
    playbook = load_playbook(write_playbook(tmp_path / "p.yaml", engine=inline)).playbook
    assert isinstance(playbook.engine, EngineProfile) and playbook.engine.name == name


def test_aprqa_engines_lists_them() -> None:
    done = aprqa("engines")
    assert done.returncode == 0, done.stderr
    for name in ("apr", "apr-text", "llamacpp-server", "openai", "reference"):
        assert any(line.startswith(name + " ") for line in done.stdout.splitlines()), done.stdout


def test_serve_only_profiles() -> None:
    for name in ("llamacpp-server", "openai"):
        profile = installed_profile(name)
        assert profile.run is None and profile.chat is None and profile.serve is not None
        assert profile.serve.request.dialect == "openai-chat"
        assert profile.serve.request.url_path == "/v1/chat/completions"


def test_llamacpp_server_command_lines() -> None:
    profile = installed_profile("llamacpp-server")
    assert profile.serve is not None
    assert render(profile.serve.argv, scenario("cpu"), profile, 8123) == [
        "llama-server", "-m", "/m/model.gguf", "--host", "127.0.0.1", "--port", "8123", "-ngl", "0",
    ]  # fmt: skip
    assert render(profile.serve.argv, scenario("gpu"), profile, 8123)[-2:] == ["-ngl", "999"]
    assert (profile.serve.health.path, profile.serve.health.status) == ("/health", 200)


def test_openai_is_vllm_and_keeps_a_cpu_cell_off_the_gpu() -> None:
    profile = installed_profile("openai")
    assert profile.serve is not None
    cpu = render(profile.serve.argv, scenario("cpu"), profile, 8123)
    gpu = render(profile.serve.argv, scenario("gpu"), profile, 8123)
    assert cpu[:4] == ["env", "CUDA_VISIBLE_DEVICES=", "vllm", "serve"]
    assert gpu[:3] == ["env", "vllm", "serve"]
    assert gpu[3:] == ["/m/model.gguf", "--host", "127.0.0.1", "--port", "8123", "--seed", "7"]


def test_apr_text_differs_from_apr_only_in_how_run_is_read() -> None:
    apr = validate_document(EngineProfile, load_yaml(PROFILES / "apr.yaml"))
    text = validate_document(EngineProfile, load_yaml(PROFILES / "apr-text.yaml"))
    for key in ("formats", "version_argv", "version_pattern", "backend_args", "chat", "serve", "variants"):
        assert getattr(text, key) == getattr(apr, key), key
    assert apr.run is not None and text.run is not None
    assert apr.run.argv == [*text.run.argv[:-1], "--json", "{backend_args}"]


# --- the documented apr outputs through the real parser -----------------------------------------------------

RUN_JSON = ("apr", "run")
RUN_TEXT = ("apr-text", "run")
CHAT = ("apr", "chat")


@pytest.mark.parametrize(
    ("where", "fixture", "expected"),
    [
        # hand-checked against the fixture: text, tokens_generated, tok_per_sec, inference_time_ms
        (
            RUN_JSON,
            "run-json.stdout",
            Parsed("2 + 2 equals 4.", tokens=8, tok_per_sec=8.21, latency_ms=974.4, used_gpu=False),
        ),
        (
            RUN_JSON,
            "run-json-pretty.stdout",
            Parsed("def add(a, b):\n    return a + b", tokens=11, tok_per_sec=67.8, latency_ms=162.2, used_gpu=True),
        ),
        # the text form prints no token count or rate; its "Completed in" seconds are the latency (apr-text.yaml)
        (RUN_TEXT, "run-text.stdout", Parsed("2 + 2 equals 4.", latency_ms=1230.0)),
        (
            RUN_TEXT,
            "run-text-multiline.stdout",
            Parsed(
                "```python\ndef add(a, b):\n    return a + b  # Output: the sum\n```\n"
                "Completed in 0.5s by any measure.",
                latency_ms=12070.0,  # apr's own last line, not the answer's
            ),
        ),
        (CHAT, "chat.stdout", Parsed("2 + 2 equals 4.")),
        (
            CHAT,
            "chat-code.stdout",
            Parsed("```python\ndef add(a, b):\n return a + b\n```\n\nYou: can call it as add(2, 3)."),
        ),
        (CHAT, "chat-ansi.stdout", Parsed("The answer is 4.")),
    ],
)
def test_documented_apr_outputs_parse(where: tuple[str, str], fixture: str, expected: Parsed) -> None:
    spec = mode(*where).output
    assert parse_output(spec, output_of(fixture), "") == expected


def test_chat_banner_is_never_part_of_the_answer() -> None:
    text = parse_output(mode(*CHAT).output, output_of("chat.stdout"), "").text
    for banner in ("===", "Model Chat", "Chat Template", "Temperature", "/quit", "═", "You:", "Goodbye"):
        assert banner not in text


def test_statistics_on_stderr_do_not_leak_into_the_text() -> None:
    stderr = "Loading model...\nwarning: 12 tensors on CPU\n"
    parsed = parse_output(mode(*RUN_JSON).output, output_of("run-json.stdout"), stderr)
    assert parsed.text == "2 + 2 equals 4."
    assert parse_output(mode(*RUN_TEXT).output, output_of("run-text.stdout"), stderr).text == "2 + 2 equals 4."


@pytest.mark.parametrize("where", [RUN_JSON, RUN_TEXT])
def test_benchmark_output_is_never_read_as_an_answer(where: tuple[str, str]) -> None:
    # --benchmark prints statistics and no text: unreadable (the scenario fails), never judged as an answer
    with pytest.raises(OutputError):
        parse_output(mode(*where).output, output_of("run-benchmark.stdout"), "")


def test_the_fixtures_all_say_they_are_reconstructed() -> None:
    for path in FIXTURES.glob("*.stdout"):
        output_of(path.name)


# --- choosing the serve generation by version ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "version"),
    [
        ("apr 0.31.2 (1a2b3c4)\n", "0.31.2"),
        ("apr 0.4.4\n", "0.4.4"),
        ("warning: config not found\napr 0.63.0 (262dfb2f6)\n", "0.63.0"),
        ("aprender 1.0\n", None),  # not "apr X.Y.Z": unknown, so the profile as written
        ("", None),
    ],
)
def test_apr_version_is_read_from_its_version_line(printed: str, version: str | None) -> None:
    raw = validate_document(EngineProfile, load_yaml(PROFILES / "apr.yaml"))
    assert raw.read_version(printed) == version


@pytest.mark.parametrize(
    ("version", "argv"),
    [
        ("0.2.3", LEGACY),
        ("0.4.4", LEGACY),
        ("0.29.99", LEGACY),
        ("0.30.0", CURRENT),
        ("0.30", CURRENT),
        ("0.31.2", CURRENT),
        ("0.63.0", CURRENT),
        ("1.0.0", CURRENT),
        (None, CURRENT),
    ],
)
def test_version_picks_the_serve_generation(version: str | None, argv: list[str]) -> None:
    raw = validate_document(EngineProfile, load_yaml(PROFILES / "apr.yaml"))
    resolved = raw.for_version(version)
    assert resolved.serve is not None and resolved.serve.argv == argv
    assert resolved.run == raw.run and resolved.chat == raw.chat  # only serve differs between generations
    assert resolved.variants == []
    assert ("variant legacy-serve" in resolved.description) == (argv == LEGACY)


@pytest.mark.parametrize(
    ("version", "argv"), [("0.2.3", LEGACY), ("0.4.4", LEGACY), ("0.4.0", LEGACY), ("0.31.2", CURRENT)]
)
def test_apr_version_subprocess_picks_the_serve_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, argv: list[str]
) -> None:
    """The whole detection path: installed_profile runs the `apr` found on PATH once and reads what it prints."""
    monkeypatch.setenv("PATH", f"{fake_apr(tmp_path / 'bin', version)}{os.pathsep}{os.environ['PATH']}")
    for name in ("apr", "apr-text"):
        profile = installed_profile(name)
        assert detect_version(profile) == version
        assert profile.serve is not None and profile.serve.argv == argv, name
        assert f"version {version}" in profile.description


def test_without_apr_the_profile_is_used_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing called apr here
    profile = installed_profile("apr")
    assert profile.serve is not None and profile.serve.argv == CURRENT
    assert profile.description.endswith("(version unknown: as written)")


def test_a_failing_version_command_is_an_unknown_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "apr").write_text("#!/bin/sh\necho 'apr 0.4.4'\nexit 1\n")
    (tmp_path / "apr").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert detect_version(installed_profile("apr")) is None
    assert installed_profile("apr").serve.argv == CURRENT  # type: ignore[union-attr]


def _profile(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "e",
        "formats": ["gguf"],
        "version_argv": ["e", "--version"],
        "serve": {"argv": ["e", "{port}"], "health": {"path": "/health"}},
        "variants": [
            {
                "name": "old",
                "when": {"below_version": "2.0"},
                "serve": {"argv": ["e", "-p", "{port}"], "health": {"path": "/"}},
            }
        ],
    }
    return base | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version_argv": None}, "variants are chosen by the engine's version: give version_argv"),
        ({"variants": [{"name": "x", "when": {}, "backend_args": {}}]}, "give min_version, below_version or both"),
        (
            {"variants": [{"name": "x", "when": {"min_version": "2.0", "below_version": "1.9"}, "backend_args": {}}]},
            "min_version 2.0 is not below below_version 1.9",
        ),
        ({"variants": [{"name": "x", "when": {"min_version": "v2"}, "backend_args": {}}]}, "should match pattern"),
        ({"variants": [{"name": "x", "when": {"min_version": "2"}}]}, "variant x changes nothing"),
        (
            {"variants": [{"name": "x", "when": {"min_version": "2"}, "backend_args": {}}] * 2},
            "variants: x named more than once",
        ),
        ({"version_pattern": "apr \\d+"}, "needs one capturing group"),
        (
            {
                "variants": [
                    {"name": "x", "when": {"min_version": "2"}, "serve": {"argv": ["e"], "health": {"path": "/"}}}
                ]
            },
            "a serve argv must pass {port}",
        ),
    ],
)
def test_variant_mistakes_are_reported(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    path = write_playbook(tmp_path / "p.yaml", engine=_profile(**changes))
    with pytest.raises(InputError, match=None) as caught:
        load_playbook(path)
    assert message in str(caught.value) and "p.yaml:" in str(caught.value)


def test_the_first_variant_that_holds_wins_and_bounds_are_half_open() -> None:
    profile = EngineProfile.model_validate(
        _profile(
            variants=[
                {"name": "a", "when": {"min_version": "1.0", "below_version": "1.5"}, "backend_args": {"cpu": ["a"]}},
                {"name": "b", "when": {"min_version": "1.2"}, "backend_args": {"cpu": ["b"]}},
            ]
        )
    )
    picked = {
        v: (profile.variant_for(v).name if profile.variant_for(v) else None)
        for v in ("0.9", "1.0", "1.4.99", "1.5", "1.10", None)
    }  # type: ignore[union-attr]
    assert picked == {"0.9": None, "1.0": "a", "1.4.99": "a", "1.5": "b", "1.10": "b", None: None}
    assert profile.for_version("1.5").backend_args == {Backend.CPU: ["b"]}


# --- inline profiles driving real engine processes through `aprqa run` ------------------------------------------


def _run(tmp_path: Path, model: Path, engine: object, modalities: list[str], timeout_ms: int = 20000, **env: str):  # type: ignore[no-untyped-def]
    playbook = write_playbook(
        tmp_path / "p.yaml",
        test_matrix={"modalities": modalities, "backends": ["cpu"], "scenario_count": 1, "timeout_ms": timeout_ms},
        engine=engine,
    )
    done = aprqa("run", playbook, "--model-path", model, "--output-dir", tmp_path / "out", env=env or None, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    evidence = read_evidence(tmp_path / "out" / "evidence.json")
    by_modality = {o.scenario_id.split(":")[1]: o for o in evidence.observations}
    return done, evidence, by_modality


def test_inline_profile_runs_and_serves_a_well_behaved_engine(tmp_path: Path, smollm2: Path) -> None:
    done, evidence, seen = _run(tmp_path, smollm2, hostile_profile("ok", serve="ok"), ["run", "serve"])
    assert {m: (o.status, o.text) for m, o in seen.items()} == {"run": ("ok", "4"), "serve": ("ok", "4")}
    assert seen["run"].command[:2] == [sys.executable, str(HOSTILE)]
    assert seen["serve"].tokens == 1  # usage.completion_tokens of the OpenAI answer
    assert evidence.engine.name == "hostile"
    assert done.returncode == 0, done.stdout + done.stderr


def test_inline_profile_classifies_a_crashing_run_and_a_failing_server(tmp_path: Path, smollm2: Path) -> None:
    done, evidence, seen = _run(tmp_path, smollm2, hostile_profile("segv", serve="error-500"), ["run", "serve"])
    assert (seen["run"].status, seen["run"].reason) == ("crashed", "killed by SIGSEGV")
    assert (seen["serve"].status, seen["serve"].reason) == (
        "failed",
        "POST /v1/chat/completions answered 500: internal error",
    )
    assert evidence.verdict is not None and not evidence.verdict.qualified
    assert done.returncode == 1


@pytest.mark.parametrize(("version", "status"), [("2.1.0", "ok"), ("1.9.0", "failed")])
def test_inline_profile_variants_pick_the_server_by_version(
    tmp_path: Path, smollm2: Path, version: str, status: str
) -> None:
    """An inline profile whose server was fixed in 2.0: before that it never becomes healthy."""
    profile = hostile_profile("ok", serve="never-healthy")
    profile["version_argv"] = ["{python}", "-c", f"print('hostile {version}')"]
    fixed = {"argv": ["{python}", str(HOSTILE), "serve-ok", "{port}"], "health": {"path": "/health"}}
    profile["variants"] = [{"name": "fixed", "when": {"min_version": "2.0"}, "serve": fixed}]
    _, evidence, seen = _run(tmp_path, smollm2, profile, ["serve"], timeout_ms=3000)
    assert seen["serve"].status == status, seen["serve"].reason
    assert ("serve-ok" in seen["serve"].command) == (status == "ok")
    assert evidence.engine.version == f"hostile {version}"


@pytest.mark.parametrize(("version", "argv"), [("0.4.4", LEGACY), ("0.31.2", CURRENT)])
def test_apr_profile_end_to_end_with_a_fake_apr(tmp_path: Path, smollm2: Path, version: str, argv: list[str]) -> None:
    """`engine: apr` through `aprqa run` against a stand-in apr of either generation: run, chat and serve work,
    and the server was started with that generation's command line."""
    path = f"{fake_apr(tmp_path / 'bin', version)}{os.pathsep}{os.environ['PATH']}"
    done, evidence, seen = _run(tmp_path, smollm2, "apr", ["run", "chat", "serve"], PATH=path)
    assert {m: (o.status, o.text) for m, o in seen.items()} == {
        m: ("ok", "2 + 2 equals 4.") for m in ("run", "chat", "serve")
    }, {m: o.reason for m, o in seen.items()}
    assert (seen["run"].tokens, seen["run"].tok_per_sec, seen["run"].latency_ms) == (8, 8.21, 974.4)
    expected = [part.replace("{model}", str(smollm2)).replace("{host}", "127.0.0.1") for part in argv]
    command = seen["serve"].command
    assert command[: argv.index("{port}")] == expected[: argv.index("{port}")]
    assert command[argv.index("{port}") + 1 :] == [*expected[argv.index("{port}") + 1 : -1], "--no-gpu"]
    assert evidence.engine.version == f"apr {version} (fake0000)"
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_fake_apr_rejects_the_other_generation(tmp_path: Path, smollm2: Path) -> None:
    """The control for the test above: the current command line against an old apr fails as clap fails."""
    pinned = yaml.safe_load((PROFILES / "apr.yaml").read_text())
    del pinned["variants"]  # always `apr serve run`
    path = f"{fake_apr(tmp_path / 'bin', '0.4.4')}{os.pathsep}{os.environ['PATH']}"
    _, _, seen = _run(tmp_path, smollm2, pinned, ["serve"], PATH=path)
    assert seen["serve"].status == "failed"
    assert seen["serve"].reason.startswith("server exited before becoming ready (exit code 2")
    assert "unexpected argument" in seen["serve"].stderr_tail
