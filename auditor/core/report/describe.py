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
from auditor.core.report.baseline import Comparison, Problem, known_set_aside
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


NOTE_PREFIX = "vulnerability data "  # how auditor.core.vulns words every problem of its lookup


def audit_problems(report: AuditReport) -> tuple[list[str], list[str]]:
    """The audit's problems, and its notes: what is missing but judges nothing (vulnerability data that could not be
    had), to be shown muted, on one line each, after everything else."""
    notes = [e for e in report.errors if e.startswith(NOTE_PREFIX)]
    return [e for e in report.errors if not e.startswith(NOTE_PREFIX)], notes


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


def _provenance(finding: ThreadOnImport | ProcessOnImport | SocketOnImport | AtforkHandler) -> Phrase:
    """Whose import it is, when not the distribution's own top-level import (auditor.core.probe.provenance)."""
    if not finding.trigger or finding.provenance in (None, "import"):
        return ()
    if finding.provenance == "launcher-hook":
        return (Part("; only under a launcher that runs the hook "), name_part(finding.trigger))
    if finding.provenance == "console-script":
        return (Part("; only in its console script's module "), name_part(finding.trigger))
    return (Part("; only when "), name_part(finding.trigger), Part(" is imported"))


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
    return (*parts, *_location(finding.file, finding.line, finding.module), *_provenance(finding))


def _process(finding: ProcessOnImport) -> Phrase:
    state = " still running after import" if finding.alive_after_import else " ran during import and ended"
    if finding.count > 1:
        state += f" ({finding.count} times)"
    return (
        Part("child process "),
        code_part(finding.command),
        Part(state),
        *_location(finding.file, finding.line, finding.module),
        *_provenance(finding),
    )


def _socket(finding: SocketOnImport) -> Phrase:
    parts: list[Part] = [code_part(finding.family), Part(" socket")]
    if finding.address:
        parts += [Part(" to "), code_part(finding.address)]
    parts.append(Part(" left open after import" if finding.open_after_import else " opened and closed during import"))
    return (*parts, *_location(finding.file, finding.line, finding.module), *_provenance(finding))


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
        return (*parts, Part(" at "), name_part(where), *_provenance(finding))
    return (*parts, *_location(None, None, finding.module), *_provenance(finding))


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


# --- the headline: the culprit and the fix, first in every output ----------------------------------------------------

CULPRITS_NAMED = 3  # culprits named in a headline; the others are counted
_IMPORT_AFTER_FORK = "import it after the fork"
# What to do about a package without a verified knob, where there is room to say how.
IMPORT_AFTER_FORK = "import it after the fork (gunicorn post_fork, Celery worker_process_init), or do not preload"


def _live(finding: Finding) -> bool:
    """Left running after the import and across a fork: what makes a distribution unsafe."""
    return finding_verdict(finding) == Verdict.UNSAFE


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _what_it_leaves(distribution: DistributionReport) -> Phrase:
    """What an unsafe distribution leaves behind: `an OpenBLAS thread`, ``a Python thread `flusher` ``,
    `3 threads and a child process`."""
    threads = [f for f in distribution.findings if isinstance(f, ThreadOnImport) and _live(f)]
    processes = [f for f in distribution.findings if isinstance(f, ProcessOnImport) and _live(f)]
    things: list[Phrase] = []
    count = sum(max(f.count, 1) for f in threads)
    if count == 1:
        thread = threads[0]
        if thread.native:
            things.append((Part(_a(f"{thread.library} thread" if thread.library else "native thread")),))
        else:
            things.append(
                (Part("a Python thread "), code_part(thread.thread)) if thread.thread else (Part("a thread"),)
            )
    elif count > 1:
        libraries = list(dict.fromkeys(f.library for f in threads if f.library))
        label = f" ({', '.join(clean_text(lib, CODE_LIMIT) for lib in libraries)})" if libraries else ""
        things.append((Part(f"{count} threads{label}"),))
    if len(processes) == 1:
        things.append((Part("a child process "), code_part(processes[0].command)))
    elif processes:
        things.append((Part(f"{len(processes)} child processes"),))
    if not things:
        return ()
    return tuple(part for index, thing in enumerate(things) for part in ((Part(" and "),) if index else ()) + thing)


def _only_threads(distribution: DistributionReport) -> bool:
    live = [f for f in distribution.findings if _live(f)]
    return bool(live) and all(isinstance(f, ThreadOnImport) for f in live)


def _culprit_name(distribution: DistributionReport) -> Phrase:
    """`numpy 2.4.6 (pulled in by pandas)`: the distribution and the direct requirement that brings it in."""
    parts: list[Part] = [name_part(distribution.name), Part(" "), name_part(distribution.version)]
    if not distribution.direct:
        roots = list(dict.fromkeys(p[0] for p in distribution.paths if len(p) > 1))
        if roots:
            parts += [Part(" (pulled in by "), name_part(roots[0])]
            parts.append(Part(f" and {len(roots) - 1} more)" if len(roots) > 1 else ")"))
    return tuple(parts)


def _names(distributions: Sequence[DistributionReport]) -> Phrase:
    """`a`, `a and b`, `a, b and c`, `a, b, c and 2 more`, each with where it comes from."""
    shown = list(distributions[:CULPRITS_NAMED])
    hidden = len(distributions) - len(shown)
    items: list[Phrase] = [_culprit_name(d) for d in shown]
    if hidden:
        items.append((Part(f"{hidden} more"),))
    parts: list[Part] = []
    for index, item in enumerate(items):
        if index:
            parts.append(Part(" and " if index == len(items) - 1 else ", "))
        parts += item
    return tuple(parts)


def _plain_names(names: Sequence[str]) -> Phrase:
    parts: list[Part] = []
    for index, name in enumerate(names):
        if index:
            parts.append(Part(" and " if index == len(names) - 1 else ", "))
        parts.append(name_part(name))
    return tuple(parts)


def env_assignments(env: dict[str, str]) -> list[Part]:
    """Each variable as `NAME=value`, a name part (shown as code in Markdown and on the web, bare on a terminal)."""
    return [name_part(f"{clean_text(k, CODE_LIMIT)}={clean_text(v, CODE_LIMIT)}") for k, v in env.items()]


def _fix_phrase(report: AuditReport, culprits: Sequence[DistributionReport]) -> Phrase:
    """` — fix: OPENBLAS_NUM_THREADS=1 (verified)`, with the variables of `report.fix()` and what they leave."""
    fix = report.fix()
    names = {d.name for d in culprits}
    unfixed = [d.name for d in culprits if d.name not in fix.fixed]  # whatever no verified variable stops
    parts: list[Part] = [Part(" — fix: ")]
    if fix.env:
        assignments = env_assignments(fix.env)
        if len(assignments) > 1 or len(names) > 1:
            parts.append(Part("set "))
        for index, assignment in enumerate(assignments):
            if index:
                parts.append(Part(" "))
            parts.append(assignment)
        parts.append(Part(" (verified"))
        if unfixed:
            parts += [Part(", for "), *_plain_names(list(fix.fixed))]
        parts.append(Part(")"))
        if unfixed:
            parts += [Part("; import "), *_plain_names(unfixed), Part(" after the fork")]
        return tuple(parts)
    if len(culprits) == 1:
        return (*parts, Part(f"{_IMPORT_AFTER_FORK} (no setting was verified to stop it)"))
    return (*parts, Part("import them after the fork (no setting was verified to stop them)"))


def _caution_what(distribution: DistributionReport) -> Phrase:
    findings = [f for f in distribution.findings if finding_verdict(f) == Verdict.CAUTION]
    stopped = [f for f in findings if isinstance(f, ThreadOnImport) and f.at_fork == "stopped"]
    if stopped:
        library = stopped[0].library
        return (Part(f"starts {_a(f'{library} thread' if library else 'thread')} that its library stops at fork"),)
    if any(isinstance(f, SocketOnImport) for f in findings):
        return (Part("leaves a socket open after import"),)
    return (Part("starts a short-lived thread during import"),)


def _active(report: AuditReport, verdict: Verdict) -> list[DistributionReport]:
    return [d for d in by_severity(report.distributions) if d.verdict == verdict and d.suppressed is None]


def headline(report: AuditReport) -> Phrase:
    """One line that answers "can I fork after importing this, and if not, what do I do?": the culprit(s), how each
    got in and the fix, e.g. "numpy 2.4.6 (pulled in by pandas) leaves an OpenBLAS thread running after import —
    fix: OPENBLAS_NUM_THREADS=1 (verified)"; several culprits share one line of variables (`AuditReport.fix()`), and
    without a verified variable the fix is to import after the fork. A report without culprits says so quietly
    (cautions and distributions that could not be probed are named). Suppressed distributions are left out.

    How to render it: a `Phrase` like `describe_finding`'s. TEXT parts are our words (print them as they are, escaped
    for the format), NAME parts are identifiers (distribution names, versions, `NAME=value` assignments: show them as
    code or as plain text), CODE parts are free text a package controls (thread names, commands: show them as code).
    Every part is already cleaned and capped; escape them for your format, never mark them safe. `headline_text` is
    the plain-text form (terminals, SARIF); `fix_steps` gives what to do in full, one phrase per step."""
    unsafe = _active(report, Verdict.UNSAFE)
    if unsafe:
        what = _what_it_leaves(unsafe[0]) if len(unsafe) == 1 else ()
        if len(unsafe) == 1 and what:
            verb: Phrase = (Part(" leaves "), *what, Part(" running after import"))
        elif len(unsafe) == 1:  # unsafe by its fork trial alone
            verb = (Part(" breaks a forked child (fork trial)"),)
        elif all(_only_threads(d) for d in unsafe):
            verb = (Part(" leave threads running after import"),)
        elif all(_what_it_leaves(d) for d in unsafe):
            verb = (Part(" leave threads or processes running after import"),)
        else:
            verb = (Part(" are not fork-safe"),)
        return (*_names(unsafe), *verb, *_fix_phrase(report, unsafe))
    caution = _active(report, Verdict.CAUTION)
    errors = _active(report, Verdict.ERROR)
    total = len(report.distributions)
    if not caution and not errors:
        if total == 0:
            return (Part("Fork-safe: nothing to audit"),)
        noun = "distribution" if total == 1 else "distributions"
        return (Part(f"Fork-safe: nothing is left running or open after import ({total} {noun})"),)
    parts: list[Part] = []
    if errors:
        noun = "distribution" if len(errors) == 1 else "distributions"
        parts += [
            Part(f"Incomplete: {len(errors)} {noun} could not be probed: "),
            *_names(errors),
        ]
        parts.append(Part("; nothing else leaves a thread or process running after import"))
    else:
        parts.append(Part("Fork-safe: nothing is left running after import"))
    if caution:
        parts += [Part("; caution: "), *_culprit_name(caution[0]), Part(" "), *_caution_what(caution[0])]
        if len(caution) > 1:
            parts.append(Part(f" (and {len(caution) - 1} more)"))
    return tuple(parts)


def headline_text(report: AuditReport) -> str:
    """The headline as plain text (for terminals and SARIF): free text a package controls in backticks."""
    return plain(headline(report))


_WHERE_TO_SET = (
    "Set {it} where the process starts, so that it holds before anything is imported: a Dockerfile `ENV` line, "
    "systemd's `Environment=`, your platform's or process manager's environment settings. gunicorn's `--env` "
    "(`raw_env` in its configuration file) is applied early enough: gunicorn sets it before it loads the "
    "application, even with `--preload`. Celery has no setting for it (its configuration is read only once the "
    "application's module is imported): set it in the worker's environment. Not from Python code that runs after "
    "the package is imported."
)
_HOW_TO_IMPORT_AFTER_FORK = (
    "Import {them} only in the forked workers, not in what is loaded before the fork: gunicorn without `--preload` "
    "(or in its `post_fork` hook), Celery's `worker_process_init` signal, uWSGI's `lazy-apps`; or start the "
    "workers with spawn or forkserver (`multiprocessing.set_start_method`) instead of fork."
)


def _words(text: str) -> Phrase:
    """Our own sentence, its `quoted` configuration names as code parts (code in Markdown and on the web)."""
    pieces = text.split("`")
    return tuple(
        Part(piece, PartKind.CODE if index % 2 else PartKind.TEXT) for index, piece in enumerate(pieces) if piece
    )


def fix_steps(report: AuditReport) -> list[Phrase]:
    """What to do, in full, one phrase per step (empty when nothing is unsafe): the variables to set and where to
    set them so that they take effect before the import, then how to import what they do not fix after the fork.
    Render each step as `headline` says (configuration names such as `ENV` are code parts)."""
    unsafe = _active(report, Verdict.UNSAFE)
    if not unsafe:
        return []
    fix = report.fix()
    steps: list[Phrase] = []
    if fix.env:
        assignments = env_assignments(fix.env)
        joined: list[Part] = []
        for index, assignment in enumerate(assignments):
            if index:
                joined.append(Part(" "))
            joined.append(assignment)
        it = "them" if len(assignments) > 1 else "it"
        steps.append(
            (
                Part("Set "),
                *joined,
                Part(" (verified by forkaudit: it stops the threads of "),
                *_plain_names(list(fix.fixed)),
                Part(")."),
            )
        )
        steps.append(_words(_WHERE_TO_SET.format(it=it)))
    unfixed = [d.name for d in unsafe if d.name not in fix.fixed]
    if unfixed:
        them = "it" if len(unfixed) == 1 else "them"
        lead = (
            *_plain_names(unfixed),
            Part(
                ": no setting was verified to stop what "
                + ("it leaves" if len(unfixed) == 1 else "they leave")
                + " running. "
            ),
        )
        steps.append((*lead, *_words(_HOW_TO_IMPORT_AFTER_FORK.format(them=them))))
    return steps


# --- against a baseline: what a change adds ---------------------------------------------------------------------------


def _problem_names(problems: Sequence[Problem]) -> str:
    names = list(dict.fromkeys(clean_text(p.distribution, NAME_LIMIT) for p in problems))
    shown = ", ".join(names[:CULPRITS_NAMED])
    return shown + (f" and {len(names) - CULPRITS_NAMED} more" if len(names) > CULPRITS_NAMED else "")


def _problems(count: int) -> str:
    return f"{count} problem" if count == 1 else f"{count} problems"


def baseline_headline(report: AuditReport, comparison: Comparison) -> Phrase:
    """The headline of what is new against the baseline (`headline` of the report with the known distributions set
    aside), or that nothing is; render it as `headline` says."""
    if comparison.new:
        return (Part("New: "), *headline(known_set_aside(report, comparison)))
    if comparison.known:
        left = (
            "the problem left is"
            if len(comparison.known) == 1
            else f"the {len(comparison.known)} problems left are all"
        )
        return (Part(f"Nothing new: {left} in the baseline"),)
    return (Part("Nothing new: "), *headline(report))


def baseline_summary(comparison: Comparison) -> str:
    """`Against the baseline: 1 new problem (fa-beacon); 2 known (numpy, numexpr), not counted; 1 fixed (x)`."""
    new = len(comparison.new)
    parts = [
        f"{new} new {'problem' if new == 1 else 'problems'}" + (f" ({_problem_names(comparison.new)})" if new else "")
    ]
    if comparison.known:
        parts.append(f"{len(comparison.known)} known ({_problem_names(comparison.known)}), not counted")
    if comparison.fixed:
        parts.append(f"{len(comparison.fixed)} fixed ({_problem_names(comparison.fixed)})")
    return "Against the baseline: " + "; ".join(parts)
