"""SARIF 2.1.0 output, for code scanning (GitHub's and others').

One result per distribution that is not safe, however many threads, modules or findings it has: code scanning shows
one alert per problem, and the problem is the package. The result points at the line of the requirements file that
brings the package in (the direct requirement its dependency path starts from), since that is the line a reviewer can
act on; the file in site-packages where the thread starts is a related location. Its level follows the verdict
(`error` unsafe, `warning` caution, `note` could not be probed), so hints found by reading the code, which set no
verdict, never raise it. Its rule says the fix: a rule per verified environment setting (`thread-on-import/
OPENBLAS_NUM_THREADS=1`), else the general one (import after the fork). `partialFingerprints` depend on the package,
the kind of problem and the requirements file only, so the same finding keeps its alert across runs while lines move
and versions change.

What GitHub reads is documented in "SARIF support for code scanning" (docs.github.com): relative URIs are taken
from the repository's root, `partialFingerprints.primaryLocationLineHash` identifies a result, rules need `id`,
`shortDescription`, `fullDescription` (at most 1,024 characters) and `help`, and a result at most 10 locations."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor.core.findings import (
    AuditReport,
    DistributionReport,
    Finding,
    ImportFailure,
    ProcessOnImport,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
)
from auditor.core.inputs.requirements import RequirementOrigin
from auditor.core.report.baseline import Comparison
from auditor.core.report.describe import (
    CODE_LIMIT,
    IMPORT_AFTER_FORK,
    MESSAGE_LIMIT,
    NAME_LIMIT,
    PATH_ARROW,
    Level,
    baseline_headline,
    describe_finding,
    evidence,
    headline_text,
    offenders,
    plain,
)
from auditor.core.report.paths import without_server_paths
from auditor.core.report.sanitize import clean_text
from auditor.core.verdicts import finding_verdict

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "forkaudit"
SOURCE_ROOT = "%SRCROOT%"  # requirements files: relative to the repository's root
SITE_PACKAGES = "SITE_PACKAGES"  # the audited packages' files: relative to the audit environment's site-packages
FINGERPRINT = "forkaudit/v1"
DESCRIPTION_LIMIT = 1024  # GitHub's limit for a rule's shortDescription and fullDescription
EVIDENCE_SHOWN = 3  # findings described in a result's message; all of them are in its properties
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_LEVEL_OF_VERDICT = {Verdict.UNSAFE: Level.ERROR, Verdict.CAUTION: Level.WARNING, Verdict.ERROR: Level.NOTE}


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    short: str
    help: str
    level: Level

    def to_sarif(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "shortDescription": {"text": self.short[:DESCRIPTION_LIMIT]},
            "fullDescription": {"text": self.help[:DESCRIPTION_LIMIT]},
            "help": {"text": self.help},
            "defaultConfiguration": {"level": str(self.level)},
            "properties": {"tags": ["fork-safety"], "precision": "high"},
        }


_FORK_RISK = (
    "fork() copies only the calling thread: a lock another thread holds at fork time stays locked forever in the "
    "child, so servers that fork after importing the application (gunicorn --preload, Celery's prefork pool, uWSGI, "
    "multiprocessing's fork start method) hang now and then."
)
_IMPORT_AFTER_FORK = (
    "Fix: import the package in the forked workers only (gunicorn's post_fork hook, Celery's worker_process_init "
    "signal), do not preload the application, or start workers with spawn or forkserver."
)
_ENVIRONMENT_ADVICE = (
    "Set it where the process is started, so that it holds before the import: a Dockerfile ENV line, systemd's "
    "Environment=, the process manager's or platform's environment settings; not from Python code that runs after "
    "the package is imported."
)

BASE_RULES: tuple[Rule, ...] = (
    Rule(
        "thread-on-import",
        "ThreadOnImport",
        "Starts a thread when it is imported",
        f"The package starts a thread (Python or native) while it is imported. {_FORK_RISK} {_IMPORT_AFTER_FORK} "
        "When forkaudit verified an environment setting that prevents the thread, the result's rule names it.",
        Level.ERROR,
    ),
    Rule(
        "process-on-import",
        "ProcessOnImport",
        "Leaves a child process running when it is imported",
        f"The package starts a child process while it is imported and leaves it running; every forked worker "
        f"inherits it. {_FORK_RISK} {_IMPORT_AFTER_FORK}",
        Level.ERROR,
    ),
    Rule(
        "socket-on-import",
        "SocketOnImport",
        "Leaves a socket open when it is imported",
        "The package opens a socket while it is imported and leaves it open: every forked worker shares it and they "
        f"interleave their traffic on one connection. {_IMPORT_AFTER_FORK}",
        Level.WARNING,
    ),
    Rule(
        "import-error",
        "NotProbed",
        "Could not be installed or imported",
        "forkaudit could not install the package, or importing it failed, timed out, ran out of memory, crashed or "
        "exited the interpreter, so it cannot tell whether the package starts threads on import. Fix: read the "
        "error in the result; packages are imported as applications import them, so an import that fails here "
        "usually needs a system library or a configuration the audit lacks.",
        Level.NOTE,
    ),
)
_BASE_RULES = {rule.id: rule for rule in BASE_RULES}


def _fix_rule(fix: tuple[str, ...]) -> Rule:
    """The rule of threads that verified environment settings prevent (only a thread's mitigation is verified): its
    id and help name the settings."""
    settings = " ".join(fix)
    return Rule(
        f"thread-on-import/{'+'.join(fix)}",
        "ThreadOnImportPreventedByEnvironment",
        f"Starts a thread when it is imported; {settings} prevents it (verified)",
        f"The package starts a thread while it is imported. {_FORK_RISK} Fix: set {settings} in the environment: "
        f"forkaudit imported the package again with it, and the thread was gone. {_ENVIRONMENT_ADVICE}",
        Level.ERROR,
    )


def _decisive(distribution: DistributionReport) -> list[Finding]:
    """The findings that make the distribution's verdict (for `error`: its import failures)."""
    if distribution.verdict == Verdict.ERROR:
        return [f for f in distribution.findings if isinstance(f, ImportFailure)]
    return [f for f in distribution.findings if finding_verdict(f) == distribution.verdict]


def _verified_settings(finding: Finding) -> tuple[str, ...]:
    if not isinstance(finding, ThreadOnImport) or not finding.mitigation:
        return ()
    env = finding.mitigation.get("env")
    if finding.mitigation.get("verified") is not True or not isinstance(env, dict):
        return ()
    return tuple(f"{clean_text(k, CODE_LIMIT)}={clean_text(v, CODE_LIMIT)}" for k, v in env.items())


def verified_fix(distribution: DistributionReport) -> tuple[str, ...]:
    """The environment settings (`OPENBLAS_NUM_THREADS=1`, sorted) verified to remove every finding that makes the
    distribution's verdict; () when some such finding has none."""
    settings = [_verified_settings(f) for f in _decisive(distribution)]
    if not settings or not all(settings):
        return ()
    return tuple(sorted({s for found in settings for s in found}))


def _what_it_does(distribution: DistributionReport) -> str:
    decisive = _decisive(distribution)
    first = decisive[0] if decisive else None
    if isinstance(first, ThreadOnImport):
        kind = "native" if first.native else "Python"
        many = sum(f.count if isinstance(f, ThreadOnImport) else 1 for f in decisive) > 1
        noun = f"{kind} threads" if many else f"a {kind} thread"
        if first.alive_after_import:
            return f"leaves {noun} running after import"
        return f"starts {noun} during import"
    if isinstance(first, ProcessOnImport):
        return "leaves a child process running after import"
    if isinstance(first, SocketOnImport):
        return "leaves a socket open after import"
    if isinstance(first, ImportFailure):
        return f"could not be audited: {plain(describe_finding(first))}"
    return "could not be audited"


def _brought_in_by(distribution: DistributionReport) -> str:
    if distribution.direct:
        return "direct requirement"
    chains = [path[:-1] for path in distribution.paths if len(path) > 1]
    if not chains:
        return "dependency"
    return "pulled in by " + PATH_ARROW.join(clean_text(name, NAME_LIMIT) for name in chains[0])


def headline(distribution: DistributionReport) -> str:
    """The culprit and the fix in one sentence: `numpy 2.4.6 (pulled in by pandas) leaves a native thread running
    after import; fix: set OPENBLAS_NUM_THREADS=1 before the import (verified).`"""
    who = f"{clean_text(distribution.name, NAME_LIMIT)} {clean_text(distribution.version, NAME_LIMIT)}"
    text = f"{who} ({_brought_in_by(distribution)}) {_what_it_does(distribution)}"
    fix = verified_fix(distribution)
    if fix:
        text += f"; fix: set {' '.join(fix)} before the import (verified)"
    elif distribution.verdict in (Verdict.UNSAFE, Verdict.CAUTION):
        text += f"; fix: {IMPORT_AFTER_FORK}"
    return text + "."


def _message(distribution: DistributionReport) -> str:
    findings = evidence(distribution)
    shown = "; ".join(plain(describe_finding(f)) for f in findings[:EVIDENCE_SHOWN])
    text = headline(distribution)
    if shown:
        more = len(findings) - EVIDENCE_SHOWN
        text += f" Evidence: {shown}" + (f" (+{more} more)." if more > 0 else ".")
    if distribution.suppressed is not None:
        text += f" Suppressed by the project: {clean_text(distribution.suppressed, MESSAGE_LIMIT)}."
    return text


def _requirement_location(origin: RequirementOrigin, *, message: str | None = None) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(origin.file), "uriBaseId": SOURCE_ROOT},
            "region": {"startLine": origin.line},
        }
    }
    if message:
        location["message"] = {"text": message}
    return location


def _package_location(distribution: DistributionReport) -> dict[str, Any]:
    return {
        "logicalLocations": [
            {
                "name": clean_text(distribution.name, NAME_LIMIT),
                "fullyQualifiedName": f"{clean_text(distribution.name, NAME_LIMIT)}=="
                f"{clean_text(distribution.version, NAME_LIMIT)}",
                "kind": "package",
            }
        ]
    }


def _site_packages_location(finding: Finding) -> dict[str, Any] | None:
    """Where in the installed package the decisive thing starts: a file under site-packages (not in the repository),
    else the module."""
    file, line, module = (getattr(finding, name, None) for name in ("file", "line", "module"))
    text = "where it starts, in the installed package (not in this repository)"
    if isinstance(file, str) and file and not file.startswith("/"):
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file), "uriBaseId": SITE_PACKAGES}}
        if isinstance(line, int) and line >= 1:
            physical["region"] = {"startLine": line}
        return {"physicalLocation": physical, "message": {"text": text}}
    if isinstance(module, str) and module:
        name = clean_text(module, NAME_LIMIT)
        return {
            "logicalLocations": [{"name": name, "fullyQualifiedName": name, "kind": "module"}],
            "message": {"text": text},
        }
    return None


def _roots(distribution: DistributionReport) -> list[str]:
    """The direct requirements that bring the distribution in, shortest path first."""
    roots = [path[0] for path in distribution.paths if path]
    if distribution.direct:
        roots.insert(0, distribution.name)
    return list(dict.fromkeys(roots))


def _locations(
    distribution: DistributionReport, origins: dict[str, RequirementOrigin]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The result's location (the first requirement line that brings it in, else the package by name), its related
    locations (the other such lines, where it starts) and the URI its fingerprint uses."""
    lines = [origins[root] for root in _roots(distribution) if root in origins]
    related = [_requirement_location(o, message=f"also brought in by {o.name}") for o in lines[1:]]
    decisive = _decisive(distribution)
    started = _site_packages_location(decisive[0]) if decisive else None
    if started is not None:
        related.append(started)
    related = related[:9]  # GitHub reads at most 10 locations of a result
    for index, location in enumerate(related, start=1):
        location["id"] = index
    if not lines:
        return [_package_location(distribution)], related, ""
    return [_requirement_location(lines[0])], related, lines[0].file


def fingerprint(distribution: DistributionReport, kind: str, file: str) -> str:
    """Stable across runs: the package (not its version), the kind of problem (not the fix) and the requirements file
    (not the line) it is reported at."""
    material = "\0".join((distribution.name.lower(), kind, file))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _rule(distribution: DistributionReport) -> tuple[Rule, str]:
    """The distribution's rule and the kind of its problem."""
    decisive = _decisive(distribution)
    kind = decisive[0].kind if decisive and decisive[0].kind in _BASE_RULES else "import-error"
    fix = verified_fix(distribution)
    return (_fix_rule(fix) if fix and kind == "thread-on-import" else _BASE_RULES[kind]), kind


def _result(
    distribution: DistributionReport,
    origins: dict[str, RequirementOrigin],
    rules: dict[str, Rule],
    baseline: Comparison | None = None,
) -> dict:
    rule, kind = _rule(distribution)
    rules.setdefault(rule.id, rule)
    locations, related, file = _locations(distribution, origins)
    digest = fingerprint(distribution, kind, file)
    result: dict[str, Any] = {
        "ruleId": rule.id,
        "ruleIndex": list(rules).index(rule.id),
        "level": str(_LEVEL_OF_VERDICT[distribution.verdict]),
        "message": {"text": _message(distribution)},
        "locations": locations,
        "partialFingerprints": {FINGERPRINT: digest, "primaryLocationLineHash": f"{digest[:16]}:1"},
    }
    if related:
        result["relatedLocations"] = related
    if baseline is not None:  # SARIF's own word for it: new, or unchanged since the baseline
        result["baselineState"] = "unchanged" if baseline.is_known(distribution) else "new"
    if distribution.suppressed is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": clean_text(distribution.suppressed, None)}
        ]
    result["properties"] = {
        "distribution": distribution.name,
        "version": distribution.version,
        "verdict": str(distribution.verdict),
        "direct": distribution.direct,
        "forkAware": distribution.fork_aware,
        "paths": [list(p) for p in distribution.paths],
        "verifiedFix": list(verified_fix(distribution)),
        "findings": [f.to_dict() for f in distribution.findings],
    }
    return result


def _uri(file: str) -> str:
    # The path as given; only characters a URI reference cannot hold (spaces, `%`, ...) are encoded.
    return quote(file, safe="/:@!$&'()*+,;=-._~")


def _tool_version() -> str | None:
    try:
        return importlib.metadata.version(TOOL_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None


def tool_information_uri() -> str | None:
    """The project's URL as its installed metadata declares it (Homepage, Documentation, Repository or Source), or
    None."""
    try:
        metadata = importlib.metadata.metadata(TOOL_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = {}
    for entry in metadata.get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        urls[label.strip().lower()] = url.strip()
    for label in ("homepage", "documentation", "repository", "source"):
        if urls.get(label, "").startswith("https://"):
            return urls[label]
    home = (metadata.get_all("Home-page") or [""])[0]
    return home if home.startswith("https://") else None


def repository_path(path: Path, *, cwd: Path | None = None) -> str:
    """`path` as code scanning wants it: relative to the root of the git work tree it is in (the nearest directory
    above it holding `.git`), else to the current directory, symlinks resolved; a file outside both as a file URI."""
    resolved = path.resolve()
    bases = [parent for parent in resolved.parents if (parent / ".git").exists()][:1]
    bases.append((cwd or Path.cwd()).resolve())
    for base in bases:
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return resolved.as_uri()


def sarif_log(
    report: AuditReport,
    *,
    origins: Sequence[RequirementOrigin] = (),
    information_uri: str | None = None,
    baseline: Comparison | None = None,
) -> dict[str, Any]:
    """The SARIF log as a dict: one result per distribution that is not safe (most severe first), at the line that
    brings it in when `origins` (direct name → repository path and line) has it; against a `baseline`, each result
    `new` or `unchanged` (`baselineState`)."""
    report = without_server_paths(report)
    by_name = {origin.name: origin for origin in origins}
    rules = dict(_BASE_RULES)  # then a rule per verified fix, as results use them
    results = [_result(d, by_name, rules, baseline) for d in offenders(report)]
    driver: dict[str, Any] = {"name": TOOL_NAME}
    version = _tool_version()
    if version:
        driver["version"] = version
        if _SEMVER.match(version):
            driver["semanticVersion"] = version
    information_uri = information_uri or tool_information_uri()
    if information_uri:
        driver["informationUri"] = information_uri
    driver["rules"] = [rule.to_sarif() for rule in rules.values()]
    report_dict = report.to_dict()
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {
                    SOURCE_ROOT: {"description": {"text": "The root of the repository that holds the requirements."}},
                    SITE_PACKAGES: {"description": {"text": "The site-packages directory of the audited environment."}},
                },
                "results": results,
                "properties": {
                    "schema": report_dict["schema"],
                    # the culprit and the fix (of what is new, against a baseline), as every output leads with
                    "headline": headline_text(report)
                    if baseline is None
                    else plain(baseline_headline(report, baseline)),
                    "fix": report_dict["fix"],
                    "verdict": report_dict["verdict"],
                    "summary": report_dict["summary"],
                    "environment": report_dict["environment"],
                    "errors": report_dict["errors"],
                    **({"baseline": baseline.to_dict()} if baseline is not None else {}),
                },
            }
        ],
    }


def render_sarif(
    report: AuditReport,
    *,
    origins: Sequence[RequirementOrigin] = (),
    information_uri: str | None = None,
    baseline: Comparison | None = None,
) -> str:
    """The SARIF 2.1.0 log of `sarif_log(report, ...)` as indented JSON, ending with a newline."""
    log = sarif_log(report, origins=origins, information_uri=information_uri, baseline=baseline)
    return json.dumps(log, indent=2) + "\n"
