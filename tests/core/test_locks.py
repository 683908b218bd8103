"""Lock files as input: each format read into exact pins for an interpreter, refusals and malformed files named."""

from __future__ import annotations

import json
import re
import sys

import pytest

from auditor.core.inputs import (
    MAX_REQUIREMENTS_FILE_BYTES,
    InputError,
    includes,
    parse_requirements,
    read_requirement_files,
)
from auditor.core.inputs.locks import MAX_LOCK_FILE_BYTES, is_lock_file, marker_environment, parse_lock
from auditor.core.pipeline import AuditInput, AuditOptions, resolve_input
from auditor.core.resolve import ResolutionError
from tests.lockfactory import uv_export_pylock, uv_lock
from tests.wheelfactory import build_wheel

LINUX = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "python_version": "3.11",
    "sys_platform": "linux",
}
WINDOWS = {**LINUX, "os_name": "nt", "platform_system": "Windows", "sys_platform": "win32"}
PYTHON_312 = {**LINUX, "python_full_version": "3.12.1", "python_version": "3.12"}

UV_LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "requests", extra = ["socks"] },
    { name = "tomli", marker = "python_full_version < '3.12'" },
]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "pysocks"
version = "1.7.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pytest"
version = "8.3.4"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "colorama", marker = "sys_platform == 'win32'" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "requests"
version = "2.32.3"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "urllib3" }]

[package.optional-dependencies]
socks = [{ name = "pysocks" }]

[[package]]
name = "tomli"
version = "2.2.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "urllib3"
version = "2.3.0"
source = { registry = "https://pypi.org/simple" }
"""


def with_source(text: str, package: str, source: str) -> str:
    """`text` (a uv.lock) with `package`'s source replaced."""
    pattern = rf'(name = "{package}"\nversion = "[^"]*"\nsource = )\{{[^}}]*\}}'
    replaced = re.sub(pattern, lambda found: found.group(1) + source, text)
    assert replaced != text
    return replaced


def test_uv_lock_pins_what_the_project_requires_with_its_markers_and_extras():
    lock = parse_lock("uv.lock", UV_LOCK)

    selected = lock.select(LINUX)

    assert selected.requirements == ("pysocks==1.7.1", "requests[socks]==2.32.3", "tomli==2.2.1", "urllib3==2.3.0")
    assert selected.direct == {"requests", "tomli"}  # the editable project itself is skipped
    assert selected.edges == {("requests", "urllib3"), ("requests", "pysocks")}
    assert "tomli==2.2.1" not in lock.select(PYTHON_312).requirements


def test_uv_lock_dev_groups_only_when_asked():
    assert "pytest==8.3.4" not in parse_lock("uv.lock", UV_LOCK).select(LINUX).requirements

    dev = parse_lock("uv.lock", UV_LOCK, dev=True)

    assert {"pytest==8.3.4"} <= set(dev.select(LINUX).requirements)
    assert "colorama==0.4.6" not in dev.select(LINUX).requirements
    assert "colorama==0.4.6" in dev.select(WINDOWS).requirements


def test_uv_lock_picks_the_version_a_dependency_names_among_several():
    text = """\
version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "numpy", version = "2.2.6", source = { registry = "x" }, marker = "python_full_version < '3.11'" },
    { name = "numpy", version = "2.3.1", source = { registry = "x" }, marker = "python_full_version >= '3.11'" },
]

[[package]]
name = "numpy"
version = "2.2.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "numpy"
version = "2.3.1"
source = { registry = "https://pypi.org/simple" }
"""
    assert parse_lock("uv.lock", text).select(LINUX).requirements == ("numpy==2.3.1",)


PYLOCK = """\
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"
default-groups = ["default"]
dependency-groups = ["default", "dev"]

[[packages]]
name = "attrs"
version = "25.1.0"
index = "https://pypi.org/simple"
wheels = [{ url = "https://files.pythonhosted.org/attrs-25.1.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "pywin32"
version = "308"
marker = "sys_platform == 'win32'"
index = "https://pypi.org/simple"

[[packages]]
name = "pytest"
version = "8.3.4"
marker = "'dev' in dependency_groups"
index = "https://pypi.org/simple"

[[packages]]
name = "app"
directory = { path = ".", editable = true }
"""


def test_pylock_pins_every_package_whose_marker_holds():
    assert parse_lock("pylock.toml", PYLOCK).select(LINUX).requirements == ("attrs==25.1.0",)
    assert parse_lock("pylock.toml", PYLOCK).select(WINDOWS).requirements == ("attrs==25.1.0", "pywin32==308")
    assert "pytest==8.3.4" in parse_lock("pylock.prod.toml", PYLOCK, dev=True).select(LINUX).requirements


def test_pylock_says_nothing_of_direct_requirements_so_they_are_the_graph_roots():
    selected = parse_lock("pylock.toml", PYLOCK).select(LINUX)

    pins = {"a": "1", "b": "1", "c": "1", "d": "1", "e": "1"}
    edges = {("a", "b"), ("b", "c"), ("d", "e"), ("e", "d")}  # a cycle that nothing leads to

    assert selected.direct is None
    assert selected.direct_of(pins, edges) == {"a", "d"}


POETRY_2 = """\
# This file is automatically @generated by Poetry 2.1.1 and should not be changed by hand.

[[package]]
name = "certifi"
version = "2025.1.31"
description = "Python package for providing Mozilla's CA Bundle."
optional = false
python-versions = ">=3.6"
groups = ["main"]
files = [{file = "certifi-2025.1.31-py3-none-any.whl", hash = "sha256:00"}]

[[package]]
name = "colorama"
version = "0.4.6"
optional = false
python-versions = "*"
groups = ["main", "dev"]
markers = {main = "platform_system == \\"Windows\\"", dev = "sys_platform == \\"win32\\""}
files = []

[[package]]
name = "pytest"
version = "8.3.4"
optional = false
python-versions = ">=3.8"
groups = ["dev"]
files = []

[package.dependencies]
colorama = {version = "*", markers = "sys_platform == \\"win32\\""}

[metadata]
lock-version = "2.1"
python-versions = "^3.11"
content-hash = "0"
"""

POETRY_1 = """\
[[package]]
name = "requests"
version = "2.32.3"
description = "Python HTTP for Humans."
optional = false
python-versions = ">=3.8"
files = []

[package.dependencies]
charset-normalizer = [
    {version = "<3", markers = "python_version < \\"3.12\\""},
    {version = ">=3", markers = "python_version >= \\"3.12\\""},
]
PySocks = {version = ">=1.5.6,!=1.5.7", optional = true}
pywin32 = {version = "*", markers = "sys_platform == \\"win32\\""}

[package.extras]
socks = ["PySocks (>=1.5.6,!=1.5.7)"]

[[package]]
name = "charset-normalizer"
version = "2.1.1"
optional = false
python-versions = "*"
files = []

[[package]]
name = "charset-normalizer"
version = "3.4.1"
optional = false
python-versions = "*"
files = []

[[package]]
name = "pywin32"
version = "308"
optional = false
python-versions = "*"
files = []

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "0"
"""


def test_poetry_2_lock_pins_the_main_group_by_its_markers():
    lock = parse_lock("poetry.lock", POETRY_2)

    assert lock.select(LINUX).requirements == ("certifi==2025.1.31",)
    assert lock.select(WINDOWS).requirements == ("certifi==2025.1.31", "colorama==0.4.6")
    assert "pytest==8.3.4" in parse_lock("poetry.lock", POETRY_2, dev=True).select(LINUX).requirements


def test_poetry_1_lock_follows_its_edges_with_their_markers_and_version_ranges():
    lock = parse_lock("poetry.lock", POETRY_1)

    assert lock.select(LINUX).requirements == ("charset-normalizer==2.1.1", "requests==2.32.3")
    assert lock.select(PYTHON_312).requirements == ("charset-normalizer==3.4.1", "requests==2.32.3")
    assert lock.select(WINDOWS).requirements == ("charset-normalizer==2.1.1", "pywin32==308", "requests==2.32.3")


PIPFILE_LOCK = {
    "_meta": {"hash": {"sha256": "0"}, "pipfile-spec": 6, "requires": {"python_version": "3.11"}, "sources": []},
    "default": {
        "requests": {"extras": ["socks"], "hashes": ["sha256:00"], "index": "pypi", "version": "==2.32.3"},
        "pywin32": {"markers": "sys_platform == 'win32'", "version": "==308"},
        "app": {"editable": True, "path": "."},
    },
    "develop": {"pytest": {"version": "==8.3.4"}},
}


def test_pipfile_lock_pins_the_default_section_and_develop_only_when_asked():
    text = json.dumps(PIPFILE_LOCK, indent=4)

    assert parse_lock("Pipfile.lock", text).select(LINUX).requirements == ("requests[socks]==2.32.3",)
    assert parse_lock("Pipfile.lock", text).select(WINDOWS).requirements == ("pywin32==308", "requests[socks]==2.32.3")
    assert "pytest==8.3.4" in parse_lock("Pipfile.lock", text, dev=True).select(LINUX).requirements


@pytest.mark.parametrize(
    ("name", "text", "refused"),
    [
        (
            "uv.lock",
            with_source(UV_LOCK, "pytest", '{ git = "https://github.com/a/b?rev=main#abc" }'),
            "pytest: a git source ('https://github.com/a/b?rev=main#abc') is not allowed",
        ),
        (
            "uv.lock",
            with_source(UV_LOCK, "urllib3", '{ directory = "../urllib3" }'),
            "urllib3: a local directory source ('../urllib3') is not allowed",
        ),
        (
            "pylock.toml",
            PYLOCK.replace(
                'index = "https://pypi.org/simple"\nwheels',
                'archive = { url = "https://evil.example/attrs.zip" }\nwheels',
            ),
            "attrs: an archive source ('https://evil.example/attrs.zip') is not allowed",
        ),
        (
            "poetry.lock",
            POETRY_2.replace(
                "files = []\n\n[package.dependencies]",
                'files = []\n\n[package.source]\ntype = "git"\nurl = "https://g/pytest"\n\n[package.dependencies]',
            ),
            "pytest: a git source ('https://g/pytest') is not allowed",
        ),
        (
            "Pipfile.lock",
            json.dumps({**PIPFILE_LOCK, "default": {"foo": {"file": "https://evil.example/foo.zip"}}}),
            "foo: a file source ('https://evil.example/foo.zip') is not allowed",
        ),
    ],
)
def test_sources_outside_the_index_are_refused_naming_the_package(name, text, refused):
    with pytest.raises(InputError) as error:
        parse_lock(name, text, dev=True)

    assert refused in str(error.value)
    assert "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS" in str(error.value)
    assert str(error.value).startswith(f"{name}:")


def test_a_refused_package_of_a_toml_lock_names_its_line():
    text = with_source(UV_LOCK, "urllib3", '{ url = "https://evil.example/u.whl" }')

    with pytest.raises(InputError) as error:
        parse_lock("uv.lock", text)

    line = text.splitlines().index('name = "urllib3"')  # the line before it: urllib3's [[package]], counted from 1
    assert str(error.value).startswith(f"uv.lock:{line}: urllib3: a URL source")


def test_the_operator_may_allow_a_git_source_which_is_then_pinned_at_its_commit():
    text = with_source(UV_LOCK, "urllib3", '{ git = "https://github.com/u/u3?rev=main#c0ffee" }')

    selected = parse_lock("uv.lock", text, allow_external=True).select(LINUX)

    assert "urllib3 @ git+https://github.com/u/u3@c0ffee" in selected.requirements


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("uv.lock", 'version = 1\n[[package]]\nname = "a"\nversion = \n', "uv.lock:4: is not valid TOML"),
        ("Pipfile.lock", '{"default": {\n  "a": {"version": "==1"},\n}}', "Pipfile.lock:3: is not valid JSON"),
        ("uv.lock", "version = 2\n", "uv.lock: uv.lock version '2' is not supported"),
        ("pylock.toml", 'lock-version = "2.0"\n', "pylock.toml: lock-version '2.0' is not supported"),
        ("uv.lock", 'version = 1\n[[package]]\nname = "a"\nsource = { registry = "x" }\n', "uv.lock:2: a: no version"),
        ("uv.lock", 'version = 1\n\n[[package]]\nname = "a b"\n', "uv.lock:3: package #1: 'a b' is not a package name"),
        ("poetry.lock", '[[package]]\nname = "a"\nversion = "one"\n', "poetry.lock:1: a: 'one' is not a version"),
        (
            "Pipfile.lock",
            '{\n  "default": {\n    "a": {"version": ">=1"}\n  }\n}',
            "Pipfile.lock:3: a: the version must be exact (==)",
        ),
        ("Pipfile.lock", "[1, 2]", "Pipfile.lock: is not a lock file"),
        (
            "pylock.toml",
            'lock-version = "1.0"\n[[packages]]\nname = "a"\nversion = "1"\nmarker = "python_version >"\n',
            "pylock.toml:2: a: 'python_version >' is not a valid marker",
        ),
        ("uv.lock", b"version = 1\n\xff\n", "uv.lock:2: is not valid UTF-8"),
        ("uv.lock", "version = 1\n", "uv.lock: lists no packages"),
    ],
)
def test_a_malformed_lock_is_refused_naming_the_file_and_line(name, text, message):
    with pytest.raises(InputError) as error:
        parse_lock(name, text)

    assert str(error.value).startswith(message)


def test_two_versions_of_one_package_for_the_same_interpreter_are_refused():
    text = POETRY_1.replace('{version = ">=3", markers = "python_version >= \\"3.12\\""}', '{version = ">=3"}')

    with pytest.raises(ResolutionError, match="charset-normalizer: versions 2.1.1, 3.4.1 all apply"):
        parse_lock("poetry.lock", text).select(LINUX)


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("uv.lock", True),
        ("sub/dir/uv.lock", True),
        ("pylock.toml", True),
        ("pylock.prod.toml", True),
        ("poetry.lock", True),
        ("Pipfile.lock", True),
        ("requirements.txt", False),
        ("pylock.a.b.toml", False),
        ("my-uv.lock", False),
    ],
)
def test_lock_files_are_known_by_their_names(name, known):
    assert is_lock_file(name) is known


def test_parse_requirements_reads_a_lock_file_and_includes_nothing_from_it():
    parsed = parse_requirements({"uv.lock": UV_LOCK}, main="uv.lock")

    assert parsed.requirements == ()
    assert parsed.lock is not None and parsed.lock.select(LINUX).direct == {"requests", "tomli"}
    assert includes("-r /etc/passwd\n", name="uv.lock") == ()


@pytest.mark.parametrize(
    ("files", "main", "message"),
    [
        (
            {"uv.lock": UV_LOCK, "requirements.txt": "six\n"},
            ["uv.lock", "requirements.txt"],
            "uv.lock: a lock file is audited on its own",
        ),
        (
            {"requirements.txt": "six\n-r uv.lock\n", "uv.lock": UV_LOCK},
            "requirements.txt",
            "requirements.txt:2: -r 'uv.lock': a lock file is given on its own",
        ),
        (
            {"uv (1).lock": UV_LOCK},
            "uv (1).lock",
            "uv (1).lock: is not a requirements file, nor a lock file known by its name",
        ),
    ],
)
def test_a_lock_file_is_given_alone_and_by_its_name(files, main, message):
    with pytest.raises(InputError) as error:
        parse_requirements(files, main=main)

    assert str(error.value).startswith(message)


def test_marker_environment_is_the_interpreters_own():
    from packaging.markers import default_environment

    assert marker_environment(sys.executable) == default_environment()


@pytest.fixture
def wheels(tmp_path):
    """fa-app requires fa-telemetry, and fa-win on Windows; fa-lib's extra `socks` adds fa-socks."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    requires = ["fa-telemetry", "fa-win; sys_platform == 'win32'"]
    build_wheel(directory, "fa-app", {"fa_app/__init__.py": ""}, requires=requires)
    build_wheel(directory, "fa-lib", {"fa_lib/__init__.py": ""}, requires=["fa-socks; extra == 'socks'"])
    for name in ("fa-telemetry", "fa-win", "fa-socks", "fa-clean"):
        build_wheel(directory, name, {f"{name.replace('-', '_')}/__init__.py": ""})
    return directory


def test_a_real_uv_lock_resolves_to_its_own_pins_and_its_own_edges(tmp_path, monkeypatch, wheels):
    """uv's resolution of the lock's pins, given with the extras the lock asks for, finds the lock's own edges: the
    report's paths need no second graph. The project asks fa-lib for an extra that only it knows of."""
    lock_file = uv_lock(tmp_path / "project", wheels, dependencies=["fa-app", "fa-lib[socks]"], dev=["fa-clean"])
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))

    lock = parse_requirements({"uv.lock": lock_file.read_bytes()}, main="uv.lock").lock
    assert lock is not None
    selection = lock.select(marker_environment(sys.executable))
    options = AuditOptions(use_index=False, build=False)
    resolution = resolve_input(AuditInput(lock=lock), workdir=tmp_path / "work", options=options)

    assert resolution.pins == {"fa-app": "1.0", "fa-lib": "1.0", "fa-socks": "1.0", "fa-telemetry": "1.0"}
    assert resolution.edges == selection.edges == {("fa-app", "fa-telemetry"), ("fa-lib", "fa-socks")}
    assert resolution.direct == {"fa-app", "fa-lib"}


def test_a_real_pylock_exported_by_uv_pins_what_its_uv_lock_pins(tmp_path, wheels):
    uv_lock(tmp_path / "project", wheels, dependencies=["fa-app", "fa-lib[socks]"], dev=["fa-clean"])
    pylock = uv_export_pylock(tmp_path / "project", wheels)

    for environment in (LINUX, WINDOWS):
        pins = parse_lock("pylock.toml", pylock.read_bytes()).select(environment).requirements
        from_uv_lock = parse_lock("uv.lock", (tmp_path / "project" / "uv.lock").read_bytes()).select(environment)
        assert pins == tuple(r.replace("[socks]", "") for r in from_uv_lock.requirements)  # pylock keeps no extras
    assert "fa-win==1.0" in pins


def test_a_lock_file_may_be_larger_than_a_requirements_file_up_to_its_own_limit(tmp_path):
    large = tmp_path / "uv.lock"
    large.write_text(UV_LOCK + "# a lock lists every file of every version\n" * 50_000)  # 2 MB
    assert large.stat().st_size > MAX_REQUIREMENTS_FILE_BYTES

    files = read_requirement_files([str(large)])

    assert parse_requirements(files, main=str(large)).lock is not None
    large.write_bytes(b"#" * (MAX_LOCK_FILE_BYTES + 1))
    with pytest.raises(InputError, match=f"is larger than the limit of {MAX_LOCK_FILE_BYTES:,} bytes"):
        read_requirement_files([str(large)])
