"""Each finding says whose import produced it: the distribution's own import, a submodule's, a launcher hook's or
a console script's (auditor.core.probe.provenance)."""

from __future__ import annotations

from auditor.core.findings import ThreadOnImport
from auditor.core.report.describe import describe_finding, plain

FLUSHER = (
    "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='{name}', daemon=True).start()\n"
)


def test_findings_name_the_import_that_produced_them_and_label_launcher_and_script_modules(bench_with):
    bench = bench_with(
        {
            "fa-otel": {
                "files": {
                    "fa_otel/__init__.py": FLUSHER.format(name="on-import"),
                    "fa_otel/exporter.py": FLUSHER.format(name="exporter"),
                    # What only the launcher's PYTHONPATH makes Python run at start-up (opentelemetry-instrument).
                    "fa_otel/auto/sitecustomize.py": FLUSHER.format(name="launcher"),
                    "fa_otel/auto/__init__.py": "",
                    "fa_otel/cli.py": FLUSHER.format(name="script") + "def main(): pass\n",
                    "fa_otel-1.0.dist-info/entry_points.txt": "[console_scripts]\nfa-otel = fa_otel.cli:main\n",
                }
            }
        }
    )

    result = bench.probe("fa-otel", fork_trial=False, verify_mitigations=False)

    threads = {f.thread: f for f in result.findings if isinstance(f, ThreadOnImport)}
    assert {name: (t.trigger, t.provenance) for name, t in threads.items()} == {
        "on-import": ("fa_otel", "import"),
        "exporter": ("fa_otel.exporter", "submodule"),
        "launcher": ("fa_otel.auto.sitecustomize", "launcher-hook"),
        "script": ("fa_otel.cli", "console-script"),
    }
    assert "only under a launcher that runs the hook fa_otel.auto.sitecustomize" in plain(
        describe_finding(threads["launcher"])
    )
    assert "only when fa_otel.exporter is imported" in plain(describe_finding(threads["exporter"]))
    assert "only" not in plain(describe_finding(threads["on-import"]))
