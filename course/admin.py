"""``course-admin``: the instructor's commands around nbgrader.

Run from the course directory (the repository root, where nbgrader_config.py is)
or pass ``--root``::

    course-admin release                      # source/* -> release/* (generate_assignment)
    course-admin autograde ps1 --jobs 2       # every submitted/*/ps1, in parallel
    course-admin autograde ps4 --cluster tcp://127.0.0.1:8786   # ... on a Dask cluster
    course-admin feedback ps1                 # feedback/*/ps1/*.html
    course-admin export --to grades.csv       # all grades as CSV
    course-admin collect ps1 --from download.zip            # an LMS download -> submitted/
    course-admin export ps1 --lms canvas --template gradebook.csv --to import.csv
    course-admin heldout IMAGES LABELS        # digits no student has, to score trained networks
    course-admin report ps1                   # the class report: reports/ps1/index.html

``autograde`` runs every submission's code in a sandbox (bubblewrap: no network, no
view of the course, the gradebook or other students; limits on memory, time,
processes and output; see :mod:`course.grading.runner.sandbox`) and lets the judge compute the
grades of the problem sets' test cells (:mod:`course.grading.runner.judge`). Where no sandbox
can run it refuses and says why; ``--no-sandbox`` grades with the grader's rights, as
plain nbgrader does. A submission that hits a limit gets its grade and a note naming
the limit, in its feedback and in the summary table.

``autograde`` grades ``--jobs`` submissions at a time on this machine, where nbgrader
itself grades students one after the other, or spreads them over the workers of a
Dask cluster with ``--cluster ADDRESS`` (or ``--scheduler-file FILE``). The batch
itself is :mod:`course.batch`: this module only reads the command line.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from course.batch import UNPROTECTED, GradeResult, autograde, scores, summary
from course.batch.coursedir import (
    THREAD_VARIABLES,
    Settings,
    ensure_students,
    environment,
    find_root,
    last_error,
)
from course.grading import intake

__all__ = ["UNPROTECTED", "GradeResult", "autograde", "export", "feedback", "main", "release",
           "scores", "summary"]

# Older names, kept for the tests and benchmarks that use them.
_THREAD_VARIABLES = THREAD_VARIABLES
_env = environment
_find_root = find_root
_last_error = last_error


def _ensure_students(root, students: Sequence[str]) -> None:
    """Add missing students to the course's gradebook (see ``course.batch.coursedir``)."""
    ensure_students(Settings.load(find_root(root)), students)


def _nbgrader(root: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, check=False,
                          env=environment(root), capture_output=True, text=True, timeout=timeout)


def release(root=None, assignments: Sequence[str] = ()) -> list[str]:
    """Generate release/<a> from source/<a> for every (or the given) assignment."""
    root = find_root(root)
    names = list(assignments) or sorted(
        p.name for p in (root / "source").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    for name in names:
        done = _nbgrader(root, "generate_assignment", name, "--force")
        if done.returncode != 0:
            raise SystemExit(f"generate_assignment {name} failed:\n{done.stdout}{done.stderr}")
        print(f"released {name} -> release/{name}")
    return names


def feedback(assignment: str, root=None) -> Path:
    """Generate HTML feedback for every graded student of ``assignment``."""
    root = find_root(root)
    done = _nbgrader(root, "generate_feedback", assignment, "--force")
    if done.returncode != 0:
        raise SystemExit(f"generate_feedback failed:\n{last_error(done.stdout + done.stderr)}")
    return root / "feedback"


def export(root=None, to: str = "grades.csv") -> Path:
    """Export every grade of the gradebook to a CSV file (nbgrader's CSV exporter)."""
    root = find_root(root)
    target = Path(to)
    if not target.is_absolute():
        target = root / target
    done = _nbgrader(root, "export", f"--CsvExportPlugin.to={target}")
    if done.returncode != 0:
        raise SystemExit(f"export failed:\n{last_error(done.stdout + done.stderr)}")
    return target


def _roster(root: Path, path: str | None):
    from course.hub.roster import Roster

    return Roster.read(Path(path) if path else root / "roster.csv")


def _collect(args) -> int:
    """``course-admin collect``: print the summary table; 2 when nothing could be read."""
    from course.hub.roster import RosterError
    from course.lms import archive
    from course.lms.collect import collect

    root = find_root(args.root)
    try:
        done = collect(root, args.assignment, args.download, lms=args.lms,
                       roster=_roster(root, args.roster), worksheet=args.worksheet,
                       force=args.force, timezone_name=args.timezone)
    except (archive.ArchiveError, RosterError, ValueError) as error:
        print(f"collect refused: {error}", file=sys.stderr)
        return 2
    print(f"{args.assignment} from {done.lms}:")
    print(done.table())
    counts = ", ".join(f"{done.count(s)} {s}" for s in
                       ("collected", "unchanged", "exists", "empty", "invalid", "missing",
                        "unmatched", "ambiguous") if done.count(s))
    print(counts)
    return 0


def _export_lms(args) -> int:
    from course.hub.roster import RosterError
    from course.lms import export as lms_export
    from course.lms.grades import grade_rows

    root = find_root(args.root)
    if not args.assignment or not args.lms:
        print("export: give both the assignment and --lms (or neither, for all grades)",
              file=sys.stderr)
        return 2
    try:
        rows = grade_rows(root, args.assignment, _roster(root, args.roster))
        template = Path(args.template).read_bytes() if args.template else None
        if args.lms == "canvas":
            if template is None:
                raise ValueError("--template: Canvas needs its own gradebook export "
                                 "(Grades > Export > CSV)")
            result = lms_export.canvas(template, args.assignment, rows, column=args.column)
        elif args.lms == "moodle":
            result = lms_export.moodle(template, args.assignment, rows)
        elif args.lms == "brightspace":
            result = lms_export.brightspace(args.assignment, rows)
        else:
            result = None
            data = lms_export.plain_csv(args.assignment, rows)
    except (RosterError, ValueError, OSError) as error:
        print(f"export refused: {error}", file=sys.stderr)
        return 2
    target = Path(args.to)
    if not target.is_absolute():
        target = root / target
    target.write_bytes(result.data if result is not None else data)
    print(f"{args.assignment} grades for {args.lms} written to {target}")
    if result is not None:
        if result.missing:
            print(f"no row in the LMS's file for: {', '.join(result.missing)}")
        if result.unmatched_rows:
            print(f"LMS rows with no grade here: {', '.join(result.unmatched_rows)}")
    return 0


def _bytes(text: str) -> int:
    """'4G', '512M', '1000000' -> bytes (binary units)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G, 512M or 1000000, "
                                         f"got {text!r}") from None


def _size(value: int) -> str:
    """4294967296 -> '4G' (the form the options take)."""
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def _autograde_parser(commands) -> None:
    from course.grading.runner.sandbox import Limits

    default = Limits()  # the limits' defaults live there; nbgrader_config.py may change them
    p = commands.add_parser("autograde", help="autograde every submission, in parallel or on a "
                                              "cluster")
    p.add_argument("assignment")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="grading processes side by side on this machine (default: the number "
                        "of CPUs)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="grade on the Dask cluster whose scheduler is at ADDRESS "
                            "(tcp://host:port or tls://host:port)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="grade on the Dask cluster whose scheduler wrote FILE")
    p.add_argument("--wait", type=float, default=60.0,
                   help="with a cluster: seconds to wait for an admitted worker (default 60)")
    p.add_argument("--force", action="store_true",
                   help="with a cluster: grade again the submissions already graded unchanged "
                        "(skipped otherwise, so that a stopped batch resumes)")
    p.add_argument("--tls-ca-file", help="with a tls:// cluster: the certificate authority")
    p.add_argument("--tls-cert", help="with a tls:// cluster: this machine's certificate")
    p.add_argument("--tls-key", help="with a tls:// cluster: this machine's private key")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop one student's grading after this many seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--per-process", action="store_true",
                   help="a fresh grading process for every submission (costs nbgrader's "
                        "import, about 2 s of CPU, each)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run submissions with your own rights, unisolated (see 'Grading safely')")
    course_default = "default: c.Sandboxing.{} in nbgrader_config.py, else {}"
    p.add_argument("--memory", type=_bytes, help="memory per submission, e.g. 4G ("
                   + course_default.format("memory", _size(default.memory)) + ")")
    p.add_argument("--budget", type=float, help="seconds of wall-clock time per submission ("
                   + course_default.format("budget", f"{default.budget:g}") + ")")
    p.add_argument("--processes", type=int, help="processes per submission ("
                   + course_default.format("processes", default.processes) + ")")
    p.add_argument("--output", type=_bytes, help="output kept per cell, e.g. 1M ("
                   + course_default.format("output", _size(default.output)) + ")")
    p.add_argument("--disk", type=_bytes, help="bytes a submission may write ("
                   + course_default.format("disk", _size(default.disk)) + ")")
    p.add_argument("--replay", action="store_true",
                   help="judge with the seeds recorded at the last grading")
    p.epilog = "Arguments after `--` go to every nbgrader process, e.g. -- --Execute.timeout=10"


def _autograde(args, nbgrader_args: Sequence[str]) -> int:
    cluster = None
    if args.cluster or args.scheduler_file:
        from course.batch.cluster import Cluster

        if args.jobs is not None:
            print("autograde: --jobs is for this machine; a cluster's workers decide how many "
                  "submissions are graded at once", file=sys.stderr)
            return 2
        try:
            cluster = Cluster(args.cluster, args.scheduler_file, wait=args.wait,
                              tls_ca_file=args.tls_ca_file, tls_cert=args.tls_cert,
                              tls_key=args.tls_key)
        except ValueError as error:
            print(f"autograde: {error}", file=sys.stderr)
            return 2
    limits = {name: getattr(args, name) for name in ("memory", "budget", "processes",
                                                      "output", "disk")
              if getattr(args, name) is not None}
    results = autograde(args.assignment, args.root, args.jobs, args.student, nbgrader_args,
                        timeout=args.timeout, progress=not args.no_progress,
                        per_process=args.per_process, sandbox=not args.no_sandbox,
                        limits=limits, replay=args.replay, cluster=cluster, force=args.force)
    print(summary(results))
    peak = max((r.peak_mib for r in results), default=0.0)
    if peak:
        print(f"grading workers' peak memory: {peak:.0f} MiB")
    graded = [r for r in results if r.worker]
    if graded:
        workers = sorted({r.worker for r in graded})
        print(f"graded on {len(workers)} worker(s): " + ", ".join(
            f"{w} ({sum(r.worker == w for r in graded)})" for w in workers))
    if cluster is not None:
        skipped = sum(r.skipped for r in results)
        if skipped:
            print(f"{skipped} submission(s) already graded and unchanged were skipped "
                  "(--force grades them again)")
    failed = [intake.printable(r.student) for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} submission(s) could not be graded: {', '.join(failed)}")
    return 0


def _report_args(argv: list[str]) -> list[str] | None:
    """``course-admin [--root R] report ...`` -> the arguments of ``python -m course.report``."""
    root, rest = None, argv
    if rest[:1] == ["--root"] and len(rest) > 1:
        root, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("--root="):
        root, rest = rest[0].split("=", 1)[1], rest[1:]
    if rest[:1] != ["report"]:
        return None
    return ["--root", str(find_root(root)), *rest[1:]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course-admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="course directory (default: the current directory)")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("release", help="generate release/ from source/ for every assignment")
    p.add_argument("assignments", nargs="*")
    _autograde_parser(commands)
    p = commands.add_parser("heldout", help="write held-out digits for scoring trained networks "
                                            "from MNIST's IDX test files")
    p.add_argument("images", help="e.g. t10k-images-idx3-ubyte.gz")
    p.add_argument("labels", help="e.g. t10k-labels-idx1-ubyte.gz")
    p = commands.add_parser("feedback", help="generate HTML feedback")
    p.add_argument("assignment")
    # course.report reads its own options (and imports its libraries) only when asked for
    p = commands.add_parser("report", add_help=False,
                            help="the class report of a graded assignment (for instructors only; "
                                 "course-admin report --help)")
    p.add_argument("options", nargs=argparse.REMAINDER)
    p = commands.add_parser("collect", help="take an LMS's download of submissions into submitted/")
    p.add_argument("assignment")
    p.add_argument("--from", dest="download", required=True, metavar="ZIP",
                   help="the LMS's download of the assignment's submissions")
    p.add_argument("--lms", choices=("canvas", "moodle", "brightspace"),
                   help="which LMS made it (default: detected from its file names)")
    p.add_argument("--roster", default=None, help="the class list (default: ROOT/roster.csv)")
    p.add_argument("--worksheet", default=None,
                   help="Moodle: the grading worksheet downloaded with the submissions "
                        "(default: the one inside the download, if any)")
    p.add_argument("--timezone", default="UTC",
                   help="the LMS's time zone, for the times in its file names (default UTC)")
    p.add_argument("--force", action="store_true",
                   help="replace submissions already collected that differ")
    p = commands.add_parser("export", help="export grades: all as CSV, or one assignment for an LMS")
    p.add_argument("assignment", nargs="?", help="one assignment (needed with --lms)")
    p.add_argument("--to", default="grades.csv")
    p.add_argument("--lms", choices=("canvas", "moodle", "brightspace", "csv"),
                   help="write the LMS's own import format (csv: a plain, correctly quoted CSV)")
    p.add_argument("--template", default=None,
                   help="Canvas: its gradebook export; Moodle: its grading worksheet")
    p.add_argument("--roster", default=None, help="the class list (default: ROOT/roster.csv)")
    p.add_argument("--column", default=None,
                   help="Canvas: the assignment's column header, when it is not 'ASSIGNMENT (id)'")
    argv = list(sys.argv[1:] if argv is None else argv)
    report = _report_args(argv)
    if report is not None:  # course.report's own parser reads the rest (its --help too)
        from course.report.__main__ import main as write_report

        return write_report(report)
    nbgrader_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = parser.parse_args(argv)

    if args.command == "release":
        release(args.root, args.assignments)
    elif args.command == "autograde":
        return _autograde(args, nbgrader_args)
    elif args.command == "heldout":
        from course.grading import heldout

        target = find_root(args.root) / "heldout" / "digits.npz"
        count = heldout.from_idx(args.images, args.labels, target)
        print(f"{count} held-out digits written to {target}: graded trained networks are "
              "scored on them (keep them from students; heldout/ is never committed)")
    elif args.command == "feedback":
        print(f"feedback written to {feedback(args.assignment, args.root)}")
    elif args.command == "collect":
        return _collect(args)
    elif args.command == "export" and (args.lms or args.assignment):
        return _export_lms(args)
    elif args.command == "export":
        print(f"grades written to {export(args.root, args.to)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
