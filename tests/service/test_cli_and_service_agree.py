"""The CLI and the service run one pipeline: the same set gives the same report through either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.service.conftest import Service, plain, thread_starter
from tests.wheelfactory import build_wheel

# What differs from one run to the next, whoever runs it: how long things took, and whether a result was known.
_TIMINGS = {"import_seconds", "seconds", "cached"}


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _TIMINGS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip({key: value for key, value in report.items() if key != "errors"})


def test_the_cli_and_the_service_give_the_same_report_for_the_same_set(live: Service, forkaudit, tmp_path: Path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    paths = [
        plain(wheels, "agree-app", requires=["agree-telemetry", "agree-sockets"]),
        thread_starter(wheels, "agree-telemetry"),
        build_wheel(
            wheels,
            "agree-sockets",
            {"agree_sockets/__init__.py": "import socket\nSOCKET = socket.socket()\n"},  # left open: caution
        ),
    ]

    served = live.wait_for(live.submit_wheels(paths)["id"])
    done = forkaudit("audit", "--wheels", str(wheels), "--no-index", "--no-vulnerabilities", "--format", "json")

    assert served["status"] == "done", live.logs()
    assert done.returncode == 1, done.stderr
    from_cli, from_service = json.loads(done.stdout), served["report"]
    assert [d["name"] for d in from_cli["distributions"]] == ["agree-telemetry", "agree-sockets", "agree-app"]
    assert comparable(from_cli) == comparable(from_service)
