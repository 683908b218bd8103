"""A repeated audit through `forkaudit serve`, as the web UI and `forkaudit check` submit it (issue 14, item 6).

Starts `forkaudit serve` on a throw-away data directory (SQLite, the embedded broker, one worker), audits
`six==1.16.0` once (probed: needs PyPI), then measures, from the POST to the moment the API says `done`:

- the same input again (every distribution pinned and known: finished in the submitting request, no task);
- `six` unpinned (its result is known, but the input may resolve otherwise now: the worker resolves it, reached
  through the embedded broker, which looks for tasks every 0.1 s).

The client polls the API every 20 ms; the web page's first look is after 250 ms. Run from the repository root:
`.venv/bin/python bench/cached_repeat.py [--rounds 5]`. Takes ~30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import REPO, load, machine

POLL = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def audit(base: str, token: str, requirements: str) -> tuple[float, int, dict]:
    """Seconds from the POST to `done`, the number of polls it took, and the audit."""
    started = time.perf_counter()
    created = call("POST", f"{base}/api/v1/audits/", token, {"requirements": requirements})
    polls, current = 0, created
    while current["status"] not in ("done", "failed"):
        time.sleep(POLL)
        current = call("GET", created["url"], token)
        polls += 1
    return time.perf_counter() - started, polls, current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="forkaudit-bench-") as directory:
        data = Path(directory) / "data"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env["FORKAUDIT_DATA_DIR"] = str(data)
        port = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "auditor.cli", "serve", "--port", str(port), "--workers", "1"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            token_file = data / "launch_token"
            deadline = time.monotonic() + 60
            while not token_file.exists() or not token_file.read_text().strip():
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise SystemExit("forkaudit serve did not start")
                time.sleep(0.1)
            token, base = token_file.read_text().strip(), f"http://127.0.0.1:{port}"
            while True:  # the launch token is written before the web server listens
                try:
                    urllib.request.urlopen(f"{base}/api/v1/schema/", timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            first, _, done = audit(base, token, "six==1.16.0\n")
            assert done["status"] == "done", done
            print(f"first audit (probed): {first:.2f} s")
            rows = []
            cases = (("same pinned input again", "six==1.16.0\n"), ("six, unpinned (known result)", "six\n"))
            for label, text in cases:
                times, polls = [], []
                for _ in range(args.rounds):
                    seconds, count, done = audit(base, token, text)
                    assert done["status"] == "done", done
                    times.append(seconds)
                    polls.append(count)
                rows.append((label, statistics.median(times), min(times), max(times), statistics.median(polls)))
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(timeout=60)
    print(f"\n| repeat ({args.rounds} rounds) | median s | min s | max s | API polls (median) |")
    print("|---|--:|--:|--:|--:|")
    for label, median, low, high, count in rows:
        print(f"| {label} | {median:.3f} | {low:.3f} | {high:.3f} | {count:.0f} |")
    print(f"\n{load()} at the end")


if __name__ == "__main__":
    main()
