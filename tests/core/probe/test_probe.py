"""The probe against real wheels built by the tests: what each package does on import, and whom it is blamed on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading

import pytest

from auditor.cli.serve import THREADS_PER_CORE
from auditor.core import pipeline
from auditor.core.background import sigint_blocked
from auditor.core.environments import file_owners, installed_distributions
from auditor.core.findings import (
    AtforkHandler,
    ForkTrial,
    ImportFailure,
    ModuleStatus,
    ProbeResult,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)
from auditor.core.pipeline import AuditOptions, analyse_distribution
from auditor.core.probe import probe_distribution as probe
from auditor.core.probe import runner
from auditor.core.probe.evidence import Attributor
from auditor.core.probe.runner import Cores
from auditor.core.probe.sandbox import sandbox_for
from auditor.core.report.describe import describe_finding, plain
from auditor.core.verdicts import probe_verdict
from tests.probes_running import probes_of, wait_for_a_probe_of


def threads(result: ProbeResult) -> list[ThreadOnImport]:
    return [f for f in result.findings if isinstance(f, ThreadOnImport)]


def test_probe_finds_a_daemon_python_thread_alive_after_import(bench):
    result = bench.probe("fa-daemon")

    assert probe_verdict(result) == Verdict.UNSAFE
    [thread] = threads(result)
    assert (thread.thread, thread.native, thread.daemon, thread.alive_after_import) == ("fa-flusher", False, True, True)
    assert (thread.module, thread.file, thread.line) == ("fa_daemon", "fa_daemon/__init__.py", 3)
    assert thread.stack[0] == "fa_daemon/__init__.py:3 in <module>"
    assert result.sandbox == "bwrap"


def test_probe_finds_a_thread_started_in_a_public_submodule(bench):
    result = bench.probe("fa-sub")

    assert probe_verdict(result) == Verdict.UNSAFE
    assert [(t.thread, t.module, t.daemon) for t in threads(result)] == [("fa-sub-worker", "fa_sub.worker", False)]
    assert [(m.name, m.status, m.top_level) for m in result.modules] == [
        ("fa_sub", ModuleStatus.OK, True),
        ("fa_sub.worker", ModuleStatus.OK, False),
    ]


def test_probe_shallow_imports_top_level_modules_only(bench):
    result = bench.probe("fa-sub", shallow=True)

    assert probe_verdict(result) == Verdict.SAFE
    assert [m.name for m in result.modules] == ["fa_sub"]


def test_probe_imports_private_modules_the_static_scan_points_at(bench):
    result = bench.probe("fa-sub", shallow=True, extra_modules=["fa_sub._private"])

    assert [(t.module, t.alive_after_import) for t in threads(result)] == [("fa_sub._private", True)]


def test_an_analysis_that_scans_while_it_probes_imports_what_the_scan_points_at(bench):
    # The scan runs beside the probe; the modules it finds starting threads, which the probe did not import (a
    # shallow probe imports fa_sub alone), are imported by a probe done again with them.
    dists = installed_distributions(bench.env)
    dist = next(d for d in dists if d.name == "fa-sub")
    result = analyse_distribution(
        dist,
        env=bench.env,
        attributor=Attributor(file_owners(bench.env, dists), bench.env.site_packages),
        sandbox=sandbox_for("bwrap"),
        options=AuditOptions(shallow=True, timeout=10, jobs=1),
    )

    assert sorted((t.module, t.alive_after_import) for t in threads(result)) == [
        ("fa_sub._private", True),
        ("fa_sub.worker", True),
    ]
    assert {f.kind for f in result.findings} >= {"runtime-thread", "thread-on-import"}  # the scan's, kept


def test_an_analysis_whose_scan_names_nothing_new_probes_once(bench, monkeypatch):
    # fa-sub, deep: the scan's modules are fa_sub.worker, which the probe imports, and fa_sub._private, which it does
    # not. fa-native's scan names nothing: one probe.
    calls = []
    monkeypatch.setattr(pipeline, "probe_distribution", lambda dist, **kw: calls.append(dist.name) or probe(dist, **kw))
    dists = installed_distributions(bench.env)
    for name in ("fa-sub", "fa-native"):
        analyse_distribution(
            next(d for d in dists if d.name == name),
            env=bench.env,
            attributor=Attributor(file_owners(bench.env, dists), bench.env.site_packages),
            sandbox=sandbox_for("bwrap"),
            options=AuditOptions(timeout=10, jobs=1),
        )

    assert calls == ["fa-sub", "fa-sub", "fa-native"]


def test_a_thread_started_by_a_function_that_another_module_calls_is_tried_at_the_fork_through_that_import(bench):
    result = bench.probe("fa-called")

    [thread] = threads(result)
    assert (thread.module, thread.trigger, thread.alive_after_import) == ("fa_called.pool", "fa_called.boot", True)
    # The fork trial imported fa_called.boot, which starts the thread again, not fa_called.pool, which starts nothing.
    assert thread.at_fork == "survived"
    [trial] = [f for f in result.findings if isinstance(f, ForkTrial)]
    assert (trial.child, trial.survived) == ("ok", 1)


def test_probe_sees_a_native_thread_that_python_does_not_know(bench):
    result = bench.probe("fa-native")

    assert probe_verdict(result) == Verdict.UNSAFE
    [thread] = threads(result)
    assert (thread.thread, thread.native, thread.alive_after_import, thread.module) == (
        "fa-native",
        True,
        True,
        "fa_native",
    )
    assert thread.mitigation == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True, "alternatives": []}


def test_probe_sees_threads_that_start_and_end_during_the_import(bench):
    result = bench.probe("fa-transient")

    assert probe_verdict(result) == Verdict.CAUTION
    found = sorted((t.native, t.thread, t.alive_after_import, t.count) for t in threads(result))
    assert found == [(False, "fa-short", False, 1), (True, "(short-lived native thread)", False, 1)]


def test_probe_does_not_blame_a_function_that_would_start_a_thread(bench):
    result = bench.probe("fa-runtime")

    assert probe_verdict(result) == Verdict.SAFE
    assert result.findings == ()


def test_probe_blames_the_imported_package_not_the_importer(bench):
    importer = bench.probe("fa-user")

    assert probe_verdict(importer) == Verdict.SAFE
    assert importer.findings == ()


def test_probe_blames_the_importer_whose_module_body_calls_into_another_package(bench):
    caller = bench.probe("fa-caller")

    [thread] = threads(caller)
    assert (thread.module, thread.file, thread.line) == ("fa_caller", "fa_caller/__init__.py", 2)
    assert thread.stack[0] == "fa_runtime/__init__.py:4 in start_background"


def test_probe_finds_every_top_level_module_from_the_record(bench):
    result = bench.probe("multi-top")

    assert probe_verdict(result) == Verdict.SAFE
    assert [(m.name, m.top_level, m.status) for m in result.modules] == [
        ("mt_one", True, ModuleStatus.OK),
        ("mt_two", True, ModuleStatus.OK),
        ("mt_two.helpers", False, ModuleStatus.OK),
    ]


def test_probe_records_at_fork_handlers(bench):
    result = bench.probe("fa-atfork")

    assert result.fork_aware is True
    assert probe_verdict(result) == Verdict.SAFE
    [handler] = [f for f in result.findings if isinstance(f, AtforkHandler)]
    assert (handler.module, handler.hooks, handler.line) == ("fa_atfork", ("after_in_child",), 6)


def test_probe_recovers_from_a_hanging_submodule_in_a_fresh_interpreter(bench):
    result = bench.probe("fa-partial", timeout=3)

    statuses = {m.name: m.status for m in result.modules}
    assert statuses == {
        "fa_partial": ModuleStatus.OK,
        "fa_partial.hang": ModuleStatus.TIMEOUT,
        "fa_partial.zthread": ModuleStatus.OK,
    }
    assert [(t.thread, t.alive_after_import) for t in threads(result)] == [("fa-after-hang", True)]
    assert [(f.module, f.reason) for f in result.findings if isinstance(f, ImportFailure)] == [
        ("fa_partial.hang", "timeout")
    ]
    assert probe_verdict(result) == Verdict.UNSAFE


def test_probe_does_not_blame_a_package_for_what_the_standard_library_does_when_imported(bench):
    # `random` registers an at-fork handler when it is first imported: that is not fa_stdlib's code.
    result = bench.probe("fa-stdlib")

    assert (result.findings, result.fork_aware) == ((), False)


def test_probe_keeps_a_packages_own_import_hook_working_and_still_measures_through_it(bench):
    result = bench.probe("fa-hook", verify_mitigations=False)

    found = sorted((t.thread, t.native, t.module) for t in threads(result))
    assert found == [("fa-hooked", True, "fa_hook._inner"), ("seen:fa_hook._inner", False, "fa_hook")]


def test_probe_does_not_wait_to_settle_when_only_a_closed_socket_was_opened(bench):
    # Nothing can change while it waits: with a settle time longer than the wall-clock limit, it must not wait.
    result = bench.probe("fa-ipv6-check", settle=60, timeout=10)

    assert [m.status for m in result.modules] == [ModuleStatus.OK]
    [sock] = [f for f in result.findings if isinstance(f, SocketOnImport)]
    assert (sock.family, sock.open_after_import, sock.module) == ("AF_INET6", False, "fa_ipv6_check")
    assert probe_verdict(result) == Verdict.SAFE


def test_probe_counts_a_program_that_failing_imports_start_again_and_again(bench):
    result = bench.probe("fa-respawn")

    assert [(m.name, m.status) for m in result.modules] == [
        ("fa_respawn", ModuleStatus.OK),
        ("fa_respawn.a", ModuleStatus.IMPORT_ERROR),
        ("fa_respawn.b", ModuleStatus.IMPORT_ERROR),
        ("fa_respawn.c", ModuleStatus.IMPORT_ERROR),
    ]
    [process] = [f for f in result.findings if isinstance(f, ProcessOnImport)]
    assert (process.command, process.count, process.alive_after_import) == ("/bin/true", 3, False)
    assert (process.module, process.file, process.line) == ("fa_respawn._lib", "fa_respawn/_lib.py", 2)
    assert "ran during import and ended (3 times)" in plain(describe_finding(process))


def _backend_package(name: str, init: str) -> dict[str, dict]:
    """A distribution whose package `name` runs `init` on import, with a sub-package and three submodules."""
    files = {f"{name}/__init__.py": init, f"{name}/sub/__init__.py": "", f"{name}/sub/deep.py": "VALUE = 3\n"}
    files.update({f"{name}/{module}.py": "VALUE = 1\n" for module in ("a", "b", "c")})
    return {name.replace("_", "-"): {"files": files}}


def test_probe_stops_importing_the_submodules_of_a_package_that_fails_each_time(bench_with):
    # Django's GIS package without GDAL: every submodule's import runs the package again, which searches for the
    # library again (ldconfig, gcc and ld each time) only to fail the same way.
    init = """
        import subprocess
        subprocess.run(["/bin/true"])
        raise ImportError("the backend library is missing")
    """
    bench = bench_with(_backend_package("fa_gis", init))

    result = bench.probe("fa-gis")

    outcomes = {m.name: (m.status, m.error) for m in result.modules}
    failure = "ImportError: the backend library is missing"
    assert outcomes["fa_gis"] == (ModuleStatus.IMPORT_ERROR, failure)
    assert outcomes["fa_gis.a"] == (ModuleStatus.IMPORT_ERROR, failure)  # the second failure: the same one
    skipped = f"not imported: its package fa_gis fails to import ({failure})"
    for module in ("fa_gis.b", "fa_gis.c", "fa_gis.sub", "fa_gis.sub.deep"):
        assert outcomes[module] == (ModuleStatus.SKIPPED, skipped)
    [process] = [f for f in result.findings if isinstance(f, ProcessOnImport)]
    assert process.count == 2  # the package ran twice, not six times
    assert [(f.module, f.reason) for f in result.findings if isinstance(f, ImportFailure)] == [
        ("fa_gis", "import-error")
    ]


def test_probe_imports_every_submodule_of_a_package_that_fails_only_once(bench_with):
    # A first failure can be one that the next import survives (here: only the first attempt fails), or one that
    # fails differently each time: then every submodule is imported, as before.
    flaky = """
        import builtins
        builtins.fa_attempts = getattr(builtins, "fa_attempts", 0) + 1
        if builtins.fa_attempts == 1:
            raise ImportError("only the first time")
    """
    changing = """
        import builtins
        builtins.fa_tries = getattr(builtins, "fa_tries", 0) + 1
        raise ImportError("attempt %d" % builtins.fa_tries)
    """
    bench = bench_with({**_backend_package("fa_flaky", flaky), **_backend_package("fa_changing", changing)})

    flaky_outcomes = {m.name: m.status for m in bench.probe("fa-flaky").modules}
    changing_outcomes = {m.name: m.status for m in bench.probe("fa-changing").modules}

    assert flaky_outcomes == {
        "fa_flaky": ModuleStatus.IMPORT_ERROR,
        **{f"fa_flaky.{m}": ModuleStatus.OK for m in ("a", "b", "c", "sub", "sub.deep")},
    }
    assert set(changing_outcomes.values()) == {ModuleStatus.IMPORT_ERROR}
    assert len(changing_outcomes) == 6


def test_probe_still_imports_the_submodules_that_a_failing_package_left_behind(bench_with):
    # The package imports its sub-package and then fails: the sub-package stays imported, and its modules import
    # without the package ever running again (Django's GEOS prototypes, whose package fails on GDAL).
    bench = bench_with(
        {
            "fa-partly": {
                "files": {
                    "fa_partly/__init__.py": "from fa_partly import sub\nraise ImportError('no backend')\n",
                    "fa_partly/a.py": "",
                    "fa_partly/b.py": "",
                    "fa_partly/sub/__init__.py": "from fa_partly.sub import early\n",
                    "fa_partly/sub/early.py": "",
                    "fa_partly/sub/late.py": "",
                }
            }
        }
    )

    outcomes = {m.name: m.status for m in bench.probe("fa-partly").modules}

    assert outcomes == {
        "fa_partly": ModuleStatus.IMPORT_ERROR,
        "fa_partly.a": ModuleStatus.IMPORT_ERROR,
        "fa_partly.b": ModuleStatus.SKIPPED,  # it would run the package again
        "fa_partly.sub": ModuleStatus.OK,
        "fa_partly.sub.early": ModuleStatus.OK,
        "fa_partly.sub.late": ModuleStatus.OK,  # its parent is imported: Python does not go further up
    }


def test_probe_gives_its_core_to_the_next_probe_while_it_waits_to_settle(bench_with):
    bench = bench_with(
        {
            "fa-waiter": {"files": {"fa_waiter/__init__.py": "import threading\nthreading.Event()\n"}},
            "fa-starter": {
                "files": {
                    "fa_starter/__init__.py": """
                        import threading, time
                        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
                    """
                }
            },
        }
    )
    events: list[tuple[str, str]] = []

    class RecordingCores(Cores):
        @contextlib.contextmanager
        def held(self):
            name = threading.current_thread().name
            with super().held() as give_back:
                events.append(("start", name))

                def recorded() -> None:
                    if ("give back", name) not in events:
                        events.append(("give back", name))
                    give_back()

                yield recorded
                events.append(("end", name))

    cores = RecordingCores(1)

    def probe(name: str) -> None:
        bench.probe(name, cores=cores, timeout=30, shallow=True, settle=5, verify_mitigations=False, fork_trial=False)

    starter = threading.Thread(target=probe, args=("fa-starter",), name="starter")
    starter.start()
    while ("start", "starter") not in events:
        threading.Event().wait(0.01)
    waiter = threading.Thread(target=probe, args=("fa-waiter",), name="waiter")
    waiter.start()
    waiter.join(timeout=60)
    starter.join(timeout=60)

    # The starter's thread made it wait 5 s; the other probe ran on its core meanwhile, not after it (and gave the
    # core back when its interpreter ended).
    assert events == [
        ("start", "starter"),
        ("give back", "starter"),
        ("start", "waiter"),
        ("give back", "waiter"),
        ("end", "waiter"),
        ("end", "starter"),
    ]


def test_probe_gives_its_core_back_when_its_interpreter_ends_before_its_sandbox_is_gone(bench, monkeypatch):
    events: list[tuple[str, str]] = []
    tear_down = runner._kill

    def slow_tear_down(process) -> None:  # a sandbox that takes a second to go away
        events.append(("tear-down begins", threading.current_thread().name))
        threading.Event().wait(1)
        tear_down(process)
        events.append(("tear-down ends", threading.current_thread().name))

    class RecordingCores(Cores):
        @contextlib.contextmanager
        def held(self):
            with super().held() as give_back:
                events.append(("core taken", threading.current_thread().name))
                yield give_back

    monkeypatch.setattr(runner, "_kill", slow_tear_down)
    cores = RecordingCores(1)

    def probe() -> None:
        bench.probe("fa-stdlib", cores=cores, shallow=True, verify_mitigations=False)

    first = threading.Thread(target=probe, name="first")
    first.start()
    while ("tear-down begins", "first") not in events:
        threading.Event().wait(0.01)
    second = threading.Thread(target=probe, name="second")
    second.start()
    first.join(60)
    second.join(60)

    # The second interpreter started on the one core while the first's sandbox was still being torn down.
    assert events.index(("core taken", "second")) < events.index(("tear-down ends", "first"))


def test_cores_let_no_more_interpreters_work_at_once_than_their_count():
    cores = Cores(1)
    second_started = threading.Event()
    waits: list[float] = []

    def second() -> None:
        with cores.held():
            second_started.set()
        waits.append(cores.waited())

    with cores.held() as give_back:
        other = threading.Thread(target=second)
        other.start()
        assert not second_started.wait(0.3)  # the one core is held
        give_back()
        assert second_started.wait(10)  # given back before the first is done: the second starts
    other.join(10)
    with cores.held():  # and every core is free again
        pass
    # What each thread waited for a core, which a probe's stored seconds leave out.
    assert waits[0] >= 0.3 and cores.waited() < 0.3


def test_the_cores_are_those_the_process_may_run_on():
    # A worker started by `taskset`, or in a cpuset, counts the cores it has, not the machine's: one core, so one
    # interpreter at a time, and two task threads.
    cpu = min(os.sched_getaffinity(0))
    code = (
        "import os\n"
        f"os.sched_setaffinity(0, {{{cpu}}})\n"
        "from auditor.core.probe.runner import available_cores\n"
        "from auditor.cli.serve import worker_threads\n"
        "print(available_cores(), worker_threads())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", str(THREADS_PER_CORE)]


def test_probe_stores_its_own_seconds_not_its_wait_for_a_core(bench):
    cores = Cores(1)
    results = []
    waiting = threading.Thread(target=lambda: results.append(bench.probe("fa-stdlib", cores=cores, shallow=True)))

    with cores.held():  # another probe holds the only core for 3 s
        waiting.start()
        threading.Event().wait(3)
    waiting.join(60)

    [result] = results
    assert [m.status for m in result.modules] == [ModuleStatus.OK]
    assert 0 < result.seconds < 3


def test_stopped_cores_stop_a_running_probe_and_start_no_other(bench_with):
    # An interrupted audit: its probes must not run on to their end (here two minutes, the timeout five).
    bench = bench_with({"fa-sleeper": {"files": {"fa_sleeper/__init__.py": "import time\ntime.sleep(120)\n"}}})
    cores = Cores(1)
    outcome: list[BaseException | ProbeResult] = []

    def probe() -> None:
        try:
            outcome.append(bench.probe("fa-sleeper", cores=cores, timeout=300, shallow=True))
        except BaseException as error:  # what the probe's thread ends with, for the assertion below
            outcome.append(error)

    running = threading.Thread(target=probe)
    running.start()
    wait_for_a_probe_of("fa_sleeper")  # asleep in the package's import
    cores.stop()
    running.join(30)

    assert not running.is_alive()
    [stopped] = outcome
    assert isinstance(stopped, runner.ProbesStopped)
    assert probes_of("fa_sleeper") == []
    with pytest.raises(runner.ProbesStopped):
        bench.probe("fa-sleeper", cores=cores, shallow=True)


def test_the_package_sees_an_ordinary_signal_mask_whatever_thread_started_its_probe(bench_with):
    # forkaudit's threads block SIGINT (so that a Ctrl-C reaches its main thread), and a started process inherits
    # the mask of the thread that started it.
    init = """
        import signal
        raise ImportError(f"blocked={sorted(signal.pthread_sigmask(signal.SIG_BLOCK, ()))}")
    """
    bench = bench_with({"fa-mask": {"files": {"fa_mask/__init__.py": init}}})
    results = []

    def probe() -> None:
        results.append(bench.probe("fa-mask", shallow=True))

    with sigint_blocked():
        thread = threading.Thread(target=probe)
        thread.start()
    thread.join(60)

    [result] = results
    [module] = result.modules
    assert module.error == "ImportError: blocked=[]"


def test_probe_counts_threads_of_one_kind_started_from_one_place_as_one_finding(bench_with):
    workers = "import threading, time\nfor _ in range(3):\n    threading.Thread(target=time.sleep, args=(9,)).start()\n"
    bench = bench_with({"fa-pool": {"files": {"fa_pool/__init__.py": workers}}})

    result = bench.probe("fa-pool")

    [threads] = [f for f in result.findings if isinstance(f, ThreadOnImport)]
    assert (threads.count, threads.alive_after_import, threads.line) == (3, True, 3)
