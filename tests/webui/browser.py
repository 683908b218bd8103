"""Debian's Chromium driven by Playwright against pytest-django's live server, for the browser tests.

Needs the apt package `chromium` (never `playwright install`, which downloads browsers). Set
FORKAUDIT_SCREENSHOTS=<dir> to keep a screenshot of each page the tests look at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# No skipping: `scripts/setup --test` installs both, and a browser test that does not run is not a pass.
import playwright.sync_api as playwright_sync
import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
expect = playwright_sync.expect


@contextlib.contextmanager
def open_page(monkeypatch: pytest.MonkeyPatch, viewport: dict[str, int]) -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; Django refuses database access from a thread with a
    # running loop unless told that this is safe (it is: the test itself is synchronous).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
            # While a loop runs, Django keeps this thread's connections in a context variable instead of its
            # thread-local storage, where its teardown looks: close them here, or PostgreSQL refuses to drop the
            # test database ("being accessed by other users").
            connections.close_all()


def log_in(page: Any, live_server: Any, user: User) -> None:
    """Give the browser `user`'s session cookie, as if they had logged in."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def screenshot(page: Any, name: str) -> None:
    directory = os.environ.get("FORKAUDIT_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)
