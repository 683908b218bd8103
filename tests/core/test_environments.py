from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import pytest

from auditor.core import environments
from auditor.core.environments import (
    InstalledDistribution,
    create_environment,
    import_names,
    interpreter_info,
    is_test_code,
    module_name,
)
from auditor.core.pipeline import default_python
from auditor.core.probe.sandbox import Limits, run_confined, sandbox_for


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


def test_import_names_leave_out_the_scripts_and_data_a_target_install_puts_beside_the_packages():
    top, subs = import_names(
        dist(
            "xlsxwriter/__init__.py",
            "xlsxwriter/worksheet.py",
            "bin/vba_extract.py",  # a console script: it exits when run
            "include/site/python3.11/pkg/header.py",
            "share/jupyter/config.py",
            "etc/tool/settings.py",
        )
    )

    assert (top, subs) == (["xlsxwriter"], ["xlsxwriter.worksheet"])


def test_a_real_package_named_like_a_scheme_directory_is_still_probed():
    assert import_names(dist("bin/__init__.py", "bin/tool.py")) == (["bin"], ["bin.tool"])


def test_import_names_descend_through_namespace_packages():
    top, subs = import_names(dist("google/protobuf/__init__.py", "google/protobuf/message.py"))

    assert (top, subs) == (["google.protobuf"], ["google.protobuf.message"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("numpy/linalg/tests/test_linalg.py", True),
        ("pkg/testing/helpers.py", True),
        ("platformdirs/testing.py", True),
        ("pkg/conftest.py", True),
        ("setup.py", True),
        ("pkg/_private.py", False),
        ("pkg/tests_helpers.py", False),
        ("pkg/__main__.py", False),
    ],
)
def test_is_test_code(path, expected):
    assert is_test_code(path) is expected


def fake_interpreter(path: Path, version: str) -> Path:
    """A script that answers interpreter_info's question the way an interpreter of `version` would."""
    log = path.with_name("asked")  # a line per question
    path.write_text(f'#!/bin/sh\necho >> {log}\necho \'["/opt/fake", "{version}", "linux-fake"]\'\n')
    path.chmod(0o755)
    return path


def test_interpreter_info_asks_an_interpreter_file_once_and_a_replaced_one_again(tmp_path: Path) -> None:
    python = fake_interpreter(tmp_path / "python", "3.11.7")
    assert interpreter_info(python).version == "3.11.7"
    assert interpreter_info(python).version == "3.11.7"
    assert (tmp_path / "asked").read_text().count("\n") == 1

    # Upgraded in place: a new file at the same path (install(1) and package managers replace, never rewrite).
    replacement = fake_interpreter(tmp_path / "python.new", "3.11.8")
    replacement.replace(python)

    assert interpreter_info(python).version == "3.11.8"
    assert (tmp_path / "asked").read_text().count("\n") == 2


def test_interpreter_info_of_a_link_is_its_target_s(tmp_path: Path) -> None:
    python = fake_interpreter(tmp_path / "python3.11", "3.11.7")
    (tmp_path / "python").symlink_to(python)

    assert interpreter_info(tmp_path / "python") == interpreter_info(python)


@pytest.mark.parametrize("given", ["the interpreter", "a wrapper script"])
def test_a_new_environment_is_a_virtual_environment_of_its_interpreter(tmp_path: Path, given: str) -> None:
    # Written by forkaudit, not by `uv venv`: run in the sandbox, its interpreter must take the environment for its
    # prefix, with its own site-packages on the path and not those of the interpreter it was made from. A wrapper
    # (a pyenv shim) is not what the environment links to: the interpreter it runs is.
    python = default_python()
    if given == "a wrapper script":
        wrapper = tmp_path / "python-wrapper"
        wrapper.write_text(f'#!/bin/sh\nexec {python} "$@"\n')
        wrapper.chmod(0o755)
        python = str(wrapper)
    umask = os.umask(0o077)  # an operator's strict umask: the sandbox's user must still read the environment
    try:
        env = create_environment(tmp_path / "env", python=python)
    finally:
        os.umask(umask)
    env.site_packages.joinpath("marker_module.py").write_text("")
    script = "import json, sys, marker_module; print(json.dumps([sys.prefix, sys.base_prefix, sys.path]))"
    done = run_confined(
        [str(env.python), "-c", script], sandbox=sandbox_for("bwrap"), binds=env.sandbox_binds, limits=Limits()
    )
    assert done.ok, done.output
    prefix, base_prefix, path = json.loads(done.output.splitlines()[-1])
    assert (prefix, base_prefix) == (str(env.root), str(interpreter_info(python).base_prefix))
    assert str(env.site_packages) in path
    assert sysconfig.get_paths()["purelib"] not in path  # this process's site-packages (forkaudit's own)

    with pytest.raises(OSError):
        create_environment(tmp_path / "env", python=python)  # never over an existing directory


def test_an_interpreter_that_does_not_answer_is_an_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environments, "ASK_SECONDS", 0.2)
    hanging = tmp_path / "python"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    with pytest.raises(OSError, match="did not answer within 0.2 s"):
        interpreter_info(hanging)


def test_module_files_are_only_those_inside_site_packages():
    # RECORD is the wheel's own text: a path out of site-packages names no module of it (the scan, the compile and
    # the probe plan would otherwise read the host's files).
    listed = dist("pkg/__init__.py", "/usr/lib/python3.11/os.py", "pkg/../../etc/x.py", "../../bin/tool.py", "pkg/a.py")
    assert listed.module_files() == ["pkg/__init__.py", "pkg/a.py"]
