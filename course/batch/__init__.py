"""Grading a batch of submissions: on this machine, or on a Dask cluster.

``course-admin autograde`` (:mod:`course.admin`) is the command-line face; the batch
itself lives here.

Module map
----------
:mod:`.grade`        ``autograde``: intake, grading, scores and limits read back; the
                     summary table; the sandbox options
:mod:`.coursedir`    the course directory as configured (gradebook, grading records),
                     ``GradeResult``, the gradebook's retry on "database is locked", the
                     note of what was graded (resuming a batch)
:mod:`.process`      the grading process (nbgrader's Python API, one submission after
                     another) and ``grade_locally``, ``jobs`` of them on this machine
:mod:`.cluster`      the coordinator of ``--cluster``: admits workers, submits one task
                     per submission, records each result
:mod:`.worker`       what runs on a cluster worker: one task, one submission
:mod:`.bundle`       what goes to a worker, what comes back, how it is recorded
:mod:`.environment`  the environment a worker must share with the coordinator
"""
from .coursedir import GradeResult, scores
from .grade import UNPROTECTED, autograde, summary

__all__ = ["UNPROTECTED", "GradeResult", "autograde", "scores", "summary"]
