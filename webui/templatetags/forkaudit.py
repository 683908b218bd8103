"""Template helpers of the web UI."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def local_mode() -> bool:
    """True in the single-user local mode (`forkaudit serve`): no login, no accounts in the header.

    A tag rather than a view's context, so that error pages (404) show the same header."""
    return bool(settings.FORKAUDIT_LOCAL_MODE)
