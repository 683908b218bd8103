"""One package's nonsense never aborts an audit: the audit completes, with every other distribution reported."""

from __future__ import annotations

from auditor.core.findings import Verdict
from tests.hostile.audits import audit_wheels, verdicts
from tests.wheelfactory import build_wheel

NONSENSE = {
    "fa-nested": "os.write(b._out_fd, b'[' * 500_000 + b'\\n')",
    "fa-wrong-type": ('os.write(b._out_fd, b\'{"event": "module", "module": 1, "status": [], "seconds": "x"}\\n\')'),
    "fa-bad-frames": (
        'os.write(b._out_fd, b\'{"event":"done","python":"3","threads":[{"stack":[[1,2]]}],\''
        ' b\'"native_threads":{},"transient_native":[],"spawns":[],"processes":[],"sockets":[],\''
        " b'\"atfork\":[]}\\n')"
    ),
}


def test_an_audit_completes_whatever_packages_write_on_the_result_pipe(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, line in NONSENSE.items():
        module = name.replace("-", "_")
        build_wheel(wheels, name, {f"{module}/__init__.py": f"import __main__ as b, os\n{line}\n"})
    build_wheel(
        wheels,
        "fa-unsafe",
        {"fa_unsafe/__init__.py": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"},
    )
    build_wheel(wheels, "fa-fine", {"fa_fine/__init__.py": ""})

    found, _ = audit_wheels(tmp_path, wheels)

    assert verdicts(found) == {
        "fa-nested": Verdict.ERROR,
        "fa-wrong-type": Verdict.ERROR,
        "fa-bad-frames": Verdict.ERROR,
        "fa-unsafe": Verdict.UNSAFE,
        "fa-fine": Verdict.SAFE,
    }
