"""What the renderers share: one sentence per finding, its level, and the order in which things are shown.

A finding is described as a *phrase*: a tuple of `Part`s that keeps our own wording apart from the strings
that the audited package controls, so that each format can escape (Markdown), quote (code spans) or just
print (terminal, SARIF) the untrusted parts. Untrusted parts are already cleaned and length-capped by
`sanitize.clean_text`."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.core.findings import (
    AtforkHandler,
    AuditReport,
    DistributionReport,
    Finding,
    ForkCall,
    ForkTrial,
    ImportFailure,
    ModuleStatus,
    ProcessOnImport,
    RuntimeThread,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
    Vulnerability,
)
from auditor.core.report.sanitize import clean_text
from auditor.core.verdicts import finding_verdict

NAME_LIMIT = 100  # module names, file paths, qualified calls, distribution names
CODE_LIMIT = 60  # thread names, commands, addresses, ids
MESSAGE_LIMIT = 160  # error messages
PATH_ARROW = " → "


class PartKind(enum.Enum):
    TEXT = "text"  # our own wording: safe as it is
    NAME = "name"  # an identifier the package controls: a module, a file:line, a call, a version
    CODE = "code"  # free text the package controls: a thread name, a command, an error message


@dataclass(frozen=True)
class Part:
    text: str
    kind: PartKind = PartKind.TEXT


Phrase = tuple[Part, ...]


def name_part(value: object, limit: int = NAME_LIMIT) -> Part:
    return Part(clean_text(value, limit), PartKind.NAME)


def code_part(value: object, limit: int = CODE_LIMIT) -> Part:
    return Part(clean_text(value, limit), PartKind.CODE)


def plain(phrase: Iterable[Part]) -> str:
    """The phrase as plain text (for terminals and SARIF messages), free text in backticks."""
    return "".join(f"`{part.text}`" if part.kind is PartKind.CODE else part.text for part in phrase)


class Level(enum.StrEnum):
    """How much a finding matters, named as SARIF levels are."""

    ERROR = "error"  # makes its distribution unsafe
    WARNING = "warning"  # makes its distribution caution
    NOTE = "note"  # everything else

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.ERROR: 0, Level.WARNING: 1, Level.NOTE: 2}


def finding_level(finding: Finding) -> Level:
    """`error` for what makes a distribution unsafe (a thread or a process alive after the import), `warning` for
    what makes it caution (a transient import-time thread, an open socket), else `note` (threads its code may start
    at runtime: information)
    (the verdict rules themselves live in auditor.core.verdicts)."""
    return _LEVEL_OF_VERDICT.get(finding_verdict(finding), Level.NOTE)


_LEVEL_OF_VERDICT = {Verdict.UNSAFE: Level.ERROR, Verdict.CAUTION: Level.WARNING}


def by_severity(distributions: Iterable[DistributionReport]) -> list[DistributionReport]:
    """Distributions most severe verdict first (unsafe, error, caution, safe), then by name."""
    return sorted(distributions, key=lambda d: (-d.verdict.severity, d.name.lower(), d.version))


def counts_text(report: AuditReport) -> str:
    """The summary counts, most severe verdict first: `1 unsafe, 0 error, 2 caution, 9 safe`."""
    summary = report.summary()
    return ", ".join(f"{summary[str(v)]} {v}" for v in (Verdict.UNSAFE, Verdict.ERROR, Verdict.CAUTION, Verdict.SAFE))


def offenders(report: AuditReport) -> list[DistributionReport]:
    """The distributions that are not safe, most severe first."""
    return [d for d in by_severity(report.distributions) if d.verdict != Verdict.SAFE]


def evidence(distribution: DistributionReport) -> list[Finding]:
    """The distribution's findings, most important first (errors, warnings, notes; otherwise as recorded)."""
    return sorted(distribution.findings, key=lambda f: finding_level(f).rank)


def path_text(path: Sequence[str]) -> str:
    """A dependency path as `pandas → numpy`."""
    return PATH_ARROW.join(clean_text(name, NAME_LIMIT) for name in path)


def mitigation_text(finding: Finding) -> str | None:
    """The finding's verified mitigation as `NAME=value` pairs (`OPENBLAS_NUM_THREADS=1`), or None if it
    has none."""
    if not isinstance(finding, ThreadOnImport) or not finding.mitigation:
        return None
    env = finding.mitigation.get("env")
    if finding.mitigation.get("verified") is not True or not isinstance(env, dict) or not env:
        return None
    return " ".join(f"{clean_text(k, CODE_LIMIT)}={clean_text(v, CODE_LIMIT)}" for k, v in env.items())


def verified_mitigations(distribution: DistributionReport) -> list[str]:
    """The distinct verified mitigations of the distribution's findings, in the order of its findings."""
    found = (mitigation_text(f) for f in distribution.findings)
    return list(dict.fromkeys(m for m in found if m))


def _location(file: str | None, line: int | None, module: str | None) -> Phrase:
    if file:
        where = f"{file}:{line}" if line else file
        return (Part(", started at "), name_part(where))
    if module:
        return (Part(" (module "), name_part(module), Part(")"))
    return ()


def _thread(finding: ThreadOnImport) -> Phrase:
    kind = (finding.library or "native") if finding.native else "Python"
    noun = f"{finding.count} {kind} threads" if finding.count > 1 else f"{kind} thread"
    parts: list[Part] = [Part(noun)]
    if finding.thread:
        parts += [Part(" "), code_part(finding.thread)]
    if finding.daemon:
        parts.append(Part(" (daemon)"))
    parts.append(Part(" alive after import" if finding.alive_after_import else " exited during import"))
    if finding.at_fork == "stopped":
        parts.append(Part(", stopped by its library at fork"))
    if finding.library_file:
        parts += [Part(", runs in "), name_part(finding.library_file)]
    if finding.unexplained:
        parts.append(Part(", seen by forkaudit from outside the probe but missing from the probe's own report"))
    return (*parts, *_location(finding.file, finding.line, finding.module))


def _process(finding: ProcessOnImport) -> Phrase:
    state = " still running after import" if finding.alive_after_import else " ran during import and ended"
    if finding.count > 1:
        state += f" ({finding.count} times)"
    return (
        Part("child process "),
        code_part(finding.command),
        Part(state),
        *_location(finding.file, finding.line, finding.module),
    )


def _socket(finding: SocketOnImport) -> Phrase:
    parts: list[Part] = [code_part(finding.family), Part(" socket")]
    if finding.address:
        parts += [Part(" to "), code_part(finding.address)]
    parts.append(Part(" left open after import" if finding.open_after_import else " opened and closed during import"))
    return (*parts, *_location(finding.file, finding.line, finding.module))


def _atfork(finding: AtforkHandler) -> Phrase:
    parts: list[Part] = [Part("registers at-fork handlers")]
    if finding.hooks:
        parts.append(Part(" ("))
        for index, hook in enumerate(finding.hooks):
            if index:
                parts.append(Part(", "))
            parts.append(name_part(hook))
        parts.append(Part(")"))
    if finding.file:
        where = f"{finding.file}:{finding.line}" if finding.line else finding.file
        return (*parts, Part(" at "), name_part(where))
    return (*parts, *_location(None, None, finding.module))


def _code_call(verb: str, call: str, file: str, line: int) -> Phrase:
    return (Part(verb), name_part(call), Part(" at "), name_part(f"{file}:{line}"))


def _runtime_thread(finding: RuntimeThread) -> Phrase:
    verb = "starts threads at module level: " if finding.scope == "module" else "starts threads at runtime: "
    return _code_call(verb, finding.call, finding.file, finding.line)


def _fork_call(finding: ForkCall) -> Phrase:
    return _code_call("calls ", finding.call, finding.file, finding.line)


_IMPORT_OUTCOMES = {
    str(ModuleStatus.IMPORT_ERROR): "failed",
    str(ModuleStatus.TIMEOUT): "timed out",
    str(ModuleStatus.MEMORY): "exceeded the memory limit",
    str(ModuleStatus.CRASH): "crashed",
    str(ModuleStatus.EXIT): "exited the interpreter",
    str(ModuleStatus.SKIPPED): "was not imported",
}


def _import_failure(finding: ImportFailure) -> Phrase:
    parts: list[Part]
    if finding.reason == "install":
        parts = [Part("could not be installed")]
    elif finding.reason == "resolve":
        parts = [Part("could not be resolved")]
    else:
        subject: list[Part] = [Part("import of "), name_part(finding.module)] if finding.module else [Part("import")]
        outcome = _IMPORT_OUTCOMES.get(finding.reason)
        tail = [Part(f" {outcome}")] if outcome else [Part(" failed ("), code_part(finding.reason), Part(")")]
        parts = subject + tail
    if finding.message:
        parts += [Part(": "), code_part(finding.message, MESSAGE_LIMIT)]
    return tuple(parts)


def _threads(count: int) -> str:
    return f"{count} thread" if count == 1 else f"{count} threads"


def _fork_trial(finding: ForkTrial) -> Phrase:
    if finding.child_ok:
        parts: list[Part] = [Part("fork trial: the child ran its smoke test")]
    elif finding.child == "hung":
        parts = [Part("fork trial: the child hung (a lock held across the fork?)")]
    else:
        parts = [Part("fork trial: the child "), code_part(finding.child, MESSAGE_LIMIT)]
    if finding.stopped:
        parts.append(Part(f"; {_threads(finding.stopped)} stopped by its library at the fork"))
    if finding.survived:
        parts.append(Part(f"; {_threads(finding.survived)} kept running across it"))
    return tuple(parts)


def _vulnerability(finding: Vulnerability) -> Phrase:
    parts: list[Part] = [Part("known vulnerability "), code_part(finding.id)]
    if finding.fix_versions:
        parts.append(Part(" (fixed in "))
        for index, version in enumerate(finding.fix_versions):
            if index:
                parts.append(Part(", "))
            parts.append(name_part(version))
        parts.append(Part(")"))
    return tuple(parts)


def describe_finding(finding: Finding) -> Phrase:
    """One short sentence saying what the package does: ``native thread `x` alive after import (module m)``."""
    if isinstance(finding, ThreadOnImport):
        return _thread(finding)
    if isinstance(finding, ProcessOnImport):
        return _process(finding)
    if isinstance(finding, SocketOnImport):
        return _socket(finding)
    if isinstance(finding, AtforkHandler):
        return _atfork(finding)
    if isinstance(finding, RuntimeThread):
        return _runtime_thread(finding)
    if isinstance(finding, ForkCall):
        return _fork_call(finding)
    if isinstance(finding, ForkTrial):
        return _fork_trial(finding)
    if isinstance(finding, ImportFailure):
        return _import_failure(finding)
    if isinstance(finding, Vulnerability):
        return _vulnerability(finding)
    return (Part("finding "), code_part(finding.kind))
