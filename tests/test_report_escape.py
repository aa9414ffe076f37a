"""The escape module: untrusted text renders as exactly its characters and nothing else.

Each context is checked by rendering with markdown-it (CommonMark + GFM tables, raw HTML allowed, as GitHub
allows it before sanitising) and reading back the text: it must equal the input, with no element of its own.
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from aprqa_action.report.escape import (
    ZWJ,
    Md,
    clip,
    code_block,
    defuse,
    fence_for,
    html_text,
    inline,
    table_cell,
    visible,
)

NASTY = [
    "@someone please look",
    "<img src=x onerror=alert(1)>",
    "![x](http://evil.example/x.png)",
    "```\nfence break\n```",
    "a | b | c",
    "</details> closed?",
    "line one\nline two\r\nline three",
    "*em* _em_ **strong** ~~gone~~ `code` $x^2$",
    "[link](http://evil.example) <http://evil.example> https://evil.example www.evil.example",
    "back\\slash\\| and a trailing backslash\\",
    "&amp; &lt;b&gt; &#64;someone",
    "# not a heading > not a quote - not a list 1. no",
    "see #12 and GH-34 and org/repo#56",
]


def md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


class _Html(HTMLParser):
    """Text content and the tags of a rendered fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Html:
    parser = _Html()
    parser.feed(html)
    return parser


def shown(text: str) -> str:
    """What a reader should see for `text` on one line: whitespace collapsed, no joiners."""
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("text", NASTY)
def test_inline_renders_the_text_and_nothing_else(text: str) -> None:
    html = md().render(f"Reason: {inline(text)}")
    parsed = parse(html)
    assert parsed.tags == ["p", "/p"], html  # no link, image, emphasis, code, HTML element
    assert "".join(parsed.text).replace(ZWJ, "").strip() == "Reason: " + shown(text)


@pytest.mark.parametrize("text", NASTY)
def test_table_cell_keeps_the_row_and_the_text(text: str) -> None:
    html = md().render(f"| a | b | c |\n|---|---|---|\n| left | {table_cell(text)} | right |\n")
    cells = re.findall(r"<td>(.*?)</td>", html, flags=re.S)
    assert len(cells) == 3, html
    assert cells[0] == "left" and cells[2] == "right"
    middle = parse(cells[1])
    assert middle.tags == [], cells[1]
    assert "".join(middle.text).replace(ZWJ, "") == shown(text)


@pytest.mark.parametrize("text", NASTY)
def test_html_text_inside_our_summary_stays_text(text: str) -> None:
    html = md().render(f"<details><summary>{html_text(text)}</summary>\n\nbody\n\n</details>\n")
    parsed = parse(html)
    assert parsed.tags == ["details", "summary", "/summary", "p", "/p", "/details"], html
    assert parsed.text[0].replace(ZWJ, "") == shown(text)


@pytest.mark.parametrize(
    "text",
    [
        *NASTY,
        "",
        "ends with a backtick`",
        "````\n```\n`````",
        "~~~\nnot a fence for backticks\n~~~",
        "    indented\n\ttabbed",
        "</details>\n</details>\n<details>",
        "\n\nleading and trailing blank lines\n\n",
    ],
)
def test_code_block_shows_the_text_verbatim_in_one_block(text: str) -> None:
    block = code_block(text)
    html = md().render(f"<details><summary>s</summary>\n\n{block}\n\n</details>\n")
    assert html.count("<pre><code") == 1, html
    assert html.count("</details>") == 1  # ours: nothing in the excerpt closed it
    content = re.search(r"<pre><code[^>]*>(.*?)</code></pre>", html, flags=re.S)
    assert content is not None
    shown = "".join(parse(content.group(1)).text).replace(ZWJ, "")
    assert shown == visible(text) + ("" if text.endswith("\n") else "\n")


def test_the_fence_outgrows_every_backtick_run() -> None:
    assert fence_for("no backticks") == "```"
    assert fence_for("``` and ````") == "`````"
    assert code_block("a ``````` b").startswith("````````text\n")


def test_random_soup_of_markup_characters_round_trips() -> None:
    rng = random.Random(20261129)
    alphabet = "`*_[]()!|~$<>&@#:/\\\n -=.\"'\tabc1"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        html = md().render(f"| x | y |\n|---|---|\n| {table_cell(text)} | end |\n")
        cells = re.findall(r"<td>(.*?)</td>", html, flags=re.S)
        assert len(cells) == 2 and cells[1] == "end", (text, html)
        assert "".join(parse(cells[0]).text).replace(ZWJ, "") == shown(text), (text, html)
        block = md().render(code_block(text))
        inner = re.search(r"<pre><code[^>]*>(.*?)</code></pre>", block, flags=re.S)
        assert inner is not None, text
        assert "".join(parse(inner.group(1)).text).replace(ZWJ, "").rstrip("\n") == text.rstrip("\n"), text


def test_mentions_references_and_urls_are_defused() -> None:
    assert defuse("@someone") == f"@{ZWJ}someone"
    assert defuse("a@b.c") == f"a@{ZWJ}b.c"
    assert defuse("#12 but not #x") == f"#{ZWJ}12 but not #x"
    assert defuse("GH-34 and gh-5, not ABGH-6") == f"GH-{ZWJ}34 and gh-{ZWJ}5, not ABGH-6"
    assert defuse("https://x.y www.x.y") == f"https:{ZWJ}//x.y www{ZWJ}.x.y"
    assert not re.search(r"(^|\s)@someone", inline("hi @someone and\n@someone"))
    assert not re.search(r"(^|\s)@someone", code_block("hi @someone and\n@someone"))


def test_controls_bidi_and_surrogates_become_visible() -> None:
    assert visible("a\x00b\x1bc\x7f") == "a\u2400b\u241bc\u2421"
    assert visible("tab\tand\nlf") == "tab\tand\nlf"
    assert visible("crlf\r\nand cr\r") == "crlf\nand cr\n"
    assert visible("evil\u202eflip") == "evil⟪U+202E⟫flip"
    assert visible("lone \ud800 surrogate") == "lone \ufffd surrogate"
    assert visible("plain text is returned as is") == "plain text is returned as is"


def test_every_escaper_returns_md_and_clips_before_escaping() -> None:
    for result in (inline("x"), table_cell("x"), html_text("x"), code_block("x")):
        assert isinstance(result, Md)
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"
    # The cut lands before the escape, so no escape sequence is split in two.
    assert inline("ab<<<<", 4) == "ab&lt;…"
    block = code_block("x" * 50, limit=10)
    assert "x" * 10 + "\n… (40 more characters in evidence.json)\n" in block
