"""The README badge: `fork-safety | <verdict>` as a flat SVG, in the style of shields.io."""

from __future__ import annotations

from django.utils.html import escape

LABEL = "fork-safety"
UNKNOWN = "unknown"
# Dark enough for white text (contrast at least 4.5:1); the text says the verdict, the colour only repeats it.
COLOURS = {
    "unsafe": "#c62828",
    "error": "#8e24aa",
    "caution": "#9a6700",
    "safe": "#1a7f37",
    UNKNOWN: "#59636e",
}
_LABEL_COLOUR = "#444d56"
_PADDING = 6  # each side of a text
_CHAR_WIDTH = 6.5  # Verdana 11px, near enough for lower-case words; the text is centred in its box either way


def _width(text: str) -> int:
    return round(len(text) * _CHAR_WIDTH) + 2 * _PADDING


def badge_svg(verdict: str | None, *, package: str) -> str:
    """The badge of `verdict` (unknown for None or anything else); `package` only names it for screen readers."""
    value = verdict if verdict in COLOURS else UNKNOWN
    left, right = _width(LABEL), _width(value)
    total = left + right
    title = escape(f"{LABEL} of {package}: {value}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        '<g clip-path="url(#r)">'
        f'<rect width="{left}" height="20" fill="{_LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{COLOURS[value]}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="15" fill="#010101" fill-opacity=".3">{LABEL}</text>'
        f'<text x="{left / 2}" y="14">{LABEL}</text>'
        f'<text x="{left + right / 2}" y="15" fill="#010101" fill-opacity=".3">{value}</text>'
        f'<text x="{left + right / 2}" y="14">{value}</text></g></svg>'
    )
