"""SARIF 2.1.0 output, for code-scanning dashboards (one run, tool `forkaudit`, one rule per finding kind).

Results are the findings of the distributions that are not safe. Their level says what the finding does to
the verdict: `error` for a thread or process alive after the import (unsafe), `warning` for caution-level
findings, `note` for the rest (see `describe.finding_level`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from auditor.core.findings import AuditReport, DistributionReport, Finding
from auditor.core.report.describe import (
    MESSAGE_LIMIT,
    Level,
    describe_finding,
    evidence,
    finding_level,
    mitigation_text,
    offenders,
    plain,
)
from auditor.core.report.sanitize import clean_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "forkaudit"


@dataclass(frozen=True)
class Rule:
    id: str  # the finding kind
    name: str
    short: str
    help: str
    level: Level  # the level of the rule's most common result

    def to_sarif(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "shortDescription": {"text": self.short},
            "fullDescription": {"text": self.help},
            "help": {"text": self.help},
            "defaultConfiguration": {"level": str(self.level)},
        }


_FORK_RISK = (
    "fork() copies only the calling thread: a lock held by another thread at fork time stays locked forever in "
    "the child, so servers that fork after importing the application (gunicorn --preload, Celery prefork, uWSGI, "
    "multiprocessing with fork) can deadlock."
)

RULES: tuple[Rule, ...] = (
    Rule(
        "thread-on-import",
        "ThreadOnImport",
        "Starts a thread when imported",
        f"The package starts a thread (Python or native) while it is imported. {_FORK_RISK} Apply the verified "
        "mitigation if the result lists one, import the package after the fork (e.g. in gunicorn's post_fork or "
        "Celery's worker_process_init), or do not preload the application.",
        Level.ERROR,
    ),
    Rule(
        "process-on-import",
        "ProcessOnImport",
        "Starts a child process when imported",
        f"The package starts a child process while it is imported. One still running after the import is inherited "
        f"by every forked worker. {_FORK_RISK} Import the package after the fork.",
        Level.ERROR,
    ),
    Rule(
        "socket-on-import",
        "SocketOnImport",
        "Opens a socket when imported",
        "The package opens a socket while it is imported. A socket left open is shared by every forked worker, "
        "which then interleave their traffic on one connection. Import the package after the fork.",
        Level.WARNING,
    ),
    Rule(
        "atfork-handler",
        "AtforkHandler",
        "Registers at-fork handlers",
        "The package registers os.register_at_fork handlers: it knows about fork and tries to repair its state in "
        "the child. This is usually good news; it is reported so that a reviewer can check the handlers.",
        Level.NOTE,
    ),
    Rule(
        "runtime-thread",
        "RuntimeThread",
        "Can start threads at runtime",
        f"The package contains code that starts threads (threading.Thread, ThreadPoolExecutor, ...) when it is "
        f"called. {_FORK_RISK} Make sure that code runs only in the forked workers, not in the parent before fork. "
        "Found by reading the code, not observed: information, which sets no verdict.",
        Level.NOTE,
    ),
    Rule(
        "fork-call",
        "ForkCall",
        "Forks or changes the multiprocessing start method",
        "The package calls os.fork or sets a multiprocessing start method. Forking from a process that has started "
        "threads can deadlock the child.",
        Level.NOTE,
    ),
    Rule(
        "import-error",
        "ImportFailure",
        "Could not be installed or imported",
        "The package could not be installed, or importing it failed, timed out, ran out of memory, crashed or exited "
        "the interpreter, so forkaudit could not tell whether it starts threads on import.",
        Level.NOTE,
    ),
    Rule(
        "vulnerability",
        "Vulnerability",
        "Has a known vulnerability",
        "The installed version of the package has a known vulnerability (from pip-audit). Upgrade to a fixed version.",
        Level.NOTE,
    ),
)


def _unknown_rule(kind: str) -> Rule:
    # A finding kind added after this renderer was written still gets a valid rule.
    return Rule(kind, kind, f"Finding of kind {kind}", f"A forkaudit finding of kind {kind}.", Level.NOTE)


def _file_uri(file: str) -> str:
    # The file as given; only characters that a URI reference cannot hold (spaces, `%`, ...) are encoded.
    return quote(file, safe="/:@!$&'()*+,;=-._~")


def _locations(finding: Finding, distribution: DistributionReport) -> list[dict[str, Any]]:
    file = getattr(finding, "file", None)
    line = getattr(finding, "line", None)
    module = getattr(finding, "module", None)
    logical: dict[str, Any]
    if module:
        logical = {"name": module, "fullyQualifiedName": module, "kind": "module"}
    else:
        logical = {
            "name": distribution.name,
            "fullyQualifiedName": f"{distribution.name}=={distribution.version}",
            "kind": "package",
        }
    if not file:
        return [{"logicalLocations": [logical]}]
    physical: dict[str, Any] = {"artifactLocation": {"uri": _file_uri(file)}}
    if isinstance(line, int) and line >= 1:
        physical["region"] = {"startLine": line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if module:
        location["logicalLocations"] = [logical]
    return [location]


def _message(finding: Finding, distribution: DistributionReport) -> str:
    text = f"{distribution.name} {distribution.version}: {plain(describe_finding(finding))}"
    mitigation = mitigation_text(finding)
    if mitigation:
        text += f"; verified mitigation: {mitigation}"
    return clean_text(text, MESSAGE_LIMIT * 2)


def _result(finding: Finding, distribution: DistributionReport, rule_index: int) -> dict[str, Any]:
    return {
        "ruleId": finding.kind,
        "ruleIndex": rule_index,
        "level": str(finding_level(finding)),
        "message": {"text": _message(finding, distribution)},
        "locations": _locations(finding, distribution),
        "properties": {
            "distribution": distribution.name,
            "version": distribution.version,
            "verdict": str(distribution.verdict),
            "direct": distribution.direct,
            "forkAware": distribution.fork_aware,
            "paths": [list(p) for p in distribution.paths],
            "finding": finding.to_dict(),
        },
    }


def sarif_log(report: AuditReport) -> dict[str, Any]:
    """The SARIF log as a dict: the rules of every finding kind, then one result per finding of each
    distribution that is not safe (most severe distribution first), with the distribution's name, version
    and paths as result properties, and the audit verdict, summary and environment as run properties."""
    rules = list(RULES)
    rule_index = {rule.id: index for index, rule in enumerate(rules)}
    results = []
    for distribution in offenders(report):
        for finding in evidence(distribution):
            if finding.kind not in rule_index:
                rule_index[finding.kind] = len(rules)
                rules.append(_unknown_rule(finding.kind))
            results.append(_result(finding, distribution, rule_index[finding.kind]))
    report_dict = report.to_dict()
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": TOOL_NAME, "rules": [rule.to_sarif() for rule in rules]}},
                "results": results,
                "properties": {
                    "schema": report_dict["schema"],
                    "verdict": report_dict["verdict"],
                    "summary": report_dict["summary"],
                    "environment": report_dict["environment"],
                    "errors": report_dict["errors"],
                },
            }
        ],
    }


def render_sarif(report: AuditReport) -> str:
    """The SARIF 2.1.0 log of `sarif_log(report)` as indented JSON, ending with a newline."""
    return json.dumps(sarif_log(report), indent=2) + "\n"
