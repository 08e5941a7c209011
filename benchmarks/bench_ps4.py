"""Wall time of grading ps4: seconds per submission and the projection for a class.

Builds a temporary course with this repository's nbgrader_config.py and source/ps4,
makes N submissions (the instructor's notebook, with a typical mistake in every third
one), grades them with ``course-admin autograde ps4 --jobs J`` and prints seconds per
submission, the slowest one, and the projected time for a class.

    python benchmarks/bench_ps4.py [--students 6] [--jobs 2] [--class-size 300]

Budget (stated in course/grading_nn.py and the notebook): at most 30 s per submission
with --jobs equal to the cores, so that 300 students grade in about 75 minutes on
2 cores.
"""
from __future__ import annotations

import argparse
import os
import shutil
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

BUDGET = 30.0  # seconds per submission, wall clock, --jobs = cores
VARIANTS = ("ps4_instructor", "ps4_no_zero_grad", "ps4_softmax", "ps4_undertrained",
            "ps4_missing_pool", "ps4_no_restore")


def _course(base: Path, students: int) -> Path:
    root = base / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "source").mkdir()
    shutil.copytree(ROOT / "source" / "ps4", root / "source" / "ps4")
    admin.release(root, ["ps4"])
    for number in range(students):
        name = VARIANTS[0] if number % 3 else VARIANTS[(number // 3) % len(VARIANTS)]
        folder = root / "submitted" / f"student{number:03d}" / "ps4"
        folder.mkdir(parents=True)
        nbformat.write(_submission(root, PATCHES[name]), folder / "ps4.ipynb")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--class-size", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ps4-") as tmp:
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                     "IPYTHONDIR", "MPLCONFIGDIR"):
            path = os.path.join(tmp, name.lower())
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        root = _course(Path(tmp), args.students)
        start = time.perf_counter()
        results = admin.autograde("ps4", root, jobs=args.jobs, progress=False)
        wall = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    per_submission = wall / len(results)
    projected = per_submission * args.class_size
    slowest = max(results, key=lambda r: r.seconds)
    print(f"{len(results)} submissions of ps4, --jobs {args.jobs}, {os.cpu_count()} CPUs")
    print(f"wall time: {wall:.1f} s, {per_submission:.1f} s per submission "
          f"(budget {BUDGET:.0f} s)")
    print(f"one submission alone took {min(r.seconds for r in results):.1f}-"
          f"{slowest.seconds:.1f} s of wall time in its worker (slowest: {slowest.student})")
    print(f"projected for {args.class_size} students: {projected / 60:.0f} min")
    for r in results:
        print(f"  {r.student}: {r.score:g}/{r.max_score:g} in {r.seconds:.1f} s"
              + ("" if r.ok else f"  FAILED: {r.message}"))
    if failed or per_submission > BUDGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
