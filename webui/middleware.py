"""Local mode's launch URL: `forkaudit serve` prints `http://127.0.0.1:8000/?token=<launch token>`, and opening it
gives the browser's session the local user's rights (auditor/api/authentication.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.cache import add_never_cache_headers
from django.utils.encoding import iri_to_uri

from auditor.api.authentication import grant_launch_session, is_launch_token
from webui.views import launch_token_refusal

TOKEN_PARAMETER = "token"


class LaunchTokenMiddleware:
    """In local mode, a GET whose query has this launch's `token` opens the local user's session and is redirected
    to the same URL without the token, so that it stays neither in the history nor in a Referer. A wrong token is
    answered by the page that says how to open the right URL."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            not settings.FORKAUDIT_LOCAL_MODE
            or request.method not in ("GET", "HEAD")
            or TOKEN_PARAMETER not in request.GET
        ):
            return self.get_response(request)
        if not is_launch_token(request.GET[TOKEN_PARAMETER]):
            return launch_token_refusal(request, wrong_token=True)
        grant_launch_session(request)
        response = HttpResponseRedirect(_without_token(request))
        add_never_cache_headers(response)
        return response


def _without_token(request: HttpRequest) -> str:
    query = request.GET.copy()
    del query[TOKEN_PARAMETER]
    # One leading slash: `//host/` would be a redirect to another host.
    path = "/" + iri_to_uri(request.path).lstrip("/")
    return f"{path}?{query.urlencode()}" if query else path
