"""Work that runs while the caller goes on: waiting on the network or on another process, or importing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


def in_background(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """`function(*args)` in a daemon thread; its result or exception comes out of the returned future.

    Daemon, unlike a ThreadPoolExecutor's threads: a caller that fails meanwhile does not wait for it at exit.
    """
    future: Future[Any] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=run, name=f"forkaudit-{getattr(function, '__name__', 'background')}", daemon=True).start()
    return future
