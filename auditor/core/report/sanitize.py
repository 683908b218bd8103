"""Make untrusted strings (thread names, modules, commands, messages from audited packages) safe to show.

Every renderer passes package-controlled text through `clean_text` first: it can then no longer move a
cursor, recolour a terminal, reorder text (bidi overrides) or break a line out of a table cell, and it has
a bounded length. Format-specific escaping (Markdown, rich markup) is the renderer's job on top of this."""

from __future__ import annotations

import unicodedata

# Categories removed outright: controls (C0, C1, DEL, which include ESC of terminal escape sequences), format
# characters (bidi overrides such as U+202E, zero-width joiners), surrogates, private use and unassigned
# code points.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Categories turned into a plain space: every line and paragraph separator, and exotic spaces.
_SPACE_CATEGORIES = frozenset({"Zl", "Zp", "Zs"})
_LINE_BREAKS = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85")

ELLIPSIS = "…"
DEFAULT_LIMIT = 120


def clean_text(value: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """Return `value` as one printable line of at most `limit` characters (`None`: no cap).

    Line breaks and tabs become spaces, other control and format characters are dropped, runs of spaces
    collapse, and text longer than `limit` is cut and ends with an ellipsis. `limit` counts characters,
    ellipsis included."""
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    chars: list[str] = []
    for char in str(value):
        category = unicodedata.category(char)
        if char in _LINE_BREAKS or category in _SPACE_CATEGORIES:
            chars.append(" ")
        elif category not in _REMOVED_CATEGORIES:
            chars.append(char)
    text = " ".join("".join(chars).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text
