"""A user's own report templates (--templates DIR): any template or partial replaced by name, checked before
anything runs, sandboxed, and the model's output still escaped."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import aprqa
from report_fixtures import qualified

from aprqa_action.errors import InputError
from aprqa_action.report import check_templates, render_summary
from aprqa_action.store.evidence import write_evidence


def templates(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / "t" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "t" / name).write_text(text)
    return tmp_path / "t"


def test_a_partial_is_replaced_and_the_rest_is_ours(tmp_path: Path) -> None:
    own = templates(tmp_path, {"partials/headline.md.j2": "## Our gate: {{ v.mqs }} · {{ ev.playbook.name|inline }}\n"})
    evidence = qualified()
    text = render_summary(evidence, templates=own)
    assert evidence.verdict is not None
    assert text.startswith(f"## Our gate: {evidence.verdict.mqs} · {evidence.playbook.name}\n")
    shipped = render_summary(evidence)
    assert "### Cell matrix" in text and text.split("### Cell matrix", 1)[1] == shipped.split("### Cell matrix", 1)[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ ev.playbook.name }}", "template printed an unescaped str"),  # escaping is not optional
        ("{{ ev.__class__.__mro__ }}", "unsafe"),  # the sandbox
        ("{{ nothing_here|inline }}", "'nothing_here' is undefined"),
    ],
)
def test_what_a_template_may_not_do_is_an_input_error(tmp_path: Path, text: str, message: str) -> None:
    own = templates(tmp_path, {"partials/headline.md.j2": text})
    with pytest.raises(InputError) as caught:
        render_summary(qualified(), templates=own)
    assert str(caught.value).startswith(f"{own / 'partials' / 'headline.md.j2'}:1: template error"), caught.value
    assert message in str(caught.value), caught.value


def test_a_syntax_error_is_found_before_a_run_with_its_line(tmp_path: Path) -> None:
    own = templates(tmp_path, {"summary.md.j2": "ok\n{% if v %}\nno end\n"})
    with pytest.raises(InputError) as caught:
        check_templates(own)
    assert str(caught.value).startswith(f"{own / 'summary.md.j2'}:"), caught.value
    done = aprqa(
        "run", "playbooks/examples/smollm2-135m-demo.playbook.yaml", "--templates", own, "--output-dir", tmp_path
    )
    assert done.returncode == 2 and "template error" in done.stderr, done.stderr
    assert not (tmp_path / "evidence.json").exists()  # nothing ran


def test_aprqa_report_uses_them_and_a_missing_directory_is_exit_2(tmp_path: Path) -> None:
    write_evidence(tmp_path / "run", qualified())
    own = templates(tmp_path, {"comment.md.j2": "{{ v.grade|inline }} only\n"})
    done = aprqa("report", tmp_path / "run", "--templates", own)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "comment.md").read_text() == f"{qualified().verdict.grade} only\n"  # type: ignore[union-attr]
    missing = aprqa("report", tmp_path / "run", "--templates", tmp_path / "nope")
    assert missing.returncode == 2 and "not a directory" in missing.stderr
