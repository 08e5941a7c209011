"""What the browser tests share: the system Chromium, a JupyterLab server, JupyterLab's panel.

tests/test_browser.py (the explorers), tests/test_book.py (the offline book) and
tests/test_instructor_views.py (what the instructor is shown) drive the system Chromium
(Debian's, /usr/bin/chromium) with playwright's sync API; no ``playwright install``.
When Chromium or playwright is missing, a browser test FAILS; it never skips.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]

# JavaScript: waits for JupyterLab to start and for its current widget to be a document
# panel whose file has loaded; leaves it in `panel`. The start of a page.evaluate() body.
CURRENT_PANEL = """
  const app = window.jupyterapp;
  await app.started;
  await app.restored;
  let panel = null;
  for (let i = 0; i < 600 && !(panel && panel.context); i++) {
    panel = app.shell.currentWidget;
    await new Promise(r => setTimeout(r, 100));
  }
  await panel.context.ready;
"""


def require_browser(what: str = "the browser test") -> None:
    """Fail (never skip) when the system Chromium or playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{what} needs Chromium at {CHROMIUM}: run `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.fail(f"{what} needs the playwright package: `pip install playwright` "
                    "(no `playwright install`: it uses the system Chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on 127.0.0.1, started in ``root`` and stopped by :meth:`stop`.

    ``token`` is the server's token ("" for none); ``port`` a free one by default. Its user settings (in ``settings``)
    turn off the news toast that would cover screenshots; ``env`` is added to this
    process's environment. Fails the test with the end of the server's log when it does
    not answer within a minute.
    """

    def __init__(self, root: Path, *, settings: Path, log_path: Path, token: str = "", port: int | None = None,
                 env: dict[str, str] | None = None, settings_files: dict[str, dict] | None = None):
        files = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                 "checkForUpdates": False},
                 **(settings_files or {})}
        for name, values in files.items():
            path = settings / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        environment = {**os.environ, **(env or {})}
        environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
        environment.pop("MPLBACKEND", None)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--allow-root", f"--ServerApp.token={token}", "--ServerApp.password=",
             f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
             "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=root, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={token}", timeout=2) as response:
                    json.load(response)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
                time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
