"""No distribution can alter the result of another: a co-installed distribution's start-up code (`.pth` files,
`sitecustomize`) does not run in the other's probe, whose result is stored for everyone's reuse."""

from __future__ import annotations

from auditor.core.findings import Verdict
from auditor.core.verdicts import probe_verdict

VICTIM = {
    "fa-victim": {
        "files": {
            "fa_victim/__init__.py": "import threading, time\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        }
    }
}
# Makes every thread start a no-op, and marks the interpreters it ran in.
SILENCER = "import threading, os; threading.Thread.start = lambda self: None; os.environ['FA_FORGER_RAN'] = '1'\n"


def test_a_co_installed_pth_file_does_not_run_in_another_distributions_probe(bench_with):
    bench = bench_with(
        {
            **VICTIM,
            "fa-forger": {"files": {"fa_forger.pth": SILENCER, "fa_forger/__init__.py": ""}},
            "fa-customizer": {"files": {"sitecustomize.py": SILENCER}},
        }
    )

    victim = bench.probe("fa-victim")
    forger = bench.probe("fa-forger")

    assert probe_verdict(victim) == Verdict.UNSAFE
    assert [f.unexplained for f in victim.findings] == [False]  # seen and reported by the probe itself
    assert probe_verdict(forger) == Verdict.SAFE  # its own start-up code still runs in its own probe


def test_a_pth_file_still_adds_its_directories_to_the_path_of_every_probe(bench_with):
    bench = bench_with(
        {
            "fa-extra-path": {"files": {"fa_extra_path.pth": "fa_extra_dir\n", "fa_extra_dir/fa_found.py": ""}},
            "fa-user": {"files": {"fa_user/__init__.py": "import fa_found\n"}},
        }
    )

    result = bench.probe("fa-user")

    assert [(m.name, str(m.status)) for m in result.modules] == [("fa_user", "ok")]
