"""Wall time of grading one assignment: seconds per submission and the projection for a class.

Builds a temporary course with this repository's nbgrader_config.py and
source/<assignment>, makes N submissions (the instructor's notebook, with a typical
mistake in every third one), grades them with ``course-admin autograde <assignment>
--jobs J`` and prints seconds per submission, the slowest one, and the projected time
for a class.

    ./dev.sh bench grading [--assignment ps4] [--students 6] [--jobs 2] [--class-size 300]

Budget: at most 30 s per submission (wall time over submissions) with --jobs equal to the
cores, so that 300 students grade in at most 2.5 hours on 2 cores. Measured with
bench_autograde on an otherwise idle 2-core machine (Dec 2026, sandbox on): ps4, which
trains LeNet-5 on real digits and runs a three-seed experiment in the notebook, 19.8 s
(about 100 minutes for 300 students); ps5, which trains its NumPy network (about 20 s of
one core), 14.9 s (75 minutes). ``--no-sandbox`` grades without the sandbox, to
compare.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from course import admin

try:
    from coursekit import load_patches, submission
except ModuleNotFoundError:  # the tests' kit is on the path when run as below
    raise SystemExit("run the benchmarks with ./dev.sh bench NAME (it puts tests/, the shared "
                     "test kit, on the path)") from None

ROOT = Path(__file__).resolve().parents[1]

PATCHES = load_patches(ROOT / "tests" / "submissions", ("ps1", "ps2", "ps3", "ps4", "ps5"))

BUDGET = 30.0  # seconds per submission, wall clock, --jobs = cores
VARIANTS = {  # the instructor's notebook first, then typical mistakes
    "ps1": ("ps1_instructor", "ps1_flipped_kernel", "ps1_ceil", "ps1_padding_mode", "ps1_forbidden_call"),
    "ps2": ("ps2_instructor", "ps2_channel_swap", "ps2_bias_missing", "ps2_pool_windows"),
    "ps3": ("ps3_instructor", "ps3_grad_x_not_flipped", "ps3_transpose_padding", "ps3_pool_assign",
            "ps3_im2col_channel_last"),
    "ps4": ("ps4_instructor", "ps4_no_zero_grad", "ps4_softmax", "ps4_undertrained",
            "ps4_missing_pool", "ps4_no_restore"),
    "ps5": ("ps5_instructor", "ps5_batch_axis", "ps5_bn_eval_batch_stats", "ps5_momentum_wrong_term",
            "ps5_softmax_overflow", "ps5_gradcheck_per_array"),
}


def _course(base: Path, assignment: str, students: int) -> Path:
    root = base / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "source").mkdir()
    shutil.copytree(ROOT / "source" / assignment, root / "source" / assignment)
    admin.release(root, [assignment])
    variants = VARIANTS[assignment]
    for number in range(students):
        name = variants[0] if number % 3 else variants[(number // 3) % len(variants)]
        folder = root / "submitted" / f"student{number:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(submission(root, PATCHES[name]), folder / f"{assignment}.ipynb")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", choices=sorted(VARIANTS), default="ps4")
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--class-size", type=int, default=300)
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the sandbox")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                     "IPYTHONDIR", "MPLCONFIGDIR"):
            path = os.path.join(tmp, name.lower())
            os.makedirs(path, exist_ok=True)
            os.environ[name] = path
        root = _course(Path(tmp), args.assignment, args.students)
        start = time.perf_counter()
        results = admin.autograde(args.assignment, root, jobs=args.jobs, progress=False,
                                  sandbox=not args.no_sandbox)
        wall = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    per_submission = wall / len(results)
    projected = per_submission * args.class_size
    slowest = max(results, key=lambda r: r.seconds)
    print(f"{len(results)} submissions of {args.assignment}, --jobs {args.jobs}, {os.cpu_count()} CPUs, "
          f"{'no sandbox' if args.no_sandbox else 'sandbox on'}")
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
