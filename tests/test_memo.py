"""auditor/memo.py: a kept value is computed again when the fingerprint changes, or once it is too old."""

from __future__ import annotations

from auditor.memo import FingerprintMemo


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
