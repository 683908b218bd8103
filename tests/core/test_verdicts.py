from __future__ import annotations

import pytest

from auditor.core.findings import (
    AtforkHandler,
    ImportFailure,
    ModuleOutcome,
    ModuleStatus,
    ProbeResult,
    ProcessOnImport,
    RuntimeThread,
    SocketOnImport,
    ThreadOnImport,
    Verdict,
    Vulnerability,
)
from auditor.core.verdicts import probe_verdict

OK = (ModuleOutcome("pkg", ModuleStatus.OK),)
ALIVE = ThreadOnImport(thread="t", native=False, alive_after_import=True, module="pkg")
TRANSIENT = ThreadOnImport(thread="t", native=True, alive_after_import=False, module="pkg")
RUNTIME = RuntimeThread(call="threading.Thread", scope="function", module="pkg", file="pkg/x.py", line=3)
TIMEOUT = ImportFailure(module="pkg.sub", reason="timeout", message="wall-clock time limit reached", top_level=False)


def result(*findings, modules=OK, error=None) -> ProbeResult:
    return ProbeResult("pkg", "1", "bwrap", modules, findings, error=error)


@pytest.mark.parametrize(
    ("findings", "verdict"),
    [
        ((), Verdict.SAFE),
        ((ALIVE,), Verdict.UNSAFE),
        ((TRANSIENT,), Verdict.CAUTION),
        ((RUNTIME,), Verdict.SAFE),  # static: information, not an observation
        ((ProcessOnImport(command="sleep 9", alive_after_import=True, module="pkg"),), Verdict.UNSAFE),
        ((ProcessOnImport(command="ldconfig -p", alive_after_import=False, module="pkg"),), Verdict.SAFE),
        ((SocketOnImport(family="AF_INET", open_after_import=True, module="pkg"),), Verdict.CAUTION),
        ((SocketOnImport(family="AF_INET", open_after_import=False, module="pkg"),), Verdict.SAFE),
        ((AtforkHandler(module="pkg", hooks=("after_in_child",)),), Verdict.SAFE),
        ((Vulnerability(id="PYSEC-1"),), Verdict.SAFE),
        ((TIMEOUT,), Verdict.ERROR),
        ((TIMEOUT, RUNTIME), Verdict.ERROR),
        ((TIMEOUT, ALIVE), Verdict.UNSAFE),
    ],
)
def test_probe_verdict_takes_the_most_severe(findings, verdict):
    assert probe_verdict(result(*findings)) == verdict


def test_probe_verdict_is_error_when_no_top_level_module_imports():
    modules = (ModuleOutcome("a", ModuleStatus.IMPORT_ERROR), ModuleOutcome("b", ModuleStatus.IMPORT_ERROR))

    assert probe_verdict(result(modules=modules)) == Verdict.ERROR


def test_probe_verdict_ignores_a_failing_submodule():
    modules = (ModuleOutcome("a", ModuleStatus.OK), ModuleOutcome("a.gis", ModuleStatus.IMPORT_ERROR, top_level=False))

    assert probe_verdict(result(modules=modules)) == Verdict.SAFE


def test_probe_verdict_of_a_distribution_without_modules_is_safe():
    assert probe_verdict(result(modules=())) == Verdict.SAFE
