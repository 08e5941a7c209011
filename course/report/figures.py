"""The report's figures: Matplotlib (Agg) drawn to PNG and embedded as ``data:`` URIs.

Every function takes plain numbers and returns a ``data:image/png;base64,...`` string
that an ``<img>`` shows with no request leaving the page. No student text is drawn in
a figure (students are shown by rank, not by name): names are shown, escaped, in the
page's tables.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["accuracy_histogram", "limit_bars", "score_histogram", "similarity_histogram",
           "task_outcomes", "time_bars"]

PASSED, NAMED, UNNAMED, ABSENT = "#4c9a5b", "#d98c3a", "#b84a4a", "#c8c8c8"
NOTEBOOK, JUDGE = "#4a78b8", "#9cc1e8"
DPI = 100


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_histogram(scores: list[float], max_score: float | None) -> str:
    """Histogram of the scores (one bar per point when the maximum is small)."""
    figure = _figure(7.0, 3.0)
    axes = figure.add_subplot()
    top = max_score if max_score else max(scores, default=1.0) or 1.0
    if top <= 40 and float(top).is_integer():
        edges = np.arange(-0.5, top + 1.0, 1.0)
    else:
        edges = np.linspace(0.0, top, 21)
    axes.hist(scores, bins=edges, color=NOTEBOOK, edgecolor="white")
    if scores:
        mean, median = float(np.mean(scores)), float(np.median(scores))
        axes.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.3g}")
        axes.axvline(median, color="black", linestyle=":", linewidth=1,
                     label=f"median {median:.3g}")
        axes.legend(loc="upper left", frameon=False)
    axes.set_xlabel(f"score (out of {top:g})")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def task_outcomes(tasks: list[str], passed: list[int], named: list[int], unnamed: list[int],
                  absent: list[int]) -> str:
    """Per task, one horizontal bar: passed, failed with a named mistake, failed with none,
    no verdict (the submission has no record of that cell)."""
    figure = _figure(7.0, 0.9 + 0.42 * len(tasks))
    axes = figure.add_subplot()
    y = np.arange(len(tasks))[::-1]
    left = np.zeros(len(tasks))
    for values, colour, label in ((passed, PASSED, "passed"), (named, NAMED, "named mistake"),
                                  (unnamed, UNNAMED, "no mistake named"),
                                  (absent, ABSENT, "no verdict")):
        values = np.asarray(values, dtype=float)
        if values.sum() == 0 and label == "no verdict":
            continue
        axes.barh(y, values, left=left, color=colour, label=label, height=0.7)
        left += values
    axes.set_yticks(y, tasks)
    axes.set_xlabel("submissions")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def limit_bars(limits: list[str], counts: list[int], total: int) -> str:
    """How many submissions hit each limit."""
    figure = _figure(7.0, 0.9 + 0.4 * len(limits))
    axes = figure.add_subplot()
    y = np.arange(len(limits))[::-1]
    axes.barh(y, counts, color=UNNAMED, height=0.6)
    axes.set_yticks(y, limits)
    axes.set_xlim(0, max(max(counts, default=1), 1) * 1.1)
    axes.set_xlabel(f"submissions (of {total})")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def time_bars(notebook: list[float], judge: list[float], limit: float | None = None) -> str:
    """Grading time per submission, slowest first: the notebook's run and the judge.

    The time budget ``limit`` is drawn when some submission comes near it (a quarter).
    """
    count = len(notebook)
    figure = _figure(7.0, 3.0)
    axes = figure.add_subplot()
    x = np.arange(1, count + 1)
    width = 0.8 if count <= 80 else 1.0
    axes.bar(x, notebook, width=width, color=NOTEBOOK, label="notebook run (sandbox)")
    axes.bar(x, judge, bottom=notebook, width=width, color=JUDGE, label="judge")
    if limit and max((n + j for n, j in zip(notebook, judge)), default=0.0) > 0.25 * limit:
        axes.axhline(limit, color="black", linestyle="--", linewidth=1,
                     label=f"time budget {limit:g} s")
    axes.set_xlabel("submissions, slowest first")
    axes.set_ylabel("seconds")
    axes.set_xlim(0.3, count + 0.7)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper right", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def accuracy_histogram(values: list[float], required: float | None) -> str:
    """Histogram of judged accuracies, with the accuracy a pass requires."""
    figure = _figure(7.0, 3.0)
    axes = figure.add_subplot()
    low = min(values + ([required] if required else []), default=0.0)
    low = max(0.0, math.floor(low * 20) / 20 - 0.05)
    axes.hist(values, bins=np.linspace(low, 1.0, 26), color=NOTEBOOK, edgecolor="white")
    if required:
        axes.axvline(required, color=UNNAMED, linewidth=1.5, label=f"required {required:g}")
        axes.legend(loc="upper left", frameon=False)
    axes.set_xlabel("accuracy on held-out digits (computed by the judge)")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)


def similarity_histogram(scores: list[float], threshold: float) -> str:
    """Histogram of every pair's similarity, with the threshold above which pairs are flagged."""
    figure = _figure(7.0, 2.8)
    axes = figure.add_subplot()
    axes.hist(scores, bins=np.linspace(0.0, 1.0, 41), color=NOTEBOOK, edgecolor="white")
    axes.axvline(threshold, color=UNNAMED, linewidth=1.5, label=f"threshold {threshold:g}")
    axes.set_xlabel("similarity of a pair (the larger of its two shares)")
    axes.set_ylabel("pairs")
    axes.set_xlim(0, 1)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper right", frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _uri(figure)
