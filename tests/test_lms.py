"""The LMS round trip: downloads from Canvas, Moodle and Brightspace into submitted/,
hostile archives refused with nothing written, and grades out in each LMS's format.

The downloads are built by tests/lmskit.py from each LMS's naming rules (the rule is
written beside each builder).
"""
from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import nbformat
import pytest

import coursekit
import lmskit
from course import admin
from course.hub.roster import Roster
from course.lms import archive
from course.lms.collect import collect

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A course with ps1 generated (once for the module), and its two notebooks."""
    course = coursekit.make_course(tmp_path_factory.mktemp("lms-course"), ["ps1"])
    release = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    correct = coursekit.submission(course, types.SimpleNamespace(ASSIGNMENT="ps1"))
    return course, release, correct


def _course(released, tmp_path, lms):
    course, release, correct = released
    target = tmp_path / f"course-{lms}"
    shutil.copytree(course, target)
    (target / "roster.csv").write_text(lmskit.roster_csv(lms))
    download = tmp_path / f"{lms}.zip"
    download.write_bytes(lmskit.BUILDERS[lms](release, correct))
    return target, download, Roster.read(target / "roster.csv")


def _submitted(course, student):
    return nbformat.read(course / "submitted" / student / "ps1" / "ps1.ipynb", as_version=4)


def _answers_of(nb):
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


@pytest.mark.parametrize("lms", ["canvas", "moodle", "brightspace"])
def test_a_download_lands_in_submitted_with_each_student_s_latest_notebook(released, tmp_path, lms):
    course, download, roster = _course(released, tmp_path, lms)
    _, release, correct = released
    worksheet = None
    if lms == "moodle":
        worksheet = tmp_path / "worksheet.csv"
        worksheet.write_bytes(lmskit.moodle_worksheet())
    done = collect(course, "ps1", download, roster=roster, worksheet=worksheet)
    assert done.lms == lms  # detected from the names
    rows = {r.who: r for r in done.rows}
    table = done.table()
    assert {u: rows[u].status for u in lmskit.STUDENTS} == {
        "jose": "collected", "pat": "collected", "chris": "collected", "ann1": "collected",
        "ann2": "collected", "dana": "collected", "eve": "empty"}, table
    # The two Ann Lees are told apart (by LMS id, or by the worksheet's emails).
    assert _answers_of(_submitted(course, "ann1")) == _answers_of(correct)
    assert _answers_of(_submitted(course, "ann2")) == _answers_of(release)
    # Dana's later notebook wins, though renamed; her earlier one is reported.
    assert _answers_of(_submitted(course, "dana")) == _answers_of(correct)
    assert any("renamed notebook 'my solution.ipynb'" in n for n in rows["dana"].notes), table
    # Eve's PDF (and Canvas's text entry) are named as not notebooks.
    assert any(n.startswith("not a notebook: ") and ("pdf" in n) for n in rows["eve"].notes), table
    # José was late, and his time is the LMS's. Canvas (LATE in the name) and Moodle (the
    # worksheet's status) say so; Brightspace's download has only the time, and the late
    # rule is applied from it when grading.
    record = json.loads((course / "submitted" / "jose" / "ps1" / "lms.json").read_text())
    assert record["lms"] == lms
    if lms == "brightspace":
        assert rows["jose"].late == "" and record["late"] is False
    else:
        assert rows["jose"].late == "yes" and rows["pat"].late == "no" and record["late"] is True
    stamp = (course / "submitted" / "jose" / "ps1" / "timestamp.txt").read_text()
    assert stamp.startswith("2026-10-03 21:30:00"), stamp
    assert "José Müller" in lmskit.STUDENTS["jose"][0]
    # Collecting again changes nothing; a changed download is not written without force.
    again = collect(course, "ps1", download, roster=roster, worksheet=worksheet)
    assert {r.who: r.status for r in again.rows if r.who in lmskit.STUDENTS} == {
        **{u: "unchanged" for u in lmskit.STUDENTS if u != "eve"}, "eve": "empty"}


def test_a_changed_submission_needs_force(released, tmp_path):
    course, download, roster = _course(released, tmp_path, "canvas")
    collect(course, "ps1", download, roster=roster)
    path = course / "submitted" / "pat" / "ps1" / "ps1.ipynb"
    path.write_text(path.read_text().replace('"cells"', '"cells"', 1) + "\n")
    before = path.read_bytes()
    done = collect(course, "ps1", download, roster=roster)
    assert {r.who: r.status for r in done.rows}["pat"] == "exists"
    assert path.read_bytes() == before
    done = collect(course, "ps1", download, roster=roster, force=True)
    assert {r.who: r.status for r in done.rows}["pat"] == "collected"
    assert path.read_bytes() != before


def test_same_names_without_ids_are_reported_not_guessed(released, tmp_path):
    course, download, _ = _course(released, tmp_path, "canvas")
    text = lmskit.roster_csv("canvas").replace(",345681,", ",,").replace(",345682,", ",,")
    roster = Roster.parse(text)
    done = collect(course, "ps1", download, roster=roster)
    ambiguous = [r for r in done.rows if r.status == "ambiguous"]
    assert len(ambiguous) == 2 and all("ann1, ann2" in r.notes[0] for r in ambiguous), done.table()
    assert not (course / "submitted" / "ann1").exists()
    assert not (course / "submitted" / "ann2").exists()


def test_moodle_blind_marking_maps_participants_through_the_worksheet(released, tmp_path):
    course, _, roster = _course(released, tmp_path, "moodle")
    _, release, correct = released
    download = tmp_path / "blind.zip"
    data = lmskit._zip([("Participant_104_assignsubmission_file_ps1.ipynb",
                         lmskit.notebook(release, correct, "correct"), lmskit.ON_TIME)])
    download.write_bytes(data)
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_bytes(lmskit.moodle_worksheet())
    done = collect(course, "ps1", download, roster=roster, worksheet=worksheet, lms="moodle")
    assert {r.who: r.status for r in done.rows}["ann1"] == "collected", done.table()


def test_a_notebook_that_is_not_json_is_refused_by_name(released, tmp_path):
    course, _, roster = _course(released, tmp_path, "canvas")
    download = tmp_path / "bad.zip"
    download.write_bytes(lmskit._zip([("leeann_345681_78901239_ps1.ipynb", b"{not json",
                                       lmskit.ON_TIME)]))
    done = collect(course, "ps1", download, roster=roster)
    row = {r.who: r for r in done.rows}["ann1"]
    assert row.status == "invalid"
    assert "leeann_345681_78901239_ps1.ipynb: not a valid notebook" in row.notes[0]
    assert not (course / "submitted" / "ann1").exists()


@pytest.mark.parametrize("kind, message", [
    ("dotdot", "the path leaves the folder"),
    ("absolute", "the path leaves the folder"),
    ("symlink", "a symbolic link"),
    ("device", "not a regular file or folder"),
    ("bomb", "expands 1\\d\\d\\d times \\(at most 200\\): a zip bomb"),
    ("big", "68157440 bytes; at most 67108864"),
    ("entries", "5002 entries; at most 5000"),
    ("not_utf8", "UTF-8"),
    ("nested", "a zip inside a zip inside the download"),
])
def test_hostile_archives_are_refused_with_nothing_written(released, tmp_path, kind, message):
    course, _, roster = _course(released, tmp_path, "canvas")
    _, release, correct = released
    download = tmp_path / f"{kind}.zip"
    download.write_bytes(lmskit.hostile(kind, lmskit.notebook(release, correct, "correct")))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(archive.ArchiveError, match=message):
        collect(course, "ps1", download, roster=roster)
    assert not (course / "submitted").exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/evil_345681_1_ps1.ipynb").exists()
    # The command line says the same, and exits 2.
    code = admin.main(["--root", str(course), "collect", "ps1", "--from", str(download)])
    assert code == 2


def test_an_unknown_download_asks_for_the_lms(released, tmp_path):
    course, _, roster = _course(released, tmp_path, "canvas")
    download = tmp_path / "other.zip"
    download.write_bytes(lmskit._zip([("homework.ipynb", b"{}", lmskit.ON_TIME)]))
    with pytest.raises(ValueError, match="--lms: .* follows none of the known LMSs"):
        collect(course, "ps1", download, roster=roster)


# --- the round trip: collect, autograde (sandbox and judge), export ----------------------
LATE_POLICY = f'''
c.LatePolicy.due_dates = {{"ps1": "{lmskit.DUE}"}}
c.LatePolicy.rule = "percent_per_day"
c.LatePolicy.percent_per_day = 10.0
'''
# José handed in 1 day 21.5 hours late: 2 started days, 20% of 15 = 3 points off.
SCORES = {"jose": "12", "pat": "15", "chris": "0", "ann1": "15", "ann2": "0", "dana": "15"}

CANVAS_IMPORT = ("\ufeff" + "\r\n".join([
    "Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (11111),ps1 (22222),Current Score",
    "    Points Possible,,,,,10.00,15.00,",
    '"Müller, José",345678,SISjose,jose,CNN 101,9.00,12,90',
    "\"O'Brien, Pat\",345679,SISpat,pat,CNN 101,7.00,15,70",
    '"Smith, Jr., Chris",345680,SISchris,chris,CNN 101,8.00,0,80',
    '"Lee, Ann",345681,SISann1,ann1,CNN 101,10.00,15,100',
    '"Lee, Ann",345682,SISann2,ann2,CNN 101,6.00,0,60',
    '"Park, Dana",345683,SISdana,dana,CNN 101,5.00,15,50',
    '"Adams, Eve",345684,SISeve,eve,CNN 101,4.00,,40',
    '"Student, Test",999000,,,CNN 101,,,']) + "\r\n").encode("utf-8")

BRIGHTSPACE_IMPORT = "\n".join([
    "OrgDefinedId,Username,ps1 Points Grade,End-of-Line Indicator",
    "#SISann1,#ann1,15,#", "#SISann2,#ann2,0,#", "#SISchris,#chris,0,#",
    "#SISdana,#dana,15,#", "#SISjose,#jose,12,#", "#SISpat,#pat,15,#"]) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("lms", ["canvas", "moodle", "brightspace"])
def test_round_trip_collect_grade_export(released, tmp_path, lms):
    import csv
    import io

    course, download, roster = _course(released, tmp_path, lms)
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(LATE_POLICY)
    args = ["--root", str(course), "collect", "ps1", "--from", str(download)]
    if lms == "moodle":
        worksheet = tmp_path / "worksheet.csv"
        worksheet.write_bytes(lmskit.moodle_worksheet())
        args += ["--worksheet", str(worksheet)]
    assert admin.main(args) == 0
    graded = coursekit.autograde(course, "ps1")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    scores = admin.scores(course, "ps1")
    assert {s: f"{v[0]:g}" for s, v in scores.items()} == {
        "jose": "15", "pat": "15", "chris": "0", "ann1": "15", "ann2": "0", "dana": "15"}
    target = tmp_path / "import.csv"
    export = ["--root", str(course), "export", "ps1", "--lms", lms, "--to", str(target)]
    if lms == "canvas":
        template = tmp_path / "gradebook.csv"
        template.write_bytes(lmskit.canvas_gradebook())
        export += ["--template", str(template)]
    if lms == "moodle":
        export += ["--template", str(worksheet)]
    assert admin.main(export) == 0
    data = target.read_bytes()
    if lms == "canvas":
        assert data == CANVAS_IMPORT, data.decode()
    elif lms == "brightspace":
        assert data.decode() == BRIGHTSPACE_IMPORT
    else:
        rows = {r["Email address"].split("@")[0]: r for r in csv.DictReader(io.StringIO(data.decode()))}
        assert {u: r["Grade"] for u, r in rows.items()} == {**SCORES, "eve": ""}
        assert rows["jose"]["Feedback comments"] == "12 / 15 (graded 15, late penalty 3)"
        assert rows["eve"]["Last modified (grade)"] == "-"
        assert rows["pat"]["Last modified (grade)"] != "-"
        assert rows["jose"]["Identifier"] == "Participant 101"
    # The plain CSV, quoted: the names with commas and the two Ann Lees are intact.
    plain = tmp_path / "plain.csv"
    assert admin.main(["--root", str(course), "export", "ps1", "--lms", "csv", "--to", str(plain)]) == 0
    table = list(csv.DictReader(io.StringIO(plain.read_text())))
    assert [(r["username"], r["name"], r["score"]) for r in table] == [
        ("ann1", "Ann Lee", "15"), ("ann2", "Ann Lee", "0"), ("chris", "Chris Smith, Jr.", "0"),
        ("dana", "Dana Park", "15"), ("eve", "Eve Adams", ""), ("jose", "José Müller", "12"),
        ("pat", "Pat O'Brien", "15")]
    jose = next(r for r in table if r["username"] == "jose")
    assert jose["late_penalty"] == "3" and float(jose["seconds_late"]) == pytest.approx(
        (21 * 3600 + 30 * 60) + 86400)
    # The late rule shows in José's feedback.
    assert admin.main(["--root", str(course), "feedback", "ps1"]) == 0
    page = (course / "feedback" / "jose" / "ps1" / "ps1.html").read_text()
    assert "Late work." in page and "20%" in page
