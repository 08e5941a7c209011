"""Build a course directory with submissions, for the tests that grade real notebooks.

A submission is described by a *patch* module (see tests/submissions/README.md and
tests/hostile/README.md): the instructor notebook, or the blank release, with the
student's cells.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat

from course import admin

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def load_patches(folder: Path, assignments) -> dict:
    """{student name: patch module} for the patches of ``assignments`` in ``folder``."""
    patches = {}
    for path in sorted(folder.glob("ps*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.ASSIGNMENT in assignments:
            patches[path.stem] = module
    return patches


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def points(assignment: str, autograded_only: bool = False) -> dict[str, float]:
    """Points of every graded cell (or only of the autograded test cells)."""
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and not (autograded_only and c.metadata["nbgrader"].get("solution"))}


def strip_markers(source: str) -> str:
    """A solution cell's source without nbgrader's ``### BEGIN/END SOLUTION`` lines."""
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def instructor_namespace(assignment: str, cells=None, prelude: str = "import numpy as np",
                         namespace: dict | None = None) -> dict:
    """The namespace of ``source/<assignment>``'s solution cells, run in order.

    ``cells``: the grade ids to run, or a predicate on a cell (default: every solution
    cell); ``prelude`` runs first (the notebook's imports the cells rely on).
    """
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    if cells is None:
        def wanted(cell):
            return cell.metadata.get("nbgrader", {}).get("solution", False)
    elif callable(cells):
        wanted = cells
    else:
        def wanted(cell, names=frozenset(cells)):
            return grade_id(cell) in names
    namespace = {} if namespace is None else namespace
    exec(prelude, namespace)  # noqa: S102 - the course's own notebook
    for cell in nb.cells:
        if cell.cell_type == "code" and wanted(cell):
            exec(strip_markers(cell.source), namespace)  # noqa: S102
    return namespace


def registry_mismatches(assignment: str) -> list[str]:
    """Where ``source/<assignment>`` and the judge's registry disagree (empty: they agree).

    Every autograded test cell needs a task under its grade id, every task a test cell,
    and every ``check_*`` a test cell calls must be the check of that cell's task.
    """
    from course.grading.engine import tasks

    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    registered = tasks(assignment)
    tests = {grade_id(c): c for c in nb.cells if c.cell_type == "code"
             and c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")}
    problems = [f"test cell {g} has no task" for g in sorted(set(tests) - set(registered))]
    problems += [f"task {g} has no test cell" for g in sorted(set(registered) - set(tests))]
    for cell_id in sorted(set(tests) & set(registered)):
        called = set(re.findall(r"\.check_(\w+)\(", tests[cell_id].source))
        if called != {registered[cell_id].name}:
            problems.append(f"test cell {cell_id} calls check_{sorted(called)} but its task is "
                            f"{registered[cell_id].name}")
    return problems


def submission(course: Path, patch, **fields) -> nbformat.NotebookNode:
    """The instructor notebook (or the blank release) with the student's changes applied.

    ``fields`` fill the ``{name}`` placeholders of the patch's cells.
    """
    assignment = patch.ASSIGNMENT
    release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {grade_id(c): c.source for c in source.cells if grade_id(c)}
    blank = getattr(patch, "BLANK", False)
    cells = []
    for cell in release.cells:
        gid = grade_id(cell)
        if gid in getattr(patch, "DELETE", ()):
            continue
        if cell.metadata.get("nbgrader", {}).get("solution"):
            text = getattr(patch, "CELLS", {}).get(gid)
            if text is not None:
                text = text.format(**fields) if fields else text
            elif blank or getattr(patch, "BLANK_OTHERS", False):
                text = cell.source
            else:
                text = "\n".join(line for line in solutions[gid].splitlines()
                                 if not MARKER.match(line))
            cell.source = text.strip("\n")
        cells.append(cell)
    release.cells = cells
    return release


def make_course(root: Path, assignments) -> Path:
    """A course directory at ``root``: this repository's config and source/, released."""
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source")
    admin.release(root, assignments)
    return root


def submit(course: Path, student: str, nb: nbformat.NotebookNode, assignment: str) -> Path:
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


def autograde(course: Path, assignment: str, *args: str, nbgrader_args=(), timeout=900,
              env=None) -> subprocess.CompletedProcess:
    """``course-admin autograde`` as an instructor runs it (a separate process)."""
    command = [sys.executable, "-m", "course.admin", "--root", str(course), "autograde",
               assignment, "--jobs", "2", "--no-progress", *args]
    if nbgrader_args:
        command += ["--", *nbgrader_args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


class Listener:
    """A TCP server on the host's loopback that records every connection it receives."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections: list = []
        self.server.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, address = self.server.accept()
            except OSError:
                continue
            self.connections.append(address)
            connection.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()
