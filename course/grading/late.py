"""The course's late-work policy: due dates, extensions and penalties, as nbgrader configuration.

nbgrader already knows when work is late: the gradebook holds each assignment's due date
and each submission's extension, and ``SubmittedAssignment.total_seconds_late`` is the
time from the (extended) due date to the submission's ``timestamp.txt``. At every
autograde its ``AssignLatePenalties`` resets each notebook's ``late_submission_penalty``
and asks a plugin for the penalty. This module supplies the policy and both ends of it:

:class:`LatePolicy`
    The settings, in ``nbgrader_config.py`` as ``c.LatePolicy.*``: due dates, extensions,
    the rule (``"none"``, ``"zero"``, ``"percent_per_day"``), a grace period, a cap and how
    days are counted. Every value is checked when nbgrader loads it.
:func:`penalty`
    The rule itself, a pure function: ``(points, explanation)`` for a score and a lateness.
:class:`ApplyDueDates`
    An autograde preprocessor (before ``SaveAutoGrades``): writes the configured due
    date of the assignment and the student's extension into the gradebook, so that
    ``total_seconds_late`` is right on every grading and regrading.
:class:`CourseLatePenalty`
    nbgrader's late-submission plugin (``c.AssignLatePenalties.plugin_class``): the points
    :func:`penalty` gives.
:class:`ShowLateness`
    A ``generate_feedback`` preprocessor: a markdown note at the top of a late
    submission's feedback (when it was handed in, how late, the penalty).
:func:`lateness`
    What the gradebook says about one submission's lateness, for exporters and scripts.

Dates are written with their time zone (``"2026-10-01 23:59 Europe/Berlin"`` or ISO,
``"2026-10-01T23:59+02:00"``) and stored, as nbgrader stores them, as naive UTC.
Extensions live in the configuration only: at every autograde :class:`ApplyDueDates`
writes the student's configured extension, or none (so an extension removed from the
configuration is removed on the next grading, and one granted through nbgrader's Python
API, ``Gradebook.grant_extension``, is overwritten). A due date set in the formgrader is
kept for every assignment that ``LatePolicy.due_dates`` does not name.
"""
from __future__ import annotations

import datetime
import math
import re
from typing import Any

import dateutil.parser
import dateutil.tz
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, Enum, Float, validate
from traitlets.config import Configurable

__all__ = ["ApplyDueDates", "CourseLatePenalty", "LatePolicy", "ShowLateness", "apply_policy",
           "describe_duration", "lateness", "lateness_note", "parse_date", "parse_extension",
           "penalty"]

DAY = 86400.0  # seconds
# A duration: numbers with units, e.g. "2 days", "36 hours", "1 day 12 hours", "90 min".
_UNITS = {"w": "weeks", "week": "weeks", "weeks": "weeks",
          "d": "days", "day": "days", "days": "days",
          "h": "hours", "hour": "hours", "hours": "hours",
          "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes"}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*(?:,|and)?", re.IGNORECASE)
_ZONE_NAME = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*")
DATE_EXAMPLE = "'2026-10-01 23:59 Europe/Berlin' or '2026-10-01T23:59+02:00'"


# --- reading the configuration ----------------------------------------------------------


def parse_date(value: str | datetime.datetime, key: str = "date") -> datetime.datetime:
    """A date and time with a time zone, as naive UTC (how nbgrader stores dates).

    Parameters
    ----------
    value : str or datetime.datetime
        ``"2026-10-01 23:59 Europe/Berlin"`` (a zone name last), an ISO date with an
        offset (``"2026-10-01T23:59+02:00"``), ``"... UTC"``, or an aware datetime.
    key : str
        The configuration key the value comes from, named in the error.

    Raises
    ------
    ValueError
        If the value is not a date, or has no time zone (a naive date would depend on the
        grading machine's clock setting).

    Examples
    --------
    >>> parse_date("2026-10-01 23:59 Europe/Berlin")
    datetime.datetime(2026, 10, 1, 21, 59)
    >>> parse_date("2026-10-01T23:59+02:00")
    datetime.datetime(2026, 10, 1, 21, 59)
    """
    expected = f"{key}: expected a date and time with a time zone, like {DATE_EXAMPLE}"
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        head, _, last = text.rpartition(" ")
        if head and "/" in last and _ZONE_NAME.fullmatch(last) and dateutil.tz.gettz(last) is None:
            raise ValueError(f"{expected} (unknown time zone {last!r}), got {value!r}")
        try:
            if head and _ZONE_NAME.fullmatch(last) and dateutil.tz.gettz(last) is not None:
                moment = dateutil.parser.parse(head)
                if moment.tzinfo is not None:
                    raise ValueError("two time zones")
                moment = moment.replace(tzinfo=dateutil.tz.gettz(last))
            else:
                moment = dateutil.parser.parse(text)
        except (ValueError, OverflowError):
            raise ValueError(f"{expected}, got {value!r}") from None
    else:
        raise ValueError(f"{expected}, got {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{expected} (the time zone is missing), got {value!r}")
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def parse_extension(value: str | datetime.timedelta | datetime.datetime,
                    key: str = "extension") -> datetime.timedelta | datetime.datetime:
    """An extension: a duration (a ``timedelta``) or a new due date (naive UTC ``datetime``).

    Parameters
    ----------
    value : str, datetime.timedelta or datetime.datetime
        A duration like ``"2 days"``, ``"36 hours"``, ``"90 minutes"``, ``"1 day 12 hours"``
        (units: weeks, days, hours, minutes), or a date as :func:`parse_date` reads it.
    key : str
        The configuration key the value comes from, named in the error.

    Raises
    ------
    ValueError
        If the value is neither, or the duration is negative.

    Examples
    --------
    >>> parse_extension("1 day 12 hours")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_extension("2026-10-03 12:00 UTC")
    datetime.datetime(2026, 10, 3, 12, 0)
    """
    expected = f"{key}: expected a duration like '2 days' or a date like {DATE_EXAMPLE}"
    if isinstance(value, datetime.datetime):
        return parse_date(value, key)
    if isinstance(value, datetime.timedelta):
        if value < datetime.timedelta(0):
            raise ValueError(f"{key}: expected a duration >= 0, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{expected}, got {value!r}")
    parts = _PART.findall(value)
    if parts and "".join(_PART.sub("", value).split()) == "" and all(
            unit.lower() in _UNITS for _, unit in parts):
        amounts: dict[str, float] = {}
        for number, unit in parts:
            name = _UNITS[unit.lower()]
            amounts[name] = amounts.get(name, 0.0) + float(number)
        return datetime.timedelta(**amounts)
    try:
        return parse_date(value, key)
    except ValueError:
        raise ValueError(f"{expected}, got {value!r}") from None


def describe_duration(seconds: float) -> str:
    """A lateness in words: its largest unit and the next one, rounded down.

    Examples
    --------
    >>> describe_duration(97200)
    '1 day 3 hours'
    >>> describe_duration(5 * 86400 + 60)
    '5 days'
    >>> describe_duration(90)
    '1 minute 30 seconds'
    """
    left = int(max(seconds, 0))
    units = [("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)]
    counts = []
    for name, size in units:
        counts.append((name, left // size))
        left %= size
    first = next((i for i, (_, n) in enumerate(counts) if n), len(counts) - 1)
    words = [f"{n} {name}" + ("" if n == 1 else "s") for name, n in counts[first:first + 2] if n]
    return " ".join(words) or "0 seconds"


class _NamedError:
    """A traitlet whose wrong value raises ``ValueError`` naming the key and what was expected."""

    expected = "another value"

    def error(self, obj, value, error=None, info=None):
        raise ValueError(f"{type(obj).__name__}.{self.name}: expected {self.expected}, "
                         f"got {value!r}")


class _Float(_NamedError, Float):
    expected = "a number"


class _Dict(_NamedError, Dict):
    expected = "a dict"


class _Choice(_NamedError, Enum):
    @property
    def expected(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _entries(mapping: dict, trait: str, ids: str):
    """``(key, value)`` for each entry of the LatePolicy dict ``trait``, whose keys must be
    ``ids`` ids (str): key names the entry in messages (``LatePolicy.due_dates['ps1']``)."""
    for name, value in mapping.items():
        if not isinstance(name, str):
            raise ValueError(f"LatePolicy.{trait}: expected {ids} ids as keys, got {name!r}")
        yield f"LatePolicy.{trait}[{name!r}]", value


class LatePolicy(Configurable):
    """How late work is counted and penalized (``c.LatePolicy.*`` in ``nbgrader_config.py``).

    Each value is checked when it is set: a wrong one raises ``ValueError`` naming the
    key (``LatePolicy.extensions['ann']['ps1']``) and what was expected.
    """

    due_dates = _Dict(help="Assignment id -> due date with its time zone, e.g. "
                           "{'ps1': '2026-10-01 23:59 Europe/Berlin'}. Written into the gradebook "
                           "at every autograde; an assignment not named keeps the gradebook's "
                           "due date (e.g. set in the formgrader).").tag(config=True)
    extensions = _Dict(help="Student id -> {assignment id -> extension}: a duration ('2 days', "
                            "'36 hours', '90 minutes') or a new due date with its time zone "
                            "('2026-10-03 23:59 Europe/Berlin').").tag(config=True)
    rule = _Choice(("none", "zero", "percent_per_day"), default_value="none",
                   help="'none': late work is not penalized; 'zero': late work scores 0; "
                        "'percent_per_day': percent_per_day percent of the score per day "
                        "late.").tag(config=True)
    percent_per_day = _Float(10.0, help="Percent of the score taken per day late (rule "
                                        "'percent_per_day').").tag(config=True)
    grace_minutes = _Float(0.0, help="Lateness within this many minutes costs nothing; past "
                                     "it, lateness is counted from the due date.").tag(config=True)
    cap_percent = _Float(100.0, help="The most a penalty can take, in percent of the "
                                     "score.").tag(config=True)
    days_rounding = _Choice(("up", "exact"), default_value="up",
                            help="'up': every started day counts as a whole day; 'exact': "
                                 "fractions of a day count.").tag(config=True)

    @validate("due_dates")
    def _check_due_dates(self, proposal):
        for key, value in _entries(proposal.value, "due_dates", "assignment"):
            parse_date(value, key)
        return proposal.value

    @validate("extensions")
    def _check_extensions(self, proposal):
        for key, per_assignment in _entries(proposal.value, "extensions", "student"):
            if not isinstance(per_assignment, dict):
                raise ValueError(f"{key}: expected a dict of assignment id -> extension, "
                                 f"got {per_assignment!r}")
            for assignment, value in per_assignment.items():
                parse_extension(value, f"{key}[{assignment!r}]")
        return proposal.value

    @validate("percent_per_day", "grace_minutes", "cap_percent")
    def _check_numbers(self, proposal):
        name, value = proposal.trait.name, proposal.value
        top = 100.0 if name == "cap_percent" else math.inf
        if not (math.isfinite(value) and 0 <= value <= top):
            bound = "between 0 and 100" if name == "cap_percent" else ">= 0"
            raise ValueError(f"LatePolicy.{name}: expected a number {bound}, got {value!r}")
        return value

    def due_date(self, assignment: str) -> datetime.datetime | None:
        """The configured due date of ``assignment`` (naive UTC), or None."""
        if assignment not in self.due_dates:
            return None
        return parse_date(self.due_dates[assignment], f"LatePolicy.due_dates[{assignment!r}]")

    def extension(self, student: str, assignment: str,
                  due_date: datetime.datetime | None) -> datetime.timedelta | None:
        """The extension of ``student`` on ``assignment`` as nbgrader stores it, or None.

        A new due date is turned into the time from ``due_date`` (the assignment's due
        date) to it; without a due date it has no meaning and None is returned.

        Raises
        ------
        ValueError
            If a new due date comes before ``due_date``.
        """
        key = f"LatePolicy.extensions[{student!r}][{assignment!r}]"
        value = self.extensions.get(student, {}).get(assignment)
        if value is None:
            return None
        extension = parse_extension(value, key)
        if isinstance(extension, datetime.datetime):
            if due_date is None:
                return None
            if extension < due_date:
                raise ValueError(f"{key}: expected a date after the due date "
                                 f"{due_date:%Y-%m-%d %H:%M} UTC, got {value!r}")
            extension = extension - due_date
        return extension or None


# --- the rule ----------------------------------------------------------------------------


def _number(x: float) -> str:
    """Points as the feedback shows them: ``3.0``, ``12.5``, ``1.69``."""
    text = f"{x:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _percent(x: float, digits: int = 2) -> str:
    """A percentage or a count of days: ``20``, ``12.5``, ``1.125``."""
    return f"{x:.{digits}f}".rstrip("0").rstrip(".")


def penalty(policy: LatePolicy, score: float, seconds_late: float) -> tuple[float, str]:
    """The points a late submission loses under ``policy``, and why, in one sentence.

    Parameters
    ----------
    policy : LatePolicy
        The rule, grace period, cap and day counting.
    score : float
        The points the work earned (>= 0); the penalty is a share of it.
    seconds_late : float
        Seconds from the (extended) due date to the submission; 0 or less is on time.

    Returns
    -------
    points : float
        Between 0 and ``score * policy.cap_percent / 100``.
    explanation : str
        E.g. ``"handed in 1 day 3 hours after the due date (2 days counted): 20% of 15.0
        = 3.0 points off"``.

    Raises
    ------
    ValueError
        If ``score`` is negative or not finite, or ``seconds_late`` is not finite.

    Notes
    -----
    Past the grace period lateness is counted from the due date, not from the end of
    the grace period. With ``days_rounding="up"`` a submission one second late (past the
    grace) counts one whole day.

    Examples
    --------
    >>> policy = LatePolicy(rule="percent_per_day", percent_per_day=10)
    >>> penalty(policy, 15.0, 27 * 3600)
    (3.0, 'handed in 1 day 3 hours after the due date (2 days counted): 20% of 15.0 = 3.0 points off')
    """
    if not isinstance(score, (int, float)) or not math.isfinite(score) or score < 0:
        raise ValueError(f"`score` must be a finite number >= 0, got {score!r}")
    if not isinstance(seconds_late, (int, float)) or not math.isfinite(seconds_late):
        raise ValueError(f"`seconds_late` must be a finite number of seconds, got {seconds_late!r}")
    if seconds_late <= 0:
        return 0.0, "handed in on time: no penalty"
    late = f"handed in {describe_duration(seconds_late)} after the due date"
    if seconds_late <= policy.grace_minutes * 60:
        return 0.0, f"{late}, within the {_percent(policy.grace_minutes)}-minute grace period: no penalty"
    if policy.rule == "none":
        return 0.0, f"{late}: late work is not penalized"
    if policy.rule == "zero":
        percent, detail = 100.0, "late work scores 0"
    else:
        days = seconds_late / DAY
        if policy.days_rounding == "up":
            days = math.ceil(days)
        percent = days * policy.percent_per_day
        detail = f"{_percent(days, 3)} day{'' if days == 1 else 's'} counted"
    if percent > policy.cap_percent:
        detail += (f", {_percent(percent)}% capped at {_percent(policy.cap_percent)}%"
                   if policy.rule == "percent_per_day" else f", capped at {_percent(policy.cap_percent)}%")
        percent = policy.cap_percent
    points = score * percent / 100
    return points, (f"{late} ({detail}): {_percent(percent)}% of {_number(score)} = "
                    f"{_number(points)} points off")


# --- nbgrader's side ---------------------------------------------------------------------


class CourseLatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin: the points :func:`penalty` gives under ``c.LatePolicy``.

    Set ``c.AssignLatePenalties.plugin_class = "course.grading.late.CourseLatePenalty"``.
    nbgrader asks it once per notebook, with that notebook's score, and only for late work.
    """

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float:
        points, explanation = penalty(LatePolicy(parent=self), score, total_seconds_late)
        self.log.info("Late work by %s: %s", student_id, explanation)
        return points


def apply_policy(policy: LatePolicy, db_url: str, assignment: str,
                 student: str) -> tuple[datetime.datetime | None, datetime.timedelta | None]:
    """Write ``policy``'s due date of ``assignment`` and ``student``'s extension into the gradebook.

    The due date is written only when the policy names the assignment (otherwise the
    gradebook's own stays); the extension is always written: the configured one, or none.
    Running it again changes nothing.

    Returns
    -------
    (due_date, extension)
        What the gradebook now holds: the assignment's due date (naive UTC, or None) and
        the student's extension (or None).

    Raises
    ------
    ValueError
        If the assignment or the student's submission is not in the gradebook, or an
        extension's new due date comes before the due date.
    """
    with Gradebook(db_url) as gb:
        try:
            due = policy.due_date(assignment)
            if due is not None:
                gb.update_or_create_assignment(assignment, duedate=due)
            due = gb.find_assignment(assignment).duedate
            # Without a due date an extension means nothing (and nbgrader cannot add one to None).
            extension = policy.extension(student, assignment, due) if due is not None else None
            gb.find_submission(assignment, student)
        except MissingEntry as error:
            raise ValueError(f"`assignment` {assignment!r} / `student` {student!r}: {error} "
                             f"in the gradebook {db_url}") from None
        gb.update_or_create_submission(assignment, student, extension=extension)
    return due, extension


class ApplyDueDates(NbGraderPreprocessor):
    """Autograde step: the configured due date and the student's extension into the gradebook.

    Place it before ``SaveAutoGrades`` (and so before ``AssignLatePenalties``) in
    ``c.Autograde.autograde_preprocessors``; see :func:`apply_policy`.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        ids = resources["nbgrader"]
        policy = LatePolicy(parent=self)
        due, extension = apply_policy(policy, ids["db_url"], ids["assignment"], ids["student"])
        if due is None and policy.extensions.get(ids["student"], {}).get(ids["assignment"]):
            self.log.warning("%s has no due date: the extension of %s has no effect",
                             ids["assignment"], ids["student"])
        self.log.info("Due date of %s: %s UTC, extension of %s: %s", ids["assignment"], due,
                      ids["student"], extension)
        return nb, resources


def lateness(db_url: str, assignment: str, student: str, *, notebook: str | None = None,
             policy: LatePolicy | None = None) -> dict[str, Any]:
    """What the gradebook says about the lateness of ``student``'s ``assignment``.

    Parameters
    ----------
    db_url : str
        The gradebook, e.g. ``"sqlite:///gradebook.db"``.
    assignment, student : str
        The submission.
    notebook : str, optional
        Scores and penalty of this notebook only (nbgrader's penalties are per notebook);
        by default those of the whole assignment.
    policy : LatePolicy, optional
        Explain the penalty with this policy's rule; by default the explanation says only
        what the gradebook holds.

    Returns
    -------
    dict
        ``timestamp`` (naive UTC datetime or None), ``due_date`` (with the extension),
        ``assignment_due_date``, ``extension`` (timedelta or None), ``seconds_late``,
        ``score`` (before the penalty), ``max_score``, ``penalty`` (points, as stored by
        the last autograde) and ``explanation`` (a sentence).

    Raises
    ------
    ValueError
        If the submission (or the notebook) is not in the gradebook.
    """
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
            graded = (gb.find_submission_notebook(notebook, assignment, student)
                      if notebook is not None else submission)
        except MissingEntry as error:
            raise ValueError(f"`assignment` {assignment!r} / `student` {student!r}"
                             f"{'' if notebook is None else f' / `notebook` {notebook!r}'}: "
                             f"{error} in the gradebook {db_url}") from None
        # nbgrader's own SubmittedAssignment.duedate fails on an extension without a due date.
        due = submission.assignment.duedate
        if due is not None and submission.extension is not None:
            due = due + submission.extension
        info = {
            "assignment": assignment, "student": student, "notebook": notebook,
            "timestamp": submission.timestamp,
            "due_date": due,
            "assignment_due_date": submission.assignment.duedate,
            "extension": submission.extension,
            "seconds_late": 0.0 if due is None or submission.timestamp is None else
            max(0.0, (submission.timestamp - due).total_seconds()),
            "score": float(graded.score),
            "max_score": float(graded.max_score),
            "penalty": float(graded.late_submission_penalty or 0.0),
        }
    if policy is not None:
        info["explanation"] = penalty(policy, info["score"], info["seconds_late"])[1]
    elif info["seconds_late"] <= 0:
        info["explanation"] = "handed in on time: no penalty"
    else:
        info["explanation"] = (f"handed in {describe_duration(info['seconds_late'])} after the "
                               f"due date: {_number(info['penalty'])} points off")
    return info


def lateness_note(info: dict[str, Any]) -> str | None:
    """The markdown note a late student reads at the top of the feedback, or None if on time.

    ``info`` is what :func:`lateness` returns. Markdown only: the feedback pages are
    sanitized.

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> print(lateness_note({"timestamp": datetime(2026, 10, 2, 14, 10),
    ...     "due_date": datetime(2026, 10, 1), "extension": None, "seconds_late": 137400.0,
    ...     "score": 15.0, "max_score": 15.0, "penalty": 3.0}))
    **Late work.** Handed in on 2026-10-02 14:10 UTC, 1 day 14 hours after the due date (2026-10-01 00:00 UTC). Penalty: 20% (3.0 points): score 12.0 / 15.0.
    """
    if info["seconds_late"] <= 0 or info["timestamp"] is None or info["due_date"] is None:
        return None
    which = "your extended due date" if info["extension"] else "the due date"
    text = (f"**Late work.** Handed in on {info['timestamp']:%Y-%m-%d %H:%M} UTC, "
            f"{describe_duration(info['seconds_late'])} after {which} "
            f"({info['due_date']:%Y-%m-%d %H:%M} UTC). ")
    points, score, top = info["penalty"], info["score"], info["max_score"]
    if points > 0:
        share = 100 * points / score if score > 0 else 100.0
        text += (f"Penalty: {_percent(share)}% ({_number(points)} points): score "
                 f"{_number(score - points)} / {_number(top)}.")
    else:
        text += f"No penalty: score {_number(score)} / {_number(top)}."
    return text


class ShowLateness(NbGraderPreprocessor):
    """Feedback step: a markdown note at the top of a late submission's feedback.

    Place it after ``GetGrades`` in ``c.GenerateFeedback.preprocessors``. The note
    (:func:`lateness_note`) says when the notebook was handed in, how late, and the
    penalty the gradebook holds for it; work handed in on time gets no note.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        ids = resources["nbgrader"]
        info = lateness(ids["db_url"], ids["assignment"], ids["student"], notebook=ids["notebook"])
        note = lateness_note(info)
        if note is not None:
            nb.cells.insert(0, new_markdown_cell(note, metadata={"tags": ["late-work"]}))
        return nb, resources
