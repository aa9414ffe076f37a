"""Reading an engine's output: JSON objects among log lines, text patterns, units."""

from __future__ import annotations

import pytest

from aprqa_action.engines.profile import JsonOutput, TextOutput
from aprqa_action.execute import off_gpu_reason
from aprqa_action.execute.output import OutputError, parse_output
from tests.conftest import make_scenario

JSON = JsonOutput(format="json", tokens="tokens_generated", tok_per_sec="tok_per_sec")


def test_one_line_json_after_log_lines() -> None:
    parsed = parse_output(JSON, 'loading\n{"text": "4", "tokens_generated": 1, "tok_per_sec": 9.5}\n', "")
    assert (parsed.text, parsed.tokens, parsed.tok_per_sec) == ("4", 1, 9.5)


def test_pretty_json_between_log_lines() -> None:
    stdout = 'loading model\n{\n  "text": "four",\n  "tokens_generated": 2\n}\ndone in 1s\n'
    assert parse_output(JSON, stdout, "").text == "four"


def test_the_last_object_wins() -> None:
    assert parse_output(JSON, '{"text": "first"}\n{"text": "last"}\n', "").text == "last"


@pytest.mark.parametrize("stdout", ["", "no json here", '{"answer": "4"}', '{"text": 4}', "[1, 2]"])
def test_unreadable_output_is_an_output_error(stdout: str) -> None:
    with pytest.raises(OutputError):
        parse_output(JSON, stdout, "")


def test_text_statistics_in_seconds_are_recorded_in_milliseconds() -> None:
    spec = TextOutput(format="text", text=r"(?s)Output:\n(.*)\nDone", latency_ms=r"in ([0-9.]+)s", time_unit="s")
    parsed = parse_output(spec, "Output:\nhello\nDone", "took in 1.5s")
    assert (parsed.text, parsed.latency_ms) == ("hello", 1500.0)


def test_used_gpu_false_fails_a_gpu_cell_only() -> None:
    spec = JsonOutput(format="json", used_gpu="used_gpu")
    on_cpu = parse_output(spec, '{"text": "4", "used_gpu": false}', "")
    on_gpu = parse_output(spec, '{"text": "4", "used_gpu": true}', "")
    unsaid = parse_output(spec, '{"text": "4"}', "")
    assert (on_cpu.used_gpu, on_gpu.used_gpu, unsaid.used_gpu) == (False, True, None)
    assert off_gpu_reason(make_scenario(backend="gpu"), on_cpu) == (
        "the gpu backend was asked for, but the engine reports it ran on the CPU (used_gpu: false)"
    )
    assert off_gpu_reason(make_scenario(backend="cpu"), on_cpu) is None
    assert off_gpu_reason(make_scenario(backend="gpu"), on_gpu) is None
    assert off_gpu_reason(make_scenario(backend="gpu"), unsaid) is None  # an engine that does not say
    with pytest.raises(OutputError, match="not true or false"):
        parse_output(spec, '{"text": "4", "used_gpu": "yes"}', "")
