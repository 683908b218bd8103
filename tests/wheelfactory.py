"""Builds real, installable wheels from a few lines of Python, for tests and benchmarks."""

from __future__ import annotations

import base64
import hashlib
import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def build_wheel(
    directory: Path,
    name: str,
    files: Mapping[str, str | bytes],
    *,
    version: str = "1.0",
    requires: Sequence[str] = (),
) -> Path:
    """Write `{name}-{version}-py3-none-any.whl` into `directory` with `files` (path -> source, or bytes taken as
    they are: a shared library) and return it."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    dist_info = f"{stem}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents: dict[str, str | bytes] = {
        path: source if isinstance(source, bytes) else textwrap.dedent(source).lstrip("\n")
        for path, source in files.items()
    }
    contents[f"{dist_info}/METADATA"] = metadata
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: forkaudit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record_lines = []
    for path, text in contents.items():
        data = text if isinstance(text, bytes) else text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = directory / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


# A PEP 517 build backend in a few lines of standard library: it packs the project's package into a wheel. `{before}`
# runs first in each hook, to make builds that misbehave.
_BACKEND = """
import base64, hashlib, os, zipfile
NAME, VERSION, REQUIRES = {name!r}, {version!r}, {requires!r}
{before}

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    stem = NAME.replace("-", "_") + "-" + VERSION
    files = {{}}
    for root, _, names in os.walk(NAME.replace("-", "_")):
        for name in names:
            path = os.path.join(root, name)
            files[path] = open(path, "rb").read()
    meta = "Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION + "\\n"
    meta += "".join("Requires-Dist: " + r + "\\n" for r in REQUIRES)
    files[stem + ".dist-info/METADATA"] = meta.encode()
    files[stem + ".dist-info/WHEEL"] = b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += path + ",sha256=" + digest + "," + str(len(data)) + "\\n"
    files[stem + ".dist-info/RECORD"] = (record + stem + ".dist-info/RECORD,,\\n").encode()
    wheel = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel
"""


def build_sdist(
    directory: Path,
    name: str,
    files: Mapping[str, str],
    *,
    version: str = "1.0",
    requires: Sequence[str] = (),
    before_build: str = "",
) -> Path:
    """Write `{name}-{version}.tar.gz`, a source distribution with an in-tree build backend (no build requirements:
    it builds without the network) and `files`, into `directory`; `before_build` is code its backend runs first."""
    import io
    import tarfile

    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    contents = {path: textwrap.dedent(source).lstrip("\n") for path, source in files.items()}
    contents["pyproject.toml"] = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    contents["backend.py"] = _BACKEND.format(
        name=name, version=version, requires=list(requires), before=textwrap.dedent(before_build)
    )
    contents["PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    sdist = directory / f"{stem}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for path, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist
