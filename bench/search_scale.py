"""Package search at scale: a database seeded with 100,000 package versions, and the pages and API calls that read it,
timed through Django's test client (URL routing, the view, the selectors' queries, the template or the serializer;
no network, no web server).

    .venv/bin/python bench/search_scale.py [--versions 100000] [--repeat 200] [--keep]

The database is a new SQLite file in a temporary data directory (the embedded default), migrated, then seeded with
`--versions` public results: 20,000 packages of 5 versions each, 1 in 20 unsafe (a native thread with a verified
mitigation), 1 in 20 caution, 1 in 50 error, the rest safe, plus 500 private results of an uploaded wheel's owner,
and 1,000 audits of 50 packages each whose graphs all hold the package whose page is measured.
With DATABASE_URL set (a PostgreSQL database you can drop) it runs there instead. Each request runs `--repeat` times
after one warm-up; the table gives the median and p95 of each, in milliseconds, and the p95 of the CPU time the
request took in this process (what other work on a shared machine disturbs least; SQLite runs in this process, so it
includes the queries).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common

VERSIONS_PER_PACKAGE = 5
PRIVATE_RESULTS = 500
AUDITS = 1000  # each resolving 50 packages, the measured package among them
PINS_PER_AUDIT = 50
BATCH = 5000


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank), so that it is one of the measured values."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def package_name(index: int) -> str:
    """Names that look like PyPI's: words joined by dashes, some sharing prefixes and parts."""
    words = ["py", "django", "data", "cloud", "fast", "async", "client", "tools", "utils", "core", "json", "aws"]
    parts = [words[index % 12], words[(index // 12) % 12], f"{index:05d}"]
    return "-".join(parts)


def seed(versions: int) -> dict[str, int]:
    from django.contrib.auth.models import User
    from django.db import transaction

    from auditor.models import FindingRecord, ProbeRecord

    packages = versions // VERSIONS_PER_PACKAGE
    owner = User.objects.create_user(username="uploader")
    records: list[ProbeRecord] = []
    finding_of: dict[int, dict[str, object]] = {}
    for index in range(packages):
        name = package_name(index)
        for minor in range(VERSIONS_PER_PACKAGE):
            number = index * VERSIONS_PER_PACKAGE + minor
            verdict = "unsafe" if number % 20 == 0 else "caution" if number % 20 == 1 else "safe"
            verdict = "error" if number % 50 == 7 else verdict
            records.append(_record(name, f"1.{minor}.0", verdict, origin="index", owner=None))
            if verdict == "unsafe":
                finding_of[len(records) - 1] = {
                    "kind": "thread-on-import",
                    "thread": "python",
                    "native": True,
                    "alive_after_import": True,
                    "module": name.replace("-", "_"),
                    "library": "OpenBLAS",
                    "mitigation": {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True},
                }
            elif verdict == "caution":
                finding_of[len(records) - 1] = {
                    "kind": "thread-on-import",
                    "thread": "warmup",
                    "native": False,
                    "alive_after_import": False,
                    "module": name.replace("-", "_"),
                }
    for index in range(PRIVATE_RESULTS):
        records.append(_record(f"private-app-{index}", "0.1", "safe", origin=f"upload:{owner.pk}:{index}", owner=owner))
    with transaction.atomic():
        for start in range(0, len(records), BATCH):
            batch = ProbeRecord.objects.bulk_create(records[start : start + BATCH])
            FindingRecord.objects.bulk_create(
                FindingRecord(
                    probe=record,
                    kind=str(finding_of[start + offset]["kind"]),
                    module=str(finding_of[start + offset]["module"]),
                    thread=str(finding_of[start + offset]["thread"]),
                    native=bool(finding_of[start + offset]["native"]),
                    alive_after_import=bool(finding_of[start + offset]["alive_after_import"]),
                    data=finding_of[start + offset],
                )
                for offset, record in enumerate(batch)
                if start + offset in finding_of
            )
    seed_audits(packages)
    return {"packages": packages, "records": len(records), "findings": len(finding_of)}


def seed_audits(packages: int) -> None:
    """Audits whose graphs all hold the measured package (its page reads who pulls it in from them)."""
    from django.db import transaction

    from auditor.models import Audit, AuditDistribution

    measured = package_name(packages // 2)
    audits = []
    for index in range(AUDITS):
        names = [package_name((index * PINS_PER_AUDIT + offset) % packages) for offset in range(PINS_PER_AUDIT - 1)]
        edges = [[names[0], name] for name in names[1:]] + [[names[index % len(names)], measured]]
        graph = {"direct": names[:1], "edges": edges, "pins": dict.fromkeys([*names, measured], "1.0.0")}
        audits.append(Audit(input_kind="requirements", input_text="x\n", graph=graph, status="done"))
    with transaction.atomic():
        Audit.objects.bulk_create(audits)
        AuditDistribution.objects.bulk_create(
            (
                AuditDistribution(audit=audit, name=name, version="1.0.0")
                for audit in audits
                for name in audit.graph["pins"]
            ),
            batch_size=BATCH,
        )


def _record(name: str, version: str, verdict: str, *, origin: str, owner: object) -> object:
    from django.utils import timezone

    from auditor.models import ProbeRecord

    module = name.replace("-", "_")
    return ProbeRecord(
        name=name,
        version=version,
        wheel_tag="py3-none-any",
        python="3.11.7",
        platform="linux-x86_64",
        probe_version="5",
        deep=True,
        origin=origin,
        owner=owner,
        verdict=verdict,
        sandbox="bwrap",
        result={
            "distribution": name,
            "version": version,
            "sandbox": "bwrap",
            "modules": [{"name": module, "status": "ok", "import_seconds": 0.01, "top_level": True}],
            "findings": [],
        },
        seconds=0.5,
        created=timezone.now(),
    )


def requests(packages: int) -> list[tuple[str, str]]:
    middle = package_name(packages // 2)
    return [
        ("search: part of a name, many matches", "/packages/?q=cloud-fast"),
        ("search: one package's exact name", f"/packages/?q={middle}"),
        ("search: part of a name, page 20", "/packages/?q=data&page=20"),
        ("search: a typo (no match: suggestions)", "/packages/?q=djagno-cloud-00413"),
        ("search: verdict unsafe", "/packages/?verdict=unsafe"),
        ("search: everything, first page", "/packages/"),
        ("search: everything, page 1000", "/packages/?page=1000"),
        ("API search: part of a name", "/api/v1/packages/?q=cloud-fast"),
        ("API search: thread name", "/api/v1/packages/?thread=python"),
        ("package page", f"/packages/{middle}/"),
        ("unknown package page (suggestions)", "/packages/djagno-cloud-00413/"),
        ("home page (the dataset's numbers)", "/"),
        ("fork-unsafe list", "/unsafe/"),
        ("fork-unsafe list, native threads, page 10", "/unsafe/?kind=native&page=10"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (and its database)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="forkaudit-bench-search-"))
    os.environ["FORKAUDIT_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "auditor.project.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    # The test client's host name; not setup_test_environment(), which would instrument every template render.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"# search at scale — {_common.machine()}; database: {connection.vendor}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Commits written before they return (scripts/postgres's server turns that off): VACUUM cannot mark the
            # pages of a commit not yet written all-visible.
            cursor.execute("SET synchronous_commit TO on")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    counts = seed(args.versions)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("ANALYZE")  # what `forkaudit serve` databases get from SQLite's own optimize over time
        elif connection.vendor == "postgresql":
            # What autovacuum does within a minute of the seeding, otherwise in the middle of the measurements: the
            # planner's statistics, and the visibility map that lets index-only scans skip the table.
            cursor.execute("VACUUM ANALYZE")
    print(
        f"seeded {counts['records']:,} results ({counts['packages']:,} packages, {counts['findings']:,} findings) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    client = Client()
    rows = []
    for label, url in requests(counts["packages"]):
        status = client.get(url).status_code  # warm-up: templates compiled, caches filled
        times, cpu = [], []
        for _ in range(args.repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        rows.append(
            [label, f"`{url}`", status, *(f"{value:.1f}" for value in (statistics.median(times), p95(times), p95(cpu)))]
        )
    print(_common.table(["request", "URL", "status", "median ms", "p95 ms", "p95 CPU ms"], rows))
    print(f"# {_common.load()} at the end")
    if args.keep:
        print(f"kept {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
