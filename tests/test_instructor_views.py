"""What the instructor is shown runs none of the student's scripts, in real Chromium.

A malicious ps2 submission (the instructor's solution plus markdown cells and code cells
whose outputs carry payloads, widget state in its metadata and a ``notes.html`` beside
it) is graded with ``course-admin autograde ps2`` (sandbox on) next to an honest one, and
``course-admin feedback ps2`` writes their feedback. JupyterLab then runs on 127.0.0.1
with a token, the course directory as its root and the course's server extension loaded
as ``./dev.sh lab`` loads it, and headless Chromium opens, as the logged-in instructor:
nbgrader's formgrader submission views, the feedback pages through the server
(``/files/feedback/...``) and from the disk (``file://``), the ``notes.html`` files
wherever the instructor could reach them, and the autograded notebook in JupyterLab.
Every ``javascript:`` link is clicked.

Each payload N tries (a) to write ``pwned-N.txt`` through the Jupyter REST API with the
``_xsrf`` cookie as its header, as a real attacker would, and (b) to fetch
``http://127.0.0.1:PORT/N`` from a loopback listener the test runs. The test asserts
that no payload ran anywhere (no file, no hit), that the honest submission's math
(MathJax output), data-URI image and tables render in the same views, that the
feedback's Content-Security-Policy allows exactly the inline scripts its template emits
for a notebook with no student content, and that graded notebooks are not trusted
(``NotebookNotary.check_signature`` and JupyterLab's cell models).

Needs /usr/bin/chromium and the playwright package: when either is missing the test
FAILS, it does not skip. Runtime: about 2 minutes on 2 cores (grading two ps2
submissions in the sandbox is most of it). A JSON report of what ran where goes to
artifacts/instructor_views/ (gitignored).
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary

from browserkit import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    CURRENT_PANEL,
    JupyterLab,
    free_port,
    require_browser,
)
from course import admin
from coursekit import ROOT, autograde, make_course, submission, submit

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "artifacts" / "instructor_views"
CHROMIUM_FLAGS = [*CHROMIUM_FLAGS, "--allow-file-access-from-files"]
# The folder of Jupyter config that ./dev.sh lab puts on JUPYTER_CONFIG_PATH: it enables the
# course's server extension (course/grading/formgrader.py).
JUPYTER_CONFIG = ROOT / "jupyter-config"
SETTLE = 3.5  # seconds a page is left to run what it would run (the meta refresh waits 2)

PAYLOADS = {
    1: "markdown <img onerror>",
    2: "markdown <details open ontoggle>",
    3: "<script> in an HTML output",
    4: "a JavaScript output",
    5: "an SVG output with onload",
    6: "markdown <svg onload>",
    7: "markdown <a href=javascript:> (clicked)",
    8: "markdown [link](javascript:) (clicked)",
    9: "markdown <iframe srcdoc>",
    10: "markdown <meta http-equiv=refresh>",
    11: "CSS url() (style attribute and <style>)",
    12: "widget state in the notebook's metadata and a widget view output",
    13: "notes.html beside the notebook (linked, and opened where it lies)",
    14: "<img onerror> in an HTML output",
    15: "<img onerror> in a Markdown output",
    16: "<script> in an 'isolated' HTML output (an iframe)",
    17: "markdown <script>",
}


class Listener:
    """An HTTP server on the loopback that records the path of every request it gets."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"seen")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> set[int]:
        return {int(m.group(1)) for p in self.hits if (m := re.fullmatch(r"/(\d+)", p))}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _script(n: int, jupyter: str, listener: int) -> str:
    """JavaScript of payload n: write pwned-n.txt through the REST API, and call the listener.

    Only single quotes, so that it fits in a double-quoted HTML attribute.
    """
    return ("(function(){var m=document.cookie.match(/(?:^|; )_xsrf=([^;]*)/);"
            f"fetch('{jupyter}/api/contents/pwned-{n}.txt',{{method:'PUT',credentials:'include',"
            "headers:{'Content-Type':'application/json','X-XSRFToken':m?decodeURIComponent(m[1]):''},"
            f"body:JSON.stringify({{type:'file',format:'text',content:'payload {n} ran at '+location.href}})}})"
            ".catch(function(){});"
            f"fetch('http://127.0.0.1:{listener}/{n}',{{mode:'no-cors'}}).catch(function(){{}});}})()")


def _encoded(n: int, jupyter: str, listener: int) -> str:
    """The payload as eval(atob('...')): no quotes, spaces or brackets for URLs and markdown."""
    return "eval(atob('" + base64.b64encode(_script(n, jupyter, listener).encode()).decode() + "'))"


def _png() -> str:
    """A 12x8 PNG (red and blue halves) as base64."""
    from PIL import Image
    image = Image.new("RGB", (12, 8), (200, 30, 30))
    image.paste((30, 30, 200), (6, 0, 12, 8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _output_cell(js: dict, attr: dict) -> str:
    """A code cell whose outputs, made when it runs at grading time, carry payloads 3-5, 12 and 14-16."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="'
           + attr[5] + '"><rect width="10" height="10"/></svg>')
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "payload-12", "version_major": 2,
                                                           "version_minor": 0},
              "text/plain": "HTML(value=...)"}
    img14 = f'<img src="x-missing-14.png" onerror="{attr[14]}">'
    img15 = f'<img src="x-missing-15.png" onerror="{attr[15]}">'
    lines = [
        "from IPython.display import HTML, SVG, Javascript, Markdown, display",
        f"display(HTML({'<b>html 3</b><script>' + js[3] + '</script>'!r}))",
        f"display(Javascript({js[4]!r}))",
        f"display(SVG({svg!r}))",
        f"display(HTML({img14!r}))",
        f"display(Markdown({img15!r}))",
        f"display(HTML({'<script>' + js[16] + '</script>'!r}), metadata={{'isolated': True}})",
        f"display({widget!r}, raw=True)",
    ]
    return "\n".join(lines)


def malicious_notebook(course: Path, jupyter: str, listener: int) -> nbformat.NotebookNode:
    """The instructor's ps2 solution with every payload added."""
    js = {n: _script(n, jupyter, listener) for n in PAYLOADS}
    attr = {n: html.escape(js[n], quote=True) for n in PAYLOADS}
    enc = {n: _encoded(n, jupyter, listener) for n in PAYLOADS}
    patch = type("Patch", (), {"ASSIGNMENT": "ps2"})
    nb = submission(course, patch)
    for cell in nb.cells:
        if _grade_id(cell) == "highpass_answer":  # the written answer, graded by hand
            cell.source += f'\n\nHigh-pass. <img src="x-missing-1.png" onerror="{attr[1]}">'
    md = nbformat.v4.new_markdown_cell
    code = nbformat.v4.new_code_cell
    srcdoc = html.escape(f"<script>{js[9]}</script>", quote=True)
    nb.cells += [
        md(f'<details open ontoggle="{attr[2]}"><summary>details 2</summary>more</details>'),
        md(f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="{attr[6]}">'
           '<rect width="10" height="10"/></svg>'),
        md(f'Links: <a href="javascript:{attr[7]}">click 7</a> and [click 8]({enc[8]}) and '
           '[click 13: my notes](notes.html)'),
        md(f'<iframe srcdoc="{srcdoc}" width="50" height="20"></iframe>'),
        md(f'<meta http-equiv="refresh" content="2;url=http://127.0.0.1:{listener}/10">'),
        md(f'<div style="background-image:url(http://127.0.0.1:{listener}/11);width:9px;height:9px">a</div>\n'
           f'<style>.p11 {{ background-image: url(http://127.0.0.1:{listener}/11?style); }}</style>\n'
           '<div class="p11" style="width:9px;height:9px">b</div>'),
        md(f"<script>{js[17]}</script>"),
        code(_output_cell(js, attr)),
    ]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {"payload-12": {
            "model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0",
            "state": {"value": f'<img src="x-missing-12.png" onerror="{attr[12]}">'}}}}}
    return nb


def honest_notebook(course: Path) -> nbformat.NotebookNode:
    """The instructor's ps2 solution with math, a data-URI image and tables added."""
    patch = type("Patch", (), {"ASSIGNMENT": "ps2"})
    nb = submission(course, patch)
    png = _png()
    nb.cells += [
        nbformat.v4.new_markdown_cell(
            "My notes: the output size is $H_{out} = \\lfloor (H + 2p - k) / s \\rfloor + 1$, and\n\n"
            "$$\\sum_{i=0}^{k-1} w_i x_{j+i}$$\n\n"
            f'<img alt="honest figure" class="honest-md-image" src="data:image/png;base64,{png}">\n\n'
            "| layer | parameters |\n| --- | --- |\n| conv 3x3, 8 filters | 80 |\n"),
        nbformat.v4.new_code_cell(
            "import base64\nfrom IPython.display import HTML, Image, display\n"
            f"display(Image(data=base64.b64decode({png!r})))\n"
            "display(HTML('<table class=\"honest-table\"><thead><tr><th>k</th><th>out</th></tr></thead>"
            "<tbody><tr><td>3</td><td>26</td></tr></tbody></table>'))"),
    ]
    return nb


def _submission_ids(course: Path) -> dict[str, str]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "cnn-course") as gradebook:
        return {student: gradebook.find_submission_notebook("ps2", "ps2", student).id
                for student in ("mallory", "honest")}


def _start_lab(course: Path, port: int, token: str, log_path: Path) -> JupyterLab:
    """JupyterLab in the course directory with the course's server extension, as ./dev.sh lab runs it."""
    return JupyterLab(
        course, settings=course.parent / "user-settings", log_path=log_path, token=token, port=port,
        env={"JUPYTER_CONFIG_PATH": os.pathsep.join(
            filter(None, [str(JUPYTER_CONFIG), os.environ.get("JUPYTER_CONFIG_PATH")]))},
        settings_files={"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})


HONEST_DOM = """
() => {
  const images = Array.from(document.querySelectorAll('img')).filter(
      i => i.src.startsWith('data:image/png') && i.complete && i.naturalWidth > 0);
  const tables = Array.from(document.querySelectorAll('table')).filter(
      t => t.querySelector('td') !== null);
  return {math: document.querySelectorAll('mjx-container').length,
          images: images.length, tables: tables.length};
}
"""

# Every link whose address is javascript: is clicked (one of them opening another page
# would cancel the others). Returns the texts of the student's links and what was clicked.
CLICK_LINKS = """
() => {
  const links = Array.from(document.querySelectorAll('a')).filter(a => /^click \\d+$/.test(a.textContent.trim()));
  const clicked = [];
  for (const a of links) {
    if ((a.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:')) {
      try { a.click(); clicked.push(a.textContent.trim()); } catch (e) {}
    }
  }
  return {links: links.map(a => a.textContent.trim()), clicked: clicked};
}
"""

NOTES_LINKS = """
() => Array.from(document.querySelectorAll('a')).filter(
    a => a.textContent.trim().startsWith('click 13')).map(a => a.href).filter(h => h)
"""

# The formgrader's own scripts still work under its policy: its models load the scores
# through its API (connect-src), and the eye icon's onclick handler (allowed by hash) shows
# the student's name.
FORMGRADER_WIDGETS = """
async () => {
  // each score field shows the autograder's score as its placeholder once its model has loaded
  const filled = () => Array.from(document.querySelectorAll('input.score')).filter(
      e => (e.getAttribute('placeholder') || '') !== '');
  for (let i = 0; i < 100 && filled().length === 0; i++) await new Promise(r => setTimeout(r, 100));
  const name = document.querySelector('a.name-shown');
  const shownBefore = getComputedStyle(name).display !== 'none';
  document.querySelector('span.glyphicon.name-hidden').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  return {scores: document.querySelectorAll('input.score').length, filled: filled().length,
          name_shown_before: shownBefore, name_shown_after: getComputedStyle(name).display !== 'none'};
}
"""

LAB_STATE = """
async () => {""" + CURRENT_PANEL + """
  const cells = Array.from(panel.content.model.cells);
  const withOutputs = cells.filter(c => c.type === 'code' && c.outputs.length > 0);
  return {path: panel.context.path, cells: cells.length, with_outputs: withOutputs.length,
          trusted: withOutputs.filter(c => c.trusted).length};
}
"""


class Views:
    """Opens pages in one browser context, logged in as the instructor, and records what ran."""

    def __init__(self, context, course: Path, listener: Listener):
        self.context = context
        self.course = course
        self.listener = listener
        self.fired: dict[str, set[int]] = {}
        self.files_written: set[str] = set()
        self.honest: dict[str, dict] = {}
        self.console: list[str] = []

    def _ran(self) -> set[int]:
        """The payloads that ran since the last call (their files and calls are then cleared)."""
        files = {int(m.group(1)) for p in self.course.glob("pwned-*.txt")
                 if (m := re.fullmatch(r"pwned-(\d+)\.txt", p.name))}
        for path in self.course.glob("pwned-*.txt"):
            self.files_written.add(path.name)
            path.unlink()
        ran = files | self.listener.payloads()
        self.listener.hits.clear()
        return ran

    def open(self, name: str, url: str, *, student: str, lab: bool = False, referer: str | None = None) -> dict:
        """Open url, click its javascript: links, follow its notes.html link; record what ran."""
        self._ran()
        page = self.context.new_page()
        page.on("console", lambda m: self.console.append(f"{name}: {m.text}") if m.type == "error" else None)
        result, notes = {}, []
        try:
            page.goto(url, wait_until="load", timeout=60_000, referer=referer)
            if lab:
                page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
                result["lab"] = page.evaluate(LAB_STATE)
            started = time.monotonic()
            if name.startswith("formgrader"):
                result["widgets"] = page.evaluate(FORMGRADER_WIDGETS)
            if student == "honest":
                # MathJax typesets after the page loads
                try:
                    page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0",
                                           timeout=20_000)
                except Exception:  # noqa: BLE001 - recorded below: no math is a failure the test reports
                    pass
                result.update(page.evaluate(HONEST_DOM))
                self.honest[name] = result
            else:
                notes = result["notes_links"] = page.evaluate(NOTES_LINKS)
                try:
                    result["clicked"] = page.evaluate(CLICK_LINKS)
                except Exception as e:  # noqa: BLE001 - a payload navigated away (the meta refresh)
                    result["clicked"] = f"page navigated away: {e}"
                if lab:  # JupyterLab opens a relative link in its own (sandboxed) HTML viewer
                    link = page.locator("a", has_text="click 13").first
                    link.scroll_into_view_if_needed(timeout=10_000)
                    link.click(timeout=10_000)
                    result["notes_opened_in_lab"] = True
                time.sleep(max(0.0, SETTLE - (time.monotonic() - started)))
            page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9]+', '-', name)}.png"), full_page=False)
        finally:
            page.close()
        time.sleep(0.3)
        self.fired[name] = self._ran()
        for href in [] if lab else notes:  # what clicking "my notes" opens, as a page of its own
            self.open_plain(f"{name} -> notes link", href, referer=referer)
        return result

    def open_plain(self, name: str, url: str, referer: str | None = None) -> None:
        self._ran()
        page = self.context.new_page()
        try:
            try:
                page.goto(url, wait_until="load", timeout=30_000, referer=referer)
            except Exception as e:  # noqa: BLE001 - a file that is not there: nothing to run
                self.console.append(f"{name}: {e}")
            time.sleep(SETTLE)
        finally:
            page.close()
        time.sleep(0.3)
        self.fired[name] = self._ran()


def _inline_scripts(page_html: str) -> list[str]:
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(page_html, "html.parser")
    return [s.string or "" for s in soup.find_all("script") if not s.get("src")]


def _policy(page_html: str) -> str:
    from bs4 import BeautifulSoup
    meta = BeautifulSoup(page_html, "html.parser").find(
        "meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert meta is not None, "the feedback page has no Content-Security-Policy meta element"
    return meta["content"]


@pytest.mark.timeout(900)
def test_instructor_views_run_no_student_script(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "course").mkdir()
    course = make_course(tmp_path / "course", ["ps2"])
    listener = Listener()
    port = free_port()
    token = secrets.token_hex(16)
    jupyter = f"http://127.0.0.1:{port}"
    try:
        folder = submit(course, "mallory", malicious_notebook(course, jupyter, listener.port), "ps2").parent
        (folder / "notes.html").write_text(
            f"<!DOCTYPE html><html><body><h1>notes</h1><script>{_script(13, jupyter, listener.port)}"
            "</script></body></html>")
        submit(course, "honest", honest_notebook(course), "ps2")

        done = autograde(course, "ps2")
        assert done.returncode == 0, done.stdout + done.stderr
        admin.feedback("ps2", root=course)
        assert not listener.hits, f"grading reached the host's loopback: {listener.hits}"

        # 3. graded notebooks are never trusted
        notary = NotebookNotary()
        for student in ("mallory", "honest"):
            nb = nbformat.read(course / "autograded" / student / "ps2" / "ps2.ipynb", as_version=4)
            assert not notary.check_signature(nb), f"autograded/{student}/ps2/ps2.ipynb is signed (trusted)"
        assert not list((course / "feedback").rglob("*.ipynb")), "feedback holds notebooks"

        feedback = {s: (course / "feedback" / s / "ps2" / "ps2.html").read_text() for s in ("mallory", "honest")}
        ids = _submission_ids(course)
        proc = _start_lab(course, port, token, tmp_path / "jupyterlab.log")
        report: dict = {}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
                try:
                    context = browser.new_context(viewport={"width": 1300, "height": 900})
                    login = context.new_page()
                    login.goto(f"{jupyter}/lab?token={token}", wait_until="load")
                    assert any(c["name"].startswith("_xsrf") for c in context.cookies()), "no _xsrf cookie"
                    login.close()
                    views = Views(context, course, listener)
                    formgrader = {}
                    for student in ("mallory", "honest"):
                        url = f"{jupyter}/formgrader/submissions/{ids[student]}/"
                        formgrader[student] = urllib.request.urlopen(
                            urllib.request.Request(url, headers={"Authorization": f"token {token}"}))
                        # opened from JupyterLab: jupyter_server serves /files/ only to its own pages
                        lab_page = f"{jupyter}/lab"
                        report[f"formgrader {student}"] = views.open(
                            f"formgrader {student}", url, student=student, referer=lab_page)
                        views.open(f"feedback via server {student}",
                                   f"{jupyter}/files/feedback/{student}/ps2/ps2.html", student=student,
                                   referer=lab_page)
                        views.open(f"feedback via file {student}",
                                   (course / "feedback" / student / "ps2" / "ps2.html").as_uri(), student=student)
                        report[f"lab {student}"] = views.open(
                            f"autograded notebook in JupyterLab {student}",
                            f"{jupyter}/lab/workspaces/{student}/tree/autograded/{student}/ps2/ps2.ipynb?reset",
                            student=student, lab=True)
                    # notes.html wherever the instructor could open it
                    views.open_plain("notes.html in the formgrader",
                                     f"{jupyter}/formgrader/submissions/{ids['mallory']}/notes.html",
                                     referer=f"{jupyter}/lab")
                    views.open_plain("notes.html in feedback via server",
                                     f"{jupyter}/files/feedback/mallory/ps2/notes.html", referer=f"{jupyter}/lab")
                    views.open_plain("notes.html in feedback via file",
                                     (course / "feedback" / "mallory" / "ps2" / "notes.html").as_uri())
                    headers = {s: r.headers.get_all("Content-Security-Policy") or [] for s, r in formgrader.items()}
                    files_headers = urllib.request.urlopen(urllib.request.Request(
                        f"{jupyter}/formgrader/submissions/{ids['mallory']}/notes.html",
                        headers={"Authorization": f"token {token}"})).headers.get_all("Content-Security-Policy")
                finally:
                    browser.close()
        finally:
            proc.stop()

        # JupyterLab renders the untrusted notebook itself, with its own sanitizer, which by
        # design lets markdown load remote images and CSS backgrounds (a request, no script):
        # payload 11 calling out from there is JupyterLab's behaviour, recorded, not ours.
        lab_css = views.fired.get("autograded notebook in JupyterLab mallory", set()) & {11}
        views.fired["autograded notebook in JupyterLab mallory"] -= lab_css
        report["jupyterlab_css_request"] = sorted(lab_css)
        fired = {view: sorted(ids_) for view, ids_ in views.fired.items()}
        report.update({"fired": fired, "honest": views.honest, "formgrader_csp": headers,
                       "notes_csp": files_headers, "payloads": PAYLOADS, "console": views.console[:50]})
        (ARTIFACTS / "report.json").write_text(json.dumps(report, indent=2, default=str))
        ran = {view: ", ".join(f"{n} ({PAYLOADS[n]})" for n in ns) for view, ns in fired.items() if ns}
        files = sorted(views.files_written | {p.name for p in course.glob("pwned-*.txt")})
        assert not ran and not files, (
            "student payloads ran in the instructor's views:\n" + "\n".join(f"  {v}: {p}" for v, p in ran.items())
            + f"\n  files written through the API: {files}")
        assert not listener.hits, f"the loopback listener was called: {listener.hits}"

        # the honest submission still shows its math, image and tables everywhere
        for view, seen in views.honest.items():
            assert seen["math"] > 0, f"{view}: no MathJax output ({seen})"
            assert seen["images"] >= 1, f"{view}: the data-URI image did not load ({seen})"
            assert seen["tables"] >= 1, f"{view}: no table ({seen})"
        # the formgrader's grading widgets work under its policy
        for student in ("mallory", "honest"):
            widgets = report[f"formgrader {student}"]["widgets"]
            assert widgets["filled"] > 0, f"the formgrader's scores did not load for {student}: {widgets}"
            assert not widgets["name_shown_before"] and widgets["name_shown_after"], widgets
        blocked = [m for m in views.console if m.startswith("formgrader honest:") and "Content Security Policy" in m]
        assert not blocked, f"the policy blocks the formgrader's own resources: {blocked}"
        # JupyterLab shows the autograded notebooks untrusted
        for student in ("mallory", "honest"):
            lab = report[f"lab {student}"]["lab"]
            assert lab["path"] == f"autograded/{student}/ps2/ps2.ipynb", lab
            assert lab["with_outputs"] > 0 and lab["trusted"] == 0, f"JupyterLab trusts {lab}"

        # the second wall: a CSP header on the formgrader's submission pages and their files
        for student, policies in headers.items():
            ours = [p for p in policies if "script-src" in p]
            assert ours, f"the formgrader's page for {student} has no script policy: {policies}"
            assert "'unsafe-inline'" not in ours[0].split("script-src")[1].split(";")[0]
            assert "object-src 'none'" in ours[0] and "base-uri 'none'" in ours[0]
        assert any("sandbox" in p for p in files_headers), files_headers

        # the feedback's CSP allows exactly the inline scripts of a page with no student content
        from course.grading import inert
        policy = _policy(feedback["mallory"])
        blank = inert.render_blank_feedback(course)
        allowed = set(re.findall(r"'(sha256-[A-Za-z0-9+/=]+)'", policy))
        assert allowed == {inert.script_hash(s) for s in _inline_scripts(blank)}
        for directive in ("object-src 'none'", "frame-src 'none'", "base-uri 'none'", "form-action 'none'"):
            assert directive in policy, policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        # and the student's page has no inline script but those
        for student, page in feedback.items():
            assert {inert.script_hash(s) for s in _inline_scripts(page)} <= allowed, student
        assert not (course / "feedback" / "mallory" / "ps2" / "notes.html").exists()
    finally:
        listener.close()
        shutil.rmtree(course / "submitted", ignore_errors=True)
