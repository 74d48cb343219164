"""Opening pages as a student does: the system's Chromium, driven by playwright, and JupyterLab.

The browser is the one the machine has (Debian's ``chromium``, or ``FTI_CHROMIUM``);
a test that needs it is skipped with a reason where there is none. playwright
never downloads a browser of its own here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Chromium's own network chatter is refused on machines without internet, many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def find_chromium() -> str | None:
    """The system's Chromium: ``FTI_CHROMIUM``, else the first of the usual names on PATH."""
    configured = os.environ.get("FTI_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium executable, or skip the calling test with the reason."""
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (install Debian's `chromium`, or set FTI_CHROMIUM); "
                    ".ci/run installs it, so CI always runs this test")
    return path


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A playwright page in headless system Chromium."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, settings: Path, timeout: float = 90.0) -> Iterator[str]:
    """A JupyterLab server on loopback serving ``root``; yields its base URL with the token.

    Args:
        root: The folder JupyterLab shows.
        settings: An empty folder for JupyterLab's user settings and workspaces, so a
            developer's own settings never change what the test sees.
        timeout: Seconds to wait for the server to answer.
    """
    port, token = _free_port(), "fti-browser-test"
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={settings / 'user-settings'}",
               f"--LabApp.workspaces_dir={settings / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root otherwise (containers, CI)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(settings / "config"), "JUPYTER_RUNTIME_DIR": str(settings / "rt")}
    log = (settings / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {settings / 'jupyterlab.log'}") from None
                time.sleep(0.3)
        yield f"{base}|{token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
