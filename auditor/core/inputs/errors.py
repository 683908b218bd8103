"""The one error of input validation: a message for the user, with the file and line it is about."""

from __future__ import annotations

import re

BAD_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")


class InputError(ValueError):
    """Input refused; `str()` reads `file:line: message` (file and line when known)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file is not None:
            return f"{self.file}: {self.message}"
        return self.message


def excerpt(text: str, limit: int = 80) -> str:
    """A piece of untrusted text for a message: capped, quoted, control characters visible."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)
