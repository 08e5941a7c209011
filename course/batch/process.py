"""The grading process: one submission after another through nbgrader's Python API.

A grading process imports nbgrader once (about 2 s of CPU) and then grades the
submissions it is sent, one at a time, with nbgrader's Python API: the same code as
``nbgrader autograde ASSIGNMENT --student S --force``. Every notebook still runs in a
fresh kernel, in its sandbox. The process reads one request per line on stdin (JSON:
the course directory, the assignment, the student, the nbgrader options) and answers
one line per request; a gradebook that SQLite reports locked is retried
(:func:`.coursedir.with_retries`).

This is the one way a submission is graded, wherever: ``jobs`` grading processes on
this machine (:func:`grade_locally`), or one per thread of each worker of a cluster
(:mod:`.worker`), where the course directory is a private temporary one that the
worker builds from what the coordinator sent.

Run as ``python -m course.batch.process``; :class:`GradingProcess` starts and drives one.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from .coursedir import RETRIES, GradeResult, environment, last_error, load_config, with_retries

__all__ = ["GradingProcess", "Request", "grade_locally", "serve"]

RESULT = "@@course-grading-result "
CRASHED = -1  # return code of a submission whose grading process died
TIMED_OUT = -9  # ... and of one stopped after ``timeout`` seconds


@dataclass(frozen=True)
class Request:
    """One submission to grade, as a grading process reads it."""

    root: str  # the course directory (nbgrader_config.py, the gradebook, submitted/)
    assignment: str
    student: str
    extra: tuple[str, ...] = ()  # nbgrader options, ``--Class.trait=value``
    retries: int = RETRIES  # extra attempts after "database is locked"

    def to_line(self) -> str:
        return json.dumps({**asdict(self), "extra": list(self.extra)}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Request:
        data = json.loads(line)
        return cls(str(data["root"]), str(data["assignment"]), str(data["student"]),
                   tuple(str(x) for x in data.get("extra", ())),
                   int(data.get("retries", RETRIES)))


def _peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (its children not counted)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _API:
    """nbgrader's API for one course directory and set of options, kept while they hold."""

    def __init__(self):
        self.key, self.api = None, None

    def get(self, request: Request):
        import logging

        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        key = (request.root, request.extra)
        if key != self.key:
            config = load_config(Path(request.root), request.extra)
            coursedir = CourseDirectory(config=config)
            self.api = NbGraderAPI(coursedir=coursedir, config=config)
            self.api.log.setLevel(logging.WARNING)
            self.key = key
        return self.api


def _problem(outcome: dict) -> str:
    if outcome.get("success"):
        return ""
    return f"{outcome.get('error') or ''}\n{outcome.get('log') or ''}"


def grade(request: Request, apis: _API | None = None) -> dict:
    """Grade one submission in this process; the answer a grading process writes."""
    apis = apis or _API()
    os.chdir(request.root)

    def attempt() -> dict:
        try:
            return apis.get(request).autograde(request.assignment, request.student,
                                               force=True, create=False)
        except Exception as error:  # noqa: BLE001 - reported, the process goes on
            return {"success": False, "error": repr(error)}

    outcome, attempts = with_retries(attempt, _problem, request.retries)
    ok = bool(outcome.get("success"))
    message = "" if ok else last_error(outcome.get("error", "") or outcome.get("log", ""))
    return {"student": request.student, "ok": ok, "message": message, "attempts": attempts,
            "peak_mib": _peak_mib()}


def serve(lines: Iterable[str] = sys.stdin, out: TextIO = sys.stdout) -> None:
    """Answer every request line of ``lines`` (a grading process's whole life)."""
    apis = _API()
    for line in lines:
        if line.strip():
            answer = grade(Request.from_line(line), apis)
            out.write(RESULT + json.dumps(answer) + "\n")
            out.flush()


class GradingProcess:
    """A grading process, started on first use and replaced after a crash or a timeout.

    Parameters
    ----------
    env : dict
        Its environment (see :func:`.coursedir.environment`).
    cwd : path
        Its working folder when it starts.
    fresh : bool
        A new process for every submission (costs nbgrader's import, about 2 s of CPU,
        each time) instead of one for all.
    """

    def __init__(self, env: dict[str, str], cwd: str | os.PathLike, fresh: bool = False):
        self.env, self.cwd, self.fresh = env, str(cwd), fresh
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "course.batch.process"], cwd=self.cwd,
                                   env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, bufsize=1)
        lines: queue.Queue = queue.Queue()

        def read() -> None:
            for line in process.stdout:
                lines.put(line)
            lines.put(None)  # the process ended

        threading.Thread(target=read, daemon=True).start()
        self.process, self.lines = process, lines
        return process

    def grade(self, request: Request, timeout: float | None = None) -> dict:
        """The grading process's answer for ``request`` (see :func:`grade`).

        A process that dies, or takes longer than ``timeout`` seconds, is stopped and
        the answer says so (``ok`` false, ``returncode`` :data:`CRASHED` or
        :data:`TIMED_OUT`); the next request starts a new one.
        """
        if self.process is not None and self.process.poll() is not None:
            self.stop()  # it died after its last answer (out of memory, say): a new one
        process = self.process or self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            process.stdin.write(request.to_line())
            process.stdin.flush()
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                line = self.lines.get(timeout=left)
                if line is None:
                    break
                if line.startswith(RESULT):
                    answer = json.loads(line[len(RESULT):])
                    if self.fresh:
                        self.close()
                    return {**answer, "returncode": 0 if answer["ok"] else 1}
        except queue.Empty:
            self.stop()
            return {"student": request.student, "ok": False, "returncode": TIMED_OUT,
                    "message": f"grading took longer than {timeout:g} s and was stopped",
                    "attempts": 1, "peak_mib": 0.0}
        except OSError:
            pass
        self.stop()
        return {"student": request.student, "ok": False, "returncode": CRASHED,
                "message": "the grading process crashed", "attempts": 1, "peak_mib": 0.0}

    def stop(self) -> None:
        """Kill the process (its sandboxes die with it) and forget it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        """Let the process finish and end (no more requests)."""
        if self.process is not None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
            self.process = None


def grade_locally(root: Path, assignment: str, students: Sequence[str], jobs: int,
                  extra: Sequence[str], threads: int, retries: int = RETRIES,
                  timeout: float | None = None, fresh: bool = False,
                  on_result: Callable[[GradeResult], None] | None = None) -> list[GradeResult]:
    """Grade ``students`` on this machine with ``jobs`` grading processes side by side.

    Each process's kernels get ``threads`` threads for their thread pools. Returns one
    :class:`.GradeResult` per student (scores not yet read), in no particular order.
    """
    env = environment(root, threads)
    todo: queue.Queue[str] = queue.Queue()
    for student in students:
        todo.put(student)
    results: list[GradeResult] = []
    lock = threading.Lock()

    def run() -> None:
        process = GradingProcess(env, root, fresh)
        try:
            while True:
                try:
                    student = todo.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                answer = process.grade(Request(str(root), assignment, student, tuple(extra),
                                               retries), timeout)
                result = GradeResult(student, answer["returncode"], message=answer["message"],
                                     seconds=time.perf_counter() - start,
                                     attempts=answer["attempts"], peak_mib=answer["peak_mib"])
                with lock:
                    results.append(result)
                    if on_result is not None:
                        on_result(result)
        finally:
            process.close()

    workers = [threading.Thread(target=run) for _ in range(min(jobs, len(students)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


if __name__ == "__main__":  # pragma: no cover - the grading process itself
    serve()
