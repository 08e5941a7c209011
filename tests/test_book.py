"""The course book (``./dev.sh book``, ``book/build.py``): a static, offline website.

The fast tests check the pieces of the build (discovery, the glossary's links, the
problem-set pages, what counts as a solution line). The slow ones build the site once
per session (and once more with ``--with-solutions``, which reuses the executed
notebooks from the cache), then check the files, and load every page in headless
Chromium served from 127.0.0.1: no failed request, no request to another address, no
console error, math typeset, every image loaded, internal links resolve, and the search
finds "receptive field". Screenshots go to artifacts/book/ (git-ignored).
Needs /usr/bin/chromium and playwright, like tests/test_browser.py; without them the
browser tests FAIL, they do not skip.
"""
from __future__ import annotations

import base64
import functools
import html.parser
import http.server
import importlib.util
import json
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from browserkit import CHROMIUM, CHROMIUM_FLAGS, require_browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "book"


def _load_build():
    spec = importlib.util.spec_from_file_location("course_book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build = _load_build()
LECTURES = build.lecture_notebooks()
PROBLEM_SETS = build.problem_set_notebooks()


# ----------------------------------------------------------------------------- reading pages


class _Page(html.parser.HTMLParser):
    """Text (without scripts and styles), links, resources and ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.resources: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for key in ("src", "data-src"):
            if attrs.get(key):
                self.resources.append((tag, attrs[key]))
        if tag == "link" and attrs.get("href"):
            self.resources.append((tag, attrs["href"]))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _tokens(text: str) -> str:
    """Words and numbers, one space apart: code and prose compare the same after highlighting."""
    return " ".join(re.findall(r"[A-Za-z0-9_]+", text))


def _site_text(out: Path) -> str:
    """Everything a reader can get from the site: page texts and every other file (search index,
    notebook downloads, sources)."""
    parts = []
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.suffix in (".png", ".jpg", ".woff", ".woff2", ".ttf", ".eot", ".svg", ".ico"):
            continue
        if "_static" in path.relative_to(out).parts:
            continue   # the theme's and MathJax's files
        if path.suffix == ".html":
            parts.append(" ".join(_parse(path).text))
        else:
            parts.append(_file_text(path))
    return " " + _tokens("\n".join(parts)) + " "


def _file_text(path: Path) -> str:
    """A file's text; a notebook's cell sources (its JSON would put a `n` of every `\\n` between
    the words of two lines)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            return "\n".join(_text(cell) for cell in json.loads(text)["cells"])
        except (ValueError, KeyError):
            pass
    return text


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@functools.lru_cache(maxsize=1)
def _solution_lines() -> dict[str, str]:
    """The solution lines of source/ worth looking for: ``{token string: original line}``.

    Short lines (``return out``, ``else:``) and lines that the students' versions, the
    lectures or the book's own pages also contain are left out: finding those says nothing.
    """
    allowed = [_file_text(p) for p in
               [*LECTURES, *PROBLEM_SETS.values(), *(ROOT / "book").glob("*.md"), ROOT / "book" / "glossary.yml"]]
    allowed = " " + _tokens("\n".join(allowed)) + " "
    lines = {}
    for path in build.problem_set_notebooks(ROOT, "source").values():
        for line in build.solution_lines(json.loads(path.read_text(encoding="utf-8"))):
            tokens = _tokens(line)
            if len(tokens.split()) >= 5 and f" {tokens} " not in allowed:
                lines[tokens] = line.strip()
    return lines


# ----------------------------------------------------------------------------- fast tests


def test_discovers_every_lecture_and_problem_set_by_globbing(tmp_path):
    assert [p.name for p in LECTURES] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert set(PROBLEM_SETS) == {p.name for p in (ROOT / "release").iterdir() if list(p.glob("*.ipynb"))}
    assert {"ps1", "ps2", "ps3", "ps4"} <= set(PROBLEM_SETS)
    # a problem set added later needs no change to the build
    (tmp_path / "release" / "ps5").mkdir(parents=True)
    (tmp_path / "release" / "ps5" / "ps5.ipynb").write_text("{}")
    (tmp_path / "release" / "notes").mkdir()
    assert list(build.problem_set_notebooks(tmp_path)) == ["ps5"]


def test_course_map_rows_give_what_each_problem_set_covers_and_after_which_lectures():
    rows = build.course_map_rows((ROOT / "notebooks" / "README.md").read_text())
    assert set(rows) == set(PROBLEM_SETS)
    assert rows["ps1"].after == ["02", "03"]
    assert "dilation" in rows["ps1"].covers
    assert build.course_map_rows("| [ps9: x](../release/ps9/ps9.ipynb) | 04 | im2col |")["ps9"].after == ["04"]


def test_slug_is_myst_heading_anchor():
    assert build.slug("9. Stride, dilation and the output-size formula") == "9-stride-dilation-and-the-output-size-formula"
    assert build.slug("1 × 1 convolutions") == "1--1-convolutions"
    assert build.slug("1. LeNet-5 as an `nn.Module` (4 points)") == "1-lenet-5-as-an-nnmodule-4-points"


def test_glossary_links_each_term_to_the_heading_that_teaches_it():
    lectures = {p.name[:2]: p for p in LECTURES}
    page = build.glossary_page(
        [{"term": "stride", "definition": "how far the kernel moves", "taught": ["03: Stride", "ps1: Stride"]}],
        lectures, PROBLEM_SETS)
    assert "notebooks/03_conv_layer.ipynb#" in page and "release/ps1/ps1.ipynb#" in page
    with pytest.raises(build.BuildError, match="no heading containing 'Quantum'"):
        build.glossary_page([{"term": "x", "definition": "y", "taught": ["03: Quantum"]}], lectures, PROBLEM_SETS)
    with pytest.raises(build.BuildError, match="no lecture or problem set '09'"):
        build.glossary_page([{"term": "x", "definition": "y", "taught": ["09: Stride"]}], lectures, PROBLEM_SETS)


def test_glossary_covers_the_syllabus_terms():
    import yaml

    entries = yaml.safe_load((ROOT / "book" / "glossary.yml").read_text())
    names = {e["term"] for e in entries} | {a for e in entries for a in e.get("aliases", [])}
    for term in ["stride", "dilation", "receptive field", "feature map", "padding", "pooling", "kernel",
                 "cross-correlation", "convolution", "channel", "transposed convolution", "im2col",
                 "output-size formula", "parameter sharing", "equivariance", "dropout", "early stopping"]:
        assert term in names, term
    assert all(e.get("taught") for e in entries), "every term links to where it is taught"


def test_problem_set_page_explains_the_checks_and_the_hidden_self_check():
    ps = build.read_problem_set("ps1", PROBLEM_SETS["ps1"])
    assert ps.title == "Problem set 1: Convolution"
    assert [c.call for c in ps.checks][:2] == ["ps1.check_correlate1d(correlate1d)",
                                               "ps1.check_convolve1d(convolve1d)"]
    assert all(c.hidden == c.call[:-1] + ", hidden=True)" for c in ps.checks)
    rows = build.course_map_rows((ROOT / "notebooks" / "README.md").read_text())
    page = build.problem_set_page(ps, rows["ps1"], {p.name[:2]: p for p in LECTURES}, "release/ps1/ps1.ipynb")
    assert "../notebooks/02_convolution.ipynb" in page and "../notebooks/03_conv_layer.ipynb" in page
    assert "ps1.check_pad2d(pad2d, hidden=True)" in page
    assert "](../release/ps1/ps1.ipynb)" in page
    # a problem set with a written answer says so; ps4's checks take its trained values too
    ps4 = build.read_problem_set("ps4", PROBLEM_SETS["ps4"])
    assert ps4.written and all(c.hidden for c in ps4.checks)
    assert any("ps4.check_lenet5(LeNet5, hidden=True)" == c.hidden for c in ps4.checks)
    assert any("ps4.check_experiment(results, es_model, hidden=True)" == c.hidden
               for c in ps4.checks)


def test_solution_lines_are_found_in_every_instructor_notebook():
    sources = build.problem_set_notebooks(ROOT, "source")
    assert set(sources) == set(PROBLEM_SETS)
    for name, path in sources.items():
        nb = json.loads(path.read_text())
        assert build.solution_lines(nb), f"{name}: no solution lines found"
        assert not any(m in line for line in build.solution_lines(nb) for m in ("BEGIN SOLUTION", "END SOLUTION"))
    assert len(_solution_lines()) > 100


# ----------------------------------------------------------------------------- the build


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book") / "book"
    report = build.build(out, quiet=True)
    print(f"\nbook: {len(report['pages'])} pages in {report['seconds']:.0f} s")
    return report


@pytest.fixture(scope="session")
def book_with_solutions(tmp_path_factory, book):
    out = tmp_path_factory.mktemp("book-solutions") / "book"
    return build.build(out, with_solutions=True, quiet=True)


def _pages(out: Path) -> list[Path]:
    return build.site_pages(out)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_build_has_a_page_for_everything(book):
    out = book["out"]
    for page in ["index", "prerequisites", "running-locally", "glossary", "references", "notebooks/README",
                 "search", "genindex"]:
        assert (out / f"{page}.html").is_file(), page
    for path in LECTURES:
        assert (out / "notebooks" / f"{path.stem}.html").is_file(), path.name
    for name, path in PROBLEM_SETS.items():
        assert (out / "problem-sets" / f"{name}.html").is_file(), name
        assert (out / "release" / name / f"{path.stem}.html").is_file(), name
    assert not (out / "solutions").exists()
    index = " ".join(_parse(out / "index.html").text)
    assert "Prerequisites" in index and "Glossary" in index


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_lectures_are_executed_with_figures_and_problem_sets_are_not(book):
    out = book["out"]
    for path in LECTURES:
        text = (out / "notebooks" / f"{path.stem}.html").read_text()
        assert "cell_output" in text, f"{path.name} shows no output"
        figures = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+)"', text)
        assert figures, f"{path.name} shows no figure"
    for name, path in PROBLEM_SETS.items():
        text = (out / "release" / name / f"{path.stem}.html").read_text()
        assert "YOUR CODE HERE" in text
        assert "cell_output" not in text, f"{name} was executed"


def _explorer_cells(path: Path) -> int:
    return sum(1 for c in _cells(path) if c["cell_type"] == "code"
               and re.search(r"^widgets\.\w+\(.*\)\s*$", _text(c).strip().splitlines()[-1] if _text(c).strip() else ""))


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_explorers_are_static_figures_with_a_note(book):
    out = book["out"]
    total = 0
    for path in LECTURES:
        text = (out / "notebooks" / f"{path.stem}.html").read_text()
        assert "application/vnd.jupyter.widget" not in text
        figures = re.findall(r'<figure class="course-static-explorer[^"]*">(.*?)</figure>', text, re.S)
        assert len(figures) == _explorer_cells(path), path.name
        for figure in figures:
            assert re.search(r'<img src="data:image/(png|jpeg);base64,', figure)
            assert "Interactive in JupyterLab" in figure
        total += len(figures)
    assert total >= 7
    # the step-by-step explorer is an animation of its steps (an APNG: an acTL chunk, 9 frames)
    text = (out / "notebooks" / "02_convolution.html").read_text()
    data = base64.b64decode(re.search(r'explorer-conv-stepper">.*?base64,([^"]+)"', text, re.S).group(1))
    actl = data.index(b"acTL")
    assert int.from_bytes(data[actl + 4:actl + 8], "big") == 9


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_no_page_shows_an_error_or_a_traceback(book):
    for page in _pages(book["out"]):
        text = page.read_text()
        for marker in ('class="output traceback', 'class="output stderr', "Traceback (most recent call last)",
                       "mjx-merror"):
            assert marker not in text, f"{page.name}: {marker}"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_internal_links_and_resources_resolve(book):
    out = book["out"]
    checked = 0
    for page in _pages(out):
        parsed = _parse(page)
        for ref in parsed.links + [src for _, src in parsed.resources]:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https", "mailto") or ref.startswith("data:"):
                continue
            assert not parts.scheme and not parts.netloc, f"{page.relative_to(out)}: {ref}"
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file() or (target / "index.html").is_file(), f"{page.relative_to(out)}: {ref} is missing"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in _parse(target).ids, f"{page.relative_to(out)}: no #{parts.fragment} in {target.name}"
            checked += 1
    assert checked > 500


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_pages_load_nothing_from_another_machine(book):
    for page in _pages(book["out"]):
        for tag, src in _parse(page).resources:
            assert not re.match(r"(https?:)?//", src), f"{page.name} loads {src} ({tag})"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_default_build_contains_no_solution_line(book):
    site = _site_text(book["out"])
    leaked = [line for tokens, line in _solution_lines().items() if f" {tokens} " in site]
    assert not leaked, f"{len(leaked)} solution lines of source/ in the default build, e.g. {leaked[:3]}"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_with_solutions_build_adds_the_solutions(book_with_solutions):
    out = book_with_solutions["out"]
    for name in PROBLEM_SETS:
        assert (out / "solutions" / f"{name}.html").is_file()
    site = _site_text(out / "solutions")
    lines = _solution_lines()
    missing = [line for tokens, line in lines.items() if f" {tokens} " not in site]
    assert not missing, f"{len(missing)} of {len(lines)} solution lines not shown, e.g. {missing[:3]}"
    ps2 = " ".join(_parse(out / "solutions" / "ps2.html").text)
    assert "Model answer" in ps2 and "High-pass" in ps2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_broken_link_fails_the_build(tmp_path):
    """A warning that means a broken link fails the build (-W): the same small course builds
    with a good link and fails with a link to a lecture that does not exist."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "book" / "glossary.yml").write_text("[]\n")
    for folder in ("course", "requirements", "notebooks", "release/ps1"):
        (root / folder).mkdir(parents=True)
    (root / "course" / "__init__.py").write_text("")
    (root / "requirements" / "lock.txt").write_text("")
    shutil.copy(PROBLEM_SETS["ps1"], root / "release" / "ps1" / "ps1.ipynb")
    readme = root / "notebooks" / "README.md"
    readme.write_text("# Course map\n\nDo [ps1](../release/ps1/ps1.ipynb) first.\n")
    report = build.build(tmp_path / "good", root=root, cache=tmp_path / "cache", quiet=True)
    assert (report["out"] / "problem-sets" / "ps1.html").is_file()
    readme.write_text("# Course map\n\nSee [the next lecture](08_missing.ipynb).\n")
    with pytest.raises(build.BuildError, match="sphinx-build failed"):
        build.build(tmp_path / "broken", root=root, cache=tmp_path / "cache", quiet=True)


# ----------------------------------------------------------------------------- in a browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served(book):
    """The built site on a static server at 127.0.0.1 (a free port)."""
    handler = functools.partial(_Quiet, directory=str(book["out"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    # module scope: the sync Playwright session runs an asyncio loop in this thread until it
    # is closed; held for the whole session it makes tests/test_browser.py's own
    # sync_playwright() fail ("Sync API inside the asyncio loop") when both files run
    require_browser("the book's browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class _Watch:
    """Every request, failure and console error of a page, for one page load at a time."""

    def __init__(self, page, base: str) -> None:
        self.base = base
        self.problems: list[str] = []
        page.on("request", self._request)
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _request(self, request):
        url = request.url
        if not (url.startswith(self.base) or url.startswith(("data:", "blob:", "about:"))):
            self.problems.append(f"request leaves the machine: {url}")


TYPESET = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const sources = document.querySelectorAll('span.math, div.math').length;
  const typeset = document.querySelectorAll('mjx-container').length;
  const errors = document.querySelectorAll('mjx-merror').length;
  const images = Array.from(document.images);
  const broken = images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src.slice(0, 120));
  return {sources, typeset, errors, images: images.length, broken};
}
"""


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_page_loads_offline_in_a_browser(book, served, browser):
    out = book["out"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = _Watch(page, served)
    failures, math_pages, image_count = [], 0, 0
    for path in _pages(out):
        rel = path.relative_to(out).as_posix()
        watch.problems.clear()
        page.goto(urljoin(served, rel), wait_until="load")
        # let lazy parts (MathJax's fonts, the theme's scripts) finish
        page.wait_for_load_state("networkidle")
        state = page.evaluate(TYPESET)
        page.wait_for_load_state("networkidle")
        if state["sources"]:
            math_pages += 1
            if state["typeset"] < state["sources"]:
                failures.append(f"{rel}: {state['typeset']} of {state['sources']} formulas typeset")
        if state["errors"]:
            failures.append(f"{rel}: {state['errors']} MathJax errors")
        if state["broken"]:
            failures.append(f"{rel}: images that did not load: {state['broken']}")
        image_count += state["images"]
        failures += [f"{rel}: {p}" for p in watch.problems]
    assert not failures, "\n".join(failures)
    assert math_pages >= 8, f"only {math_pages} pages with math"
    assert image_count >= 30


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_search_box_finds_receptive_field(book, served, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = _Watch(page, served)
    page.goto(urljoin(served, "index.html"))
    page.locator("button.search-button-field").first.click()
    box = page.locator("input[name=q]:visible").first
    box.fill("receptive field")
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=receptive"))
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "search-receptive-field.png"))
    hrefs = [results.nth(i).locator("a").first.get_attribute("href") for i in range(results.count())]
    assert any("glossary.html" in h for h in hrefs), hrefs
    assert any("04_conv_vs_dense.html" in h for h in hrefs), hrefs
    assert not watch.problems, watch.problems


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_site_works_from_the_file_system(book, browser):
    """README: open build/book/index.html directly. The pages, math and search work from file://."""
    out = book["out"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = _Watch(page, out.as_uri() + "/")
    for rel in ["index.html", "notebooks/04_conv_vs_dense.html", "search.html?q=dilation"]:
        page.goto(f"{out.as_uri()}/{rel}")
        # as the served test does: let the page's own requests (the favicon, fonts) finish, or
        # the next navigation aborts them and the watch reports a failed request
        page.wait_for_load_state("networkidle")
        state = page.evaluate(TYPESET)
        page.wait_for_load_state("networkidle")
        assert not state["broken"], (rel, state)
        if rel.startswith("notebooks"):
            assert state["typeset"] >= state["sources"] > 0, state
    page.locator("#search-results ul.search li").first.wait_for(timeout=30_000)
    assert not watch.problems, watch.problems


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_screenshots_of_a_lecture_and_a_problem_set(book, served, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    # (page, section, what to bring to the bottom of the view: the first figure after the section)
    shots = {
        "lecture-02-low-and-high-pass.png": ("notebooks/02_convolution.html", "low-pass-and-high-pass-kernels",
                                             ".cell_output img"),
        "lecture-04-receptive-field-explorer.png": ("notebooks/04_conv_vs_dense.html", "receptive-fields",
                                                    "figure.course-static-explorer"),
        "lecture-02-conv-stepper-animation.png": ("notebooks/02_convolution.html", "a-convolution-step-by-step",
                                                  "figure.course-static-explorer"),
        "problem-set-ps1.png": ("problem-sets/ps1.html", None, None),
        "problem-set-ps1-checks.png": ("problem-sets/ps1.html", "checking-your-answers-on-your-own", None),
        "problem-set-ps1-notebook.png": ("release/ps1/ps1.html", "one-dimensional-cross-correlation-2-points", None),
        "glossary.png": ("glossary.html", "term-receptive-field", None),
    }
    for name, (rel, section, target) in shots.items():
        page.goto(urljoin(served, rel) + (f"#{section}" if section else ""))
        page.evaluate(TYPESET)
        if target:
            found = page.evaluate("""([id, selector]) => {
                const start = document.getElementById(id);
                const el = Array.from(document.querySelectorAll(selector)).find(
                    e => start.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING);
                if (!el) return false;
                el.scrollIntoView({block: 'end'});
                return true;
            }""", [section, target])
            assert found, f"{rel}: no {target} after #{section}"
        page.wait_for_load_state("networkidle")
        time.sleep(0.3)
        page.screenshot(path=str(ARTIFACTS / name))
        assert (ARTIFACTS / name).stat().st_size > 10_000
