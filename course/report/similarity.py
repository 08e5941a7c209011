"""Similar submissions: the code students wrote, compared pair by pair with copydetect.

Each student's solution cells (:func:`course.report.collect.solution_sources`) are
compared with every other student's by copydetect 0.5 (MOSS's method: k-grams of the
normalised code, winnowed to fingerprints). What copydetect normalises, read in its
``utils.filter_code``: Pygments' Python lexer splits the code into tokens; comments
and whitespace are dropped; every name (variables, attributes, modules: ``np``,
``image``, ``.sum``) becomes ``V``, the name after ``def`` becomes ``F`` and after
``class`` ``O``, every string ``S``; keywords, operators, numbers and built-in names
(``range``, ``len``) stay as written. ``out[i, j] = np.sum(image[i:i + KH] * kernel)``
becomes ``V[V,V]=V.V(V[V:V+V]*V)``.

Fingerprints are hashes of every ``k`` consecutive characters of that text, of which
winnowing keeps the smallest in every window of ``window`` hashes: any shared run of at
least ``k + window - 1`` characters is found, none shorter than ``k``. The code the
release hands out (signatures, docstrings, set-up lines, ``raise NotImplementedError()``)
is boilerplate: its k-grams, all of them, are removed from every student's fingerprints
(copydetect's ``boilerplate``) so that only what students wrote is compared.

Each solution cell is compared with the same cell of the other student (cells are
never run together: the seams between cells would be shared by everyone). A student's
cell is left out when their own code in it, after the boilerplate, is shorter than
``min_size`` normalised characters: short answers (a one-line formula) are the same
for everyone. For a pair (A, B), A's similarity is the part of A's fingerprinted code,
over all of A's cells that are not left out, that lies in runs shared with B's same
cells (copydetect's similarity, summed over the cells); likewise for B. A pair is
flagged when the larger of the two reaches the threshold.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

__all__ = ["Comparison", "Pair", "Settings", "SharedCell", "compare", "merge_slices"]


@dataclass(frozen=True)
class Settings:
    """How submissions are compared."""

    k: int = 25
    """Length of the k-grams, in characters of the normalised code (copydetect's noise
    threshold): shorter shared runs are never counted."""
    window: int = 6
    """Winnowing window: every shared run of k + window - 1 characters is found."""
    threshold: float = 0.6
    """A pair is flagged when the larger of its two similarities reaches this."""
    min_size: int = 60
    """A cell with fewer normalised characters of the student's own code is not compared."""

    def __post_init__(self):
        if not (isinstance(self.k, int) and self.k >= 5):
            raise ValueError(f"`k` must be an int >= 5, got {self.k!r}")
        if not (isinstance(self.window, int) and self.window >= 1):
            raise ValueError(f"`window` must be an int >= 1, got {self.window!r}")
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold <= 1):
            raise ValueError(f"`threshold` must be in (0, 1], got {self.threshold!r}")
        if not (isinstance(self.min_size, int) and self.min_size >= 0):
            raise ValueError(f"`min_size` must be an int >= 0, got {self.min_size!r}")

    @property
    def guarantee(self) -> int:
        """The length of shared run that is always found."""
        return self.k + self.window - 1


@dataclass
class SharedCell:
    """What two students share in one solution cell."""

    cell: str
    similarity_a: float
    similarity_b: float
    slices_a: list[tuple[int, int]]
    """(start, end) of the shared runs in a's cell as written."""
    slices_b: list[tuple[int, int]]


@dataclass
class Pair:
    """Two students' code and how much of it they share."""

    a: str
    b: str
    similarity_a: float
    """The part of a's fingerprinted code (all its compared cells) found in b's (0 to 1)."""
    similarity_b: float
    cells: list[SharedCell] = field(default_factory=list)
    """The cells where they share anything, in the notebook's order."""

    @property
    def score(self) -> float:
        return max(self.similarity_a, self.similarity_b)


@dataclass
class Comparison:
    """Every pair compared, and what was left out."""

    settings: Settings
    pairs: list[Pair]
    """Every compared pair, the most similar first."""
    sizes: dict[str, dict[str, int]]
    """student -> cell -> normalised characters of their own code (after the boilerplate)."""
    short: dict[str, list[str]]
    """cell -> students whose own code there was too short to compare (not those who left
    the cell as released)."""
    not_compared: list[str]
    """Students with no cell long enough to compare."""

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.settings.threshold]


def merge_slices(slices, length: int) -> list[tuple[int, int]]:
    """copydetect's slices (a 2 x N array of starts and ends) as sorted, disjoint ranges.

    Examples
    --------
    >>> merge_slices(np.array([[8, 0, 3], [12, 5, 6]]), 10)
    [(0, 6), (8, 10)]
    """
    slices = np.asarray(slices)
    if slices.size == 0:
        return []
    ranges = sorted((max(0, int(s)), min(length, int(e))) for s, e in zip(slices[0], slices[1]))
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _fingerprint(code: str, settings: Settings, boilerplate, window: int | None = None):
    from copydetect import CodeFingerprint

    return CodeFingerprint("solution.py", settings.k, window or settings.window,
                           boilerplate=boilerplate, language="python", fp=io.StringIO(code))


def boilerplate_hashes(sources: list[str], settings: Settings) -> np.ndarray:
    """Every k-gram hash of the code handed out (copydetect keeps them all: window 1)."""
    hashes: set = set()
    for source in sources:
        hashes |= _fingerprint(source, settings, None, window=1).hashes
    return np.array(sorted(hashes), dtype=np.int64)


def compare(code: dict[str, dict[str, str]], boilerplate: list[str],
            settings: Settings | None = None) -> Comparison:
    """Compare every pair of students' solution cells, with the release's code subtracted.

    Parameters
    ----------
    code : dict of str to dict of str to str
        Student -> solution cell (grade id) -> the student's source of that cell.
    boilerplate : list of str
        The code cells of the release.
    settings : Settings, optional
        The k-gram length, window, threshold and minimum size (default: ``Settings()``).

    Returns
    -------
    Comparison
        Every pair of students that have a cell long enough to compare, most similar first.
    """
    from copydetect.detector import compare_files

    settings = settings or Settings()
    common = boilerplate_hashes(boilerplate, settings)
    prints: dict[str, dict] = {}
    sizes: dict[str, dict[str, int]] = {}
    short: dict[str, list[str]] = {}
    for student in sorted(code):
        for cell, source in code[student].items():
            fingerprint = _fingerprint(source, settings, common)
            size = int(fingerprint.token_coverage)
            sizes.setdefault(student, {})[cell] = size
            if size >= max(settings.min_size, 1):
                prints.setdefault(student, {})[cell] = fingerprint
            elif size:  # some code of their own, too little (none: the cell as released)
                short.setdefault(cell, []).append(student)
    not_compared = sorted(s for s in code if s not in prints)
    pairs = []
    for a, b in combinations(sorted(prints), 2):
        shared_a = shared_b = 0.0
        cells = []
        for cell in prints[a]:
            if cell not in prints[b]:
                continue
            first, second = prints[a][cell], prints[b][cell]
            _, (sim_a, sim_b), (slices_a, slices_b) = compare_files(first, second)
            if not (sim_a or sim_b):
                continue
            shared_a += sim_a * first.token_coverage
            shared_b += sim_b * second.token_coverage
            cells.append(SharedCell(cell, float(sim_a), float(sim_b),
                                    merge_slices(slices_a, len(code[a][cell])),
                                    merge_slices(slices_b, len(code[b][cell]))))
        total_a = sum(f.token_coverage for f in prints[a].values())
        total_b = sum(f.token_coverage for f in prints[b].values())
        pairs.append(Pair(a, b, min(1.0, float(shared_a / total_a)),
                          min(1.0, float(shared_b / total_b)), cells))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return Comparison(settings, pairs, sizes, short, not_compared)
