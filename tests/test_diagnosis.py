"""A diagnosis is named only when it is right: the engine's one mechanism, pinned for every mistake.

For every typical mistake of every case-table task (ps1-ps5 and the lectures' exercises;
for the layers of ps5, every mistake of every part of every step), two made-up submissions:

* an *impostor*: a different wrong rule that gives exactly the mistake's answer on the
  smallest case (where wrong rules agree most easily) and another wrong answer on the
  others. It must not be given the mistake's name.
* a *faithful* one: the mistake itself on every case (its value where the task lists it,
  the right answer where the mistake changes nothing). It is named, unless another
  mistake gives the same answers on every case, in which case none is.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from course.grading import engine
from course.grading.cases import Case
from course.grading.engine import SEVERAL, ArraysResult, CaseTask, IntResult, LocalTarget
from course.grading.harness import wire
from course.grading.stateful import LayerTask
from course.grading.stateful import _parts as _step_parts

ASSIGNMENTS = ("ps1", "ps2", "ps3", "ps4", "ps5", "lectures")


def _case_tasks():
    found = []
    for assignment in ASSIGNMENTS:
        for cell, task in sorted(engine.tasks(assignment).items()):
            if isinstance(task, CaseTask) and not task.values \
                    and isinstance(task.result, (engine.ArrayResult, ArraysResult, IntResult)) \
                    and any(True for _ in _suspects(task, _smallest(task))):
                found.append(pytest.param(task, id=f"{assignment}-{cell}"))
    return found


def _smallest(task: CaseTask) -> Case:
    return min(task.cases(task.visible_rng(), False), key=lambda c: c.size)


def _equal(given, received) -> bool:
    """Whether an input the case holds arrived as ``received``."""
    a, b = given, received
    if isinstance(a, wire.Function):  # a function the case hands over, rebuilt for the call
        return callable(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b))
    return type(a) is type(b) and a == b


def _which(cases: list[Case], args, kwargs) -> Case:
    """The case a call was made with (the arguments crossed the wire as copies)."""
    matches = []
    for case in cases:
        values, settings = case.call_args()
        if len(values) == len(args) and all(_equal(a, b) for a, b in zip(values, args)) \
                and settings.keys() == kwargs.keys() \
                and all(_equal(settings[k], kwargs[k]) for k in settings):
            matches.append(case)
    assert len(matches) == 1, "the call's inputs must pick exactly one of the task's cases"
    return matches[0]


def _parts(task: CaseTask, case: Case) -> list[tuple[int | None, list]]:
    """(part, mistakes) for each returned value the task judges."""
    if isinstance(task.result, ArraysResult):
        return [(i, task.part_mistakes(case, i)) for i in range(len(task.result.parts))]
    return [(None, task.mistakes(case))]


def _with(expected, part, value):
    if part is None:
        return value
    answer = list(expected)
    answer[part] = value
    return tuple(answer)


def _wrong(expected, part):
    """Another wrong answer, which no typical mistake gives."""
    value = expected if part is None else expected[part]
    other = value + 7 if isinstance(value, (int, np.integer)) else np.asarray(value) + 0.3125
    return _with(expected, part, other)


def _suspects(task: CaseTask, case: Case):
    """(part, mistake) of every mistake with a value that differs from the answer."""
    expected = task.expected(case)[0]
    for part, mistakes in _parts(task, case):
        right = expected if part is None else expected[part]
        for mistake in mistakes:
            if mistake.value is not None and not task.result.agrees(task, mistake.value, right,
                                                                     exact=True):
                yield part, mistake


def im2col():
    """Stands in for the student's helper that ps3's ``conv2d_matmul`` must call."""


def _verdict(task: CaseTask, answer) -> str:
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    # computed here: the submission runs under the guard, which refuses the references
    answers = {id(case): answer(case, first=number == 0) for number, case in enumerate(cases)}

    def submission(*args, **kwargs):
        if task.calls:  # the helper the task counts (ps3's conv2d_matmul calls im2col)
            globals()[task.calls]()
        return answers[id(_which(cases, args, kwargs))]

    verdict = task.judge(LocalTarget({task.function: submission}), task.visible_rng(), False)
    assert not verdict.passed
    return verdict.message


@pytest.mark.parametrize("task", _case_tasks())
def test_a_different_rule_that_agrees_on_the_smallest_case_is_not_named(task):
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    if len(cases) < 2:
        pytest.fail(f"{task.name} has a single visible case: no other case can confirm a mistake")
    smallest = cases[0]
    for part, mistake in _suspects(task, smallest):
        def impostor(case, first, part=part, mistake=mistake):
            expected = task.expected(case)[0]
            if first:
                return _with(expected, part, mistake.value)
            return _wrong(expected, part)

        message = _verdict(task, impostor)
        assert f"Likely mistake: {mistake.message}" not in message, message


@pytest.mark.parametrize("task", _case_tasks())
def test_a_mistake_made_on_every_case_is_named(task):
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    smallest, named, several = cases[0], 0, 0
    for part, mistake in _suspects(task, smallest):
        def faithful(case, first, part=part, mistake=mistake):
            expected = task.expected(case)[0]
            listed = {}
            for p, ms in _parts(task, case):
                for m in ms:
                    if p == part and m.value is not None:
                        listed.setdefault(m.rule, m.value)
            if mistake.rule in listed:
                return _with(expected, part, listed[mistake.rule])
            return expected

        message = _verdict(task, faithful)
        if SEVERAL in message:
            several += 1
            continue
        assert f"Likely mistake: {mistake.message}" in message, message
        named += 1
    assert named > 0, f"{task.name}: no mistake of the smallest case can be told apart"


def test_the_verdict_says_which_case_failed_and_which_mistake_it_named():
    """Plain data for the grading records and the class report, beside the message."""
    task = engine.tasks("ps1")["test_correlate2d"]

    def flipped(image, kernel):
        image, kernel = np.asarray(image, float), np.asarray(kernel, float)[::-1, ::-1]
        H, W = image.shape
        KH, KW = kernel.shape
        return np.array([[np.sum(image[i:i + KH, j:j + KW] * kernel) for j in range(W - KW + 1)]
                         for i in range(H - KH + 1)])

    verdict = task.judge(LocalTarget({"correlate2d": flipped}), task.visible_rng(), False)
    assert not verdict.passed and verdict.case.startswith("1 of ")
    assert verdict.mistake and f"Likely mistake: {verdict.mistake}" in verdict.message
    right = task.judge(LocalTarget({"correlate2d": lambda image, kernel: flipped(
        image, np.asarray(kernel)[::-1, ::-1])}), task.visible_rng(), False)
    assert right.passed and right.mistake == "" and right.case == ""


# --- stateful tasks: every part of every step of a layer ----------------------------------
def _layer_tasks():
    found = []
    for assignment in ASSIGNMENTS:
        for cell, task in sorted(engine.tasks(assignment).items()):
            if isinstance(task, LayerTask):
                found.append(pytest.param(task, id=f"{assignment}-{cell}"))
    return found


def _layer_suspects(task: LayerTask, case):
    """(part, mistake) of every mistake of every part of the case's steps with a value that
    differs from the answer; a part is (step, kind, name)."""
    expected = task.expected(case)[0]
    for index, step in enumerate(case.steps):
        for kind, name in _step_parts(step, expected["steps"][index]):
            part = (index, kind, name)
            right = task.result.part(expected, part)
            for mistake in task.mistakes(case, *part):
                if mistake.value is not None and not task.result.agrees(
                        task, mistake.value, right, exact=True):
                    yield part, mistake


class _Replies:
    """A target that answers the layer procedure with made-up replies, one per case: the
    engine's diagnosis is judged on exactly the answers a submission would give."""

    where = "in this test"

    def __init__(self, cases, answer):
        self.cases, self.answer = cases, answer

    def procedure(self, task, name, function, data):
        first = data["steps"][0]["forward"][0]
        matches = [c for c in self.cases if np.array_equal(c.steps[0].forward[0][1], first)
                   and c.data()["args"] == data["args"] and c.data()["kwargs"] == data["kwargs"]]
        assert len(matches) == 1, "the request must pick exactly one of the task's cases"
        case = matches[0]
        return engine.Outcome("ok", value=self.answer(case, first=case is self.cases[0]))


def _reply(task: LayerTask, case, part=None, value=None) -> dict:
    """The right reply for ``case``, with ``part`` set to ``value``."""
    steps = copy.deepcopy(task.expected(case)[0]["steps"])
    if part is not None:
        index, kind, name = part
        if name is None:
            steps[index][kind] = value
        else:
            steps[index][kind][name] = value
    return {"steps": steps, "error": None}


def _other(value):
    """Another wrong value of a part, which no typical mistake gives."""
    return np.asarray(value) + 0.3125 if isinstance(value, np.ndarray) else float(value) + 0.3125


def _layer_verdict(task: LayerTask, answer) -> str:
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    verdict = task.judge(_Replies(cases, answer), task.visible_rng(), False)
    assert not verdict.passed
    return verdict.message


@pytest.mark.parametrize("task", _layer_tasks())
def test_a_layer_part_that_agrees_only_on_the_smallest_case_is_not_named(task):
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    assert len(cases) >= 2, f"{task.name} has a single visible case"
    for part, mistake in _layer_suspects(task, cases[0]):
        def impostor(case, first, part=part, mistake=mistake):
            if first:
                return _reply(task, case, part, mistake.value)
            return _reply(task, case, part, _other(task.result.part(task.expected(case)[0],
                                                                     part)))

        message = _layer_verdict(task, impostor)
        assert f"Likely mistake: {mistake.message}" not in message, (part, message)


@pytest.mark.parametrize("task", _layer_tasks())
def test_a_layer_mistake_made_on_every_case_is_named(task):
    cases = sorted(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    named = 0
    for part, mistake in _layer_suspects(task, cases[0]):
        def faithful(case, first, part=part, mistake=mistake):
            if part[0] >= len(case.steps):
                return _reply(task, case)
            listed = {m.rule: m.value for m in task.mistakes(case, *part) if m.value is not None}
            if mistake.rule in listed:
                return _reply(task, case, part, listed[mistake.rule])
            return _reply(task, case)

        message = _layer_verdict(task, faithful)
        if SEVERAL in message:
            continue
        assert f"Likely mistake: {mistake.message}" in message, (part, message)
        named += 1
    assert named > 0, f"{task.name}: no mistake of the smallest case can be told apart"
