"""The batch behind ``course-admin autograde`` (course/batch/): settings, retries, records.

The grading records, and the intake's note, are read and written where the course
configures them (``c.Sandboxing.records`` in nbgrader_config.py or
``--Sandboxing.records=...``), and the limits a submission hit are reported from
there; a locked gradebook is retried the same way everywhere; importing
``course.admin`` changes nothing in the process. Runtime: about 50 s on 2 cores.
"""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from course.batch import coursedir, process
from coursekit import ROOT, autograde, load_patches, make_course, points, submission, submit

GRADING = ["--Execute.timeout=20", "--JudgeTestCells.call_timeout=10"]
HONEST = load_patches(ROOT / "tests" / "submissions", ("ps1",))
# Prints 20,000 characters in the cell that defines correlate1d: over a 2,000-byte output limit.
LOUD = types.SimpleNamespace(ASSIGNMENT="ps1", CELLS={"correlate1d": '''
print("x" * 20_000)

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''})


# --- the same retry everywhere -----------------------------------------------------------------
def test_a_locked_gradebook_is_retried_then_succeeds(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    calls = []

    def action():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert coursedir.with_retries(action, retries=5) == ("done", 3)


def test_a_failed_outcome_that_says_locked_is_retried(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    outcomes = iter([{"success": False, "error": "OperationalError: database is locked"},
                     {"success": True}])
    value, attempts = coursedir.with_retries(lambda: next(outcomes), process._problem, retries=5)
    assert value == {"success": True} and attempts == 2


def test_retries_stop_after_the_last_attempt_and_other_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    calls = []

    def locked():
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        coursedir.with_retries(locked, retries=2)
    assert len(calls) == 3
    calls.clear()

    def broken():
        calls.append(1)
        raise ValueError("no such table")

    with pytest.raises(ValueError):
        coursedir.with_retries(broken, retries=2)
    assert len(calls) == 1


# --- input checks ------------------------------------------------------------------------------
def test_a_cluster_needs_exactly_one_way_to_reach_its_scheduler():
    from course.batch.cluster import Cluster

    with pytest.raises(ValueError, match="exactly one of `address` and `scheduler_file`"):
        Cluster()
    with pytest.raises(ValueError, match="exactly one of `address` and `scheduler_file`"):
        Cluster("tcp://127.0.0.1:8786", "scheduler.json")
    with pytest.raises(ValueError, match="`wait` must be a positive number of seconds, got 0"):
        Cluster("tcp://127.0.0.1:8786", wait=0)


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../b", ""])
def test_files_from_a_worker_stay_inside_their_folder(tmp_path, path):
    from course.batch import bundle

    with pytest.raises(ValueError, match="`relative` must be a plain relative path"):
        bundle.write_files(tmp_path / "inside", {path: b"x"})
    assert not (tmp_path / "outside.txt").exists()


def test_jobs_and_a_cluster_are_not_given_together(config_only):
    from course.batch import autograde
    from course.batch.cluster import Cluster

    with pytest.raises(ValueError, match="`jobs` is for grading on this machine"):
        autograde("ps1", config_only, jobs=2, cluster=Cluster("tcp://127.0.0.1:1"))
    with pytest.raises(ValueError, match="`jobs` must be >= 1, got 0"):
        autograde("ps1", config_only, jobs=0)


@pytest.fixture
def config_only(tmp_path) -> Path:
    """A folder with the course's nbgrader_config.py only (enough for the input checks)."""
    (tmp_path / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    return tmp_path


# --- nothing at import time ----------------------------------------------------------------------
def test_importing_course_admin_changes_nothing_in_the_process():
    code = ("import os, sys; before = dict(os.environ); import course.admin, course.batch.cluster; "
            "sys.exit(0 if dict(os.environ) == before else 1)")
    env = dict(os.environ, PATH=os.pathsep.join(("/usr/bin", "/bin")))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_child_processes_find_the_scripts_beside_this_python(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = coursedir.environment(tmp_path)
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert os.environ["PATH"] == "/usr/bin:/bin"


# --- the configured records folder ------------------------------------------------------------
@pytest.fixture(scope="module")
def loud_course(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("records"), ("ps1",))
    submit(course, "loud", submission(course, LOUD), "ps1")
    return course


def _row(output: str, student: str) -> str:
    match = re.search(rf"^{student}\s+.*$", output, re.M)
    assert match, output
    return match.group(0)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["config", "option"])
def test_limits_are_reported_from_the_configured_records_folder(loud_course, tmp_path, where):
    """Records configured outside grading_records/: the summary still names the limit hit."""
    records = tmp_path / f"records-{where}"
    config = loud_course / "nbgrader_config.py"
    original = config.read_text()
    options = list(GRADING)
    if where == "config":
        config.write_text(original + f"\nc.Sandboxing.records = {str(records)!r}\n")
    else:
        options.append(f"--Sandboxing.records={records}")
    try:
        done = autograde(loud_course, "ps1", "--output", "2000", nbgrader_args=options)
    finally:
        config.write_text(original)
    assert done.returncode == 0, done.stdout + done.stderr
    row = _row(done.stdout, "loud")
    assert re.search(r"limits: output in cell \d+", row), row
    folder = records / "ps1" / "loud"
    assert (folder / "ps1.json").is_file() and (folder / "_intake.json").is_file()
    assert not (loud_course / "grading_records" / "ps1" / "loud").exists()


# --- the grading process retries a locked gradebook --------------------------------------------
@pytest.mark.slow
def test_the_grading_process_waits_out_a_locked_gradebook(loud_course, tmp_path):
    """A gradebook held by another writer for longer than SQLite waits (5 s) is retried."""
    course = loud_course
    submit(course, "honest", submission(course, HONEST["ps1_instructor"]), "ps1")
    coursedir.ensure_students(coursedir.Settings.load(course), ["honest"])
    grading = process.GradingProcess(coursedir.environment(course, 1), course)
    # a first request (a student not in the gradebook) has the process import nbgrader
    warm = grading.grade(process.Request(str(course), "ps1", "nobody", tuple(GRADING)), 300)
    assert not warm["ok"] and warm["attempts"] == 1, warm
    holder = sqlite3.connect(course / "gradebook.db", isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(7.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        request = process.Request(str(course), "ps1", "honest", tuple(GRADING))
        answer = grading.grade(request, timeout=300)
    finally:
        release.join()
        holder.close()
        grading.close()
    assert answer["ok"], answer
    assert answer["attempts"] >= 2, answer
    score, _, _ = coursedir.scores(course, "ps1")["honest"]
    assert score == sum(points("ps1", autograded_only=True).values())


@pytest.mark.slow
def test_a_grading_past_its_timeout_is_stopped_and_the_next_gets_a_new_process(loud_course):
    coursedir.ensure_students(coursedir.Settings.load(loud_course), ["loud"])
    grading = process.GradingProcess(coursedir.environment(loud_course, 1), loud_course)
    request = process.Request(str(loud_course), "ps1", "loud", tuple(GRADING))
    try:
        stopped = grading.grade(request, timeout=1.0)
        assert stopped["returncode"] == process.TIMED_OUT, stopped
        assert stopped["message"] == "grading took longer than 1 s and was stopped"
        assert grading.process is None
        answer = grading.grade(request, timeout=300)
    finally:
        grading.close()
    assert answer["ok"] and answer["returncode"] == 0, answer


def test_held_out_digits_go_only_with_the_assignments_that_score_networks(config_only):
    """ps4 (and ps5) score trained networks on them; ps1 does not need them."""
    from course.batch import bundle

    (config_only / "heldout").mkdir()
    (config_only / "heldout" / "digits.npz").write_bytes(b"digits no student has")
    settings = coursedir.Settings.load(config_only)
    with coursedir.gradebook(settings.db_url, settings.course_id) as gb:
        for assignment in ("ps1", "ps4", "ps5"):
            gb.add_assignment(assignment)
    packs = {a: bundle.pack_assignment(settings, a, (), expected="x", packages=(), sandbox=True,
                                       timeout=None, retries=5) for a in ("ps1", "ps4", "ps5")}
    assert packs["ps1"].heldout is None
    assert packs["ps4"].heldout == packs["ps5"].heldout == b"digits no student has"
    worker = config_only / "worker"
    worker.mkdir()
    options = bundle.build(packs["ps4"], bundle.SubmissionPack("ann", {"ps4.ipynb": b"{}"}, "x"),
                           worker)
    assert f"--JudgeTestCells.heldout={worker / 'heldout' / 'digits.npz'}" in options
    assert (worker / "heldout" / "digits.npz").read_bytes() == b"digits no student has"
    assert (worker / "submitted" / "ann" / "ps4" / "ps4.ipynb").read_bytes() == b"{}"


# --- the command line ------------------------------------------------------------------------
def test_course_admin_report_hands_its_options_to_the_class_report(config_only, capsys):
    from course import admin

    assert admin.main(["--root", str(config_only), "report", "ps1", "--threshold", "0.5"]) == 2
    assert "report refused: nothing to report for 'ps1'" in capsys.readouterr().err
