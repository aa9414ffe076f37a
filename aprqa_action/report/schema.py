"""The versioned JSON Schema of `evidence.json`, generated from the `Evidence` model and shipped in the package.

`aprqa_action/schemas/evidence.schema.json` is this module's output, committed; a test keeps the two in sync,
so a change to the records shows up as a schema diff in review. Regenerate it with
`python -m aprqa_action.report.schema --write` (`--check` exits 1 when it is stale).

The schema describes the evidence files `aprqa` accepts (`read_evidence`, `aprqa report`): pydantic's
validation-mode schema, with `schema_version` pinned to this version — a file written under another version
is not described by it, and its `$id` names the version.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

from aprqa_action.records import SCHEMA_VERSION, Evidence

SCHEMA_ID = f"https://github.com/paiml/apr-qa-action/schemas/evidence-v{SCHEMA_VERSION}.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_path() -> Path:
    """The shipped file (inside the installed package)."""
    return Path(str(files("aprqa_action") / "schemas" / "evidence.schema.json"))


def evidence_schema() -> dict[str, Any]:
    schema = Evidence.model_json_schema(mode="validation")
    version = schema["properties"]["schema_version"]
    version.pop("default", None)
    version["const"] = SCHEMA_VERSION
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": f"aprqa evidence (schema version {SCHEMA_VERSION})",
        "description": (
            "What an aprqa run observed and judged: run and host, playbook, engine, model files, backends, "
            "every scenario and observation, every evidence item and the verdict."
        ),
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }


def evidence_schema_text() -> str:
    return json.dumps(evidence_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_errors(data: Any) -> list[str]:
    """Every way `data` (a parsed evidence.json) violates the schema, as `path: message` lines.

    Needs `jsonschema` (the dev extra); aprqa itself validates evidence with the pydantic model.
    """
    # Optional (the dev extra): only tests and tooling validate against the JSON Schema.
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(evidence_schema(), format_checker=jsonschema.FormatChecker())
    found = []
    for error in validator.iter_errors(data):
        # "verdict" is `Verdict or null`: name the field inside it that is wrong (the deepest complaint of the
        # union's branches), not the whole union.
        if error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        found.append(f"{where}: {error.message}")
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the evidence.json JSON Schema")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the shipped schema file")
    action.add_argument("--check", action="store_true", help="exit 1 when the shipped file is stale")
    args = parser.parse_args(argv)
    text = evidence_schema_text()
    if args.write:
        schema_path().write_text(text, encoding="utf-8")
        print(f"wrote {schema_path()}")
    elif args.check:
        current = schema_path().read_text(encoding="utf-8") if schema_path().is_file() else ""
        if current != text:
            print(f"{schema_path()} is stale: run python -m aprqa_action.report.schema --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
