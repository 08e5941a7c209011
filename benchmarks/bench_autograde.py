"""Sequential `nbgrader autograde ps1` versus `course-admin autograde ps1 --jobs N`.

Builds a temporary course with this repository's nbgrader_config.py and source/,
makes STUDENTS submissions of ps1 (the instructor's answers, with one typical
mistake in every third one), grades them once with nbgrader's own sequential
command and once with course-admin in parallel (each run on a fresh gradebook), and
prints seconds per submission, the speed-up, and whether the scores are identical.

    python benchmarks/bench_autograde.py [--students 20] [--jobs 2]
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

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from course import admin  # noqa: E402
from test_nbgrader import PATCHES, _submission  # noqa: E402


def _course(base: Path, students: int) -> Path:
    root = base / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source")
    admin.release(root, ["ps1"])
    variants = [PATCHES[name] for name in ("ps1_instructor", "ps1_flipped_kernel", "ps1_ceil",
                                           "ps1_padding_mode", "ps1_forbidden_call")]
    for number in range(students):
        patch = variants[0] if number % 3 else variants[(number // 3) % len(variants)]
        folder = root / "submitted" / f"student{number:03d}" / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(_submission(root, patch), folder / "ps1.ipynb")
    return root


def _reset(root: Path) -> None:
    """Fresh gradebook and no autograded/ folder, with the assignment registered again."""
    for path in ("gradebook.db", "autograded"):
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    admin.release(root, ["ps1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        env_dirs = {name: os.path.join(tmp, name.lower()) for name in (
            "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
            "MPLCONFIGDIR")}
        for name, path in env_dirs.items():
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        root = _course(Path(tmp), args.students)
        students = sorted(p.name for p in (root / "submitted").iterdir())

        _reset(root)
        _ = admin._ensure_students(root, students)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "ps1", "--force"],
                              cwd=root, env=admin._env(root), capture_output=True, text=True)
        sequential = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        reference = admin.scores(root, "ps1", students)

        _reset(root)
        start = time.perf_counter()
        results = admin.autograde("ps1", root, jobs=args.jobs, progress=False)
        parallel = time.perf_counter() - start
        ours = {r.student: (r.score, r.max_score, r.grades) for r in results}

    n = len(students)
    print(f"{n} submissions of ps1, {os.cpu_count()} CPUs")
    print(f"nbgrader autograde ps1 (sequential): {sequential:7.1f} s  {sequential / n:5.2f} s/submission")
    print(f"course-admin autograde --jobs {args.jobs}:      {parallel:7.1f} s  "
          f"{parallel / n:5.2f} s/submission")
    print(f"speed-up: {sequential / parallel:.2f}x")
    identical = ours == reference
    print(f"identical scores: {identical}")
    if not identical:
        for student in students:
            if ours.get(student) != reference.get(student):
                print(f"  {student}: nbgrader {reference.get(student)} vs course-admin {ours.get(student)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
