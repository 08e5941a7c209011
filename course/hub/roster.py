"""The class list: who may log in to the course server, and as what.

``roster.csv`` has one row per person and the header ``username,name,email,role``:

- ``username``: the login name, which is also the person's Unix account on the course
  server and their student id in the gradebook: 1-32 characters, lowercase letters,
  digits, ``_`` and ``-``, starting with a letter (what ``useradd`` and nbgrader accept);
- ``name``: the full name, shown in the formgrader ("First Last": the last word is the
  last name);
- ``email``: optional;
- ``role``: ``instructor`` or ``student``;
- optional columns after those: ``lms_id`` (the person's user id in the LMS: Canvas's
  ``ID``, Brightspace's user id) and ``sis_id`` (the institution's id: Canvas's ``SIS
  User ID``, Brightspace's ``OrgDefinedId``), which the LMS round trip matches on
  (:mod:`course.lms`).

The same file creates the accounts (:mod:`course.hub.accounts`), fills the gradebook's
students and tells the exchange who may release and collect (:mod:`course.hub.service`).
``hub/roster.example.csv`` is a filled-in example.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COLUMNS", "Member", "Roster", "RosterError", "USERNAME"]

COLUMNS = ("username", "name", "email", "role")
OPTIONAL = ("lms_id", "sis_id")
ROLES = ("instructor", "student")
USERNAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+")
_MAX_ROWS = 20_000


class RosterError(ValueError):
    """A roster that cannot be used, with the line and the column at fault."""


@dataclass(frozen=True)
class Member:
    username: str
    name: str
    email: str
    role: str
    lms_id: str = ""
    sis_id: str = ""

    @property
    def first_name(self) -> str:
        return self.name.rsplit(" ", 1)[0] if " " in self.name else self.name

    @property
    def last_name(self) -> str:
        return self.name.rsplit(" ", 1)[1] if " " in self.name else ""


@dataclass(frozen=True)
class Roster:
    members: tuple[Member, ...]

    @classmethod
    def read(cls, path: str | Path) -> "Roster":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise RosterError(f"roster: no file at {path} (copy hub/roster.example.csv and "
                              "edit it)") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, where: str = "roster") -> "Roster":
        rows = list(csv.reader(io.StringIO(text)))
        header = tuple(c.strip().lower() for c in rows[0]) if rows else ()
        extra = header[len(COLUMNS):]
        if header[:len(COLUMNS)] != COLUMNS or any(c not in OPTIONAL for c in extra) \
                or len(set(extra)) != len(extra):
            raise RosterError(f"{where}: line 1 must be the header {','.join(COLUMNS)!r}, "
                              f"optionally followed by {' and/or '.join(OPTIONAL)}; found "
                              f"{','.join(rows[0]) if rows else 'an empty file'!r}")
        if len(rows) > _MAX_ROWS:
            raise RosterError(f"{where}: {len(rows) - 1} rows; at most {_MAX_ROWS} are read")
        members, seen = [], {}
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise RosterError(f"{where}: line {line} has {len(row)} columns, expected "
                                  f"{len(header)} ({','.join(header)})")
            username, name, email, role = (cell.strip() for cell in row[:len(COLUMNS)])
            ids = {column: row[k].strip() for k, column in enumerate(header) if column in OPTIONAL}
            if not USERNAME.fullmatch(username):
                raise RosterError(
                    f"{where}: line {line}, username {username!r}: expected 1-32 lowercase "
                    "letters, digits, '_' or '-', starting with a letter")
            if username in seen:
                raise RosterError(f"{where}: line {line}, username {username!r} is already on "
                                  f"line {seen[username]}")
            if not name or any(ord(ch) < 32 for ch in name) or len(name) > 200:
                raise RosterError(f"{where}: line {line}, name: expected the person's name "
                                  "(1-200 printable characters)")
            if email and not _EMAIL.fullmatch(email):
                raise RosterError(f"{where}: line {line}, email {email!r}: expected an address "
                                  "like name@example.edu, or nothing")
            if role.lower() not in ROLES:
                raise RosterError(f"{where}: line {line}, role {role!r}: expected 'instructor' "
                                  "or 'student'")
            seen[username] = line
            members.append(Member(username, name, email, role.lower(), **ids))
        if not any(m.role == "instructor" for m in members):
            raise RosterError(f"{where}: no instructor; at least one row needs the role "
                              "'instructor'")
        return cls(tuple(members))

    @property
    def instructors(self) -> list[Member]:
        return [m for m in self.members if m.role == "instructor"]

    @property
    def students(self) -> list[Member]:
        return [m for m in self.members if m.role == "student"]

    def role(self, username: str) -> str | None:
        for member in self.members:
            if member.username == username:
                return member.role
        return None
