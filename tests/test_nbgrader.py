"""The nbgrader pipeline end to end: release, autograde, feedback, export, config.

A temporary course directory gets this repository's nbgrader_config.py and
source/; the typical submissions of tests/submissions/ are built from the
instructor notebooks and graded in one `course-admin autograde --jobs 2` batch per
assignment. Runtime: about 2 minutes on 2 cores.
"""
from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import admin
from coursekit import ROOT, autograde, load_patches, make_course, points, submission, submit
from coursekit import grade_id as _grade_id

SUBMISSIONS = ROOT / "tests" / "submissions"
# Every assignment in source/; each has an `<assignment>_instructor` and `<assignment>_blank`
# submission in tests/submissions/ besides its typical wrong ones.
ASSIGNMENTS = tuple(sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir()))
# While working on one assignment: COURSE_TEST_ASSIGNMENTS=ps3 pytest tests/test_nbgrader.py
if os.environ.get("COURSE_TEST_ASSIGNMENTS"):
    ASSIGNMENTS = tuple(a for a in ASSIGNMENTS if a in os.environ["COURSE_TEST_ASSIGNMENTS"].split(","))
CELL_TIMEOUT = 20  # seconds; short so that the infinite loop costs little
GRADING = [f"--Execute.timeout={CELL_TIMEOUT}", "--JudgeTestCells.call_timeout=10"]
PATCHES = load_patches(SUBMISSIONS, ASSIGNMENTS)
# ... and on a few submissions: COURSE_TEST_STUDENTS=ps4_instructor,ps4_blank,ps4_forbidden
if os.environ.get("COURSE_TEST_STUDENTS"):
    PATCHES = {name: patch for name, patch in PATCHES.items()
               if name in os.environ["COURSE_TEST_STUDENTS"].split(",")}


def _points(assignment: str) -> dict[str, float]:
    return points(assignment)


def _autograded_points(assignment: str) -> dict[str, float]:
    """Points of the autograded test cells (manually graded answers excluded)."""
    return points(assignment, autograded_only=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory with both assignments released, every submission graded."""
    root = make_course(tmp_path_factory.mktemp("course"), ASSIGNMENTS)
    for student, patch in PATCHES.items():
        submit(root, student, submission(root, patch), patch.ASSIGNMENT)
    logs = {}
    for assignment in ASSIGNMENTS:
        done = autograde(root, assignment, nbgrader_args=GRADING, timeout=900)
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
        "GetGrades", "ShowLateness", "ClearHiddenTests", "CSSHTMLHeaderPreprocessor"]
    # what the instructor is shown is made inert (tests/test_instructor_views.py proves it)
    assert config.GenerateFeedback.post_convert_hook == "course.grading.inert.seal_feedback"
    assert config.HTMLExporter.sanitize_html is True and config.HTMLExporter.embed_images is False
    assert config.HTMLExporter.preprocessors == ["course.grading.inert.MakeInert"]
    assert config.HTMLExporter.filters["markdown2html"] == "course.grading.inert.markdown2html"
    assert config.HTMLExporter.filters["clean_html"] == "course.grading.inert.clean_html"
    # every submission runs in the sandbox, and the judge writes the test cells' verdicts
    # before nbgrader reads the grades from the outputs
    steps = [p.rsplit(".", 1)[1] for p in config.Autograde.autograde_preprocessors]
    assert steps[:2] == ["ExecuteInSandbox", "JudgeTestCells"]
    assert steps.index("JudgeTestCells") < steps.index("SaveAutoGrades")
    assert steps.index("ApplyDueDates") == steps.index("SaveAutoGrades") - 1  # the late-work policy
    assert "Execute" not in steps
    assert config.Sandboxing.sandbox is True
    assert config.Sandboxing.memory == 4 * 1024 ** 3 and config.Sandboxing.budget == 300
    assert config.Sandboxing.output == 1_000_000 and config.Sandboxing.processes == 256
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
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN"):
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
    assert "BEGIN HIDDEN TESTS" not in text
    # every test cell the judge grades shows its verdict: passed, or the failing case
    verdicts = len(re.findall(r"checks? passed|cases? (?:\([^)]*\) )?passed|passed\.|failed --",
                              text, re.I))
    assert verdicts >= len(_autograded_points(patch.ASSIGNMENT)), f"{student}: {verdicts} verdicts"


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
