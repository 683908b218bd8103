"""Work that runs while the caller goes on: waiting on the network or on another process, or importing."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any


def in_background(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """`function(*args)` in a daemon thread; its result or exception comes out of the returned future.

    Daemon, unlike a ThreadPoolExecutor's threads: a caller that fails meanwhile does not wait for it at exit. It
    never takes a Ctrl-C (see `sigint_blocked`).
    """
    future: Future[Any] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    thread = threading.Thread(target=run, name=f"forkaudit-{getattr(function, '__name__', 'background')}", daemon=True)
    with sigint_blocked():
        thread.start()
    return future


class ThreadPool(ThreadPoolExecutor):
    """A thread pool whose threads never take a Ctrl-C (see `sigint_blocked`): the caller's thread gets it."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with sigint_blocked():  # threads start here, as they are needed
            return super().submit(fn, *args, **kwargs)


class SpawnPool(ProcessPoolExecutor):
    """A process pool whose workers are started by spawn, never by fork (the caller runs threads, and forking then is
    the very bug forkaudit finds), all at once, and never see a Ctrl-C.

    All at once: a pool otherwise starts a worker only when a task finds none idle, and every user of this one wants
    its workers ready (`initializer` run: libcst or pip-audit imported) by the time it has work for them.

    A Ctrl-C in a terminal interrupts the whole foreground process group: without this, every worker (and one still
    starting up) printed a traceback of its own under the CLI's "interrupted". The caller handles the interrupt; the
    workers end when the pool shuts down.
    """

    def __init__(self, workers: int, initializer: Callable[[], object] | None = None) -> None:
        with sigint_blocked():  # the pool's resource tracker starts here
            spawn = multiprocessing.get_context("spawn")
            super().__init__(max_workers=workers, mp_context=spawn, initializer=initializer)
        for _ in range(workers):
            self.submit(int)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with sigint_blocked():  # workers start here, as they are needed
            return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread: a thread or process started meanwhile keeps that signal mask for good (exec keeps
    it, and Python never unblocks it), while this process still gets the signal in any other thread.

    Every thread the CLI starts is started so, for a Ctrl-C to reach the main thread: only that thread runs Python's
    signal handlers. Another thread that takes the signal only flags it, and a main thread waiting on a lock meanwhile
    (for the next probe's result) sees the flag only once the lock is released: an interrupted audit went on until its
    running probes ended. A signal that arrives while this block runs waits, and is raised when it ends.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
