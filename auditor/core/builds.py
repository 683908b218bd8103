"""Building a source distribution into a wheel, in the sandbox (PEP 517), with no network.

A build runs package code (`setup.py`, the build backend), so it runs like a probe: in bubblewrap, without network,
as the unprivileged user, in its own control group, able to write its own build directory only. What it needs is
fetched before, as wheels, by uv (a network step that runs no code): first the build requirements the archive's
`pyproject.toml` declares (or setuptools, for a project without one), then whatever the backend's
`get_requires_for_build_wheel` adds, asked in the sandbox. The wheel it makes is validated like an uploaded one.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from auditor.core.environments import AuditEnvironment, create_environment, install
from auditor.core.inputs import InputError, validate_wheel
from auditor.core.probe.sandbox import NOBODY, Limits, Sandbox, run_confined
from auditor.core.sources import Sdist
from auditor.core.uv import UvError

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
LEGACY_REQUIRES = ("setuptools>=40.8.0", "wheel")
MAX_REQUIREMENTS = 100
BUILD_LIMITS = Limits(wall_seconds=600, cpu_seconds=1200, file_bytes=512 * 2**20, tmp_bytes=1024 * 2**20)

# Runs in the sandbox, on the build environment's interpreter: unpack, ask the backend what else it needs, and build
# if that is installed; answers {"requires": [...]} or {"wheel": name}. Standard library only.
_BUILD_SCRIPT = r"""
import importlib, importlib.metadata, json, os, re, sys, tarfile, zipfile
archive, work, backend_name = sys.argv[1:4]
backend_path = json.loads(sys.argv[4])
source = os.path.join(work, "src")
os.makedirs(source, exist_ok=True)
if archive.endswith(".zip"):
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if name.startswith("/") or ".." in name.split("/"):
                raise SystemExit(f"unsafe path in the archive: {name}")
        z.extractall(source)
else:
    with tarfile.open(archive) as t:
        # Only the build directory is writable in the sandbox; the filter, where the interpreter has it, also
        # keeps a malformed archive within the source tree.
        t.extractall(source, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
entries = os.listdir(source)
root = os.path.join(source, entries[0]) if len(entries) == 1 else source
os.chdir(root)
sys.path[:0] = [os.path.join(root, p) for p in backend_path] + [root]
module, _, attribute = backend_name.partition(":")
backend = importlib.import_module(module)
for part in filter(None, attribute.split(".")):
    backend = getattr(backend, part)
def installed(requirement):
    try:
        importlib.metadata.distribution(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        return True
    except (importlib.metadata.PackageNotFoundError, AttributeError):
        return False
hook = getattr(backend, "get_requires_for_build_wheel", None)
requires = list(hook() if hook else [])
if not all(installed(r) for r in requires):
    answer = {"requires": requires}
else:
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    answer = {"wheel": backend.build_wheel(out)}
with open(os.path.join(work, "answer.json"), "w") as f:
    json.dump(answer, f)
"""


class BuildFailed(Exception):
    """The source distribution could not be built; the message ends with the build's last lines."""


@dataclass(frozen=True)
class BuildSystem:
    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...] = ()


def build_system(sdist: Path) -> BuildSystem:
    """The archive's `[build-system]` (PEP 518), read without running anything; setuptools' legacy backend for a
    project without one."""
    text = _member(sdist, "pyproject.toml")
    if text is None:
        return BuildSystem(LEGACY_REQUIRES, LEGACY_BACKEND)
    try:
        table = tomllib.loads(text).get("build-system", {})
    except tomllib.TOMLDecodeError as exc:
        raise BuildFailed(f"its pyproject.toml is not valid TOML: {exc}") from exc
    requires = table.get("requires", list(LEGACY_REQUIRES))
    backend = table.get("build-backend", LEGACY_BACKEND)
    backend_path = table.get("backend-path", [])
    if not (_strings(requires) and isinstance(backend, str) and _strings(backend_path)):
        raise BuildFailed("its pyproject.toml has a malformed [build-system] table")
    return BuildSystem(tuple(_requirements(requires)), backend, tuple(backend_path))


def build_wheel(sdist: Sdist, *, workdir: Path, python: str, sandbox: Sandbox, out: Path) -> Path:
    """Build `sdist` into a wheel in `out`, everything it runs in `sandbox`; its path, or BuildFailed."""
    system = build_system(sdist.path)
    root = workdir / f"build-{sdist.name}-{sdist.version}"
    shutil.rmtree(root, ignore_errors=True)
    env = create_environment(root / "env", python=python)
    _install_requirements(env, system.requires)
    work = root / "work"
    work.mkdir()
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        os.chown(work, NOBODY, NOBODY)  # the build's user writes there, and nowhere else
    answer = _ask(env, sdist, work, system, sandbox)
    if "requires" in answer:  # more than pyproject.toml declares (setuptools' `wheel`, say): installed, then again
        extra = answer["requires"]
        if not _strings(extra) or len(extra) > MAX_REQUIREMENTS:
            raise BuildFailed("the build backend named its requirements in a form forkaudit does not accept")
        _install_requirements(env, _requirements(extra))
        answer = _ask(env, sdist, work, system, sandbox)
    name = answer.get("wheel")
    built = work / "out" / str(name)
    if not isinstance(name, str) or "/" in name or not built.is_file():
        raise BuildFailed("the build backend did not make a wheel")
    try:
        validate_wheel(built)
    except InputError as exc:
        raise BuildFailed(f"the wheel it built is not valid: {exc}") from exc
    out.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(built, out / built.name))


def _ask(env: AuditEnvironment, sdist: Sdist, work: Path, system: BuildSystem, sandbox: Sandbox) -> dict:
    """One run of the build script in the sandbox; its answer."""
    answer = work / "answer.json"
    answer.unlink(missing_ok=True)
    argv = [str(env.python), "-I", "-B", "-c", _BUILD_SCRIPT, str(sdist.path), str(work), system.backend]
    argv.append(json.dumps(list(system.backend_path)))
    done = run_confined(
        argv,
        sandbox=sandbox,
        binds=[*env.sandbox_binds, sdist.path],
        writable=[work],
        limits=BUILD_LIMITS,
        env={"SOURCE_DATE_EPOCH": "315532800"},
    )
    if done.returncode is None:
        raise BuildFailed(f"the build took longer than {BUILD_LIMITS.wall_seconds:.0f} s\n{done.output}")
    if not done.ok or not answer.is_file():
        raise BuildFailed(f"the build failed (exit status {done.returncode}):\n{done.output}")
    try:
        found = json.loads(answer.read_bytes()[: 1 << 20])
    except ValueError as exc:
        raise BuildFailed("the build backend's answer is not JSON") from exc
    if not isinstance(found, dict):
        raise BuildFailed("the build backend's answer is not what forkaudit asked for")
    return found


def _install_requirements(env: AuditEnvironment, requirements: tuple[str, ...] | list[str]) -> None:
    if not requirements:
        return
    try:
        install(env, requirements=list(requirements))
    except UvError as exc:
        raise BuildFailed(f"its build requirements cannot be installed from wheels:\n{exc}") from exc


def _requirements(values: list[str]) -> list[str]:
    """Build requirements as uv takes them: only PEP 508 strings (no options, paths or URLs)."""
    for value in values:
        try:
            requirement = Requirement(value)
        except InvalidRequirement as exc:
            raise BuildFailed(f"not a build requirement: {value!r}") from exc
        if requirement.url:
            raise BuildFailed(f"a build requirement that is not on the index: {value!r}")
    return list(values)


def placeholder_wheel(name: str, version: str, out: Path) -> Path:
    """A wheel of `name` `version` with nothing in it and no dependencies: it stands in, for the resolver only, for a
    distribution that could not be built, so that the rest of the set is still resolved and audited."""
    stem = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{stem}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{stem}.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{stem}.dist-info/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{stem}.dist-info/RECORD"])
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _member(archive: Path, name: str) -> str | None:
    """The text of `name` at the top of the archive's project directory, read (not extracted), at most 1 MiB."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                member = next((m for m in z.namelist() if m.count("/") == 1 and m.endswith("/" + name)), None)
                return z.read(member)[: 1 << 20].decode(errors="replace") if member else None
        with tarfile.open(archive) as t:
            for info in t:
                if info.isfile() and info.name.count("/") == 1 and info.name.endswith("/" + name):
                    f = t.extractfile(info)
                    return f.read(1 << 20).decode(errors="replace") if f else None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise BuildFailed(f"its archive cannot be read: {exc}") from exc
    return None
