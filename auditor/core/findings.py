"""The domain's vocabulary: findings, module outcomes, probe results and verdicts.

Everything here is a plain frozen dataclass that turns into JSON (docs/report-schema.md) with `to_dict()` and back with
`finding_from_dict()`, so that the database, the API and the CLI share one shape.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditor.core.fixes import smallest_set


class Verdict(enum.StrEnum):
    SAFE = "safe"
    CAUTION = "caution"
    ERROR = "error"
    UNSAFE = "unsafe"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def worst(cls, verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
        return max(verdicts, key=lambda v: v.severity, default=cls.SAFE)


# docs/verdicts.md: unsafe > error > caution > safe.
_SEVERITY = {Verdict.SAFE: 0, Verdict.CAUTION: 1, Verdict.ERROR: 2, Verdict.UNSAFE: 3}


class ModuleStatus(enum.StrEnum):
    OK = "ok"
    IMPORT_ERROR = "import-error"  # the module raised; normal for optional extras
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"  # killed by a signal
    EXIT = "exit"  # the interpreter exited during the import
    SKIPPED = "skipped"  # not imported: the time budget ran out, or its package fails each time

    @property
    def killed_probe(self) -> bool:
        return self in (ModuleStatus.TIMEOUT, ModuleStatus.MEMORY, ModuleStatus.CRASH, ModuleStatus.EXIT)


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass(frozen=True)
class Finding:
    """Base of all findings; `kind` names the JSON `kind` field. A dataclass without fields, so that what takes any
    finding (dataclasses.fields, dataclasses.replace) type-checks."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [str(v) if isinstance(v, Frame) else v for v in value]
            data[f.name] = value
        return data


_THREAD_NUMBER = re.compile(r"Thread-\d+")


def thread_kind(name: object) -> str:
    """A thread's name without the number `threading` gives it by default (`Thread-3 (work)`), which counts threads
    per interpreter: what makes threads of one interpreter comparable with those of another."""
    return _THREAD_NUMBER.sub("Thread-*", str(name))


@dataclass(frozen=True)
class ThreadOnImport(Finding):
    kind: ClassVar[str] = "thread-on-import"
    thread: str
    native: bool
    alive_after_import: bool
    module: str | None
    daemon: bool | None = None
    file: str | None = None
    line: int | None = None
    stack: tuple[str, ...] = ()
    count: int = 1  # short-lived native threads are only counted, not named
    mitigation: dict[str, Any] | None = None
    unexplained: bool = False  # seen alive from outside the probe, missing from (or forged in) its own report
    library: str | None = None  # a native thread's well-known library ("OpenBLAS"), as its stack shows it
    library_file: str | None = None  # the shared object it runs in (relative to site-packages when installed there)
    # What a fork did to it (the fork trial): "stopped" by its library's own at-fork handler, or "survived" it.
    at_fork: str | None = None
    trigger: str | None = None  # the module the probe imported when it happened: whose import it is
    provenance: str | None = None  # import, submodule, launcher-hook, console-script (auditor.core.probe.provenance)

    def same_thread(self, other: Finding) -> bool:
        """Whether `other`, from another interpreter's import (a re-import), is this thread: by module and by name, so
        that of two native threads of one module a knob may stop one and not the other; not by library, which the
        host names only while the thread lives (a thread stopped at a fork is gone)."""
        identity = (self.native, self.module, thread_kind(self.thread))
        return isinstance(other, ThreadOnImport) and (other.native, other.module, thread_kind(other.thread)) == identity


@dataclass(frozen=True)
class ProcessOnImport(Finding):
    kind: ClassVar[str] = "process-on-import"
    command: str
    alive_after_import: bool
    module: str | None
    file: str | None = None
    line: int | None = None
    stack: tuple[str, ...] = ()
    count: int = 1  # the same program started again from the same line (the first one's command and stack are kept)
    trigger: str | None = None  # the module the probe imported when it happened: whose import it is
    provenance: str | None = None  # import, submodule, launcher-hook, console-script (auditor.core.probe.provenance)


@dataclass(frozen=True)
class SocketOnImport(Finding):
    kind: ClassVar[str] = "socket-on-import"
    family: str
    open_after_import: bool
    module: str | None
    address: str | None = None
    file: str | None = None
    line: int | None = None
    stack: tuple[str, ...] = ()
    trigger: str | None = None  # the module the probe imported when it happened: whose import it is
    provenance: str | None = None  # import, submodule, launcher-hook, console-script (auditor.core.probe.provenance)


@dataclass(frozen=True)
class AtforkHandler(Finding):
    kind: ClassVar[str] = "atfork-handler"
    module: str | None
    hooks: tuple[str, ...] = ()  # before, after_in_child, after_in_parent
    file: str | None = None
    line: int | None = None
    static: bool = False
    trigger: str | None = None  # the module the probe imported when it happened: whose import it is
    provenance: str | None = None  # import, submodule, launcher-hook, console-script (auditor.core.probe.provenance)


@dataclass(frozen=True)
class RuntimeThread(Finding):
    kind: ClassVar[str] = "runtime-thread"
    call: str  # qualified name, e.g. threading.Thread
    scope: str  # "module", "class" or "function"
    module: str | None
    file: str
    line: int


@dataclass(frozen=True)
class ForkCall(Finding):
    kind: ClassVar[str] = "fork-call"
    call: str  # os.fork, multiprocessing.set_start_method, ...
    scope: str
    module: str | None
    file: str
    line: int


@dataclass(frozen=True)
class ImportFailure(Finding):
    kind: ClassVar[str] = "import-error"
    module: str | None
    reason: str  # a ModuleStatus value, or "install" / "resolve"
    message: str
    top_level: bool = True


@dataclass(frozen=True)
class ForkTrial(Finding):
    """What one real fork did after the import, in the sandbox: whether the child ran a short smoke test
    (allocation, a thread, logging, an import) within its time, and how many threads were stopped at the fork by
    their own library or survived it."""

    kind: ClassVar[str] = "fork-trial"
    child: str  # "ok", "hung", "crashed: …" or "failed: …"
    stopped: int = 0
    survived: int = 0
    seconds: float = 0.0

    @property
    def child_ok(self) -> bool:
        return self.child == "ok"


@dataclass(frozen=True)
class Vulnerability(Finding):
    kind: ClassVar[str] = "vulnerability"
    id: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()


FINDING_TYPES: dict[str, type[Finding]] = {
    cls.kind: cls
    for cls in (
        ThreadOnImport,
        ProcessOnImport,
        SocketOnImport,
        AtforkHandler,
        RuntimeThread,
        ForkCall,
        ForkTrial,
        ImportFailure,
        Vulnerability,
    )
}


def finding_from_dict(data: dict[str, Any]) -> Finding:
    """Rebuild a finding from its `to_dict()` form (unknown keys are ignored, for forward compatibility)."""
    cls = FINDING_TYPES[data["kind"]]
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key in names:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


@dataclass(frozen=True)
class ModuleOutcome:
    name: str
    status: ModuleStatus
    import_seconds: float = 0.0
    top_level: bool = True
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "import_seconds": round(self.import_seconds, 4),
            "status": str(self.status),
            "top_level": self.top_level,
        }
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleOutcome:
        return cls(
            name=data["name"],
            status=ModuleStatus(data["status"]),
            import_seconds=data.get("import_seconds", 0.0),
            top_level=data.get("top_level", True),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class ProbeResult:
    """What probing one distribution found: its own findings (already attributed) and each module's outcome."""

    distribution: str
    version: str
    sandbox: str
    modules: tuple[ModuleOutcome, ...]
    findings: tuple[Finding, ...]
    fork_aware: bool = False
    seconds: float = 0.0
    error: str | None = None  # the distribution could not be probed at all (nothing to import, install failed)
    limits: str = ""  # which memory and process limits held: per probe (cgroup), or per process only
    # Threads alive after the import that the probe blamed on other distributions (auditor.core.blame checks them).
    foreign_threads: tuple[dict[str, Any], ...] = ()
    imported_with: str = ""  # how it had to be imported, when not on its own (a framework configured first)

    def to_dict(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "version": self.version,
            "sandbox": self.sandbox,
            "limits": self.limits,
            "foreign_threads": list(self.foreign_threads),
            "imported_with": self.imported_with,
            "modules": [m.to_dict() for m in self.modules],
            "findings": [f.to_dict() for f in self.findings],
            "fork_aware": self.fork_aware,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(
            distribution=data["distribution"],
            version=data["version"],
            sandbox=data["sandbox"],
            modules=tuple(ModuleOutcome.from_dict(m) for m in data["modules"]),
            findings=tuple(finding_from_dict(f) for f in data["findings"]),
            fork_aware=data.get("fork_aware", False),
            seconds=data.get("seconds", 0.0),
            error=data.get("error"),
            limits=data.get("limits", ""),
            foreign_threads=tuple(data.get("foreign_threads", ())),
            imported_with=data.get("imported_with", ""),
        )


@dataclass(frozen=True)
class DistributionReport:
    name: str
    version: str
    direct: bool
    verdict: Verdict
    fork_aware: bool
    paths: tuple[tuple[str, ...], ...]
    modules: tuple[ModuleOutcome, ...]
    findings: tuple[Finding, ...]
    cached: bool = False
    suppressed: str | None = None  # the project's reason for accepting it ([tool.forkaudit] suppress)
    built_from_source: bool = False  # it had no usable wheel: its source distribution was built in the sandbox
    imported_with: str = ""  # how it had to be imported, when not on its own (ProbeResult.imported_with)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "direct": self.direct,
            "verdict": str(self.verdict),
            "fork_aware": self.fork_aware,
            "paths": [list(p) for p in self.paths],
            "modules": [m.to_dict() for m in self.modules],
            "findings": [f.to_dict() for f in self.findings],
            "cached": self.cached,
            "suppressed": self.suppressed,
            "built_from_source": self.built_from_source,
            "imported_with": self.imported_with,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistributionReport:
        return cls(
            name=data["name"],
            version=data["version"],
            direct=data["direct"],
            verdict=Verdict(data["verdict"]),
            fork_aware=data.get("fork_aware", False),
            paths=tuple(tuple(p) for p in data.get("paths", ())),
            modules=tuple(ModuleOutcome.from_dict(m) for m in data.get("modules", ())),
            findings=tuple(finding_from_dict(f) for f in data.get("findings", ()) if f.get("kind") in FINDING_TYPES),
            cached=data.get("cached", False),
            suppressed=data.get("suppressed"),
            built_from_source=data.get("built_from_source", False),
            imported_with=data.get("imported_with", ""),
        )


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    sandbox: str


@dataclass(frozen=True)
class Fix:
    """What to do about an audit's unsafe distributions, at once."""

    env: dict[str, str]  # the variables to set before the application imports anything
    fixed: tuple[str, ...]  # distributions whose every live thread they stop (each verified by a re-run)
    unfixed: tuple[str, ...]  # distributions left unsafe: import them after the fork instead

    def to_dict(self) -> dict[str, Any]:
        return {"env": dict(self.env), "fixed": list(self.fixed), "unfixed": list(self.unfixed)}


def _is_live_thread(finding: Finding) -> bool:
    return isinstance(finding, ThreadOnImport) and finding.alive_after_import


def _keeps_running(finding: Finding) -> bool:
    return isinstance(finding, ProcessOnImport) and finding.alive_after_import


def _verified_knobs(finding: Finding) -> list[dict[str, str]]:
    mitigation = getattr(finding, "mitigation", None) or {}
    if mitigation.get("verified") is not True or not isinstance(mitigation.get("env"), dict):
        return []
    alternatives = [a for a in mitigation.get("alternatives") or () if isinstance(a, dict)]
    return [mitigation["env"], *alternatives]


@dataclass(frozen=True)
class AuditReport:
    verdict: Verdict
    environment: Environment
    distributions: tuple[DistributionReport, ...]
    errors: tuple[str, ...] = field(default=())  # audit-level problems that did not stop it

    SCHEMA: ClassVar[str] = "forkaudit-report/1"

    def summary(self) -> dict[str, int]:
        counts = {"distributions": len(self.distributions)}
        for verdict in (Verdict.UNSAFE, Verdict.CAUTION, Verdict.SAFE, Verdict.ERROR):
            counts[str(verdict)] = sum(1 for d in self.distributions if d.verdict == verdict)
        counts["suppressed"] = sum(1 for d in self.distributions if d.suppressed is not None)
        return counts

    def fix(self) -> Fix:
        """The fewest variables that stop the live threads of the unsafe distributions (auditor.core.fixes)."""
        unsafe = [d for d in self.distributions if d.verdict == Verdict.UNSAFE and d.suppressed is None]
        threads = [(d.name, f) for d in unsafe for f in d.findings if _is_live_thread(f)]
        env, stopped = smallest_set([_verified_knobs(f) for _, f in threads])
        unstopped = {name for index, (name, _) in enumerate(threads) if index not in stopped}
        others = {d.name for d in unsafe if any(_keeps_running(f) and not _is_live_thread(f) for f in d.findings)}
        unfixed = tuple(d.name for d in unsafe if d.name in unstopped | others)
        fixed = tuple(d.name for d in unsafe if d.name not in unfixed and any(n == d.name for n, _ in threads))
        return Fix(env=env, fixed=fixed, unfixed=unfixed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.SCHEMA,
            "verdict": str(self.verdict),
            "environment": dataclasses.asdict(self.environment),
            "summary": self.summary(),
            "fix": self.fix().to_dict(),
            "distributions": [d.to_dict() for d in self.distributions],
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        """Read a report of schema forkaudit-report/1 (from the API, for `forkaudit check`)."""
        if data.get("schema") != cls.SCHEMA:
            raise ValueError(f"not a {cls.SCHEMA} report: schema {data.get('schema')!r}")
        return cls(
            verdict=Verdict(data["verdict"]),
            environment=Environment(**data["environment"]),
            distributions=tuple(DistributionReport.from_dict(d) for d in data["distributions"]),
            errors=tuple(data.get("errors", ())),
        )
