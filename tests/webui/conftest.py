"""Fixtures of the web UI tests: logged-in clients, local mode and its launch session, fresh rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client
    from pytest_django.fixtures import SettingsWrapper

LAUNCH_TOKEN = "the-launch-token-of-the-web-ui-tests-0123456789"


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Submission counts live in the cache, keyed by user id; ids come back after a test's rollback."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """A browser-like client with `user` logged in (a session cookie, as the web UI uses)."""
    from django.test import Client

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def local_mode(settings: SettingsWrapper) -> str:
    """Local mode as `forkaudit serve` on loopback runs it; this launch's token."""
    settings.FORKAUDIT_LOCAL_MODE = True
    settings.FORKAUDIT_LAUNCH_TOKEN = LAUNCH_TOKEN
    return LAUNCH_TOKEN


@pytest.fixture
def launched(local_mode: str) -> Client:
    """The browser of the user who started the server: it opened the launch URL that `serve` printed."""
    from django.test import Client

    client = Client()
    assert client.get(f"/?token={local_mode}").status_code == 302
    return client
