"""Text from outside (engine output, HTTP bodies, evidence fields, file and playbook names) on one log line.

A line that starts with `::` is a workflow command to the GitHub runner, so outside text must never start a
line of ours: every character a reader may take for a line break becomes a visible escape.
"""

from __future__ import annotations

# CR and LF break lines everywhere; NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR in some readers.
_BREAKS = str.maketrans({"\r": "\\r", "\n": "\\n", "\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line(text: object) -> str:
    """`text` with CR, LF, U+0085, U+2028 and U+2029 shown as `\\r`, `\\n`, `\\x85`, `\\u2028`, `\\u2029`."""
    return str(text).translate(_BREAKS)
