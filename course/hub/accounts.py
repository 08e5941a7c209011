"""The course server's accounts and permissions, made from the roster (run as root).

- Every person on the roster gets a Unix account of their username, with a home folder
  only they can open (mode 0700), in the group ``<course>-students`` or
  ``<course>-instructors``. A new account gets a random password (PAM checks it at
  login); the passwords made in a run are written to ``<state>/passwords.csv`` (mode
  0600, root's) for the instructor to hand out. Existing accounts keep theirs.
- The exchange service runs as ``<course>-exchange``, a system account with no login,
  and is the only owner of its folder.
- The course folder's private parts (``source/`` with the solutions, the gradebook,
  ``submitted/``, ``autograded/``, ``feedback/``, ``grading_records/``, ``heldout/``,
  ``reports/``, ``.git``) belong to the instructors' group and nobody else; the course folder itself
  can be crossed (``release/``, the ``course`` package and ``.venv`` stay readable,
  which the students' servers need) but not listed by students.
- The gradebook's students are the roster's students (names and emails included).
"""
from __future__ import annotations

import csv
import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from course.hub.roster import Roster

__all__ = ["PRIVATE", "Accounts", "sync_gradebook"]

# What in the course folder only instructors may read or write.
PRIVATE = ("source", "submitted", "autograded", "feedback", "grading_records", "heldout",
           "reports", "gradebook.db", ".git")
# What instructors must be able to write (nbgrader creates the rest).
WRITABLE = ("release",)


class Accounts:
    def __init__(self, course_id: str, state: Path):
        self.course_id = course_id
        self.state = Path(state)
        self.students_group = f"{course_id}-students"
        self.instructors_group = f"{course_id}-instructors"
        self.exchange_user = f"{course_id}-exchange"

    @staticmethod
    def exists(name: str) -> bool:
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    @staticmethod
    def _group_exists(name: str) -> bool:
        try:
            grp.getgrnam(name)
            return True
        except KeyError:
            return False

    def _run(self, *argv: str, stdin: str | None = None) -> None:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")

    def ensure(self, roster: Roster, reset_passwords: bool = False) -> dict[str, str]:
        """Create what is missing; the passwords set in this run, by username."""
        for group in (self.students_group, self.instructors_group):
            if not self._group_exists(group):
                self._run("groupadd", group)
        if not self.exists(self.exchange_user):
            self._run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                      self.exchange_user)
        passwords = {}
        for member in roster.members:
            group = self.instructors_group if member.role == "instructor" else self.students_group
            if not self.exists(member.username):
                self._run("useradd", "--create-home", "--shell", "/bin/bash", "--comment",
                          member.name.replace(":", " "), "--gid", group, member.username)
                passwords[member.username] = None
            else:
                self._run("usermod", "--gid", group, member.username)
            if member.username in passwords or reset_passwords:
                passwords[member.username] = secrets.token_urlsafe(9)
            account = pwd.getpwnam(member.username)
            os.chmod(account.pw_dir, 0o700)
            _quiet_lab(Path(account.pw_dir), account.pw_uid, account.pw_gid)
        if passwords:
            self._run("chpasswd", stdin="".join(f"{u}:{p}\n" for u, p in passwords.items()))
            self._write_passwords(roster, passwords)
        return passwords

    def _write_passwords(self, roster: Roster, passwords: dict[str, str]) -> Path:
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.state / "passwords.csv"
        old = {}
        if path.exists():
            with path.open() as handle:
                old = {row["username"]: row for row in csv.DictReader(handle)}
        for member in roster.members:
            if member.username in passwords:
                old[member.username] = {"username": member.username, "name": member.name,
                                        "email": member.email,
                                        "password": passwords[member.username]}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["username", "name", "email", "password"])
            writer.writeheader()
            writer.writerows(old.values())
        return path

    def exchange_folder(self) -> Path:
        folder = self.state / "exchange"
        folder.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwnam(self.exchange_user)
        os.chown(folder, user.pw_uid, user.pw_gid)
        os.chmod(folder, 0o700)
        return folder

    def protect_course(self, root: Path) -> None:
        """Instructors own the course folder's private parts; students can only cross it."""
        gid = grp.getgrnam(self.instructors_group).gr_gid
        root = Path(root)
        os.chown(root, -1, gid)
        os.chmod(root, 0o2771)
        for name in PRIVATE + WRITABLE:
            path = root / name
            if not path.exists() and name in ("submitted", "autograded", "feedback",
                                              "grading_records", "reports", "release"):
                path.mkdir()
            if not path.exists():
                continue
            private = name in PRIVATE
            for entry in [path, *(path.rglob("*") if path.is_dir() else [])]:
                if entry.is_symlink():
                    continue
                os.chown(entry, -1, gid)
                mode = stat.S_IMODE(entry.stat().st_mode)
                if entry.is_dir():
                    mode |= 0o2770
                    mode = mode & ~0o007 if private else mode | 0o005
                else:
                    mode |= 0o660
                    mode = mode & ~0o007 if private else mode | 0o004
                os.chmod(entry, mode)

    def remove(self, roster: Roster) -> None:
        """Delete the roster's accounts and homes, the exchange account and the groups."""
        for member in roster.members:
            if self.exists(member.username):
                subprocess.run(["pkill", "-KILL", "-u", member.username], capture_output=True)
                self._run("userdel", "--remove", member.username)
        if self.exists(self.exchange_user):
            subprocess.run(["pkill", "-KILL", "-u", self.exchange_user], capture_output=True)
            self._run("userdel", self.exchange_user)
        for group in (self.students_group, self.instructors_group):
            if self._group_exists(group):
                self._run("groupdel", group)
        shutil.rmtree(self.state / "exchange", ignore_errors=True)


def _quiet_lab(home: Path, uid: int, gid: int) -> None:
    """JupyterLab's news toast off: the course server asks nothing of the internet."""
    folder = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    path = folder / "notification.jupyterlab-settings"
    if path.exists():
        return
    made = []
    for part in [folder, *folder.parents]:
        if part == home:
            break
        if not part.exists():
            made.append(part)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text('{"fetchNews": "false", "checkForUpdates": false}\n')
    for entry in [path, *made]:
        os.chown(entry, uid, gid)


def sync_gradebook(db_url: str, course_id: str, roster: Roster) -> int:
    """Add or update the roster's students in the gradebook; how many there are."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        for member in roster.students:
            gb.update_or_create_student(member.username, first_name=member.first_name,
                                        last_name=member.last_name, email=member.email or None)
    return len(roster.students)



def closed_folders(paths) -> list[Path]:
    """Folders on the way to ``paths`` that other accounts cannot cross (no ``o+x``).

    Every user's server runs the course's Python, its packages and this repository's
    ``course`` package: each folder from ``/`` down to them must be crossable. A Python
    installed under ``/root`` (pyenv's default as root) is not.
    """
    closed = []
    for path in paths:
        path = Path(path).resolve()
        for folder in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH and folder not in closed:
                closed.append(folder)
    return closed


def open_folders(folders) -> None:
    """Let other accounts cross ``folders`` (``chmod o+x``: not list, not read)."""
    for folder in folders:
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | stat.S_IXOTH)
