"""No line aprqa prints can be read as a workflow command unless aprqa sends it as one (issue: injection
through logs). The runner takes a line whose trimmed text starts with `::`, and a legacy `##[` anywhere."""

from __future__ import annotations

import io
from pathlib import Path

import gguf
import numpy as np
import pytest
from conftest import aprqa

from aprqa_action.github.commands import INERT, CommandGuard, WorkflowCommands, escape_data, inert
from aprqa_action.github.redact import Redactor
from aprqa_action.oneline import one_line


def _guarded(*writes: str) -> str:
    out = io.StringIO()
    guard = CommandGuard(out)
    for text in writes:
        guard.write(text)
    guard.close()
    return out.getvalue()


@pytest.mark.parametrize(
    "line",
    ["::error::pwned", "  ::add-mask::x", "\t::stop-commands::t", "\u00a0::warning::x", "\u3000::group::x"],
)
def test_a_line_that_would_be_a_command_gets_a_visible_prefix(line: str) -> None:
    assert inert(line) == INERT + line
    assert not inert(line).strip().startswith("::")


def test_the_legacy_prefix_is_broken_anywhere_in_a_line() -> None:
    assert "##[" not in inert("engine said ##[set-env name=X;]y")
    assert inert("plain text: a::b and #[1]") == "plain text: a::b and #[1]"


def test_the_guard_judges_whole_lines_across_writes_and_every_line_end() -> None:
    text = _guarded("ok\n  ", ":", ":error::a\r::warning::b\r\n", "::notice::c\nlast ::x")
    lines = text.splitlines()
    assert lines == ["ok", INERT + "  ::error::a", INERT + "::warning::b", INERT + "::notice::c", "last ::x"]


def test_only_workflow_commands_pass_the_guard_as_commands() -> None:
    out = io.StringIO()
    guard = CommandGuard(out)
    commands = WorkflowCommands(guard, Redactor("s3cret"))  # type: ignore[arg-type]
    guard.write("pending text ")
    commands.warning("a\nb s3cret", title="aprqa")
    commands.group("cell\n::error::x")
    commands.endgroup()
    guard.close()
    assert out.getvalue().splitlines() == [
        "pending text ",  # a partial line is ended before the command, never joined to it
        "::warning title=aprqa::a%0Ab ***",
        "::group::cell%0A::error::x",
        "::endgroup::",
    ]


def test_one_line_folds_every_line_break_to_a_visible_escape() -> None:
    assert one_line("a\r\nb\x85c\u2028d\u2029e") == "a\\r\\nb\\x85c\\u2028d\\u2029e"
    assert escape_data("a\x85b\u2028c\u2029d") == "a%C2%85b%E2%80%A8c%E2%80%A9d"


def test_inspect_prints_a_model_file_s_text_on_its_own_line(tmp_path: Path) -> None:
    """A GGUF's metadata and tensor names are the file author's text: `aprqa inspect` folds them."""
    path = tmp_path / "hostile.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny\n::error::pwned\r##[warning]x")
    writer.add_tensor("token_embd.weight\n::add-mask::pwned", np.ones((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    done = aprqa("inspect", path)
    assert "general.name = tiny\\n::error::pwned\\r#\u200b#[warning]x" in done.stdout, done.stdout
    assert "token_embd.weight\\n::add-mask::pwned" in done.stdout
    for line in (done.stdout + done.stderr).splitlines():
        assert not line.strip().startswith("::") and "##[" not in line, line
