"""YAML documents that remember where every value came from, so errors can say file:line:col."""

from __future__ import annotations

import re
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


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
MAX_VALUES = 100_000  # a playbook holds hundreds; far more through aliases is an alias bomb
# PyYAML's constructors raise these (not YAMLError) for malformed scalars: `!!int x`, 2001-13-45, …
_SCALAR_ERRORS = (ValueError, KeyError, AttributeError, IndexError, TypeError, OverflowError)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ESC, …)
        # counted as YAML (and str.splitlines) count lines: NEL, LS and PS break them too
        breaks = list(_LINE_BREAK.finditer(text, 0, exc.position))
        line = len(breaks) + 1
        column = exc.position - (breaks[-1].end() if breaks else 0) + 1
        raise InputError(
            f"{path}:{line}:{column}: invalid YAML: character U+{exc.character:04X} is not allowed"
        ) from None
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_nodes(root, path)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InputError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid YAML: nested too deeply") from None
    except _SCALAR_ERRORS as exc:
        raise InputError(f"{_bad_scalar(root, path)}: invalid YAML value: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, root=root)


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Visit every distinct node once (aliases share nodes): reject duplicate keys (PyYAML silently keeps the
    last one), an anchor that contains its own alias, and a document that expands to more than MAX_VALUES
    values through aliases (a "billion laughs")."""
    expanded: dict[int, int] = {}  # node id → values it stands for, aliases expanded
    entered: set[int] = set()  # nodes on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            entered.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in _children(node))
            if expanded[id(node)] > MAX_VALUES:
                raise InputError(
                    f"{_where(path, node)}: invalid YAML: aliases expand this to more than {MAX_VALUES:,} values"
                )
            continue
        if id(node) in expanded:
            continue
        entered.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise InputError(f"{_where(path, key)}: duplicate key {key.value!r}")
                    seen.add(key.value)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in entered:
                raise InputError(f"{_where(path, child)}: invalid YAML: an alias refers to a node that contains it")
            if id(child) not in expanded:
                stack.append((child, False))


def _bad_scalar(root: yaml.Node | None, path: Path) -> str:
    """Where the scalar that PyYAML could not construct is (found by constructing each one), else the file."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(node)  # a fresh loader: the failed one keeps state
            except (*_SCALAR_ERRORS, yaml.YAMLError):
                return _where(path, node)
        else:
            stack += _children(node)
    return str(path)


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
