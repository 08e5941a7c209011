"""Procedure tasks: a setup handed to a catalogue procedure, its reply judged part by part.

Some exercises are not a function of arrays. ps4's ``train_epoch(model, loader,
optimizer, device)`` changes a model in place and returns a loss; ps5's layers are
objects that are built and stepped. The judge cannot send a model or a class across: it
sends a *setup* as plain data (initial weights, digits, batch size, optimizer, seeds, or
a layer's arguments and steps) to a procedure of the catalogue
(:mod:`.harness.torch_procedures`, :mod:`.harness.numpy_procedures`), which builds the
objects in the judged process, calls the student's code on them, and replies with plain
data: a dict of *parts* (the ``"parameters"`` after the epoch, the returned ``"value"``,
the model's ``"calls"``, ...).

A :class:`ProcedureTask` is a :class:`.engine.CaseTask` whose cases are such setups: the
same table (smallest first), the same verdict and the same diagnosis. Each part has
typical wrong values, ``mistakes(case, part)``, and :meth:`ProcedureTask.wrong` makes them
suspects; the engine names one only when it explains that part's wrong answers on every
setup (:meth:`.engine.CaseTask.diagnose`). A task gives:

================================================  ==========================================
``procedure``                                     the catalogue procedure's name
``cases(rng, hidden)``                            a list of :class:`Setup`
``expect(case)``                                  ``({part: value}, where)``, computed once
                                                  per setup (:meth:`ProcedureTask.expected`)
``judge_reply(case, reply, expected, where)``     the reply's problem, or None: its form,
                                                  then each part (:meth:`ProcedureTask.wrong`)
``mistakes(case, part)``                          typical wrong values of one part
``agrees(part, got, value)``                      a part's value is right (the stated
                                                  tolerance)
================================================  ==========================================

:class:`.stateful.LayerTask` is the procedure task of objects stepped layer by layer; it
reads its replies with its own :class:`.stateful.StepsResult` (parts ``(step, kind,
name)``, ``mistakes(case, step, kind, name)``), not with ``judge_reply``.

A task whose right answer depends on the reply itself (ps5's ``initial_loss``: the loss of
the weights the student's own ``make_network`` drew) has no expected part; the engine has
nothing to compare its other setups with, so a suspect is named on the failing setup
alone, and only when it is the one rule that gives the value.
"""
from __future__ import annotations

from typing import Any, Callable

from .cases import Case, Mistake
from .engine import CaseTask, Result, name_among

__all__ = ["ProcedureTask", "ReplyResult", "Setup", "memo"]


def memo(case: Case, key: str, compute: Callable[[], Any]):
    """``compute()`` once per case object (expected values and mistakes of a setup are
    asked for again when the engine diagnoses across cases)."""
    store = case.__dict__.setdefault("_memo", {})
    if key not in store:
        store[key] = compute()
    return store[key]


class Setup(Case):
    """One case of a procedure task: the plain data the procedure receives.

    ``size`` orders the table (smallest first); the label says what the setup is (nothing
    is shown under it: its arrays are the judge's, not the student's inputs).
    """

    def __init__(self, label: str, data: dict, size: int):
        super().__init__(label)
        self.setup, self.count = data, size

    @property
    def size(self) -> int:
        return self.count

    def data(self) -> dict:
        return self.setup

    def describe(self) -> str:
        return ""


class ReplyResult(Result):
    """A procedure's reply: a dict whose parts the task judges (:meth:`ProcedureTask.judge_reply`)."""

    def judge(self, task, target, case, expected, where):
        outcome = task.call(target, case)
        if not outcome.ok:
            return task.refused(target, case, outcome)
        if not isinstance(outcome.value, dict):
            return "The judged process sent an unexpected reply."
        return task.judge_reply(case, outcome.value, expected, where)

    def part(self, value, part):
        return value.get(part) if isinstance(value, dict) else None

    def agrees(self, task, got, value, exact=False, part=None):
        # exact or not, the task's stated tolerance: a procedure's values come from
        # training or stepping in floating point on both sides, equal only to rounding
        return got is not None and value is not None and task.agrees(part, got, value)

    def mistakes_of(self, task, case, part):
        return task.mistakes(case, part)


class ProcedureTask(CaseTask):
    """A task whose cases are setups run by a catalogue procedure (see the module)."""

    result: Result = ReplyResult()
    procedure: str = ""

    def call(self, target, case, count=None):
        return target.procedure(self, self.procedure, self.function, case.data())

    def expected(self, case):
        return memo(case, "expected", lambda: self.expect(case))

    def expect(self, case) -> tuple[dict, str]:
        raise NotImplementedError

    def judge_reply(self, case, reply: dict, expected: dict, where: str) -> str | None:
        raise NotImplementedError

    def refused(self, target, case, outcome) -> str:
        """The message when the call brought no reply: the student's code raised outside
        the procedure's own care, a shortcut was refused, the judged process failed."""
        return "\n".join(filter(None, (outcome.message(), case.describe())))

    def mistakes(self, case, part: str) -> list[Mistake]:
        return []

    def agrees(self, part: str, got, value) -> bool:
        raise NotImplementedError

    counted = False
    """Whether the pass message counts the setups ("all 6 hidden checks passed")."""

    def summary(self, cases: list[Setup]) -> str:
        """What passing showed, for the pass message (empty: the case tasks' message)."""
        return ""

    def passed(self, cases, hidden, where):
        summary = self.summary(cases)
        if not summary:
            return super().passed(cases, hidden, where)
        which = "hidden" if hidden else "visible"
        count = f"{len(cases)} " if self.counted else ""
        return f"{self.name}: all {count}{which} checks passed: {summary}"

    def wrong(self, case, part: str, got, expected, fallback: str) -> str:
        """The diagnosis line of a wrong part: the typical mistakes whose value it equals
        are suspects, named by the engine only if one explains every setup."""
        return name_among(got, self.mistakes(case, part), expected,
                          lambda a, b: self.agrees(part, a, b), fallback, part)
