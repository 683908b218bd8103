"""Every API error as JSON `{"detail": "<message>", "code": "<code>"}` with the right status, never an HTML page.

DRF already answers its own exceptions; this adds what Django raises while reading a request (an oversize body, too
many fields or files, an unreadable body), flattens validation errors into one readable message, and turns anything
unexpected into a logged JSON 500 as a last resort. `code` is one of ERROR_CODES, a fixed vocabulary that programs
(`forkaudit check`) can rely on; `detail` is for people and may be reworded.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.urls import Resolver404, resolve
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)
_INTERNAL_ERROR = "Internal error: the server could not answer this request."

# Every code an API error carries, with its status. The OpenAPI schema lists them (ErrorSerializer).
ERROR_CODES = {
    "invalid": 400,  # a field's form (the body's fields, by name, in `errors`)
    "invalid_input": 400,  # the input's meaning: a requirements line or a wheel (names the file and line)
    "parse_error": 400,
    "malformed": 400,
    "unreadable": 400,
    "too_many_files": 400,
    "too_many_fields": 400,
    "bad_request": 400,
    "not_authenticated": 401,
    "authentication_failed": 401,
    "permission_denied": 403,
    "cross_site": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
    "internal_error": 500,
}
# A code from outside the vocabulary (a library's new one) is answered as its status's own.
_BY_STATUS = {status: code for code, status in reversed(ERROR_CODES.items())}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request is larger than the limit of {limit:,} bytes.")


def _as_api_exception(exc: Exception) -> Exception:
    """Django's own refusals, raised while the request body is read, as the DRF exception of the right status."""
    if isinstance(exc, RequestDataTooBig):
        return too_large(min(settings.FORKAUDIT_MAX_UPLOAD_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**63))
    if isinstance(exc, TooManyFilesSent):
        return exceptions.ParseError(
            f"Too many files in one request (at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES}).", code="too_many_files"
        )
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ParseError(
            f"Too many fields in one request (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}).",
            code="too_many_fields",
        )
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request was refused as malformed.", code="malformed")
    if isinstance(exc, UnreadablePostError):
        return exceptions.ParseError("The request body could not be read.", code="unreadable")
    return exc


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    """`{"field": ["message"], "other": {"nested": [...]}}` as ["field: message", "other.nested: ..."]."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else str(key)
            lines += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return lines
    if isinstance(errors, list):
        return [line for item in errors for line in _flatten(item, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def _code(detail: Any, default: str, status_code: int) -> str:
    code = str(detail.code or default) if isinstance(detail, exceptions.ErrorDetail) else default
    return (
        code
        if code in ERROR_CODES
        else _BY_STATUS.get(status_code, "bad_request" if status_code < 500 else "internal_error")
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: the error body of every API view."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("unexpected error in API view %s", type(view).__name__ if view else "?", exc_info=exc)
        response = Response(
            {"detail": _INTERNAL_ERROR, "code": "internal_error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )
        response._has_been_logged = True  # type: ignore[attr-defined]  # logged above, with the traceback
        return response
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": "; ".join(_flatten(errors)) or "Invalid input.", "code": "invalid", "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        code = _code(detail, getattr(exc, "default_code", "error"), response.status_code)
        response.data = {"detail": str(detail), "code": code}
    return response


def endpoint_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any URL under /api/v1/ that names no endpoint: a JSON 404, never Django's HTML page."""
    detail = "No such API endpoint."
    candidate = request.path + "/"
    if not request.path.endswith("/"):
        try:
            match = resolve(candidate)
        except Resolver404:
            match = None
        if match is not None and match.func is not endpoint_not_found:
            detail = f"No such API endpoint; API URLs end with a slash: {candidate}"
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)


# --- outside the API's views (auditor/project/urls.py's handler400 and handler500) --------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request refused before any view ran (e.g. an unknown Host): JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """A crash outside the API views' exception handler (middleware): JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": _INTERNAL_ERROR, "code": "internal_error"}, status=500)
    return defaults.server_error(request)
