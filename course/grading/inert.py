"""Student content made inert in what the instructor is shown.

nbgrader shows a student's notebook to the instructor in two ways: the formgrader's
submission view (a page of the Jupyter server, on its origin: a script there acts as the
instructor through the REST API) and the feedback pages of ``nbgrader generate_feedback``
(opened from the disk, through the server or from a learning platform). Both are
rendered by nbconvert's ``HTMLExporter``, which ``nbgrader_config.py`` configures with
what this module provides, so that both go through the same steps:

- :class:`MakeInert`, a preprocessor: HTML outputs are sanitized (:func:`sanitize_html`);
  JavaScript outputs, widget views and any other kind of output that a browser could run
  are replaced by a visible note in plain text (a JavaScript output's code is shown as
  text); an ``isolated`` HTML output is shown inline, sanitized, not in a frame; raw
  cells lose their format; the widget state in the notebook's metadata is removed.
- :func:`markdown2html` and :func:`clean_html`, the template filters of those names:
  markdown (markdown cells, the hand-graded answers, Markdown outputs) is rendered as
  nbconvert renders it, then sanitized; every HTML fragment the templates clean is
  cleaned by :func:`sanitize_html`.
- The templates in ``course/grading/templates/`` load MathJax from this machine (the
  ``django-static-mathjax`` package): the formgrader's from this server (our server
  extension, :mod:`course.grading.formgrader`), the feedback's inline, so that a feedback
  page needs nothing from the network. The feedback page carries a
  Content-Security-Policy (:func:`feedback_policy`) that allows only its own two inline
  scripts, by hash.
- :func:`seal_feedback`, nbgrader's post-convert hook of ``generate_feedback``: of the
  files nbgrader copies from the student's folder into the feedback folder, only passive
  ones (images, text, data) stay; a handed-in ``notes.html`` or ``.svg`` is removed.

What it guarantees: in those pages no element, attribute or URL written by the student
runs script, loads a frame, an object or a remote resource, submits a form, changes the
page's base URL or refreshes it: :func:`sanitize_html` keeps an allowlist of tags and
attributes (no ``script``, ``style``, ``iframe``, ``object``, ``embed``, ``svg``, ``meta``,
``form``, ``base``; no ``on*`` or ``style`` attribute; links only to http(s), mailto,
relative and in-page addresses; images only from ``data:image/...`` URIs or relative
addresses), and the ids it keeps are prefixed so that they cannot clobber the page's own.
What it keeps: math (typeset by MathJax on the page), images as data URIs, tables, code
highlighting and the formgrader's grading widgets. SVG outputs are shown as images
(``<img src="data:image/svg+xml...">``), in which browsers run no script.

The Content-Security-Policy is a second wall, in case something gets past the first.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import html
import logging
import os
import re
from pathlib import Path
from typing import Any

import nh3
from jinja2 import pass_context
from markupsafe import Markup
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor

__all__ = ["MakeInert", "clean_html", "feedback_policy", "formgrader_policy", "inert_output",
           "inline_scripts", "markdown2html", "mathjax_source", "render_blank_feedback",
           "sanitize_html", "script_hash", "seal_feedback", "template_basedirs", "FILES_POLICY",
           "FILTERS"]

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
log = logging.getLogger(__name__)

# --- the sanitizer ------------------------------------------------------------------

# nh3's (ammonia's) default tags, all passive, less the image maps (their areas are links
# of their own).
_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "details": {"open"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
}
# Checked again by _attribute_filter: data: only for images.
_URL_SCHEMES = {"http", "https", "mailto", "data"}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|bmp|svg\+xml)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*:")
# Prefix of every id the student's HTML keeps: an id equal to a name the page's scripts use
# (a grade id, `MathJax`) would clobber it.
ID_PREFIX = "student-"
# Classes the formgrader's scripts look elements up by (its grading widgets, keyboard
# navigation, name toggle): a student's element must not join them.
RESERVED_CLASSES = {"tabbable", "score", "extra-credit", "comment", "nbgrader_cell", "name-shown",
                    "name-hidden", "live-notebook", "save-icon", "score-saved", "comment-saved",
                    "mark-graded", "full-credit", "no-credit", "scoring-buttons"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Only images may use data: URIs (of images), and only relative images are loaded."""
    if tag == "img" and attribute == "src":
        if _DATA_IMAGE.match(value):
            return value
        if _SCHEME.match(value) or value.lstrip().startswith(("//", "\\")):
            return None  # a remote image is a request the student chose: a beacon
        return value
    if attribute in ("href", "src") and value.strip().lower().startswith("data:"):
        return None
    if attribute == "class":
        return " ".join(c for c in value.split() if c not in RESERVED_CLASSES) or None
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes=_URL_SCHEMES,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    id_prefix=ID_PREFIX,
)


def sanitize_html(fragment: str | bytes) -> str:
    """An HTML fragment written by a student, with everything that could run removed.

    Tags outside an allowlist are removed (``script`` and ``style`` with their content,
    the others keeping their text), so are attributes outside it (every ``on*`` and
    ``style``), links other than http(s), mailto and relative ones, and images other than
    ``data:image/...`` and relative ones.

    Examples
    --------
    >>> sanitize_html('<img src="x" onerror="alert(1)"><script>alert(2)</script>ok')
    '<img src="x">ok'
    >>> sanitize_html('<a href="javascript:alert(1)">link</a>')
    '<a rel="noopener noreferrer nofollow">link</a>'
    """
    if isinstance(fragment, bytes):
        fragment = fragment.decode("utf-8", errors="replace")
    return _CLEANER.clean(str(fragment))


def clean_html(element: Any) -> Markup:
    """The ``clean_html`` template filter: :func:`sanitize_html`, marked safe for Jinja."""
    return Markup(sanitize_html(element))


@pass_context
def markdown2html(context, source: str) -> Markup:
    """The ``markdown2html`` template filter: nbconvert's rendering, then :func:`sanitize_html`.

    Renders as ``HTMLExporter.markdown2html`` does (attachments become data URIs, math is
    left for MathJax, headings get anchors); files beside the notebook are never embedded.
    """
    cell = context.get("cell", {}) or {}
    renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}),
                               embed_images=False, anchor_link_text="¶")
    return Markup(sanitize_html(MarkdownWithMath(renderer=renderer).render(source)))


# The filters nbgrader_config.py gives HTMLExporter (import names, as traitlets takes them).
FILTERS = {
    "markdown2html": "course.grading.inert.markdown2html",
    "clean_html": "course.grading.inert.clean_html",
    "course_mathjax": "course.grading.inert.mathjax_source",
    "course_feedback_policy": "course.grading.inert.feedback_policy",
}

# --- outputs, cells and metadata ----------------------------------------------------

# The kinds of output shown: text, math, images, and HTML once sanitized.
SHOWN = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
         "image/gif", "image/svg+xml")
NOTE_CHARS = 2000  # of a removed JavaScript output's code shown as text


def _note(mimetype: str, value: Any) -> str:
    if "javascript" in mimetype or "ecmascript" in mimetype:
        code = value if isinstance(value, str) else "".join(value)
        more = f"\n... ({len(code) - NOTE_CHARS} more characters)" if len(code) > NOTE_CHARS else ""
        return (f"[Not run: a JavaScript output ({mimetype}). The instructor's views run no "
                f"student script; its code, as text:]\n{code[:NOTE_CHARS]}{more}")
    if "widget" in mimetype:
        return "[Not shown: an interactive widget. The instructor's views run no student script.]"
    return f"[Not shown: an output of type {mimetype}, which the instructor's views do not display.]"


def inert_output(output: dict) -> dict:
    """One output of a code cell, made inert (a copy)."""
    output = copy.deepcopy(output)
    data = output.get("data")
    if not isinstance(data, dict):
        return output
    kept, notes = {}, []
    for mimetype, value in data.items():
        if mimetype not in SHOWN:
            notes.append(_note(mimetype, value))
        elif mimetype == "text/html":
            kept[mimetype] = sanitize_html(value if isinstance(value, str) else "".join(value))
        else:
            kept[mimetype] = value
    if notes:
        # shown where it is seen: text/plain is displayed only when nothing richer is
        if "text/html" in kept:
            kept["text/html"] += "".join(f"<pre>{html.escape(n)}</pre>" for n in notes)
        elif not any(m != "text/plain" for m in kept):
            kept["text/plain"] = "\n".join(notes)
    output["data"] = kept
    if "metadata" in output:
        output["metadata"] = _inert_metadata(output["metadata"])
    return output


# What the templates read of an output's metadata, per kind of output: the size and
# description of images. Not "filenames" (an image's address) nor "isolated" (an HTML
# output in a frame): HTML is shown inline, sanitized.
_OUTPUT_METADATA = {"width", "height", "alt", "unconfined"}


def _inert_metadata(metadata: Any) -> dict:
    if not isinstance(metadata, dict):
        return {}
    return {mimetype: {k: v for k, v in value.items() if k in _OUTPUT_METADATA}
            for mimetype, value in metadata.items()
            if mimetype in SHOWN and isinstance(value, dict)}


class MakeInert(Preprocessor):
    """Make a graded notebook inert before nbconvert renders it for the instructor.

    Every output is passed through :func:`inert_output`; raw cells lose their format (the
    templates then show nothing of them, or their sanitized text); the notebook's widget
    state is removed. Markdown is sanitized where it is rendered (:func:`markdown2html`).
    """

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [inert_output(o) for o in cell.get("outputs", [])]
            elif cell.cell_type == "raw":
                for key in ("format", "raw_mimetype"):
                    cell.metadata.pop(key, None)
        return nb, resources


# --- the Content-Security-Policy ----------------------------------------------------


def script_hash(text: str) -> str:
    """The CSP hash source of an inline script (or an event handler attribute's text)."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def inline_scripts(page: str) -> tuple[list[str], list[str]]:
    """(texts of the inline ``<script>`` elements that run, texts of ``on*`` attributes) of a page.

    Script elements of a data type (``type="application/json"``, MathJax's
    ``text/x-mathjax-config``) are not run by the browser and not listed.
    """
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(page, "html.parser")
    scripts, handlers = [], []
    for element in soup.find_all(True):
        if element.name == "script" and not element.get("src"):
            kind = (element.get("type") or "text/javascript").lower()
            if kind in ("text/javascript", "application/javascript", "module", "") or "javascript" in kind:
                scripts.append(element.string or "")
        handlers += [value for name, value in element.attrs.items() if name.lower().startswith("on")]
    return scripts, handlers


_COMMON = ["object-src 'none'", "frame-src 'none'", "child-src 'none'", "worker-src 'none'",
           "base-uri 'none'", "form-action 'none'", "manifest-src 'none'"]


def feedback_policy(scripts) -> str:
    """The Content-Security-Policy of a feedback page whose only inline scripts are ``scripts``.

    No other script runs; styles may be inline (the page's own and MathJax's); images and
    fonts only from data: URIs; nothing is fetched, framed or submitted.
    """
    if isinstance(scripts, str):
        scripts = [scripts]
    hashes = " ".join(f"'{script_hash(s)}'" for s in scripts)
    return "; ".join(["default-src 'none'", f"script-src {hashes}", "style-src 'unsafe-inline'",
                      "img-src data:", "font-src data:", "connect-src 'none'", "media-src 'none'",
                      *_COMMON])


def formgrader_policy(blank_page: str, host: str, base_url: str) -> str:
    """The Content-Security-Policy of a formgrader submission view.

    ``blank_page`` is the same view rendered for a notebook with no cells: its inline
    scripts and event handlers are the template's own, and only those are allowed, by hash.
    Script files only from nbgrader's static folder and our MathJax; requests only to this
    server.
    """
    scripts, handlers = inline_scripts(blank_page)
    base = host + "/" + base_url.strip("/") + "/" if base_url.strip("/") else host + "/"
    sources = [f"{base}formgrader/static/", f"{base}course/mathjax/"]
    hashes = [f"'{script_hash(s)}'" for s in dict.fromkeys(scripts)]
    if handlers:
        hashes += ["'unsafe-hashes'"] + [f"'{script_hash(h)}'" for h in dict.fromkeys(handlers)]
    return "; ".join(["default-src 'none'", "script-src " + " ".join(sources + hashes),
                      "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
                      "font-src 'self' data:", "connect-src 'self'", "media-src 'self'", *_COMMON])


# Files of a student's folder that the formgrader serves (a handed-in notes.html): shown
# in a sandbox of their own, with nothing to run and nothing fetched but their images.
FILES_POLICY = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                "media-src 'self'")

# --- MathJax ------------------------------------------------------------------------


def _mathjax_dir() -> Path:
    import mathjax  # the django-static-mathjax wheel: MathJax 3 as package data
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


MATHJAX_ENGINE = "tex-svg-full.js"  # SVG output: no web fonts; every TeX package: nothing loaded later


def mathjax_source(part: str) -> str:
    """The text of MathJax's configuration (``"config"``) or of MathJax itself (``"engine"``)."""
    if part == "config":
        return (STATIC / "mathjax-config.js").read_text()
    if part == "engine":
        text = (_mathjax_dir() / MATHJAX_ENGINE).read_text()
        # Inline in a page, nothing in it may end the script element early: "<!--" (in one
        # regular expression) is written "\x3C!--", the same pattern; "<script" is absent.
        text = text.replace("<!--", "\\x3C!--")
        if "<script" in text.lower() or "</script" in text.lower():
            raise RuntimeError(f"{MATHJAX_ENGINE} cannot be inlined: it holds '<script'")
        return text
    raise ValueError(f"part must be 'config' or 'engine', got {part!r}")


# --- templates ----------------------------------------------------------------------


def template_basedirs() -> list[str]:
    """``HTMLExporter.extra_template_basedirs``: ours first, then nbgrader's formgrade and feedback.

    Ours hold one file per template, ``mathjax.html.j2``, found before nbconvert's: the
    MathJax (and, for the feedback, the Content-Security-Policy) of nbgrader's templates.
    """
    import nbgrader.server_extensions.formgrader.handlers as handlers
    return [str(TEMPLATES), handlers.template_path]


def render_blank_feedback(course_root: str | os.PathLike) -> str:
    """The feedback page of a notebook with no cells, as ``generate_feedback`` renders it.

    Uses the course's ``nbgrader_config.py``: its inline scripts are the template's own.
    """
    import nbformat
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    merged = Config()
    merged.merge(config)
    merged.HTMLExporter.template_name = "feedback"
    # as nbgrader's GenerateFeedback sets it: where the page's bootstrap.min.css is
    merged.HTMLExporter.extra_template_paths = [os.path.join(
        template_basedirs()[1], os.pardir, "static", "node_modules", "bootstrap", "dist", "css")]
    exporter = HTMLExporter(config=merged)
    resources = {"nbgrader": {"notebook": "blank", "score": 0, "max_score": 0, "late_penalty": 0}}
    page, _ = exporter.from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
    return page


# --- the feedback folder ------------------------------------------------------------

# What may stay of the files copied from the student's folder into the feedback: passive
# content that a browser shows as an image or as text.
PASSIVE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".txt", ".csv", ".tsv", ".json",
           ".npy", ".npz", ".py", ".md", ".log", ".dat"}


def seal_feedback(assignment: str, student: str, notebooks: list[str], **_) -> list[Path]:
    """nbgrader's post-convert hook of ``generate_feedback``: remove active files copied in.

    nbgrader copies every file of the student's graded folder into the feedback folder;
    an HTML, SVG or script file there would run when opened beside the feedback page.
    Removes every file but the feedback pages and :data:`PASSIVE` ones, and returns them.
    ``notebooks`` are the graded notebooks, ``<root>/autograded/<student>/<assignment>/*.ipynb``
    in nbgrader's default layout, which the course uses.
    """
    removed = []
    for notebook in map(Path, notebooks):
        graded = notebook.parent
        if graded.parent.parent.name != "autograded":
            raise RuntimeError(f"seal_feedback: {notebook} is not in autograded/<student>/<assignment>/")
        folder = graded.parent.parent.parent / "feedback" / graded.parent.name / graded.name
        pages = {Path(n).stem + ".html" for n in notebooks}
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_symlink() or (path.is_file() and path.suffix.lower() not in PASSIVE
                                     and not (path.parent == folder and path.name in pages)):
                path.unlink()
                removed.append(path)
        break
    for path in removed:
        log.warning("feedback: removed %s (a student's file that a browser could run)", path)
    return removed
