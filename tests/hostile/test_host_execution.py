"""No package code runs on the host: every way a wheel's code could start outside the sandbox, each shown by a marker
that only code outside the sandbox can create (the sandbox sees none of the test's directories)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from auditor.core.bytecode import MIN_SHARED_SOURCE_BYTES
from auditor.core.cache import MemoryStore
from auditor.core.environments import create_environment, install
from auditor.core.findings import Verdict
from auditor.core.pipeline import AuditInput, AuditOptions, run_audit
from tests.wheelfactory import build_sdist, build_wheel

PYTHON = "/usr/bin/python3.11"


def pth_wheel(directory: Path, marker: Path) -> Path:
    """A wheel whose `.pth` file writes `marker` wherever an interpreter of its environment starts with `site`, and
    whose data files would replace the environment's own configuration."""
    directory.mkdir(exist_ok=True)
    return build_wheel(
        directory,
        "fa-pth-hook",
        {
            "fa_pth_hook.pth": f"import os; open({str(marker)!r}, 'w').write('ran on the host')\n",
            "fa_pth_hook/__init__.py": "",
            "fa_pth_hook-1.0.data/data/pyvenv.cfg": "home = /nowhere\ninclude-system-site-packages = true\n",
        },
    )


def test_a_deep_audit_runs_no_pth_file_on_the_host_and_still_compiles_bytecode(tmp_path):
    marker = tmp_path / "marker"
    wheels = tmp_path / "wheels"
    hook = pth_wheel(wheels, marker)
    # Enough shared source to be worth compiling (auditor.core.bytecode.worth_compiling): comments, quick to compile.
    padding = "".join(f"# line {n} of padding\n" for n in range(MIN_SHARED_SOURCE_BYTES // 20))
    files = {"fa_pth_lib/__init__.py": padding, "fa_pth_lib/tests/test_it.py": "def test(): pass\n"}
    lib = build_wheel(wheels, "fa-pth-lib", files)
    app = build_wheel(wheels, "fa-pth-app", {"fa_pth_app/__init__.py": "import fa_pth_lib\n"}, requires=["fa-pth-lib"])
    options = AuditOptions(use_index=False, timeout=10, python=PYTHON)

    report = run_audit(
        AuditInput(wheels=(hook, lib, app)), workdir=tmp_path / "work", store=MemoryStore(), options=options
    )

    assert not marker.exists()
    assert report.verdict == Verdict.SAFE
    compiled = {path.parent.parent.name for path in (tmp_path / "work" / "env").rglob("__pycache__/*.pyc")}
    # Two probes import fa_pth_lib (its own, fa-pth-app's): compiled once, in the sandbox, but its tests, which no
    # probe imports. The others are imported by their own probe alone, which compiles them as it goes.
    assert compiled == {"fa_pth_lib"}, compiled


def test_an_installed_wheel_cannot_replace_the_environments_interpreter_configuration(tmp_path):
    env = create_environment(tmp_path / "env", python=PYTHON)
    before = (env.root / "pyvenv.cfg").read_text()
    wheel = pth_wheel(tmp_path / "wheels", tmp_path / "marker")

    install(env, wheels=[wheel], use_index=False)
    install(env, requirements=["fa-pth-hook"], find_links=[wheel.parent], use_index=False)  # uv asks again

    assert (env.root / "pyvenv.cfg").read_text() == before
    assert (env.root / "bin" / "python").resolve() == Path(PYTHON).resolve()
    assert not (tmp_path / "marker").exists()


def test_a_source_build_runs_in_the_sandbox_without_network(tmp_path):
    marker = tmp_path / "built-on-the-host"
    sources = tmp_path / "sources"
    sources.mkdir()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        escape = f"""
            import socket
            try:
                open({str(marker)!r}, "w").write("the build ran on the host")
            except OSError:
                pass
            try:
                socket.create_connection({listener.getsockname()!r}, timeout=2).sendall(b"the build reached the host")
            except OSError:
                pass
        """
        build_sdist(sources, "fa-escaping-build", {"fa_escaping_build/__init__.py": ""}, before_build=escape)
        options = AuditOptions(use_index=False, timeout=10, python=PYTHON)

        report = run_audit(
            AuditInput(requirements=("fa-escaping-build",), sources=(sources,)),
            workdir=tmp_path / "work",
            store=MemoryStore(),
            options=options,
        )

        [built] = report.distributions
        assert (built.name, built.built_from_source, built.verdict) == ("fa-escaping-build", True, Verdict.SAFE)
        assert not marker.exists()
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # a connection would be waiting: it was made before the audit returned
