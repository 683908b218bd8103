"""The rate limit of audit submissions (settings.FORKAUDIT_SUBMIT_RATE), per user (per address when anonymous)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView


class SubmitRateThrottle(UserRateThrottle):
    """DRF's per-user throttle, with its rate read from the settings at each request rather than from
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], so that FORKAUDIT_SUBMIT_RATE is the one place it is set."""

    scope = "submit"

    def get_rate(self) -> str:
        return str(settings.FORKAUDIT_SUBMIT_RATE)

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":  # OPTIONS on the submission URL is not a submission
            return True
        return super().allow_request(request, view)
