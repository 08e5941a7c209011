"""The grading engine: tasks, the targets they call, and one verdict strategy per kind of result.

A :class:`Task` is one graded exercise (one test cell of a problem set). Its
:meth:`Task.judge` calls the student's code through a *target* and returns a
:class:`Verdict`:

* :class:`LocalTarget` calls a function the student passes in their own kernel (the
  visible checks of a test cell, ``check_x(fn)``, and the self-check
  ``check_x(fn, hidden=True)``);
* the judge's remote target (:class:`course.grading.runner.judge.RemoteTarget`) calls the
  function of the same name in the judged process, where only plain data crosses.

Both go through the same code, so a student sees in the notebook the messages the
grade will give. Most tasks are :class:`CaseTask`: a table of cases (smallest first),
the expected value of each from a PyTorch reference, typical mistakes, and a
:class:`Result` strategy that judges what came back:

=======================  ==============================================================
:class:`ArrayResult`     one ndarray: type, shape, finite values, values, inputs unchanged
:class:`ArraysResult`    a tuple of ndarrays (``parts``), each judged as above
:class:`IntResult`       a whole number (output sizes, parameter counts)
:class:`EstimateResult`  a gradient check's relative error: small for a right backward
                         pass, large for a wrong one
=======================  ==============================================================

Tasks register under their assignment and their test cell's grade id with the
decorator :func:`problem_set` gives (``task = problem_set("ps1")``); :func:`tasks`
lists an assignment's. A diagnosis ("Likely mistake: ...") is given only when one typical mistake
explains the student's wrong answers on every case the task ran, not only on the first
failing one (:meth:`CaseTask.judge`): a small or degenerate case, where several wrong
rules give the same numbers, cannot name a mistake on its own. Otherwise the message
shows the case, the expected and the received value, and says that no known mistake
matches (or that several do).
"""
from __future__ import annotations

import contextvars
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cases import Case, Mistake, Rng, compare, fmt, same, unravel
from .harness import protocol, wire

__all__ = ["ArrayResult", "ArraysResult", "CaseTask", "EstimateResult", "IntResult", "note",
           "LocalTarget", "Outcome", "Result", "Task", "ValuesTask", "Verdict", "problem_set",
           "tasks"]

NO_MATCH = "No typical mistake matches your output; compare it with the expected values above."
SEVERAL = ("More than one typical mistake gives your answers on every case, so none is named; "
           "compare your output with the expected values above.")


def helper_missing(task: str, helper: str) -> str:
    return (f"`{task}` must call your `{helper}` (define it above, run its cell, then this "
            f"one); no function `{helper}` was found.")


@dataclass
class Verdict:
    """The outcome of judging one task: passed or not, and the message for the student."""

    passed: bool
    message: str
    cases: int = 0
    case: str = ""
    """The failing case, "3 of 7: <label>" (case tasks), for the class report."""
    mistake: str = ""
    """The rule of the typical mistake the message names (``Mistake.rule``), if any."""


@dataclass
class Outcome:
    """What one call of student code gave: a value, or why there is none.

    ``kind`` is ``"ok"``, ``"raised"`` (the student's code raised), ``"forbidden"`` (a
    refused shortcut), ``"missing"`` (no such function), ``"failed"`` (the judged process
    died, timed out or sent something that is not plain data).
    """

    kind: str = "ok"
    value: Any = None
    error: str = ""
    args_after: list = field(default_factory=list)
    counted: int = 0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def message(self) -> str:
        if self.kind == "raised":
            return f"Your function raised {self.error}"
        if self.kind == "forbidden":
            return f"Forbidden call: {self.error}"
        return self.error


# --------------------------------------------------------------------------------------
# Targets
class LocalTarget:
    """Call student objects in this process (the student's kernel).

    Arguments and results make the same round trip through :mod:`wire` as they do to
    the judged process, so the student's code receives and the task sees exactly the
    data the judge would.
    """

    where = "in this notebook"

    def __init__(self, objects: dict[str, Any], values: dict[str, Any] | None = None):
        self.objects, self._values = objects, values or {}

    def call(self, task: "Task", function: str, args: list, kwargs: dict,
             count: str | None = None) -> Outcome:
        request = {"task": task.name, "function": function, "args": list(args),
                   "kwargs": dict(kwargs), "guard": [list(p) for p in task.forbidden],
                   "libraries": task.libraries, "advice": task.advice, "count": count}
        return self._answer(protocol.call, task, request)

    def procedure(self, task: "Task", name: str, function: str, data: dict) -> Outcome:
        request = {"task": task.name, "name": name, "function": function, "data": data,
                   "guard": [list(p) for p in task.forbidden], "libraries": task.libraries,
                   "advice": task.advice}
        return self._answer(protocol.procedure, task, request)

    def _answer(self, answer, task: "Task", request: dict) -> Outcome:
        """The request and its reply make the round trip through :mod:`wire` that they
        make to and from the judged process."""
        reply = answer(self.objects, wire.loads(wire.dumps(request)))
        try:
            reply = wire.loads(wire.dumps(reply))
        except wire.WireError as error:
            reply = {"unsendable": str(error)}
        return outcome(reply, task, request["function"])

    def values(self, names: tuple[str, ...]) -> dict:
        return {name: wire.loads(wire.dumps(self._values[name])) for name in names}


def outcome(reply, task: "Task | None", function: str) -> Outcome:
    """The :class:`Outcome` of a :mod:`.harness.protocol` reply (either target)."""
    if not isinstance(reply, dict):
        return Outcome("failed", error="The judged process sent an unexpected reply.")
    if "value" in reply or "result" in reply:
        after, counted = reply.get("args_after", []), reply.get("counted", 0)
        return Outcome("ok", value=reply.get("value", reply.get("result")),
                       args_after=after if isinstance(after, list) else [],
                       counted=counted if type(counted) is int else 0)
    if "raised" in reply:
        counted = reply.get("counted", 0)
        return Outcome("raised", error=str(reply["raised"])[:4000],
                       counted=counted if type(counted) is int else 0)
    if "forbidden" in reply:
        return Outcome("forbidden", error=str(reply["forbidden"])[:2000])
    if "missing" in reply:
        return Outcome("missing", error=f"{reply['missing']}.")
    if "missing_helper" in reply:
        return Outcome("missing", error=helper_missing(task.name if task else function,
                                                       str(reply["missing_helper"])))
    if "unsendable" in reply:
        return Outcome("failed", error=f"Your function returned something that is not plain "
                                       f"data ({reply['unsendable']}).")
    return Outcome("failed", error="The judged process sent an unexpected reply.")


# --------------------------------------------------------------------------------------
# Tasks and their registry
_REGISTRY: dict[str, dict[str, "Task"]] = {}


def problem_set(assignment: str):
    """The ``@task`` decorator of one assignment: ``task = problem_set("ps1")``.

    The assignment is named here, explicitly (the nbgrader assignment the tasks grade);
    the module or package that holds them is found as ``course.grading.<assignment>``
    (see :func:`tasks`), whatever its own files are called.
    """
    def task(cell: str, function: str | None = None, *, values: tuple[str, ...] = ()):
        """Register a task class under this assignment and its test cell.

        Parameters
        ----------
        cell : str
            The nbgrader grade id of the test cell the task grades (``"test_conv2d"``).
        function : str, optional
            The name of the student's function or class in the notebook (default: the
            task's name, the cell id without ``test_``).
        values : tuple of str
            For tasks that judge what the notebook computed (a trained model): the
            notebook variables the judge exports from the kernel when it reaches the cell.
        """
        def register(cls):
            name = cell.removeprefix("test_")
            instance = cls(name=name, cell=cell, function=function or name, values=values)
            _REGISTRY.setdefault(assignment, {})[cell] = instance
            cls.registered = instance
            return cls

        return register

    return task


def tasks(assignment: str) -> dict[str, "Task"]:
    """The registered tasks of an assignment, by test cell.

    Imports ``course.grading.<assignment>`` (a module, or a package whose
    ``__init__`` imports its parts), where they register with :func:`problem_set`.
    """
    import importlib

    try:
        importlib.import_module(f"course.grading.{assignment}")
    except ModuleNotFoundError as error:
        if error.name != f"course.grading.{assignment}":
            raise  # the module exists but something it imports does not
    return dict(_REGISTRY.get(assignment, {}))


class Task:
    """One graded exercise.

    Subclasses set the class attributes below and implement :meth:`judge` (or inherit
    :class:`CaseTask`'s). ``allowed`` names the top-level packages the judged process
    may import (``("numpy",)`` or ``("numpy", "torch")``); ``forbidden`` adds refused
    functions of those packages, ``libraries`` refuses the convolutions of PyTorch,
    SciPy and the course (see :mod:`.harness.guard`).
    """

    allowed: tuple[str, ...] = ("numpy",)
    forbidden: tuple = ()
    libraries: bool = True
    advice: str | None = None
    heldout: bool = False
    """Whether the task scores a trained network on the held-out digits
    (:meth:`test_digits`); the batch sends them to a cluster worker only then."""
    registered: "Task"

    def __init__(self, name: str, cell: str, function: str, values: tuple[str, ...] = ()):
        self.name, self.cell, self.function, self.values = name, cell, function, values

    def judge(self, target, rng: Rng, hidden: bool) -> Verdict:
        raise NotImplementedError

    def fail(self, hidden: bool, label: str, problem: str) -> Verdict:
        """The failed verdict of a check that is not a table of cases (a procedure, a
        trained model): which check, on what, and the problem."""
        which = "hidden" if hidden else "visible"
        return Verdict(False, f"{self.name}: {which} check failed -- {label}.\n{problem}")

    def exported(self, target, hidden: bool, label: str) -> tuple[dict | None, Verdict | None]:
        """The notebook values this task judges (``values``), or the failed verdict that
        says why they are missing: ``(values, None)`` or ``(None, verdict)``."""
        try:
            return target.values(self.values), None
        except LookupError as error:
            names = " and ".join(f"`{name}`" for name in self.values)
            return None, self.fail(hidden, label, f"{names} could not be read from your "
                                                  f"notebook when this cell ran: {error}")

    def test_digits(self, size: int, hidden: bool):
        """The digits to score a trained network on: the instructor's held-out ones when
        grading, if provided (:func:`.heldout.test_digits`). Only a task that declares
        ``heldout = True`` may ask, so that the batch knows to ship them."""
        if not self.heldout:
            raise TypeError(f"{type(self).__name__} reads the held-out digits: declare "
                            "`heldout = True` on it")
        from . import heldout

        return heldout.test_digits(size, hidden)

    def visible_rng(self) -> Rng:
        """The fixed seed of the visible cases (the same in every notebook)."""
        return Rng(zlib.crc32(self.name.encode()))

    @classmethod
    def check(cls, *objects, hidden: bool = False) -> None:
        """Run this task in the student's kernel: print the verdict, or raise AssertionError.

        ``check(fn)`` runs the visible cases; ``check(fn, hidden=True)`` also draws
        the other cases from a fresh seed, as the judge does when grading.
        """
        __tracebackhide__ = True
        self = cls.registered
        if len(objects) == max(1, len(self.values)) + 1 and isinstance(objects[-1], bool):
            objects, hidden = objects[:-1], objects[-1]
        if self.values:
            target = LocalTarget({}, dict(zip(self.values, objects)))
        else:
            target = LocalTarget({self.function: objects[0]} if objects else {})
        rng = Rng.fresh() if hidden else self.visible_rng()
        verdict = self.judge(target, rng, hidden)
        if not verdict.passed:
            raise AssertionError(verdict.message)
        print(verdict.message)


class ValuesTask(Task):
    """A task that judges what the notebook computed (a trained model, recorded results):
    the notebook variables named by ``values``, exported from the kernel as plain data when
    the judge reaches the test cell. ``what`` names them in the message when they are
    missing."""

    what = "the notebook's values"

    def judge(self, target, rng: Rng, hidden: bool) -> Verdict:
        values, missing = self.exported(target, hidden, self.what)
        return missing or self.judge_values(values, rng, hidden)

    def judge_values(self, values: dict, rng: Rng, hidden: bool) -> Verdict:
        raise NotImplementedError


class CaseTask(Task):
    """A task judged on a table of cases with a :class:`Result` strategy."""

    rtol = 1e-6
    atol = 1e-8
    result: "Result"

    def cases(self, rng: Rng, hidden: bool) -> list[Case]:
        raise NotImplementedError

    def expected(self, case: Case) -> tuple[Any, str]:
        """(value, where it was computed, e.g. "PyTorch float64 on cpu")."""
        raise NotImplementedError

    def shape_formula(self, case: Case) -> str:
        return ""

    def mistakes(self, case: Case) -> list[Mistake]:
        return []

    def error_variants(self, case: Case) -> list[tuple[str, Case]]:
        """(diagnosis, altered case): when the function raises on ``case`` but returns the
        expected answer for the altered inputs, the diagnosis names the mistake."""
        return []

    calls: str | None = None
    """A function of the student's that theirs must call exactly once per call (counted)."""

    def call(self, target, case: Case, count: str | None = None) -> Outcome:
        args, kwargs = case.call_args()
        outcome = target.call(self, self.function, args, kwargs, count=count or self.calls)
        if self.calls and outcome.ok and outcome.counted != 1:
            did = "did not call" if outcome.counted == 0 else \
                f"called `{self.calls}` {outcome.counted} times; it should call"
            return Outcome("failed", error=f"`{self.function}` {did} your `{self.calls}` "
                                           "exactly once (see the task's text).")
        return outcome

    def judge(self, target, rng: Rng, hidden: bool) -> Verdict:
        """Run the cases smallest first; the first failing one gives the message.

        A typical mistake that equals the student's answer on that case is only a
        suspect: it is named when it also reproduces the student's answer on every
        other case (see :meth:`diagnose`). A note (:func:`note`) made while the cases ran
        is added to the message of a passed task.
        """
        cases = sorted(self.cases(rng, hidden), key=lambda c: c.size)
        where, notes = "", []
        notes_token = _NOTES.set(notes)
        try:
            for number, case in enumerate(cases, start=1):
                expected, where = self.expected(case)
                pending: list[Suspects] = []
                token = _SUSPECTS.set(pending)
                try:
                    problem = self.result.judge(self, target, case, expected, where)
                finally:
                    _SUSPECTS.reset(token)
                if problem is not None:
                    named = ""
                    for found in pending:
                        line, rule = self.diagnose(target, cases, case, found)
                        problem, named = problem.replace(_PENDING, line, 1), named or rule
                    which = "all cases" if hidden else "visible cases"
                    return Verdict(False, f"{self.name}: case {number} of {len(cases)} ({which}, "
                                          f"smallest first) failed -- {case.label}.\n{problem}",
                                   len(cases), case=f"{number} of {len(cases)}: {case.label}",
                                   mistake=named)
        finally:
            _NOTES.reset(notes_token)
        return Verdict(True, "\n".join([self.passed(cases, hidden, where)] + notes[:1]),
                       len(cases))

    def passed(self, cases: list[Case], hidden: bool, where: str) -> str:
        """The message of a passed task (``where``: the last case's)."""
        against = f" against {where}" if where else ""
        which = "cases (visible and on fresh inputs)" if hidden else "visible cases"
        return f"{self.name}: all {len(cases)} {which} passed{against}."

    def diagnose(self, target, cases: list[Case], failing: Case,
                 found: "Suspects") -> tuple[str, str]:
        """The diagnosis line for the suspects of the failing case, and the named rule.

        Every other case is called again. A suspect must explain every wrong answer:
        where the student's answer is wrong, it survives only if its value there (the
        same rule, see :attr:`.cases.Mistake.rule`) equals that answer; where the
        student's code raised, only a suspect that has no value there either survives.
        A right answer needs no explaining (a student may swap only some settings), but
        a suspect that predicted a wrong answer there has that counted against it. Of
        the survivors, the one with the fewest right answers against it is named; none
        gives ``found.fallback``; a tie is not told apart by these cases, and none is
        named.
        """
        alive = list(found.mistakes)
        against: dict[str, int] = {}  # rule -> right answers where it predicted a wrong one
        for case in cases:
            if case is failing or not alive:
                continue
            right = self.result.part(self.expected(case)[0], found.part)
            if right is None:
                continue  # this case has no such part (fewer steps): no evidence here
            outcome = self.call(target, case)
            got = self.result.part(outcome.value, found.part) if outcome.ok else None
            listed: dict[str, list] = {}
            for mistake in self.result.mistakes_of(self, case, found.part):
                if mistake.value is not None:
                    listed.setdefault(mistake.rule, []).append(mistake.value)
            if got is None:
                # no answer (it raised): only a mistake that has no value here either fits
                alive = [m for m in alive if m.rule not in listed]
                continue
            if self.result.agrees(self, got, right, part=found.part):
                for m in alive:  # a right answer needs no explaining, but counts against
                    if any(not self.result.agrees(self, v, right, part=found.part)
                           for v in listed.get(m.rule, ())):
                        against[m.rule] = against.get(m.rule, 0) + 1
                continue
            alive = [m for m in alive if any(self.result.agrees(self, got, v, exact=True,
                                                                 part=found.part)
                                             for v in listed.get(m.rule, ()))]
        rules = {m.rule: m for m in alive}
        if not rules:
            return found.fallback, ""
        fewest = min(against.get(rule, 0) for rule in rules)
        best = [m for rule, m in rules.items() if against.get(rule, 0) == fewest]
        if len(best) == 1:
            return f"Likely mistake: {best[0].message}", best[0].rule
        return SEVERAL, ""


# --------------------------------------------------------------------------------------
# Diagnosis: suspects first, named after every case is heard
@dataclass
class Suspects:
    """The typical mistakes a failing answer equals, before the other cases confirm one.

    ``part``: which part of the answer (an index of ``ArraysResult``'s tuple, a procedure
    reply's key, a layer's ``(step, kind, name)``; None: the whole answer), ``fallback``:
    the line shown when no single mistake is confirmed.
    """

    mistakes: list[Mistake]
    part: object
    fallback: str


_SUSPECTS: contextvars.ContextVar[list | None] = contextvars.ContextVar("suspects", default=None)
_PENDING = "\x00likely-mistake\x00"
_NOTES: contextvars.ContextVar[list | None] = contextvars.ContextVar("notes", default=None)


def note(text: str) -> None:
    """Add a note (no points lost) to the message of the task being judged, if it passes."""
    notes = _NOTES.get()
    if notes is not None and text not in notes:
        notes.append(text)


def likely(candidates: list[Mistake], fallback: str, part: int | None = None) -> str:
    """The "Likely mistake" line for the mistakes the answer equals on this case.

    Inside :meth:`CaseTask.judge` the line is decided once every case has been heard
    (a placeholder until then); elsewhere a candidate is named at once if it is the only
    rule the answer equals.
    """
    pending = _SUSPECTS.get()
    if pending is None:
        rules = {m.rule: m for m in candidates}
        if len(rules) == 1:
            return f"Likely mistake: {candidates[0].message}"
        return SEVERAL  # on one case alone, mistakes that agree cannot be told apart
    pending.append(Suspects(list(candidates), part, fallback))
    return _PENDING


def name_among(got, mistakes: list[Mistake], expected, equal, fallback: str,
               part=None) -> str:
    """The diagnosis line of a wrong answer (of ``part``): the mistakes whose value equals
    ``got`` are suspects (:func:`likely`): inside a table of cases, named only if one
    explains every case; on a value task (one set of notebook values), named if it is the
    only rule that gives the value."""
    named = suspects(got, mistakes, expected, equal)
    return likely(named, fallback, part) if named else fallback


def suspects(got, mistakes: list[Mistake], expected, equal=None) -> list[Mistake]:
    """The mistakes whose value equals ``got`` (and differs from the answer)."""
    equal = equal or (lambda a, b: same(a, b))
    return [m for m in mistakes if m.value is not None and equal(got, m.value)
            and not equal(m.value, expected)]


# --------------------------------------------------------------------------------------
# Result strategies
class Result:
    """How to judge what one call returned.

    Besides :meth:`judge`, a strategy tells the diagnosis how to read an answer:
    :meth:`part` (the value a mistake is compared with), :meth:`agrees` and
    :meth:`mistakes_of`.
    """

    def judge(self, task: CaseTask, target, case: Case, expected, where: str) -> str | None:
        raise NotImplementedError

    def part(self, value, part: int | None):
        return value

    def agrees(self, task: CaseTask, got, value, exact: bool = False, part=None) -> bool:
        """Whether ``got`` equals ``value`` (of ``part``): within the task's tolerance, or,
        ``exact``, as a typical mistake's value must."""
        if exact:
            return same(got, value)
        return same(got, value, task.rtol, task.atol)

    def mistakes_of(self, task: CaseTask, case: Case, part: int | None) -> list[Mistake]:
        return task.mistakes(case)


def _error_with_variants(task, target, case, outcome, expected, matches) -> str:
    message = f"{outcome.message()}\n{case.describe()}"
    if outcome.kind == "raised":
        for diagnosis, variant in task.error_variants(case):
            other = task.call(target, variant)
            if other.ok and matches(other.value, expected):
                return message.replace("\n", f"\nLikely mistake: {diagnosis}\n", 1)
    return message


class ArrayResult(Result):
    """The function returns one ndarray."""

    def judge(self, task, target, case, expected, where):
        outcome = task.call(target, case)
        if not outcome.ok:
            return _error_with_variants(task, target, case, outcome, expected,
                                        lambda v, e: same(v, e, task.rtol, task.atol))
        problem = judge_array(task, case, outcome.value, expected, where, task.mistakes(case),
                              task.shape_formula(case))
        return problem or inputs_changed(case, outcome.args_after)


def judge_array(task, case: Case, got, expected, where: str, mistakes: list[Mistake],
                formula: str, part: int | None = None) -> str | None:
    """The verdict on one returned array: type, shape, finite values, values."""
    shown = (f"{case.describe()}\n  expected ({where}):\n    {fmt(expected)}\n"
             f"  got:\n    {fmt(got)}")
    if not isinstance(got, np.ndarray):
        hint = ""
        if got is None:
            hint = " Did you forget the `return` statement?"
        elif isinstance(got, (list, tuple)):
            hint = " Convert it with np.array(...) before returning."
        return f"Return a NumPy ndarray, got {kind_name(got)}.{hint}\n{shown}"
    if got.dtype.kind not in "biuf":
        return (f"Return an array of numbers, got dtype {got.dtype}.\n{shown}")
    if got.shape != expected.shape:
        lines = [f"Wrong shape: expected {expected.shape}, got {got.shape}."]
        if formula:
            lines.append(f"Output size: {formula}")
        hint = next((f"Shape hint (your shape is that of a typical mistake; its values were "
                     f"not compared): {m.message}" for m in mistakes
                     if m.value is None and m.shape is not None
                     and tuple(m.shape) == got.shape != expected.shape), "")
        named = suspects(got, mistakes, expected)
        if named:
            lines.append(likely(named, hint, part))
        elif hint:
            lines.append(hint)
        lines.append(shown)
        return "\n".join(lines)
    if got.dtype.kind == "f" and not np.isfinite(got).all():
        index = int(np.argmin(np.isfinite(got).ravel()))
        value = got.ravel()[index]
        return (f"Your output holds {value} at index {unravel(index, got.shape)}: every value "
                "should be finite (did -inf padding or a division by zero leak into the "
                f"result?).\n{shown}")
    difference = compare(got, expected, task.rtol, task.atol)
    if difference is None:
        return None
    index, g, e, worst = difference
    lines = [f"Wrong values: at index {unravel(index, got.shape)} expected {e:.6g}, got {g:.6g} "
             f"(largest error {worst:.3g}; tolerance |got - expected| <= {task.atol:g} + "
             f"{task.rtol:g} * |expected|)."]
    dtype = _dtype_diagnosis(case, got, expected)
    fallback = f"Likely mistake: {dtype}" if dtype else NO_MATCH
    named = suspects(got, mistakes, expected)
    lines.append(likely(named, fallback, part) if named else fallback)
    lines.append(shown)
    return "\n".join(lines)


def _dtype_diagnosis(case: Case, got: np.ndarray, expected: np.ndarray) -> str | None:
    integer_input = any(isinstance(v, np.ndarray) and v.dtype.kind in "iu" for _, v in case.args)
    if integer_input:
        if got.dtype.kind in "iu" and got.dtype.itemsize == 1:
            return (f"integer overflow: your output has dtype {got.dtype}, which wraps around "
                    "at 256 and cannot hold negative or large sums; convert the input to float "
                    "first (`image.astype(np.float64)`).")
        difference = np.asarray(got, dtype=np.float64) - np.asarray(expected, dtype=np.float64)
        if np.all(np.mod(difference, 256) == 0):
            return ("integer overflow: your values differ from the expected ones by multiples "
                    "of 256, the mark of uint8 arithmetic wrapping around; convert the input "
                    "to float first (`image.astype(np.float64)`).")
    if got.dtype.kind in "iu" and expected.dtype.kind == "f":
        return (f"your output has an integer dtype ({got.dtype}) so fractions are cut off; "
                "create the output with a float dtype.")
    return None


def inputs_changed(case: Case, after: list) -> str | None:
    """The inputs must be unchanged after the call."""
    before = [(name, value) for name, value in case.args if isinstance(value, np.ndarray)]
    for (name, value), now in zip(before, after):
        if not (isinstance(now, np.ndarray) and now.shape == value.shape
                and np.array_equal(now, value, equal_nan=True)):
            return (f"Your function changed its input `{name}` in place; work on a copy "
                    f"(e.g. `{name} = {name}.copy()` or write into a new array).\n"
                    f"  `{name}` before the call:\n    {fmt(value)}\n"
                    f"  after:\n    {fmt(now)}")
    return None


def kind_name(value) -> str:
    """The type's name of a value that came over the wire (a tensor, an unsupported object)."""
    if isinstance(value, wire.Unsupported):
        return value.type_name
    if isinstance(value, wire.Tensor):
        return "torch.Tensor"
    return type(value).__name__


class ArraysResult(Result):
    """The function returns a tuple of arrays, named by ``parts``.

    The task gives ``part_mistakes(case, index)`` and ``part_shape_formula(case, index)``.
    """

    def __init__(self, *parts: str):
        self.parts = parts

    def judge(self, task, target, case, expected, where):
        def matches(value, expected):
            return isinstance(value, (tuple, list)) and len(value) == len(expected) and all(
                same(v, e, task.rtol, task.atol) for v, e in zip(value, expected))

        outcome = task.call(target, case)
        if not outcome.ok:
            return _error_with_variants(task, target, case, outcome, expected, matches)
        got, names = outcome.value, ", ".join(self.parts)
        if not isinstance(got, (tuple, list)) or len(got) != len(self.parts):
            what = (f"{type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list))
                    else kind_name(got))
            hint = " Did you forget the `return` statement?" if got is None else ""
            return (f"Return a tuple of {len(self.parts)} arrays ({names}), got {what}.{hint}\n"
                    f"{case.describe()}")
        for index, part in enumerate(self.parts):
            problem = judge_array(task, case, got[index], expected[index], where,
                                  task.part_mistakes(case, index),
                                  task.part_shape_formula(case, index), part=index)
            if problem is not None:
                return (f"In `{part}` (returned value {index + 1} of {len(self.parts)}: "
                        f"{names}): {problem}")
        return inputs_changed(case, outcome.args_after)

    def part(self, value, part):
        if part is None or not isinstance(value, (tuple, list)) or len(value) != len(self.parts):
            return None
        return value[part]

    def mistakes_of(self, task, case, part):
        return task.part_mistakes(case, part)


def as_int(value):
    """A Python int from an int, a NumPy integer or a 0-d integer array, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value)
    return None


def as_float(value):
    """A Python float from a real number or a one-element array, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(-1)[0])
    return None


class IntResult(Result):
    """The function returns a whole number."""

    def judge(self, task, target, case, expected, where):
        outcome = task.call(target, case)
        if not outcome.ok:
            return f"{outcome.message()}\n{case.describe()}"
        got = as_int(outcome.value)
        if got is None:
            value = outcome.value
            hint = " (use // for whole-number division)" if isinstance(value, float) else ""
            return (f"Return an int, got {kind_name(value)} {value!r}{hint}.\n{case.describe()}\n"
                    f"  expected: {expected}")
        if got == expected:
            return None
        lines = [f"Wrong value: expected {expected}, got {got}."]
        fallback = ("No typical mistake gives this value; work the formula through for this "
                    "case by hand.")
        named = suspects(got, task.mistakes(case), expected, equal=lambda a, b: a == b)
        lines.append(likely(named, fallback) if named else fallback)
        formula = task.shape_formula(case)
        if formula:
            lines.append(f"Formula: {formula}")
        lines.append(case.describe())
        return "\n".join(lines)


    def part(self, value, part):
        return as_int(value)

    def agrees(self, task, got, value, exact=False, part=None):
        return got is not None and got == value


class EstimateResult(Result):
    """A gradient check: the student's function returns the largest relative error.

    ``expected`` is the true relative error of the backward pass the case hands over
    (0 for a right one). The function must call the student's ``helper`` (counted).
    """

    def __init__(self, helper: str, limits: tuple[float, float], hint_small: str, hint_large: str):
        self.helper, self.limits = helper, limits
        self.hint_small, self.hint_large = hint_small, hint_large

    def judge(self, task, target, case, expected, where):
        outcome = task.call(target, case, count=self.helper)
        if outcome.kind == "missing":
            return f"{outcome.message()}\n{case.describe()}"
        if not outcome.ok:
            return f"{outcome.message()}\n{case.describe()}"
        value = as_float(outcome.value)
        if value is None:
            return (f"Return one float (the largest relative error), got "
                    f"{kind_name(outcome.value)} {fmt(outcome.value)}.\n{case.describe()}")
        if not outcome.counted:
            return (f"`{task.name}` did not call your `{self.helper}`: compute the numerical "
                    f"gradients with it.\n{case.describe()}")
        if not (np.isfinite(value) and value >= 0):
            return (f"A relative error is a finite number >= 0, got {value!r} (a division by "
                    f"zero? guard the denominator).\n{case.describe()}")
        small, large = self.limits
        if expected == 0 and not value < small:
            return (f"Your check reports an error of {value:.3g} for a CORRECT backward pass; "
                    f"it should be below {small:g}.\nLikely mistake: {self.hint_small}\n"
                    f"{case.describe()}")
        if expected > 0 and not value > large:
            return (f"Your check reports an error of only {value:.3g} for a backward pass whose "
                    f"{case.wrong} is wrong (the true relative error is {expected:.3g}); it "
                    f"should be above {large:g}.\nLikely mistake: "
                    f"{self.hint_large.format(part=case.wrong)}\n{case.describe()}")
        return None
