"""Grading on a Dask cluster: the coordinator's side of ``course-admin autograde --cluster``.

The coordinator is the machine with the course directory. It connects to a running
Dask scheduler (``tcp://host:port``, ``tls://host:port`` or a scheduler file), and:

1. **admits workers** (:class:`Admission`): every worker the scheduler knows, and every
   one that joins later, reports its environment and whether it can sandbox
   (:mod:`.environment`); a worker whose course package, Python or locked packages
   differ from the coordinator's, or that cannot sandbox (unless ``--no-sandbox``), is
   refused and the reason printed. Admitted workers get a Dask *resource* named after
   the coordinator's fingerprint, and every task requires one unit of it: Dask sends
   tasks to admitted workers only.
2. **submits one task per submission** (:func:`.worker.grade_task`) with the batch's
   :class:`.bundle.AssignmentPack` (computed once, by a task, so that Dask can compute
   it again if every worker holding it dies) and the submission's
   :class:`.bundle.SubmissionPack`; at most a few tasks per admitted thread are
   waiting at a time, so the scheduler never holds a whole class's notebooks.
3. **records each result** as it arrives (:func:`.bundle.record`): the coordinator
   alone writes the gradebook, ``autograded/`` and the grading records, so workers
   share no filesystem with it or with each other.

Faults: a worker that dies while it grades costs nothing; Dask runs its tasks again on
another worker (up to ``distributed.scheduler.allowed-failures`` times, default 3), and
each result is recorded once, by an idempotent write. A coordinator that is stopped
and run again skips the submissions already graded with the same checksum (unless
``force``).
"""
from __future__ import annotations

import collections
import contextlib
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import bundle, environment
from .coursedir import GradeResult, Settings, mark_graded

__all__ = ["Admission", "Cluster", "grade_on_cluster"]

AHEAD = 4  # tasks submitted per admitted worker thread, beyond the running one
POLL = 0.2  # seconds between looks for finished tasks
CHECK = 2.0  # seconds between looks for new (or departed) workers


@dataclass(frozen=True)
class Cluster:
    """A Dask scheduler to grade on, and how to reach it.

    Parameters
    ----------
    address : str, optional
        ``tcp://host:port`` or ``tls://host:port`` of the scheduler.
    scheduler_file : str, optional
        The scheduler's JSON file (``dask scheduler --scheduler-file FILE``), instead of
        ``address``.
    wait : float
        Seconds to wait for an admitted worker, at the start and whenever none is left.
    tls_ca_file, tls_cert, tls_key : str, optional
        The certificate authority, and the coordinator's certificate and key, for a
        ``tls://`` scheduler (Dask's ``distributed.security.Security``). Dask's own
        configuration (``distributed.comm.tls.*``) is used when they are not given.
    security : distributed.security.Security, optional
        Used as it is instead of the files above: e.g. the ``security`` of a
        dask-jobqueue or dask-kubernetes cluster started in the same process.
    """

    address: str | None = None
    scheduler_file: str | None = None
    wait: float = 60.0
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    security: object = None

    def __post_init__(self):
        if (self.address is None) == (self.scheduler_file is None):
            raise ValueError("give exactly one of `address` and `scheduler_file`, got "
                             f"address={self.address!r}, scheduler_file={self.scheduler_file!r}")
        if not self.wait > 0:
            raise ValueError(f"`wait` must be a positive number of seconds, got {self.wait!r}")

    def connect(self):
        """A ``distributed.Client`` of the scheduler."""
        import dask
        from distributed import Client
        from distributed.security import Security

        options = {}
        if self.security is not None:
            options["security"] = self.security
        elif self.tls_ca_file or self.tls_cert or self.tls_key:
            options["security"] = Security(tls_ca_file=self.tls_ca_file,
                                           tls_client_cert=self.tls_cert,
                                           tls_client_key=self.tls_key,
                                           require_encryption=True)
        where = {"address": self.address} if self.address else \
            {"scheduler_file": self.scheduler_file}
        address = self.address or _address_in(self.scheduler_file)
        if address.startswith("tls://") and "security" not in options \
                and not dask.config.get("distributed.comm.tls.ca-file", None):
            raise SystemExit(f"course-admin: the scheduler {address} speaks TLS: give this "
                             "machine's certificate with --tls-ca-file, --tls-cert and --tls-key "
                             "(or Dask's distributed.comm.tls settings)")
        try:
            return Client(**where, timeout=self.wait, set_as_default=False, **options)
        except (OSError, TypeError, ValueError) as error:
            raise SystemExit(f"course-admin: cannot reach the Dask scheduler at "
                             f"{address or self.scheduler_file}: {error}") from None


def _address_in(scheduler_file: str | None) -> str:
    """The scheduler's address in its file ("" while the file is not there yet)."""
    import json

    try:
        return str(json.loads(Path(scheduler_file).read_text())["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _say(text: str) -> None:
    print(f"course-admin: {text}", file=sys.stderr, flush=True)


def _loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def lock_file(root: Path) -> Path | None:
    """The course's lock file: ROOT/requirements/lock.txt, or the installed checkout's."""
    import course

    for base in (root, Path(course.__file__).resolve().parents[1]):
        path = base / "requirements" / "lock.txt"
        if path.is_file():
            return path
    return None


class Admission:
    """Which workers may grade this batch: each is checked once, when first seen."""

    def __init__(self, client, ours: environment.Report, names: tuple[str, ...],
                 sandbox: bool, resource: str, say: Callable[[str], None] = _say):
        self.client, self.ours, self.names = client, ours, names
        self.sandbox, self.resource, self.say = sandbox, resource, say
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}
        self.present: set[str] = set()

    def update(self) -> None:
        """Check the workers the scheduler knows that were not checked yet."""
        from .worker import admit, withdraw, worker_report

        self.present = set(self.client.scheduler_info(n_workers=-1)["workers"])
        for address in sorted(self.present - self.admitted - set(self.refused)):
            try:
                data = self.client.run(worker_report, self.names, workers=[address])[address]
                theirs = environment.Report(**data)
            except Exception as error:  # noqa: BLE001 - a worker without the course, say
                self.refused[address] = f"it could not report its environment ({error!r})"
                self.say(f"worker {address}: refused: {self.refused[address]}")
                continue
            reason = environment.refusal(self.ours, theirs, self.sandbox)
            where = f"worker {address} ({theirs.host})"
            if reason is None:
                self.client.run(admit, self.resource, workers=[address])
                self.admitted.add(address)
                state = "sandbox works" if not theirs.sandbox else \
                    f"no sandbox: {theirs.sandbox}; grading unprotected"
                self.say(f"{where}: admitted ({state})")
            else:
                with contextlib.suppress(Exception):  # it cannot run ours: it has no resource
                    self.client.run(withdraw, self.resource, workers=[address])
                self.refused[address] = reason
                self.say(f"{where}: refused: {reason}")

    def alive(self) -> set[str]:
        return self.admitted & self.present


def _wait_for_workers(admission: Admission, wait: float) -> None:
    deadline = time.monotonic() + wait
    admission.update()
    while not admission.alive():
        if time.monotonic() > deadline:
            reasons = "".join(f"\n  {a}: {r}" for a, r in sorted(admission.refused.items()))
            raise SystemExit(f"course-admin: no worker of the cluster was admitted within "
                             f"{wait:g} s" + (f"; refused:{reasons}" if reasons else
                                              " (none connected)"))
        time.sleep(1.0)
        admission.update()


def _pack(pack: bundle.AssignmentPack) -> bundle.AssignmentPack:
    return pack


def grade_on_cluster(cluster: Cluster, settings: Settings, assignment: str,
                     students: Sequence[str], staging: Path, extra: Sequence[str], *,
                     digests: dict[str, str], sandbox: bool, replay: bool,
                     timeout: float | None, retries: int,
                     on_result: Callable[[GradeResult], None] | None = None,
                     say: Callable[[str], None] = _say) -> list[GradeResult]:
    """Grade the staged submissions of ``students`` on the cluster; record each result.

    Returns one :class:`.GradeResult` per student (scores not yet read), in the order
    they finished.
    """
    from distributed import as_completed

    from .worker import grade_task

    lock = lock_file(settings.root)
    names = environment.lock_names(lock) if lock else ()
    if lock is None:
        say("no requirements/lock.txt: the workers' installed packages are not compared")
    ours = environment.report(names, False)
    expected = environment.fingerprint(ours)
    resource = f"course-grading-{expected[:12]}-{'sandboxed' if sandbox else 'unsandboxed'}"
    client = cluster.connect()
    results: list[GradeResult] = []

    def done_with(result: GradeResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        address = client.scheduler.address
        if address.startswith("tcp://") and not _loopback(address):
            say(f"the scheduler {address} is reached without encryption: anyone who can reach "
                "it can run code on its workers; use TLS (see the README's 'Grading on a "
                "cluster')")
        admission = Admission(client, ours, names, sandbox, resource, say)
        _wait_for_workers(admission, cluster.wait)
        pack = bundle.pack_assignment(settings, assignment, tuple(extra), expected=expected,
                                      packages=names, sandbox=sandbox, timeout=timeout,
                                      retries=retries)
        token = uuid.uuid4().hex[:8]
        pack_future = client.submit(_pack, pack, key=f"course-pack-{assignment}-{token}",
                                    pure=False, resources={resource: 1})
        todo = collections.deque(students)
        running: dict = {}
        finished = as_completed(loop=client.loop)

        def top_up() -> None:
            alive = sorted(admission.alive())
            threads = max(1, sum(client.nthreads(alive).values()) if alive else 1)
            while todo and len(running) < threads * (1 + AHEAD):
                student = todo.popleft()
                item = bundle.pack_submission(settings, assignment, student,
                                              staging / student / assignment,
                                              digests[student], replay)
                future = client.submit(grade_task, pack_future, item, pure=False,
                                       key=f"course-grade-{assignment}-{token}-{student}",
                                       resources={resource: 1})
                running[future.key] = (future, student)
                finished.add(future)

        top_up()
        checked, lonely = time.monotonic(), None
        while running:
            done = finished.next_batch(block=False)
            if not done:
                time.sleep(POLL)
                if time.monotonic() - checked > CHECK:
                    checked = time.monotonic()
                    admission.update()
                    if admission.alive():
                        lonely = None
                    elif lonely is None:
                        lonely = checked
                        say(f"no admitted worker left; waiting up to {cluster.wait:g} s for one")
                    elif checked - lonely > cluster.wait:
                        for future, student in running.values():
                            future.cancel()
                            done_with(GradeResult(student, 1, message="no admitted worker "
                                                  "was left to grade it"))
                        running.clear()
                continue
            for future in done:
                if future.key not in running:
                    continue
                _, student = running.pop(future.key)
                done_with(_finish(settings, assignment, staging, student, future, digests[student]))
                future.release()
            top_up()
        for student in todo:  # left when no worker was
            done_with(GradeResult(student, 1, message="no admitted worker was left to grade it"))
    finally:
        client.close()
    return results


def _finish(settings: Settings, assignment: str, staging: Path, student: str, future,
            digest: str) -> GradeResult:
    """The result of one finished task, recorded in the course when grading worked.

    Once its grades are in the gradebook, the submission is noted as graded (with the
    checksum ``digest``): a coordinator stopped after this point does not grade it again.
    """
    try:
        returned: bundle.Returned = future.result()
    except Exception as error:  # noqa: BLE001 - one submission fails, the batch goes on
        return GradeResult(student, 1, message=f"the cluster could not grade it: "
                                                f"{type(error).__name__}: {error}"[:300])
    result = GradeResult(student, returned.returncode, message=returned.message,
                         seconds=returned.seconds, attempts=returned.attempts,
                         peak_mib=returned.peak_mib, worker=returned.worker)
    if returned.ok:
        start = time.perf_counter()
        try:
            bundle.record(settings, assignment, staging / student / assignment, returned)
            mark_graded(settings, assignment, student, digest, returned.worker)
        except Exception as error:  # noqa: BLE001 - reported with the submission
            result.returncode = 1
            result.message = f"its grades could not be recorded: {error!r}"[:300]
        result.record_seconds = time.perf_counter() - start
    return result
