"""Building a source distribution into a wheel, in the sandbox (PEP 517), with no network.

A build runs package code (`setup.py`, the build backend), so it runs like a probe: in bubblewrap, without network,
as the unprivileged user, in its own control group. It writes nothing of the host's: it unpacks and builds in the
sandbox's own `/tmp` (a tmpfs of limited size, counted in its memory), and hands its answer and the wheel back on a
descriptor the host gave it (a file of the host's, which the file-size limit caps), so that the host never follows
a path the build could have planted. What it needs is fetched before, as wheels, by uv (a network step that runs no
code): first the build requirements the archive's `pyproject.toml` declares (or setuptools, for a project without
one), then whatever the backend's `get_requires_for_build_wheel` adds, asked in the sandbox. The wheel it makes must
be of the same name and version, and is validated like an uploaded one.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion

from auditor.core.environments import AuditEnvironment, create_environment, install
from auditor.core.inputs import InputError, validate_wheel
from auditor.core.inputs.wheels import MAX_WHEEL_BYTES
from auditor.core.probe.sandbox import Limits, Sandbox, run_confined
from auditor.core.sources import Sdist
from auditor.core.uv import UvError

LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
LEGACY_REQUIRES = ("setuptools>=40.8.0", "wheel")
MAX_REQUIREMENTS = 100
MAX_ARCHIVE_MEMBERS = 10_000  # looked at for pyproject.toml on the host (it is near the top of a real archive)
BUILD_LIMITS = Limits(wall_seconds=600, cpu_seconds=1200, file_bytes=512 * 2**20, tmp_bytes=1024 * 2**20)

# Runs in the sandbox, on the build environment's interpreter: unpack, ask the backend what else it needs, and build
# if that is installed; answers {"requires": [...]} or {"wheel": name}. Standard library only.
_BUILD_SCRIPT = r"""
import importlib, importlib.metadata, json, os, re, sys, tarfile, zipfile
archive, answer_fd, backend_name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
backend_path = json.loads(sys.argv[4])
work = "/tmp/build"
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
wheel = b""
if not all(installed(r) for r in requires):
    answer = {"requires": requires}
else:
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    answer = {"wheel": backend.build_wheel(out)}
    with open(os.path.join(out, answer["wheel"]), "rb") as f:
        wheel = f.read()
with os.fdopen(answer_fd, "wb") as f:
    f.write(json.dumps(answer).encode() + b"\n" + wheel)
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


def build_wheel(
    sdist: Sdist,
    *,
    workdir: Path,
    python: str,
    sandbox: Sandbox,
    out: Path,
    find_links: Sequence[Path] = (),
    use_index: bool = True,
) -> Path:
    """Build `sdist` into a wheel in `out`, everything it runs in `sandbox`; its path, or BuildFailed. Its build
    requirements come from `find_links` and, with `use_index`, the index, as the audit's own distributions do."""
    system = build_system(sdist.path)
    root = workdir / f"build-{sdist.name}-{sdist.version}"
    shutil.rmtree(root, ignore_errors=True)
    env = create_environment(root / "env", python=python)

    def install_requirements(requirements: Sequence[str]) -> None:
        if not requirements:
            return
        try:
            install(env, requirements=list(requirements), find_links=find_links, use_index=use_index)
        except UvError as exc:
            raise BuildFailed(f"its build requirements cannot be installed from wheels:\n{exc}") from exc

    install_requirements(system.requires)
    answer, wheel = _ask(env, sdist, system, sandbox)
    if "requires" in answer:  # more than pyproject.toml declares (setuptools' `wheel`, say): installed, then again
        extra = answer["requires"]
        if not _strings(extra) or len(extra) > MAX_REQUIREMENTS:
            raise BuildFailed("the build backend named its requirements in a form forkaudit does not accept")
        install_requirements(_requirements(extra))
        answer, wheel = _ask(env, sdist, system, sandbox)
    name = answer.get("wheel")
    if not isinstance(name, str) or not wheel:
        raise BuildFailed("the build backend did not make a wheel")
    try:
        wheel_name, wheel_version, _, _ = parse_wheel_filename(name)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise BuildFailed(f"the build backend made a wheel with an invalid name: {name[:200]!r}") from exc
    if (canonicalize_name(wheel_name), str(wheel_version)) != (sdist.name, sdist.version):
        raise BuildFailed(f"the build made {name[:200]}, not a wheel of {sdist.name} {sdist.version}")
    out.mkdir(parents=True, exist_ok=True)
    built = out / name  # a name that parse_wheel_filename accepted: no "/" in it
    built.write_bytes(wheel)
    try:
        validate_wheel(built)
    except InputError as exc:
        built.unlink()
        raise BuildFailed(f"the wheel it built is not valid: {exc}") from exc
    return built


def _ask(env: AuditEnvironment, sdist: Sdist, system: BuildSystem, sandbox: Sandbox) -> tuple[dict, bytes]:
    """One run of the build script in the sandbox; its answer, and the wheel's bytes if it built one."""
    with tempfile.TemporaryFile() as answer:
        argv = [str(env.python), "-I", "-B", "-c", _BUILD_SCRIPT, str(sdist.path), str(answer.fileno())]
        argv += [system.backend, json.dumps(list(system.backend_path))]
        done = run_confined(
            argv,
            sandbox=sandbox,
            binds=[*env.sandbox_binds, sdist.path],
            limits=BUILD_LIMITS,
            env={"SOURCE_DATE_EPOCH": "315532800"},
            fds=(answer.fileno(),),
        )
        if done.returncode is None:
            raise BuildFailed(f"the build took longer than {BUILD_LIMITS.wall_seconds:.0f} s\n{done.output}")
        if not done.ok:
            raise BuildFailed(f"the build failed (exit status {done.returncode}):\n{done.output}")
        answer.seek(0)
        header, _, wheel = answer.read(MAX_WHEEL_BYTES + (1 << 20)).partition(b"\n")  # more is not a valid wheel
    try:
        found = json.loads(header[: 1 << 20])
    except ValueError as exc:
        raise BuildFailed("the build's answer is not JSON") from exc
    if not isinstance(found, dict):
        raise BuildFailed("the build's answer is not what forkaudit asked for")
    return found, wheel


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
                names = z.namelist()[:MAX_ARCHIVE_MEMBERS]
                member = next((m for m in names if m.count("/") == 1 and m.endswith("/" + name)), None)
                return z.read(member)[: 1 << 20].decode(errors="replace") if member else None
        with tarfile.open(archive) as t:
            for count, info in enumerate(t):
                if count >= MAX_ARCHIVE_MEMBERS:
                    break
                if info.isfile() and info.name.count("/") == 1 and info.name.endswith("/" + name):
                    f = t.extractfile(info)
                    return f.read(1 << 20).decode(errors="replace") if f else None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise BuildFailed(f"its archive cannot be read: {exc}") from exc
    return None
