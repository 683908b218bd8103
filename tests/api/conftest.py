"""Fixtures of the API tests: clients with and without tokens, and a clean rate-limit count per test.

Django is imported inside the fixtures: pytest loads this file before tests/conftest.py has set Django up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Throttle counts live in the cache, keyed by user id; ids come back after a test's rollback."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anonymous() -> APIClient:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """An API client that sends `user`'s token, as CI scripts do."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user: User) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
