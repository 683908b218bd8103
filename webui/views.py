"""Web views: thin, as the API's. Forms validate, the workflow and the selectors do the work, POSTs redirect.

Who sees what is the selectors' business (docs/sandbox.md): a view passes the viewer and whether the request is local
mode's one user, and answers 404 to anything the viewer may not see, exactly like the API. In local mode the pages of
audits are that user's only: anyone else (another user of the machine, another site's page) gets a 403 page that
says how to open the launch URL (auditor/api/authentication.py).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from packaging.utils import canonicalize_name

from auditor import popularity, selectors, workflow
from auditor.api.authentication import has_launch_session, launch_token_path
from auditor.api.throttles import SubmitRateThrottle
from auditor.core.findings import AuditReport
from auditor.core.inputs import InputError, parse_requirements
from auditor.core.inputs.requirements import RequirementOrigin
from auditor.core.report import render as render_report
from auditor.models import Audit, AuditUpload, ProbeRecord
from auditor.request_checks import UploadRefused, check_upload_length, is_package_name, is_version
from webui import browse, presenters
from webui.badge import badge_svg
from webui.forms import AuditForm, PackageSearchForm

RECENT_AUDITS = 20
PREFILL_LENGTH = 1000  # characters of requirements a link may fill the form with
PACKAGES_PER_PAGE = 50
BADGE_MAX_AGE = 300  # seconds: short, so a new verdict shows within minutes
# Download formats: URL suffix → (renderer, content type).
REPORT_FORMATS = {
    "json": ("json", "application/json"),
    "md": ("markdown", "text/markdown; charset=utf-8"),
    "sarif": ("sarif", "application/sarif+json"),
}


def _local_mode() -> bool:
    return bool(settings.FORKAUDIT_LOCAL_MODE)


def _local_user(request: HttpRequest) -> bool:
    """Local mode, and the request's session opened this launch's URL."""
    return has_launch_session(request)


def _viewer(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


def _can_submit(request: HttpRequest) -> bool:
    return _local_user(request) or bool(request.user.is_authenticated)


def local_user_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """In local mode, the view answers the local user (or a logged-in one) only; anyone else gets the launch page."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _local_mode() and not _can_submit(request):
            return launch_token_refusal(request)
        return view(request, *args, **kwargs)

    return checked


def launch_token_refusal(request: HttpRequest, *, wrong_token: bool = False) -> HttpResponse:
    """403: a local-mode server is for the user who started it; the page says how to open the URL it printed."""
    context = {
        "wrong_token": wrong_token,
        "server_url": request.build_absolute_uri("/"),
        "token_file": launch_token_path(),
    }
    response = render(request, "webui/launch_token.html", context, status=403)
    add_never_cache_headers(response)
    return response


# --- new audit -----------------------------------------------------------------------------------------------------


@csrf_exempt  # checked in the view, after the size check: the CSRF middleware would read (and store) the whole body
@require_http_methods(["GET", "HEAD", "POST"])
@local_user_required
def new_audit(request: HttpRequest) -> HttpResponse:
    """The audit form, and the viewer's recent audits. POST: queue the audit and go to its page."""
    status = 200
    # "Audit it now" on an unknown package's page links here with its name filled in.
    form = AuditForm(initial={"requirements": request.GET.get("requirements", "")[:PREFILL_LENGTH]})
    if request.method == "POST":
        if not _can_submit(request):
            return redirect_to_login(request.get_full_path())
        refusal = _oversize_refusal(request) or _csrf_refusal(request)
        if refusal is not None:
            return refusal
        form = AuditForm(request.POST, request.FILES)
        if form.is_valid():
            # The API's budget (FORKAUDIT_SUBMIT_RATE), shared with it; counted only once the form is valid, so
            # that fixing a typo costs nothing.
            throttle = SubmitRateThrottle()
            if not throttle.allow_request(request, None):  # type: ignore[arg-type]
                return _throttled(request, form, throttle.wait())
            # Local mode is one person's machine: its audits have no owner, like the CLI's.
            owner = None if _local_user(request) else request.user
            try:
                audit = workflow.audit_submit(owner=owner, shallow=form.cleaned_data["shallow"], **form.audit_input())
            except InputError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("webui:audit", audit_id=audit.pk)
        status = 400
    return _new_audit_page(request, form, status=status)


def _new_audit_page(request: HttpRequest, form: AuditForm, *, status: int, refusal: str = "") -> HttpResponse:
    audits = list(
        selectors.audit_list_for_viewer(viewer=_viewer(request), local_mode=_local_user(request))[:RECENT_AUDITS]
    )
    context = {
        "nav": "new",
        "form": form,
        "refusal": refusal,  # the request refused before the form could read it
        "can_submit": _can_submit(request),
        "recent": [(audit, presenters.input_summary(audit)) for audit in audits],
        "show_owner": bool(getattr(request.user, "is_staff", False)),
        "max_upload_mib": settings.FORKAUDIT_MAX_UPLOAD_BYTES // 2**20,
        "dataset": selectors.dataset_numbers(),
    }
    return render(request, "webui/new_audit.html", context, status=status)


def _throttled(request: HttpRequest, form: AuditForm, wait: float | None) -> HttpResponse:
    minutes = max(1, math.ceil((wait or 60) / 60))
    message = f"Too many audits submitted: try again in {minutes} minute{'s' if minutes != 1 else ''}."
    response = _new_audit_page(request, form, status=429, refusal=message)
    response["Retry-After"] = str(math.ceil(wait or 60))
    return response


def _oversize_refusal(request: HttpRequest) -> HttpResponse | None:
    try:
        check_upload_length(request.META, settings.FORKAUDIT_MAX_UPLOAD_BYTES)
    except UploadRefused as refused:
        return _new_audit_page(request, AuditForm(), status=refused.status, refusal=str(refused))
    return None


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """What the CSRF middleware would have answered (a 403 page), or None when the token is good. Its Origin check
    refuses another site's form, local mode included: the launch session is a session like a logged-in user's."""

    def checked_view(request: HttpRequest) -> HttpResponse:  # the middleware only reads its csrf_exempt flag
        raise AssertionError("not called")

    return CsrfViewMiddleware(checked_view).process_view(request, checked_view, (), {})


# --- audits --------------------------------------------------------------------------------------------------------


def _visible_audit(request: HttpRequest, audit_id: str) -> Audit:
    audit = selectors.audit_get_for_viewer(audit_id=audit_id, viewer=_viewer(request), local_mode=_local_user(request))
    if audit is None:
        raise Http404("No such audit.")
    return audit


@require_safe
@cache_control(private=True)
@local_user_required
def audit_detail(request: HttpRequest, audit_id: str) -> HttpResponse:
    """Progress while the audit is queued or running, then the report (or why it failed)."""
    audit = _visible_audit(request, audit_id)
    done = audit.status == Audit.Status.DONE
    report = presenters.report_view(audit.report) if done else None
    total = audit.progress_total
    context = {
        "audit": audit,
        "input_summary": presenters.input_summary(audit, limit=200),
        "in_progress": audit.status in (Audit.Status.QUEUED, Audit.Status.RUNNING),
        "progress_percent": round(100 * audit.progress_done / total) if total else 0,
        "report": report,
        "report_unreadable": done and report is None,
        "downloads": [
            (label, reverse("webui:audit-report", kwargs={"audit_id": audit.pk, "fmt": fmt}))
            for label, fmt in (("JSON", "json"), ("Markdown", "md"), ("SARIF", "sarif"))
        ],
    }
    return render(request, "webui/audit.html", context)


@require_safe
@cache_control(private=True)
@local_user_required
def audit_report(request: HttpRequest, audit_id: str, fmt: str) -> HttpResponse:
    """The finished report as a file: the stored JSON (as the API gives it), or Markdown or SARIF."""
    if fmt not in REPORT_FORMATS:
        raise Http404("No such report format.")
    audit = _visible_audit(request, audit_id)
    if audit.status != Audit.Status.DONE or not isinstance(audit.report, dict):
        raise Http404("This audit has no report yet.")
    renderer, content_type = REPORT_FORMATS[fmt]
    if renderer == "json":
        body = json.dumps(audit.report, indent=2) + "\n"
    else:
        options = {"origins": _requirement_origins(audit)} if renderer == "sarif" else {}
        try:
            body = render_report(AuditReport.from_dict(audit.report), renderer, **options)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise Http404("This report cannot be read.") from None
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="forkaudit-{audit.pk}.{fmt}"'
    return response


def _requirement_origins(audit: Audit) -> tuple[RequirementOrigin, ...]:
    """Where the audit's uploaded requirements (or lock) file writes each package, for SARIF's locations: the file
    by the name it was uploaded under, which is its path from the repository's root when a CI job sent it so."""
    uploads = [u for u in audit.uploads.all() if u.kind == AuditUpload.Kind.REQUIREMENTS]
    if not uploads:
        return ()
    try:
        parsed = parse_requirements(
            {u.filename: bytes(u.content) for u in uploads},
            main=uploads[0].filename,
            allow_external=settings.FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS,
        )
    except InputError:
        return ()  # read before the audit ran; a setting changed since: the results are still located by name
    return parsed.origins


# --- packages ------------------------------------------------------------------------------------------------------


@require_safe
def package_search(request: HttpRequest) -> HttpResponse:
    """Search stored results: public ones, and the viewer's own private ones."""
    form = PackageSearchForm(request.GET)
    records: Any = ProbeRecord.objects.none()
    count = None
    status = 400
    if form.is_valid():
        status = 200
        search = {
            "q": form.cleaned_data["q"],
            "verdict": form.cleaned_data["verdict"] or None,
            "viewer": _viewer(request),
            "local_mode": _local_user(request),
        }
        records = selectors.package_search(**search)
        count = selectors.package_search_count(**search)
    page = browse.CountedPaginator(records, PACKAGES_PER_PAGE, count=count).get_page(request.GET.get("page"))
    rows = presenters.record_rows(list(page.object_list))
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    context = {
        "nav": "packages",
        "form": form,
        "searched": bool(form.is_valid() and (form.cleaned_data["q"] or form.cleaned_data["verdict"])),
        "page": page,
        "rows": rows,
        # A search that finds nothing: the names it may have meant, and the name to audit when it is one.
        "suggestions": selectors.package_name_suggestions(
            q=query, viewer=_viewer(request), local_mode=_local_user(request)
        )
        if query and not rows
        else [],
        "audit_name": canonicalize_name(query) if query and not rows and is_package_name(query) else "",
    }
    return render(request, "webui/packages.html", context, status=status)


@require_safe
def package_detail(request: HttpRequest, name: str) -> HttpResponse:
    """Every version of a package with its verdict (one result per version: public first, then newest)."""
    if not is_package_name(name):
        raise Http404("No such package.")
    canonical = canonicalize_name(name)
    if canonical != name:
        return redirect("webui:package", name=canonical, permanent=True)
    records = selectors.package_versions(name=name, viewer=_viewer(request), local_mode=_local_user(request))
    if not records:
        return _unknown_package(request, canonical)
    per_version = {record.version: record for record in reversed(records)}
    versions = sorted(per_version.values(), key=records.index)
    requirers = selectors.package_pulled_in_by(name=canonical)
    context = {
        "nav": "packages",
        "name": canonical,
        "rows": presenters.record_rows(versions),
        "verdict_line": browse.one_line(versions[0]),
        "newest": presenters.record_rows(versions[:1])[0],
        "pulled_in_by": [(requirer, reverse("webui:package", kwargs={"name": requirer})) for requirer in requirers],
        "badge_url": reverse("webui:badge", kwargs={"name": canonical}),
        "badge_snippet": _badge_snippet(request, canonical),
        "public_url": settings.FORKAUDIT_PUBLIC_URL,
    }
    return render(request, "webui/package.html", context)


def _badge_snippet(request: HttpRequest, name: str) -> str:
    """The Markdown of a badge that links to the package's page, at the service's public address
    (FORKAUDIT_PUBLIC_URL; else the one this request came to)."""
    base = settings.FORKAUDIT_PUBLIC_URL or f"{request.scheme}://{request.get_host()}"
    badge = base + reverse("webui:badge", kwargs={"name": name})
    page = base + reverse("webui:package", kwargs={"name": name})
    return f"[![fork-safety]({badge})]({page})"


def _unknown_package(request: HttpRequest, name: str) -> HttpResponse:
    """404, with what to do: audit it now (the form, filled in), or one of the names it may be a typo of."""
    context = {
        "nav": "packages",
        "name": name,
        "audit_url": reverse("webui:new-audit") + "?" + urlencode({"requirements": name}),
        "suggestions": selectors.package_name_suggestions(
            q=name, viewer=_viewer(request), local_mode=_local_user(request)
        ),
    }
    return render(request, "webui/package_unknown.html", context, status=404)


@require_safe
def unsafe_packages(request: HttpRequest) -> HttpResponse:
    """The public packages whose newest version is fork-unsafe (or caution, or error), most downloaded first."""
    form = browse.BrowseFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "webui/unsafe.html", {"nav": "unsafe", "form": form, "page": None}, status=400)
    entries = selectors.packages_by_verdict(**form.filters(), ranks=popularity.popularity_ranks())
    page = Paginator(entries, PACKAGES_PER_PAGE).get_page(request.GET.get("page"))
    entries = list(page.object_list)
    context = {
        "nav": "unsafe",
        "form": form,
        "filters": form.filters(),
        "page": page,
        "rows": browse.browse_rows(entries, selectors.browse_records(entries=entries)),
    }
    return render(request, "webui/unsafe.html", context)


@require_safe
def package_version(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """One version: every result the viewer may see (per Python, platform, depth), public first."""
    records: list[ProbeRecord] = []
    if is_package_name(name) and is_version(version):
        records = selectors.package_version_detail(
            name=name, version=version, viewer=_viewer(request), local_mode=_local_user(request)
        )
    if not records:
        raise Http404("No such package version.")
    context = {
        "nav": "packages",
        "name": records[0].name,
        "version": records[0].version,
        "package_url": presenters.record_rows(records[:1])[0].package_url,
        "results": [presenters.probe_view(record) for record in records],
    }
    return render(request, "webui/package_version.html", context)


@require_safe
def badge(request: HttpRequest, name: str) -> HttpResponse:
    """`fork-safety | <verdict>` of the newest public version; `unknown` when there is none."""
    verdict = None
    if is_package_name(name):
        records = selectors.package_versions(name=name, viewer=None, local_mode=False)
        public = [record for record in records if record.is_public]
        verdict = public[0].verdict if public else None
    response = HttpResponse(badge_svg(verdict, package=name), content_type="image/svg+xml")
    patch_cache_control(response, public=True, max_age=BADGE_MAX_AGE)
    # Opened on its own, an SVG is a document: it may run nothing and load nothing.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
