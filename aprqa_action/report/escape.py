"""Make untrusted text — model output, engine stderr, oracle reasons — inert in GitHub Markdown.

One function per place a value can land in a report:

- `table_cell(text)`: a GFM table cell. The same as `inline`, whose escapes already keep a cell inside its
  column: every `|` becomes `\\|` and newlines become spaces.
- `inline(text)`: one line of Markdown prose. `& < >` become entities (no HTML element can open, so no
  `<img>` and no `</details>` closing ours); the punctuation that starts Markdown constructs (links, images,
  emphasis, code spans, strikethrough, math, table pipes) is backslash-escaped; newlines become spaces.
- `html_text(text)`: text inside raw HTML that we write (a `<summary>` line). GitHub does not parse Markdown
  there, so backslashes would show; everything that matters is an entity instead, which reads the same in
  HTML and in Markdown.
- `code_block(text)`: a fenced code block for an excerpt, shown verbatim. The fence is one backtick longer
  than the longest backtick run in the text, so no line inside can close it (CommonMark: a closing fence must
  be at least as long as the opening one); inside a code block nothing is HTML, a link, an image or a mention,
  so `</details>` or `<img …>` in an excerpt is just text. Only `@` gets its joiner there too (below).

Everywhere: a zero-width joiner after every `@` (no @mention notifies anyone), after `#` before a digit and
in `GH-<n>` (no cross-reference lands on another issue's timeline), and inside `://` and `www.` (no bare URL
becomes a link, so an output quoting a GitHub issue URL does not back-link to it either; in code blocks
GitHub links nothing, so they keep their text). C0 control characters become their visible Unicode
"control pictures" (␀, ␛ …), bidirectional overrides become `⟪U+202E⟫` (no Trojan-Source reordering), and
lone surrogates — JSON allows them, UTF-8 does not — become U+FFFD.

Every function returns `Md`, the one type the report templates accept (see markdown.py): a value that did not
pass through an escaper cannot reach a report.
"""

from __future__ import annotations

import re

ZWJ = "\u200d"


class Md(str):
    """Text that is safe to place in a Markdown report: escaped here, or written by this package."""

    __slots__ = ()


# C0 controls except TAB and LF (CR is folded into LF first), and DEL: shown as U+2400 + code / U+2421.
_CONTROLS = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)} | {0x7F: "\u2421"}
# Bidirectional embeddings/overrides/isolates (Trojan Source) and the other invisible direction marks.
_BIDI = {c: f"⟪U+{c:04X}⟫" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
_SURROGATES = {c: "\ufffd" for c in range(0xD800, 0xE000)}
_NONCHARACTERS = {0xFFFE: "\ufffd", 0xFFFF: "\ufffd"}  # not allowed in XML either
_VISIBLE = str.maketrans(_CONTROLS | _BIDI | _SURROGATES | _NONCHARACTERS)
# Almost no text needs the translation; finding that out in C keeps 10,000-scenario reports fast.
_NEEDS_VISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)

# The joiner (ZWJ below) goes after the match: "@ZWJname", "#ZWJ12", "GH-ZWJ12", "https:ZWJ//", "wwwZWJ.".
_MENTION_OR_REF = re.compile(r"@|#(?=\d)|(?<![A-Za-z0-9])(?i:gh)-(?=\d)|:(?=//)|(?i:www)(?=\.)")
_SPACE = re.compile(r"\s+")
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start an inline
# construct (or split a table cell) mid-line. `<`, `>` and `&` become entities instead (see _HTML).
_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]|~$!])")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# In raw HTML Markdown is not parsed, but a renderer that does parse it must not see constructs either:
# numeric entities mean the same character in both worlds.
_HTML_TEXT = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {ch: f"&#{ord(ch)};" for ch in "\\`*_[]|~$!"}
)
_BACKTICKS = re.compile(r"`+")


def visible(text: str) -> str:
    """Line endings folded to LF; controls, bidi overrides and lone surrogates made visible."""
    if _NEEDS_VISIBLE.search(text) is None:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_VISIBLE)


def defuse(text: str) -> str:
    """A zero-width joiner where GitHub would otherwise mention a user, reference an issue or link a URL."""
    return _MENTION_OR_REF.sub(lambda m: m.group(0) + ZWJ, text)


def clip(text: str, limit: int | None) -> str:
    """At most `limit` characters (the last one an ellipsis); cut before escaping so no escape is split."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def _one_line(text: str, limit: int | None) -> str:
    return _SPACE.sub(" ", clip(visible(text), limit)).strip()


def inline(text: str, limit: int | None = None) -> Md:
    """One line of Markdown prose that renders as exactly `text` (whitespace collapsed), and nothing else."""
    flat = defuse(_one_line(text, limit)).translate(_HTML)
    return Md(_MARKDOWN_PUNCT.sub(r"\\\1", flat))


def table_cell(text: str, limit: int | None = None) -> Md:
    """A GFM table cell: `inline` escapes `|` and folds newlines, so the row keeps its column count."""
    return inline(text, limit)


def html_text(text: str, limit: int | None = None) -> Md:
    """Text inside raw HTML we write (`<summary>…</summary>`): entities only, on one line."""
    return Md(defuse(_one_line(text, limit)).translate(_HTML_TEXT))


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in `text` (at least three)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def code_block(text: str, limit: int | None = None, info: str = "text") -> Md:
    """A fenced code block showing `text` verbatim (controls made visible); `limit` cuts it with a note."""
    # Code is never a mention on GitHub, but the joiner after "@" is invisible and keeps the report free of
    # "@name" even for a renderer (or a cut) that got the fence wrong.
    shown = visible(text).replace("@", "@" + ZWJ)
    if limit is not None and len(shown) > limit:
        shown = f"{shown[:limit]}\n… ({len(shown) - limit:,} more characters in evidence.json)"
    if not shown.endswith("\n"):
        shown += "\n"
    fence = fence_for(shown)
    return Md(f"{fence}{info}\n{shown}{fence}")
