"""The rate limit of audit submissions (settings.FORKAUDIT_SUBMIT_RATE), per user (per address when anonymous)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView


class SubmitRateThrottle(UserRateThrottle):
    """DRF's per-user throttle, with its rate read from the settings at each request rather than from
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], so that FORKAUDIT_SUBMIT_RATE is the one place it is set, and anonymous
    clients known by `client_address`."""

    scope = "submit"

    def get_rate(self) -> str:
        return str(settings.FORKAUDIT_SUBMIT_RATE)

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":  # OPTIONS on the submission URL is not a submission
            return True
        return super().allow_request(request, view)

    def get_ident(self, request: Request | HttpRequest) -> str:
        # Not DRF's: without NUM_PROXIES it takes X-Forwarded-For as it comes, which any client can write (a new
        # value per request, a new budget per request).
        return client_address(request, trusted_proxies=settings.FORKAUDIT_TRUSTED_PROXIES)


def client_address(request: Request | HttpRequest, *, trusted_proxies: Sequence[str]) -> str:
    """The address a request came from: the connection's (REMOTE_ADDR), or, when that is one of `trusted_proxies`
    (addresses or networks), the right-most address of X-Forwarded-For that is not a trusted proxy (the left-most
    when all are).

    Each proxy appends the address it was connected from; only what trusted proxies appended can be believed, so the
    walk from the right stops at the first address a trusted proxy saw that is not one of them.
    """
    address = str(request.META.get("REMOTE_ADDR") or "")
    if not _is_trusted(address, trusted_proxies):
        return address
    forwarded = request.headers.get("X-Forwarded-For", "")  # several such headers arrive joined by commas
    for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
        address = hop
        if not _is_trusted(hop, trusted_proxies):
            break
    return address


def _is_trusted(address: str, trusted_proxies: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:10.0.0.1 from a dual-stack socket is 10.0.0.1
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies)
