"""Template helpers of the web UI."""

from __future__ import annotations

import re

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def local_mode() -> bool:
    """True in the single-user local mode (`forkaudit serve`): no login, no accounts in the header.

    A tag rather than a view's context, so that error pages (404) show the same header."""
    return bool(settings.FORKAUDIT_LOCAL_MODE)


_BREAKS = re.compile(r"(?<=[./])")
LONG_PIECE = 30  # characters: a piece longer than this may not fit a phone's line, so it may be cut


@register.filter
def identifier(value: object) -> str:
    """An identifier (a module, a file, a package) that wraps only after a `/` or a `.`: each piece between them is
    kept whole (hyphens included, style.css), with a <wbr> between pieces. Every piece is escaped."""
    pieces = [piece for piece in _BREAKS.split(str(value)) if piece]
    return mark_safe(
        "<wbr>".join(
            format_html('<span class="{}">{}</span>', "seg-long" if len(piece) > LONG_PIECE else "seg", piece)
            for piece in pieces
        )
    )
