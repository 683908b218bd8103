"""The vulnerability source: pip-audit's answers mapped to findings, and every failure turned into a message.

OSV and PyPI's JSON API cannot be reached from this machine, so the failure paths run for real (a refused port, a
socket that never answers, the real OSV address); the answers are checked through a fake `VulnerabilityService` and a
local HTTP server that speaks OSV's JSON to pip-audit's real `OsvService`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version
from pip_audit._service import (
    Dependency,
    OsvService,
    ResolvedDependency,
    SkippedDependency,
    VulnerabilityResult,
    VulnerabilityService,
)
from pip_audit._service.interface import VulnerabilityID

from auditor.core.findings import Vulnerability
from auditor.core.vulns import LookupProcess, pip_audit_source, readable_problem

TURN_OFF = "; FORKAUDIT_VULNERABILITY_SERVICE=none (or forkaudit audit --no-vulnerabilities) turns the lookup off"


def result(id: str, *aliases: str, description: str = "A flaw.", fixes: tuple[str, ...] = ()) -> VulnerabilityResult:
    return VulnerabilityResult(
        id=VulnerabilityID(id),
        description=description,
        fix_versions=[Version(v) for v in fixes],
        aliases={VulnerabilityID(a) for a in aliases},
    )


class FakeService(VulnerabilityService):
    """Answers from a table (name -> results); a name in `skip` is skipped the way PyPIService skips a 404."""

    def __init__(
        self,
        answers: dict[str, list[VulnerabilityResult]],
        *,
        skip: tuple[str, ...] = (),
        delay: float = 0.0,
    ) -> None:
        self.answers = answers
        self.skip = skip
        self.delay = delay
        self.queried: list[str] = []

    def query(self, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        self.queried.append(spec.canonical_name)
        time.sleep(self.delay)
        if spec.canonical_name in self.skip:
            return SkippedDependency(name=spec.name, skip_reason=f"{spec.name} not found"), []
        assert isinstance(spec, ResolvedDependency)
        return spec, self.answers.get(spec.canonical_name, [])


# ─── Mapping ──────────────────────────────────────────────────────────────────────────────────────────


def test_pip_audit_source_maps_results_to_findings() -> None:
    service = FakeService(
        {
            "requests": [
                result(
                    "PYSEC-2018-28",
                    "GHSA-x84v-xcm2-53pg",
                    "CVE-2018-18074",
                    description="Requests sends\n  credentials\tover redirects.",
                    fixes=("2.3.0", "2.20.0"),
                )
            ]
        }
    )

    found = pip_audit_source({"requests": "2.0.0"}, service=service)

    assert found == (
        {
            "requests": [
                Vulnerability(
                    id="PYSEC-2018-28",
                    description="Requests sends credentials over redirects.",
                    aliases=("CVE-2018-18074", "GHSA-x84v-xcm2-53pg"),
                    fix_versions=("2.3.0", "2.20.0"),
                )
            ]
        },
        None,
    )


def test_pip_audit_source_trims_long_descriptions() -> None:
    service = FakeService({"pkg": [result("GHSA-1", description="word " * 200)]})

    found, _ = pip_audit_source({"pkg": "1.0"}, service=service)

    description = found["pkg"][0].description
    assert len(description) == 500
    assert description == ("word " * 100)[:499].rstrip() + "…"


def test_pip_audit_source_keeps_short_descriptions_whole() -> None:
    service = FakeService({"pkg": [result("GHSA-1", description="x" * 500)]})

    found, _ = pip_audit_source({"pkg": "1.0"}, service=service)

    assert found["pkg"][0].description == "x" * 500


def test_pip_audit_source_leaves_out_distributions_without_vulnerabilities() -> None:
    service = FakeService({"django": [result("GHSA-1", fixes=("4.2.1",))]})

    found = pip_audit_source({"django": "4.2.0", "six": "1.16.0", "idna": "3.7"}, service=service)

    assert found == ({"django": [Vulnerability(id="GHSA-1", description="A flaw.", fix_versions=("4.2.1",))]}, None)
    assert service.queried == ["django", "six", "idna"]


def test_pip_audit_source_merges_results_that_alias_each_other() -> None:
    service = FakeService(
        {"jinja2": [result("GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"), result("PYSEC-2024-1", "CVE-2024-22195")]}
    )

    found, problem = pip_audit_source({"jinja2": "3.1.2"}, service=service)

    assert found == {
        "jinja2": [
            Vulnerability(id="PYSEC-2024-1", description="A flaw.", aliases=("CVE-2024-22195", "GHSA-h5c8-rqwp-cp95"))
        ]
    }
    assert problem is None


def test_pip_audit_source_unites_fix_versions_of_merged_results() -> None:
    service = FakeService(
        {"pkg": [result("GHSA-aaaa", "CVE-1", fixes=("2.0",)), result("GHSA-bbbb", "CVE-1", fixes=("1.9.3", "2.0"))]}
    )

    found, _ = pip_audit_source({"pkg": "1.0"}, service=service)

    assert found == {
        "pkg": [
            Vulnerability(
                id="GHSA-aaaa", description="A flaw.", aliases=("CVE-1", "GHSA-bbbb"), fix_versions=("1.9.3", "2.0")
            )
        ]
    }


def test_pip_audit_source_reports_skipped_distributions() -> None:
    service = FakeService({"django": [result("GHSA-1")]}, skip=("private-pkg",))

    found, problem = pip_audit_source({"django": "4.2.0", "private-pkg": "1.0"}, service=service)

    assert found == {"django": [Vulnerability(id="GHSA-1", description="A flaw.")]}
    assert problem == (
        "vulnerability data incomplete (1 of 2 distributions checked): "
        "FakeService skipped 1 of 2 (private-pkg not found)" + TURN_OFF
    )


def test_pip_audit_source_reports_invalid_versions_without_asking() -> None:
    service = FakeService({})

    found, problem = pip_audit_source({"odd": "not-a-version", "six": "1.16.0"}, service=service)

    assert found == {}
    assert problem == (
        "vulnerability data incomplete (1 of 2 distributions checked): not a valid version: odd not-a-version"
        + TURN_OFF
    )
    assert service.queried == ["six"]


def test_pip_audit_source_stops_asking_after_total_timeout() -> None:
    service = FakeService({}, delay=0.05)

    found, problem = pip_audit_source({"a": "1", "b": "1", "c": "1"}, service=service, total_timeout=0.01)

    assert found == {}
    assert problem == "vulnerability data incomplete (1 of 3 distributions checked): stopped after 0.01 s" + TURN_OFF
    assert service.queried == ["a"]


def test_pip_audit_source_with_no_pins_asks_nothing() -> None:
    service = FakeService({})

    assert pip_audit_source({}, service=service) == ({}, None)
    assert service.queried == []


# ─── Choice of service ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any name lookup or connection fails the test (AssertionError is not a failure the source swallows)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"network used: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_pip_audit_source_none_makes_no_network_call(no_network: list[object]) -> None:
    assert pip_audit_source({"requests": "2.0.0"}, service="none") == ({}, None)
    assert no_network == []


def test_pip_audit_source_none_imports_neither_pip_audit_nor_pip_api() -> None:
    # pip-api runs `pip --version` when imported: a worker whose audits look nothing up must not pay for it.
    check = (
        "import sys; from auditor.core.vulns import pip_audit_source; "
        "assert pip_audit_source({'requests': '2.0.0'}, service='none') == ({}, None); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pip_audit', 'pip_api')))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pip_audit_source_rejects_unknown_service_names(no_network: list[object]) -> None:
    with pytest.raises(ValueError) as caught:
        pip_audit_source({"requests": "2.0.0"}, service="snyk")
    assert str(caught.value) == "unknown vulnerability service 'snyk' (expected one of osv, pypi, none)"


# ─── Unreachable services, for real ───────────────────────────────────────────────────────────────────


def test_pip_audit_source_reports_unreachable_osv_without_raising(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started = time.monotonic()

    found, problem = pip_audit_source(
        {"requests": "2.0.0", "django": "3.0"}, service="osv", timeout=2, cache_dir=tmp_path
    )

    assert time.monotonic() - started < 20  # bounded by its timeout: without one it waits for minutes
    if problem is None:  # a machine that reaches OSV: requests 2.0.0 has known vulnerabilities
        assert "requests" in found
    else:  # this machine: no route to OSV
        assert found == {}
        assert problem.startswith("vulnerability data unavailable: https://api.osv.dev cannot be reached")
        assert problem.endswith(TURN_OFF) and "Errno" not in problem


def test_pip_audit_source_reports_unusable_pypi_without_raising(tmp_path: Path) -> None:
    started = time.monotonic()

    found, problem = pip_audit_source(
        {"requests": "2.0.0", "django": "3.0"}, service="pypi", timeout=2, cache_dir=tmp_path
    )

    assert time.monotonic() - started < 20  # bounded by its timeout: without one it waits for minutes
    if problem is None:  # a machine that reaches PyPI's JSON API
        assert "requests" in found
    else:  # this machine: the versioned JSON pages answer 404, so PyPIService skips every distribution
        assert found == {}
        assert problem.startswith("vulnerability data unavailable: ")
        assert "https://pypi.org" in problem


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_pip_audit_source_reports_refused_connection(tmp_path: Path) -> None:
    port = free_port()
    service = OsvService(cache_dir=tmp_path, timeout=1, osv_url=f"http://127.0.0.1:{port}/v1/query")

    found, problem = pip_audit_source({"requests": "2.0.0", "django": "3.0"}, service=service)

    assert found == {}
    assert problem == (
        f"vulnerability data unavailable: http://127.0.0.1:{port} cannot be reached (the connection was refused)"
        + TURN_OFF
    )


def test_pip_audit_source_stops_after_the_first_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (in its backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        service = OsvService(cache_dir=tmp_path, timeout=0.5, osv_url=f"http://127.0.0.1:{port}/v1/query")
        started = time.monotonic()

        found, problem = pip_audit_source({name: "1.0" for name in ("a", "b", "c", "d", "e")}, service=service)

        elapsed = time.monotonic() - started
        silent.setblocking(False)
        connections = []
        while True:
            try:
                connections.append(silent.accept()[0])
            except BlockingIOError:
                break
        for connection in connections:
            connection.close()
    service.session.close()

    assert found == {}
    assert problem == (
        f"vulnerability data unavailable: http://127.0.0.1:{port} cannot be reached (no answer within 0.5 s)" + TURN_OFF
    )
    assert elapsed < 5  # gave up at its timeout (0.5 s), with room for a busy machine
    assert len(connections) == 1


# ─── A local OSV, for pip-audit's real OsvService ─────────────────────────────────────────────────────


class FakeOsv(ThreadingHTTPServer):
    """Answers OSV's `/v1/query` from `answers` (name -> OSV JSON); a name in `broken` gets a 503."""

    daemon_threads = True

    def __init__(self, answers: dict[str, Any], broken: tuple[str, ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), _OsvHandler)
        self.answers = answers
        self.broken = broken

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/query"


class _OsvHandler(BaseHTTPRequestHandler):
    server: FakeOsv

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = query["package"]["name"]
        status = 503 if name in self.server.broken else 200
        body = b"" if status == 503 else json.dumps(self.server.answers.get(name, {})).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def osv_server(request: pytest.FixtureRequest) -> Iterator[FakeOsv]:
    answers, broken = request.param
    server = FakeOsv(answers, broken)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-osv")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


REQUESTS_OSV = {
    "vulns": [
        {
            "id": "GHSA-x84v-xcm2-53pg",
            "summary": "Insufficiently Protected Credentials in Requests",
            "aliases": ["CVE-2018-18074", "PYSEC-2018-28"],
            "affected": [
                {
                    "package": {"name": "requests", "ecosystem": "PyPI"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize("osv_server", [(({"requests": REQUESTS_OSV}), ())], indirect=True)
def test_pip_audit_source_reads_osv_answers(osv_server: FakeOsv, tmp_path: Path) -> None:
    service = OsvService(cache_dir=tmp_path, timeout=2, osv_url=osv_server.url)

    found = pip_audit_source({"requests": "2.0.0", "six": "1.16.0"}, service=service)
    service.session.close()

    assert found == (
        {
            "requests": [
                Vulnerability(
                    id="PYSEC-2018-28",
                    description="Insufficiently Protected Credentials in Requests",
                    aliases=("CVE-2018-18074", "GHSA-x84v-xcm2-53pg"),
                    fix_versions=("2.20.0",),
                )
            ]
        },
        None,
    )


@pytest.mark.parametrize("osv_server", [(({"requests": REQUESTS_OSV}), ("six",))], indirect=True)
def test_pip_audit_source_keeps_answers_before_a_service_error(osv_server: FakeOsv, tmp_path: Path) -> None:
    service = OsvService(cache_dir=tmp_path, timeout=2, osv_url=osv_server.url)
    host = osv_server.url.removesuffix("/v1/query")

    found, problem = pip_audit_source({"requests": "2.0.0", "six": "1.16.0", "idna": "3.7"}, service=service)
    service.session.close()

    assert [v.id for v in found["requests"]] == ["PYSEC-2018-28"]
    assert problem == (
        "vulnerability data incomplete (1 of 3 distributions checked): "
        f"{host} failed (503 Server Error: Service Unavailable for url: {osv_server.url})" + TURN_OFF
    )


# ─── In a process of its own ──────────────────────────────────────────────────────────────────────────


def osv_recording_pid(url: str, cache_dir: Path, pid_file: Path) -> OsvService:
    """Makes the service where it runs, and writes down which process that is."""
    pid_file.write_text(str(os.getpid()))
    return OsvService(cache_dir=cache_dir, timeout=2, osv_url=url)


def dying_service() -> OsvService:
    os._exit(7)


@pytest.mark.parametrize("osv_server", [(({"requests": REQUESTS_OSV}), ())], indirect=True)
def test_lookup_process_asks_from_another_process(osv_server: FakeOsv, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    factory = functools.partial(osv_recording_pid, osv_server.url, tmp_path, pid_file)

    with LookupProcess(factory) as lookup:
        found, problem = lookup({"requests": "2.0.0", "six": "1.16.0"})

    assert problem is None
    assert [(name, [v.id for v in vulns]) for name, vulns in found.items()] == [("requests", ["PYSEC-2018-28"])]
    assert int(pid_file.read_text()) != os.getpid()
    assert multiprocessing.active_children() == []  # the process has ended


def test_lookup_process_reports_unreachable_osv() -> None:
    with LookupProcess("osv") as lookup:
        found, problem = lookup({"requests": "2.0.0"})

    if problem is None:  # a machine that reaches OSV: requests 2.0.0 has known vulnerabilities
        assert "requests" in found
    else:  # this machine: no route to OSV
        assert found == {}
        assert problem.startswith("vulnerability data unavailable: https://api.osv.dev cannot be reached")
        assert problem.endswith(TURN_OFF) and "Errno" not in problem


def test_lookup_process_turns_a_dead_process_into_a_message() -> None:
    with LookupProcess(dying_service) as lookup:
        found, problem = lookup({"requests": "2.0.0"})

    assert found == {}
    assert problem is not None
    assert problem.startswith("vulnerability data unavailable: the lookup process failed")


def test_lookup_process_for_service_none_starts_nothing_and_finds_nothing(no_network: list[object]) -> None:
    with LookupProcess("none") as lookup:
        assert multiprocessing.active_children() == []
        assert lookup({"requests": "2.0.0"}) == ({}, None)
    assert no_network == []


def service_with_a_bug() -> OsvService:
    raise TypeError("unsupported operand")


def test_lookup_process_turns_an_error_in_the_lookup_into_a_message() -> None:
    with LookupProcess(service_with_a_bug) as lookup:
        found, problem = lookup({"requests": "2.0.0"})

    assert found == {}
    assert problem == "vulnerability data unavailable: the lookup failed (TypeError: unsupported operand)" + TURN_OFF


def osv_recording_children(url: str, cache_dir: Path, report: Path) -> OsvService:
    """Makes the service where it runs, and writes down the CPU seconds of the processes that process has run so far,
    and the pip version pip-audit's cache module holds."""
    from pip_audit import _cache

    children = os.times()
    report.write_text(json.dumps([children.children_user + children.children_system, str(_cache._PIP_VERSION)]))
    return OsvService(cache_dir=cache_dir, timeout=2, osv_url=url)


@pytest.mark.parametrize("osv_server", [(({"requests": REQUESTS_OSV}), ())], indirect=True)
def test_lookup_process_runs_no_pip(osv_server: FakeOsv, tmp_path: Path) -> None:
    report = tmp_path / "report"
    factory = functools.partial(osv_recording_children, osv_server.url, tmp_path, report)

    with LookupProcess(factory) as lookup:
        found, problem = lookup({"requests": "2.0.0"})

    assert problem is None
    assert [v.id for v in found["requests"]] == ["PYSEC-2018-28"]
    children_seconds, pip_version = json.loads(report.read_text())
    assert children_seconds == 0  # pip-api would have run `python -m pip --version`: a tenth of a second or more
    assert pip_version == importlib.metadata.version("pip")


def niceness_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])  # field 19 of proc(5)


def test_lookup_process_yields_the_cores_to_the_audit() -> None:
    with LookupProcess("osv") as lookup:
        lookup({"requests": "2.0.0"})  # the worker has started and run its initializer
        [worker] = multiprocessing.active_children()
        worker_niceness = niceness_of(worker.pid)

    assert worker_niceness == min(19, niceness_of(os.getpid()) + 10)


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (
            "Failed to resolve 'api.osv.dev' ([Errno -3] Temporary failure in name resolution)",
            " (its name does not resolve here)",
        ),
        ("[Errno -2] Name or service not known", " (its name does not resolve here)"),
        ("Failed to establish a new connection: [Errno 101] Network is unreachable", " (no route to it)"),
        ("something else entirely: [Errno 71] Protocol error", ""),
    ],
)
def test_an_unreachable_service_is_said_in_plain_words_without_the_errno(why: str, said: str) -> None:
    problem = readable_problem(f"vulnerability data unavailable: cannot reach https://api.osv.dev ({why})")

    assert problem == f"vulnerability data unavailable: https://api.osv.dev cannot be reached{said}" + TURN_OFF
    assert readable_problem(None) is None
