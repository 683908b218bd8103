"""What the API and the web views check of a request alike: a package name and a version taken from a URL, and the
size an upload declares before any of it is read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PACKAGE_NAME = re.compile(r"[a-z0-9]|[a-z0-9][a-z0-9._-]*[a-z0-9]", re.IGNORECASE)  # PEP 508's names
_VERSION = re.compile(r"[^\x00-\x1f\x7f]{1,100}")  # any spelling: the selectors fold them (2.0 and 2.0.0)


def is_package_name(text: str) -> bool:
    return _PACKAGE_NAME.fullmatch(text) is not None  # fullmatch: `$` would let a trailing newline through


def is_version(text: str) -> bool:
    return _VERSION.fullmatch(text) is not None


class UploadRefused(Exception):
    """A request body refused from its declared length: `status` 400 (no valid length) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_upload_length(meta: Mapping[str, Any], limit: int) -> None:
    """Refuse a body over `limit` bytes from its Content-Length (`meta` is the request's META), before any of it is
    read; UploadRefused."""
    raw = meta.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise UploadRefused(400, "The Content-Length header is not a number.") from None
    if length < 0:
        raise UploadRefused(400, "The Content-Length header is negative.")
    if length > limit:
        raise UploadRefused(413, f"The upload is larger than {limit:,} bytes.")
