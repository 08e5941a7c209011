"""What the report reads: the course's settings, the grading records, the gradebook, the notebooks.

Nothing here grades. The judge's records (``grading_records/<assignment>/<student>/
<notebook>.json``, written by :class:`course.grading.runner.autograde.JudgeTestCells`) give each
test cell's verdict, the limits a submission hit and the seconds its notebook and its
judging took; nbgrader's gradebook gives the scores and which cells are solution cells;
the autograded notebooks (else the submitted ones) give the code students wrote; the
release gives the code they were handed. Everything is read into the plain dataclasses
below, which the rest of the report works on (and the tests build by hand).

A student's id, their code and every verdict's message come from the student: they
are kept as plain strings here and escaped where the page shows them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .verdicts import Accuracy, Failure, read_accuracy, read_verdict

__all__ = ["ClassRecords", "Course", "LimitHit", "Submission", "TaskVerdict", "collect",
           "solution_sources"]

RECORD_BYTES = 8 * 1024 * 1024  # a record is a few kB; anything larger is not read
NOTEBOOK_BYTES = 16 * 1024 * 1024  # the intake's limit on a submitted notebook
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"  # nbgrader's Exchange.root when none is set


@dataclass(frozen=True)
class Course:
    """Where a course keeps what the report reads, and where it must never write."""

    root: Path
    records: Path
    """The folder of the grading records (``Sandboxing.records``; default grading_records/)."""
    db_url: str
    release: Path
    autograded: Path
    submitted: Path
    feedback: Path
    budget: float | None
    """Seconds of wall-clock time per submission (``Sandboxing.budget``; None: not set in the
    config, the grader's default applies)."""
    exchange: tuple[Path, ...]
    """Exchange folders: nbgrader's ``Exchange.root``, the hub's ``COURSE_EXCHANGE_ROOT``
    and the course's own exchange/ folder."""

    @classmethod
    def read(cls, root: str | os.PathLike, records: str | os.PathLike | None = None) -> Course:
        """The settings of the course at ``root`` (its nbgrader_config.py), ``records`` overriding
        ``Sandboxing.records``."""
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        config = Config()
        if (root / "nbgrader_config.py").is_file():
            config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        coursedir = CourseDirectory(config=config)
        coursedir.root = str(root)
        # Sandboxing's settings (course.grading.runner.autograde), read from the config alone
        sandboxing = config.Sandboxing
        folder = str(records) if records else str(sandboxing.get("records") or "")
        folder = Path(folder) if folder else root / "grading_records"
        if not folder.is_absolute():
            folder = root / folder
        db_url = coursedir.db_url or f"sqlite:///{root / 'gradebook.db'}"
        exchange = [Path(config.Exchange.root) if "root" in config.Exchange
                    else Path(DEFAULT_EXCHANGE), root / "exchange"]
        if os.environ.get("COURSE_EXCHANGE_ROOT"):
            exchange.append(Path(os.environ["COURSE_EXCHANGE_ROOT"]))

        def below(name: str) -> Path:
            return root / getattr(coursedir, name)

        return cls(root=root, records=folder.resolve(), db_url=db_url,
                   release=below("release_directory"), autograded=below("autograded_directory"),
                   submitted=below("submitted_directory"), feedback=below("feedback_directory"),
                   budget=_number(sandboxing.get("budget")),
                   exchange=tuple(p.resolve() for p in exchange))

    def gradebook_file(self) -> Path | None:
        """The SQLite file of the gradebook, when ``db_url`` names one."""
        match = re.match(r"sqlite:///(.+)", self.db_url)
        return Path(match.group(1)) if match else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


@dataclass(frozen=True)
class LimitHit:
    """One limit a submission hit while its notebook ran (see
    :mod:`course.grading.runner.sandbox`)."""

    limit: str
    """Which limit: "memory", "time", "output", "processes", "disk", "budget", ..."""
    cell: int | None
    """Index of the notebook cell where it was hit (None: the submission as a whole)."""
    text: str = ""
    """The grader's note on it."""


@dataclass(frozen=True)
class TaskVerdict:
    """The judge's verdict on one test cell of one submission."""

    cell: str
    """The grade id of the test cell ("test_correlate2d")."""
    passed: bool
    message: str
    failure: Failure | None = None
    """The failing case and named mistake (None when it passed)."""
    accuracy: Accuracy | None = None
    """The judged accuracy of a trained network (ps4, ps5), when the verdict reports one."""


@dataclass
class Submission:
    """One student's graded submission of the assignment."""

    student: str
    score: float | None = None
    """Points in the gradebook (None: the gradebook has no submission for this student)."""
    max_score: float | None = None
    verdicts: dict[str, TaskVerdict] = field(default_factory=dict)
    limits: list[LimitHit] = field(default_factory=list)
    ended: str = ""
    """Why the notebook's run ended early ("budget", ...), empty when it ran to the end."""
    notebook_seconds: float | None = None
    """Seconds the notebook ran in its sandbox (all its notebooks; None: no record)."""
    judge_seconds: float | None = None
    """Seconds the judge took on its test cells."""
    records: int = 0
    """Grading records read for it (one per notebook)."""
    late_penalty: float = 0.0

    @property
    def seconds(self) -> float | None:
        if self.notebook_seconds is None and self.judge_seconds is None:
            return None
        return (self.notebook_seconds or 0.0) + (self.judge_seconds or 0.0)


@dataclass
class ClassRecords:
    """Everything the report shows, for one assignment."""

    assignment: str
    submissions: list[Submission]
    tasks: list[str]
    """The judged test cells, in the notebook's order."""
    points: dict[str, float] = field(default_factory=dict)
    """Points of every graded cell (from the gradebook)."""
    max_score: float | None = None
    code: dict[str, dict[str, str]] = field(default_factory=dict)
    """student -> solution cell -> the student's source of it (see :func:`solution_sources`)."""
    boilerplate: list[str] = field(default_factory=list)
    """The code cells of the release: what every student was handed."""
    given: dict[str, str] = field(default_factory=dict)
    """solution cell -> its source in the release."""
    notes: list[str] = field(default_factory=list)
    """What could not be read, for the page to say."""


# --------------------------------------------------------------------------------------
# Grading records
def _read_json(path: Path):
    if path.is_symlink() or not path.is_file() or path.stat().st_size > RECORD_BYTES:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _seconds(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value >= 0 else None


def _add_record(submission: Submission, record: dict) -> None:
    """Merge one notebook's record into the student's submission."""
    submission.records += 1
    seconds = record.get("seconds") if isinstance(record.get("seconds"), dict) else {}
    for name, attribute in (("notebook", "notebook_seconds"), ("judge", "judge_seconds")):
        value = _seconds(seconds.get(name))
        if value is not None:
            setattr(submission, attribute, (getattr(submission, attribute) or 0.0) + value)
    for hit in record.get("limits") or []:
        if isinstance(hit, dict):
            cell = hit.get("cell")
            submission.limits.append(LimitHit(str(hit.get("limit", "unknown")),
                                              cell if type(cell) is int else None,
                                              str(hit.get("text", ""))))
    if isinstance(record.get("ended"), str) and record["ended"]:
        submission.ended = record["ended"]
    verdicts = record.get("verdicts") if isinstance(record.get("verdicts"), dict) else {}
    for cell, verdict in verdicts.items():
        if not isinstance(verdict, dict):
            continue
        passed = verdict.get("passed") is True
        message = verdict.get("message") if isinstance(verdict.get("message"), str) else ""
        failure = None if passed else read_verdict(message)
        named = verdict.get("mistake")
        if failure is not None and isinstance(named, str):
            # records written since the judge says which mistake it named: trust that, not
            # a "Likely mistake" line that the student's own exception text could imitate
            failure = (dataclasses.replace(failure, after_exception=False) if named
                       else dataclasses.replace(failure, mistake="", mistake_text="",
                                                after_exception=False))
        submission.verdicts[str(cell)] = TaskVerdict(str(cell), passed, message, failure,
                                                     read_accuracy(message))


def read_records(folder: Path, assignment: str) -> tuple[dict[str, Submission], list[str]]:
    """{student: Submission with its verdicts, limits and times} from the records folder."""
    found: dict[str, Submission] = {}
    notes = []
    base = folder / assignment
    if not base.is_dir():
        return found, [f"no grading records in {base}"]
    for student_folder in sorted(base.iterdir()):
        if student_folder.is_symlink() or not student_folder.is_dir():
            continue
        submission = Submission(student_folder.name)
        for path in sorted(student_folder.glob("*.json")):
            if path.name.startswith("_"):
                continue  # _intake.json: what the intake took in, not a verdict
            record = _read_json(path)
            if not isinstance(record, dict):
                notes.append(f"a grading record could not be read: {path.relative_to(folder)}")
                continue
            _add_record(submission, record)
        if submission.records:
            found[submission.student] = submission
    return found, notes


# --------------------------------------------------------------------------------------
# The gradebook
def read_gradebook(db_url: str, assignment: str):
    """(scores, points, max score, solution cells) of ``assignment`` from nbgrader's gradebook.

    ``scores`` maps a student to (score, max score, late penalty); ``points`` every graded
    cell to its points; ``solution cells`` each notebook to the names of its solution cells.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from course.batch.coursedir import scripts_on_path

    scores, points, solutions = {}, {}, {}
    # nbgrader runs the `alembic` script by name: it lies beside this Python, which an
    # unactivated venv does not put on PATH; it is there while the gradebook is open, and
    # this process's PATH is as it was afterwards
    with scripts_on_path(), Gradebook(db_url) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            return scores, points, None, solutions
        for notebook in found.notebooks:
            for cell in notebook.grade_cells:
                points[cell.name] = float(cell.max_score or 0.0)
            solutions[notebook.name] = [cell.name for cell in notebook.solution_cells]
        for submission in found.submissions:
            scores[submission.student_id] = (float(submission.score or 0.0),
                                             float(submission.max_score or 0.0),
                                             float(submission.late_submission_penalty or 0.0))
        return scores, points, float(found.max_score or 0.0), solutions


# --------------------------------------------------------------------------------------
# Notebooks
def _read_notebook(path: Path):
    if path.is_symlink() or not path.is_file() or path.stat().st_size > NOTEBOOK_BYTES:
        return None
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a student's file: anything may be wrong with it
        return None


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
    value = meta.get("grade_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def solution_sources(nb, solution_ids: list[str]) -> list[tuple[str, str]]:
    """(grade id, source) of the notebook's code cells that are solution cells, in order.

    Cells are matched by grade id to the solution cells the gradebook (or the release)
    names, so a student cannot add or hide a cell by editing its metadata; a grade id
    that appears twice counts once (the first).
    """
    wanted, seen, found = set(solution_ids), set(), []
    for cell in getattr(nb, "cells", []) or []:
        gid = _grade_id(cell)
        if gid in wanted and gid not in seen and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            found.append((gid, source if isinstance(source, str) else ""))
            seen.add(gid)
    return found


def release_solution_ids(nb) -> list[str]:
    """Grade ids of the solution cells of a release notebook (instructor's metadata)."""
    return [gid for cell in nb.cells if (gid := _grade_id(cell))
            and cell.metadata.get("nbgrader", {}).get("solution")]


def _cell_key(notebook: str, gid: str, several: bool) -> str:
    return f"{notebook}: {gid}" if several else gid


def _code_of(course: Course, assignment: str, student: str,
             notebooks: dict[str, list[str]]) -> dict[str, str]:
    """{solution cell: the student's source} over the assignment's notebooks."""
    cells = {}
    for name, ids in sorted(notebooks.items()):
        nb = None
        for base in (course.autograded, course.submitted):
            nb = _read_notebook(base / student / assignment / f"{name}.ipynb")
            if nb is not None:
                break
        for gid, source in solution_sources(nb, ids) if nb is not None else ():
            cells[_cell_key(name, gid, len(notebooks) > 1)] = source
    return cells


# --------------------------------------------------------------------------------------
def collect(course: Course, assignment: str) -> ClassRecords:
    """Read the records, the gradebook and the notebooks of ``assignment``.

    Raises
    ------
    ValueError
        When neither grading records nor a gradebook entry of ``assignment`` exist.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", assignment) or assignment in (".", ".."):
        raise ValueError(f"`assignment` must be a folder name such as ps1, got {assignment!r}")
    notes: list[str] = []
    found, record_notes = read_records(course.records, assignment)
    notes += record_notes
    scores, points, max_score, solutions = {}, {}, None, {}
    db = course.gradebook_file()
    if db is None or db.is_file():
        scores, points, max_score, solutions = read_gradebook(course.db_url, assignment)
    else:
        notes.append(f"no gradebook at {db}")
    if not found and not scores:
        raise ValueError(f"nothing to report for {assignment!r}: no grading records in "
                         f"{course.records / assignment} and no graded submission in the "
                         "gradebook; grade it first (course-admin autograde "
                         f"{assignment})")
    for student, (score, top, penalty) in scores.items():
        submission = found.setdefault(student, Submission(student))
        submission.score, submission.max_score, submission.late_penalty = score, top, penalty
    missing = sorted(s for s, sub in found.items() if not sub.records)
    if missing:
        notes.append(f"{len(missing)} graded submission(s) have no grading record (graded "
                     "before the judge kept records, or the records folder is another one)")
    # the release: the order of the cells, the boilerplate and (without a gradebook) the
    # solution cells
    release_cells: list[str] = []
    boilerplate: list[str] = []
    given: dict[str, str] = {}
    folder = course.release / assignment
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    released = {path.stem: nb for path in paths if (nb := _read_notebook(path)) is not None}
    for name, nb in released.items():
        release_cells += [gid for cell in nb.cells if (gid := _grade_id(cell))]
        boilerplate += [cell.source for cell in nb.cells if cell.cell_type == "code"]
        solutions.setdefault(name, release_solution_ids(nb))
    for name, nb in released.items():
        for gid, source in solution_sources(nb, solutions[name]):
            given[_cell_key(name, gid, len(solutions) > 1)] = source
    if not boilerplate:
        notes.append(f"no release notebook in {folder}: the code handed out is not subtracted "
                     "from the comparison of submissions")
    judged = {cell for sub in found.values() for cell in sub.verdicts}
    order = {gid: index for index, gid in enumerate(release_cells)}
    tasks = sorted(judged, key=lambda c: (order.get(c, len(order)), c))
    code = {student: _code_of(course, assignment, student, solutions) for student in found}
    submissions = sorted(found.values(), key=lambda s: s.student)
    return ClassRecords(assignment, submissions, tasks, points, max_score,
                        {s: c for s, c in code.items() if c}, boilerplate, given, notes)
