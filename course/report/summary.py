"""Counting: pass rates, named mistakes, unnamed failures by case, limits, times, accuracies.

Pure functions of the plain records of :mod:`.collect`; the page shows what they return.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .collect import ClassRecords, LimitHit, Submission

__all__ = ["LimitSummary", "MistakeCount", "TaskSummary", "accuracies", "limits",
           "required_accuracy", "score_table", "task_summaries", "times"]


@dataclass
class MistakeCount:
    """One named mistake of one task, or one group of unnamed failures."""

    text: str
    """The mistake with its numbers as ``#`` (or, for unnamed failures, the failing case)."""
    count: int = 0
    students: list[str] = field(default_factory=list)
    example: str = ""
    """The verdict of the first student (by id) that it counts: the failing case in full."""
    kinds: Counter = field(default_factory=Counter)
    """For unnamed failures: what went wrong on that case ("wrong values": 3, ...)."""
    after_exception: int = 0
    """How many of these were named right after the student's exception text."""
    wordings: list[str] = field(default_factory=list)
    """For named mistakes: the mistake as the students read it (its numbers vary by case)."""

    @property
    def label(self) -> str:
        """The mistake as the first student read it (the counting key for unnamed failures)."""
        return self.wordings[0] if self.wordings else self.text


@dataclass
class TaskSummary:
    """What happened on one judged test cell across the class."""

    cell: str
    points: float | None
    judged: int = 0
    """Submissions with a verdict on this cell."""
    passed: int = 0
    named: list[MistakeCount] = field(default_factory=list)
    """Named mistakes, most frequent first."""
    unnamed: list[MistakeCount] = field(default_factory=list)
    """Failures the judge named no mistake for, grouped by the failing case, largest first."""

    @property
    def failed(self) -> int:
        return self.judged - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.judged if self.judged else 0.0

    def named_counts(self) -> dict[str, int]:
        return {m.text: m.count for m in self.named}


def _add(groups: dict[str, MistakeCount], key: str, student: str, example: str) -> MistakeCount:
    group = groups.setdefault(key, MistakeCount(key))
    group.count += 1
    group.students.append(student)
    if not group.example:
        group.example = example
    return group


def _ranked(groups: dict[str, MistakeCount]) -> list[MistakeCount]:
    return sorted(groups.values(), key=lambda g: (-g.count, g.text))


def task_summaries(records: ClassRecords) -> list[TaskSummary]:
    """Per judged test cell: how many passed, the named mistakes, the unnamed failures.

    A failed verdict counts under its named mistake when the judge named one, else under
    the case that failed; examples come from the students in id order.

    Examples
    --------
    >>> from course.report.collect import Submission, TaskVerdict
    >>> from course.report.verdicts import Failure
    >>> flipped = Failure("kernel as large as the image", "wrong values", "the kernel is flipped.")
    >>> subs = [Submission("a", verdicts={"test_c": TaskVerdict("test_c", False, "m", flipped)}),
    ...         Submission("b", verdicts={"test_c": TaskVerdict("test_c", True, "ok")})]
    >>> (s,) = task_summaries(ClassRecords("ps1", subs, ["test_c"]))
    >>> s.judged, s.passed, s.named_counts()
    (2, 1, {'the kernel is flipped.': 1})
    """
    out = []
    for cell in records.tasks:
        summary = TaskSummary(cell, records.points.get(cell))
        named: dict[str, MistakeCount] = {}
        unnamed: dict[str, MistakeCount] = {}
        for submission in sorted(records.submissions, key=lambda s: s.student):
            verdict = submission.verdicts.get(cell)
            if verdict is None:
                continue
            summary.judged += 1
            if verdict.passed:
                summary.passed += 1
                continue
            failure = verdict.failure
            if failure is not None and failure.mistake:
                group = _add(named, failure.mistake, submission.student, verdict.message)
                group.after_exception += failure.after_exception
                if failure.mistake_text not in group.wordings:
                    group.wordings.append(failure.mistake_text)
            else:
                case = failure.case if failure is not None else "no message"
                group = _add(unnamed, case, submission.student, verdict.message)
                group.kinds[failure.kind if failure is not None else "other"] += 1
        summary.named, summary.unnamed = _ranked(named), _ranked(unnamed)
        out.append(summary)
    return out


@dataclass
class LimitSummary:
    """One limit across the class: how many submissions hit it, and where."""

    limit: str
    students: list[str] = field(default_factory=list)
    cells: Counter = field(default_factory=Counter)
    """Cell index (None: the submission as a whole) -> submissions that hit it there."""
    example: str = ""

    @property
    def count(self) -> int:
        return len(self.students)


def limits(submissions: list[Submission]) -> list[LimitSummary]:
    """The limits hit, most frequent first; a submission counts once per limit.

    A notebook run that ended early for another reason than its time budget (the
    kernel could not be restarted, the executor failed) counts as "run ended early".

    Examples
    --------
    >>> subs = [Submission("a", limits=[LimitHit("memory", 4), LimitHit("memory", 5)]),
    ...         Submission("b", limits=[LimitHit("memory", 4)]),
    ...         Submission("c", ended="the run ended early")]
    >>> [(s.limit, s.count, dict(s.cells)) for s in limits(subs)]
    [('memory', 2, {4: 2, 5: 1}), ('run ended early', 1, {None: 1})]
    """
    found: dict[str, LimitSummary] = {}
    for submission in sorted(submissions, key=lambda s: s.student):
        hits = list(submission.limits)
        if submission.ended and not (submission.ended == "budget"
                                     and any("budget" in h.limit for h in hits)):
            hits.append(LimitHit("run ended early", None, submission.ended))
        seen_cells: dict[str, set] = {}
        for hit in hits:
            entry = found.setdefault(hit.limit, LimitSummary(hit.limit))
            if submission.student not in entry.students:
                entry.students.append(submission.student)
            cells = seen_cells.setdefault(hit.limit, set())
            if hit.cell not in cells:
                cells.add(hit.cell)
                entry.cells[hit.cell] += 1
            if not entry.example and hit.text:
                entry.example = hit.text
    return sorted(found.values(), key=lambda s: (-s.count, s.limit))


def times(submissions: list[Submission]) -> list[tuple[str, float, float]]:
    """(student, notebook seconds, judge seconds) of every submission with a record,
    slowest first."""
    rows = [(s.student, s.notebook_seconds or 0.0, s.judge_seconds or 0.0)
            for s in submissions if s.seconds is not None]
    return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))


def accuracies(records: ClassRecords) -> dict[str, list[tuple[str, float]]]:
    """{test cell: [(student, judged accuracy)]} for the verdicts that report an accuracy
    (the trained networks of ps4 and ps5)."""
    found: dict[str, list[tuple[str, float]]] = {}
    for submission in sorted(records.submissions, key=lambda s: s.student):
        for cell, verdict in submission.verdicts.items():
            if verdict.accuracy is not None:
                found.setdefault(cell, []).append((submission.student, verdict.accuracy.value))
    return found


def required_accuracy(records: ClassRecords, cell: str) -> float | None:
    """The accuracy a verdict of ``cell`` says is required (the same for every student)."""
    for submission in records.submissions:
        verdict = submission.verdicts.get(cell)
        if verdict is not None and verdict.accuracy is not None:
            return verdict.accuracy.required
    return None


def score_table(submissions: list[Submission]) -> list[float]:
    """The gradebook scores of the submissions that have one."""
    return [s.score for s in submissions if s.score is not None]
