"""Work beside the caller: daemon threads, and process pools whose workers a Ctrl-C does not reach."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from auditor.core.background import SpawnPool, ThreadPool, in_background, sigint_blocked


def blocked_signals() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, set()))


def test_in_background_hands_over_the_result_and_the_exception() -> None:
    assert in_background(sum, [1, 2, 3]).result(timeout=10) == 6
    with pytest.raises(ZeroDivisionError):
        in_background(divmod, 1, 0).result(timeout=10)


def test_in_background_runs_in_a_daemon_thread() -> None:
    thread = in_background(threading.current_thread).result(timeout=10)

    assert thread.daemon
    assert thread is not threading.main_thread()


def test_spawn_pool_workers_never_get_sigint_and_the_caller_still_does() -> None:
    with SpawnPool(1) as pool:
        worker_pid, worker_blocked = pool.submit(os.getpid).result(timeout=60), pool.submit(blocked_signals).result(60)

    assert worker_pid != os.getpid()
    assert signal.SIGINT in worker_blocked
    assert signal.SIGINT not in blocked_signals()


SET_IN_THE_PARENT: list[str] = []


def what_the_parent_set() -> list[str]:
    return SET_IN_THE_PARENT


def test_spawn_pool_workers_are_spawned_not_forked() -> None:
    # A forked worker would be a copy of this process, with the list as the test left it; a spawned one imports this
    # module afresh.
    SET_IN_THE_PARENT.append("only here")
    try:
        with SpawnPool(1) as pool:
            assert pool.submit(what_the_parent_set).result(timeout=60) == []
    finally:
        SET_IN_THE_PARENT.clear()


def test_spawn_pool_starts_all_its_workers_at_once() -> None:
    with SpawnPool(2):
        started = len(multiprocessing.active_children())

    assert started == 2


def test_in_background_threads_leave_a_ctrl_c_to_the_caller() -> None:
    # Python runs signal handlers in the main thread only: a Ctrl-C taken by another thread is noticed only when the
    # main thread next runs Python code, which may be once the probe it waits for has ended.
    assert signal.SIGINT in in_background(blocked_signals).result(timeout=10)
    assert signal.SIGINT not in blocked_signals()


def test_thread_pool_threads_leave_a_ctrl_c_to_the_caller() -> None:
    with ThreadPool(max_workers=2) as pool:
        assert all(signal.SIGINT in blocked for blocked in pool.map(lambda _: blocked_signals(), range(4)))
    assert signal.SIGINT not in blocked_signals()


def test_a_sigint_that_arrives_while_blocked_is_raised_when_the_block_ends(ctrl_c_interrupts) -> None:
    with pytest.raises(KeyboardInterrupt):
        with sigint_blocked():
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            assert signal.SIGINT in signal.sigpending()
    assert signal.SIGINT not in blocked_signals()
