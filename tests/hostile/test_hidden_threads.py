"""A really unsafe package stays `unsafe` whatever it does to the bootstrap that shares its interpreter: forkaudit
counts the interpreter's threads from outside before it ends the sandbox, and the report can only add to that."""

from __future__ import annotations

import socket

import pytest

from auditor.core.findings import ProcessOnImport, ThreadOnImport, Verdict
from auditor.core.verdicts import probe_verdict
from tests.hostile.audits import audit_wheels, verdicts
from tests.wheelfactory import build_wheel

START = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
CLEAN_REPORT = (
    "{'event': 'done', 'python': '3.11.2', 'threads': [], 'native_threads': [], 'transient_native': [],"
    " 'spawns': [], 'processes': [], 'sockets': [], 'atfork': []}"
)
EVENTS = "import __main__ as b, os, json\nw = lambda e: os.write(b._out_fd, (json.dumps(e) + '\\n').encode())\n"

HIDERS = {
    "writes-a-clean-final-report-first": START + EVENTS + f"w({CLEAN_REPORT})\n",
    "replaces-the-report-function": START + f"import __main__\n__main__._report = lambda: {CLEAN_REPORT}\n",
    "lies-in-is-alive": (
        "import threading, time\n"
        "class Quiet(threading.Thread):\n"
        "    def is_alive(self):\n"
        "        return False\n"
        "Quiet(target=time.sleep, args=(60,), daemon=True).start()\n"
    ),
    "starts-it-from-an-audit-hook-while-the-report-is-written": (
        "import sys, threading, time\n"
        "started = []\n"
        "def hook(event, args):\n"
        "    if event == 'os.listdir' and args and args[0] == '/proc/self/task' and not started:\n"
        "        started.append(1)\n"
        "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "sys.addaudithook(hook)\n"
    ),
    "spells-the-thread-api-through-strings": (
        "import importlib, time\n"
        "api = getattr(importlib.import_module('thr' + 'eading'), 'Th' + 'read')\n"
        "api(target=time.sleep, args=(60,), daemon=True).start()\n"
    ),
    "starts-it-only-outside-a-sandbox-named-sandbox": (
        f"import socket, threading, time\nif socket.gethostname() == {socket.gethostname()!r}:\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    ),
    "blanks-the-blame-of-its-thread-in-the-report": (
        START + "import __main__ as b\n"
        "b._report = (lambda report: lambda: dict(report(), threads=[dict(t, module=None, origin=None, stack=[])"
        " for t in report()['threads']]))(b._report)\n"
    ),
    "starts-it-from-code-named-after-a-standard-library-file": (
        "import threading, time\n"
        "code = 'threading.Thread(target=time.sleep, args=(60,), daemon=True).start()'\n"
        "exec(compile(code, threading.__file__.replace('threading', 'hidden'), 'exec'), globals())\n"
    ),
    "forges-the-events-of-every-module-then-a-clean-report": (
        START + EVENTS + "w({'event': 'module', 'module': 'fa_hider', 'status': 'ok', 'seconds': 0.1, 'error': None})\n"
        f"w({CLEAN_REPORT})\n"
    ),
}


@pytest.mark.parametrize("trick", sorted(HIDERS))
def test_a_package_that_leaves_a_thread_alive_stays_unsafe(bench_with, trick):
    bench = bench_with({"fa-hider": {"files": {"fa_hider/__init__.py": HIDERS[trick]}}})

    result = bench.probe("fa-hider")

    assert probe_verdict(result) == Verdict.UNSAFE, result
    assert any(isinstance(f, ThreadOnImport) and f.alive_after_import for f in result.findings)


@pytest.mark.parametrize(
    "nonsense",
    [
        "'[' * 200_000",
        "json.dumps({'event': 'module', 'module': 'fa_liar', 'status': 'ok', 'seconds': 'fast', 'error': None})",
        "json.dumps({'event': 'done', 'python': '3', 'threads': [{'stack': 'x'}]})",
        '\'{"event": "done"}\\n\' * 2',
    ],
)
def test_nonsense_on_the_result_pipe_makes_the_probe_an_error_not_a_crash(bench_with, nonsense):
    source = EVENTS + f"os.write(b._out_fd, ({nonsense} + '\\n').encode())\n"
    bench = bench_with({"fa-liar": {"files": {"fa_liar/__init__.py": source}}})

    result = bench.probe("fa-liar")

    assert probe_verdict(result) == Verdict.ERROR
    assert "could not believe the probe's report" in result.modules[0].error


def test_a_thread_that_is_really_reported_is_not_also_unexplained(bench_with):
    bench = bench_with({"fa-honest": {"files": {"fa_honest/__init__.py": START}}})

    result = bench.probe("fa-honest")

    threads = [f for f in result.findings if isinstance(f, ThreadOnImport)]
    assert [(t.alive_after_import, t.unexplained, t.native) for t in threads] == [(True, False, False)]


def test_a_flood_of_tiny_events_makes_the_probe_an_error_without_holding_them_all(bench_with):
    source = EVENTS + 'os.write(b._out_fd, b\'{"event":"settle"}\\n\' * 400_000)\n'
    bench = bench_with({"fa-flood": {"files": {"fa_flood/__init__.py": source}}})

    [module] = bench.probe("fa-flood").modules

    assert module.error == "forkaudit could not believe the probe's report: more than 100000 events"


def test_the_host_counts_threads_without_a_pid_namespace_too(bench_with):
    bench = bench_with({"fa-hider": {"files": {"fa_hider/__init__.py": HIDERS["replaces-the-report-function"]}}})

    result = bench.probe("fa-hider", sandbox="none")

    assert probe_verdict(result) == Verdict.UNSAFE
    assert [f.unexplained for f in result.findings if isinstance(f, ThreadOnImport)] == [True]


def test_a_thread_blamed_on_a_dependency_whose_own_probe_shows_none_is_the_blamers(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-dependency", {"fa_dependency/__init__.py": "VALUE = 1\n"})
    blame_the_dependency = (
        "import fa_dependency, os, threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "import __main__ as b\n"
        "where = [[os.path.abspath(fa_dependency.__file__), 1, '<module>']]\n"
        "b._report = (lambda report: lambda: dict(report(), threads=[dict(t, module='fa_dependency', stack=where)"
        " for t in report()['threads']]))(b._report)\n"
    )
    build_wheel(wheels, "fa-blamer", {"fa_blamer/__init__.py": blame_the_dependency}, requires=["fa-dependency"])
    build_wheel(
        wheels,
        "fa-honest-user",
        {"fa_honest_user/__init__.py": "import fa_lib_with_thread\n"},
        requires=["fa-lib-with-thread"],
    )
    build_wheel(wheels, "fa-lib-with-thread", {"fa_lib_with_thread/__init__.py": START})

    found, store = audit_wheels(tmp_path, wheels)

    assert verdicts(found) == {
        "fa-blamer": Verdict.UNSAFE,  # its claim on fa-dependency is not borne out by fa-dependency's own probe
        "fa-dependency": Verdict.SAFE,
        "fa-honest-user": Verdict.SAFE,  # its dependency's thread is its dependency's, whose own probe shows it
        "fa-lib-with-thread": Verdict.UNSAFE,
    }
    [stored] = [r for k, r in store._results.items() if k.name == "fa-blamer"]
    assert probe_verdict(stored) == Verdict.UNSAFE


HIDDEN_CHILDREN = {
    "from-code-named-after-a-standard-library-file": (
        "import subprocess\n"
        'code = \'subprocess.Popen(["sleep", "600"])\'\n'
        "exec(compile(code, subprocess.__file__.replace('subprocess', 'hidden'), 'exec'), globals())\n"
    ),
    "struck-from-the-report": (
        "import subprocess\nsubprocess.Popen(['sleep', '600'])\n"
        "import __main__ as b\nb._spawns.clear()\nb._descendants = lambda: []\n"
    ),
}


@pytest.mark.parametrize("trick", sorted(HIDDEN_CHILDREN))
def test_a_package_that_leaves_a_child_process_running_stays_unsafe(bench_with, trick):
    bench = bench_with({"fa-parent": {"files": {"fa_parent/__init__.py": HIDDEN_CHILDREN[trick]}}})

    result = bench.probe("fa-parent")

    assert probe_verdict(result) == Verdict.UNSAFE, result
    assert any(
        isinstance(f, ProcessOnImport) and f.alive_after_import and "sleep" in f.command for f in result.findings
    )


def test_a_thread_blamed_on_a_dependency_it_never_imported_is_the_blamers_even_if_that_one_has_one(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "fa-dep-with-thread", {"fa_dep_with_thread/__init__.py": START})
    # Runs its own thread start under the dependency's file name, without importing it and without touching the
    # report: the stack says the dependency, and the dependency's own probe has a thread of that kind.
    masquerade = (
        "import importlib.util, threading, time\n"
        "origin = importlib.util.find_spec('fa_dep_with_thread').origin\n"
        "code = 'threading.Thread(target=time.sleep, args=(60,), daemon=True).start()'\n"
        "exec(compile(code, origin, 'exec'), {'threading': threading, 'time': time})\n"
    )
    build_wheel(wheels, "fa-masquerade", {"fa_masquerade/__init__.py": masquerade}, requires=["fa-dep-with-thread"])

    found, _ = audit_wheels(tmp_path, wheels)

    assert verdicts(found) == {"fa-masquerade": Verdict.UNSAFE, "fa-dep-with-thread": Verdict.UNSAFE}
