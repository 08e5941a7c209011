"""What runs on a cluster worker: one task grades one submission.

:func:`grade_task` is the function the coordinator submits to Dask, once per
submission. On the worker it checks the worker's environment against the
coordinator's fingerprint (a worker that was refused never gets a task; this is the
second wall), builds a private temporary course directory from the packs
(:func:`.bundle.build`), grades there with a grading process (:mod:`.process`, the
same as on the coordinator's machine; one per worker thread, kept between tasks), and
returns what :func:`.bundle.collect` gathers. The temporary directory (in the worker's
local directory) is removed afterwards: the worker keeps nothing of a submission.

:func:`admit` and :func:`withdraw` run on a worker at the coordinator's request
(``Client.run``): they give it, or take away, the Dask resource that the batch's
tasks require, so that only admitted workers are sent any.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import bundle, environment
from .coursedir import environment as child_environment
from .process import GradingProcess, Request

__all__ = ["RefusedWorker", "admit", "grade_task", "withdraw", "worker_report"]

_local = threading.local()


class RefusedWorker(RuntimeError):
    """A task reached a worker whose environment is not the coordinator's."""


def worker_report(names: tuple[str, ...]) -> dict:
    """This worker's :class:`.environment.Report` (sandbox tried), as plain data."""
    return environment.report(tuple(names), True).to_json()


async def admit(resource: str, dask_worker=None) -> None:
    """Give this worker ``resource``, one unit per thread (runs in the worker's loop)."""
    await dask_worker.set_resources(**{resource: dask_worker.state.nthreads})


async def withdraw(resource: str, dask_worker=None) -> None:
    """Take ``resource`` away from this worker (a refusal after an earlier admission)."""
    if resource in dask_worker.state.total_resources:
        await dask_worker.set_resources(**{resource: 0})


def _grading_process(threads: int) -> GradingProcess:
    """This worker thread's grading process (started on its first submission)."""
    process = getattr(_local, "process", None)
    if process is None:
        import course

        package_parent = Path(course.__file__).resolve().parents[1]
        process = GradingProcess(child_environment(package_parent, threads),
                                 tempfile.gettempdir())
        _local.process = process
    return process


def grade_task(pack: bundle.AssignmentPack, item: bundle.SubmissionPack) -> bundle.Returned:
    """Grade one submission on this worker; what goes back to the coordinator."""
    from distributed import get_worker

    worker = get_worker()
    mine = environment.report(pack.packages, True)
    if environment.fingerprint(mine) != pack.expected:
        raise RefusedWorker(f"worker {worker.address} has another environment than the "
                            "coordinator (its course package or locked packages differ)")
    if pack.sandbox and mine.sandbox:
        raise RefusedWorker(f"worker {worker.address} cannot sandbox: {mine.sandbox}")
    threads = max(1, (os.cpu_count() or 1) // max(1, worker.state.nthreads))
    start = time.perf_counter()
    # in the worker's own folder: Dask clears the folders of dead workers when a new one
    # starts there, so even a worker killed mid-task leaves no submission behind for long
    folder = Path(tempfile.mkdtemp(prefix="course-grading-", dir=worker.local_directory))
    try:
        extra = bundle.build(pack, item, folder)
        answer = _grading_process(threads).grade(
            Request(str(folder), pack.assignment, item.student, extra, pack.retries),
            pack.timeout)
        autograded, records = bundle.collect(folder, pack.assignment, item.student)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return bundle.Returned(item.student, bool(answer["ok"]), int(answer["returncode"]),
                           answer["message"], int(answer["attempts"]),
                           time.perf_counter() - start, float(answer["peak_mib"]),
                           worker.address, autograded, records)

