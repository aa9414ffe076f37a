"""YAML documents that remember where every value came from, so errors can say file:line:col."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aprqa_action.errors import InputError


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None

    def where(self, loc: tuple[str | int, ...] = ()) -> str:
        """`file:line:col` of the node at `loc` (or of its nearest existing parent)."""
        mark = _locate(self.root, loc)
        if mark is None:
            return f"{self.path}"
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"


def load_yaml(path: str | Path) -> YamlDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _reject_duplicate_keys(root, path)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InputError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, root=root)


def _reject_duplicate_keys(node: yaml.Node, path: Path) -> None:
    # PyYAML silently keeps the last duplicate; a playbook with two `backends:` is a mistake to report.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    mark = key.start_mark
                    raise InputError(f"{path}:{mark.line + 1}:{mark.column + 1}: duplicate key {key.value!r}")
                seen.add(key.value)
            _reject_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, path)


def _locate(node: yaml.Node | None, loc: tuple[str | int, ...]) -> yaml.Mark | None:
    """Walk `loc` down the node tree; a mapping entry is reported at its key (where an unknown or
    misspelt key is), a sequence item at the item; a missing part stops at its parent."""
    if node is None:
        return None
    mark = node.start_mark
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)),
                None,
            )
            if entry is None:
                break
            mark, node = entry[0].start_mark, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark
