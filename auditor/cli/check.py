"""`forkaudit check`: the audit of `forkaudit audit`, run by a forkaudit service through its REST API (for CI).

The requirements files are validated here first (a mistake is reported with this machine's file and line, without a
round trip), sent to `POST /api/v1/audits/` with every file they include (only from under the top-level file's
directory, unless the operator allows more), and the audit is polled until its report arrives. Exit codes are
those of `forkaudit audit`. Which requirement options are accepted is the server's policy; its refusals come back
with the file and line. Only the standard library speaks HTTP here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import posixpath
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from auditor.cli.audit import (
    _read_requirement_files,
    add_report_options,
    add_requirement_option,
    finish,
    read_baseline_option,
    render_options,
    with_project_settings,
)
from auditor.cli.common import Incomplete, UsageError, positive_float, version
from auditor.cli.progress import ProgressBar
from auditor.core.config import apply_suppressions
from auditor.core.findings import AuditReport
from auditor.core.inputs import MAX_REQUIREMENT_FILES, InputError, parse_requirements
from auditor.core.inputs.locks import is_lock_file
from auditor.core.report.baseline import BaselineError, baseline_from_json

TOKEN_ENV = "FORKAUDIT_TOKEN"
SERVER_ENV = "FORKAUDIT_SERVER"
# The failure codes (auditor.models.Audit.FailureCode) that blame the input, not the server: exit 2, not 3.
INPUT_FAILURES = ("bad-input", "resolution-failed")
DEFAULT_TIMEOUT = 30 * 60.0
REQUEST_TIMEOUT = 60.0  # one HTTP request; uploads of large sets take a while
MAX_TRANSIENT_FAILURES = 5  # consecutive failed polls (network, 5xx) tolerated while the server restarts


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="audit requirements files on a forkaudit server (CI)",
        description="Send requirements files to a forkaudit server, wait for its audit, and report like "
        "`forkaudit audit`, with the same exit codes.",
    )
    add_requirement_option(
        parser,
        "a requirements file (repeatable; the files it includes with -r/-c are sent too) or a lock file "
        "(default: ./requirements.txt, else uv.lock, pylock.toml, poetry.lock or Pipfile.lock)",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help=f"the forkaudit server, e.g. https://forkaudit.example.com (default: the {SERVER_ENV} variable)",
    )
    parser.add_argument("--token", metavar="TOKEN", help=f"API token (default: the {TOKEN_ENV} environment variable)")
    add_report_options(parser)
    parser.add_argument(
        "--baseline",
        metavar="REPORT.json|AUDIT_ID",
        help="the target branch's report: a JSON report (--format json) or the id of an audit on the server; "
        "findings it has are known, only new ones fail",
    )
    parser.add_argument(
        "--poll", type=positive_float, default=2.0, metavar="SECONDS", help="seconds between polls (default: 2)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up (exit 3) when the report is not there after this long (default: {DEFAULT_TIMEOUT:.0f})",
    )
    parser.set_defaults(run=run)


# --- the files to send ---------------------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# An include written on one line: `-r FILE`, `-r=FILE`, `--requirement FILE`, `-rFILE` (and -c/--constraint).
_INCLUDE = re.compile(
    r"^(?P<lead>\ufeff?[ \t]*)(?P<option>--requirement|--constraint|-r|-c)"
    r"(?P<sep>[ \t]*=[ \t]*|[ \t]+|(?<=-r)|(?<=-c))(?P<target>\"[^\"\n]*\"|'[^'\n]*'|[^\s#]+)",
    re.MULTILINE,
)


def upload_set(paths: Sequence[str]) -> list[tuple[str, bytes]]:
    """The requirements files named by `paths` and all they include, as (name, content) pairs for the API, the
    main file first.

    The server knows files by name only (no folders), so each file is sent under its own base name (made unique and
    plain when needed) and an include that names a file by another path is rewritten to that name. Several files
    given with -r become one main file that includes them all. Includes are read as `forkaudit audit` reads them:
    only under the top-level file's directory (auditor.core.inputs.local), so a requirements file from a pull request
    cannot send the CI machine's other files to the server. Raises UsageError, with the file and line, for input that
    the server would refuse anyway.
    """
    locks = [p for p in paths if is_lock_file(p)]
    if locks:
        return _lock_upload(paths, locks)
    files = _read_requirement_files([Path(p) for p in paths])
    mains = [str(Path(p)) for p in paths]
    try:
        # The server's policy on options that reach outside its index is the server's to apply (and report).
        parse_requirements(files, main=mains, allow_external=True)
    except InputError as exc:
        raise UsageError(str(exc)) from exc
    order = list(dict.fromkeys(mains + sorted(files)))
    names = _upload_names(order, reserved={"forkaudit-check.txt"} if len(mains) > 1 else set())
    uploads = [(names[local], _rewrite_includes(local, files[local], names)) for local in order]
    if len(mains) > 1:
        main = "".join(f"-r {names[m]}\n" for m in dict.fromkeys(mains))
        uploads.insert(0, ("forkaudit-check.txt", main.encode()))
    if len(uploads) > MAX_REQUIREMENT_FILES:  # the joined main file is one more than was read
        raise UsageError(f"more than {MAX_REQUIREMENT_FILES} requirements files to send")
    try:
        parse_requirements(dict(uploads), main=uploads[0][0], allow_external=True)
    except InputError as exc:  # an include this rewriting could not follow (e.g. split over two lines)
        raise UsageError(f"cannot send these files as the server reads them: {exc}") from exc
    return uploads


def _lock_upload(paths: Sequence[str], locks: Sequence[str]) -> list[tuple[str, bytes]]:
    """A lock file, sent alone under its own name: the server tells its format by the name, and a lock file
    includes no other file."""
    if len(paths) > 1:
        raise UsageError(f"a lock file is audited on its own: give {locks[0]} as the only -r")
    path = Path(locks[0])
    try:
        return [(path.name, path.read_bytes())]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _upload_names(order: Sequence[str], *, reserved: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    used = set(reserved)
    for local in order:
        base = _SAFE_NAME.sub("_", posixpath.basename(local.replace(os.sep, "/"))).lstrip(".") or "requirements.txt"
        stem, dot, suffix = base.rpartition(".")
        candidate, number = base, 1
        while candidate in used:
            number += 1
            candidate = f"{stem}-{number}.{suffix}" if dot and stem else f"{base}-{number}"
        used.add(candidate)
        names[local] = candidate
    return names


def _rewrite_includes(local: str, content: bytes, names: Mapping[str, str]) -> bytes:
    by_path = {posixpath.normpath(name): upload for name, upload in names.items()}
    folder = posixpath.dirname(posixpath.normpath(local))

    def replace(match: re.Match[str]) -> str:
        written = match["target"]
        target = written[1:-1] if written[:1] in "\"'" else written
        upload = by_path.get(posixpath.normpath(posixpath.join(folder, target)))
        if upload is None or posixpath.normpath(target) == upload:
            return match[0]
        sep = match["sep"] or " "
        return f"{match['lead']}{match['option']}{sep}{upload}"

    text = content.decode("utf-8")  # validated above
    return _INCLUDE.sub(replace, text).encode("utf-8")


def _multipart(field: str, files: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = f"forkaudit-{uuid.uuid4().hex}"
    body = bytearray()
    for name, content in files:
        body += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'  # names are plain (see above)
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


# --- HTTP ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any  # the JSON body, or None
    text: str  # the body, for messages when it is not JSON
    headers: Message

    @property
    def detail(self) -> str:
        """The server's message (`{"detail": ...}` in this API), or what there is of the body."""
        if isinstance(self.data, dict) and isinstance(self.data.get("detail"), str):
            return self.data["detail"]
        snippet = " ".join(self.text.split())[:200]
        return snippet or f"HTTP {self.status}"


class Unreachable(Exception):
    """No HTTP answer at all: connection refused, DNS, TLS, timeout."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A POST must not silently turn into a GET at another address; any redirect is reported instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    def __init__(self, server: str, token: str | None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.opener = urllib.request.build_opener(_NoRedirects)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": f"forkaudit-check/{version()}"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.server + path, data=body, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=max(timeout, 1.0)) as response:
                return _answer(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return _answer(exc.code, exc.read(), exc.headers)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(f"{self.server} cannot be reached: {reason}") from exc


def _answer(status: int, raw: bytes, headers: Message) -> Answer:
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes (not this API's answer)
        data = None
    return Answer(status, data, text, headers)


def _refused(answer: Answer, *, token: str | None, server: str) -> Exception:
    """The error (UsageError: exit 2, Incomplete: exit 3) for an answer that is not what was asked for."""
    code = answer.status
    if code in (400, 413, 415):
        return UsageError(f"the server refused the input: {answer.detail}")
    if code in (401, 403):
        if not token:
            return Incomplete(f"the server needs a token: pass --token or set {TOKEN_ENV} ({answer.detail})")
        return Incomplete(f"the server refused the token (HTTP {code}): {answer.detail}")
    if 300 <= code < 400:
        location = answer.headers.get("Location", "?")
        return UsageError(f"{server} redirects to {location}; pass that address as --server")
    if code == 404:
        return Incomplete(f"no forkaudit API at {server} (HTTP 404: {answer.detail})")
    if code == 429:
        return Incomplete(f"the server refuses more submissions for now: {answer.detail}")
    return Incomplete(f"the server failed (HTTP {code}): {answer.detail}")


# --- the command ---------------------------------------------------------------------------------------------------


class _Progress(ProgressBar):
    """The audit's state as the server reports it."""

    def __init__(self) -> None:
        super().__init__()
        self.stage = ""

    def show(self, status: str, done: int, total: int) -> None:
        if status == "running" and total:
            stage = "probing"
        else:
            stage = {"queued": "queued", "running": "resolving and installing…"}.get(status, status)
        if stage != self.stage:
            self.stage = stage
            if stage == "probing":
                self.say(f"{total} distribution{'' if total == 1 else 's'} to analyse")
                self.start(total=total)
            elif stage in ("queued", "resolving and installing…"):
                self.say(stage)
        self.update(completed=done, total=total)


def _server_url(given: str | None) -> str:
    text = given if given is not None else os.environ.get(SERVER_ENV, "")
    if not text.strip():
        raise UsageError(f"give the server's address: --server URL, or set {SERVER_ENV}")
    source = "--server" if given is not None else SERVER_ENV
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{source}: not an http(s) URL: {text!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"{source}: give the server's address without a query or fragment: {text!r}")
    return text.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token(args: argparse.Namespace) -> str | None:
    token = (args.token if args.token is not None else os.environ.get(TOKEN_ENV, "")).strip()
    if token and not token.isprintable():
        raise UsageError("the token contains control characters")
    return token or None


def run(args: argparse.Namespace) -> int:
    suppressions = with_project_settings(args)
    if not args.requirements:
        raise UsageError("give a requirements or lock file (-r FILE); none of the defaults is in this directory")
    server = _server_url(args.server)
    token = _token(args)
    if token and urlsplit(server).scheme == "http" and not _is_loopback(urlsplit(server).hostname or ""):
        print(f"forkaudit: warning: sending the token unencrypted to {server} (use https)", file=sys.stderr)
    uploads = upload_set(args.requirements)
    deadline = time.monotonic() + args.timeout
    client = Client(server, token)
    baseline = _baseline(args.baseline, client)  # before submitting: a bad one is exit 2 at once
    progress = _Progress()
    try:
        audit = _submit(client, uploads, deadline=deadline, progress=progress)
        web_url = audit.get("web_url")
        progress.say(f"submitted audit {audit['id']}" + (f" ({web_url})" if web_url else ""))
        data = _wait(client, str(audit["id"]), deadline=deadline, poll=args.poll, progress=progress)
    finally:
        progress.close()
    try:
        report = AuditReport.from_dict(data["report"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Incomplete(f"the server's report cannot be read by this forkaudit: {exc}") from exc
    return finish(apply_suppressions(report, suppressions), args, baseline, **render_options(args))


_AUDIT_ID = re.compile(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


def _baseline(given: str | None, client: Client) -> AuditReport | None:
    """The baseline report: from a file, or the report of an audit on the server (by its id)."""
    if given is None:
        return None
    if Path(given).exists() or not _AUDIT_ID.fullmatch(given):
        return read_baseline_option(Path(given))
    try:
        answer = client.request("GET", f"/api/v1/audits/{quote(given, safe='')}/")
    except Unreachable as exc:
        raise Incomplete(str(exc)) from exc
    if answer.status == 404:
        raise UsageError(f"--baseline {given}: no audit with this id is visible to this token")
    if answer.status != 200 or not isinstance(answer.data, dict):
        raise _refused(answer, token=client.token, server=client.server)
    status = answer.data.get("status")
    if status != "done":
        raise UsageError(f"--baseline {given}: that audit is {status}, not done; it has no report to compare with")
    try:
        return baseline_from_json(answer.data, f"--baseline {given}")
    except BaselineError as exc:
        raise UsageError(str(exc)) from exc


def _submit(
    client: Client, uploads: list[tuple[str, bytes]], *, deadline: float, progress: _Progress
) -> dict[str, Any]:
    body, content_type = _multipart("requirements_file", uploads)
    while True:
        try:
            answer = client.request(
                "POST",
                "/api/v1/audits/",
                body=body,
                content_type=content_type,
                timeout=min(REQUEST_TIMEOUT, deadline - time.monotonic()),
            )
        except Unreachable as exc:
            raise Incomplete(str(exc)) from exc
        if answer.status in (200, 201, 202) and isinstance(answer.data, dict) and answer.data.get("id"):
            return answer.data
        if answer.status in (200, 201, 202):
            raise Incomplete(f"{client.server} did not answer like a forkaudit server: {answer.detail}")
        wait = _retry_after(answer)
        if answer.status == 429 and wait is not None and time.monotonic() + wait < deadline:
            progress.say(f"the server asks to wait {wait:.0f} s before submitting")
            time.sleep(wait)
            continue
        raise _refused(answer, token=client.token, server=client.server)


def _retry_after(answer: Answer) -> float | None:
    try:
        return max(float(answer.headers.get("Retry-After", "")), 1.0)
    except ValueError:
        return None


def _wait(client: Client, audit_id: str, *, deadline: float, poll: float, progress: _Progress) -> dict[str, Any]:
    """Poll the audit until it is done (its data) or failed, the deadline passes, or the server is gone."""
    path = f"/api/v1/audits/{quote(audit_id, safe='')}/"
    failures, problem = 0, ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Incomplete(f"no report within --timeout; the audit goes on on the server (id {audit_id})")
        try:
            answer = client.request("GET", path, timeout=min(REQUEST_TIMEOUT, remaining))
        except Unreachable as exc:
            answer, problem = None, str(exc)
        if answer is None or answer.status >= 500 or answer.status == 429:
            # A restart or a network hiccup: try again, a few times, waiting longer each time.
            failures += 1
            if failures >= MAX_TRANSIENT_FAILURES:
                raise Incomplete(
                    problem if answer is None else f"the server failed (HTTP {answer.status}): {answer.detail}"
                )
        elif answer.status == 404:
            raise Incomplete(f"audit {audit_id} is not visible to this token (HTTP 404)")
        elif answer.status != 200 or not isinstance(answer.data, dict):
            raise _refused(answer, token=client.token, server=client.server)
        else:
            failures = 0
            data = answer.data
            status = str(data.get("status"))
            if status == "done":
                return data
            if status == "failed":
                error = str(data.get("error") or "the server gave no reason")
                if data.get("failure_code") in INPUT_FAILURES:  # exit 2, as `forkaudit audit` does
                    raise UsageError(error)
                raise Incomplete(f"the server could not complete the audit: {error}")
            counts = data.get("progress") or {}
            progress.show(status, int(counts.get("done") or 0), int(counts.get("total") or 0))
        time.sleep(max(0.0, min(poll * 2 ** min(failures, 4), deadline - time.monotonic())))
