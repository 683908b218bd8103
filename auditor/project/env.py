"""Tiny typed readers of environment variables for auditor/project/settings.py.

Each helper returns the default when the variable is unset *or empty* (so `DEBUG=` in a compose file means "default"),
and raises `ImproperlyConfigured` naming the variable and the bad value otherwise: a typo must stop the service at
start-up, not surface later as surprising behaviour.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Collection
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_PERIODS = frozenset({"second", "minute", "hour", "day", "s", "m", "h", "d"})


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_str(name: str, default: str, *, choices: Collection[str] | None = None) -> str:
    """The variable as a string; with `choices` (lower case), the choice it names in any case, and anything else is an
    error."""
    value = _raw(name)
    if value is None:
        return default
    if choices is not None:
        if value.lower() not in choices:
            allowed = ", ".join(sorted(choices))
            raise ImproperlyConfigured(f"{name} must be one of {allowed}; got {value!r}.")
        return value.lower()
    return value


def env_bool(name: str, default: bool) -> bool:
    """True for 1/true/yes/on, false for 0/false/no/off (any case); anything else is an error."""
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off); got {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """The variable as a base-10 integer, at least `minimum` and at most `maximum` when given."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value, 10)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {number}.")
    return number


def env_rate(name: str, default: str) -> str:
    """A rate as Django REST framework's throttles read it, `N/second|minute|hour|day` with N at least 1 (DRF reads
    only the period's first letter, so `s`, `m`, `h` and `d` pass too); returned as given."""
    value = _raw(name)
    if value is None:
        return default
    number, _, period = value.partition("/")
    if not (number.isdigit() and int(number) >= 1 and period in _PERIODS):
        raise ImproperlyConfigured(f"{name} must be N/second, N/minute, N/hour or N/day (N at least 1); got {value!r}.")
    return value


def env_executable(name: str) -> str:
    """The path of an executable file (an interpreter, say), or "" when unset."""
    value = _raw(name)
    if value is None:
        return ""
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ImproperlyConfigured(f"{name} must be the path of an executable file; got {value!r}.")
    return str(path)


def env_url(name: str, default: str, *, schemes: Collection[str]) -> str:
    """A URL whose scheme is one of `schemes`. Only the scheme is quoted back: the rest may hold a password."""
    value = _raw(name)
    if value is None:
        return default
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in sorted(schemes))
        got = f"one starting with {scheme}://" if scheme else "a value without a scheme"
        raise ImproperlyConfigured(f"{name} must be a URL starting with {allowed}; got {got}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """The secret from `NAME`, or from the file named by `NAME_FILE` (Docker/Kubernetes secrets); not both.

    The file's content is used without its trailing newline. A missing or empty file is an error.
    """
    value = _raw(name)
    file_name = _raw(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name is None:
        return default if value is None else value
    try:
        secret = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}.") from None
    if not secret:
        raise ImproperlyConfigured(f"{name}_FILE={file_name!r} is empty.")
    return secret


def ensure_directory(name: str, path: Path) -> Path:
    """Create `path` (0700 when new) and return it resolved; `name` is the variable blamed when that fails."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}={str(path)!r} cannot be created: {exc.strerror}.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ImproperlyConfigured(f"{name}={str(path)!r} is not a writable directory.")
    return path.resolve()


def persistent_secret(path: Path) -> str:
    """The secret stored in `path`, generated (mode 0600) on first use.

    Several processes (web, worker) may start at once: the new secret is written to a private temporary file and
    published with `os.link`, which fails if another process won, so every process ends up with the same secret.
    """
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(50))
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process published its secret first; use that one
        finally:
            temporary.unlink(missing_ok=True)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"The secret key file {str(path)!r} cannot be read: {exc.strerror}.") from None
    if not secret:
        raise ImproperlyConfigured(f"The secret key file {str(path)!r} is empty; delete it to generate a new one.")
    return secret
