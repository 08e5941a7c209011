"""Sequential `nbgrader autograde ps1` versus `course-admin autograde ps1 --jobs N`.

Builds a temporary course with this repository's nbgrader_config.py and source/ps1,
makes STUDENTS submissions of ps1 (the instructor's answers, with one typical
mistake in every third one), grades them once with nbgrader's own sequential
command and once with course-admin in parallel (each run on a fresh gradebook), in
A B B A order over the rounds, and prints seconds per submission, the speed-up, and
whether the scores are identical.

    python benchmarks/bench_autograde.py [--students 20] [--jobs 2] [--rounds 2]
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


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench_grading import _course  # noqa: E402  the same course and submissions
from course import admin  # noqa: E402


def _reset(root: Path) -> None:
    """Fresh gradebook and no autograded/ folder, with the assignment registered again."""
    for path in ("gradebook.db", "autograded"):
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    admin.release(root, ["ps1"])


def _sequential(root: Path, students: list[str]) -> float:
    _reset(root)
    admin._ensure_students(root, students)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "ps1", "--force"],
                          cwd=root, env=admin._env(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return seconds


def _parallel(root: Path, jobs: int) -> float:
    _reset(root)
    start = time.perf_counter()
    admin.autograde("ps1", root, jobs=jobs, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of both runs, ordered A B B A ... so that a drift of the "
                             "machine's speed affects both alike (default 2)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"sequential": [], "parallel": []}
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        env_dirs = {name: os.path.join(tmp, name.lower()) for name in (
            "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
            "MPLCONFIGDIR")}
        for name, path in env_dirs.items():
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        root = _course(Path(tmp), "ps1", args.students)
        students = sorted(p.name for p in (root / "submitted").iterdir())
        identical = True
        for round_ in range(args.rounds):
            order = ("sequential", "parallel") if round_ % 2 == 0 else ("parallel", "sequential")
            for kind in order:
                if kind == "sequential":
                    times[kind].append(_sequential(root, students))
                    reference = admin.scores(root, "ps1", students)
                else:
                    times[kind].append(_parallel(root, args.jobs))
                    ours = admin.scores(root, "ps1", students)
            identical &= ours == reference
            if ours != reference:
                for student in students:
                    if ours.get(student) != reference.get(student):
                        print(f"  {student}: nbgrader {reference.get(student)} vs course-admin "
                              f"{ours.get(student)}")

    n = len(students)
    sequential, parallel = sum(times["sequential"]), sum(times["parallel"])
    print(f"{n} submissions of ps1, {os.cpu_count()} CPUs, {args.rounds} rounds (A B B A order)")
    print(f"nbgrader autograde ps1 (sequential): "
          + ", ".join(f"{t:.1f} s" for t in times["sequential"])
          + f"  -> {sequential / (n * args.rounds):5.2f} s/submission")
    print(f"course-admin autograde --jobs {args.jobs}:      "
          + ", ".join(f"{t:.1f} s" for t in times["parallel"])
          + f"  -> {parallel / (n * args.rounds):5.2f} s/submission")
    print(f"speed-up: {sequential / parallel:.2f}x "
          f"(per round: {', '.join(f'{a / b:.2f}x' for a, b in zip(times['sequential'], times['parallel']))})")
    print(f"identical scores: {identical}")
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
