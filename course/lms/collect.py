"""``course-admin collect ps1 --from download.zip``: an LMS download into ``submitted/``.

1. The archive is read as hostile input (:mod:`course.lms.archive`); a refused archive
   writes nothing.
2. Its LMS is detected from its names (or given), and every file is parsed with that
   LMS's rules (:mod:`course.lms.names`).
3. Each file is mapped to one student of the roster: by LMS user id (the roster's
   ``lms_id``), by Moodle participant through the grading worksheet's email, or by name.
   A file that matches nobody, or several students (two students with the same name and
   no id), is reported and left out: never a guess.
4. Per student, the latest attempt is kept; its notebook is the file named
   ``<assignment>.ipynb`` (an LMS suffix like ``-1`` aside), else the one notebook whose
   nbgrader cells are the assignment's. Other files, empty submissions, invalid notebooks
   and duplicates are reported.
5. The notebook, with ``timestamp.txt`` (the LMS's submission time, UTC) and ``lms.json``
   (the LMS, its late flag, the entries used), is taken in through
   :func:`course.grading.intake.take_in` into ``submitted/<student>/<assignment>/``.
   Collecting again is idempotent: an identical submission is left alone, a different
   one is not overwritten without ``force``.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from course.hub.roster import Member, Roster
from course.lms import archive, names

__all__ = ["Collected", "Row", "collect"]


@dataclass
class Row:
    """One line of the summary: a student, or an entry that went nowhere."""

    who: str
    status: str          # collected, unchanged, exists, empty, invalid, unmatched, ambiguous, ...
    file: str = ""
    submitted: str = ""
    late: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Collected:
    lms: str
    rows: list[Row]

    def table(self) -> str:
        head = ("student / entry", "status", "notebook", "submitted (UTC)", "late", "notes")
        body = [(r.who, r.status, r.file, r.submitted, r.late, "; ".join(r.notes)) for r in self.rows]
        widths = [max(len(str(x)) for x in column) for column in zip(head, *body)]
        lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
                 for line in [head, *body]]
        return "\n".join(lines)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)


def _grade_ids(data: bytes) -> set[str] | None:
    try:
        nb = json.loads(data)
        cells = nb["cells"]
        return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells} - {None}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _stem(file: str) -> str:
    """``ps1-1.ipynb`` -> ``ps1`` (LMSs suffix a repeated name)."""
    stem = PurePosixPath(file).stem
    return re.sub(r"-\d+$", "", stem)


class _Matcher:
    def __init__(self, roster: Roster, worksheet: dict | None):
        self.students = roster.students
        self.worksheet = worksheet or {}
        self.by_lms_id = {m.lms_id: m for m in self.students if m.lms_id}
        self.by_email = {m.email.casefold(): m for m in self.students if m.email}

    def names(self, key: str, canvas: bool) -> list[Member]:
        if not key:
            return []
        if canvas:
            return [m for m in self.students
                    if names.canvas_name(f"{m.last_name}{m.first_name}") == key
                    or names.canvas_name(m.name) == key]
        return [m for m in self.students if names.person_key(m.name) == key]

    def match(self, lms: str, item: names.Item) -> tuple[list[Member], str]:
        """The students ``item`` may belong to, and how they were found."""
        if item.lms_id and item.lms_id in self.by_lms_id:
            return [self.by_lms_id[item.lms_id]], "LMS id"
        if item.participant:
            row = self.worksheet.get(item.participant)
            if row is not None:
                if row.email and row.email.casefold() in self.by_email:
                    return [self.by_email[row.email.casefold()]], "worksheet email"
                return self.names(names.person_key(row.name), False), "worksheet name"
        return self.names(item.name_key, lms == "canvas"), "name"


def _utc(moment: datetime | None, zone: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(timezone.utc)


def collect(root: str | Path, assignment: str, download: str | Path, *, lms: str | None = None,
            roster: Roster, worksheet: str | Path | None = None, force: bool = False,
            timezone_name: str = "UTC") -> Collected:
    root = Path(root)
    release = root / "release" / assignment / f"{assignment}.ipynb"
    if not release.is_file():
        raise ValueError(f"assignment: {assignment!r} has no released notebook at {release}; "
                         "run `course-admin release` first")
    expected_ids = _grade_ids(release.read_bytes()) or set()
    entries = archive.read(download)
    found = names.detect(entries)
    if lms is None:
        if found is None:
            raise ValueError(f"--lms: {download} follows none of the known LMSs' naming rules "
                             f"({', '.join(names.LMSS)}); name the LMS with --lms")
        lms = found
    elif lms not in names.LMSS:
        raise ValueError(f"--lms: expected one of {', '.join(names.LMSS)}, got {lms!r}")
    sheet = None
    if worksheet is not None:
        sheet = names.read_worksheet(Path(worksheet).read_bytes())
    elif lms == "moodle":
        sheet = _worksheet_in(entries)
    items, unknown = names.parse(lms, entries)
    matcher = _Matcher(roster, sheet)
    rows: list[Row] = []
    per_student: dict[str, list[names.Item]] = {}
    members = {m.username: m for m in roster.students}
    for item in items:
        found_members, how = matcher.match(lms, item)
        label = item.entry.name
        if not found_members:
            rows.append(Row(label, "unmatched", notes=[f"no student of the roster by {how}"]))
        elif len(found_members) > 1:
            who = ", ".join(m.username for m in found_members)
            rows.append(Row(label, "ambiguous", notes=[f"{how} fits {who}: add their lms_id "
                                                       "to the roster"]))
        else:
            per_student.setdefault(found_members[0].username, []).append(item)
    for entry in unknown:
        if entry.basename.lower() == "index.html" or (lms == "moodle" and entry.name.endswith(".csv")):
            continue
        rows.append(Row(entry.name, "unmatched", notes=[f"not named as {lms} names submissions"]))
    for username in sorted(members):
        student_items = per_student.get(username, [])
        if not student_items:
            rows.append(Row(username, "missing"))
            continue
        rows.append(_one(root, assignment, members[username], student_items, expected_ids,
                         lms, sheet, force, timezone_name))
    return Collected(lms, rows)


def _worksheet_in(entries) -> dict | None:
    for entry in entries:
        if entry.basename.lower().endswith(".csv"):
            try:
                return names.read_worksheet(entry.data)
            except (ValueError, UnicodeDecodeError):
                continue
    return None


def _one(root: Path, assignment: str, member: Member, items: list[names.Item],
         expected_ids: set[str], lms: str, sheet, force: bool, zone: str) -> Row:
    latest = max(item.attempt for item in items)
    chosen = [i for i in items if i.attempt == latest]
    notes = []
    older = len(items) - len(chosen)
    if older:
        notes.append(f"{older} file(s) of earlier attempts left out")
    notebooks, others = [], []
    for item in chosen:
        if item.kind != "file" or not item.file.lower().endswith(".ipynb"):
            others.append(item.file if item.kind == "file" else f"{item.kind} entry")
        else:
            notebooks.append(item)
    if others:
        notes.append("not a notebook: " + ", ".join(sorted(others)))
    submitted = max((i.submitted for i in chosen if i.submitted), default=None)
    late = any(i.late for i in chosen if i.late is not None)
    if sheet is not None and chosen[0].participant in (sheet or {}):
        row = sheet[chosen[0].participant]
        submitted = row.modified or submitted
        late = late or "late" in row.status.lower()
    submitted = _utc(submitted, zone)
    shown_time = submitted.strftime("%Y-%m-%d %H:%M") if submitted else ""
    late_text = "yes" if late else ("no" if any(i.late is not None for i in chosen) or sheet else "")
    if not notebooks:
        return Row(member.username, "empty", submitted=shown_time, late=late_text,
                   notes=notes + ["no notebook in the latest attempt"])
    valid, invalid = [], []
    for item in notebooks:
        ids = _grade_ids(item.entry.data)
        (invalid if ids is None else valid).append((item, ids))
    for item, _ in invalid:
        notes.append(f"{item.entry.name}: not a valid notebook (not JSON, or no cells)")
    # This assignment's notebooks: named so (an LMS suffix aside), or holding its graded
    # cells under another name. The latest of them is the submission.
    recognised = [(i, ids) for i, ids in valid
                  if _stem(i.file) == assignment or (ids and ids & expected_ids)]
    if not recognised:
        status = "invalid" if invalid else "empty"
        return Row(member.username, status, submitted=shown_time, late=late_text,
                   notes=notes + ([] if invalid else [
                       "no notebook is this assignment's (by name or by its graded cells)"]))
    recognised.sort(key=lambda pair: (pair[0].order, pair[0].entry.name))
    item = recognised[-1][0]
    if len(recognised) > 1:
        notes.append(f"{len(recognised)} notebooks: kept the latest, {item.file!r}")
    if _stem(item.file) != assignment:
        notes.append(f"renamed notebook {item.file!r} recognised by its graded cells")
    return _write(root, assignment, member.username, item, submitted, late, lms, force,
                  Row(member.username, "collected", file=item.file, submitted=shown_time,
                      late=late_text, notes=notes))


def _write(root: Path, assignment: str, username: str, item: names.Item,
           submitted: datetime | None, late: bool, lms: str, force: bool, row: Row) -> Row:
    from course.grading import intake

    dest = root / "submitted" / username / assignment
    record = {"lms": lms, "entry": item.entry.name, "late": late,
              "submitted": submitted.isoformat() if submitted else None}
    with tempfile.TemporaryDirectory(prefix="course-lms-") as tmp:
        received, staged = Path(tmp, "received"), Path(tmp, "staged")
        received.mkdir()
        (received / f"{assignment}.ipynb").write_bytes(item.entry.data)
        if submitted is not None:
            (received / "timestamp.txt").write_text(
                submitted.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        (received / "lms.json").write_text(json.dumps(record, indent=1))
        done = intake.take_in(received, staged, root / "release" / assignment)
        for refused in done.refused:
            row.notes.append(str(refused))
        if dest.is_dir():
            if _same(dest, staged):
                row.status = "unchanged"
                return row
            if not force:
                row.status = "exists"
                row.notes.append("a different submission is already in submitted/: --force "
                                 "replaces it")
                return row
            shutil.rmtree(dest)
            row.notes.append("replaced the earlier collected submission")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, dest)
    return row


def _same(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
