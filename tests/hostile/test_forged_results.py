"""No distribution can alter the result of another: a co-installed distribution's start-up code (`.pth` files,
`sitecustomize`) and the bytecode it ships for another's modules do not run in the other's probe, whose result is
stored for everyone's reuse; a module it adds to another's package can run there, and then that result is not the
public one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.core.cache import MemoryStore
from auditor.core.findings import ThreadOnImport, Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, run_audit
from auditor.core.verdicts import probe_verdict
from tests.hostile.audits import OPTIONS, audit_wheels, verdicts
from tests.wheelfactory import build_wheel

VICTIM = {
    "fa-victim": {
        "files": {
            "fa_victim/__init__.py": "import threading, time\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        }
    }
}
# Makes every thread start a no-op, and marks the interpreters it ran in.
SILENCER = "import threading, os; threading.Thread.start = lambda self: None; os.environ['FA_FORGER_RAN'] = '1'\n"


def test_a_co_installed_pth_file_does_not_run_in_another_distributions_probe(bench_with):
    bench = bench_with(
        {
            **VICTIM,
            "fa-forger": {"files": {"fa_forger.pth": SILENCER, "fa_forger/__init__.py": ""}},
            "fa-customizer": {"files": {"sitecustomize.py": SILENCER}},
        }
    )

    victim = bench.probe("fa-victim")
    forger = bench.probe("fa-forger")

    assert probe_verdict(victim) == Verdict.UNSAFE
    # Seen and reported by the probe itself.
    assert [f.unexplained for f in victim.findings if isinstance(f, ThreadOnImport)] == [False]
    assert probe_verdict(forger) == Verdict.SAFE  # its own start-up code still runs in its own probe


def test_a_pth_file_still_adds_its_directories_to_the_path_of_every_probe(bench_with):
    bench = bench_with(
        {
            "fa-extra-path": {"files": {"fa_extra_path.pth": "fa_extra_dir\n", "fa_extra_dir/fa_found.py": ""}},
            "fa-user": {"files": {"fa_user/__init__.py": "import fa_found\n"}},
        }
    )

    result = bench.probe("fa-user")

    assert [(m.name, str(m.status)) for m in result.modules] == [("fa_user", "ok")]


def planting_wheel(directory: Path, name: str, planted: str, metadata: str, record: str, files: dict) -> Path:
    """A wheel that plants `planted` (a .dist-info directory) in site-packages through its `.data/purelib/`."""
    data = f"{name.replace('-', '_')}-1.0.data/purelib"
    return build_wheel(
        directory,
        name,
        {
            f"{name.replace('-', '_')}/__init__.py": "",
            f"{data}/{planted}/METADATA": metadata,
            f"{data}/{planted}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{data}/{planted}/RECORD": record,
            **{f"{data}/{path}": text for path, text in files.items()},
        },
    )


def stored_names(store: MemoryStore) -> set[str]:
    return {key.name for key in store._results}


def test_a_wheel_cannot_plant_the_record_of_an_index_package(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    planting_wheel(
        wheels,
        "aa-evil",
        "six-1.16.0.dist-info",
        "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n",
        "six.py,,\n",
        {"six.py": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='planted').start()\n"},
    )

    found, store = audit_wheels(tmp_path, wheels)

    assert set(found) == {"aa-evil"}
    assert found["aa-evil"].verdict == Verdict.ERROR
    assert "six-1.16.0.dist-info" in found["aa-evil"].findings[0].message
    assert stored_names(store) == set()  # neither six nor the carrier


def test_a_planted_record_cannot_take_the_place_of_a_distribution_of_the_set(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-victim", VICTIM["fa-victim"]["files"])
    planting_wheel(
        wheels,
        "zz-evil",
        "zzphantom.dist-info",
        "Metadata-Version: 2.1\nName: fa-victim\nVersion: 1.0\n",
        "zz_quiet.py,,\n",
        {"zz_quiet.py": ""},
    )

    found, store = audit_wheels(tmp_path, wheels)

    assert (found["fa-victim"].verdict, found["zz-evil"].verdict) == (Verdict.UNSAFE, Verdict.ERROR)
    assert [m.name for m in found["fa-victim"].modules] == ["fa_victim"]
    assert stored_names(store) == {"fa-victim"}


def test_a_distribution_whose_file_another_replaced_is_an_error_and_the_victim_never_safe(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-victim", VICTIM["fa-victim"]["files"])
    build_wheel(wheels, "zz-overwriter", {"fa_victim/__init__.py": "# nothing to see\n", "zz_overwriter.py": ""})

    found, store = audit_wheels(tmp_path, wheels)

    # uv installs in parallel: whichever copy of fa_victim/__init__.py is on disk, the other's owner is the error
    # (and is not stored); the one whose copy is there is probed as what it is.
    assert found["fa-victim"].verdict in (Verdict.UNSAFE, Verdict.ERROR)
    [loser] = [d for d in found.values() if d.verdict == Verdict.ERROR]
    assert "was replaced by another distribution" in loser.findings[0].message
    assert loser.name not in stored_names(store)


def test_a_record_that_cannot_be_read_is_that_distributions_error_not_an_aborted_audit(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-fine", {"fa_fine/__init__.py": ""})
    planting_wheel(
        wheels,
        "zz-ghost",
        "ghost-1.0.dist-info",
        "Metadata-Version: 2.1\nName: ghost\nVersion: 1.0\n",
        "x" * 200_000 + ",,\n",
        {},
    )

    found, _ = audit_wheels(tmp_path, wheels)

    assert (found["fa-fine"].verdict, found["zz-ghost"].verdict) == (Verdict.SAFE, Verdict.ERROR)


def test_a_distribution_that_ships_an_identical_copy_of_anothers_module_makes_both_errors(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-victim", VICTIM["fa-victim"]["files"])
    build_wheel(wheels, "zz-twin", {**VICTIM["fa-victim"]["files"], "zz_twin.py": ""})

    found, store = audit_wheels(tmp_path, wheels)

    assert (found["fa-victim"].verdict, found["zz-twin"].verdict) == (Verdict.ERROR, Verdict.ERROR)
    assert "which zz-twin ships too" in found["fa-victim"].findings[0].message
    assert stored_names(store) == set()  # the victim's record keeps what its own audits found


def test_distributions_that_share_a_namespace_package_are_audited_as_usual(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    namespace = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    for name in ("fa-ns-one", "fa-ns-two"):
        module = name.replace("-", "_")
        build_wheel(wheels, name, {"fa_ns/__init__.py": namespace, f"fa_ns/{module}.py": ""})

    found, store = audit_wheels(tmp_path, wheels)

    assert {name: d.verdict for name, d in found.items()} == {"fa-ns-one": Verdict.SAFE, "fa-ns-two": Verdict.SAFE}


def test_the_result_of_an_index_package_that_requires_an_uploaded_wheel_is_the_uploaders_not_public(
    tmp_path, monkeypatch
):
    index, uploads = tmp_path / "index", tmp_path / "uploads"
    monkeypatch.setenv("UV_FIND_LINKS", str(index))  # the operator's private index
    index.mkdir()
    uploads.mkdir()
    build_wheel(index, "fa-app", {"fa_app/__init__.py": "import fa_dep\n"}, requires=["fa-dep"])
    build_wheel(index, "fa-other", {"fa_other/__init__.py": ""})
    # The uploader's own fa-dep runs when fa-app is imported: it could make fa-app's result anything.
    private_dep = build_wheel(uploads, "fa-dep", {"fa_dep/__init__.py": ""})
    store = MemoryStore()
    options = AuditOptions(use_index=False, timeout=10, python="/usr/bin/python3.11", shallow=True, owner_tag="mallory")

    run_audit(
        AuditInput(requirements=("fa-app", "fa-other"), wheels=(private_dep,)),
        workdir=tmp_path / "work",
        store=store,
        options=options,
    )

    origins = {key.name: key.origin for key in store._results}
    assert origins["fa-other"] == "index"
    assert origins["fa-dep"].startswith("upload:mallory:")
    assert origins["fa-app"].startswith("upload:mallory:requires:")


def audit_index(tmp_path: Path, *requirements: str) -> dict[str, tuple[str, Verdict]]:
    """Origin and verdict of each result an audit of `requirements` (from the test's index) stored."""
    store = MemoryStore()
    run_audit(AuditInput(requirements=requirements), workdir=tmp_path / "work", store=store, options=OPTIONS)
    return {key.name: (key.origin, probe_verdict(result)) for key, result in store._results.items()}


def test_a_module_planted_in_another_distributions_package_keeps_what_it_did_out_of_the_public_record(
    tmp_path, monkeypatch
):
    index = tmp_path / "index"
    monkeypatch.setenv("UV_FIND_LINKS", str(index))
    index.mkdir()
    # The victim imports an optional module of its own package if it is there (a speed-up), then starts its thread:
    # a wheel that puts that module there runs its code in the victim's probe, here to hide the thread.
    speedups = "try:\n    from fa_victim import _speedups\nexcept ImportError:\n    pass\n"
    build_wheel(
        index, "fa-victim", {"fa_victim/__init__.py": speedups + VICTIM["fa-victim"]["files"]["fa_victim/__init__.py"]}
    )
    build_wheel(index, "fa-carrier", {"fa_carrier/__init__.py": "", "fa_victim/_speedups.py": SILENCER})

    together = audit_index(tmp_path / "together", "fa-victim", "fa-carrier")
    alone = audit_index(tmp_path / "alone", "fa-victim")

    assert together == {
        "fa-victim": ("carried:fa-carrier==1.0", Verdict.SAFE),  # what the carrier made of it, kept beside it
        "fa-carrier": ("index", Verdict.SAFE),
    }
    assert alone == {"fa-victim": ("index", Verdict.UNSAFE)}


def test_a_module_that_a_dependency_adds_to_a_package_is_the_packages_own_choice(tmp_path, monkeypatch):
    index = tmp_path / "index"
    monkeypatch.setenv("UV_FIND_LINKS", str(index))
    index.mkdir()
    plugin = "try:\n    from fa_host import _plugin\nexcept ImportError:\n    pass\n"  # as PyQt5 and PyQt5-sip
    build_wheel(index, "fa-host", {"fa_host/__init__.py": plugin}, requires=["fa-plugin"])
    build_wheel(index, "fa-plugin", {"fa_plugin/__init__.py": "", "fa_host/_plugin.py": ""})

    assert audit_index(tmp_path, "fa-host") == {
        "fa-host": ("index", Verdict.SAFE),
        "fa-plugin": ("index", Verdict.SAFE),
    }


def forged_bytecode(source: str, filename: str) -> bytes:
    """`source` compiled by the audits' interpreter as an unchecked hash-based .pyc: an interpreter runs it without
    looking at the source it claims to be the cache of."""
    program = (
        "import importlib.util, marshal, sys\n"
        f"code = compile({source!r}, {filename!r}, 'exec')\n"
        "flags = (0b01).to_bytes(4, 'little')  # hash-based, unchecked\n"
        "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + flags + bytes(8) + marshal.dumps(code))\n"
    )
    return subprocess.run([OPTIONS.python, "-c", program], capture_output=True, check=True).stdout


@pytest.mark.parametrize("shallow", [True, False], ids=["shallow", "deep"])
def test_bytecode_a_wheel_ships_for_another_distribution_never_runs_in_its_probe(tmp_path: Path, shallow: bool):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-quiet", {"fa_quiet/__init__.py": "x = 1\n"})
    starts = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='fa-forged').start()\n"
    cache = {"fa_quiet/__pycache__/__init__.cpython-311.pyc": forged_bytecode(starts, "fa_quiet/__init__.py")}
    build_wheel(wheels, "fa-cache-planter", {"fa_cache_planter/__init__.py": "", **cache})

    found, _ = audit_wheels(tmp_path, wheels, shallow=shallow)

    assert verdicts(found) == {"fa-quiet": Verdict.SAFE, "fa-cache-planter": Verdict.SAFE}
