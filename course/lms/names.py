"""Each LMS's naming rules for its submission downloads, parsed into :class:`Item`.

**Canvas** (``lib/content_zipper.rb``): the prefix is ``[sortable name, "LATE" if late,
user id]`` joined with ``_``, with every non-word character removed (Unicode letters
stay) and lower-cased; then ``_<attachment id>_<original file name>``. "Müller, José",
late, user 345678, attachment 78901236, ``ps1.ipynb`` gives
``müllerjosé_late_345678_78901236_ps1.ipynb``. Anonymous grading leaves the name out.
A text entry is ``<prefix>_text.html``, a URL ``<prefix>_link.html``; a file name that
occurs twice in one submission gets a suffix (``ps1-1.ipynb``).

**Moodle** (``mod/assign``): ``<Full Name>_<participant id>_assignsubmission_file_<file>``,
or a folder of that name per student; with blind marking the name is ``Participant``.
The participant id belongs to the assignment, so it is mapped to a person through the
grading worksheet downloaded with the submissions (``Identifier`` = ``Participant <id>``,
``Email address``, ``Full name``, ``Status``, ``Last modified (submission)``).

**Brightspace**: ``<id>-<id> - <First Last> - <Mon DD, YYYY HHMM AM> - <file>`` (the
second id is taken as the user's id), plus an ``index.html``.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from course.lms.archive import Entry

__all__ = ["Item", "LMSS", "detect", "parse", "read_worksheet", "canvas_name"]

LMSS = ("canvas", "moodle", "brightspace")


@dataclass
class Item:
    """One file of one student's submission, as the LMS named it."""

    entry: Entry
    file: str                       # the student's own file name
    lms_id: str = ""                # Canvas user id, Brightspace user id
    participant: str = ""           # Moodle participant id
    name: str = ""                  # the name as the LMS wrote it
    name_key: str = ""              # how names are compared (see canvas_name / person_key)
    submitted: datetime | None = None
    late: bool | None = None
    attempt: str = ""               # one student's attempts: the greatest is the latest
    order: str = ""                 # orders files within an attempt (later sorts last)
    kind: str = "file"              # file, text (an online text entry), link
    notes: list[str] = field(default_factory=list)


def canvas_name(text: str) -> str:
    """A name as Canvas writes it in file names: no non-word characters, lower case."""
    return re.sub(r"[^\w]|_", "", text, flags=re.UNICODE).lower()


def person_key(name: str) -> str:
    """A full name for comparing: accents kept, case, spaces and punctuation dropped."""
    return re.sub(r"[\W_]", "", unicodedata.normalize("NFC", name)).casefold()


_CANVAS = re.compile(r"^(?:(?P<name>[^\W_]+)_)?(?:(?P<late>late)_)?(?P<uid>\d+)_"
                     r"(?:(?P<aid>\d+)_(?P<file>.+)|(?P<kind>text|link)\.html)$", re.UNICODE)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>file|onlinetext)_"
                     r"(?P<file>.*)$")
_BRIGHTSPACE = re.compile(r"^(?P<sub>\d+)-(?P<uid>\d+) - (?P<name>.+?) - "
                          r"(?P<when>[A-Z][a-z]{2} \d{1,2}, \d{4} \d{3,4} [AP]M) - (?P<file>.+)$")


def detect(entries: list[Entry]) -> str | None:
    """Which LMS made these entries (most entries following its rules), or None."""
    scores = {lms: 0 for lms in LMSS}
    for entry in entries:
        flat = _moodle_flat(entry)
        if _MOODLE.match(flat):
            scores["moodle"] += 1
        if _BRIGHTSPACE.match(entry.basename):
            scores["brightspace"] += 1
        if not entry.folder and _CANVAS.match(entry.basename):
            scores["canvas"] += 1
    best = max(scores, key=scores.get)
    return best if scores[best] else None


def _moodle_flat(entry: Entry) -> str:
    # "Name_12_assignsubmission_file_/ps1.ipynb" (folders) reads as the flat form.
    if entry.folder and "_assignsubmission_" in entry.folder:
        return entry.folder.split("/")[0] + entry.name[len(entry.folder.split("/")[0]) + 1:]
    return entry.name


def parse(lms: str, entries: list[Entry]) -> tuple[list[Item], list[Entry]]:
    """The items of ``entries`` under ``lms``'s rules, and the entries that follow none."""
    items, unknown = [], []
    for entry in entries:
        item = {"canvas": _canvas, "moodle": _moodle, "brightspace": _brightspace}[lms](entry)
        if item is None:
            unknown.append(entry)
        else:
            items.append(item)
    return items, unknown


def _canvas(entry: Entry) -> Item | None:
    match = _CANVAS.match(entry.basename) if not entry.folder else None
    if not match:
        return None
    item = Item(entry, match["file"] or entry.basename, lms_id=match["uid"],
                name=match["name"] or "", name_key=match["name"] or "",
                late=bool(match["late"]), submitted=entry.modified,
                # A Canvas download holds each student's latest submission only; its files
                # are ordered by attachment id (a later upload has a greater one).
                order=f"{int(match['aid'] or 0):020d}", kind=match["kind"] or "file")
    return item


def _moodle(entry: Entry) -> Item | None:
    match = _MOODLE.match(_moodle_flat(entry))
    if not match:
        return None
    kind = "file" if match["plugin"] == "file" else "text"
    name = match["name"]
    return Item(entry, match["file"].lstrip("/") or entry.basename, participant=match["pid"],
                name="" if name == "Participant" else name,
                name_key="" if name == "Participant" else person_key(name),
                submitted=entry.modified, kind=kind,
                order=entry.modified.isoformat() if entry.modified else "")


def _brightspace(entry: Entry) -> Item | None:
    if entry.basename.lower() == "index.html" and not entry.folder:
        return None
    match = _BRIGHTSPACE.match(entry.basename)
    if not match:
        return None
    try:
        when = datetime.strptime(match["when"], "%b %d, %Y %I%M %p")
    except ValueError:
        when = None
    return Item(entry, match["file"], lms_id=match["uid"], name=match["name"],
                name_key=person_key(match["name"]), submitted=when,
                attempt=(when.isoformat() if when else "") + f"-{int(match['sub']):012d}",
                order=entry.name)


@dataclass(frozen=True)
class WorksheetRow:
    participant: str
    name: str
    email: str
    status: str
    modified: datetime | None


_MOODLE_TIME = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M")


def read_worksheet(data: bytes) -> dict[str, WorksheetRow]:
    """Moodle's grading worksheet: participant id -> its row."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    needed = {"Identifier", "Full name", "Email address"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise ValueError(f"--worksheet: expected Moodle's grading worksheet with the columns "
                         f"{', '.join(sorted(needed))}; found {reader.fieldnames}")
    rows = {}
    for row in reader:
        match = re.fullmatch(r"Participant (\d+)", (row.get("Identifier") or "").strip())
        if not match:
            continue
        modified = None
        for form in _MOODLE_TIME:
            try:
                modified = datetime.strptime((row.get("Last modified (submission)") or "").strip(), form)
                break
            except ValueError:
                pass
        rows[match[1]] = WorksheetRow(match[1], row["Full name"].strip(),
                                      row["Email address"].strip(),
                                      (row.get("Status") or "").strip(), modified)
    return rows
