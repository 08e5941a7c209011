"""The course directory as a batch reads it: settings, gradebook, records, results.

Everything here runs on the machine that holds the course (the *coordinator*); the
grading processes and the cluster's workers get what they need from it
(:mod:`.process`, :mod:`.bundle`).

The settings come from the course's ``nbgrader_config.py`` with the command line's
``--Class.trait=value`` options on top, as nbgrader itself reads them: the gradebook is
``CourseDirectory.db_url`` and the grading records are ``Sandboxing.records`` wherever
they are configured, not fixed paths under the course directory.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["THREAD_VARIABLES", "GradeResult", "Settings", "already_graded", "checksum",
           "ensure_students", "environment", "find_root", "gradebook", "last_error", "limits_hit",
           "mark_graded", "scores", "with_retries"]

#: What SQLite says when another process holds the gradebook's write lock.
LOCKED = "database is locked"
#: Extra attempts after a "database is locked", the same for every way of grading.
RETRIES = 5
#: Libraries that size their thread pools by the number of cores (PyTorch's OpenMP, the BLAS).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The record of the last successful grading of a submission, beside its grading records.
GRADED = "_graded.json"

T = TypeVar("T")


@dataclass
class GradeResult:
    """Outcome of grading one student's submission."""

    student: str
    returncode: int
    score: float = 0.0
    max_score: float = 0.0
    grades: dict[str, float] = field(default_factory=dict)  # grade cell id -> points
    message: str = ""
    seconds: float = 0.0  # wall time of its grading (on the worker, for a cluster)
    attempts: int = 1
    limits: list[str] = field(default_factory=list)  # limits the submission hit
    refused: list[str] = field(default_factory=list)  # entries of its folder not taken in
    peak_mib: float = 0.0  # the grading process's peak resident memory after this submission
    worker: str = ""  # the cluster worker that graded it ("" on this machine)
    skipped: bool = False  # already graded, unchanged since: not graded again
    record_seconds: float = 0.0  # the coordinator's time to record what a worker returned

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_root(root: str | os.PathLike | None) -> Path:
    """The course directory: ``root`` or the current directory, holding nbgrader_config.py."""
    path = Path(root or os.getcwd()).resolve()
    if not (path / "nbgrader_config.py").is_file():
        raise SystemExit(f"no nbgrader_config.py in {path}: run from the course directory or "
                         "pass --root")
    return path


def scripts_folder() -> str:
    """The folder of this Python's scripts (``alembic``, ``nbgrader``, ``dask``)."""
    return os.path.dirname(sys.executable)


def _with_scripts(path: str) -> str:
    parts = [p for p in path.split(os.pathsep) if p]
    return os.pathsep.join([scripts_folder(), *[p for p in parts if p != scripts_folder()]])


def environment(root: str | os.PathLike, threads: int | None = None) -> dict[str, str]:
    """The environment of nbgrader and its kernels, for a child process.

    nbgrader runs the ``alembic`` script by name: a venv used without activation
    (``.venv/bin/course-admin``, CI) does not have its scripts folder on ``PATH``, so
    the child gets it first. The grading kernels must import ``course`` even where it
    is not pip-installed: ``root`` goes on ``PYTHONPATH``. With ``threads``, the
    kernels' thread pools get that many threads (unless the caller set the variables):
    ``jobs`` kernels side by side, each with a pool as large as the machine, lose a
    fifth of their time competing for the cores.
    """
    env = dict(os.environ)
    env["PATH"] = _with_scripts(env.get("PATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    if threads is not None:
        for variable in THREAD_VARIABLES:
            env.setdefault(variable, str(threads))
    return env


@contextlib.contextmanager
def scripts_on_path() -> Iterator[None]:
    """This process's ``PATH`` with the scripts folder, for as long as the block runs.

    nbgrader's ``Gradebook`` runs ``alembic heads`` by name when it creates a new
    database file.
    """
    before = os.environ.get("PATH")
    os.environ["PATH"] = _with_scripts(before or "")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = before


@contextlib.contextmanager
def gradebook(db_url: str, course_id: str | None = None):
    """nbgrader's ``Gradebook`` on ``db_url``, closed at the end of the block."""
    from nbgrader.api import Gradebook

    with scripts_on_path():
        book = Gradebook(db_url, course_id) if course_id else Gradebook(db_url)
    try:
        yield book
    finally:
        book.close()


def load_config(root: Path, extra: Sequence[str] = ()):
    """The course's nbgrader_config.py with the ``--Class.trait=value`` options on top."""
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if extra:
        config.merge(KVArgParseConfigLoader(list(extra)).load_config())
    return config


@dataclass(frozen=True)
class Settings:
    """Where the course's grading output lives, as configured."""

    root: Path
    config: object  # traitlets.config.Config
    db_url: str
    course_id: str
    records: Path  # the grading records: Sandboxing.records, or ROOT/grading_records

    @classmethod
    def load(cls, root: Path, extra: Sequence[str] = ()) -> Settings:
        config = load_config(root, extra)
        coursedir = _coursedir(config, root)
        # Sandboxing.records (course.grading.runner.autograde), a string that defaults to ""
        records = Path(config.Sandboxing.get("records") or root / "grading_records")
        if not records.is_absolute():  # nbgrader runs with the course directory as cwd
            records = root / records
        return cls(root, config, coursedir.db_url, coursedir.course_id, records)

    def coursedir(self):
        """nbgrader's ``CourseDirectory`` under these settings."""
        return _coursedir(self.config, self.root)

    def record_folder(self, assignment: str, student: str) -> Path:
        return self.records / assignment / student


def _coursedir(config, root: Path):
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    if "root" not in config.CourseDirectory:
        coursedir.root = str(root)
    return coursedir


def last_error(output: str) -> str:
    """The most telling line of nbgrader's log for a failed run."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in ("[ERROR]", "| ERROR]", "Error:", "Error"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else "no output"


def with_retries(action: Callable[[], T], problem: Callable[[T], str] = lambda _: "",
                 retries: int = RETRIES) -> tuple[T, int]:
    """Run ``action``, again while SQLite says the gradebook is locked; (value, attempts).

    A locked gradebook shows either as an exception or, for nbgrader's API, as a
    failed outcome whose text ``problem`` returns. Every way of grading (the local
    grading processes, the cluster's workers and the coordinator's recording) retries
    this way: up to ``retries`` more attempts, pausing 0.5 s, 1 s, 1.5 s, ...
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            value = action()
        except Exception as error:
            if LOCKED not in str(error) or attempt > retries:
                raise
        else:
            if LOCKED not in (problem(value) or "") or attempt > retries:
                return value, attempt
        time.sleep(0.5 * attempt)


def ensure_students(settings: Settings, students: Sequence[str]) -> None:
    """Add missing students to the gradebook before any parallel process writes to it."""
    from nbgrader.api import MissingEntry

    def add() -> None:
        with gradebook(settings.db_url) as gb:
            for student in students:
                try:
                    gb.find_student(student)
                except MissingEntry:
                    gb.add_student(student)

    with_retries(add)


def scores(root=None, assignment: str = "", students: Sequence[str] | None = None
           ) -> dict[str, tuple[float, float, dict[str, float]]]:
    """(score, max_score, {grade id: points}) per student from the configured gradebook."""
    from nbgrader.api import MissingEntry

    settings = Settings.load(find_root(root))
    out = {}
    with gradebook(settings.db_url) as gb:
        for student in students if students is not None else [s.id for s in gb.students]:
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            grades = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grades[grade.name] = float(grade.score or 0.0)
            out[student] = (float(submission.score or 0.0), float(submission.max_score or 0.0),
                            grades)
    return out


def limits_hit(settings: Settings, assignment: str, student: str) -> list[str]:
    """The limits a submission hit, from the judge's records of its notebooks."""
    cells: dict[str, list] = {}  # limit -> the cells where it was hit, in order
    folder = settings.record_folder(assignment, student)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in paths:
        if path.name.startswith("_"):  # the intake's and the batch's own notes
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for hit in record.get("limits", []) if isinstance(record, dict) else ():
            where = cells.setdefault(str(hit.get("limit")), [])
            if hit.get("cell") not in where:
                where.append(hit.get("cell"))
    found = []
    for limit, where in cells.items():
        numbered = [str(cell) for cell in where if cell is not None]
        if not numbered:
            found.append(limit)
        elif len(numbered) == 1:
            found.append(f"{limit} in cell {numbered[0]}")
        else:
            more = f" and {len(numbered) - 3} more" if len(numbered) > 3 else ""
            found.append(f"{limit} in cells {', '.join(numbered[:3])}{more}")
    return found


def checksum(folder: Path) -> str:
    """sha256 of a staged submission: every file's relative path and bytes, in order.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "a.txt").write_text("x")
    ...     checksum(Path(tmp))[:12]
    'd1182e870be3'
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        name = path.relative_to(folder).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def mark_graded(settings: Settings, assignment: str, student: str, digest: str,
                worker: str = "") -> None:
    """Note that the submission with checksum ``digest`` is graded and in the gradebook.

    Written after the gradebook, atomically: a coordinator stopped in between grades
    that submission again on its next run.
    """
    folder = settings.record_folder(assignment, student)
    folder.mkdir(parents=True, exist_ok=True)
    note = {"checksum": digest, "graded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "worker": worker}
    partial = folder / (GRADED + ".partial")
    partial.write_text(json.dumps(note, indent=1))
    os.replace(partial, folder / GRADED)


def already_graded(settings: Settings, assignment: str, students: Sequence[str],
                   digests: dict[str, str]) -> set[str]:
    """The students whose submission, unchanged (same checksum), is in the gradebook."""
    from nbgrader.api import MissingEntry

    noted = set()
    for student in students:
        try:
            note = json.loads((settings.record_folder(assignment, student) / GRADED).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(note, dict) and note.get("checksum") == digests.get(student):
            noted.add(student)
    if not noted:
        return set()
    done = set()
    with gradebook(settings.db_url) as gb:
        for student in noted:
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            done.add(student)
    return done
