"""The nbgrader pipeline end to end: release, autograde, feedback, export, config.

A temporary course directory gets this repository's nbgrader_config.py and
source/; the typical submissions of tests/submissions/ are built from the
instructor notebooks and graded in one `course-admin autograde --jobs 2` batch per
assignment. Runtime: about 2 minutes on 2 cores.
"""
from __future__ import annotations

import csv
import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import admin

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "tests" / "submissions"
# Every assignment in source/; each has an `<assignment>_instructor` and `<assignment>_blank`
# submission in tests/submissions/ besides its typical wrong ones.
ASSIGNMENTS = tuple(sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir()))
# While working on one assignment: COURSE_TEST_ASSIGNMENTS=ps3 pytest tests/test_nbgrader.py
if os.environ.get("COURSE_TEST_ASSIGNMENTS"):
    ASSIGNMENTS = tuple(a for a in ASSIGNMENTS if a in os.environ["COURSE_TEST_ASSIGNMENTS"].split(","))
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
CELL_TIMEOUT = 20  # seconds; short so that the infinite loop costs little


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PATCHES = {p.stem: _load(p) for p in sorted(SUBMISSIONS.glob("ps*.py"))}
PATCHES = {name: patch for name, patch in PATCHES.items() if patch.ASSIGNMENT in ASSIGNMENTS}


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _points(assignment: str) -> dict[str, float]:
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {_grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def _submission(course: Path, patch) -> nbformat.NotebookNode:
    """The instructor notebook (or the blank release) with the student's changes applied."""
    assignment = patch.ASSIGNMENT
    if getattr(patch, "BLANK", False):
        return nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {_grade_id(c): c.source for c in source.cells if _grade_id(c)}
    cells = []
    for cell in release.cells:
        gid = _grade_id(cell)
        if gid in getattr(patch, "DELETE", ()):
            continue
        if cell.metadata.get("nbgrader", {}).get("solution"):
            text = getattr(patch, "CELLS", {}).get(gid)
            if text is None:
                text = "\n".join(line for line in solutions[gid].splitlines()
                                 if not MARKER.match(line))
            cell.source = text.strip("\n")
        cells.append(cell)
    release.cells = cells
    return release


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory with both assignments released, every submission graded."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source")
    admin.release(root, ASSIGNMENTS)
    for student, patch in PATCHES.items():
        folder = root / "submitted" / student / patch.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(_submission(root, patch), folder / f"{patch.ASSIGNMENT}.ipynb")
    logs = {}
    for assignment in ASSIGNMENTS:
        done = subprocess.run(
            [sys.executable, "-m", "course.admin", "--root", str(root), "autograde", assignment,
             "--jobs", "2", "--", f"--Execute.timeout={CELL_TIMEOUT}"],
            capture_output=True, text=True, timeout=540)
        assert done.returncode == 0, done.stdout + done.stderr
        logs[assignment] = done.stdout
    (root / "batch.log").write_text("\n".join(logs.values()))
    return root


def test_config_settings_are_those_the_course_relies_on():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.CourseDirectory.course_id == "cnn-course"
    assert config.CourseDirectory.db_url == f"sqlite:///{ROOT / 'gradebook.db'}"
    assert config.Execute.timeout >= 30  # room for the torch import
    assert config.Execute.extra_arguments == [
        "--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Minimal"]
    assert config.OverwriteCells.add_missing_cells is True
    assert [p.rsplit(".", 1)[1] for p in config.GenerateFeedback.preprocessors] == [
        "GetGrades", "ClearHiddenTests", "CSSHTMLHeaderPreprocessor"]
    assert config.IgnorePattern.enabled is True
    pattern = re.compile(config.IgnorePattern.pattern)
    assert pattern.search("/tmp/ipykernel_1/123.py:5: RuntimeWarning: overflow in cast\n  x = y\n")
    assert pattern.search("<ipython-input-3>:2: UserWarning: slow\n")
    assert not pattern.search("Traceback (most recent call last):\nAssertionError: wrong\n")
    assert not pattern.search("some text printed to stderr\n")


def _cells(path: Path) -> list[tuple]:
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_generate_assignment_makes_today(course, assignment):
    ours = _cells(ROOT / "release" / assignment / f"{assignment}.ipynb")
    fresh = _cells(course / "release" / assignment / f"{assignment}.ipynb")
    assert len(ours) == len(fresh)
    for number, (a, b) in enumerate(zip(ours, fresh)):
        assert a == b, f"release/{assignment} cell {number} differs from generate_assignment"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_or_hidden_test(assignment):
    release = nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN", "hidden=True"):
        assert marker not in text
    for cell in source.cells:
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        inside, body = False, []
        for line in cell.source.splitlines():
            if "### END SOLUTION" in line:
                inside = False
            if inside and line.strip():
                body.append(line.strip())
            if "### BEGIN SOLUTION" in line:
                inside = True
        released = next(c for c in release.cells if _grade_id(c) == _grade_id(cell)).source
        leaked = [line for line in body if line in released.split("\n") or
                  any(line == r.strip() for r in released.splitlines())]
        assert not leaked, f"{_grade_id(cell)} leaks solution lines {leaked}"
        assert "YOUR CODE HERE" in released or "YOUR ANSWER HERE" in released


@pytest.mark.slow
def test_batch_graded_every_submission(course):
    log = (course / "batch.log").read_text()
    for student in PATCHES:
        assert re.search(rf"^{student}\s+\d", log, re.M), f"{student} missing from the summary"
    assert "FAILED" not in log


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(PATCHES))
def test_each_submission_gets_its_expected_scores(course, student):
    patch = PATCHES[student]
    table = admin.scores(course, patch.ASSIGNMENT)
    score, max_score, grades = table[student]
    points = _points(patch.ASSIGNMENT)
    expected = {gid: patch.EXPECT.get(gid, full) for gid, full in points.items()}
    assert grades == expected
    assert max_score == sum(points.values())
    assert score == sum(expected.values())


def _autograded_points(assignment: str) -> dict[str, float]:
    """Points of the autograded test cells (manually graded answers excluded)."""
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {_grade_id(c): float(c.metadata["nbgrader"]["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_full_marks_and_blank_zero_on_every_autograded_part(course, assignment):
    table = admin.scores(course, assignment)
    auto = _autograded_points(assignment)
    assert auto, f"{assignment} has no autograded part"
    instructor, blank = table[f"{assignment}_instructor"][2], table[f"{assignment}_blank"][2]
    assert {gid: instructor[gid] for gid in auto} == auto
    assert {gid: blank[gid] for gid in auto} == dict.fromkeys(auto, 0.0)
    assert table[f"{assignment}_instructor"][0] == sum(auto.values())


@pytest.fixture(scope="module")
def feedback(course) -> Path:
    for assignment in ASSIGNMENTS:
        admin.feedback(assignment, course)
    return course / "feedback"


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(PATCHES))
def test_feedback_explains_and_hides_the_hidden_tests(feedback, student):
    patch = PATCHES[student]
    page = (feedback / student / patch.ASSIGNMENT / f"{patch.ASSIGNMENT}.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    missing = [message for message in patch.MESSAGES if message not in text]
    assert not missing, f"feedback of {student} lacks {missing}"
    assert "hidden=True" not in text
    assert "BEGIN HIDDEN TESTS" not in text


@pytest.mark.slow
def test_export_gives_every_score(course):
    target = admin.export(course, "grades.csv")
    rows = list(csv.DictReader(target.open()))
    got = {(r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"]))
           for r in rows}
    for student, patch in PATCHES.items():
        points = _points(patch.ASSIGNMENT)
        expected = sum(patch.EXPECT.get(gid, full) for gid, full in points.items())
        assert got[(patch.ASSIGNMENT, student)] == (expected, sum(points.values()))


def test_admin_works_from_a_venv_that_is_not_activated(tmp_path):
    """nbgrader runs its `alembic` script by name; `.venv/bin/course-admin` and CI have no
    activated venv, so course-admin must find the scripts beside its own Python."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    env = dict(os.environ, PATH=os.pathsep.join(("/usr/bin", "/bin")))
    done = subprocess.run(
        [sys.executable, "-m", "course.admin", "--root", str(tmp_path), "export", "--to", "g.csv"],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "g.csv").read_text().splitlines()[0].startswith("assignment,")


def test_parallel_kernels_get_their_share_of_the_cores(monkeypatch, tmp_path):
    """`jobs` kernels side by side must not each start a thread pool as large as the machine."""
    for variable in admin._THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    env = admin._env(tmp_path, threads=1)
    assert [env[v] for v in admin._THREAD_VARIABLES] == ["1", "1", "1"]
    assert str(tmp_path) in env["PYTHONPATH"].split(os.pathsep)
    assert not set(admin._THREAD_VARIABLES) & set(admin._env(tmp_path))  # nbgrader alone: untouched
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the instructor's own setting wins
    assert admin._env(tmp_path, threads=1)["OMP_NUM_THREADS"] == "3"
