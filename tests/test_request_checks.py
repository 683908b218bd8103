"""What the API and the web views check of a request alike (auditor/request_checks.py)."""

from __future__ import annotations

import pytest

from auditor.request_checks import UploadRefused, check_upload_length, is_package_name, is_version


@pytest.mark.parametrize("name", ["numpy", "Flask-SQLAlchemy", "a", "zope.interface", "typing_extensions"])
def test_package_names_are_accepted(name: str) -> None:
    assert is_package_name(name)


@pytest.mark.parametrize("name", ["", "numpy\n", "-numpy", "numpy-", "num py", "numpy/../x", "é"])
def test_what_is_not_a_package_name_is_refused(name: str) -> None:
    assert not is_package_name(name)


def test_a_version_is_any_short_printable_text_but_no_control_character() -> None:
    assert is_version("2.0.0rc1+local")
    assert not is_version("1.0\n")
    assert not is_version("")
    assert not is_version("1" * 101)


@pytest.mark.parametrize(("length", "status"), [("abc", 400), ("-1", 400), ("2049", 413)])
def test_an_upload_is_refused_from_its_declared_length(length: str, status: int) -> None:
    with pytest.raises(UploadRefused) as refused:
        check_upload_length({"CONTENT_LENGTH": length}, 2048)
    assert refused.value.status == status


def test_an_upload_within_the_limit_or_without_a_length_passes() -> None:
    check_upload_length({"CONTENT_LENGTH": "2048"}, 2048)
    check_upload_length({}, 2048)
