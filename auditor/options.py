"""An audit's options, from the operator's settings and then what the audit itself chose: one place for the CLI's
audits, the service's and the crawl's."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from auditor.core.pipeline import AuditOptions


def audit_options(*, shallow: bool, **chosen: Any) -> AuditOptions:
    """The settings' options (interpreter, probe time limit, source builds, sandbox), then `chosen` over them."""
    options = AuditOptions(
        shallow=shallow,
        timeout=float(settings.FORKAUDIT_PROBE_TIMEOUT),
        build=settings.FORKAUDIT_BUILD_SOURCES,
        sandbox=settings.FORKAUDIT_SANDBOX,
        **({"python": settings.FORKAUDIT_PYTHON} if settings.FORKAUDIT_PYTHON else {}),
    )
    return dataclasses.replace(options, **chosen)
