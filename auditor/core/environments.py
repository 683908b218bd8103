"""Audit environments: a fresh virtualenv per audit, filled by uv, and what was installed into it.

The environment is built on an interpreter whose files the probe's unprivileged user can read (the sandbox binds the
interpreter's prefix in read-only), and its files are world-readable.

Package code never runs on the host (docs: the security model). The host never starts the environment's interpreter:
uv is given the base interpreter, which it asks for its version and tags, and installs into site-packages as a target
directory, so that no wheel can write outside it (a wheel's `.data/data/pyvenv.cfg` or scripts would otherwise land
in the environment's root and `bin/`). Bytecode is compiled in the sandbox (auditor.core.bytecode), not by uv, which
would start the environment's interpreter with `site`, and so every `.pth` file, on the host.
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import json
import os
import posixpath
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name

from auditor.core.uv import find_links_args, run_uv

# Path parts that mark a module as not public API (docs/data-flow.md); "_"-prefixed parts are private too.
NON_PUBLIC_PARTS = frozenset(
    {"test", "tests", "testing", "conftest", "__main__", "setup", "example", "examples", "benchmarks"}
)
_TEST_DIRECTORIES = (NON_PUBLIC_PARTS - {"__main__"}) | {"_tests", "_testing", "_testbase", "testsuite"}
_MODULE_SUFFIXES = (".py", ".so", ".pyd")
MAX_RECORD_BYTES = 20 * 2**20
_SCHEME_DIRECTORIES = ("bin", "include", "share", "etc")
ASK_SECONDS = 60  # for an interpreter to say what it is
_TEST_MODULES = ("conftest", "setup", "testing", "_testbase", "_testing")


@dataclass(frozen=True)
class AuditEnvironment:
    root: Path
    python: Path
    site_packages: Path
    base_prefix: Path  # the interpreter's installation, bound read-only into the sandbox
    python_version: str
    platform: str
    interpreter: Path  # the base interpreter's real file: the only one the host runs (uv asks it for its tags)

    @property
    def sandbox_binds(self) -> tuple[Path, ...]:
        return (self.root, self.base_prefix)


@dataclass(frozen=True)
class InstalledDistribution:
    name: str  # canonical
    display_name: str
    version: str
    wheel_tag: str
    files: tuple[str, ...]  # RECORD entries, relative to site-packages
    dist_info: str = ""  # its .dist-info directory's name
    record_error: str | None = None  # why its RECORD could not be read (then `files` is empty)

    def module_files(self) -> list[str]:
        # Installed into a target directory, a wheel's scripts land in bin/ and its headers and data files in
        # include/, share/ or etc/ beside the packages: files of the installation scheme, not modules (xlsxwriter's
        # bin/vba_extract.py is a command-line script that exits when run).
        scheme = {d for d in _SCHEME_DIRECTORIES if f"{d}/__init__.py" not in self.files}
        return [
            f
            for f in self.files
            if f.endswith(_MODULE_SUFFIXES)
            and ".dist-info/" not in f
            and _inside(f)
            and f.partition("/")[0] not in scheme
        ]


def _inside(relative: str) -> bool:
    """A RECORD path within site-packages: not absolute, and no `..` out of it (RECORD is the wheel's own text)."""
    normal = posixpath.normpath(relative)
    return not posixpath.isabs(normal) and normal != ".." and not normal.startswith("../")


@dataclass(frozen=True)
class Interpreter:
    base_prefix: Path
    version: str  # "3.11.2"
    platform: str  # "linux-x86_64"
    bytecode_magic: str = ""  # importlib.util.MAGIC_NUMBER, hex: which compiled bytecode it runs
    executable: Path | None = None  # its real file, also when asked through a wrapper (a pyenv shim)


def interpreter_info(python: str | Path) -> Interpreter:
    """Version and platform of an interpreter: what audits for it are keyed by.

    Asked once per interpreter file (a venv's `python` links to its base interpreter's): an audit needs it several
    times, and an interpreter upgraded in place is a new file, so a long-running worker never keys results by the
    old version."""
    real = Path(python).resolve()
    stat = real.stat()
    return _interpreter_info(real, stat.st_ino, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _interpreter_info(python: Path, inode: int, mtime_ns: int) -> Interpreter:
    # Only the standard library runs (-I -S): no `.pth` file of an environment's packages.
    script = (
        "import importlib.util, json, os, sys, sysconfig; "
        "print(json.dumps([sys.base_prefix, '.'.join(map(str, sys.version_info[:3])), sysconfig.get_platform(), "
        "importlib.util.MAGIC_NUMBER.hex(), os.path.realpath(sys.executable)]))"
    )
    try:
        done = subprocess.run(
            [str(python), "-I", "-S", "-c", script], capture_output=True, text=True, check=True, timeout=ASK_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise OSError(errno.ETIMEDOUT, f"{python} did not answer within {ASK_SECONDS:g} s") from None
    base_prefix, version, platform, *rest = json.loads(done.stdout)
    magic, executable = (rest + ["", ""])[:2]
    return Interpreter(
        Path(base_prefix).resolve(), version, platform, magic, Path(executable) if executable else python
    )


def venv_site_packages(root: Path, version: str) -> Path:
    """A virtual environment's site-packages: the venv layout, not sysconfig's default scheme (Debian's interpreter
    patches that to dist-packages)."""
    return root / "lib" / f"python{'.'.join(version.split('.')[:2])}" / "site-packages"


def create_environment(root: Path, *, python: str) -> AuditEnvironment:
    """A new, empty virtual environment at `root` on the interpreter `python` (an OSError if `root` exists).

    Written here, as PEP 405 defines it (a `pyvenv.cfg` naming the interpreter's directory, a link to it, an empty
    site-packages), rather than by `uv venv`: an environment is made for every audit and every build, and a process
    (with activation scripts nothing uses) cost more than the rest of a small project's install."""
    info = interpreter_info(python)  # also refuses what is not a Python interpreter
    interpreter = info.executable or Path(python).resolve()  # the interpreter itself, not a wrapper that runs it
    purelib = venv_site_packages(root, info.version)
    root.parent.mkdir(parents=True, exist_ok=True)
    for directory in (root, root / "bin", root / "lib", purelib.parent, purelib):
        directory.mkdir()
        directory.chmod(0o755)  # the sandbox's unprivileged user reads it, whatever this process's umask
    venv_python = root / "bin" / "python"
    venv_python.symlink_to(interpreter)
    config = root / "pyvenv.cfg"
    config.write_text(f"home = {interpreter.parent}\ninclude-system-site-packages = false\nversion = {info.version}\n")
    config.chmod(0o644)
    return AuditEnvironment(
        root=root,
        python=venv_python,
        site_packages=purelib,
        base_prefix=info.base_prefix,
        python_version=info.version,
        platform=info.platform,
        interpreter=interpreter,
    )


def install(
    env: AuditEnvironment,
    *,
    requirements: Sequence[str] = (),
    wheels: Sequence[Path] = (),
    find_links: Sequence[Path] = (),
    use_index: bool = True,
    no_deps: bool = False,
    offline: bool = False,
) -> None:
    """Install requirement strings and wheel files into `env`'s site-packages with uv (binary wheels only; with
    `offline`, only what uv's cache holds, or UvError). Runs no package code."""
    args = ["pip", "install", "--quiet", "--python", str(env.interpreter), "--target", str(env.site_packages)]
    if offline:
        args.append("--offline")
    args += ["--only-binary", ":all:"]
    if not use_index:
        args.append("--no-index")
    if no_deps:
        args.append("--no-deps")
    args += find_links_args(find_links)
    requirement_text = "\n".join(requirements)
    if requirement_text:
        args += ["-r", "-"]
    args += [str(w) for w in wheels]
    run_uv(args, stdin=requirement_text or None)


def installed_distributions(env: AuditEnvironment) -> list[InstalledDistribution]:
    """Every distribution installed in `env`, read from its .dist-info (METADATA, WHEEL, RECORD)."""
    found = []
    for dist_info in sorted(env.site_packages.glob("*.dist-info")):
        metadata = _read_headers(dist_info / "METADATA")
        name = metadata.get("name")
        version = metadata.get("version")
        if not name or not version:
            continue
        wheel = _read_headers(dist_info / "WHEEL", multi=("tag",))
        try:
            files, record_error = tuple(_record_paths(dist_info / "RECORD")), None
        except (csv.Error, ValueError) as exc:
            files, record_error = (), f"its RECORD cannot be read ({str(exc)[:200]})"
        found.append(
            InstalledDistribution(
                name=canonicalize_name(name),
                display_name=name,
                version=version,
                wheel_tag=".".join(wheel.get("tag", [])) or "unknown",
                files=files,
                dist_info=dist_info.name,
                record_error=record_error,
            )
        )
    return found


def _read_headers(path: Path, multi: Sequence[str] = ()) -> dict:
    headers: dict = {key: [] for key in multi}
    try:
        text = path.read_text(errors="replace")[:1_000_000]
    except OSError:
        return headers
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in multi:
            headers[key].append(value.strip())
        else:
            headers.setdefault(key, value.strip())
    return headers


def _record_paths(record: Path) -> list[str]:
    try:
        with record.open("rb") as f:
            text = f.read(MAX_RECORD_BYTES).decode(errors="replace")
    except OSError:
        return []
    return [row[0] for row in csv.reader(io.StringIO(text)) if row and row[0]]


def file_owners(env: AuditEnvironment, distributions: Sequence[InstalledDistribution]) -> dict[str, str]:
    """Absolute path of every installed file -> the canonical name of the distribution that owns it (RECORD)."""
    # Resolving every path costs a system call per path component (bench/README.md, finding 7); resolving the directory
    # once and each file only if it is a link itself gives the same keys.
    site_packages = os.path.realpath(env.site_packages)
    owners = {}
    for dist in distributions:
        for relative in dist.files:
            path = os.path.normpath(os.path.join(site_packages, relative))
            owners[os.path.realpath(path) if os.path.islink(path) else path] = dist.name
    return owners


def is_test_code(relative: str) -> bool:
    """Tests, examples and build scripts shipped in a distribution: not code an application runs."""
    # Plain string work: an audit asks this of every file of every distribution (pathlib's cost on the main
    # thread's critical path: bench/README.md, finding 29).
    *directories, name = [part for part in relative.split("/") if part not in ("", ".")] or [""]
    stem = name.rpartition(".")[0] or name
    return not _TEST_DIRECTORIES.isdisjoint(directories) or stem in _TEST_MODULES


def module_name(relative: str) -> str | None:
    """`pkg/sub/mod.py` -> `pkg.sub.mod`; `pkg/__init__.py` -> `pkg`; `m.cpython-311-x86_64-linux-gnu.so` -> `m`."""
    path = PurePosixPath(relative)
    if path.suffix not in _MODULE_SUFFIXES:
        return None
    stem = path.name.split(".", 1)[0]
    parts = list(path.parts[:-1])
    if stem != "__init__":
        parts.append(stem)
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def import_names(dist: InstalledDistribution) -> tuple[list[str], list[str]]:
    """The distribution's top-level import names and its public submodules, from its RECORD, not its name.

    A top-level directory without `__init__` is a namespace package shared with other distributions (google, azure):
    then the distribution's own packages one level down count as its top-level modules.
    """
    modules = {m for f in dist.module_files() if (m := module_name(f))}
    packages = {module_name(f) for f in dist.module_files() if PurePosixPath(f).name.startswith("__init__.")}
    top_level = set()
    for module in modules:
        parts = module.split(".")
        # descend through namespace packages (no __init__ of their own) to the first real module
        for depth in range(1, len(parts) + 1):
            candidate = ".".join(parts[:depth])
            if candidate in packages or candidate == module:
                top_level.add(candidate)
                break
    top = sorted(top_level, key=lambda m: (m.count("."), m))
    submodules = sorted(
        (
            m
            for m in modules - top_level
            if any(m.startswith(t + ".") for t in top_level)
            and not any(p.startswith("_") or p in NON_PUBLIC_PARTS for p in m.split("."))
        ),
        key=lambda m: (m.count("."), m),
    )
    return top, submodules
