"""``course-admin autograde --jobs N`` with the sandbox and without, seconds per submission.

Builds a temporary course with this repository's nbgrader_config.py and the
assignment's source/, makes STUDENTS submissions (the instructor's answers, with one
typical mistake in every third one), grades them with the sandbox on and with
``--no-sandbox`` (each run on a fresh gradebook), in A B B A order over the rounds so
that a drift of the machine's speed affects both alike, and prints seconds per
submission, the ratio, and whether the scores are identical. Both sides use the judge;
``--sequential`` adds nbgrader's own sequential ``nbgrader autograde`` (sandbox on) as a
third side.

    ./dev.sh bench autograde [--assignment ps1] [--students 20] [--jobs 2] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_grading import VARIANTS, _course  # the same course and submissions

from course import admin

ROOT = Path(__file__).resolve().parents[1]


def _reset(root: Path, assignment: str) -> None:
    """Fresh gradebook, no autograded/ folder, the assignment registered again."""
    for path in ("gradebook.db", "autograded", "grading_records"):
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    admin.release(root, [assignment])


def _course_admin(root: Path, assignment: str, jobs: int, sandbox: bool) -> float:
    _reset(root, assignment)
    start = time.perf_counter()
    results = admin.autograde(assignment, root, jobs=jobs, progress=False, sandbox=sandbox)
    seconds = time.perf_counter() - start
    failed = [r.student for r in results if not r.ok]
    if failed:
        raise SystemExit(f"grading failed for {failed}")
    return seconds


def _sequential(root: Path, assignment: str, students: list[str]) -> float:
    _reset(root, assignment)
    admin._ensure_students(root, students)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"],
                          cwd=root, env=admin._env(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", choices=sorted(VARIANTS), default="ps1")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of every side, ordered A B B A ... (default 2)")
    parser.add_argument("--sequential", action="store_true",
                        help="also time nbgrader's own sequential autograde")
    args = parser.parse_args()
    sides = ["sandbox", "no sandbox"] + (["nbgrader sequential"] if args.sequential else [])
    times: dict[str, list[float]] = {side: [] for side in sides}
    scores: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                     "IPYTHONDIR", "MPLCONFIGDIR"):
            path = os.path.join(tmp, name.lower())
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        root = _course(Path(tmp), args.assignment, args.students)
        students = sorted(p.name for p in (root / "submitted").iterdir())
        for round_ in range(args.rounds):
            order = sides if round_ % 2 == 0 else sides[::-1]
            for side in order:
                if side == "nbgrader sequential":
                    times[side].append(_sequential(root, args.assignment, students))
                else:
                    times[side].append(_course_admin(root, args.assignment, args.jobs,
                                                     sandbox=side == "sandbox"))
                table = admin.scores(root, args.assignment, students)
                scores[side] = {s: (score, grades) for s, (score, _, grades) in table.items()}
    n = len(students)
    print(f"{n} submissions of {args.assignment}, --jobs {args.jobs}, {os.cpu_count()} CPUs, "
          f"{args.rounds} rounds (A B B A order)")
    for side in sides:
        per = sum(times[side]) / (n * args.rounds)
        print(f"{side:>20}: " + ", ".join(f"{t:.1f} s" for t in times[side])
              + f"  -> {per:5.2f} s/submission")
    ratios = [a / b for a, b in zip(times["sandbox"], times["no sandbox"])]
    print(f"sandbox / no sandbox: {sum(times['sandbox']) / sum(times['no sandbox']):.2f} "
          f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    identical = all(scores[side] == scores["sandbox"] for side in sides)
    print(f"identical scores: {identical}")
    if not identical:
        for side in sides:
            print(f"  {side}: {scores[side]}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
