"""LMS downloads for the tests, built from each LMS's own naming rules.

Each builder writes the zip an instructor downloads, for one class (:data:`CLASS`):
- José Müller (accents), handed in late;
- Pat O'Brien (an apostrophe) and "Smith, Jr., Chris" (commas);
- two students both named Ann Lee, told apart by their LMS ids;
- Dana Park, who handed in twice (the later notebook must win) and renamed her
  notebook ``my solution.ipynb``;
- Eve Adams, who uploaded only a PDF.

The rule each name follows is written beside it. Notebooks are the course's ps1: the
release with the instructor's answers (``CORRECT``) or without (``BLANK``).
"""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime

import nbformat

STUDENTS = {
    # username: (name, Canvas sortable name, Canvas user id, Brightspace user id, Moodle participant)
    "jose": ("José Müller", "Müller, José", "345678", "2001", "101"),
    "pat": ("Pat O'Brien", "O'Brien, Pat", "", "2002", "102"),
    "chris": ("Chris Smith, Jr.", "Smith, Jr., Chris", "345680", "2003", "103"),
    "ann1": ("Ann Lee", "Lee, Ann", "345681", "2004", "104"),
    "ann2": ("Ann Lee", "Lee, Ann", "345682", "2005", "105"),
    "dana": ("Dana Park", "Park, Dana", "345683", "2006", "106"),
    "eve": ("Eve Adams", "Adams, Eve", "345684", "2007", "107"),
}
# What each student handed in (the latest attempt), and its score once graded.
ANSWERS = {"jose": "correct", "pat": "correct", "chris": "blank", "ann1": "correct",
           "ann2": "blank", "dana": "correct"}


def roster_csv(lms: str) -> str:
    """roster.csv with the LMS's user ids (Moodle's participant ids are per assignment,
    so a Moodle roster has none: the worksheet's emails map them)."""
    lines = ["username,name,email,role,lms_id,sis_id",
             "tess,Tess Teacher,tess@example.edu,instructor,,"]
    for username, (name, _, canvas_id, bright_id, _) in STUDENTS.items():
        lms_id = {"canvas": canvas_id, "brightspace": bright_id}.get(lms, "")
        quoted = f'"{name}"' if "," in name else name
        lines.append(f"{username},{quoted},{username}@example.edu,student,{lms_id},SIS{username}")
    return "\n".join(lines) + "\n"


def notebook(release: nbformat.NotebookNode, correct: nbformat.NotebookNode, kind: str) -> bytes:
    return nbformat.writes(correct if kind == "correct" else release).encode()


def _zip(files: list[tuple[str, bytes, datetime]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, when in files:
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


ON_TIME = datetime(2026, 10, 1, 20, 15, 0)
LATE = datetime(2026, 10, 3, 21, 30, 0)  # 1 day 21.5 h after the due date below
DUE = "2026-10-02 00:00 UTC"
EARLIER = datetime(2026, 9, 30, 9, 0, 0)


def canvas(release, correct) -> bytes:
    """Canvas (lib/content_zipper.rb): [sortable name, "LATE" if late, user id] joined
    with "_", non-word characters removed, lower-cased; then _<attachment id>_<file>."""
    def prefix(username, late=False):
        _, sortable, uid, _, _ = STUDENTS[username]
        parts = [sortable] + (["LATE"] if late else []) + ([uid] if uid else ["999999"])
        return "_".join("".join(ch for ch in p if ch.isalnum()).lower() for p in parts)

    files = [
        (f"{prefix('jose', late=True)}_78901236_ps1.ipynb", notebook(release, correct, "correct"), LATE),
        (f"{prefix('pat')}_78901237_ps1.ipynb", notebook(release, correct, "correct"), ON_TIME),
        (f"{prefix('chris')}_78901238_ps1.ipynb", notebook(release, correct, "blank"), ON_TIME),
        (f"{prefix('ann1')}_78901239_ps1.ipynb", notebook(release, correct, "correct"), ON_TIME),
        (f"{prefix('ann2')}_78901240_ps1.ipynb", notebook(release, correct, "blank"), ON_TIME),
        # Dana: two uploads; the file name occurred twice, so Canvas suffixed the second,
        # and she renamed it; the greater attachment id is the later upload.
        (f"{prefix('dana')}_78901241_ps1.ipynb", notebook(release, correct, "blank"), EARLIER),
        (f"{prefix('dana')}_78901250_my solution.ipynb", notebook(release, correct, "correct"), ON_TIME),
        (f"{prefix('eve')}_78901242_ps1.pdf", b"%PDF-1.4 not a notebook", ON_TIME),
        (f"{prefix('eve')}_text.html", b"<p>I could not finish</p>", ON_TIME),
    ]
    # Pat has no Canvas id in the roster: matched by name ("obrienpat"); the uid 999999
    # in the file name is unknown to the roster.
    return _zip(files)


def moodle_worksheet() -> bytes:
    """Moodle's grading worksheet (Download grading worksheet)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Identifier", "Full name", "Email address", "Status", "Grade",
                     "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                     "Last modified (grade)", "Feedback comments"])
    for username, (name, _, _, _, pid) in STUDENTS.items():
        status = "Submitted for grading"
        when = ON_TIME
        if username == "jose":
            status = "Submitted for grading - Assignment was submitted 1 day 21 hours late"
            when = LATE
        writer.writerow([f"Participant {pid}", name, f"{username}@example.edu", status, "",
                         "15.00", "Yes", when.strftime("%A, %d %B %Y, %I:%M %p"), "-", ""])
    return out.getvalue().encode("utf-8")


def moodle(release, correct) -> bytes:
    """Moodle: <Full Name>_<participant id>_assignsubmission_file_<file> (flat), or a
    folder of that name per student ("download submissions in folders")."""
    def name(username, file, folder=False):
        full, _, _, _, pid = STUDENTS[username]
        stem = f"{full}_{pid}_assignsubmission_file_"
        return f"{stem}/{file}" if folder else f"{stem}{file}"

    files = [
        (name("jose", "ps1.ipynb"), notebook(release, correct, "correct"), LATE),
        (name("pat", "ps1.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name("chris", "ps1.ipynb", folder=True), notebook(release, correct, "blank"), ON_TIME),
        (name("ann1", "ps1.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name("ann2", "ps1.ipynb"), notebook(release, correct, "blank"), ON_TIME),
        # Dana: her draft and her final version in one submission (Moodle keeps the
        # latest attempt's files); the final one is renamed and newer.
        (name("dana", "ps1.ipynb"), notebook(release, correct, "blank"), EARLIER),
        (name("dana", "my solution.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name("eve", "report.pdf"), b"%PDF-1.4", ON_TIME),
    ]
    return _zip(files)


def brightspace(release, correct) -> bytes:
    """Brightspace: <id>-<id> - <First Last> - <Mon DD, YYYY HHMM AM> - <file>, plus an
    index.html; every submission is in the download, each with its own date."""
    def name(sub, username, when, file):
        full, _, _, uid, _ = STUDENTS[username]
        stamp = when.strftime("%b %-d, %Y %I%M %p").replace(" 0", " ")
        return f"{sub}-{uid} - {full} - {stamp} - {file}"

    files = [
        ("index.html", b"<html><body>Submissions</body></html>", ON_TIME),
        (name(501, "jose", LATE, "ps1.ipynb"), notebook(release, correct, "correct"), LATE),
        (name(502, "pat", ON_TIME, "ps1.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name(503, "chris", ON_TIME, "ps1.ipynb"), notebook(release, correct, "blank"), ON_TIME),
        (name(504, "ann1", ON_TIME, "ps1.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name(505, "ann2", ON_TIME, "ps1.ipynb"), notebook(release, correct, "blank"), ON_TIME),
        (name(490, "dana", EARLIER, "ps1.ipynb"), notebook(release, correct, "blank"), EARLIER),
        (name(506, "dana", ON_TIME, "my solution.ipynb"), notebook(release, correct, "correct"), ON_TIME),
        (name(507, "eve", ON_TIME, "report.pdf"), b"%PDF-1.4", ON_TIME),
    ]
    return _zip(files)


BUILDERS = {"canvas": canvas, "moodle": moodle, "brightspace": brightspace}


def canvas_gradebook() -> bytes:
    """Canvas's own gradebook export (Grades > Export), with a byte-order mark and CRLF."""
    lines = ["Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (11111),ps1 (22222),Current Score",
             "    Points Possible,,,,,10.00,15.00,",
             '"Müller, José",345678,SISjose,jose,CNN 101,9.00,,90',
             "\"O'Brien, Pat\",345679,SISpat,pat,CNN 101,7.00,,70",
             '"Smith, Jr., Chris",345680,SISchris,chris,CNN 101,8.00,,80',
             '"Lee, Ann",345681,SISann1,ann1,CNN 101,10.00,,100',
             '"Lee, Ann",345682,SISann2,ann2,CNN 101,6.00,,60',
             '"Park, Dana",345683,SISdana,dana,CNN 101,5.00,,50',
             '"Adams, Eve",345684,SISeve,eve,CNN 101,4.00,,40',
             '"Student, Test",999000,,,CNN 101,,,']
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def hostile(kind: str, notebook_bytes: bytes) -> bytes:
    """A Canvas-named archive with one hostile entry of ``kind``."""
    good = ("leeann_345681_78901239_ps1.ipynb", notebook_bytes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(*good)
        if kind == "dotdot":
            archive.writestr("../../evil_345681_1_ps1.ipynb", notebook_bytes)
        elif kind == "absolute":
            archive.writestr("/tmp/evil_345681_1_ps1.ipynb", notebook_bytes)
        elif kind == "symlink":
            info = zipfile.ZipInfo("leeann_345681_78901299_ps1.ipynb")
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
        elif kind == "device":
            info = zipfile.ZipInfo("leeann_345681_78901298_ps1.ipynb")
            info.create_system = 3
            info.external_attr = (0o020644 << 16)  # a character device
            archive.writestr(info, b"")
        elif kind == "bomb":  # 40 MiB of zeros in about 40 KiB: 1,000 times
            archive.writestr("leeann_345681_78901297_data.txt", b"\0" * (40 * 1024 * 1024))
        elif kind == "big":  # over the entry cap, declared honestly
            archive.writestr("leeann_345681_78901296_data.txt", b"\0" * (65 * 1024 * 1024))
        elif kind == "entries":
            for k in range(5_001):
                archive.writestr(f"leeann_345681_{k}_f{k}.txt", b"")
        elif kind == "not_utf8":
            info = zipfile.ZipInfo("x")
            archive.writestr(info, b"x")
    data = buffer.getvalue()
    if kind == "not_utf8":
        # Rewrite the entry name "x" as the byte 0xff (invalid UTF-8), flagged UTF-8.
        data = _rename_raw(data, b"x", b"\xff")
    if kind == "nested":
        inner = _zip([("leeann_345681_78901239_ps1.ipynb", notebook_bytes, ON_TIME)])
        middle = _zip([("submissions.zip", inner, ON_TIME)])
        data = _zip([("download.zip", middle, ON_TIME)])
    return data


def _rename_raw(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace a one-byte entry name in both the local and the central headers, and flag
    it UTF-8 (general purpose bit 11)."""
    out = bytearray(data)
    # (signature, offset of the name's length, offset of the name, offset of the flags)
    for signature, length_at, name_at, flags_at in ((b"PK\x03\x04", 26, 30, 6),
                                                    (b"PK\x01\x02", 28, 46, 8)):
        start = 0
        while True:
            at = out.find(signature, start)
            if at < 0:
                break
            name_len = int.from_bytes(out[at + length_at:at + length_at + 2], "little")
            if name_len == 1 and bytes(out[at + name_at:at + name_at + 1]) == old:
                out[at + name_at:at + name_at + 1] = new
                flags = int.from_bytes(out[at + flags_at:at + flags_at + 2], "little") | 0x800
                out[at + flags_at:at + flags_at + 2] = flags.to_bytes(2, "little")
            start = at + 4
    return bytes(out)


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False)
