"""auditor/memo.py: a kept value is computed again when the fingerprint changes, or once it is too old; a request
reads what it reads once."""

from __future__ import annotations

from auditor.memo import FingerprintMemo, RequestScopeMiddleware, once_per_request


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_a_value_is_kept_while_the_fingerprint_stays_the_same() -> None:
    fingerprint = [1]
    memo = FingerprintMemo(lambda: fingerprint[0])
    compute = Counter()

    assert memo.get("list", compute) == 1
    assert memo.get("list", compute) == 1
    fingerprint[0] = 2
    assert memo.get("list", compute) == 2
    assert memo.get("other", compute) == 3  # keys are kept apart


def test_a_value_older_than_its_age_is_computed_again() -> None:
    memo = FingerprintMemo(lambda: 1, max_age=-1)  # every value is already too old
    compute = Counter()

    memo.get("list", compute)
    memo.get("list", compute)

    assert compute.calls == 2


def test_a_value_read_once_per_request_is_read_again_by_the_next_request_and_each_time_outside_one() -> None:
    reads = Counter()

    def view(request: object) -> list[int]:
        return [once_per_request("version", reads), once_per_request("version", reads)]

    middleware = RequestScopeMiddleware(view)

    assert middleware(object()) == [1, 1]
    assert middleware(object()) == [2, 2]
    assert [once_per_request("version", reads), once_per_request("version", reads)] == [3, 4]
