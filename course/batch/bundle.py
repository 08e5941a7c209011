"""What goes to a cluster worker for one submission, what comes back, and how it is recorded.

**Out.** Nothing of the course directory leaves the coordinator but:

* once per batch (:class:`AssignmentPack`, shared by the batch's tasks):
  ``nbgrader_config.py``; the files of ``source/<assignment>/`` that nbgrader copies
  beside a graded notebook (never the notebooks: the solutions stay home); a gradebook
  holding only that assignment (its notebooks, cells and due date: what nbgrader needs
  to restore the test cells and measure lateness), no student; the held-out digits
  when they are configured and the assignment scores trained networks; the nbgrader
  options of the batch;
* per submission (:class:`SubmissionPack`): the student's id and the staged copy of
  the submission that the intake made (the copy that is graded, never the student's own
  folder); with ``--replay``, the student's last grading records (their seeds).

The worker builds a private temporary course directory from these (:func:`build`),
adds the one student to its copy of the gradebook, grades there as on the coordinator
(:mod:`.process`), and removes it.

**Back** (:class:`Returned`): whether grading worked and its message, the autograded
folder (the graded notebooks with their outputs and verdicts, and the files nbgrader
copied beside them), and the judge's grading records (seed, verdicts, limits hit).

**Recorded** by the coordinator alone (:func:`record`): the worker's gradebook is
thrown away. The coordinator writes the autograded folder into ``autograded/``, the
records into its configured records folder, and the grades into its gradebook with
nbgrader's own machinery: the configured autograde steps that write the gradebook
(``ApplyDueDates``, nbgrader's ``SaveAutoGrades`` and ``AssignLatePenalties``) run on
the returned notebooks, as they ran on the worker at the end of its pipeline. The
steps before them (running the notebook, the judge, ``IgnorePattern``, ``LimitOutput``)
changed the notebook that came back, and the steps after them change nothing in it, so
``SaveAutoGrades`` reads here the same outputs it read there. Every write is an
update-or-create keyed by (assignment, student, notebook, cell): recording the same
submission twice leaves the gradebook as recording it once.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .coursedir import Settings, gradebook, with_retries

__all__ = ["AssignmentPack", "Returned", "SubmissionPack", "build", "collect",
           "pack_assignment", "pack_submission", "record"]

HELDOUT = "heldout/digits.npz"  # where the digits go in the worker's course directory


@dataclass
class AssignmentPack:
    """What every task of a batch needs (sent once per worker)."""

    assignment: str
    course_id: str
    config: bytes  # nbgrader_config.py
    source: dict[str, bytes]  # files of source/<assignment>/ beside the notebooks
    gradebook: bytes  # a SQLite gradebook with only the assignment
    extra: tuple[str, ...]  # nbgrader options of the batch (course directory ones removed)
    heldout: bytes | None = None
    expected: str = ""  # the coordinator's environment fingerprint
    packages: tuple[str, ...] = ()  # the locked packages the fingerprint compares
    sandbox: bool = True  # the worker must be able to sandbox
    timeout: float | None = None  # seconds for one submission's grading
    retries: int = 5


@dataclass
class SubmissionPack:
    """What one task needs besides its :class:`AssignmentPack`."""

    student: str
    files: dict[str, bytes]  # the staged submission, by relative path
    checksum: str
    records: dict[str, bytes] = field(default_factory=dict)  # with --replay


@dataclass
class Returned:
    """What a worker sends back for one submission."""

    student: str
    ok: bool
    returncode: int
    message: str
    attempts: int
    seconds: float
    peak_mib: float
    worker: str
    autograded: dict[str, bytes] = field(default_factory=dict)  # relative path -> bytes
    records: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes


# --- files -----------------------------------------------------------------------------------
def _safe(relative: str) -> PurePosixPath:
    """A relative path that stays inside its folder (refused otherwise)."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise ValueError(f"`relative` must be a plain relative path, got {relative!r}")
    return path


def read_files(folder: Path) -> dict[str, bytes]:
    """Every regular file below ``folder`` (links skipped), by relative path."""
    out = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        target = folder / _safe(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# --- out ---------------------------------------------------------------------------------------
_COURSEDIR_OPTIONS = ("--CourseDirectory.", "--Sandboxing.records", "--JudgeTestCells.heldout")


def _columns(row, skip=("id", "name", "type")) -> dict:
    from sqlalchemy import inspect

    return {a.key: getattr(row, a.key) for a in inspect(row).mapper.column_attrs
            if a.key not in skip and not a.key.endswith("_id")}


def _empty_gradebook(target: Path, version: str) -> None:
    """A new gradebook file with nbgrader's tables, at the given schema version.

    What nbgrader's ``Gradebook`` does for a new file, without running ``alembic heads``
    to learn the version: it is the coordinator's gradebook's.
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{target}")
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version "
                                    "(version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                               {"v": version})
    finally:
        engine.dispose()


def assignment_gradebook(settings: Settings, assignment: str, target: Path) -> None:
    """Write at ``target`` a new gradebook holding only ``assignment`` (no student)."""
    from sqlalchemy import text

    with gradebook(settings.db_url) as source:
        version = source.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
        _empty_gradebook(target, version)
        with gradebook(f"sqlite:///{target}", settings.course_id) as copy:
            found = source.find_assignment(assignment)
            copy.add_assignment(assignment, **_columns(found))
            for notebook in found.notebooks:
                copy.add_notebook(notebook.name, assignment, **_columns(notebook))
                for cells, add in ((notebook.grade_cells, copy.add_grade_cell),
                                   (notebook.solution_cells, copy.add_solution_cell),
                                   (notebook.task_cells, copy.add_task_cell),
                                   (notebook.source_cells, copy.add_source_cell)):
                    for cell in cells:
                        add(cell.name, notebook.name, assignment, **_columns(cell))


def _uses_heldout(assignment: str) -> bool:
    """Whether a task of the assignment scores networks on the held-out digits (it declares
    ``heldout = True``, :attr:`course.grading.engine.Task.heldout`): ps4 and ps5 do."""
    from course.grading.engine import tasks

    return any(task.heldout for task in tasks(assignment).values())


def pack_assignment(settings: Settings, assignment: str, extra: tuple[str, ...], *,
                    expected: str, packages: tuple[str, ...], sandbox: bool,
                    timeout: float | None, retries: int) -> AssignmentPack:
    """The :class:`AssignmentPack` of ``assignment`` from the coordinator's course."""
    from course.grading.runner.autograde import JudgeTestCells

    coursedir = settings.coursedir()
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    files = {name: data for name, data in read_files(source).items()
             if not name.endswith(".ipynb") and ".ipynb_checkpoints" not in name}
    with tempfile.TemporaryDirectory(prefix="course-pack-") as tmp:
        assignment_gradebook(settings, assignment, Path(tmp) / "gradebook.db")
        book = (Path(tmp) / "gradebook.db").read_bytes()
    digits = JudgeTestCells(config=settings.config).heldout
    heldout = Path(digits).read_bytes() if digits and _uses_heldout(assignment) else None
    kept = tuple(arg for arg in extra if not arg.startswith(_COURSEDIR_OPTIONS))
    return AssignmentPack(assignment, settings.course_id,
                          (settings.root / "nbgrader_config.py").read_bytes(), files, book,
                          kept, heldout, expected, packages, sandbox, timeout, retries)


def pack_submission(settings: Settings, assignment: str, student: str, staged: Path,
                    checksum: str, replay: bool) -> SubmissionPack:
    """The :class:`SubmissionPack` of one staged submission."""
    records = {}
    if replay:
        folder = settings.record_folder(assignment, student)
        records = {name: data for name, data in read_files(folder).items()
                   if "/" not in name and not name.startswith("_")}
    return SubmissionPack(student, read_files(staged), checksum, records)


# --- on the worker -------------------------------------------------------------------------------
def build(pack: AssignmentPack, item: SubmissionPack, root: Path) -> tuple[str, ...]:
    """Make the private course directory ``root`` (empty) for one task; its nbgrader options."""
    a, student = pack.assignment, item.student
    _safe(a), _safe(student)
    (root / "nbgrader_config.py").write_bytes(pack.config)
    write_files(root / "source" / a, pack.source)
    (root / "source" / a).mkdir(parents=True, exist_ok=True)
    (root / "gradebook.db").write_bytes(pack.gradebook)
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    with gradebook(db_url, pack.course_id) as gb:
        gb.add_student(student)
    write_files(root / "submitted" / student / a, item.files)
    (root / "submitted" / student / a).mkdir(parents=True, exist_ok=True)
    write_files(root / "grading_records" / a / student, item.records)
    heldout = ""
    if pack.heldout is not None:
        write_files(root, {HELDOUT: pack.heldout})
        heldout = str(root / HELDOUT)
    return (*pack.extra, f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url={db_url}",
            "--CourseDirectory.source_directory=source",
            "--CourseDirectory.submitted_directory=submitted",
            "--CourseDirectory.autograded_directory=autograded",
            f"--Sandboxing.records={root / 'grading_records'}",
            f"--JudgeTestCells.heldout={heldout}")


def collect(root: Path, assignment: str, student: str) -> tuple[dict, dict]:
    """(autograded folder, grading records) of the task graded in ``root``."""
    records = read_files(root / "grading_records" / assignment / student)
    return (read_files(root / "autograded" / student / assignment),
            {name: data for name, data in records.items() if "/" not in name})


# --- back on the coordinator ---------------------------------------------------------------------
def _recording_steps(config) -> list[type]:
    """The configured autograde steps that write the gradebook, in their order."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
    from traitlets.utils.importstring import import_item

    from course.grading.late import ApplyDueDates

    steps = config.Autograde.autograde_preprocessors \
        if "autograde_preprocessors" in config.Autograde \
        else Autograde.autograde_preprocessors.default_value
    classes = [import_item(step) if isinstance(step, str) else step for step in steps]
    return [c for c in classes if issubclass(c, (ApplyDueDates, SaveAutoGrades,
                                                 AssignLatePenalties))]


def record(settings: Settings, assignment: str, staged: Path, returned: Returned) -> None:
    """Write what a worker returned into the coordinator's course (see the module's notes).

    ``staged`` is the staged submission that was sent (its ``timestamp.txt`` is the
    submission's time, as nbgrader reads it).
    """
    import warnings

    import nbformat
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    student = returned.student
    coursedir = settings.coursedir()
    target = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    incoming = target.parent / f".{target.name}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    write_files(incoming, returned.autograded)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(incoming, target)
    records = settings.record_folder(assignment, student)
    records.mkdir(parents=True, exist_ok=True)
    write_files(records, {name: data for name, data in returned.records.items()
                          if not name.startswith("_")})
    timestamp = coursedir.get_existing_timestamp(str(staged))
    steps = _recording_steps(settings.config)

    def write() -> None:
        with gradebook(settings.db_url, settings.course_id) as gb, warnings.catch_warnings():
            # nbgrader's add_submission makes SQLAlchemy warn (harmless, as in nbgrader autograde)
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(student)
            options = {"timestamp": timestamp} if timestamp else {}
            gb.update_or_create_submission(assignment, student, **options)
            names = [n.name for n in gb.find_assignment(assignment).notebooks]
        for name in names:
            path = target / f"{name}.ipynb"
            if not path.is_file():
                with gradebook(settings.db_url, settings.course_id) as gb:
                    try:  # not handed in: zero, as nbgrader does
                        notebook = gb.find_submission_notebook(name, assignment, student)
                    except MissingEntry:
                        continue
                    for grade in notebook.grades:
                        grade.auto_score, grade.needs_manual_grade = 0, False
                    gb.db.commit()
                continue
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
            resources = {"nbgrader": {"student": student, "assignment": assignment,
                                      "notebook": name, "db_url": settings.db_url}}
            for step in steps:
                nb, resources = step(config=settings.config)(nb, resources)

    with_retries(write)
