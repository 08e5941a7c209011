"""course.grading.inert: the sanitizer, the preprocessor, the policies and the feedback folder.

Fast checks of each piece; tests/test_instructor_views.py opens the real pages in Chromium.
"""
from __future__ import annotations

import base64
import re

import nbformat
import pytest

from course.grading import inert

PNG = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize("payload", [
    '<img src="x" onerror="alert(1)">',
    '<details open ontoggle="alert(1)">d</details>',
    "<script>alert(1)</script>",
    '<svg onload="alert(1)"></svg>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:1/">',
    '<div style="background:url(http://127.0.0.1:1/)">x</div>',
    "<style>body { background: url(http://127.0.0.1:1/) }</style>",
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="http://127.0.0.1:1/"><button>go</button></form>',
    '<base href="http://127.0.0.1:1/">',
    '<img src="http://127.0.0.1:1/beacon.png">',
    '<img src="//127.0.0.1:1/beacon.png">',
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>',
])
def test_sanitize_html_removes_what_runs_or_calls_out(payload):
    clean = inert.sanitize_html(payload).lower()
    for word in ("alert", "onerror", "ontoggle", "onload", "javascript:", "<script", "<iframe", "<svg",
                 "<meta", "<style", "style=", "<object", "<embed", "<form", "<base", "127.0.0.1",
                 "data:text"):
        assert word not in clean, (payload, clean)


def test_sanitize_html_keeps_images_tables_math_and_links():
    fragment = (f'<p>$x^2$ and <a href="https://pytorch.org">docs</a> <a href="#top">top</a></p>'
                f'<img src="{PNG}" alt="plot"><img src="figure.png">'
                "<table><thead><tr><th>k</th></tr></thead><tbody><tr><td>3</td></tr></tbody></table>"
                '<div class="highlight"><pre><span class="k">def</span></pre></div>')
    clean = inert.sanitize_html(fragment)
    assert "$x^2$" in clean
    assert f'src="{PNG}"' in clean and 'src="figure.png"' in clean
    assert "<th>k</th>" in clean and "<td>3</td>" in clean
    assert 'href="https://pytorch.org"' in clean and 'href="#top"' in clean
    assert '<span class="k">def</span>' in clean


def test_sanitize_html_prefixes_ids_and_drops_the_formgraders_classes():
    clean = inert.sanitize_html('<div id="test_conv2d" class="score tabbable note">x</div>')
    assert 'id="student-test_conv2d"' in clean
    assert 'class="note"' in clean


def test_markdown_filter_renders_then_sanitizes():
    html = inert.markdown2html({"cell": {}}, "# Title\n\n$a<b$ [x](javascript:alert(1)) "
                                             '<img src=x onerror="alert(1)">\n\n| a |\n|---|\n| 1 |')
    assert "<h1" in html and "<table>" in html and "$a&lt;b$" in html
    assert "alert" not in html


def _notebook_with_outputs() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", {"application/javascript": "alert(1)",
                                                "text/plain": "<IPython.core.display.Javascript object>"}),
        nbformat.v4.new_output("display_data", {"text/html": "<b>ok</b><script>alert(2)</script>"},
                               metadata={"text/html": {"isolated": True}}),
        nbformat.v4.new_output("display_data", {"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                                "text/plain": "HTML()"}),
        nbformat.v4.new_output("display_data", {"image/png": PNG.split(",")[1]},
                               metadata={"image/png": {"width": 10, "filenames": "http://x/"},
                                         "filenames": {"image/png": "http://127.0.0.1:1/"}}),
    ]
    nb.cells = [cell, nbformat.v4.new_raw_cell("<script>alert(3)</script>", metadata={"format": "text/html"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_make_inert_turns_scripts_into_notes_and_sanitizes_html():
    nb, _ = inert.MakeInert().preprocess(_notebook_with_outputs(), {})
    js, html, widget, image = nb.cells[0].outputs
    assert set(js.data) == {"text/plain"} and "Not run: a JavaScript output" in js.data["text/plain"]
    assert "alert(1)" in js.data["text/plain"]  # shown as text
    assert html.data["text/html"] == "<b>ok</b>" and html.metadata == {"text/html": {}}
    assert set(widget.data) == {"text/plain"} and "widget" in widget.data["text/plain"]
    assert image.metadata == {"image/png": {"width": 10}}
    assert "format" not in nb.cells[1].metadata
    assert "widgets" not in nb.metadata


def test_policies_allow_only_the_pages_own_scripts():
    policy = inert.feedback_policy(["a()", "b()"])
    assert re.findall(r"'sha256-[^']+'", policy) == [f"'{inert.script_hash('a()')}'",
                                                     f"'{inert.script_hash('b()')}'"]
    for directive in ("default-src 'none'", "object-src 'none'", "frame-src 'none'", "base-uri 'none'",
                      "form-action 'none'", "img-src data:"):
        assert directive in policy
    page = ('<script>var a = 1;</script><script type="application/json">{}</script>'
            '<script src="/x.js"></script><span onclick="go();"></span>')
    policy = inert.formgrader_policy(page, "127.0.0.1:8888", "/")
    script_src = policy.split("script-src ")[1].split(";")[0].split()
    assert script_src == ["127.0.0.1:8888/formgrader/static/", "127.0.0.1:8888/course/mathjax/",
                          f"'{inert.script_hash('var a = 1;')}'", "'unsafe-hashes'",
                          f"'{inert.script_hash('go();')}'"]
    assert inert.script_hash("") == "sha256-" + base64.b64encode(
        bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")).decode()


def test_blank_feedback_page_has_the_policy_and_only_its_two_scripts():
    page = inert.render_blank_feedback(inert.TEMPLATES.parents[2])
    scripts, handlers = inert.inline_scripts(page)
    assert scripts == [inert.mathjax_source("config"), inert.mathjax_source("engine")]
    assert not handlers
    assert inert.feedback_policy(scripts) in page.replace("&#x27;", "'").replace("&#39;", "'")


def test_seal_feedback_keeps_only_the_pages_and_passive_files(tmp_path):
    graded = tmp_path / "autograded" / "s1" / "ps2"
    feedback = tmp_path / "feedback" / "s1" / "ps2"
    graded.mkdir(parents=True)
    (feedback / "data").mkdir(parents=True)
    for name in ("ps2.html", "plot.png", "data/x.npy", "notes.html", "data/evil.svg", "run.js", "noext"):
        (feedback / name).write_text("x")
    removed = inert.seal_feedback(assignment="ps2", student="*", notebooks=[str(graded / "ps2.ipynb")])
    assert sorted(p.relative_to(feedback).as_posix() for p in removed) == [
        "data/evil.svg", "noext", "notes.html", "run.js"]
    assert sorted(p.relative_to(feedback).as_posix() for p in feedback.rglob("*") if p.is_file()) == [
        "data/x.npy", "plot.png", "ps2.html"]


def test_seal_feedback_refuses_an_unknown_layout(tmp_path):
    with pytest.raises(RuntimeError, match="autograded"):
        inert.seal_feedback(assignment="ps2", student="*", notebooks=[str(tmp_path / "x" / "ps2.ipynb")])
