"""Hostile submissions graded through ``course-admin autograde --jobs 2``, sandbox on.

Every submission of tests/hostile/ tries to break grading (rewrite the grading code,
the gradebook or other students' notebooks, read the solutions, reach the network,
exhaust memory, processes, disk, output or time, kill the grader, fake its answers,
hand in links and special files, shadow the grader's code, flood or forge the pipes
to the grader, hand in notebooks too large to parse);
honest submissions are graded in the same batch. Each test asserts the hostile
submission's expected score and that the side effect it tried did not happen.
Runtime: about 7 minutes on 2 cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course import admin
from coursekit import (
    ROOT,
    Listener,
    autograde,
    load_patches,
    make_course,
    points,
    submission,
    submit,
)

pytestmark = pytest.mark.slow

HOSTILE = ROOT / "tests" / "hostile"
ASSIGNMENTS = ("ps1", "ps4")
PATCHES = load_patches(HOSTILE, ASSIGNMENTS)
HONEST = load_patches(ROOT / "tests" / "submissions", ASSIGNMENTS)
HONEST = {f"{name.replace('_instructor', '_honest').replace('_blank', '_honest_blank')}": patch
          for name, patch in HONEST.items() if name.endswith(("_instructor", "_blank"))}
BUDGET = 60  # seconds per submission: the slow submission sleeps past it
SECRET = "INSTRUCTOR-ONLY-SECRET"
WORKER_PEAK_MIB = 1300  # twice an honest batch's peak (300-650 MiB), whatever a submission does
NAP = 15  # seconds each of its cells sleeps, under the 20-second cell timeout
LIMITS = ["--memory", "1G", "--budget", str(BUDGET), "--disk", "64M", "--processes", "128"]
GRADING = ["--Execute.timeout=20", "--JudgeTestCells.call_timeout=10"]
OUTPUTS = ("autograded", "feedback", "grading_records", "gradebook.db", "gradebook.db-journal",
           "batch.log")


def _snapshot(folder: Path, skip=OUTPUTS) -> dict[str, str]:
    """sha256 of every file below ``folder`` (a link: its target's name), grading output excluded."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in skip or "__pycache__" in rel.parts:
            continue
        if path.is_symlink():
            out[str(rel)] = "link to " + os.readlink(path)
        elif path.is_file() and not stat.S_ISFIFO(path.lstat().st_mode):
            out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _marked_processes(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command:
            found.append(f"{entry.name}: {command}")
    return found


@dataclass
class Batch:
    course: Path
    listener: Listener
    marker: str
    before: dict
    after: dict = field(default_factory=dict)
    library_before: dict = field(default_factory=dict)
    library_after: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    course = make_course(tmp_path_factory.mktemp("hostile"), ASSIGNMENTS)
    listener = Listener()
    marker = f"hostile-{uuid.uuid4().hex[:10]}"
    # a file outside the course that only the instructor may read
    secret = tmp_path_factory.mktemp("instructor-only") / "secret.txt"
    secret.write_text(f"{SECRET} {marker}\n")
    secret.chmod(0o600)
    fields = {"root": str(course), "port": listener.port, "marker": marker, "nap": NAP,
              "secret": str(secret)}
    for student, patch in HONEST.items():
        submit(course, student, submission(course, patch), patch.ASSIGNMENT)
    for student, patch in PATCHES.items():
        path = submit(course, student, submission(course, patch, **fields), patch.ASSIGNMENT)
        if hasattr(patch, "plant"):  # files beside (or instead of) the notebook
            patch.plant(path.parent, fields)
    result = Batch(course, listener, marker, _snapshot(course),
                   library_before=_snapshot(ROOT / "course", skip=()))
    for assignment in ASSIGNMENTS:
        start = time.monotonic()
        done = autograde(course, assignment, *LIMITS, nbgrader_args=GRADING, timeout=1500)
        result.seconds[assignment] = time.monotonic() - start
        assert done.returncode == 0, done.stdout + done.stderr
        result.logs[assignment] = done.stdout
    time.sleep(1)  # anything the sandbox left would still be starting up
    result.after = _snapshot(course)
    result.library_after = _snapshot(ROOT / "course", skip=())
    admin.feedback("ps1", course)
    admin.feedback("ps4", course)
    yield result
    listener.close()


def _row(batch: Batch, student: str) -> str:
    log = batch.logs[PATCHES.get(student, HONEST.get(student)).ASSIGNMENT]
    match = re.search(rf"^{student}\s+.*$", log, re.M)
    assert match, f"{student} missing from the summary:\n{log}"
    return match.group(0)


def _record(batch: Batch, student: str) -> dict:
    patch = PATCHES.get(student) or HONEST[student]
    path = batch.course / "grading_records" / patch.ASSIGNMENT / student / f"{patch.ASSIGNMENT}.json"
    return json.loads(path.read_text())


# --- what every hostile submission must get ------------------------------------------------
@pytest.mark.parametrize("student", sorted(PATCHES))
def test_hostile_submission_gets_its_expected_scores(batch, student):
    patch = PATCHES[student]
    score, max_score, grades = admin.scores(batch.course, patch.ASSIGNMENT)[student]
    full = points(patch.ASSIGNMENT)
    expected = {gid: patch.EXPECT.get(gid, value) for gid, value in full.items()}
    manual = set(full) - set(points(patch.ASSIGNMENT, autograded_only=True))
    assert {g: v for g, v in grades.items() if g not in manual} == \
        {g: v for g, v in expected.items() if g not in manual}


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_feedback_says_what_happened(batch, student):
    patch = PATCHES[student]
    page = (batch.course / "feedback" / student / patch.ASSIGNMENT / f"{patch.ASSIGNMENT}.html")
    text = page.read_text()
    missing = [m for m in patch.MESSAGES if m not in text.replace("&#39;", "'").replace(
        "&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")]
    assert not missing, f"the feedback of {student} lacks {missing}"


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_summary_names_the_limits_hit(batch, student):
    row = _row(batch, student)
    for limit in PATCHES[student].LIMITS:
        assert limit in row, f"{student}: {row}"
    if not PATCHES[student].LIMITS:
        assert "limits:" not in row, row
    assert "FAILED" not in row


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_summary_and_record_name_what_was_refused(batch, student):
    refused = getattr(PATCHES[student], "REFUSED", [])
    row = _row(batch, student)
    record = json.loads((batch.course / "grading_records" / PATCHES[student].ASSIGNMENT / student
                         / "_intake.json").read_text())
    recorded = [f"{r['path']}: {r['why']}" for r in record["refused"]]
    for entry in refused:
        assert entry in row, f"{student}: {row}"
        assert any(line.startswith(entry) for line in recorded), recorded
    if not refused:
        assert "refused:" not in row and not recorded, row


# --- the side effects that must not happen -------------------------------------------------
def course_files_unchanged(batch, student):
    """source/, release/, submitted/ (every student's), the config: byte for byte."""
    assert batch.after == batch.before


def library_unchanged(batch, student):
    """The installed grading code and the rest of the course package."""
    assert batch.library_after == batch.library_before


def honest_scores_kept(batch, student):
    """The honest submissions of the batch: instructor full marks, blank zero."""
    for name, patch in HONEST.items():
        if patch.ASSIGNMENT != PATCHES[student].ASSIGNMENT:
            continue
        _, _, grades = admin.scores(batch.course, patch.ASSIGNMENT)[name]
        auto = points(patch.ASSIGNMENT, autograded_only=True)
        expected = {g: patch.EXPECT.get(g, v) for g, v in auto.items()}
        assert {g: grades[g] for g in auto} == expected, name


def no_files_planted(batch, student):
    planted = list(batch.course.rglob("planted.txt")) + list(ROOT.glob("planted.txt"))
    assert not planted


def no_connection_received(batch, student):
    assert batch.listener.connections == []


def no_process_left(batch, student):
    assert _marked_processes(batch.marker) == []


def feedback_small(batch, student):
    for folder in ("feedback", "autograded"):
        for path in (batch.course / folder / student).rglob("*"):
            if path.is_file():
                assert path.stat().st_size < 3_000_000, path


def within_budget(batch, student):
    record = _record(batch, student)
    seconds = record["seconds"]["notebook"] + record["seconds"]["judge"]
    assert seconds <= BUDGET + 20, record["seconds"]


def no_large_files(batch, student):
    places = [batch.course, ROOT, Path("/tmp"), Path.home()]
    found = [p for place in places for pattern in ("filler.bin", "fill-*.bin")
             for p in place.glob(pattern)]
    found += [p for p in batch.course.rglob("*.bin")]
    assert not found


def _autograded_outputs(batch, student) -> str:
    """The text of every output of the student's graded notebook."""
    patch = PATCHES[student]
    nb = json.loads((batch.course / "autograded" / student / patch.ASSIGNMENT /
                     f"{patch.ASSIGNMENT}.ipynb").read_text())
    return json.dumps([cell.get("outputs", []) for cell in nb["cells"]])


def secret_not_handed_back(batch, student):
    """Nothing of the instructor's file reached the graded notebook, feedback or records."""
    for folder in ("autograded", "feedback", "grading_records"):
        for path in (batch.course / folder).rglob("*"):
            if path.is_file():
                assert SECRET not in path.read_text(errors="replace"), path
                assert not path.is_symlink(), path
    assert "unreadable: FileNotFoundError" in _autograded_outputs(batch, student)


def not_shadowed(batch, student):
    """The kernel and the executor imported the installed packages, not the submission's."""
    outputs = _autograded_outputs(batch, student)
    assert "SHADOWED" not in outputs
    assert "numpy from /tmp/work" not in outputs and "course from /tmp/work" not in outputs
    assert "numpy from /" in outputs


def not_forged(batch, student):
    """No output reached the graded notebook except through the executor itself."""
    assert "FORGEDBY THE KERNEL" not in _autograded_outputs(batch, student)


def grader_memory_bounded(batch, student):
    """The grading workers' peak memory over the whole batch (every attack of it)."""
    for assignment, log in batch.logs.items():
        match = re.search(r"grading workers' peak memory: (\d+) MiB", log)
        assert match, log
        assert int(match.group(1)) <= WORKER_PEAK_MIB, (assignment, match.group(0))


def records_small(batch, student):
    patch = PATCHES[student]
    for path in (batch.course / "grading_records" / patch.ASSIGNMENT / student).glob("*.json"):
        assert path.stat().st_size < 100_000, path


def disk_bounded(batch, student):
    """/dev/shm, /tmp and the working folder together held no more than the disk limit."""
    match = re.search(r"wrote (\d+) MiB in all", _autograded_outputs(batch, student))
    assert match and int(match.group(1)) <= 64, match


def batch_complete(batch, student):
    for name, patch in {**HONEST, **PATCHES}.items():
        assert re.search(rf"^{name}\s+\d", batch.logs[patch.ASSIGNMENT], re.M), name


CHECKS = {check.__name__: check for check in (
    course_files_unchanged, library_unchanged, honest_scores_kept, no_files_planted,
    no_connection_received, no_process_left, feedback_small, within_budget, no_large_files,
    batch_complete, secret_not_handed_back, not_shadowed, not_forged, grader_memory_bounded,
    records_small, disk_bounded)}
SIDE_EFFECTS = [(student, name) for student, patch in sorted(PATCHES.items())
                for name in patch.SIDE_EFFECTS]


@pytest.mark.parametrize("student, check", SIDE_EFFECTS, ids=[f"{s}-{c}" for s, c in SIDE_EFFECTS])
def test_side_effect_did_not_happen(batch, student, check):
    CHECKS[check](batch, student)


def test_every_hostile_submission_is_checked_for_its_side_effects():
    for student, patch in PATCHES.items():
        assert patch.ATTACK and set(patch.SIDE_EFFECTS) <= set(CHECKS), student


def test_the_whole_batch_is_graded_and_nothing_is_left_behind(batch):
    batch_complete(batch, None)
    course_files_unchanged(batch, None)
    library_unchanged(batch, None)
    assert batch.listener.connections == []
    assert _marked_processes(batch.marker) == []


# --- reproducing a grade ---------------------------------------------------------------------
def test_a_grade_is_reproduced_from_its_recorded_seed(batch):
    student = "ps1_builtins"  # fails on a case whose random inputs show in its message
    first = _record(batch, student)
    done = autograde(batch.course, "ps1", "--student", student, "--replay", *LIMITS,
                     nbgrader_args=GRADING)
    assert done.returncode == 0, done.stdout + done.stderr
    replayed = _record(batch, student)
    assert replayed["seed"] == first["seed"]
    assert replayed["verdicts"] == first["verdicts"]
    done = autograde(batch.course, "ps1", "--student", student, *LIMITS, nbgrader_args=GRADING)
    fresh = _record(batch, student)
    assert fresh["seed"] != first["seed"]
    assert fresh["verdicts"]["test_correlate2d"]["passed"] is False
    assert fresh["verdicts"]["test_correlate2d"] != first["verdicts"]["test_correlate2d"]


# --- where the sandbox cannot run, and without it -------------------------------------------
@pytest.fixture(scope="module")
def small_course(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("modes"), ("ps1",))
    fields = {"root": str(course), "port": 0, "marker": "unused", "nap": 0}
    submit(course, "ps1_honest", submission(course, HONEST["ps1_honest"]), "ps1")
    submit(course, "ps1_read_solutions", submission(course, PATCHES["ps1_read_solutions"],
                                                    **fields), "ps1")
    return course


def test_autograde_refuses_where_no_sandbox_can_run_and_names_the_way_out(small_course):
    env = dict(os.environ, COURSE_BWRAP="/bin/false")
    done = autograde(small_course, "ps1", nbgrader_args=GRADING, env=env)
    assert done.returncode != 0
    assert "cannot grade in a sandbox here" in done.stderr and "--no-sandbox" in done.stderr
    assert not (small_course / "autograded").exists()


def test_no_sandbox_grades_warns_and_shows_what_it_gives_up(small_course):
    done = autograde(small_course, "ps1", "--no-sandbox", nbgrader_args=GRADING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING: grading without a sandbox" in done.stderr
    assert "it can read source/ (the solutions)" in done.stderr.replace("\n", " ")
    table = admin.scores(small_course, "ps1")
    full = sum(points("ps1", autograded_only=True).values())
    assert table["ps1_honest"][0] == full
    # unprotected: the submission read the instructor's notebook and ran its solutions
    assert table["ps1_read_solutions"][0] == full


def test_the_per_process_backend_is_sandboxed_too(small_course):
    done = autograde(small_course, "ps1", "--per-process", nbgrader_args=GRADING)
    assert done.returncode == 0, done.stdout + done.stderr
    table = admin.scores(small_course, "ps1")
    assert table["ps1_honest"][0] == sum(points("ps1", autograded_only=True).values())
    assert table["ps1_read_solutions"][0] == 0
