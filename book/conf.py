"""Sphinx configuration of the course book (MyST-NB + sphinx-book-theme).

Do not run Sphinx on ``book/`` directly: ``./dev.sh book`` (``book/build.py``) stages
the pages, the lecture notebooks and the problem sets into a source folder under
``build/`` and runs ``sphinx-build -c book`` on it with this file.

Everything the pages load is local: MathJax is copied from the ``django-static-mathjax``
wheel (MathJax 3.2.2; only the files the TeX-to-HTML component can load), the theme ships
its own scripts and icon fonts, and the explorers' figures are embedded in the pages.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import mathjax  # the django-static-mathjax wheel: MathJax 3 as package data

HERE = Path(__file__).resolve().parent

project = "Convolutional Neural Networks: a Jupyter course"
author = "the course authors"
copyright = "the course authors, MIT licence"
language = "en"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
exclude_patterns = ["**.ipynb_checkpoints"]
root_doc = "index"

# --- Markdown and notebooks ------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3          # [text](page.md#a-heading) links, checked at build time
myst_dmath_double_inline = True   # notebooks write $$ ... $$ inside paragraphs too

# The lecture notebooks are executed during the build; the problem sets and the
# solution pages are shown as they are (a release notebook raises NotImplementedError).
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ.get("COURSE_BOOK_CACHE", str(HERE.parent / "build" / "book-cache"))
nb_execution_excludepatterns = ["release/*/*.ipynb"]  # matched from the right of the path
nb_execution_timeout = 600
nb_execution_raise_on_error = True   # an error in a lecture cell fails the build
nb_execution_show_tb = True          # ... and the log says where
nb_output_stderr = "warn"            # stderr output (a warning, a traceback) is a build warning
nb_merge_streams = True              # and applies carriage returns (progress bars)
nb_ipywidgets_js = {}                # no widget JavaScript from a CDN: explorers are static here

# --- Math: a local MathJax 3 --------------------------------------------------------------
MATHJAX = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
# What tex-chtml.js can load: the component, the TeX extensions it autoloads, the CHTML
# fonts, the menu and the accessibility extensions (with their speech rules).
MATHJAX_PARTS = ["tex-chtml.js", "input", "output/chtml", "output/chtml.js", "ui", "a11y", "sre", "adaptors"]
mathjax_path = "mathjax/tex-chtml.js"   # relative to _static
mathjax3_config = {"tex": {"tags": "ams"}}

# --- HTML -----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "CNNs: a Jupyter course"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"   # else browsers ask for a /favicon.ico that is not there
html_css_files = ["book.css"]
html_context = {"default_mode": "auto"}   # light or dark as the reader's system (no console error)
html_last_updated_fmt = None
html_show_sphinx = False
html_copy_source = True            # the theme's download button offers each notebook
html_show_sourcelink = False
# Search results without summaries: a summary is fetched from the page, which a browser
# refuses for file:// pages (the site must also work opened from the disk).
html_show_search_summary = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "use_repository_button": False,
    "use_source_button": False,
    "navigation_with_keys": False,
    "show_navbar_depth": 1,
}

# Every warning fails the build (book/build.py runs sphinx-build -W --keep-going): a broken
# link or anchor, a missing file or image, stderr in a cell, an output that cannot be shown.
# None is silenced; add a `suppress_warnings` entry here only with the reason beside it.


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        src = MATHJAX / part
        dst = target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def setup(app):
    if not (MATHJAX / "tex-chtml.js").is_file():
        raise RuntimeError(f"MathJax not found at {MATHJAX}: install django-static-mathjax (requirements/lock.txt)")
    app.connect("build-finished", _copy_mathjax)
