"""``course-admin autograde --cluster`` on one Dask worker versus two, and the projection.

Starts two Dask schedulers on 127.0.0.1, one with one worker and one with two
(``dask worker --nworkers 1 --nthreads 1`` each), builds a temporary course per
assignment with this repository's nbgrader_config.py and source/ (the instructor's
answers, with a typical mistake in every third submission, as ``bench_grading``), and
grades every submission on each side in A B B A order (each run on a fresh gradebook,
``--force``), after a warm-up batch per side. Prints the wall time of each run,
seconds per submission, the two-worker / one-worker ratio, whether the scores agree,
and, from the one-worker cost per submission, the projected time of a class of 300 and
of 5,000 submissions on N workers:

    T(S, N) = F + max(ceil(S / N) * c, S * r)

where ``c`` is one worker's wall time per submission, ``r`` the coordinator's time to
record one result (it records one after another) and ``F`` the batch's fixed cost
(connecting, admitting workers, packing the assignment), all measured here. A worker
of the projection is a machine like this one (its cores to itself): two workers on this
machine share its cores, so their ratio measures contention, not a cluster's speed-up.

    ./dev.sh bench cluster [--assignments ps1 ps4] [--students 6 4] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_autograde import _reset  # a fresh gradebook, as there
from bench_grading import VARIANTS, _course  # the same course and submissions

from course import admin
from course.batch.cluster import Cluster

ROOT = Path(__file__).resolve().parents[1]

DASK = Path(sys.executable).with_name("dask")
CLASSES = (300, 5000)
WORKERS = (1, 8, 32, 128)


class Scheduler:
    """A scheduler on 127.0.0.1 with ``workers`` workers, each in its own session."""

    def __init__(self, folder: Path, workers: int):
        folder.mkdir()
        self.file = folder / "scheduler.json"
        self.processes = [self._spawn(folder / "scheduler.log", [
            "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(self.file)])]
        while not (self.file.is_file() and self.file.stat().st_size):
            time.sleep(0.2)
        for number in range(workers):
            self.processes.append(self._spawn(folder / f"worker{number}.log", [
                "worker", "--scheduler-file", str(self.file), "--nworkers", "1", "--nthreads",
                "1", "--host", "127.0.0.1", "--no-dashboard",
                "--local-directory", str(folder / f"worker{number}")]))
        from distributed import Client

        with Client(scheduler_file=str(self.file), set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)

    @staticmethod
    def _spawn(log: Path, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([str(DASK), *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    def close(self) -> None:
        for process in self.processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _run(root: Path, assignment: str, scheduler: Scheduler, students=None) -> dict:
    _reset(root, assignment)
    start = time.perf_counter()
    results = admin.autograde(assignment, root, students=students, progress=False, force=True,
                              cluster=Cluster(scheduler_file=str(scheduler.file)))
    wall = time.perf_counter() - start
    failed = [r.student for r in results if not r.ok]
    if failed:
        raise SystemExit(f"grading failed for {failed}: {[r.message for r in results]}")
    return {"wall": wall, "worker_seconds": [r.seconds for r in results],
            "record_seconds": [r.record_seconds for r in results],
            "scores": {r.student: (r.score, r.grades) for r in results}}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignments", nargs="+", default=["ps1", "ps4"],
                        choices=sorted(VARIANTS))
    parser.add_argument("--students", nargs="+", type=int, default=[6, 4],
                        help="submissions per assignment, in the same order (default 6 4)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each side, in A B B A ... order (default 2)")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args()
    if len(args.students) != len(args.assignments):
        parser.error("--students: give one count per assignment")
    measured = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                     "IPYTHONDIR", "MPLCONFIGDIR"):
            path = os.path.join(tmp, name.lower())
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
        load = os.getloadavg()
        sides = {"1 worker": Scheduler(Path(tmp) / "one", 1),
                 "2 workers": Scheduler(Path(tmp) / "two", 2)}
        try:
            # warm-up: every worker starts its grading process (nbgrader's import) on ps1
            (Path(tmp) / "warm-up").mkdir()
            warm = _course(Path(tmp) / "warm-up", "ps1", 4)
            for scheduler in sides.values():
                _run(warm, "ps1", scheduler)
            for assignment, count in zip(args.assignments, args.students):
                base = Path(tmp) / assignment
                base.mkdir()
                root = _course(base, assignment, count)
                runs = {side: [] for side in sides}
                order = list(sides)
                for round_ in range(args.rounds):
                    for side in order if round_ % 2 == 0 else order[::-1]:
                        runs[side].append(_run(root, assignment, sides[side]))
                        print(f"{assignment} {side}: {runs[side][-1]['wall']:.1f} s", flush=True)
                measured[assignment] = {"students": count, "runs": runs}
        finally:
            for scheduler in sides.values():
                scheduler.close()
    print(f"\n{os.cpu_count()} CPUs; load average before: {load[0]:.1f}, after: "
          f"{os.getloadavg()[0]:.1f}; sandbox on; {args.rounds} rounds (A B B A order)")
    for assignment, data in measured.items():
        n, runs = data["students"], data["runs"]
        one, two = ([r["wall"] for r in runs[side]] for side in ("1 worker", "2 workers"))
        c = sum(one) / (n * len(one))
        r = max(sum(x["record_seconds"]) / n for x in runs["1 worker"] + runs["2 workers"])
        fixed = sum(x["wall"] - sum(x["worker_seconds"]) for x in runs["1 worker"]) / len(one)
        agree = all(x["scores"] == runs["1 worker"][0]["scores"]
                    for side in runs for x in runs[side])
        print(f"\n{assignment}: {n} submissions per run")
        for side, times in (("1 worker", one), ("2 workers", two)):
            per = sum(times) / (n * len(times))
            print(f"  {side:>9}: " + ", ".join(f"{t:.1f} s" for t in times)
                  + f"  -> {per:.2f} s per submission")
        print(f"  2 workers / 1 worker: {sum(two) / sum(one):.2f} (per round: "
              + ", ".join(f"{b / a:.2f}" for a, b in zip(one, two)) + ")")
        print(f"  scores identical on every run: {agree}")
        print(f"  c = {c:.2f} s per submission on one worker, r = {r:.3f} s to record one, "
              f"F = {max(fixed, 0.0):.1f} s per batch")
        print("  projected " + " | ".join(f"N={w:>3}" for w in WORKERS))
        for size in CLASSES:
            cells = [_duration(max(fixed, 0.0) + max(math.ceil(size / w) * c, size * r))
                     for w in WORKERS]
            print(f"  S={size:>5}  " + " | ".join(f"{cell:>5}" for cell in cells))
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=1, default=str))


if __name__ == "__main__":
    main()
