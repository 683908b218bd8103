"""Requirements files: the whole syntax users write, flattened and validated; what reaches outside the index is
refused with the file and line.

Its own parser rather than pip's (pip-requirements-parser, say): that one reads files by path and follows `-r`/`-c`
by opening them, while this one sees only the files it is given (an upload, or what the CLI has checked for place,
kind and size), refuses an option or include before anything is read for it, and names the file and line in its
own words.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from auditor.core.inputs.errors import BAD_CONTROL, InputError, excerpt
from auditor.core.inputs.locks import LOCK_NAMES, Lock, is_lock_file, parse_lock


@dataclass(frozen=True)
class RequirementOrigin:
    """Where a direct requirement is written: the canonical name, the file (as `parse_requirements` names it) and the
    line (the first of a `\\`-continued one)."""

    name: str
    file: str
    line: int


@dataclass(frozen=True)
class Requirements:
    """A validated, flattened requirement set.

    `direct_names` are the canonical names of `requirements` (a path or URL without `#egg=` adds none); `options`
    holds index options, present only with `allow_external`.
    """

    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    direct_names: tuple[str, ...]
    options: tuple[str, ...] = ()
    prereleases: bool = False  # `--pre` was given; uv ignores it in files, so the resolver must be told
    lock: Lock | None = None  # a lock file was given instead (auditor.core.inputs.locks): its pins, once selected
    # Where each direct name is first required (reports point there); not part of what the set is, so not compared.
    origins: tuple[RequirementOrigin, ...] = field(default=(), compare=False)

    def as_text(self) -> str:
        """The requirements (after any options) as a requirements file that `uv pip compile` accepts."""
        return _lines(self.options + self.requirements)

    def constraints_as_text(self) -> str:
        """The constraints as a file for `uv pip compile --constraint`; empty text when there are none."""
        return _lines(self.constraints)


def _lines(lines: tuple[str, ...]) -> str:
    return "".join(f"{line}\n" for line in lines)


# Limits of one requirement set, the same for the CLI, which reads them from disk, and the service, which receives
# them: more files, or a larger file, than any real project has, and far less than would exhaust memory.
MAX_REQUIREMENT_FILES = 50
MAX_REQUIREMENTS_FILE_BYTES = 1_000_000

_EXTERNAL_REASON = (
    "it reaches outside the configured package index; FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS=true allows it"
)
_MAX_INCLUDE_DEPTH = 32
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_ARCHIVE_SUFFIXES = tuple(".whl .zip .tar .tar.gz .tgz .tar.bz2 .tbz .tar.xz .txz .tar.lz".split())
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class _Option:
    long: str
    short: str | None
    takes_value: bool
    kind: str  # requirement | constraint | editable | external | pre | ignored | hash | unsupported


_OPTIONS = (
    _Option("--requirement", "-r", True, "requirement"),
    _Option("--constraint", "-c", True, "constraint"),
    _Option("--editable", "-e", True, "editable"),
    _Option("--index-url", "-i", True, "external"),
    _Option("--extra-index-url", None, True, "external"),
    _Option("--find-links", "-f", True, "external"),
    _Option("--trusted-host", None, True, "external"),
    _Option("--pre", None, False, "pre"),
    # The install format and the index are the auditor's policy (binary wheels from the configured index), and
    # hashes are not checked because the set is resolved again: these options are accepted and dropped.
    _Option("--hash", None, True, "hash"),
    _Option("--only-binary", None, True, "ignored"),
    _Option("--no-binary", None, True, "ignored"),
    _Option("--prefer-binary", None, False, "ignored"),
    _Option("--require-hashes", None, False, "ignored"),
    _Option("--no-index", None, False, "ignored"),
    _Option("--use-feature", None, True, "ignored"),
    _Option("--config-settings", "-C", True, "unsupported"),
    _Option("--global-option", None, True, "unsupported"),
    _Option("--install-option", None, True, "unsupported"),
    _Option("--build-option", None, True, "unsupported"),
)
_BY_LONG = {option.long: option for option in _OPTIONS}
_BY_SHORT = {option.short: option for option in _OPTIONS if option.short}


def parse_requirements(
    files: Mapping[str, str | bytes],
    *,
    main: str | Sequence[str],
    allow_external: bool = False,
    max_bytes: int = MAX_REQUIREMENTS_FILE_BYTES,
    dev: bool = False,
) -> Requirements:
    """Validate and flatten the requirements files named by `main`, following `-r`/`-c` only inside `files`.

    `files` maps uploaded names to text, or to bytes that must be UTF-8. Raises `InputError` for any refusal; an
    error on a `\\`-continued line names the line where it starts. A lock file (known by its name) is read as one,
    with its development dependencies if `dev`.
    """
    parser = _Parser(files, allow_external=allow_external, max_bytes=max_bytes)
    mains = [main] if isinstance(main, str) else list(main)
    if not mains:
        raise InputError("no requirements file given")
    if any(is_lock_file(name) for name in mains):
        return _lock(parser, mains, allow_external=allow_external, dev=dev)
    for name in mains:
        key = parser.lookup(name)
        if key is None:
            raise InputError("no such file in the upload", file=name)
        parser.parse_file(key, role="requirement", stack=())
    if not parser.requirements:
        raise InputError("no requirements found (only comments, blank lines or options)", file=mains[0])
    return Requirements(
        requirements=tuple(dict.fromkeys(parser.requirements)),
        constraints=tuple(dict.fromkeys(parser.constraints)),
        direct_names=tuple(dict.fromkeys(parser.direct_names)),
        options=tuple(dict.fromkeys(parser.options)),
        prereleases=parser.prereleases,
        origins=tuple(parser.origins.values()),
    )


def _lock(parser: _Parser, mains: list[str], *, allow_external: bool, dev: bool) -> Requirements:
    """A lock file is the whole input: it includes nothing, and nothing else is given with it."""
    name = next(name for name in mains if is_lock_file(name))
    key = parser.lookup(name)
    if key is None:
        raise InputError("no such file in the upload", file=name)
    if len(mains) > 1 or len(parser.files) > 1:
        raise InputError("a lock file is audited on its own, without requirements files beside it", file=name)
    lock = parse_lock(key, parser.files[key], allow_external=allow_external, dev=dev)
    # Each package where the lock writes it: a report points at the entry of the package that brings one in.
    origins = {p.name: RequirementOrigin(p.name, key, p.line) for p in lock.packages if p.line and not p.project}
    return Requirements((), (), (), lock=lock, origins=tuple(origins.values()))


def parse_requirements_text(
    text: str | bytes, *, name: str = "requirements.txt", allow_external: bool = False
) -> Requirements:
    """`parse_requirements` for one file; any `-r`/`-c` in it fails (there is nothing else to include)."""
    return parse_requirements({name: text}, main=name, allow_external=allow_external)


@dataclass(frozen=True)
class Include:
    """One `-r`/`-c` of a requirements file: where it is written, the option and target as written, and `name`, the
    target joined to the including file's directory (normalised, as `parse_requirements` looks it up)."""

    file: str
    line: int
    option: str
    target: str
    name: str


def includes(text: str, *, name: str) -> tuple[Include, ...]:
    """The `-r`/`-c` lines of `text`, the file called `name`, in order.

    For a CLI that reads local files, then passes them all to `parse_requirements`. Only well-formed, relative
    includes count (the parser refuses the others, naming the line); the text is not otherwise validated here.
    """
    found: list[Include] = []
    if is_lock_file(name):
        return ()  # a lock file includes nothing (its text is TOML or JSON)
    for line_number, line in _logical_lines(text):
        if line.startswith("-"):
            try:
                options = _read_options(shlex.split(line), name, line_number)
            except (InputError, ValueError):
                continue
            for option, spelled, value in options:
                if option.kind in ("requirement", "constraint") and value and not _is_absolute(value):
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), value))
                    found.append(Include(file=name, line=line_number, option=spelled, target=value, name=target))
    return tuple(found)


def included_files(text: str, *, name: str) -> tuple[str, ...]:
    """The names that `-r`/`-c` lines of `text` refer to, resolved against `name`'s directory (see `includes`)."""
    return tuple(dict.fromkeys(include.name for include in includes(text, name=name)))


def _decode(name: str, content: str | bytes, max_bytes: int) -> str:
    too_large = f"is larger than the limit of {max_bytes:,} bytes"
    if len(content) > max_bytes:
        raise InputError(too_large, file=name)
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = content.count(b"\n", 0, exc.start) + 1
            raise InputError(
                f"is not valid UTF-8 text (byte {content[exc.start]:#04x})", file=name, line=line
            ) from None
    else:
        text = content
        try:
            if len(text.encode("utf-8")) > max_bytes:
                raise InputError(too_large, file=name)
        except UnicodeEncodeError:
            raise InputError("is not valid UTF-8 text", file=name) from None
    return text.removeprefix("\ufeff")


def _check_characters(name: str, text: str) -> None:
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if "\x00" in line:
            raise InputError("contains NUL bytes (is it a binary file?)", file=name, line=number)
        if BAD_CONTROL.search(line):
            raise InputError("contains control characters (is it a text file?)", file=name, line=number)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first physical line number, line), joining `\\` continuations, dropping comments as pip does."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        is_comment = _COMMENT.match(line) is not None
        if line.endswith("\\") and not is_comment:
            if not pending:
                start = number
            pending.append(line[:-1])
            continue
        if pending:
            pending.append(" " + line if is_comment else line)
            joined, pending = "".join(pending), []
            yield start, _COMMENT.sub("", joined).strip()
        else:
            yield number, _COMMENT.sub("", line).strip()
    if pending:
        yield start, _COMMENT.sub("", "".join(pending)).strip()


def _read_options(tokens: list[str], file: str, line: int) -> list[tuple[_Option, str, str | None]]:
    """Parse option tokens into (option, spelling as written, value)."""
    result: list[tuple[_Option, str, str | None]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value: str | None = None
        if token.startswith("--"):
            spelled, has_value, value = token.partition("=")
            option = _BY_LONG.get(spelled)
            if option is not None and has_value and not option.takes_value:
                raise InputError(f"{spelled} takes no value", file=file, line=line)
            value = value if has_value else None
        elif token.startswith("-") and len(token) > 1:
            spelled, rest = token[:2], token[2:]
            option = _BY_SHORT.get(spelled)
            value = rest.removeprefix("=") if rest else None
        else:
            raise InputError(f"unexpected text {excerpt(token)} after an option", file=file, line=line)
        if option is None:
            raise InputError(f"{excerpt(spelled)} is not a supported option", file=file, line=line)
        if option.takes_value and value is None:
            index += 1
            value = tokens[index] if index < len(tokens) else None
        if option.takes_value and (not value or value.startswith("-")):
            raise InputError(f"{spelled} needs a value", file=file, line=line)
        if value is not None and (re.search(r"[\s'\"\\]", value) or value.startswith("#")):
            # Such a value would not survive being written back as a line for uv.
            message = f"{spelled} {excerpt(value)}: spaces, quotes, backslashes and a leading # are not supported"
            raise InputError(message, file=file, line=line)
        result.append((option, spelled, value))
        index += 1
    return result


def _split_shell(text: str, file: str, line: int) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InputError(f"cannot split options: {exc}", file=file, line=line) from None


class _Parser:
    def __init__(self, files: Mapping[str, str | bytes], *, allow_external: bool, max_bytes: int) -> None:
        self.files = files
        self._keys = {posixpath.normpath(key): key for key in files}
        self._texts: dict[str, str] = {}
        self._done: set[tuple[str, str]] = set()
        self._allow_external = allow_external
        self._max_bytes = max_bytes
        self.requirements: list[str] = []
        self.constraints: list[str] = []
        self.direct_names: list[str] = []
        self.options: list[str] = []
        self.prereleases = False
        self.origins: dict[str, RequirementOrigin] = {}  # the first place each direct name is required

    def lookup(self, name: str) -> str | None:
        return self._keys.get(posixpath.normpath(name)) if name else None

    def parse_file(self, key: str, *, role: str, stack: tuple[str, ...]) -> None:
        if (key, role) in self._done:
            return
        if key not in self._texts:
            if key.lower().endswith((".lock", ".toml")):  # a lock file renamed, or of a kind forkaudit cannot read
                raise InputError(
                    f"is not a requirements file, nor a lock file known by its name ({LOCK_NAMES})", file=key
                )
            self._texts[key] = _decode(key, self.files[key], self._max_bytes)
            _check_characters(key, self._texts[key])
        text = self._texts[key]
        for number, line in _logical_lines(text):
            if not line:
                continue
            if "${" in line:
                raise InputError(
                    "environment variable references like ${NAME} are not allowed "
                    "(they would be expanded on the server)",
                    file=key,
                    line=number,
                )
            if line.startswith("-"):
                self._parse_option_line(key, number, line, role=role, stack=stack + (key,))
            else:
                self._parse_requirement_line(key, number, line, role=role)
        self._done.add((key, role))

    def _parse_option_line(self, key: str, number: int, line: str, *, role: str, stack: tuple[str, ...]) -> None:
        for option, spelled, value in _read_options(_split_shell(line, key, number), key, number):
            if option.kind in ("requirement", "constraint"):
                self._include(key, number, spelled, value or "", role=option.kind, stack=stack)
            elif option.kind == "editable":
                self._refuse_external(key, number, spelled, option)
                self._add(role, f"-e {value}", _egg_name(value or ""), key, number)
            elif option.kind == "external":
                self._refuse_external(key, number, spelled, option)
                self.options.append(f"{option.long} {value}")
            elif option.kind == "pre":
                self.prereleases = True
            elif option.kind == "hash":
                raise InputError(f"{spelled} must follow a requirement on the same line", file=key, line=number)
            elif option.kind == "unsupported":
                raise InputError(f"{spelled} is not supported (build options are not passed on)", file=key, line=number)

    def _refuse_external(self, key: str, number: int, spelled: str, option: _Option) -> None:
        if not self._allow_external:
            shown = spelled if spelled == option.long else f"{spelled} ({option.long})"
            raise InputError(f"{shown} is not allowed ({_EXTERNAL_REASON})", file=key, line=number)

    def _include(self, key: str, number: int, spelled: str, target: str, *, role: str, stack: tuple[str, ...]) -> None:
        if _is_absolute(target):
            raise InputError(
                f"{spelled} {excerpt(target)}: an include must name another uploaded file by relative path",
                file=key,
                line=number,
            )
        if is_lock_file(target):
            raise InputError(
                f"{spelled} {excerpt(target)}: a lock file is given on its own, not included", file=key, line=number
            )
        included = self.lookup(posixpath.join(posixpath.dirname(posixpath.normpath(key)), target))
        if included is None:
            known = ", ".join(sorted(self._keys.values())[:10])
            raise InputError(
                f"{spelled} {excerpt(target)}: no such file in the upload (uploaded: {known})",
                file=key,
                line=number,
            )
        if included in stack:
            cycle = " -> ".join(stack[stack.index(included) :] + (included,))
            raise InputError(f"include cycle: {cycle}", file=key, line=number)
        if len(stack) >= _MAX_INCLUDE_DEPTH:
            raise InputError(f"includes are nested more than {_MAX_INCLUDE_DEPTH} deep", file=key, line=number)
        self.parse_file(included, role=role, stack=stack)

    def _parse_requirement_line(self, key: str, number: int, line: str, *, role: str) -> None:
        found = re.search(r"\s-", line)
        text = line if found is None else line[: found.start()].strip()
        if found is not None:
            for option, spelled, value in _read_options(_split_shell(line[found.start() :], key, number), key, number):
                if option.kind != "hash":
                    raise InputError(f"{spelled} cannot follow a requirement on the same line", file=key, line=number)
                _check_hash(value or "", key, number)
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            external = _external_kind(text)
            if external is None:
                # The reason without the line itself, which packaging quotes: an include can reach any file of the
                # project, and this message may end up in a CI log (a .git/config line holds a token).
                reason = str(exc).splitlines()[0] if str(exc) else "not a requirement"
                raise InputError(
                    f"invalid requirement ({reason}); the line is not shown", file=key, line=number
                ) from None
            self._add_external(key, number, text, external, role=role)
            return
        if requirement.url:
            kind = _external_kind(requirement.url) or "a direct URL requirement"
            self._refuse_external_requirement(key, number, text, kind)
        elif requirement.name.lower().endswith(_ARCHIVE_SUFFIXES):
            self._add_external(key, number, text, "a local path", role=role)
            return
        self._add(role, str(requirement), canonicalize_name(requirement.name), key, number)

    def _add_external(self, key: str, number: int, text: str, kind: str, *, role: str) -> None:
        """Keep a path or URL as written (when allowed)."""
        self._refuse_external_requirement(key, number, text, kind)
        if text.endswith("\\"):  # written back for uv, it would continue onto the next line
            raise InputError(f"{kind} ({excerpt(text)}) ends with a backslash", file=key, line=number)
        self._add(role, text, _egg_name(text), key, number)

    def _refuse_external_requirement(self, key: str, number: int, text: str, kind: str) -> None:
        if not self._allow_external:
            raise InputError(f"{kind} ({excerpt(text)}) is not allowed ({_EXTERNAL_REASON})", file=key, line=number)

    def _add(self, role: str, requirement: str, name: str | None, key: str, number: int) -> None:
        if role == "constraint":
            self.constraints.append(requirement)
            return
        self.requirements.append(requirement)
        if name is not None:
            self.direct_names.append(name)
            self.origins.setdefault(name, RequirementOrigin(name, key, number))


def _is_absolute(target: str) -> bool:
    """A URL or an absolute path: never the name of another uploaded file."""
    return bool(_URL_SCHEME.match(target) or target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target))


def _external_kind(text: str) -> str | None:
    """Describe `text` if it is a URL or a local path rather than a requirement, else None."""
    if text.lower().startswith("file:"):
        return "a file: URL"
    if _VCS.match(text):
        return "a VCS URL"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return "a direct URL requirement"
    head = text.split(";", 1)[0]
    if head.startswith((".", "/", "~", "\\")) or "/" in head or "\\" in head or re.match(r"^[A-Za-z]:", head):
        return "a local path"
    return None


def _egg_name(text: str) -> str | None:
    found = _EGG.search(text)
    return canonicalize_name(found.group(1)) if found else None


def _check_hash(value: str, file: str, line: int) -> None:
    algorithm, _, digest = value.partition(":")
    if len(digest) != _HASH_LENGTHS.get(algorithm) or not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise InputError(f"--hash {excerpt(value)} is not of the form sha256:<hex digest>", file=file, line=line)
