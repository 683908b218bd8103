"""Native threads named by the shared library they run in, seen from outside the probe, and what a real fork does
to them (the fork trial): libraries built here with the machine's C compiler, bundled in wheels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.core.findings import ForkTrial, ThreadOnImport, Verdict
from auditor.core.probe.libraries import recognise
from auditor.core.verdicts import finding_verdict, probe_verdict
from tests.core.probe.conftest import ProbeBench, make_bench

# A thread pool of one worker that sleeps in libc, as OpenBLAS's does between calls; OPENBLAS_NUM_THREADS=1 or
# OMP_NUM_THREADS=1 keeps it from starting, as they do OpenBLAS's.
POOL_C = r"""
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *pool_worker(void *unused) {
    for (;;)
        pause();
    return unused;
}

static int is_one(const char *name) {
    const char *value = getenv(name);
    return value && strcmp(value, "1") == 0;
}

int start_pool(void) {
    pthread_t thread;
    if (is_one("OPENBLAS_NUM_THREADS") || is_one("OMP_NUM_THREADS"))
        return 0;
    return pthread_create(&thread, NULL, pool_worker, NULL);
}
"""

# A pool whose library stops it before a fork, in a native at-fork handler, as OpenBLAS does (invisible to
# os.register_at_fork).
FORK_AWARE_POOL_C = r"""
#include <pthread.h>
#include <unistd.h>

static int wake[2];
static pthread_t worker;

static void *pool_worker(void *unused) {
    char byte;
    while (read(wake[0], &byte, 1) < 0)
        ;
    return unused;
}

static void stop_pool(void) {
    char byte = 0;
    if (write(wake[1], &byte, 1) == 1)
        pthread_join(worker, NULL);
}

int start_pool(void) {
    if (pipe(wake) != 0)
        return -1;
    pthread_atfork(stop_pool, NULL, NULL);
    return pthread_create(&worker, NULL, pool_worker, NULL);
}
"""

# Two pools of one library, each with its own switch: a knob that stops one must not be judged by the other.
TWO_POOLS_C = r"""
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *pool_worker(void *unused) {
    for (;;)
        pause();
    return unused;
}

static void start(const char *switch_name, const char *thread_name) {
    const char *value = getenv(switch_name);
    pthread_t thread;
    if (value && strcmp(value, "1") == 0)
        return;
    if (pthread_create(&thread, NULL, pool_worker, NULL) == 0)
        pthread_setname_np(thread, thread_name);
}

int start_pool(void) {
    start("OPENBLAS_NUM_THREADS", "fa-blas-pool");
    start("OMP_NUM_THREADS", "fa-omp-pool");
    return 0;
}
"""

LOAD = """
import ctypes, os
LIB = ctypes.CDLL(os.path.join(os.path.dirname(__file__), {file!r}))
"""


def shared_library(directory: Path, code: str = POOL_C, name: str = "pool") -> bytes:
    source = directory / f"{name}.c"
    source.write_text(code)
    library = directory / f"{name}.so"
    subprocess.run(["gcc", "-O0", "-shared", "-fPIC", "-o", library, source, "-lpthread"], check=True)
    return library.read_bytes()


@pytest.fixture(scope="module")
def native_bench(tmp_path_factory: pytest.TempPathFactory) -> ProbeBench:
    directory = tmp_path_factory.mktemp("native")
    library = shared_library(directory)
    packages = {
        # A bundled library whose file name is OpenBLAS's, started on import as numpy's is.
        "fa-blas": {
            "files": {
                "fa_blas/__init__.py": LOAD.format(file="libopenblas_fa.so") + "LIB.start_pool()\n",
                "fa_blas/libopenblas_fa.so": library,
            }
        },
        # A library of no known name, whose thread starts while a standard-library module loads (polars' jemalloc
        # thread appeared while `weakref` loaded): a trace hook starts it from inside `colorsys`'s body.
        "fa-lazy": {
            "files": {
                "fa_lazy/__init__.py": LOAD.format(file="libfapool.so")
                + """
import sys

def start_in_colorsys(frame, event, arg):
    if frame.f_code.co_filename.endswith("colorsys.py"):
        sys.settrace(None)
        LIB.start_pool()

sys.modules.pop("colorsys", None)
sys.settrace(start_in_colorsys)
import colorsys
sys.settrace(None)
""",
                "fa_lazy/libfapool.so": library,
            }
        },
        "fa-fork-aware": {
            "files": {
                "fa_fork_aware/__init__.py": LOAD.format(file="libfaaware.so") + "LIB.start_pool()\n",
                "fa_fork_aware/libfaaware.so": shared_library(directory, FORK_AWARE_POOL_C, "aware"),
            }
        },
        "fa-two-pools": {
            "files": {
                "fa_two_pools/__init__.py": LOAD.format(file="libfatwo.so") + "LIB.start_pool()\n",
                "fa_two_pools/libfatwo.so": shared_library(directory, TWO_POOLS_C, "two"),
            }
        },
        # A thread that holds a lock for good, and an at-fork hook that takes it in the child: the child hangs.
        "fa-fork-hang": {
            "files": {
                "fa_fork_hang/__init__.py": """
                    import os, threading
                    LOCK = threading.Lock()
                    HELD = threading.Event()

                    def hold():
                        LOCK.acquire()
                        HELD.set()
                        threading.Event().wait()

                    threading.Thread(target=hold, name="fa-holder", daemon=True).start()
                    HELD.wait()
                    os.register_at_fork(after_in_child=LOCK.acquire)
                """
            }
        },
    }
    return make_bench(directory, packages)


def live_native_threads(result) -> list[ThreadOnImport]:
    return [f for f in result.findings if isinstance(f, ThreadOnImport) and f.native and f.alive_after_import]


def test_a_native_thread_is_named_by_the_library_it_runs_in_and_its_knobs_verified(native_bench: ProbeBench):
    result = native_bench.probe("fa-blas")

    [thread] = live_native_threads(result)
    assert thread.library == "OpenBLAS"
    assert thread.library_file == "fa_blas/libopenblas_fa.so"
    assert thread.module == "fa_blas"
    # Both of OpenBLAS's knobs in the catalogue work: the first is the mitigation, the other an alternative (one
    # OMP_NUM_THREADS=1 may cover this and another library's threads at once).
    assert thread.mitigation == {
        "env": {"OPENBLAS_NUM_THREADS": "1"},
        "verified": True,
        "alternatives": [{"OMP_NUM_THREADS": "1"}],
    }


def test_a_thread_started_while_the_standard_library_loads_is_placed_at_the_import_that_started_it(
    native_bench: ProbeBench,
):
    result = native_bench.probe("fa-lazy")

    [thread] = live_native_threads(result)
    assert thread.library is None  # no well-known library: the file says where it runs
    assert thread.library_file == "fa_lazy/libfapool.so"
    assert thread.module == "fa_lazy"  # not `colorsys`, the module that happened to be loading
    # No knob of its own: the fallback list is tried, and the first that works, in its order, is the mitigation.
    assert thread.mitigation == {"env": {"OPENBLAS_NUM_THREADS": "1"}, "verified": True, "alternatives": []}


def test_well_known_libraries_are_recognised_by_file_or_by_the_name_their_threads_take():
    assert recognise("/env/numpy.libs/libscipy_openblas64_-32a4b2a6.so", "python").name == "OpenBLAS"
    assert recognise("/env/pyarrow/libarrow.so.2600", "jemalloc_bg_thd").name == "jemalloc"
    assert recognise("/usr/lib/x86_64-linux-gnu/libgomp.so.1", "python").name == "GNU OpenMP (libgomp)"
    assert recognise("/env/ddtrace/internal/native/_native.so", "tokio-rt-worker").name == "tokio (Rust async runtime)"
    assert recognise("/env/fa/libsomething.so", "python") is None
    assert recognise(None, None) is None


def fork_trial(result) -> ForkTrial:
    [trial] = [f for f in result.findings if isinstance(f, ForkTrial)]
    return trial


def test_a_thread_its_library_stops_at_fork_is_caution_and_the_distribution_fork_aware(native_bench: ProbeBench):
    result = native_bench.probe("fa-fork-aware")

    [thread] = live_native_threads(result)
    assert thread.at_fork == "stopped"
    assert result.fork_aware  # natively: no os.register_at_fork was called
    assert (fork_trial(result).child, fork_trial(result).stopped, fork_trial(result).survived) == ("ok", 1, 0)
    assert probe_verdict(result) == Verdict.CAUTION


def test_a_thread_that_runs_across_the_fork_stays_unsafe(native_bench: ProbeBench):
    result = native_bench.probe("fa-blas")

    [thread] = live_native_threads(result)
    assert thread.at_fork == "survived"
    assert not result.fork_aware
    assert (fork_trial(result).child, fork_trial(result).stopped, fork_trial(result).survived) == ("ok", 0, 1)
    assert probe_verdict(result) == Verdict.UNSAFE


def test_a_child_that_hangs_after_the_fork_is_unsafe_and_said_so(native_bench: ProbeBench):
    result = native_bench.probe("fa-fork-hang")

    assert fork_trial(result).child == "hung"
    assert finding_verdict(fork_trial(result)) == Verdict.UNSAFE
    assert probe_verdict(result) == Verdict.UNSAFE


def test_the_fork_trial_can_be_left_out(native_bench: ProbeBench):
    result = native_bench.probe("fa-blas", fork_trial=False)
    assert not [f for f in result.findings if isinstance(f, ForkTrial)]


def test_each_of_two_threads_of_one_module_gets_the_knob_that_stops_it(native_bench: ProbeBench):
    result = native_bench.probe("fa-two-pools", fork_trial=False)

    knobs = {t.thread: t.mitigation["env"] for t in live_native_threads(result) if t.mitigation}
    assert knobs == {"fa-blas-pool": {"OPENBLAS_NUM_THREADS": "1"}, "fa-omp-pool": {"OMP_NUM_THREADS": "1"}}
