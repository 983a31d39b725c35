"""``seedreg ui`` in a real browser: Debian's headless Chromium driven by selenium, offline.

The driver's path is given (``/usr/bin/chromedriver``) and so is the browser's, so selenium's
manager never runs and nothing is downloaded. Shared by the browser tests and ``docs/screenshots.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("SEEDREG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SEEDREG_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            return f"no {path}: install Debian's {package} (.ci/browser.sh does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(db: Path | str, *args: str, host: str = "127.0.0.1") -> Iterator[str]:
    """``seedreg ui --db DB`` as a real process on a free port; yields its base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEEDREG_")}
    process = subprocess.Popen([sys.executable, "-m", "seedreg", "ui", "--db", str(db), "--port", str(port),
                                "--host", host, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"seedreg ui exited {process.returncode}: {process.stderr.read()}")
            try:
                urllib.request.urlopen(base + "/static/icon.svg", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


@contextmanager
def browser(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, its console log kept (``console_errors``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="seedreg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors (CSP violations, failed loads, script errors) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def resources(driver: Any) -> list[str]:
    """Every URL the current page requested: itself and each resource it loaded."""
    return driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));")


def screenshot(driver: Any, url: str, path: Path, height: int | None = None) -> None:
    """A PNG of the page at ``url``, as tall as its content (or ``height``)."""
    driver.get(url)
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(driver.get_window_size()["width"], height or min(full + 20, 2400))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
