"""One assignment's grades from the gradebook, as rows for the LMS exports.

The score written to an LMS is the graded score minus the late penalty (nbgrader keeps
them apart); students of the roster with no submission get no score (left blank in the
LMS's file, never 0 by accident).
"""
from __future__ import annotations

from datetime import timezone
from pathlib import Path

from course.hub.roster import Roster
from course.lms.export import GradeRow

__all__ = ["grade_rows"]


def grade_rows(root: str | Path, assignment: str, roster: Roster) -> list[GradeRow]:
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(root)
    rows = []
    with Gradebook("sqlite:///" + str(root / "gradebook.db")) as gb:
        try:
            max_score = float(gb.find_assignment(assignment).max_score or 0.0)
        except MissingEntry:
            raise ValueError(f"assignment: {assignment!r} is not in the gradebook "
                             "(generate and grade it first)") from None
        for member in roster.students:
            common = dict(username=member.username, name=member.name, email=member.email,
                          lms_id=member.lms_id, sis_id=member.sis_id, max_score=max_score)
            try:
                submission = gb.find_submission(assignment, member.username)
            except MissingEntry:
                rows.append(GradeRow(**common, feedback="no submission"))
                continue
            score = float(submission.score or 0.0)
            penalty = float(submission.late_submission_penalty or 0.0)
            final = round(max(score - penalty, 0.0), 4)
            late = float(submission.total_seconds_late or 0.0)
            stamp = submission.timestamp.replace(tzinfo=timezone.utc) if submission.timestamp else None
            text = f"{final:g} / {max_score:g}"
            if penalty:
                text += f" (graded {score:g}, late penalty {penalty:g})"
            rows.append(GradeRow(**common, score=final, late_penalty=penalty, seconds_late=late,
                                 submitted_at=stamp, feedback=text))
    return rows
