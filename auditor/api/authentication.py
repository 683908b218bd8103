"""Who a request comes from, for the API and the web UI: users, and in local mode the person who started the server.

`forkaudit serve` on loopback runs a single-user local mode, without accounts. Loopback is reachable by every user of
the machine and by every web page its browser opens, so the one user is not "whoever connects": `serve` makes a
random launch token at each start (printed in the URL it shows, and written to a file only that user can read), and
only a request that carries it gets local mode's rights (submit without an account, see the audits and private
results that have no owner). It carries it as `Authorization: Token <launch token>` (scripts, `forkaudit check`), or
in a session that opened the printed URL (the browser; Django's CSRF check then applies to every write, as for a
logged-in user). Anything else is treated as an anonymous visitor outside local mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication, exceptions, permissions

if TYPE_CHECKING:  # DRF imports this module (its settings name it) while rest_framework.views is being imported
    from rest_framework.request import Request
    from rest_framework.views import APIView

LAUNCH_TOKEN_FILE = "launch_token"  # in the data directory, mode 0600, while `forkaudit serve` runs in local mode
_SESSION_KEY = "forkaudit_launch"
# What a browser says of a request made by another site's page. Another port of this host is the same site.
_FOREIGN_FETCH_SITES = ("cross-site", "same-site")


class _Launch:
    """The `request.auth` of an API request that carries this launch's token or session."""

    def __repr__(self) -> str:
        return "<launch credential>"


LAUNCH = _Launch()


def launch_token_path() -> Path:
    return Path(settings.FORKAUDIT_DATA_DIR) / LAUNCH_TOKEN_FILE


def _launch_token() -> str:
    """This launch's token; empty outside local mode, or when none was given (then nobody is the local user)."""
    return str(settings.FORKAUDIT_LAUNCH_TOKEN or "") if settings.FORKAUDIT_LOCAL_MODE else ""


def is_launch_token(candidate: str) -> bool:
    token = _launch_token()
    return bool(token) and constant_time_compare(candidate, token)


def _session_proof(token: str) -> str:
    # A digest, not the token: a session kept from an earlier launch does not match the next launch's token.
    return salted_hmac("forkaudit.launch-session", token).hexdigest()


def grant_launch_session(request: HttpRequest) -> None:
    """Make the request's session the local user's (the caller has checked the launch token)."""
    request.session.cycle_key()  # a session id planted before (cookies ignore ports) must not gain the rights
    request.session[_SESSION_KEY] = _session_proof(_launch_token())


def has_launch_session(request: HttpRequest) -> bool:
    token = _launch_token()
    session = getattr(request, "session", None)
    if not token or session is None:
        return False
    return constant_time_compare(session.get(_SESSION_KEY, ""), _session_proof(token))


def is_cross_site(request: HttpRequest | Request) -> bool:
    """The browser says another site's page (or another port of this host) made the request: its Sec-Fetch-Site, or
    an Origin other than this server's. Requests without those headers (scripts, old browsers) are not."""
    if request.META.get("HTTP_SEC_FETCH_SITE", "") in _FOREIGN_FETCH_SITES:
        return True
    origin = request.META.get("HTTP_ORIGIN")
    return origin is not None and origin != f"{request.scheme}://{request.get_host()}"


# --- the API -------------------------------------------------------------------------------------------------------


def is_local_user(request: Request) -> bool:
    """The API request proved it comes from the user who started `forkaudit serve` (local mode only)."""
    return request.auth is LAUNCH and bool(settings.FORKAUDIT_LOCAL_MODE)


class LaunchTokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, where the key may also be this launch's token (local mode only)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if is_launch_token(key):
            return (AnonymousUser(), LAUNCH)
        return super().authenticate_credentials(key)


class LaunchSessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (a logged-in user), plus the session that opened the launch URL. Both must pass
    Django's CSRF check on writes: DRF checks CSRF only for sessions it authenticates, so an anonymous-looking local
    session would otherwise skip it."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        found = super().authenticate(request)
        if found is None and has_launch_session(request._request):
            self.enforce_csrf(request)
            return (AnonymousUser(), LAUNCH)
        return found


class LaunchSessionScheme(SessionScheme):
    """The API reference shows the session as the cookie it is (drf-spectacular knows DRF's class, not subclasses)."""

    target_class = LaunchSessionAuthentication


class CanSubmit(permissions.BasePermission):
    """Submitting needs a user, or in local mode the launch token (or its session). In local mode a submission that
    a browser marks as coming from another site's page is refused, whatever it carries."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method == "OPTIONS":
            return True
        if settings.FORKAUDIT_LOCAL_MODE and is_cross_site(request):
            raise exceptions.PermissionDenied("Submissions from another site's page are refused.", code="cross_site")
        if (request.user and request.user.is_authenticated) or is_local_user(request):
            return True
        if settings.FORKAUDIT_LOCAL_MODE:
            raise exceptions.NotAuthenticated(
                "Local mode: send the launch token that `forkaudit serve` printed, as `Authorization: Token <token>` "
                f"(it is in {launch_token_path()} while the server runs)."
            )
        return False
