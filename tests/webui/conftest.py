"""Fixtures of the web UI tests: logged-in clients, fresh rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client


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
