"""Regenerate the parts of docs/ and the README that come from the code (between `<!-- generated: NAME -->`
and `<!-- end generated -->`): every command's help, every playbook key, the registered checks and oracles, the
report templates' partials and filters, and the README's sample PR comment (what `aprqa report` renders from
docs/sample/evidence.json). `--check` exits 1 when a committed page differs (the test suite runs it).

    python scripts/make_docs.py [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile

os.environ["COLUMNS"] = "110"  # argparse wraps help to the terminal: the same page on any machine
from importlib.resources import files
from pathlib import Path
from typing import Any

from aprqa_action.checks import checks, oracles
from aprqa_action.cli import build_parser
from aprqa_action.playbook import json_schema
from aprqa_action.report.markdown import environment
from aprqa_action.report.write import report_from_file

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLE = DOCS / "sample" / "evidence.json"
BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end generated -->)", re.DOTALL)


def cli() -> str:
    parser = build_parser()
    out = ["```text", parser.format_help().rstrip(), "```"]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        out += ["", f"### aprqa {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(out)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "oneOf" in schema:
        return " or ".join(_type(s) for s in schema["oneOf"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "enum" in schema:
        return " · ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if schema.get("type") == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return f"map of {_type(extra)}" if isinstance(extra, dict) else "map"
    return str(schema.get("type", "any"))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(name: str, schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    out = ["", f"### {name}", ""]
    if schema.get("description"):
        out += [" ".join(schema["description"].split()), ""]
    out += ["| key | type | default | |", "|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        default = "(required)" if key in required else f"`{prop['default']}`" if "default" in prop else ""
        out.append(f"| `{key}` | {_cell(_type(prop))} | {_cell(default)} | {_cell(prop.get('description', ''))} |")
    return out


def playbook() -> str:
    schema = json_schema()
    out = _table("Playbook (the top level)", schema)
    for name, definition in sorted(schema.get("$defs", {}).items()):
        if definition.get("type") == "object":
            out += _table(name, definition)
    return "\n".join(out).lstrip()


def registry() -> str:
    out = ["| oracle (`oracles: - type:`) | gate | judges | config |", "|---|---|---|---|"]
    for oracle in oracles().values():
        when = "always" if oracle.always else "by default, and when declared" if oracle.by_default else "when declared"
        keys = ", ".join(f"`{k}`" for k in oracle.config.model_fields) or "—"
        out.append(f"| `{oracle.name}` | `{oracle.gate_id}` | {when} | {keys} |")
    out += ["", "Run checks, in the order their items appear in the evidence: "]
    out[-1] += ", ".join(f"`{c.name}`" for c in checks()) + "."
    return "\n".join(out)


def templates() -> str:
    shipped = files("aprqa_action.templates")
    names = sorted(p.name for p in shipped.iterdir() if p.name.endswith(".j2"))
    partials = sorted(p.name for p in shipped.joinpath("partials").iterdir() if p.name.endswith(".j2"))
    out = ["Templates: " + ", ".join(f"`{n}`" for n in names) + "."]
    out += ["", "Partials: " + ", ".join(f"`partials/{n}`" for n in partials) + "."]
    out += ["", "Filters: " + ", ".join(f"`{n}`" for n in sorted(environment().filters) if _ours(n)) + "."]
    return "\n".join(out)


def _ours(name: str) -> bool:
    from jinja2.filters import FILTERS

    return name not in FILTERS


def sample() -> str:
    """comment.md exactly as `aprqa report` writes it (the block adds the newline that ends it)."""
    with tempfile.TemporaryDirectory() as out:
        return report_from_file(SAMPLE, Path(out))["comment"].read_text(encoding="utf-8").removesuffix("\n")


GENERATORS = {"cli": cli, "playbook": playbook, "checks": registry, "templates": templates, "sample": sample}


def render(text: str) -> str:
    def replace(found: re.Match[str]) -> str:
        with contextlib.redirect_stdout(io.StringIO()):
            body = GENERATORS[found[2]]()
        return f"{found[1]}{body}\n{found[3]}"

    return BLOCK.sub(replace, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a page is stale; write nothing")
    args = parser.parse_args()
    stale = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text()
        fresh = render(text)
        if fresh != text:
            stale.append(page)
            if not args.check:
                page.write_text(fresh)
    for page in stale:
        print(f"{page}: {'stale: run python scripts/make_docs.py' if args.check else 'regenerated'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
