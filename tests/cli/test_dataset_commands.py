"""`forkaudit export` and `forkaudit import` end to end: real audits fill one installation's embedded database, its
export goes into another installation, and bad files are refused with exit 2 and nothing imported."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.core.probe import PROBE_VERSION
from tests.probe_results import probe_result
from tests.wheelfactory import build_wheel

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def installation(tmp_path: Path) -> Callable[[str], Run]:
    """`installation(name)` runs the real `forkaudit` on a data directory (embedded database) of that name, offline:
    the public packages come from a local directory through uv's UV_FIND_LINKS, as from an operator's mirror."""
    public = tmp_path / "public-wheels"
    public.mkdir()
    build_wheel(
        public,
        "fa-telemetry",
        {
            "fa_telemetry/__init__.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="fa-telemetry-flusher", daemon=True).start()
            """
        },
    )
    build_wheel(public, "fa-clean", {"fa_clean/__init__.py": "CLEAN = True\n"})

    def at(name: str) -> Run:
        env = dict(
            os.environ,
            FORKAUDIT_DATA_DIR=str(tmp_path / name),
            FORKAUDIT_VULNERABILITY_SERVICE="none",
            UV_FIND_LINKS=str(public),
        )
        env.pop("DATABASE_URL", None)

        def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [sys.executable, "-m", "auditor.cli", *args],
                capture_output=True,
                env=env,
                input=stdin or b"",
                timeout=600,
                cwd=tmp_path,
            )
            return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())

        return run

    return at


@pytest.fixture
def audited(installation: Callable[[str], Run], tmp_path: Path) -> Run:
    """An installation that audited the public fa-telemetry and fa-clean, and an uploaded wheel (private)."""
    first = installation("first")
    (tmp_path / "requirements.txt").write_text("fa-telemetry\nfa-clean\n")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    build_wheel(uploads, "fa-secret", {"fa_secret/__init__.py": "import fa_telemetry\n"}, requires=["fa-telemetry"])
    for audit in (["-r", "requirements.txt"], ["--wheels", str(uploads)]):
        done = first("audit", *audit, "--no-index", "--shallow", "--fail-on", "never")
        assert done.returncode == 0, done.stderr
    return first


def test_export_then_import_into_a_new_installation_carries_the_public_results_only(audited, installation, tmp_path):
    second = installation("second")

    exported = audited("export", "-o", "first.jsonl.gz")
    imported = second("import", "first.jsonl.gz")
    again = second("import", "first.jsonl.gz")
    reexported = second("export")
    second("export", "-o", "second.jsonl.gz")

    assert (exported.returncode, exported.stderr) == (0, "forkaudit: exported 2 public results\n")
    dataset = gzip.decompress((tmp_path / "first.jsonl.gz").read_bytes()).decode()
    assert [json.loads(line)["name"] for line in dataset.splitlines()[1:]] == ["fa-clean", "fa-telemetry"]
    assert "fa-secret" not in dataset
    assert (imported.returncode, imported.stderr) == (0, f"forkaudit: imported 2 results, kept 0 {ALREADY}\n")
    assert (again.returncode, again.stderr) == (0, f"forkaudit: imported 0 results, kept 2 {ALREADY}\n")
    assert reexported.stdout == dataset
    assert (tmp_path / "second.jsonl.gz").read_bytes() == (tmp_path / "first.jsonl.gz").read_bytes()


def test_a_new_installation_reuses_the_imported_results_instead_of_probing(audited, installation):
    second = installation("second")
    second("import", "-", stdin=audited("export").stdout.encode())

    done = second("audit", "-r", "requirements.txt", "--no-index", "--shallow", "--format", "json")

    assert done.returncode == 1, done.stderr
    assert '"cached": false' not in done.stdout
    assert done.stdout.count('"cached": true') == 2
    assert "fa-telemetry-flusher" in done.stdout


ALREADY = "already in the database"
HEADER = json.dumps(
    {"format": "forkaudit-dataset/1", "producer": {"forkaudit": "0.1.0", "probe_version": PROBE_VERSION}}
)
HEADER += "\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "missing.jsonl: cannot read: No such file or directory"),
        (
            "bad.jsonl",
            HEADER + "\n" + '{"name": "six"\n',
            "bad.jsonl:3: not JSON: Expecting ',' delimiter at column 15",
        ),
        ("future.jsonl", '{"format": "forkaudit-dataset/2"}\n', "future.jsonl:1: unknown format version"),
        ("report.json", '{"schema": "forkaudit-report/1"}\n', "report.json:1: no header line before it"),
        ("empty.jsonl", "", "empty.jsonl:1: empty: a dataset starts with a header line"),
        ("cut.jsonl.gz", gzip.compress(HEADER.encode())[:-12], "cut.jsonl.gz: a damaged gzip file"),
        ("binary.jsonl", b"\x00\xff\xfe" * 10, "binary.jsonl:1: not UTF-8 text"),
    ],
)
def test_import_refuses_a_bad_file_with_exit_2_and_imports_nothing(installation, tmp_path, name, content, message):
    target = installation("target")
    if isinstance(content, str):
        content = content.encode()
    if content is not None:
        (tmp_path / name).write_bytes(content)

    done = target("import", name)

    assert done.returncode == 2
    assert done.stderr.startswith(f"forkaudit: error: {message}")
    assert "Traceback" not in done.stderr
    assert target("export").stdout == HEADER.replace(": ", ":").replace(", ", ",")


def test_import_of_a_directory_and_export_into_a_missing_directory_exit_2(installation, tmp_path):
    target = installation("target")

    directory = target("import", str(tmp_path))
    nowhere = target("export", "-o", "no/such/directory/out.jsonl")

    assert (directory.returncode, directory.stderr) == (
        2,
        f"forkaudit: error: {tmp_path}: a directory, not a dataset\n",
    )
    assert (nowhere.returncode, nowhere.stderr) == (
        2,
        "forkaudit: error: no/such/directory/out.jsonl: not a file in an existing directory\n",
    )
    assert not (tmp_path / "no").exists()


def test_export_to_a_reader_that_stops_early_exits_quietly(installation, tmp_path):
    big = installation("big")
    record = {
        "name": "six",
        "version": "1.17.0",
        "wheel_tag": "py2.py3-none-any",
        "platform": "linux-x86_64",
        "probe_version": "5",
        "deep": True,
        "verdict": "safe",
        "created": "2026-12-01T12:00:00+00:00",
        "result": probe_result("six", "1.17.0").to_dict(),
    }
    lines = [json.dumps({**record, "python": f"3.11.{patch}"}) for patch in range(3000)]
    (tmp_path / "big.jsonl").write_text(HEADER + "\n".join(lines) + "\n")
    assert big("import", "big.jsonl").returncode == 0
    env = dict(os.environ, FORKAUDIT_DATA_DIR=str(tmp_path / "big"))
    env.pop("DATABASE_URL", None)

    # Far more than a pipe holds: the export is still writing when the reader goes away.
    with subprocess.Popen(
        [sys.executable, "-m", "auditor.cli", "export"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as export:
        assert export.stdout.read(10) == b'{"format":'
        export.stdout.close()
        stderr = export.stderr.read().decode()

    assert (export.returncode, stderr) == (0, "")
