"""Grades in each LMS's import format: exact bytes for small inputs."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from course.lms import export
from course.lms.export import GradeRow

ROWS = [
    GradeRow("jose", "José Müller", "jose@example.edu", "345678", "S1", 12.0, 15.0, 3.0, 163800.0,
             datetime(2026, 10, 3, 21, 30, tzinfo=timezone.utc), "12 / 15 (late penalty 3)"),
    GradeRow("pat", 'Pat "Paddy" O\'Brien, Jr.', "pat@example.edu", "", "S2", 12.5, 15.0),
    GradeRow("ann1", "Ann Lee", "ann1@example.edu", "1", "S3", 15.0, 15.0),
    GradeRow("ann2", "Ann Lee", "ann2@example.edu", "2", "S4", None, 15.0),
]


def test_plain_csv_quotes_what_needs_quoting():
    assert export.plain_csv("ps1", ROWS).decode() == (
        "username,name,email,assignment,score,max_score,late_penalty,seconds_late,submitted_at\n"
        "ann1,Ann Lee,ann1@example.edu,ps1,15,15,0,0,\n"
        "ann2,Ann Lee,ann2@example.edu,ps1,,15,0,0,\n"
        "jose,José Müller,jose@example.edu,ps1,12,15,3,163800,2026-10-03T21:30:00+00:00\n"
        'pat,"Pat ""Paddy"" O\'Brien, Jr.",pat@example.edu,ps1,12.5,15,0,0,\n')


TEMPLATE = ("Student;ID;SIS User ID;SIS Login ID;Section;ps1 (22222);ps2 (22223)\n"
            "    Points Possible;;;;;;20\n"
            "Lee, Ann;2;S4;;A;;7\n"
            "Someone, Else;9;S9;else;A;;5\n").encode("utf-8")


def test_canvas_fills_one_column_keeps_the_rest_and_reports():
    result = export.canvas(TEMPLATE, "ps1", ROWS)
    assert result.data.decode() == (
        "Student;ID;SIS User ID;SIS Login ID;Section;ps1 (22222);ps2 (22223)\n"
        "    Points Possible;;;;;15;20\n"
        "Lee, Ann;2;S4;;A;;7\n"
        "Someone, Else;9;S9;else;A;;5\n")
    assert result.matched == ["ann2"]  # by ID only (no SIS Login ID)
    assert result.missing == ["ann1", "jose", "pat"]
    assert result.unmatched_rows == ["Someone, Else"]


@pytest.mark.parametrize("column, message", [
    (None, "expected one column 'ps3 \\(<id>\\)' in the Canvas export, found 0"),
    ("nope", "expected one column 'nope'"),
])
def test_canvas_names_the_missing_column(column, message):
    with pytest.raises(ValueError, match=message):
        export.canvas(TEMPLATE, "ps3", ROWS, column=column)


def test_a_score_above_the_maximum_is_refused():
    with pytest.raises(ValueError, match="rows: x has 16.0 points of 15.0"):
        export.plain_csv("ps1", [GradeRow("x", "X", score=16.0, max_score=15.0)])


def test_moodle_without_a_worksheet_writes_a_whole_one():
    now = datetime(2026, 12, 4, 15, 5, tzinfo=timezone.utc)
    result = export.moodle(None, "ps1", ROWS[:1], participants={"jose": "101"}, now=now)
    assert result.data.decode() == (
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 101,José Müller,jose@example.edu,Submitted for grading,12,15,Yes,"
        '"Saturday, 3 October 2026, 9:30 PM","Friday, 4 December 2026, 3:05 PM",'
        "12 / 15 (late penalty 3)\n")
    with pytest.raises(ValueError, match="--template: Moodle needs its grading worksheet"):
        export.moodle(None, "ps1", ROWS)


def test_brightspace():
    assert export.brightspace("ps1", ROWS, item="Problem set 1").data.decode() == (
        "OrgDefinedId,Username,Problem set 1 Points Grade,End-of-Line Indicator\n"
        "#S3,#ann1,15,#\n#S1,#jose,12,#\n#S2,#pat,12.5,#\n")
