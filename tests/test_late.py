"""The late-work policy (course/grading/late.py): the rule, its configuration, nbgrader's side.

The last test grades a tiny course with nbgrader itself (about 30 s): one submission on
time, one 1 day 3 hours late, a regrade after an extension, and the feedback pages.
"""
from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from traitlets.config import Config

from course.grading.late import (
    CourseLatePenalty,
    LatePolicy,
    apply_policy,
    describe_duration,
    lateness,
    lateness_note,
    parse_date,
    parse_extension,
    penalty,
)

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3600
DAY = 24 * HOUR
UTC = datetime.datetime  # naive UTC, as the gradebook stores dates
# nbgrader's Gradebook runs its `alembic` script by name: it lies beside this Python.
BIN = os.path.dirname(sys.executable)


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join((BIN, os.environ.get("PATH", ""))))


def policy(**settings) -> LatePolicy:
    """A policy loaded from configuration, as nbgrader loads it."""
    config = Config()
    for key, value in settings.items():
        config.LatePolicy[key] = value
    return LatePolicy(config=config)


# --- the rule: exact worked examples -------------------------------------------------------


def test_on_time_costs_nothing():
    assert penalty(policy(rule="zero"), 15.0, 0) == (0.0, "handed in on time: no penalty")


def test_rule_none_never_penalizes():
    assert penalty(policy(rule="none"), 15.0, 5 * DAY) == (
        0.0, "handed in 5 days after the due date: late work is not penalized")


def test_rule_zero_takes_the_whole_score():
    assert penalty(policy(rule="zero"), 15.0, 60) == (
        15.0, "handed in 1 minute after the due date (late work scores 0): 100% of 15.0 = 15.0 points off")


def test_percent_per_day_counts_every_started_day():
    # 1 day 3 hours late: 2 started days, 2 x 10% = 20% of 15 = 3 points
    assert penalty(policy(rule="percent_per_day", percent_per_day=10.0), 15.0, DAY + 3 * HOUR) == (
        3.0, "handed in 1 day 3 hours after the due date (2 days counted): 20% of 15.0 = 3.0 points off")
    # exactly one day late is one day; a second more starts the second
    assert penalty(policy(rule="percent_per_day"), 10.0, DAY)[0] == 1.0
    assert penalty(policy(rule="percent_per_day"), 10.0, DAY + 1)[0] == 2.0


def test_lateness_within_the_grace_period_costs_nothing():
    rule = policy(rule="percent_per_day", percent_per_day=10.0, grace_minutes=15.0)
    assert penalty(rule, 15.0, 10 * 60) == (
        0.0, "handed in 10 minutes after the due date, within the 15-minute grace period: no penalty")
    assert penalty(rule, 15.0, 15 * 60)[0] == 0.0
    # past the grace period lateness counts from the due date: 16 minutes is one started day
    assert penalty(rule, 15.0, 16 * 60) == (
        1.5, "handed in 16 minutes after the due date (1 day counted): 10% of 15.0 = 1.5 points off")


def test_the_cap_limits_the_penalty():
    rule = policy(rule="percent_per_day", percent_per_day=10.0, cap_percent=30.0)
    assert penalty(rule, 15.0, 5 * DAY) == (
        4.5, "handed in 5 days after the due date (5 days counted, 50% capped at 30%): "
             "30% of 15.0 = 4.5 points off")
    assert penalty(policy(rule="zero", cap_percent=30.0), 20.0, DAY)[0] == 6.0


def test_exact_rounding_counts_fractions_of_a_day():
    rule = policy(rule="percent_per_day", percent_per_day=10.0, days_rounding="exact")
    points, explanation = penalty(rule, 15.0, DAY + 3 * HOUR)  # 1.125 days: 11.25%
    assert points == pytest.approx(1.6875)
    assert explanation == ("handed in 1 day 3 hours after the due date (1.125 days counted): "
                           "11.25% of 15.0 = 1.69 points off")


@pytest.mark.parametrize("score, seconds, name", [
    (-1.0, DAY, "`score`"), (float("nan"), DAY, "`score`"), ("15", DAY, "`score`"),
    (15.0, float("inf"), "`seconds_late`"), (15.0, None, "`seconds_late`")])
def test_penalty_refuses_a_wrong_score_or_lateness(score, seconds, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        penalty(policy(), score, seconds)


def test_durations_in_words():
    assert describe_duration(DAY + 14 * HOUR + 5 * 60) == "1 day 14 hours"
    assert describe_duration(2 * HOUR + 60) == "2 hours 1 minute"
    assert describe_duration(42) == "42 seconds"


# --- the configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("key, value, message", [
    ("rule", "ten_percent", "LatePolicy.rule: expected one of 'none', 'zero', 'percent_per_day', "
                            "got 'ten_percent'"),
    ("days_rounding", "down", "LatePolicy.days_rounding: expected one of 'up', 'exact', got 'down'"),
    ("percent_per_day", "10%", "LatePolicy.percent_per_day: expected a number, got '10%'"),
    ("percent_per_day", -5.0, "LatePolicy.percent_per_day: expected a number >= 0, got -5.0"),
    ("grace_minutes", -1.0, "LatePolicy.grace_minutes: expected a number >= 0, got -1.0"),
    ("cap_percent", 150.0, "LatePolicy.cap_percent: expected a number between 0 and 100, got 150.0"),
    ("due_dates", ["ps1"], "LatePolicy.due_dates: expected a dict, got ['ps1']"),
    ("due_dates", {"ps1": "next friday"}, "LatePolicy.due_dates['ps1']: expected a date and time "
                                          "with a time zone"),
    ("due_dates", {"ps1": "2026-10-01 23:59"}, "(the time zone is missing), got '2026-10-01 23:59'"),
    ("due_dates", {"ps1": "2026-10-01 23:59 Europe/Atlantis"}, "unknown time zone 'Europe/Atlantis'"),
    ("extensions", {"ann": {"ps1": "soon"}}, "LatePolicy.extensions['ann']['ps1']: expected a "
                                             "duration like '2 days' or a date"),
    ("extensions", {"ann": {"ps1": "soon"}}, "got 'soon'"),
    ("extensions", {"ann": {"ps1": "3 fortnights"}}, "LatePolicy.extensions['ann']['ps1']"),
    ("extensions", {"ann": "2 days"}, "LatePolicy.extensions['ann']: expected a dict of "
                                      "assignment id -> extension, got '2 days'"),
])
def test_a_wrong_setting_names_its_key_and_what_was_expected(key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        policy(**{key: value})


def test_due_dates_are_stored_as_naive_utc():
    assert parse_date("2026-10-01 23:59 Europe/Berlin") == UTC(2026, 10, 1, 21, 59)  # CEST, +2
    assert parse_date("2026-12-01 23:59 Europe/Berlin") == UTC(2026, 12, 1, 22, 59)  # CET, +1
    assert parse_date("2026-10-01T23:59:00+02:00") == UTC(2026, 10, 1, 21, 59)
    assert parse_date("2026-10-01 23:59 UTC") == UTC(2026, 10, 1, 23, 59)
    assert policy(due_dates={"ps1": "2026-10-01 23:59 Europe/Berlin"}).due_date("ps1") == UTC(
        2026, 10, 1, 21, 59)
    assert policy().due_date("ps1") is None


def test_extension_by_duration():
    assert parse_extension("2 days") == datetime.timedelta(days=2)
    assert parse_extension("36 hours") == datetime.timedelta(hours=36)
    assert parse_extension("90 minutes") == datetime.timedelta(minutes=90)
    assert parse_extension("1 week, 1 day and 12 hours") == datetime.timedelta(days=8, hours=12)
    rule = policy(extensions={"ann": {"ps1": "36 hours"}})
    assert rule.extension("ann", "ps1", UTC(2026, 10, 1)) == datetime.timedelta(hours=36)
    assert rule.extension("ann", "ps2", UTC(2026, 10, 1)) is None
    assert rule.extension("bob", "ps1", UTC(2026, 10, 1)) is None


def test_extension_by_date_is_the_time_from_the_due_date():
    rule = policy(extensions={"ann": {"ps1": "2026-10-03 23:59 Europe/Berlin"}})
    due = parse_date("2026-10-01 23:59 Europe/Berlin")
    assert rule.extension("ann", "ps1", due) == datetime.timedelta(days=2)
    assert rule.extension("ann", "ps1", None) is None  # no due date: nothing to extend
    with pytest.raises(ValueError, match=re.escape(
            "LatePolicy.extensions['ann']['ps1']: expected a date after the due date 2026-10-05 00:00 UTC")):
        rule.extension("ann", "ps1", UTC(2026, 10, 5))


def test_the_commented_example_in_nbgrader_config_is_a_valid_policy():
    text = (ROOT / "nbgrader_config.py").read_text()
    lines = [line[2:] for line in text.splitlines() if line.startswith("# c.LatePolicy.")]
    assert len(lines) == 7
    config = Config()
    exec("\n".join(lines), {"c": config})  # noqa: S102 - the course's own config example
    example = LatePolicy(config=config)
    assert example.rule == "percent_per_day" and example.cap_percent == 50.0
    assert example.extension("ann", "ps1", example.due_date("ps1")) == datetime.timedelta(days=2)


def test_the_plugin_gives_the_points_of_the_configured_rule():
    config = Config()
    config.LatePolicy.rule = "percent_per_day"
    config.LatePolicy.percent_per_day = 10.0
    plugin = CourseLatePenalty(config=config)
    assert plugin.late_submission_penalty("ann", 15.0, DAY + 3 * HOUR) == 3.0
    assert CourseLatePenalty().late_submission_penalty("ann", 15.0, DAY) == 0.0  # rule "none"


# --- the gradebook ---------------------------------------------------------------------------


@pytest.fixture
def gradebook(tmp_path) -> str:
    """A gradebook with ps1 (due 2026-10-01 00:00 UTC, as if set in the formgrader), ps2
    (no due date), and ann's submissions of both, handed in on 2026-10-02 03:00 UTC."""
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db_url) as gb:
        gb.add_assignment("ps1", duedate=UTC(2026, 10, 1))
        gb.add_assignment("ps2")
        gb.add_student("ann")
        gb.add_submission("ps1", "ann", timestamp=UTC(2026, 10, 2, 3))
        gb.add_submission("ps2", "ann", timestamp=UTC(2026, 10, 2, 3))
    return db_url


def _stored(db_url: str, assignment: str = "ps1") -> tuple:
    with Gradebook(db_url) as gb:
        submission = gb.find_submission(assignment, "ann")
        return submission.assignment.duedate, submission.extension, submission.total_seconds_late


def test_apply_policy_writes_the_due_date_and_the_extension(gradebook):
    rule = policy(due_dates={"ps1": "2026-10-01 23:59 Europe/Berlin"},
                  extensions={"ann": {"ps1": "1 day"}})
    assert apply_policy(rule, gradebook, "ps1", "ann") == (UTC(2026, 10, 1, 21, 59),
                                                           datetime.timedelta(days=1))
    assert _stored(gradebook) == (UTC(2026, 10, 1, 21, 59), datetime.timedelta(days=1), 0)
    apply_policy(rule, gradebook, "ps1", "ann")  # idempotent
    assert _stored(gradebook) == (UTC(2026, 10, 1, 21, 59), datetime.timedelta(days=1), 0)


def test_apply_policy_resets_a_removed_extension(gradebook):
    apply_policy(policy(extensions={"ann": {"ps1": "2 days"}}), gradebook, "ps1", "ann")
    assert _stored(gradebook) == (UTC(2026, 10, 1), datetime.timedelta(days=2), 0)
    apply_policy(policy(), gradebook, "ps1", "ann")
    assert _stored(gradebook) == (UTC(2026, 10, 1), None, DAY + 3 * HOUR)


def test_apply_policy_keeps_a_due_date_set_in_the_formgrader(gradebook):
    # the policy names no due date for ps1: the gradebook's 2026-10-01 00:00 UTC stays, and a
    # new due date as extension is counted from it
    rule = policy(extensions={"ann": {"ps1": "2026-10-02 06:00 UTC"}})
    assert apply_policy(rule, gradebook, "ps1", "ann") == (UTC(2026, 10, 1),
                                                           datetime.timedelta(days=1, hours=6))
    # without any due date an extension means nothing and is not stored
    assert apply_policy(policy(extensions={"ann": {"ps2": "2 days"}}), gradebook, "ps2", "ann") == (
        None, None)
    assert _stored(gradebook, "ps2") == (None, None, 0)


def test_apply_policy_names_a_missing_submission(gradebook):
    with pytest.raises(ValueError, match=r"`assignment` 'ps1' / `student` 'bob'.*No such submission"):
        apply_policy(policy(), gradebook, "ps1", "bob")


def test_lateness_note_for_a_late_submission_without_points_off():
    info = {"timestamp": UTC(2026, 10, 3, 9, 30), "due_date": UTC(2026, 10, 3, 9, 20),
            "extension": datetime.timedelta(days=2), "seconds_late": 600.0,
            "score": 15.0, "max_score": 20.0, "penalty": 0.0}
    assert lateness_note(info) == (
        "**Late work.** Handed in on 2026-10-03 09:30 UTC, 10 minutes after your extended due "
        "date (2026-10-03 09:20 UTC). No penalty: score 15.0 / 20.0.")
    assert lateness_note(dict(info, seconds_late=0.0)) is None


# --- nbgrader end to end ---------------------------------------------------------------------

DUE = "2026-10-01 23:59 Europe/Berlin"  # 21:59 UTC
ON_TIME = "2026-10-01 20:00:00 UTC"
LATE = "2026-10-03 00:59:00 UTC"  # 1 day 3 hours after 21:59 UTC: 2 days counted, 20%
NOTE = ("<strong>Late work.</strong> Handed in on 2026-10-03 00:59 UTC, 1 day 3 hours after "
        "the due date (2026-10-01 21:59 UTC). Penalty: 20% (3.0 points): score 12.0 / 15.0.")


def _write_config(course: Path, extensions: dict) -> None:
    """nbgrader's default pipelines with the late-work steps, and the policy."""
    (course / "nbgrader_config.py").write_text(f"""\
c = get_config()
c.CourseDirectory.root = {str(course)!r}
c.CourseDirectory.db_url = {f"sqlite:///{course / 'gradebook.db'}"!r}
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "course.grading.late.ApplyDueDates",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course.grading.late.ShowLateness",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.AssignLatePenalties.plugin_class = "course.grading.late.CourseLatePenalty"
c.LatePolicy.due_dates = {{"ps1": {DUE!r}}}
c.LatePolicy.extensions = {extensions!r}
c.LatePolicy.rule = "percent_per_day"
c.LatePolicy.percent_per_day = 10.0
""")


def _source_notebook() -> nbformat.NotebookNode:
    """One answer cell and one test cell worth 15 points."""
    def meta(grade_id, **flags):
        return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "locked": False,
                             "solution": False, "grade": False, "task": False, **flags}}
    nb = new_notebook(cells=[
        new_markdown_cell("Write `double`."),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=meta("answer", solution=True)),
        new_code_cell("assert double(2) == 4", metadata=meta("test_double", grade=True, locked=True,
                                                             points=15)),
    ])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _nbgrader(course: Path, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _penalties(course: Path) -> dict[str, float | None]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {student: gb.find_submission_notebook("ps1", "ps1", student).late_submission_penalty
                for student in ("early", "late")}


@pytest.mark.slow
def test_nbgrader_grades_late_work_by_the_policy(tmp_path):
    course = tmp_path / "course"
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                 "MPLCONFIGDIR"):
        env[name] = str(tmp_path / name.lower())
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(_source_notebook(), course / "source" / "ps1" / "ps1.ipynb")
    _write_config(course, extensions={})
    _nbgrader(course, env, "generate_assignment", "ps1")
    released = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    answered = released.cells[1].source.replace("# YOUR CODE HERE\n    raise NotImplementedError()",
                                                "return x + x")
    assert answered != released.cells[1].source
    released.cells[1].source = answered
    for student, timestamp in (("early", ON_TIME), ("late", LATE)):
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(released, folder / "ps1.ipynb")
        (folder / "timestamp.txt").write_text(timestamp)

    _nbgrader(course, env, "autograde", "ps1")
    assert _penalties(course) == {"early": None, "late": 3.0}
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    info = lateness(db_url, "ps1", "late", policy=policy(rule="percent_per_day"))
    assert (info["due_date"], info["timestamp"]) == (UTC(2026, 10, 1, 21, 59), UTC(2026, 10, 3, 0, 59))
    assert (info["seconds_late"], info["score"], info["penalty"]) == (DAY + 3 * HOUR, 15.0, 3.0)
    assert info["explanation"] == ("handed in 1 day 3 hours after the due date (2 days counted): "
                                   "20% of 15.0 = 3.0 points off")

    _nbgrader(course, env, "generate_feedback", "ps1")
    late_page = (course / "feedback" / "late" / "ps1" / "ps1.html").read_text()
    early_page = (course / "feedback" / "early" / "ps1" / "ps1.html").read_text()
    assert NOTE in late_page
    assert "Late work" not in early_page

    # an extension of 2 days: the regrade recomputes the penalty, and the feedback follows
    _write_config(course, extensions={"late": {"ps1": "2 days"}})
    _nbgrader(course, env, "autograde", "ps1", "--student", "late", "--force")
    assert _penalties(course) == {"early": None, "late": None}
    assert lateness(db_url, "ps1", "late")["extension"] == datetime.timedelta(days=2)
    _nbgrader(course, env, "generate_feedback", "ps1", "--student", "late", "--force")
    assert "Late work" not in (course / "feedback" / "late" / "ps1" / "ps1.html").read_text()
