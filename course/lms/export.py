"""Grades out, in each LMS's own import format (bytes in, bytes out).

- :func:`plain_csv`: a CSV any program reads: quoted by the csv module, so commas,
  quotes, line breaks and accents survive (nbgrader's own export joins with commas).
- :func:`canvas`: Canvas's gradebook export (Grades > Export) with the assignment's
  column (``ps1 (22222)``) filled in, everything else kept: other columns, the
  ``Points Possible`` row, the test student, the delimiter, the line ending and the
  encoding, byte-order mark included. Import it with Grades > Import.
- :func:`moodle`: Moodle's offline grading worksheet (``Identifier`` = ``Participant
  N``, ``Grade``, ``Last modified (grade)``, ``Feedback comments``); with the worksheet
  downloaded from Moodle as template, only those three columns change.
- :func:`brightspace`: Brightspace's grade import: ``OrgDefinedId``, ``Username``,
  ``<Item> Points Grade``, ``End-of-Line Indicator`` (``#``).

Students are matched to the LMS's rows by the course's username (Canvas's ``SIS Login
ID``), the LMS's user id (the roster's ``lms_id``: Canvas's ``ID``), the institution's
id (``sis_id``), or the email (Moodle); a student with no row, and a row with no
student, are reported, never filled by guess.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["ExportResult", "GradeRow", "brightspace", "canvas", "moodle", "plain_csv"]


@dataclass(frozen=True)
class GradeRow:
    username: str
    name: str
    email: str = ""
    lms_id: str = ""
    sis_id: str = ""
    score: float | None = None        # after the late penalty; None: not graded
    max_score: float = 0.0
    late_penalty: float = 0.0
    seconds_late: float = 0.0
    submitted_at: datetime | None = None
    feedback: str = ""


@dataclass
class ExportResult:
    data: bytes
    matched: list[str] = field(default_factory=list)        # usernames written
    missing: list[str] = field(default_factory=list)        # graded, but no row in the LMS's file
    unmatched_rows: list[str] = field(default_factory=list)  # LMS rows with no grade here


def _number(x: float | None) -> str:
    if x is None:
        return ""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _csv_bytes(rows: list[list[str]], *, delimiter=",", newline="\n", bom=False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def _read_template(template: bytes, what: str) -> tuple[list[list[str]], dict]:
    if not isinstance(template, (bytes, bytearray)) or not template.strip():
        raise ValueError(f"--template: expected {what} as a CSV file; it is empty")
    bom = template.startswith(b"\xef\xbb\xbf")
    try:
        text = template.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"--template: expected {what} in UTF-8") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        delimiter = csv.Sniffer().sniff(text.split(newline, 1)[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"--template: expected {what}, with a header row")
    return rows, {"delimiter": delimiter, "newline": newline, "bom": bom}


def _check(rows: list[GradeRow]) -> None:
    for row in rows:
        if row.score is not None and row.score > row.max_score + 1e-9:
            raise ValueError(f"rows: {row.username} has {row.score} points of {row.max_score}")


def plain_csv(assignment: str, rows: list[GradeRow]) -> bytes:
    _check(rows)
    out = [["username", "name", "email", "assignment", "score", "max_score", "late_penalty",
            "seconds_late", "submitted_at"]]
    for row in sorted(rows, key=lambda r: r.username):
        out.append([row.username, row.name, row.email, assignment, _number(row.score),
                    _number(row.max_score), _number(row.late_penalty), _number(row.seconds_late),
                    row.submitted_at.astimezone(timezone.utc).isoformat() if row.submitted_at else ""])
    return _csv_bytes(out)


def canvas(template: bytes, assignment: str, rows: list[GradeRow],
           column: str | None = None) -> ExportResult:
    _check(rows)
    table, style = _read_template(template, "Canvas's gradebook export (Grades > Export)")
    header = table[0]
    wanted = [k for k, h in enumerate(header)
              if (h == column if column else h.startswith(f"{assignment} ("))]
    if len(wanted) != 1:
        names = [h for h in header if "(" in h]
        raise ValueError(f"--column: expected one column {column or assignment + ' (<id>)'!r} in "
                         f"the Canvas export, found {len(wanted)}; its assignment columns are "
                         f"{names}")
    target = wanted[0]
    index = {name: header.index(name) for name in ("ID", "SIS User ID", "SIS Login ID", "Student")
             if name in header}
    by_username = {r.username: r for r in rows}
    by_lms = {r.lms_id: r for r in rows if r.lms_id}
    by_sis = {r.sis_id: r for r in rows if r.sis_id}
    result = ExportResult(b"")
    for line in table[1:]:
        if not line or len(line) <= target:
            continue
        student = line[index["Student"]].strip() if "Student" in index else ""
        if student == "Points Possible":
            if not line[target].strip() and rows:
                line[target] = _number(rows[0].max_score)
            continue
        found = None
        for key, lookup in (("SIS Login ID", by_username), ("ID", by_lms), ("SIS User ID", by_sis)):
            value = line[index[key]].strip() if key in index else ""
            if value and value in lookup:
                found = lookup[value]
                break
        if found is None:
            if student and student != "Student, Test":
                result.unmatched_rows.append(student)
            continue
        line[target] = _number(found.score)
        result.matched.append(found.username)
    result.missing = sorted(set(by_username) - set(result.matched))
    result.data = _csv_bytes(table, **style)
    return result


MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                  "Feedback comments"]


def _moodle_time(moment: datetime) -> str:
    """Moodle's worksheet dates: 'Friday, 4 December 2026, 3:15 PM'."""
    return f"{moment:%A}, {moment.day} {moment:%B %Y}, {int(moment.strftime('%I'))}:{moment:%M %p}"


def moodle(template: bytes | None, assignment: str, rows: list[GradeRow],
           participants: dict[str, str] | None = None, now: datetime | None = None) -> ExportResult:
    _check(rows)
    now = now or datetime.now(timezone.utc)
    stamp = _moodle_time(now)
    result = ExportResult(b"")
    if template is None:
        if not participants:
            raise ValueError("--template: Moodle needs its grading worksheet (Grading action > "
                             "Download grading worksheet), or participants for every student")
        table = [list(MOODLE_COLUMNS)]
        for row in sorted(rows, key=lambda r: r.username):
            if row.username not in participants:
                result.missing.append(row.username)
                continue
            table.append([f"Participant {participants[row.username]}", row.name, row.email,
                          "Submitted for grading" if row.score is not None else "No submission",
                          _number(row.score), _number(row.max_score), "Yes",
                          _moodle_time(row.submitted_at) if row.submitted_at else "-",
                          stamp if row.score is not None else "-", row.feedback])
            result.matched.append(row.username)
        result.data = _csv_bytes(table)
        return result
    table, style = _read_template(template, "Moodle's grading worksheet")
    header = table[0]
    missing = [c for c in ("Identifier", "Email address", "Grade", "Last modified (grade)",
                           "Feedback comments") if c not in header]
    if missing:
        raise ValueError(f"--template: Moodle's grading worksheet needs the columns {missing}")
    col = {name: header.index(name) for name in header}
    by_email = {r.email.casefold(): r for r in rows if r.email}
    by_participant = {f"Participant {p}": u for u, p in (participants or {}).items()}
    by_username = {r.username: r for r in rows}
    for line in table[1:]:
        if len(line) < len(header):
            continue
        found = by_email.get(line[col["Email address"]].strip().casefold())
        if found is None and line[col["Identifier"]] in by_participant:
            found = by_username.get(by_participant[line[col["Identifier"]]])
        if found is None:
            result.unmatched_rows.append(line[col["Identifier"]])
            continue
        if found.score is not None:
            line[col["Grade"]] = _number(found.score)
            line[col["Last modified (grade)"]] = stamp
            line[col["Feedback comments"]] = found.feedback
        result.matched.append(found.username)
    result.missing = sorted(set(by_username) - set(result.matched))
    result.data = _csv_bytes(table, **style)
    return result


def brightspace(assignment: str, rows: list[GradeRow], item: str | None = None) -> ExportResult:
    _check(rows)
    item = item or assignment
    table = [["OrgDefinedId", "Username", f"{item} Points Grade", "End-of-Line Indicator"]]
    result = ExportResult(b"")
    for row in sorted(rows, key=lambda r: r.username):
        if row.score is None:
            continue
        table.append([f"#{row.sis_id}" if row.sis_id else "", f"#{row.username}",
                      _number(row.score), "#"])
        result.matched.append(row.username)
    result.data = _csv_bytes(table)
    return result
