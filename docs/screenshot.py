"""Regenerates docs/report.png, the README's picture of a report: a real audit of test wheels, served and shown.

    .venv/bin/python docs/screenshot.py [--output docs/report.png]

Builds a few wheels with tests/wheelfactory.py (an application that pulls in a telemetry client whose thread honours
DO_NOT_TRACK, a beacon whose thread honours nothing, a cache that starts a short-lived thread, and a clean package),
starts `forkaudit serve` on a free loopback port with a throw-away data directory, uploads the wheels through the web
form in Debian's Chromium (Playwright, as the browser tests in tests/webui drive it), waits for the report and saves
the top of the page. Needs what the browser tests need: bubblewrap, and the apt package `chromium`. Nothing leaves
the machine: uv resolves from the uploaded wheels alone, and the vulnerability lookup is off.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.wheelfactory

import playwright.sync_api as playwright_sync  # noqa: E402

from tests.wheelfactory import build_wheel  # noqa: E402

# Debian's Chromium as the browser tests start it (tests/webui): never a browser Playwright downloads.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 960}
AUDIT_TIMEOUT_MS = 300_000  # a first audit builds an environment and probes every wheel in the sandbox

PACKAGES = {
    "acme-app": (
        "import acme_telemetry, acme_beacon, acme_cache, acme_utils\n",
        ["acme-telemetry", "acme-beacon", "acme-cache", "acme-utils"],
    ),
    "acme-telemetry": (
        """
        import os, threading, time
        if os.environ.get("DO_NOT_TRACK") != "1":
            threading.Thread(target=time.sleep, args=(3600,), name="telemetry-flusher", daemon=True).start()
        """,
        [],
    ),
    "acme-beacon": (
        """
        import threading, time
        threading.Thread(target=time.sleep, args=(3600,), name="beacon-pinger", daemon=True).start()
        """,
        [],
    ),
    "acme-cache": (
        """
        import threading
        warmer = threading.Thread(target=sum, args=(range(1000),), name="cache-warmer")
        warmer.start()
        warmer.join()
        """,
        [],
    ),
    "acme-utils": ("def helper():\n    return 42\n", []),
}


def build_wheels(directory: Path) -> list[Path]:
    directory.mkdir()
    return [
        build_wheel(directory, name, {f"{name.replace('-', '_')}/__init__.py": source}, requires=requires)
        for name, (source, requires) in PACKAGES.items()
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(data_dir: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    """`forkaudit serve` on loopback (local mode), its stderr in `log`; its launch URL, once it is listening."""
    env = dict(
        os.environ,
        FORKAUDIT_DATA_DIR=str(data_dir),
        FORKAUDIT_VULNERABILITY_SERVICE="none",
        UV_NO_INDEX="1",  # the uploaded wheels are the whole set: nothing is asked of the package index
    )
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    service = subprocess.Popen(
        [sys.executable, "-m", "auditor.cli", "serve", "--port", str(free_port()), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:  # drains stdout for the service's whole life, so that it never blocks on a full pipe
        assert service.stdout is not None
        for line in service.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    while True:
        line = lines.get(timeout=120)
        if not line:
            raise SystemExit(f"forkaudit serve exited ({service.wait()}) before it served anything")
        if line.startswith("forkaudit is serving ") and "?token=" in line:
            return service, line.split()[-1]


def stop_service(service: subprocess.Popen[str]) -> None:
    service.send_signal(signal.SIGINT)  # as Ctrl-C: the web server and the worker stop gracefully
    try:
        service.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


def take_screenshot(launch_url: str, wheels: list[Path], output: Path) -> None:
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(launch_url)  # the launch URL lets this browser in, then drops the token from the address
            page.locator("input[name=wheels]").set_input_files([str(w) for w in wheels])
            page.get_by_role("button", name="Audit").click()
            expect(page.locator("#verdict-heading")).to_contain_text("unsafe", timeout=AUDIT_TIMEOUT_MS)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "report.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forkaudit-screenshot-") as work:
        wheels = build_wheels(Path(work) / "wheels")
        log = Path(work) / "serve.log"
        try:
            service, launch_url = start_service(Path(work) / "data", log)
            try:
                take_screenshot(launch_url, wheels, args.output)
            finally:
                stop_service(service)
        except BaseException:
            sys.stderr.write(log.read_text()[-4000:])  # what the service said, to tell why
            raise
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
