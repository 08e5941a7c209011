"""End to end in a real browser: JupyterLab runs tests/browser/explorers.ipynb in headless Chromium.

For each explorer one control is moved the way a student would (a click, a key
press on a slider, a choice in a drop-down) and the test checks that the figure
the browser shows changed. Screenshots go to artifacts/browser/ (gitignored).
Needs /usr/bin/chromium (``apt-get install chromium``) and the playwright package;
when either is missing the test FAILS, it does not skip.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from browserkit import CHROMIUM, CHROMIUM_FLAGS, CURRENT_PANEL, JupyterLab, require_browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "browser" / "explorers.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"

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
async () => {""" + CURRENT_PANEL + """
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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with an empty token, serving a copy of the notebook."""
    require_browser()
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    server = JupyterLab(tmp_path, settings=tmp_path / "user-settings", log_path=tmp_path / "jupyterlab.log",
                        env={"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    try:
        yield server.url
    finally:
        server.stop()


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
