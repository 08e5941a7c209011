"""``course-admin autograde``: a batch of submissions, on this machine or on a cluster.

For every submission of an assignment:

1. **take it in** (:mod:`course.grading.intake`): a private staged copy, data only; the
   intake's note goes beside the grading records;
2. **grade it**: on this machine, ``jobs`` grading processes side by side
   (:func:`.process.grade_locally`); or on a Dask cluster
   (:func:`.cluster.grade_on_cluster`), where each worker grades in a private course
   directory and the coordinator records what comes back. Either way a grading
   process runs nbgrader's ``autograde`` for one student: the notebook in its sandbox,
   the judge, nbgrader's steps;
3. **read the grades** from the gradebook and the limits hit from the grading records,
   wherever ``nbgrader_config.py`` (or ``--Sandboxing.records=...``) puts them.

A submission graded successfully is noted with the checksum of its staged copy
(``_graded.json`` beside its records); a cluster batch that is run again skips the
submissions already graded unchanged, unless ``force``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from course.grading import intake

from .coursedir import (
    RETRIES,
    GradeResult,
    Settings,
    already_graded,
    checksum,
    ensure_students,
    find_root,
    limits_hit,
    mark_graded,
    scores,
)

__all__ = ["UNPROTECTED", "autograde", "sandbox_args", "summary"]

UNPROTECTED = """\
WARNING: grading without a sandbox. Each submission's code runs with your rights, in the
course directory, as plain nbgrader runs it: it can read source/ (the solutions), change
the gradebook, the course's code and other students' files, use the network, and use
any amount of memory, processes and disk. The judge still computes the grades of the
problem sets' test cells in its own process from fresh inputs, but the judged process
is not isolated either: other libraries are off its path, not absent. Grade this way
only on a machine where no submission can do harm (a throw-away VM or container)."""

CLUSTER_UNPROTECTED = """\
On a cluster, an unsandboxed submission also runs with the worker's rights and network:
it can reach the scheduler, and through it run code on every worker."""


def sandbox_args(sandbox: bool, limits: dict | None, replay: bool,
                 here: bool = True) -> list[str]:
    """nbgrader options for the sandbox settings.

    With ``here`` (grading on this machine) a batch that asks for the sandbox is
    refused, with the reason, where none can run; a cluster's workers check their own.
    """
    from course.grading.runner.sandbox import Limits, unavailable

    if sandbox and here:
        reason = unavailable()
        if reason:
            raise SystemExit(f"course-admin: cannot grade in a sandbox here: {reason}.\n"
                             "Grade on a Linux machine with user namespaces, or pass "
                             "--no-sandbox to grade with your own rights (see the README's "
                             "'Grading safely' for what that gives up).")
    elif not sandbox:
        print(UNPROTECTED if here else f"{UNPROTECTED}\n{CLUSTER_UNPROTECTED}",
              file=sys.stderr)
    args = [] if sandbox else ["--Sandboxing.sandbox=False"]
    Limits(**(limits or {}))  # bad values fail here, with the name
    for name, value in (limits or {}).items():
        args.append(f"--Sandboxing.{name}={value}")
    if replay:
        args.append("--Sandboxing.replay=True")
    return args


def _students(root: Path, assignment: str) -> list[str]:
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def take_in(settings: Settings, assignment: str, students: Sequence[str]):
    """Copy every submission into a private staging folder as data (see ``intake``).

    nbgrader then grades the staged copies, never the student's own folder, and the
    intake of each is recorded beside its grading records (``_intake.json``).
    """
    import json

    root = settings.root
    staging = Path(tempfile.mkdtemp(prefix="course-intake-"))
    release_folder = root / "release" / assignment
    intakes = {}
    for student in students:
        done = intake.take_in(root / "submitted" / student / assignment,
                              staging / student / assignment,
                              release_folder if release_folder.is_dir() else None)
        intakes[student] = done
        record = settings.record_folder(assignment, student) / "_intake.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(done.to_json(), indent=1))
    return staging, intakes


def autograde(assignment: str, root=None, jobs: int | None = None,
              students: Sequence[str] | None = None, extra_args: Sequence[str] = (),
              retries: int = RETRIES, timeout: float | None = None,
              progress: bool = True, per_process: bool = False, sandbox: bool = True,
              limits: dict[str, float] | None = None, replay: bool = False,
              cluster=None, force: bool = False) -> list[GradeResult]:
    """Autograde every submission of ``assignment``, ``jobs`` at a time or on a cluster.

    Parameters
    ----------
    assignment : str
        Name of the assignment (a folder of submitted/<student>/).
    root : path, optional
        The course directory; default the current directory.
    jobs : int, optional
        Grading processes side by side on this machine; default ``os.cpu_count()``.
        Not with ``cluster`` (its workers' threads decide).
    students : sequence of str, optional
        Only these students; default everyone with a submission.
    extra_args : sequence of str
        nbgrader options for every submission, e.g. ``["--Execute.timeout=10"]``.
    retries : int
        Extra attempts for a submission whose grading found SQLite's gradebook locked.
    timeout : float, optional
        Seconds after which one submission's grading is stopped (and its grading
        process replaced); the sandbox's budget (``limits["budget"]``) bounds the
        notebook and the judge already.
    per_process : bool
        A fresh grading process for every submission instead of one per job for the
        whole batch: costs nbgrader's import (about 2 s of CPU) per submission.
        Either way every notebook runs in a fresh kernel, a crash costs only that
        submission, and the kernels' thread pools (PyTorch, BLAS) get ``cores // jobs``
        threads, unless ``OMP_NUM_THREADS`` etc. are set.
    sandbox : bool
        Run each submission in a sandbox (the default). Raises SystemExit with the
        reason where none can run; False grades with the grader's rights and warns.
    limits : dict, optional
        Overrides of the per-submission limits: ``memory``, ``budget``, ``processes``,
        ``output``, ``disk`` (see :class:`course.grading.runner.sandbox.Limits`).
    replay : bool
        Judge with the seeds recorded at the last grading, to reproduce its verdicts.
    cluster : course.batch.cluster.Cluster, optional
        Grade on this Dask cluster instead of this machine (see :mod:`.cluster`).
    force : bool
        With ``cluster``: grade again the submissions already graded unchanged (same
        checksum, in the gradebook), which are otherwise skipped. On this machine every
        submission is always graded.

    Returns
    -------
    list of GradeResult
        One per student, sorted by student id, with the scores from the gradebook.
    """
    root = find_root(root)
    if jobs is not None and jobs < 1:
        raise ValueError(f"`jobs` must be >= 1, got {jobs}")
    if jobs is not None and cluster is not None:
        raise ValueError(f"`jobs` is for grading on this machine; with `cluster` the workers' "
                         f"threads decide (got jobs={jobs})")
    extra_args = tuple(extra_args) + tuple(sandbox_args(sandbox, limits, replay,
                                                        here=cluster is None))
    settings = Settings.load(root, extra_args)
    jobs = jobs or os.cpu_count() or 1
    # each kernel's thread pools get its share of the cores (OMP_NUM_THREADS, ...)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    students = list(students) if students is not None else _students(root, assignment)
    if not students:
        raise SystemExit(f"no submissions of {assignment!r} in {root / 'submitted'}")
    ensure_students(settings, students)
    staging, intakes = take_in(settings, assignment, students)
    bar = _bar(progress, assignment, len(students))
    try:
        digests = {s: checksum(staging / s / assignment) for s in students}
        skipped = set() if force or replay or cluster is None else \
            already_graded(settings, assignment, students, digests)
        todo = [s for s in students if s not in skipped]
        if not todo:
            results = []
        elif cluster is None:
            from .process import grade_locally

            staged = (f"--CourseDirectory.submitted_directory={staging}",)
            results = grade_locally(root, assignment, todo, jobs, extra_args + staged, threads,
                                    retries, timeout, per_process, bar)
        else:
            from .cluster import grade_on_cluster

            results = grade_on_cluster(cluster, settings, assignment, todo, staging, extra_args,
                                       digests=digests, sandbox=sandbox, replay=replay,
                                       timeout=timeout, retries=retries, on_result=bar)
        results += [GradeResult(s, 0, skipped=True) for s in sorted(skipped)]
    finally:
        intake.clear(staging)
        if bar is not None:
            bar.close()
    table = scores(root, assignment, students)
    for result in results:
        result.limits = limits_hit(settings, assignment, result.student)
        result.refused = [str(r) for r in intakes[result.student].refused]
        if result.student in table:
            result.score, result.max_score, result.grades = table[result.student]
            if result.ok and not result.skipped and cluster is None:  # (cluster: as recorded)
                mark_graded(settings, assignment, result.student, digests[result.student],
                            result.worker)
        elif result.ok:
            result.returncode, result.message = 1, "no grades recorded for this submission"
    return sorted(results, key=lambda r: r.student)


class _Bar:
    """A tqdm progress bar that a grading thread updates with each result."""

    def __init__(self, assignment: str, total: int):
        from tqdm import tqdm

        self.tqdm = tqdm(total=total, desc=f"autograde {assignment}", unit="submission",
                         file=sys.stderr)

    def __call__(self, result: GradeResult) -> None:
        self.tqdm.update(1)

    def close(self) -> None:
        self.tqdm.close()


def _bar(progress: bool, assignment: str, total: int) -> _Bar | None:
    return _Bar(assignment, total) if progress else None


def summary(results: Sequence[GradeResult]) -> str:
    """A plain-text table: one row per student, one column per graded part."""
    parts = sorted({name for r in results for name in r.grades})
    short = [p.removeprefix("test_") for p in parts]
    header = ["student", "score", *short, "status"]
    rows = [header]
    for r in results:
        status = "ok" if r.ok else f"FAILED: {r.message}"
        if r.skipped:
            status += " (already graded, unchanged: skipped)"
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
