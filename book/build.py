"""Build the course book: a static, offline website made from the repository as it is.

    python book/build.py [--with-solutions] [--out build/book] [--jobs N]

(``./dev.sh book`` runs it in the course's environment.) Steps:

1. stage a Sphinx source folder (a temporary folder): the hand-written pages of
   ``book/``, the course map ``notebooks/README.md`` and every lecture notebook
   ``notebooks/*.ipynb``, every problem set as students get it (``release/*/*.ipynb``),
   a generated page per problem set (what it covers, after which lectures, how to check
   answers), the glossary from ``book/glossary.yml`` (each "taught in" link is found
   by its heading, so a renumbered section still links), and, only with
   ``--with-solutions``, a page per problem set with the instructor's solution code and
   model written answers from ``source/``;
2. run ``sphinx-build -W --keep-going`` with ``book/conf.py``: the lecture notebooks are
   executed (MyST-NB, cached under ``build/book-cache/<key>``, the key a hash of the
   library and of this folder, so a changed ``course/`` re-executes), the explorers are
   drawn as figures by ``book/kernel_startup.py``, and any warning (a broken link, a
   missing file, an error or stderr output in a cell) fails the build;
3. check the pages: no error output, no traceback, and without ``--with-solutions`` no
   solutions folder; print the build time and the number of pages.

Problem sets and lectures are discovered by globbing, so a new ``release/ps5/`` or
``notebooks/08_*.ipynb`` appears without editing this file.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGES = ["index.md", "prerequisites.md", "running-locally.md", "references.md"]
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
_MARKER = re.compile(r"^(BEGIN|END) (SOLUTION|HIDDEN TESTS)$")


class BuildError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- discovery


def _read_nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def lecture_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


def problem_set_notebooks(root: Path = ROOT, folder: str = "release") -> dict[str, Path]:
    """``{ps: notebook}`` for every ``<folder>/<ps>/`` holding a notebook (``<ps>.ipynb`` first)."""
    found = {}
    for directory in sorted(p for p in (root / folder).glob("*/") if p.is_dir()):
        notebooks = sorted(directory.glob("*.ipynb"))
        if notebooks:
            named = directory / f"{directory.name}.ipynb"
            found[directory.name] = named if named in notebooks else notebooks[0]
    return found


def _title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", _source(cell), re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _headings(nb: dict, level: int = 3) -> list[tuple[int, str]]:
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        in_code = False
        for line in _source(cell).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
            m = None if in_code else re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
            # nbgrader's markers in a markdown cell ("### BEGIN SOLUTION") are no headings
            if m and len(m.group(1)) <= level and not _MARKER.match(m.group(2)):
                out.append((len(m.group(1)), m.group(2)))
    return out


def slug(text: str) -> str:
    """The anchor MyST makes for a heading (myst_heading_anchors; GitHub's rule)."""
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@dataclass
class CourseMapRow:
    label: str
    after: list[str]
    covers: str


def course_map_rows(readme: str) -> dict[str, CourseMapRow]:
    """The problem-set table of the course map: ``| [ps1: ...](../release/ps1/ps1.ipynb) | 02, 03 | ... |``."""
    rows = {}
    for line in readme.splitlines():
        m = re.match(r"^\|\s*\[([^\]]+)\]\(\.\./release/([^/)]+)/[^)]*\)\s*\|([^|]*)\|(.*)\|\s*$", line)
        if m:
            rows[m.group(2)] = CourseMapRow(m.group(1).strip(), re.findall(r"\d{2}", m.group(3)),
                                            m.group(4).strip())
    return rows


# ----------------------------------------------------------------------------- problem sets


@dataclass
class Check:
    task: str
    points: float
    call: str          # the visible check, as the test cell calls it
    hidden: str | None  # the same with hidden=True, where the check function accepts it


@dataclass
class ProblemSet:
    name: str
    path: Path
    title: str
    intro: str
    tasks: list[tuple[str, float]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    written: list[tuple[str, float]] = field(default_factory=list)


def _accepts_hidden(module: str, function: str) -> bool:
    try:
        fn = getattr(importlib.import_module(module), function)
        return "hidden" in inspect.signature(fn).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


def read_problem_set(name: str, path: Path) -> ProblemSet:
    nb = _read_nb(path)
    title = _title(nb, name)
    first = _source(nb["cells"][0]) if nb["cells"] else ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", first) if p.strip() and not p.lstrip().startswith("#")]
    ps = ProblemSet(name, path, title, paragraphs[0] if paragraphs else "")
    task = title
    for cell in nb["cells"]:
        src = _source(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "markdown":
            for level, text in _headings({"cells": [cell]}):
                if level == 2:
                    task = text
                    ps.tasks.append((text, 0.0))
            if meta.get("solution") and meta.get("grade"):
                ps.written.append((task, float(meta.get("points", 0))))
            continue
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        aliases = {name: f"{package}.{name}" for package, name in
                   re.findall(r"^\s*from\s+([\w.]+)\s+import\s+(\w+)\s*$", src, re.M)}
        calls = re.findall(r"^\s*(\w+)\.(check_\w+)\((.*)\)\s*$", src, re.M)
        for alias, function, args in calls:
            module = aliases.get(alias, f"course.{alias}")
            call = f"{alias}.{function}({args})"
            hidden = (f"{alias}.{function}({args}, hidden=True)"
                      if _accepts_hidden(module, function) and "hidden" not in args else None)
            ps.checks.append(Check(task, float(meta.get("points", 0)), call, hidden))
    return ps


def _lecture_link(number: str, lectures: dict[str, Path], prefix: str) -> str | None:
    path = lectures.get(number)
    if path is None:
        return None
    title = _title(_read_nb(path), path.stem)
    return f"[{title}]({prefix}notebooks/{path.name})"


def problem_set_page(ps: ProblemSet, row: CourseMapRow | None, lectures: dict[str, Path],
                     nb_relpath: str) -> str:
    """The Markdown of ``problem-sets/<ps>.md``."""
    after = row.after if row else sorted(set(re.findall(r"notebook (\d{2})", ps.intro)))
    links = [link for link in (_lecture_link(n, lectures, "../") for n in after) if link]
    total = sum(c.points for c in ps.checks) + sum(p for _, p in ps.written)
    out = [f"# {ps.title}", ""]
    out += ["**What it covers.** " + (row.covers if row else ps.intro), ""]
    if links:
        out += ["**Do it after** " + " and ".join(links) + " (the lectures it builds on; the "
                "[course map](../notebooks/README.md) places every problem set).", ""]
    else:
        out += ["**Where it fits:** see the [course map](../notebooks/README.md).", ""]
    out += [f"**The notebook:** [{ps.title}](../{nb_relpath}), as students get it "
            f"(`{_repo_path(ps.path)}`). Read it here; to work on it, open it in "
            "JupyterLab (see [running the course locally](../running-locally.md)) or take it with the "
            "download button at the top of its page.", ""]
    if ps.tasks:
        tasks = [re.sub(r"^[0-9]+[.)]\s+", "", text) for text, _ in ps.tasks]
        out += ["## Tasks", ""] + [f"1. {text}" for text in tasks] + [""]
        if total:
            out += [f"Auto-graded and hand-graded points together: {total:g}.", ""]
    out += ["## Checking your answers on your own", "",
            "You need no instructor and no grading server: the checks the instructor's grader uses "
            "come with the course library (`course.grading`), and you run them in the notebook.", "",
            "1. **The visible checks.** Each task is followed by a locked test cell. Run your function's "
            "cell, then the test cell below it: it runs the task's visible cases from the smallest "
            "to the largest and stops at the first failure with the case, the expected and the "
            "received output and, often, the likely mistake (a flipped kernel, a missing bias, an "
            "off-by-one stride). No output but the success line means the task passes them.", ""]
    hidden = [c for c in ps.checks if c.hidden]
    if hidden:
        out += ["2. **The hidden cases, as a self-check.** The grader runs each task on more cases "
                "(edge shapes, every mode), drawn afresh for every submission, in a process of its "
                "own. `hidden=True` draws such a set for you, a fresh one each time. Once a task's "
                "visible checks pass, add a cell below its test cell (which has defined the name "
                "before the dot) with the line for that task:", "", "   ```python"]
        for c in hidden:
            out += [f"   # {c.task}", f"   {c.hidden}"]
        out += ["   ```"]
        out += ["", "   Passing them a few times is a good sign that the grader's cases pass too, "
                "provided the whole notebook runs top to bottom: **Kernel → Restart Kernel and Run "
                "All Cells** before you hand it in (or before you call a problem set done).", ""]
    elif ps.checks:
        out += ["2. **Hidden cases.** This problem set's checks offer no self-check of the hidden "
                "cases: the grader's extra cases stay with the instructor.", ""]
    if ps.written:
        tasks = ", ".join(t for t, _ in ps.written)
        out += [f"3. **Written answers** ({tasks}) are graded by hand. Check yours against the "
                "lecture it builds on; the model answers are not part of this book (an instructor "
                "can build them in: `./dev.sh book --with-solutions`).", ""]
    out += ["```{toctree}", ":hidden:", "", f"The notebook </{nb_relpath.removesuffix('.ipynb')}>", "```", ""]
    return "\n".join(out)


def _repo_path(notebook: Path) -> str:
    """``release/ps1/ps1.ipynb``: a problem set's notebook as the repository names it."""
    return "/".join(notebook.parts[-3:])


# ----------------------------------------------------------------------------- solutions


def solution_blocks(nb: dict) -> list[tuple[str, str, str]]:
    """``(task heading, 'code' | 'markdown', text)`` of every solution cell, markers removed."""
    blocks, task = [], _title(nb, "")
    for cell in nb["cells"]:
        src = _source(cell)
        if cell["cell_type"] == "markdown":
            for level, text in _headings({"cells": [cell]}):
                if level <= 3:
                    task = text
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution"):
            continue
        lines = [line for line in src.splitlines() if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END)]
        blocks.append((task, cell["cell_type"], "\n".join(lines).strip("\n")))
    return blocks


def solution_lines(nb: dict) -> list[str]:
    """The lines between the solution markers of an instructor notebook (what must never leak)."""
    found = []
    for cell in nb["cells"]:
        inside = False
        for line in _source(cell).splitlines():
            if line.strip() == SOLUTION_BEGIN:
                inside = True
            elif line.strip() == SOLUTION_END:
                inside = False
            elif inside:
                found.append(line)
    return found


def solutions_page(name: str, path: Path, ps_page: str) -> str:
    nb = _read_nb(path)
    title = _title(nb, name)
    out = [f"# Worked solutions: {title}", "",
           ":::{warning}", "Instructor build (`./dev.sh book --with-solutions`): this page holds the "
           "solution code and the model written answers of the instructor's version "
           f"(`{_repo_path(path)}`). Do not publish this build to students.", ":::", "",
           f"The problem set: [{title}]({ps_page}).", ""]
    last = None
    for task, kind, text in solution_blocks(nb):
        if task != last:
            out += [f"## {task}", ""]
            last = task
        if kind == "code":
            fence = "````" if "```" in text else "```"
            out += [f"{fence}python", text, fence, ""]
        else:
            out += [":::{admonition} Model answer", ":class: tip", "", text, ":::", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- glossary


def glossary_page(entries: list[dict], lectures: dict[str, Path], problem_sets: dict[str, Path]) -> str:
    """``glossary.md`` from ``book/glossary.yml``: each ``taught`` entry ``"03: Stride"`` links to
    the first heading of that notebook (a lecture number or a problem set) that contains the text."""
    out = [
        "# Glossary", "",
        "The terms of the syllabus, in the course's words, each with links to where it is taught "
        "(a lecture section, a problem-set task). The search box finds them too.", "",
        "```{glossary}", ":sorted:", "",
    ]
    headings_of: dict[str, tuple[str, list[tuple[int, str]]]] = {}
    for number, path in lectures.items():
        headings_of[number] = (f"notebooks/{path.name}", _headings(_read_nb(path)))
    for name, path in problem_sets.items():
        headings_of[name] = (f"release/{name}/{path.name}", _headings(_read_nb(path)))
    for entry in entries:
        term, definition = entry["term"], " ".join(entry["definition"].split())
        links = []
        for taught in entry.get("taught", []):
            where, _, words = str(taught).partition(":")
            where, words = where.strip(), words.strip()
            if where not in headings_of:
                raise BuildError(f"glossary: term {term!r}: no lecture or problem set {where!r}")
            page, headings = headings_of[where]
            match = next((text for level, text in headings if level > 1 and words.lower() in text.lower()), None)
            if match is None:
                raise BuildError(f"glossary: term {term!r}: no heading containing {words!r} in {page}")
            section = re.sub(r"^\d+[a-z]?[.)]\s+", "", match)
            links.append(f"[{where} · {section}]({page}#{slug(match)})")
        out += [term, *entry.get("aliases", []), f"   {definition}"]
        if links:
            out += ["", f"   *Taught in:* {'; '.join(links)}."]
        out.append("")
    out += ["```", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- staging


def cache_key(root: Path = ROOT) -> str:
    """A hash of what the executed outputs depend on besides the cells: the library, the book's
    kernel start-up file and the pinned versions."""
    digest = hashlib.sha256()
    files = sorted((root / "course").rglob("*.py")) + [root / "book" / "kernel_startup.py",
                                                       root / "requirements" / "lock.txt"]
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stage(src: Path, *, with_solutions: bool, root: Path = ROOT) -> dict:
    """Write the Sphinx source folder; return what it holds (for the report and the tests)."""
    import yaml

    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for page in PAGES:
        shutil.copy2(root / "book" / page, src / page)
    lectures = {p.name[:2]: p for p in lecture_notebooks(root)}
    (src / "notebooks").mkdir()
    for path in lectures.values():
        shutil.copy2(path, src / "notebooks" / path.name)
    readme = (root / "notebooks" / "README.md").read_text(encoding="utf-8")
    problem_sets = problem_set_notebooks(root)
    rows = course_map_rows(readme)
    # the course map's problem-set links go to the book's page about each problem set
    readme = re.sub(r"\]\(\.\./release/([^/)]+)/[^)]*\)",
                    lambda m: f"](../problem-sets/{m.group(1)}.md)" if m.group(1) in problem_sets else m.group(0),
                    readme)
    (src / "notebooks" / "README.md").write_text(readme, encoding="utf-8")

    (src / "problem-sets").mkdir()
    for name, path in problem_sets.items():
        target = src / "release" / name / path.name
        target.parent.mkdir(parents=True)
        shutil.copy2(path, target)
        ps = read_problem_set(name, path)
        page = problem_set_page(ps, rows.get(name), lectures, f"release/{name}/{path.name}")
        (src / "problem-sets" / f"{name}.md").write_text(page, encoding="utf-8")

    entries = yaml.safe_load((root / "book" / "glossary.yml").read_text(encoding="utf-8"))
    (src / "glossary.md").write_text(glossary_page(entries, lectures, problem_sets), encoding="utf-8")

    solutions = {}
    if with_solutions:
        (src / "solutions").mkdir()
        for name, path in problem_set_notebooks(root, "source").items():
            page = solutions_page(name, path, f"../problem-sets/{name}.md" if name in problem_sets else
                                  "../notebooks/README.md")
            (src / "solutions" / f"{name}.md").write_text(page, encoding="utf-8")
            solutions[name] = path

    toc = ["", "```{toctree}", ":caption: Start here", ":hidden:", "",
           "prerequisites", "running-locally", "notebooks/README", "```", "",
           "```{toctree}", ":caption: Lectures", ":hidden:", ""]
    toc += [f"notebooks/{p.stem}" for p in lectures.values()] + ["```", ""]
    toc += ["```{toctree}", ":caption: Problem sets", ":hidden:", ""]
    toc += [f"problem-sets/{name}" for name in problem_sets] + ["```", ""]
    if solutions:
        toc += ["```{toctree}", ":caption: Worked solutions (instructor build)", ":hidden:", ""]
        toc += [f"solutions/{name}" for name in solutions] + ["```", ""]
    toc += ["```{toctree}", ":caption: Reference", ":hidden:", "", "glossary", "references", "```", ""]
    with open(src / "index.md", "a", encoding="utf-8") as index:
        index.write("\n".join(toc))
    return {"lectures": list(lectures.values()), "problem_sets": problem_sets, "solutions": solutions}


def kernel_profile(directory: Path, root: Path = ROOT) -> Path:
    """An IPYTHONDIR whose default profile loads book/kernel_startup.py in every kernel."""
    startup = directory / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "book" / "kernel_startup.py", startup / "00-course-book.py")
    return directory


# ----------------------------------------------------------------------------- checks


_ERROR_MARKERS = [
    ('class="output traceback', "an error output"),
    ('class="output stderr', "stderr output"),
    ("Traceback (most recent call last)", "a traceback"),
]


def site_pages(out: Path) -> list[Path]:
    """The HTML pages of a built site (not the theme's templates under _static/)."""
    return sorted(p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts)


def check_site(out: Path, *, with_solutions: bool) -> list[Path]:
    pages = site_pages(out)
    problems = []
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        for marker, what in _ERROR_MARKERS:
            if marker in text:
                problems.append(f"{page.relative_to(out)} shows {what}")
    if not with_solutions and ((out / "solutions").exists() or (out / "_sources" / "solutions").exists()):
        problems.append("a default build has a solutions folder")
    if not (out / "index.html").is_file():
        problems.append("no index.html")
    if problems:
        raise BuildError("the built pages are not fit to publish:\n  " + "\n  ".join(problems))
    return pages


# ----------------------------------------------------------------------------- main


def build(out: Path, *, with_solutions: bool = False, jobs: str = "1", root: Path = ROOT,
          cache: Path | None = None, quiet: bool = False) -> dict:
    start = time.perf_counter()
    cache_root = cache or root / "build" / "book-cache"
    key = cache_key(root)
    if cache_root.exists():  # caches of an older library are of no use
        for old in cache_root.iterdir():
            if old.is_dir() and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)   # never keep pages of an earlier build (solutions!)
    # the staged sources live in a temporary folder: two builds at once do not collide
    with tempfile.TemporaryDirectory(prefix="course-book-") as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        staged = stage(src, with_solutions=with_solutions, root=root)
        env = {**os.environ,
               "COURSE_BOOK_CACHE": str(cache_root / key),
               "IPYTHONDIR": str(kernel_profile(tmp / "ipython", root)),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
               "JUPYTER_PLATFORM_DIRS": "1",
               "MPLCONFIGDIR": str(tmp / "matplotlib"),
               "PYDEVD_DISABLE_FILE_VALIDATION": "1",
               # torch's OpenMP threads wait asleep, not spinning: spinning ones slow the
               # training cells down several times over when other work shares the cores
               "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        env.pop("MPLBACKEND", None)   # the kernel uses its inline backend
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-j", jobs,
               "-c", str(root / "book"), "-d", str(tmp / "doctrees"), str(src), str(out)]
        if quiet:
            cmd.insert(3, "-q")
        result = subprocess.run(cmd, cwd=root, env=env)
    if result.returncode != 0:
        raise BuildError(f"sphinx-build failed (exit {result.returncode}): see the warnings above")
    pages = check_site(out, with_solutions=with_solutions)
    elapsed = time.perf_counter() - start
    return {**staged, "pages": pages, "seconds": elapsed, "out": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--with-solutions", action="store_true",
                        help="add pages with the instructor's solutions (never publish that build to students)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="output folder (default build/book)")
    parser.add_argument("--jobs", default="1", help="parallel Sphinx processes (default 1; 'auto' = all cores)")
    parser.add_argument("--quiet", action="store_true", help="only warnings from Sphinx")
    args = parser.parse_args(argv)
    try:
        report = build(args.out.resolve(), with_solutions=args.with_solutions, jobs=args.jobs, quiet=args.quiet)
    except BuildError as err:
        print(f"book: {err}", file=sys.stderr)
        return 1
    out = report["out"]
    print(f"book: {len(report['pages'])} pages in {report['seconds']:.0f} s -> {out / 'index.html'}")
    if args.with_solutions:
        print("book: this build CONTAINS THE SOLUTIONS (solutions/): do not publish it to students")
    return 0


if __name__ == "__main__":
    sys.exit(main())
