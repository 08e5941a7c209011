"""``course-admin report ps1``: the instructor's class report of a graded assignment.

After ``course-admin autograde``, nbgrader's gradebook holds the scores; the judge's
grading records hold much more: which typical mistake each wrong answer equals, which
case failed, which limits a submission hit, how long it took. This package turns both
into one static HTML page (figures embedded, no script, nothing fetched), written to
an instructor-only folder (``reports/<assignment>/index.html`` by default)::

    course-admin report ps1                      # reports/ps1/index.html
    course-admin report ps4 --threshold 0.5 --to /tmp/ps4.html
    python -m course.report ps1                  # the same, before course-admin has it

It never grades again. Modules: :mod:`.collect` (reading records, gradebook and
notebooks into dataclasses), :mod:`.verdicts` (reading one verdict's message),
:mod:`.summary` (counting), :mod:`.similarity` (similar submissions, with copydetect),
:mod:`.figures` (Matplotlib) and :mod:`.page` (the HTML).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from . import figures, page, summary
from .collect import ClassRecords, Course, collect
from .similarity import Comparison, Settings, compare

__all__ = ["REPORTS", "add_arguments", "build_report", "check_target", "default_target",
           "render_report", "run"]

REPORTS = "reports"
"""The instructor-only folder of the course the reports go to (reports/<assignment>/)."""
SHOWN_PAIRS = 20  # flagged pairs shown side by side; the others are listed


def default_target(root: str | os.PathLike, assignment: str) -> Path:
    """``reports/<assignment>/index.html`` in the course directory."""
    return Path(root).resolve() / REPORTS / assignment / "index.html"


def check_target(course: Course, target: str | os.PathLike) -> Path:
    """The report's path, refused where students could read it.

    A relative ``target`` is taken from the course directory; a folder gets
    ``index.html`` inside it.

    Raises
    ------
    ValueError
        When ``target`` lies in feedback/, release/ or an exchange folder.
    """
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = course.root / path
    if path.is_dir() or str(target).endswith(("/", os.sep)):
        path = path / "index.html"
    resolved = path.resolve()
    places = [("feedback/", course.feedback), ("release/", course.release)]
    places += [("the exchange", folder) for folder in course.exchange]
    for name, folder in places:
        folder = folder.resolve()
        if resolved == folder or resolved.is_relative_to(folder):
            raise ValueError(f"`to` must not be inside {name} ({folder}): students can read "
                             f"what is there, and the report names students and quotes their "
                             f"code; got {target}. Leave --to out to write it under "
                             f"{course.root / REPORTS}.")
    if resolved.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"`to` must be an .html file or a folder, got {target}")
    return resolved


def _scores(records: ClassRecords) -> dict:
    values = summary.score_table(records.submissions)
    top = records.max_score or max((s.max_score or 0.0 for s in records.submissions), default=0.0)
    if not values:
        return {"count": 0}
    return {"count": len(values), "max": top, "mean": statistics.fmean(values),
            "median": statistics.median(values), "low": min(values), "high": max(values),
            "full": sum(1 for v in values if top and v >= top)}


def _accuracy(records: ClassRecords) -> list[dict]:
    out = []
    for cell, rows in summary.accuracies(records).items():
        values = [value for _, value in rows]
        required = summary.required_accuracy(records, cell)
        out.append({"cell": cell, "count": len(values), "median": statistics.median(values),
                    "required": required,
                    "passing": sum(1 for v in values if required is not None and v >= required),
                    "figure": figures.accuracy_histogram(values, required)})
    return out


def _similarity(records: ClassRecords, found: Comparison) -> dict:
    import copydetect

    shown = []
    for pair in found.flagged[:SHOWN_PAIRS]:
        cells = []
        for shared in pair.cells:
            given = records.given.get(shared.cell, "")
            cells.append({"cell": shared.cell, "similarity_a": shared.similarity_a,
                          "similarity_b": shared.similarity_b,
                          "code_a": page.marked_code(records.code[pair.a][shared.cell],
                                                     shared.slices_a, given),
                          "code_b": page.marked_code(records.code[pair.b][shared.cell],
                                                     shared.slices_b, given)})
        shown.append({"a": pair.a, "b": pair.b, "score": pair.score, "cells": cells})
    settings = found.settings
    return {"version": copydetect.__version__, "k": settings.k, "window": settings.window,
            "guarantee": settings.guarantee, "threshold": settings.threshold,
            "min_size": settings.min_size, "pairs": found.pairs, "flagged": found.flagged,
            "shown": shown, "not_compared": found.not_compared,
            "short": sorted(found.short.items())}


def _write(target: Path, text: str) -> None:
    """Write the page in one rename, readable by its owner and group only."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".report-", suffix=".html")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o640)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def render_report(found: ClassRecords, settings: Settings | None = None, *,
                  records_folder: str = "", budget: float | None = None) -> str:
    """The page (HTML text) of the records ``collect`` read: counts, figures, comparison.

    ``records_folder`` is named on the page; ``budget`` (seconds per submission) is drawn
    on the grading-time figure when some submission comes near it.
    """
    settings = settings or Settings()
    tasks = summary.task_summaries(found)
    limits = summary.limits(found.submissions)
    times = summary.times(found.submissions)
    comparison = compare(found.code, found.boilerplate, settings)
    totals = [n + j for _, n, j in times]
    graded = len(found.submissions)
    figure_uris = {
        "scores": figures.score_histogram(summary.score_table(found.submissions),
                                          found.max_score),
        "tasks": figures.task_outcomes(
            [t.cell for t in tasks], [t.passed for t in tasks],
            [sum(m.count for m in t.named) for t in tasks],
            [sum(m.count for m in t.unnamed) for t in tasks],
            [graded - t.judged for t in tasks]),
        "limits": figures.limit_bars([entry.limit for entry in limits],
                                     [entry.count for entry in limits], graded) if limits else "",
        "times": figures.time_bars([n for _, n, _ in times], [j for _, _, j in times], budget)
        if times else "",
        "similarity": figures.similarity_histogram([p.score for p in comparison.pairs],
                                                   settings.threshold)
        if comparison.pairs else "",
    }
    context = {
        "assignment": found.assignment, "count": graded, "records": records_folder,
        "notes": found.notes, "scores": _scores(found), "tasks": tasks, "limits": limits,
        "times": {"count": len(times), "total": sum(totals),
                  "median": statistics.median(totals) if totals else 0.0,
                  "high": max(totals, default=0.0), "slowest": times[:5], "budget": budget},
        "accuracy": _accuracy(found), "sim": _similarity(found, comparison),
        "students": found.submissions, "figures": figure_uris,
    }
    return page.render(context)


def build_report(root: str | os.PathLike, assignment: str, to: str | os.PathLike | None = None,
                 threshold: float = Settings.threshold, *, records: str | os.PathLike | None = None,
                 k: int = Settings.k, window: int = Settings.window,
                 min_size: int = Settings.min_size) -> Path:
    """Write the class report of ``assignment`` and return its path.

    Parameters
    ----------
    root : path
        The course directory (where nbgrader_config.py is).
    assignment : str
        A graded assignment ("ps1").
    to : path, optional
        The HTML file (or a folder for its index.html); default
        ``reports/<assignment>/index.html``. Refused inside feedback/, release/ or the
        exchange.
    threshold : float
        Similarity (0 to 1) from which a pair of submissions is flagged.
    records : path, optional
        The grading records' folder; default ``Sandboxing.records`` of the course's
        nbgrader_config.py, else grading_records/.
    k, window, min_size : int
        The comparison's k-gram length, winnowing window and the least own code a cell
        needs to be compared (see :mod:`.similarity`).

    Raises
    ------
    ValueError
        A refused ``to``, a bad setting, or nothing graded to report.
    """
    settings = Settings(k=k, window=window, threshold=threshold, min_size=min_size)
    course = Course.read(root, records)
    target = check_target(course, to if to is not None else default_target(course.root, assignment))
    found = collect(course, assignment)
    _write(target, render_report(found, settings, records_folder=str(course.records),
                                 budget=course.budget))
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``course-admin report``."""
    parser.add_argument("assignment", help="the graded assignment, e.g. ps1")
    parser.add_argument("--to", default=None, metavar="PATH",
                        help=f"the HTML file to write (default: {REPORTS}/ASSIGNMENT/index.html "
                             "in the course directory; refused inside feedback/, release/ or "
                             "the exchange)")
    parser.add_argument("--threshold", type=float, default=Settings.threshold,
                        help="similarity (0 to 1) from which two submissions are flagged "
                             f"(default {Settings.threshold})")
    parser.add_argument("--min-size", type=int, default=Settings.min_size,
                        help="least own code, in normalised characters, for a solution cell to be "
                             f"compared (default {Settings.min_size})")
    parser.add_argument("--kgram", type=int, default=Settings.k,
                        help=f"k-gram length of the comparison (default {Settings.k})")
    parser.add_argument("--window", type=int, default=Settings.window,
                        help=f"winnowing window of the comparison (default {Settings.window})")
    parser.add_argument("--records", "--Sandboxing.records", dest="records", default=None,
                        metavar="FOLDER",
                        help="the grading records' folder (default: Sandboxing.records of "
                             "nbgrader_config.py, else grading_records/)")


def run(args: argparse.Namespace, root: str | os.PathLike) -> int:
    """``course-admin report``: write the page and say where; 2 when refused."""
    try:
        target = build_report(root, args.assignment, args.to, args.threshold,
                              records=args.records, k=args.kgram, window=args.window,
                              min_size=args.min_size)
    except ValueError as error:
        print(f"report refused: {error}", file=sys.stderr)
        return 2
    print(f"class report of {args.assignment} written to {target} (for instructors only: "
          "it names students and quotes their code)")
    return 0
