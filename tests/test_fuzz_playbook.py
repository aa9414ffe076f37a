"""Property: whatever a playbook file holds, `load_playbook` answers with a valid Playbook or a clear InputError.

A clear InputError's message starts with the file's path; where the problem has a place in the file, every line
reads `path:line:col: ...` and the place lies inside the file. No other exception may escape, and neither
memory nor work may grow without bound: a "billion laughs" alias bomb is checked in a subprocess under an
address-space limit and a budget of Python calls (a count, not a clock).

Inputs: random YAML-ish text; line-level and tree-level mutations of the shipped playbooks (deleted,
duplicated, retyped and unknown keys, huge numbers, deep nesting, anchors and aliases, tabs, very long
strings); invalid UTF-8 bytes. `benchmarks/fuzz_nightly.py` runs the same strategies ≥ 10,000 times.

The bugs this fuzzing found (PyYAML errors escaping the loader, alias bombs, recursive anchors, deep
nesting, raw control characters in messages) have regression tests with their exact inputs below.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import traceback
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import InvalidArgument

from aprqa_action.documents.yaml_source import parse_yaml
from aprqa_action.errors import InputError
from aprqa_action.playbook import LoadedPlaybook, Playbook, load_playbook

# Hypothesis caches constants of the code under test in ./.hypothesis; keep that out of the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "aprqa-hypothesis")

SHIPPED = sorted(ROOT.glob("playbooks/**/*.playbook.yaml"))
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in SHIPPED}
TREES = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
PEAK_LIMIT = 64 << 20  # bytes a single load may allocate (the largest input here is ~200 KB)
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# -- the invariant ---------------------------------------------------------------------------------------

# Messages that have no place in the file to point at (the file as a whole, or its bytes).
_NO_PLACE = ("not UTF-8 text", "no such file", "is a directory", "cannot read", "invalid YAML", "a playbook is a")


def _frames(exc: BaseException) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def assert_clear(message: str, path: Path, text: str | None) -> None:
    """The message names the file first; every entry is one line without control characters (a key from the
    file must not forge an error line or drive the terminal) and points inside the file."""
    assert message.startswith(str(path)), message[:300]
    lines = text.splitlines() if text is not None else []
    located = re.compile(re.escape(str(path)) + r"(?::(\d+):(\d+))?: \S", re.DOTALL)
    entries = re.split(r"\n(?=" + re.escape(str(path)) + ")", message)
    for entry in entries:
        match = located.match(entry)
        assert match, f"not `path[:line:col]: reason`: {entry[:300]!r}"
        assert "\n" not in entry and not _CONTROL.search(entry), entry[:300]
        if match[1] is None:
            assert any(entry[len(str(path)) + 2 :].startswith(kind) for kind in _NO_PLACE), entry[:300]
            continue
        row, col = int(match[1]), int(match[2])
        assert 1 <= row <= len(lines) + 1, f"line {row} of a {len(lines)}-line file: {entry[:200]}"
        if row <= len(lines):
            assert 1 <= col <= len(lines[row - 1]) + 1, f"column {col} of {lines[row - 1][:80]!r}: {entry[:200]}"


def outcome(path: Path) -> str:
    """Load `path` and check the invariant: 'valid' or 'error' (anything else fails)."""
    data = path.read_bytes()
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    tracemalloc.start()
    try:
        loaded = load_playbook(path)
    except InputError as exc:
        assert_clear(str(exc), path, text)
        return "error"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"loading {len(data)} bytes allocated {peak / 2**20:.0f} MiB"
    assert isinstance(loaded, LoadedPlaybook) and isinstance(loaded.playbook, Playbook)
    assert loaded.path == path and loaded.sha256 == hashlib.sha256(data).hexdigest()
    return "valid"


def check_bytes(workdir: Path, data: bytes) -> str:
    path = workdir / "fuzzed.playbook.yaml"
    path.write_bytes(data)
    result = outcome(path)
    with contextlib.suppress(InvalidArgument):  # outside a Hypothesis test there are no statistics
        event(result)
    return result


# -- strategies ------------------------------------------------------------------------------------------

TOKENS = [
    ":", ": ", "- ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "*undefined", "!!str ", "!!int ",
    "!!float ", "!!binary ", "!!set ", "!!omap ", "!custom ", "? ", "|\n", ">-\n", "# c\n", "\n", "\n  ", "\n    ",
    "\t", " ", "'", '"', "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "<<: ", "name", "version",
    "model", "test_matrix", "engine", "oracles", "prompts", "formats: [gguf]", "1", "1.5", "-1", "1e999", "0x1F",
    "true", "null", "~", "\\", '"\\x"', '"\\ud800"', "@", "`", "%", "\ufeff", "é", "🙂", "2001-12-14",
]  # fmt: skip

SCALARS = [
    "0", "-1", "1e400", "-1e400", ".inf", ".nan", "9" * 30, "0x" + "f" * 64, "0o777", "0b101", "1_000", "190:20:30",
    "~", "null", "true", "yes", "''", '""', "[]", "{}", "2001-12-14", "2001-12-14T21:59:43Z", "!!binary aGVsbG8=",
    "!!str 1", "!!python/object/apply:os.system [ls]", "*undefined", "&x value", '"\\ud800"', '"\\x41"', '"\\q"',
    "'unterminated", "[unterminated", "{a: 1, a: 2}", "|\n  block\n", "? complex\n", "@reserved", "`tick`",
    "'" + "long " * 4_000 + "'",
]  # fmt: skip
HUGE = [10**18, 2**63, -(2**63) - 1, 2**64, 10**100, 10**4000, 1e308, float("inf"), float("nan"), -0.0]
INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]


def _keys(tree: Any) -> list[str]:
    found: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += [str(key), *_keys(value)]
    elif isinstance(tree, list):
        for item in tree:
            found += _keys(item)
    return found


KNOWN_KEYS = sorted({key for tree in TREES.values() for key in _keys(tree)})
key_names = (
    st.sampled_from(KNOWN_KEYS) | st.sampled_from(KNOWN_KEYS).map(lambda k: k[:-1] or "x") | st.text(max_size=12)
)
leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(HUGE)
values = st.recursive(
    leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(key_names, c, max_size=3), max_leaves=8
)


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    """Random text made mostly of YAML's own punctuation and the playbook's words."""
    # Printable text mostly: a control character ends every parse at the reader, which finds nothing new.
    printable = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=6)
    pieces = st.sampled_from(TOKENS) | printable | st.text(max_size=2)
    return "".join(draw(st.lists(pieces, max_size=60)))


def _nested(depth: int, kind: str) -> str:
    return "[" * depth + "1" + "]" * depth if kind == "list" else "{a: " * depth + "1" + "}" * depth


@st.composite
def mutated_text(draw: st.DrawFn, max_depth: int = 150) -> str:
    """A shipped playbook with a few line edits: what a hand-edited file looks like when it goes wrong."""
    lines = TEXTS[draw(st.sampled_from(sorted(TEXTS)))].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip(" "))]
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "tab", "value", "unknown", "char", "cut", "nest"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":  # a duplicated `key:` line is a duplicate key
            lines.insert(i, line)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "tab":
            lines[i] = line.replace("  ", "\t", draw(st.integers(1, 3)))
        elif op == "value" and ":" in line:
            lines[i] = line.split(":", 1)[0] + ": " + draw(st.sampled_from(SCALARS)) + "\n"
        elif op == "unknown":
            lines.insert(i, f"{indent}{draw(key_names)}: {draw(st.sampled_from(SCALARS))}\n")
        elif op == "char":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(TOKENS) | st.characters()) + line[at:]
        elif op == "cut":
            lines = [*lines[:i], line[: draw(st.integers(0, len(line)))]]
        elif op == "nest" and ":" in line:
            depth, kind = draw(st.integers(1, max_depth)), draw(st.sampled_from(["list", "map"]))
            lines[i] = line.split(":", 1)[0] + ": " + _nested(depth, kind) + "\n"
    return "".join(lines)


def _slots(tree: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key-or-index) in the tree, the root's entries included."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield tree, key
            yield from _slots(value)
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield tree, index
            yield from _slots(value)


def _reaches(tree: Any, target: Any) -> bool:
    if tree is target:
        return True
    children = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else []
    return any(_reaches(child, target) for child in children)


@st.composite
def mutated_tree(draw: st.DrawFn, max_depth: int = 60, max_long: int = 20_000) -> str:
    """A shipped playbook parsed, edited as data, dumped again (shared subtrees become anchors + aliases)."""
    tree = copy.deepcopy(TREES[draw(st.sampled_from(sorted(TREES)))])
    depth_left = max_depth  # all "nest" edits together: yaml.safe_dump itself recurses per level
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(tree))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["delete", "retype", "unknown", "huge", "nest", "long", "alias"]))
        if op == "delete":
            del container[key]
        elif op == "retype":
            container[key] = draw(values)
        elif op == "unknown" and isinstance(container, dict):
            container[draw(key_names)] = draw(values)
        elif op == "huge":
            container[key] = draw(st.sampled_from(HUGE))
        elif op == "nest" and depth_left > 0:
            depth = draw(st.integers(1, depth_left))
            depth_left -= depth
            for _ in range(depth):
                container[key] = [container[key]] if draw(st.booleans()) else {"a": container[key]}
        elif op == "long":
            container[key] = "y" * draw(st.integers(1_000, max_long))
        elif op == "alias":  # point this slot at another subtree: safe_dump writes &id001 ... *id001
            other, other_key = draw(st.sampled_from(slots))
            if not _reaches(other[other_key], container):  # an alias, never a cycle
                container[key] = other[other_key]
    return yaml.safe_dump(tree, sort_keys=draw(st.booleans()), allow_unicode=draw(st.booleans()), width=10**6)


@st.composite
def bounded_aliases(draw: st.DrawFn) -> tuple[str, bool]:
    """(document, valid?): a valid playbook whose values are shared through anchors and aliases, or a small
    alias fan-out (≤ 4 wide, ≤ 4 deep) under an unknown key."""
    width = draw(st.integers(1, 4))
    if draw(st.booleans()):
        repeats = ", ".join(["*q"] * width)
        words = ", ".join(["*w"] * width)
        return (
            "name: aliases\nversion: '1'\nmodel: {hf_repo: a/b, formats: &f [gguf]}\n"
            "test_matrix:\n  modalities: [run]\n  backends: &b [cpu]\n"
            f"  prompts: [&q 'What is 2+2?', {repeats}, {{prompt: *q, must_contain: [&w four, {words}]}}]\n"
            "profile_ci: {formats: *f, backends: *b}\n",
            True,
        )
    depth = draw(st.integers(1, 4))
    lines = ['p0: &p0 ["What is 2+2?"]']
    lines += [f"p{level}: &p{level} [" + ", ".join([f"*p{level - 1}"] * width) + "]" for level in range(1, depth + 1)]
    header = "\n".join("  " + line for line in lines)
    return (
        f"name: aliases\nversion: '1'\nmodel: {{hf_repo: a/b, formats: [gguf]}}\nanchors_live_here:\n{header}\n"
        f"test_matrix:\n  modalities: [run]\n  backends: [cpu]\n  prompts: *p{draw(st.integers(0, depth))}\n",
        False,
    )


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    data = bytearray(TEXTS[draw(st.sampled_from(sorted(TEXTS)))].encode("utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from(INVALID_UTF8))
    return bytes(data)


# -- the properties --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-playbook")


def test_the_shipped_playbooks_are_valid(workdir: Path) -> None:
    for name, text in TEXTS.items():
        assert check_bytes(workdir, text.encode()) == "valid", name


@FUZZ
@given(text=yamlish())
def test_random_yamlish_text(workdir: Path, text: str) -> None:
    check_bytes(workdir, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(text=mutated_text())
def test_line_mutations_of_the_shipped_playbooks(workdir: Path, text: str) -> None:
    check_bytes(workdir, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(text=mutated_tree())
def test_tree_mutations_of_the_shipped_playbooks(workdir: Path, text: str) -> None:
    check_bytes(workdir, text.encode("utf-8", "surrogatepass"))


@settings(FUZZ, max_examples=50)
@given(case=bounded_aliases())
def test_anchors_and_aliases(workdir: Path, case: tuple[str, bool]) -> None:
    text, valid = case
    assert check_bytes(workdir, text.encode()) == ("valid" if valid else "error")


@settings(FUZZ, max_examples=50)
@given(data=invalid_utf8())
def test_invalid_utf8_is_reported_with_its_byte_offset(workdir: Path, data: bytes) -> None:
    assert check_bytes(workdir, data) == "error"
    with pytest.raises(InputError, match=r": not UTF-8 text \(.* at byte \d+\)$"):
        load_playbook(workdir / "fuzzed.playbook.yaml")


@FUZZ
@given(text=yamlish() | mutated_text(), loc=st.lists(st.sampled_from(KNOWN_KEYS) | st.integers(-2, 5), max_size=5))
def test_parse_yaml_and_where(text: str, loc: list[str | int]) -> None:
    path = Path("/fuzz/p.yaml")
    try:
        document = parse_yaml(text, path)
    except InputError as exc:
        assert_clear(str(exc), path, text)
        return
    where = document.where(tuple(loc))
    assert re.fullmatch(re.escape(str(path)) + r"(:\d+:\d+)?", where), where


# -- inputs that once escaped the loader: each must end in a clear InputError ---------------------------

KNOWN_INPUTS = {
    "nul-byte": 'name: x\nversion: "1"\ndescription: "a\x00b"\n',
    "escape-char": "name: x\ndescription: \x1b[31mred\n",
    "int-over-4300-digits": "name: x\ntest_matrix: {seed: " + "9" * 5000 + "}\n",
    "month-13": "name: x\nversion: 2001-13-45\n",
    "hour-25": "name: x\nversion: 2001-02-03T25:00:00Z\n",
    "bool-tag": "name: x\nversion: !!bool garbage\n",
    "timestamp-tag": "name: x\nversion: !!timestamp garbage\n",
    "int-tag": "name: x\nversion: !!int garbage\n",
    "float-tag": "name: x\nversion: !!float garbage\n",
    "empty-int-tag": 'name: x\nversion: !!int ""\n',
    "nesting-1000-lists": "name: x\ndescription: " + _nested(1000, "list") + "\n",
    "nesting-1000-maps": "name: x\ndescription: " + _nested(1000, "map") + "\n",
    "self-referencing-anchor": "name: x\ndescription: &a [*a]\n",
}


@pytest.mark.parametrize("name", sorted(KNOWN_INPUTS))
def test_known_bug_inputs_end_in_a_clear_input_error(workdir: Path, name: str) -> None:
    path = workdir / f"{name}.playbook.yaml"
    path.write_text(KNOWN_INPUTS[name], encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    assert_clear(str(caught.value), path, KNOWN_INPUTS[name])


def test_keys_are_printed_escaped(workdir: Path) -> None:
    path = workdir / "raw-key.playbook.yaml"
    text = 'name: x\nversion: "1"\n"\\e[31mred\\nfake.yaml:1:1: forged": 1\n'
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_playbook(path)
    assert_clear(str(caught.value), path, text)


# -- alias bombs: bounded memory and bounded work, in a subprocess ---------------------------------------


def billion_laughs(levels: int = 9, width: int = 10, kind: str = "lists") -> str:
    """The classic: each level lists the previous one `width` times, 10^9 strings at 9 levels."""
    lines = ['name: laughs\nversion: "1"\nmodel: {hf_repo: a/b, formats: [gguf]}']
    lines.append("test_matrix: {modalities: [run], backends: [cpu]}")
    if kind == "lists":
        lines.append('l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
        lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    else:  # merge keys: each mapping merges the previous one `width` times
        lines.append("m0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}")
        lines += [f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * width) + "]}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# Runs in a child: address space capped, a budget of Python calls (a real load of a shipped playbook makes
# ~20,000), tracemalloc for the peak. Prints one JSON line: outcome, calls, peak bytes, message head.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    from pathlib import Path
    from aprqa_action.errors import InputError
    from aprqa_action.playbook import load_playbook

    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    load_playbook(sys.argv[2])  # imports and caches warm: only the input's own work is counted

    class OverBudget(BaseException):
        pass

    calls = 0
    budget = int(sys.argv[4])

    def count(frame, what, arg):
        global calls
        if what in ("call", "c_call"):
            calls += 1
            if calls > budget:
                raise OverBudget

    tracemalloc.start()
    sys.setprofile(count)
    try:
        load_playbook(sys.argv[1])
        result = "valid"
    except InputError as exc:
        result = "error: " + str(exc)[:200]
    except OverBudget:
        result = "over budget"
    except MemoryError:
        result = "out of memory"
    except Exception as exc:
        result = f"uncaught {type(exc).__name__}: {exc}"[:200]
    finally:
        sys.setprofile(None)
    print(json.dumps({"result": result, "calls": calls, "peak": tracemalloc.get_traced_memory()[1]}))
    """
)
CALL_BUDGET = 2_000_000
ADDRESS_SPACE = 2 << 30


def bounded_load(path: Path, budget: int = CALL_BUDGET, address_space: int = ADDRESS_SPACE) -> dict[str, Any]:
    """Load `path` in a child under the limits above; its report."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path, SHIPPED[0], str(address_space), str(budget)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only: the call budget stops a runaway load long before
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_call_budget_is_generous_for_real_playbooks() -> None:
    for path in sorted(SHIPPED, key=lambda p: p.stat().st_size)[-2:]:  # the largest ones
        report = bounded_load(path)
        assert report["result"] == "valid" and report["calls"] < CALL_BUDGET // 20, report


@pytest.mark.parametrize("kind", ["lists", "merge-keys"])
def test_an_alias_bomb_does_not_explode_memory(workdir: Path, kind: str) -> None:
    path = workdir / f"bomb-{kind}.yaml"
    path.write_text(billion_laughs(kind=kind.split("-")[0]))
    report = bounded_load(path)
    assert report["result"] != "out of memory" and report["peak"] < PEAK_LIMIT, report


@pytest.mark.parametrize("kind", ["lists", "merge-keys"])
def test_an_alias_bomb_is_rejected_with_bounded_work(workdir: Path, kind: str) -> None:
    path = workdir / f"bomb-{kind}.yaml"
    path.write_text(billion_laughs(kind=kind.split("-")[0]))
    report = bounded_load(path)
    assert report["result"].startswith("error: "), report
