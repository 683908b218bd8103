from __future__ import annotations

import pytest

from auditor.core.environments import InstalledDistribution, import_names, is_test_code, module_name


def dist(*files: str) -> InstalledDistribution:
    return InstalledDistribution("x", "x", "1", "py3-none-any", files)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("pkg/__init__.py", "pkg"),
        ("pkg/sub/mod.py", "pkg.sub.mod"),
        ("six.py", "six"),
        ("_yaml/_cext.cpython-311-x86_64-linux-gnu.so", "_yaml._cext"),
        ("fast.abi3.so", "fast"),
        ("pkg/data.json", None),
        ("pkg-1.0.data/scripts/tool.py", None),
    ],
)
def test_module_name_follows_the_file_layout(path, name):
    assert module_name(path) == name


def test_import_names_come_from_the_record_not_the_project_name():
    top, subs = import_names(dist("mt_one.py", "mt_two/__init__.py", "mt_two/helpers.py", "x-1.dist-info/RECORD"))

    assert (top, subs) == (["mt_one", "mt_two"], ["mt_two.helpers"])


def test_import_names_skip_private_and_test_modules_but_keep_private_top_levels():
    top, subs = import_names(
        dist(
            "pkg/__init__.py",
            "pkg/_impl.py",
            "pkg/api/__init__.py",
            "pkg/api/_hidden/mod.py",
            "pkg/tests/test_api.py",
            "pkg/testing.py",
            "pkg/__main__.py",
            "pkg/conftest.py",
            "_pkg_speedups.cpython-311-x86_64-linux-gnu.so",
        )
    )

    assert top == ["_pkg_speedups", "pkg"]
    assert subs == ["pkg.api"]


def test_import_names_descend_through_namespace_packages():
    top, subs = import_names(dist("google/protobuf/__init__.py", "google/protobuf/message.py"))

    assert (top, subs) == (["google.protobuf"], ["google.protobuf.message"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("numpy/linalg/tests/test_linalg.py", True),
        ("pkg/testing/helpers.py", True),
        ("pkg/conftest.py", True),
        ("setup.py", True),
        ("pkg/_private.py", False),
        ("pkg/tests_helpers.py", False),
        ("pkg/__main__.py", False),
    ],
)
def test_is_test_code(path, expected):
    assert is_test_code(path) is expected
