"""``course-admin``: the instructor's commands around nbgrader.

Run from the course directory (the repository root, where nbgrader_config.py is)
or pass ``--root``::

    course-admin release                      # source/* -> release/* (generate_assignment)
    course-admin autograde ps1 --jobs 2       # every submitted/*/ps1, in parallel
    course-admin feedback ps1                 # feedback/*/ps1/*.html
    course-admin export --to grades.csv       # all grades as CSV
    course-admin collect ps1 --from download.zip            # an LMS download -> submitted/
    course-admin export ps1 --lms canvas --template gradebook.csv --to import.csv
    course-admin heldout IMAGES LABELS        # digits no student has, to score trained networks

``autograde`` runs every submission's code in a sandbox (bubblewrap: no network, no
view of the course, the gradebook or other students; limits on memory, time,
processes and output; see :mod:`course.grading.sandbox`) and lets the judge compute the
grades of the problem sets' test cells (:mod:`course.grading.judge`). Where no sandbox
can run it refuses and says why; ``--no-sandbox`` grades with the grader's rights, as
plain nbgrader does. A submission that hits a limit gets its grade and a note naming
the limit, in its feedback and in the summary table.

``autograde`` grades ``--jobs`` submissions at a time, where nbgrader itself grades
students one after the other. By default ``--jobs`` worker processes each import
nbgrader once (2 s of CPU) and grade one submission after another through
nbgrader's Python API (the same code as ``nbgrader autograde ASSIGNMENT --student
S``; every notebook runs in a fresh kernel); ``--per-process`` starts one
``nbgrader autograde --student S`` process per submission instead. Students missing from
the gradebook are added first, one at a time, so that the parallel processes
never race to create them; a process that fails with SQLite's "database is
locked" is retried. A submission that crashes nbgrader is reported with its
message and a score of 0 and does not stop the batch.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from course.grading import intake

__all__ = ["GradeResult", "autograde", "export", "feedback", "main", "release", "scores",
           "UNPROTECTED"]

UNPROTECTED = """\
WARNING: grading without a sandbox. Each submission's code runs with your rights, in the
course directory, as plain nbgrader runs it: it can read source/ (the solutions), change
the gradebook, the course's code and other students' files, use the network, and use
any amount of memory, processes and disk. The judge still computes the grades of the
problem sets' test cells in its own process from fresh inputs, but the judged process
is not isolated either: other libraries are off its path, not absent. Grade this way
only on a machine where no submission can do harm (a throw-away VM or container)."""

LOCKED = "database is locked"

# nbgrader's Gradebook runs the `alembic` script by name (`alembic heads`); it lies beside
# the Python that runs this module. A venv used without activation (`.venv/bin/course-admin`,
# CI) does not have that folder on PATH, so put it there for this process and its children.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(p for p in (_BIN, os.environ.get("PATH", "")) if p)


@dataclass
class GradeResult:
    """Outcome of grading one student's submission."""

    student: str
    returncode: int
    score: float = 0.0
    max_score: float = 0.0
    grades: dict[str, float] = field(default_factory=dict)  # grade cell id -> points
    message: str = ""
    seconds: float = 0.0
    attempts: int = 1
    limits: list[str] = field(default_factory=list)  # limits the submission hit
    refused: list[str] = field(default_factory=list)  # entries of its folder not taken in
    peak_mib: float = 0.0  # the grading worker's peak resident memory after this submission

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _find_root(root: str | os.PathLike | None) -> Path:
    path = Path(root or os.getcwd()).resolve()
    if not (path / "nbgrader_config.py").is_file():
        raise SystemExit(f"no nbgrader_config.py in {path}: run from the course directory or "
                         "pass --root")
    return path


#: Libraries that size their thread pools by the number of cores (PyTorch's OpenMP, the BLAS).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _env(root: Path, threads: int | None = None) -> dict[str, str]:
    """The environment of nbgrader and its kernels.

    The grading kernels must import `course` even where it is not pip-installed. With
    ``threads``, the kernels' thread pools get that many threads (unless the caller set
    the variables): ``jobs`` kernels side by side, each with a pool as large as the
    machine, lose a fifth of their time competing for the cores.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    if threads is not None:
        for variable in _THREAD_VARIABLES:
            env.setdefault(variable, str(threads))
    return env


def _nbgrader(root: Path, *args: str, timeout: float | None = None,
              threads: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root,
                          env=_env(root, threads), capture_output=True, text=True, timeout=timeout)


def _db_url(root: Path) -> str:
    return "sqlite:///" + str(root / "gradebook.db")


def _last_error(output: str) -> str:
    """The most telling line of nbgrader's log for a failed run."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in ("[ERROR]", "| ERROR]", "Error:", "Error"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else "no output"


def release(root=None, assignments: Sequence[str] = ()) -> list[str]:
    """Generate release/<a> from source/<a> for every (or the given) assignment."""
    root = _find_root(root)
    names = list(assignments) or sorted(
        p.name for p in (root / "source").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    for name in names:
        done = _nbgrader(root, "generate_assignment", name, "--force")
        if done.returncode != 0:
            raise SystemExit(f"generate_assignment {name} failed:\n{done.stdout}{done.stderr}")
        print(f"released {name} -> release/{name}")
    return names


def _students(root: Path, assignment: str) -> list[str]:
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def _ensure_students(root: Path, students: Sequence[str]) -> None:
    """Add missing students to the gradebook before any parallel process writes to it."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_db_url(root)) as gb:
        for student in students:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)


def scores(root=None, assignment: str = "", students: Sequence[str] | None = None
           ) -> dict[str, tuple[float, float, dict[str, float]]]:
    """(score, max_score, {grade id: points}) per student from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    root = _find_root(root)
    out = {}
    with Gradebook(_db_url(root)) as gb:
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


def _grade_one(root: Path, assignment: str, student: str, extra: Sequence[str],
               retries: int, timeout: float | None, threads: int) -> GradeResult:
    start = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            done = _nbgrader(root, "autograde", assignment, "--student", student, "--force",
                             *extra, timeout=timeout, threads=threads)
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            output, code = f"[ERROR] grading took longer than {timeout} s and was stopped", -9
        if code != 0 and LOCKED in output and attempt <= retries:
            time.sleep(0.5 * attempt)
            continue
        # a cell timeout is logged as an ERROR but grading goes on: judge by the exit status
        # here, and by the gradebook afterwards (a submission nbgrader could not read is absent)
        message = _last_error(output) if code != 0 else ""
        return GradeResult(student, code, message=message,
                           seconds=time.perf_counter() - start, attempts=attempt)


RESULT = "@@course-admin-result "


def _worker(root: Path, assignment: str, extra: Sequence[str]) -> None:
    """Grade the students named on stdin, one per line, with nbgrader's Python API.

    One worker imports nbgrader (about 2 s of CPU) once for all its submissions; the
    kernel of every notebook is still a fresh process. Writes one JSON line per student.
    """
    import json
    import logging

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    os.chdir(root)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if extra:
        config.merge(KVArgParseConfigLoader(list(extra)).load_config())
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.WARNING)
    for line in sys.stdin:
        student = line.strip()
        if not student:
            continue
        try:
            outcome = api.autograde(assignment, student, force=True, create=False)
        except Exception as error:  # noqa: BLE001 - reported, the worker goes on
            outcome = {"success": False, "error": repr(error)}
        ok = bool(outcome.get("success"))
        message = "" if ok else _last_error(outcome.get("error", "") or outcome.get("log", ""))
        print(RESULT + json.dumps({"student": student, "ok": ok, "message": message,
                                   "peak_mib": _peak_mib()}), flush=True)


def _peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (its children not counted)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _WorkerPool:
    """``jobs`` long-lived worker processes; a dead worker is replaced."""

    def __init__(self, root: Path, assignment: str, extra: Sequence[str], threads: int):
        self.command = [sys.executable, "-m", "course.admin", "--root", str(root), "_worker",
                        assignment, "--", *extra]
        self.root, self.threads = root, threads

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(self.command, cwd=self.root, env=_env(self.root, self.threads),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def grade(self, worker: subprocess.Popen, student: str) -> tuple[subprocess.Popen, GradeResult]:
        import json

        start = time.perf_counter()
        try:
            worker.stdin.write(student + "\n")
            worker.stdin.flush()
            for line in worker.stdout:
                if line.startswith(RESULT):
                    data = json.loads(line[len(RESULT):])
                    return worker, GradeResult(student, 0 if data["ok"] else 1,
                                               message=data["message"],
                                               seconds=time.perf_counter() - start,
                                               peak_mib=float(data.get("peak_mib", 0.0)))
        except (BrokenPipeError, OSError):
            pass
        worker.kill()
        worker.wait()
        return self.start(), GradeResult(student, -1, message="the grading process crashed",
                                         seconds=time.perf_counter() - start)


def _autograde_workers(root: Path, assignment: str, students: Sequence[str], jobs: int,
                       extra: Sequence[str], bar, threads: int) -> list[GradeResult]:
    import queue
    import threading

    pool = _WorkerPool(root, assignment, extra, threads)
    todo: queue.Queue[str] = queue.Queue()
    for student in students:
        todo.put(student)
    results: list[GradeResult] = []
    lock = threading.Lock()

    def run() -> None:
        worker = pool.start()
        try:
            while True:
                try:
                    student = todo.get_nowait()
                except queue.Empty:
                    return
                worker, result = pool.grade(worker, student)
                with lock:
                    results.append(result)
                    if bar is not None:
                        bar.update(1)
        finally:
            worker.stdin.close()
            worker.wait()

    threads = [threading.Thread(target=run) for _ in range(min(jobs, len(students)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _sandbox_args(sandbox: bool, limits: dict | None, replay: bool) -> list[str]:
    """nbgrader options for the sandbox settings; refuses where no sandbox can run."""
    from course.grading.sandbox import Limits, unavailable

    if sandbox:
        reason = unavailable()
        if reason:
            raise SystemExit(f"course-admin: cannot grade in a sandbox here: {reason}.\n"
                             "Grade on a Linux machine with user namespaces, or pass "
                             "--no-sandbox to grade with your own rights (see the README's "
                             "'Grading safely' for what that gives up).")
    else:
        print(UNPROTECTED, file=sys.stderr)
    args = [] if sandbox else ["--Sandboxing.sandbox=False"]
    Limits(**{k: v for k, v in (limits or {}).items()})  # bad values fail here, with the name
    for name, value in (limits or {}).items():
        args.append(f"--Sandboxing.{name}={value}")
    if replay:
        args.append("--Sandboxing.replay=True")
    return args


def _limits_hit(root: Path, assignment: str, student: str) -> list[str]:
    """The limits a submission hit, from the judge's records of its notebooks."""
    import json

    cells: dict[str, list] = {}  # limit -> the cells where it was hit, in order
    folder = root / "grading_records" / assignment / student
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
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


def autograde(assignment: str, root=None, jobs: int | None = None,
              students: Sequence[str] | None = None, extra_args: Sequence[str] = (),
              retries: int = 5, timeout: float | None = None,
              progress: bool = True, per_process: bool = False, sandbox: bool = True,
              limits: dict[str, float] | None = None, replay: bool = False) -> list[GradeResult]:
    """Autograde every submission of ``assignment``, ``jobs`` processes at a time.

    Parameters
    ----------
    assignment : str
        Name of the assignment (a folder of submitted/<student>/).
    root : path, optional
        The course directory; default the current directory.
    jobs : int, optional
        Parallel nbgrader processes; default ``os.cpu_count()``.
    students : sequence of str, optional
        Only these students; default everyone with a submission.
    extra_args : sequence of str
        Passed to every ``nbgrader autograde``, e.g. ``["--Execute.timeout=10"]``.
    retries : int
        Extra attempts for a process that failed because SQLite was locked.
    timeout : float, optional
        Seconds after which one student's whole grading process is stopped
        (``per_process`` only).
    per_process : bool
        One ``nbgrader autograde --student S`` process per submission instead of
        ``jobs`` long-lived workers that use nbgrader's Python API. Workers save
        nbgrader's import (about 2 s of CPU) per submission; either way every
        notebook runs in a fresh kernel and a crash costs only that submission.
        Either way the kernels' thread pools (PyTorch, BLAS) are sized to
        ``cores // jobs`` threads, unless ``OMP_NUM_THREADS`` etc. are set.
    sandbox : bool
        Run each submission in a sandbox (the default). Raises SystemExit with the
        reason where none can run; False grades with the grader's rights and warns.
    limits : dict, optional
        Overrides of the per-submission limits: ``memory``, ``budget``, ``processes``,
        ``output``, ``disk`` (see :class:`course.grading.sandbox.Limits`).
    replay : bool
        Judge with the seeds recorded at the last grading, to reproduce its verdicts.

    Returns
    -------
    list of GradeResult
        One per student, sorted by student id, with the scores from the gradebook.
    """
    root = _find_root(root)
    if jobs is not None and jobs < 1:
        raise ValueError(f"`jobs` must be >= 1, got {jobs}")
    extra_args = tuple(extra_args) + tuple(_sandbox_args(sandbox, limits, replay))
    jobs = jobs or os.cpu_count() or 1
    # each kernel's thread pools get its share of the cores (OMP_NUM_THREADS, ...)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    students = list(students) if students is not None else _students(root, assignment)
    if not students:
        raise SystemExit(f"no submissions of {assignment!r} in {root / 'submitted'}")
    _ensure_students(root, students)
    staging, intakes = _take_in(root, assignment, students)
    extra_args += (f"--CourseDirectory.submitted_directory={staging}",)
    try:
        results = _grade(root, assignment, students, jobs, extra_args, retries, timeout,
                         progress, per_process, threads)
    finally:
        intake.clear(staging)
    table = scores(root, assignment, students)
    for result in results:
        result.limits = _limits_hit(root, assignment, result.student)
        result.refused = [str(r) for r in intakes[result.student].refused]
        if result.student in table:
            result.score, result.max_score, result.grades = table[result.student]
        elif result.ok:
            result.returncode, result.message = 1, "no grades recorded for this submission"
    return sorted(results, key=lambda r: r.student)


def _take_in(root: Path, assignment: str, students: Sequence[str]):
    """Copy every submission into a private staging folder as data (see ``intake``).

    nbgrader then grades the staged copies, never the student's own folder, and the
    intake of each is recorded beside its grading record.
    """
    import json
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix="course-intake-"))
    release_folder = root / "release" / assignment
    intakes = {}
    for student in students:
        done = intake.take_in(root / "submitted" / student / assignment,
                              staging / student / assignment,
                              release_folder if release_folder.is_dir() else None)
        intakes[student] = done
        record = root / "grading_records" / assignment / student / "_intake.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(done.to_json(), indent=1))
    return staging, intakes


def _grade(root: Path, assignment: str, students: Sequence[str], jobs: int,
           extra_args: Sequence[str], retries: int, timeout: float | None, progress: bool,
           per_process: bool, threads: int) -> list[GradeResult]:
    results: list[GradeResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(students), desc=f"autograde {assignment}", unit="submission",
                   file=sys.stderr)
    if per_process:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_grade_one, root, assignment, s, tuple(extra_args), retries,
                                   timeout, threads) for s in students]
            for future in as_completed(futures):
                results.append(future.result())
                if bar is not None:
                    bar.update(1)
    else:
        results = _autograde_workers(root, assignment, students, jobs, tuple(extra_args), bar,
                                     threads)
    if bar is not None:
        bar.close()
    return results


def summary(results: Sequence[GradeResult]) -> str:
    """A plain-text table: one row per student, one column per graded part."""
    parts = sorted({name for r in results for name in r.grades})
    short = [p.removeprefix("test_") for p in parts]
    header = ["student", "score", *short, "status"]
    rows = [header]
    for r in results:
        status = "ok" if r.ok else f"FAILED: {r.message}"
        if r.limits:
            status += f" (limits: {'; '.join(r.limits)})"
        if r.refused:
            status += f" (refused: {'; '.join(r.refused[:5])}" + \
                (f"; {len(r.refused) - 5} more)" if len(r.refused) > 5 else ")")
        rows.append([intake.printable(r.student), f"{r.score:g}/{r.max_score:g}",
                     *[f"{r.grades[p]:g}" if p in r.grades else "-" for p in parts], status])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def feedback(assignment: str, root=None) -> Path:
    """Generate HTML feedback for every graded student of ``assignment``."""
    root = _find_root(root)
    done = _nbgrader(root, "generate_feedback", assignment, "--force")
    if done.returncode != 0:
        raise SystemExit(f"generate_feedback failed:\n{_last_error(done.stdout + done.stderr)}")
    return root / "feedback"


def export(root=None, to: str = "grades.csv") -> Path:
    """Export every grade of the gradebook to a CSV file (nbgrader's CSV exporter)."""
    root = _find_root(root)
    target = Path(to)
    if not target.is_absolute():
        target = root / target
    done = _nbgrader(root, "export", f"--CsvExportPlugin.to={target}")
    if done.returncode != 0:
        raise SystemExit(f"export failed:\n{_last_error(done.stdout + done.stderr)}")
    return target


def _roster(root: Path, path: str | None):
    from course.hub.roster import Roster

    return Roster.read(Path(path) if path else root / "roster.csv")


def _collect(args) -> int:
    """``course-admin collect``: print the summary table; 2 when nothing could be read."""
    from course.hub.roster import RosterError
    from course.lms import archive
    from course.lms.collect import collect

    root = _find_root(args.root)
    try:
        done = collect(root, args.assignment, args.download, lms=args.lms,
                       roster=_roster(root, args.roster), worksheet=args.worksheet,
                       force=args.force, timezone_name=args.timezone)
    except (archive.ArchiveError, RosterError, ValueError) as error:
        print(f"collect refused: {error}", file=sys.stderr)
        return 2
    print(f"{args.assignment} from {done.lms}:")
    print(done.table())
    counts = ", ".join(f"{done.count(s)} {s}" for s in
                       ("collected", "unchanged", "exists", "empty", "invalid", "missing",
                        "unmatched", "ambiguous") if done.count(s))
    print(counts)
    return 0


def _export_lms(args) -> int:
    from course.hub.roster import RosterError
    from course.lms import export as lms_export
    from course.lms.grades import grade_rows

    root = _find_root(args.root)
    if not args.assignment or not args.lms:
        print("export: give both the assignment and --lms (or neither, for all grades)",
              file=sys.stderr)
        return 2
    try:
        rows = grade_rows(root, args.assignment, _roster(root, args.roster))
        template = Path(args.template).read_bytes() if args.template else None
        if args.lms == "canvas":
            if template is None:
                raise ValueError("--template: Canvas needs its own gradebook export "
                                 "(Grades > Export > CSV)")
            result = lms_export.canvas(template, args.assignment, rows, column=args.column)
        elif args.lms == "moodle":
            result = lms_export.moodle(template, args.assignment, rows)
        elif args.lms == "brightspace":
            result = lms_export.brightspace(args.assignment, rows)
        else:
            result = None
            data = lms_export.plain_csv(args.assignment, rows)
    except (RosterError, ValueError, OSError) as error:
        print(f"export refused: {error}", file=sys.stderr)
        return 2
    target = Path(args.to)
    if not target.is_absolute():
        target = root / target
    target.write_bytes(result.data if result is not None else data)
    print(f"{args.assignment} grades for {args.lms} written to {target}")
    if result is not None:
        if result.missing:
            print(f"no row in the LMS's file for: {', '.join(result.missing)}")
        if result.unmatched_rows:
            print(f"LMS rows with no grade here: {', '.join(result.unmatched_rows)}")
    return 0


def _bytes(text: str) -> int:
    """'4G', '512M', '1000000' -> bytes (binary units)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G, 512M or 1000000, "
                                         f"got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course-admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="course directory (default: the current directory)")
    # The metavar lists the public commands only; `_worker` is internal to `autograde`.
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{release,autograde,feedback,export,heldout}")
    p = commands.add_parser("release", help="generate release/ from source/ for every assignment")
    p.add_argument("assignments", nargs="*")
    p = commands.add_parser("autograde", help="autograde every submission, in parallel")
    p.add_argument("assignment")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count(),
                   help="parallel nbgrader processes (default: the number of CPUs)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop one student's grading after this many seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--per-process", action="store_true",
                   help="one `nbgrader autograde --student S` process per submission")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run submissions with your own rights, unisolated (see 'Grading safely')")
    p.add_argument("--memory", type=_bytes, help="memory per submission, e.g. 4G (default 4G)")
    p.add_argument("--budget", type=float,
                   help="seconds of wall-clock time per submission (default 300)")
    p.add_argument("--processes", type=int, help="processes per submission (default 256)")
    p.add_argument("--output", type=_bytes, help="output kept per cell, e.g. 1M (default 1M)")
    p.add_argument("--disk", type=_bytes, help="bytes a submission may write (default 512M)")
    p.add_argument("--replay", action="store_true",
                   help="judge with the seeds recorded at the last grading")
    p.epilog = "Arguments after `--` go to every nbgrader process, e.g. -- --Execute.timeout=10"
    p = commands.add_parser("heldout", help="write held-out digits for scoring trained networks "
                                            "from MNIST's IDX test files")
    p.add_argument("images", help="e.g. t10k-images-idx3-ubyte.gz")
    p.add_argument("labels", help="e.g. t10k-labels-idx1-ubyte.gz")
    p = commands.add_parser("_worker")
    p.add_argument("assignment")
    p = commands.add_parser("feedback", help="generate HTML feedback")
    p.add_argument("assignment")
    p = commands.add_parser("collect", help="take an LMS's download of submissions into submitted/")
    p.add_argument("assignment")
    p.add_argument("--from", dest="download", required=True, metavar="ZIP",
                   help="the LMS's download of the assignment's submissions")
    p.add_argument("--lms", choices=("canvas", "moodle", "brightspace"),
                   help="which LMS made it (default: detected from its file names)")
    p.add_argument("--roster", default=None, help="the class list (default: ROOT/roster.csv)")
    p.add_argument("--worksheet", default=None,
                   help="Moodle: the grading worksheet downloaded with the submissions "
                        "(default: the one inside the download, if any)")
    p.add_argument("--timezone", default="UTC",
                   help="the LMS's time zone, for the times in its file names (default UTC)")
    p.add_argument("--force", action="store_true",
                   help="replace submissions already collected that differ")
    p = commands.add_parser("export", help="export grades: all as CSV, or one assignment for an LMS")
    p.add_argument("assignment", nargs="?", help="one assignment (needed with --lms)")
    p.add_argument("--to", default="grades.csv")
    p.add_argument("--lms", choices=("canvas", "moodle", "brightspace", "csv"),
                   help="write the LMS's own import format (csv: a plain, correctly quoted CSV)")
    p.add_argument("--template", default=None,
                   help="Canvas: its gradebook export; Moodle: its grading worksheet")
    p.add_argument("--roster", default=None, help="the class list (default: ROOT/roster.csv)")
    p.add_argument("--column", default=None,
                   help="Canvas: the assignment's column header, when it is not 'ASSIGNMENT (id)'")
    argv = list(sys.argv[1:] if argv is None else argv)
    nbgrader_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = parser.parse_args(argv)

    if args.command == "release":
        release(args.root, args.assignments)
    elif args.command == "autograde":
        limits = {name: getattr(args, name) for name in ("memory", "budget", "processes",
                                                          "output", "disk")
                  if getattr(args, name) is not None}
        results = autograde(args.assignment, args.root, args.jobs, args.student,
                            nbgrader_args, timeout=args.timeout,
                            progress=not args.no_progress, per_process=args.per_process,
                            sandbox=not args.no_sandbox, limits=limits, replay=args.replay)
        print(summary(results))
        peak = max((r.peak_mib for r in results), default=0.0)
        if peak:
            print(f"grading workers' peak memory: {peak:.0f} MiB")
        failed = [intake.printable(r.student) for r in results if not r.ok]
        if failed:
            print(f"{len(failed)} submission(s) could not be graded: {', '.join(failed)}")
    elif args.command == "heldout":
        from course.grading import heldout

        target = _find_root(args.root) / "heldout" / "digits.npz"
        count = heldout.from_idx(args.images, args.labels, target)
        print(f"{count} held-out digits written to {target}: graded trained networks are "
              "scored on them (keep them from students; heldout/ is never committed)")
    elif args.command == "_worker":
        _worker(_find_root(args.root), args.assignment, nbgrader_args)
    elif args.command == "feedback":
        print(f"feedback written to {feedback(args.assignment, args.root)}")
    elif args.command == "collect":
        return _collect(args)
    elif args.command == "export" and (args.lms or args.assignment):
        return _export_lms(args)
    elif args.command == "export":
        print(f"grades written to {export(args.root, args.to)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
