"""Browser tests: Debian's Chromium driven by Playwright, web passwords, screenshots.

Playwright never downloads a browser here: it drives /usr/bin/chromium (the `run` script installs
Debian's package) through ``executable_path``, in a fresh profile directory per test module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

from tests.support.server import ROOT, Server

CHROMIUM = Path(os.environ.get("RPMYARD_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def set_web_password(server: Server, name: str, password: str) -> None:
    """`rpmyard user passwd NAME`, the admin command, with the password on stdin."""
    proc = subprocess.run([sys.executable, "-m", "rpmyard.cli", "user", "passwd", name, "--password-stdin"],
                          input=password + "\n", env=server.env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"web password of {name} is set" in proc.stdout


@contextmanager
def chromium(width: int = 1360, height: int = 900) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh --user-data-dir (Playwright passes it for a persistent context)."""
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package (./run test does)")
    with tempfile.TemporaryDirectory(prefix="rpmyard-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": width, "height": height}, locale="en-US", timezone_id="UTC",
        )
        try:
            yield context
        finally:
            context.close()


def screenshot_path(name: str) -> Path:
    """Where a page's screenshot goes: artifacts/screenshots/<db>-<name>.png (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{os.environ.get('RPMYARD_TEST_DB', 'sqlite')}-{name}.png"
