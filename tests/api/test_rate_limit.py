"""The submission rate limit of anonymous clients: by the connection's address, X-Forwarded-For only from a trusted
proxy (FORKAUDIT_TRUSTED_PROXIES)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings

from auditor.api.throttles import SubmitRateThrottle
from tests.test_settings import run_django

URL = "/api/v1/audits/"


def address(remote: str, forwarded: str | None = None, *, trusted: list[str]) -> str:
    """Who the throttle counts an anonymous request from `remote` with `forwarded` as X-Forwarded-For as."""
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    with override_settings(FORKAUDIT_TRUSTED_PROXIES=trusted):
        return SubmitRateThrottle().get_ident(RequestFactory().post(URL, REMOTE_ADDR=remote, **headers))


def submission_allowed(forwarded: str) -> bool:
    """Whether the throttle lets an anonymous submission through, from the address the test client connects from
    (127.0.0.1) with `forwarded` as X-Forwarded-For; as the web UI asks it."""
    request = RequestFactory().post(URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    request.user = AnonymousUser()
    return SubmitRateThrottle().allow_request(request, None)  # type: ignore[arg-type]


@override_settings(FORKAUDIT_SUBMIT_RATE="1/hour", FORKAUDIT_TRUSTED_PROXIES=[])
def test_anonymous_submissions_are_counted_by_the_connections_address_whatever_x_forwarded_for_says() -> None:
    assert submission_allowed("198.51.100.1")

    assert not submission_allowed("198.51.100.2")


@override_settings(FORKAUDIT_SUBMIT_RATE="1/hour", FORKAUDIT_TRUSTED_PROXIES=["127.0.0.1"])
def test_anonymous_submissions_through_a_trusted_proxy_are_counted_by_the_address_it_saw() -> None:
    assert submission_allowed("198.51.100.1")
    assert submission_allowed("198.51.100.2")  # another client behind the same proxy

    # What the client wrote itself, left of what the proxy appended, changes nothing.
    assert not submission_allowed("203.0.113.99, 198.51.100.1")


def test_client_address_is_the_connections_when_it_is_not_a_trusted_proxy() -> None:
    assert address("192.0.2.7", "198.51.100.1", trusted=[]) == "192.0.2.7"
    assert address("192.0.2.7", "198.51.100.1", trusted=["10.0.0.1"]) == "192.0.2.7"


def test_client_address_is_the_right_most_forwarded_address_that_is_not_a_trusted_proxy() -> None:
    trusted = ["10.0.0.0/8", "2001:db8::1"]

    assert address("10.0.0.2", "203.0.113.99, 198.51.100.1, 10.0.0.1", trusted=trusted) == "198.51.100.1"
    assert address("2001:db8::1", "198.51.100.1", trusted=trusted) == "198.51.100.1"
    assert address("::ffff:10.0.0.2", "198.51.100.1", trusted=trusted) == "198.51.100.1"


def test_client_address_from_a_trusted_proxy_without_x_forwarded_for_is_the_proxys() -> None:
    assert address("10.0.0.2", None, trusted=["10.0.0.2"]) == "10.0.0.2"
    assert address("10.0.0.2", "10.0.0.3, 10.0.0.4", trusted=["10.0.0.0/8"]) == "10.0.0.3"


def test_settings_refuse_a_trusted_proxy_that_is_not_an_address(tmp_path: Path) -> None:
    completed = run_django(tmp_path, FORKAUDIT_TRUSTED_PROXIES="10.0.0.1, proxy.example")

    assert completed.returncode != 0
    assert "FORKAUDIT_TRUSTED_PROXIES must list IP addresses or networks; got 'proxy.example'" in completed.stderr


def test_settings_read_trusted_proxies_as_a_list(tmp_path: Path) -> None:
    completed = run_django(
        tmp_path, "print(settings.FORKAUDIT_TRUSTED_PROXIES)", FORKAUDIT_TRUSTED_PROXIES="10.0.0.1, 172.16.0.0/12"
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "['10.0.0.1', '172.16.0.0/12']"
