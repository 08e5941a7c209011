"""End to end in a real browser: JupyterLab runs tests/browser/explorers.ipynb in headless Chromium.

For each explorer one control is moved the way a student would (a click, a key
press on a slider, a choice in a drop-down) and the test checks that the figure
the browser shows changed. Screenshots go to artifacts/browser/ (gitignored).
Needs /usr/bin/chromium (``apt-get install chromium``) and the playwright package;
when either is missing the test FAILS, it does not skip.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "browser" / "explorers.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]

# (explorer CSS class, how to move one of its controls)
ACTIONS = [
    ("conv-stepper", ("click", ".control-next")),
    ("conv-arithmetic", ("key", ".control-padding .noUi-handle", "ArrowRight")),
    ("kernel", ("click", ".control-relu input[type=checkbox]")),
    ("pooling", ("click", ".control-mode button:has-text('avg')")),
    ("receptive-field", ("key", ".control-layer .noUi-handle", "ArrowLeft")),
    ("conv-matrix", ("key", ".control-stride .noUi-handle", "ArrowRight")),
    ("feature-maps", ("select", ".control-layer select", "3 (Conv2d)")),
    ("name-the-operation", ("click", ".control-check")),
]

WAIT_FOR_KERNEL = """
async () => {
  const app = window.jupyterapp;
  await app.started;
  await app.restored;
  let panel = null;
  for (let i = 0; i < 600 && !(panel && panel.sessionContext); i++) {
    panel = app.shell.currentWidget;
    await new Promise(r => setTimeout(r, 100));
  }
  await panel.context.ready;
  await panel.sessionContext.ready;
  for (let i = 0; i < 600 && !panel.sessionContext.session?.kernel; i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  await panel.sessionContext.session.kernel.info;
  return panel.sessionContext.session.kernel.name;
}
"""

CELL_STATE = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = Array.from(panel.content.model.cells).filter(c => c.type === 'code');
  const errors = [];
  for (const cell of cells) {
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
  }
  return {
    done: cells.every(c => c.executionCount !== null),
    busy: panel.sessionContext.session.kernel.status !== 'idle',
    errors: errors,
  };
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: run `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        pytest.fail("the browser test needs the playwright package: `pip install playwright` "
                    "(no `playwright install`: it uses the system Chromium)")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with an empty token, serving a copy of the notebook."""
    _require_browser()
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    # no "get notified about Jupyter news?" toast over the screenshots
    settings = tmp_path / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("MPLBACKEND", None)
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--allow-root", "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path}",
         f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_explorers_redraw_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console_errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
            page.goto(f"{lab}/lab/tree/{NOTEBOOK.name}")
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            assert page.evaluate(WAIT_FOR_KERNEL) == "python3"
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            deadline = time.monotonic() + 120
            while True:
                state = page.evaluate(CELL_STATE)
                assert not state["errors"], f"a notebook cell failed: {state['errors']}"
                if state["done"] and not state["busy"]:
                    break
                assert time.monotonic() < deadline, f"cells still running after 120 s: {state}"
                time.sleep(0.5)
            page.screenshot(path=str(ARTIFACTS / "notebook.png"))

            for name, action in ACTIONS:
                explorer = page.locator(f".explorer-{name}")
                image = explorer.locator("img.explorer-image")
                image.wait_for(state="visible", timeout=30_000)
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                       timeout=30_000)
                explorer.scroll_into_view_if_needed()
                explorer.screenshot(path=str(ARTIFACTS / f"{name}-before.png"))
                before = image.get_attribute("src")
                control = explorer.locator(action[1]).first
                if action[0] == "click":
                    control.click()
                elif action[0] == "key":
                    control.focus()
                    control.press(action[2])
                else:
                    control.select_option(action[2])
                page.wait_for_function(
                    "([img, old]) => img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0",
                    arg=[image.element_handle(), before], timeout=30_000)
                explorer.screenshot(path=str(ARTIFACTS / f"{name}-after.png"))
                message = explorer.locator(".explorer-message").inner_text()
                assert message.strip() == "", f"{name} shows an error after the change: {message}"
        finally:
            browser.close()
    assert not console_errors, f"errors in the browser console: {console_errors}"
