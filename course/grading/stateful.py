"""Stateful tasks: an object the student wrote, built, given its state, then stepped.

A layer of a network is the example every problem set meets (ps5 writes them all): a
class with ``forward`` and ``backward``, dicts ``params``, ``grads`` and ``buffers``,
``train()`` and ``eval()``. Such a task is judged on a table of :class:`LayerCase`: the
object is built with the case's arguments, given its parameters and buffers, and run
through the case's :class:`Step` s (a forward pass, and a backward pass when the step
has one, in training or evaluation mode). Every *part* of every step (``out``,
``grad_x``, each ``grads[name]``, each ``buffers[name]``) is compared with the
expected value, and a wrong part is diagnosed by the engine's one mechanism
(:meth:`.engine.CaseTask.diagnose`): a typical mistake is named only when it explains
that part's wrong answers on every case.

The student's object lives in the judged process (or the notebook's kernel for the
visible checks); the catalogue's ``numpy_layer`` procedure builds and steps it there and
sends back plain data (a :class:`LayerTask` is a :class:`.procedures.ProcedureTask`): ``{"steps": [{"out", "grad_x", "grads", "buffers", "params",
"inputs_after"}, ...], "error": {...}}``. A task gives:

=======================================  ==============================================
``cases(rng, hidden)``                   a list of :class:`LayerCase`
``expected_steps(case)``                 one dict per step, shaped like the reply's
``mistakes(case, index, kind, name)``    typical wrong values of one part of one step
``shape_formula(case, index, kind, name)``  the shape a part must have, in words
=======================================  ==============================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cases import Case, Mistake, fmt
from .engine import Result, as_float, judge_array, likely, suspects
from .procedures import ProcedureTask

__all__ = ["LayerCase", "LayerTask", "Step", "StepsResult"]


@dataclass
class Step:
    """One forward (and backward) call: ``forward``/``backward`` are (name, value) pairs;
    ``backward`` None: a forward pass only."""

    mode: str
    forward: tuple
    backward: tuple | None = ()

    def data(self) -> dict:
        return {"mode": self.mode, "forward": [v for _, v in self.forward],
                "backward": None if self.backward is None else [v for _, v in self.backward]}


@dataclass
class LayerCase(Case):
    """An object built as ``cls(*layer_args, **layer_kwargs)``, given ``params`` and
    ``buffers``, run through ``steps``."""

    layer_args: tuple = ()
    layer_kwargs: tuple = ()
    params: tuple = ()
    buffers: tuple = ()
    steps: tuple = ()
    cls: str = ""

    @property
    def size(self) -> int:
        arrays = [v for _, v in self.params + self.buffers]
        for step in self.steps:
            arrays += [v for _, v in step.forward + (step.backward or ())]
        return sum(a.size for a in arrays if isinstance(a, np.ndarray))

    def constructor(self) -> str:
        args = [repr(a) for a in self.layer_args] + [f"{k}={v!r}" for k, v in self.layer_kwargs]
        return f"{self.cls}({', '.join(args)})"

    def step_text(self, index: int) -> str:
        step = self.steps[index]
        mode = "training mode" if step.mode == "train" else "evaluation mode (layer.eval())"
        call = ", ".join(name for name, _ in step.forward)
        text = f"step {index + 1} of {len(self.steps)}, {mode}: out = layer.forward({call})"
        if step.backward is not None:
            back = ", ".join(name for name, _ in step.backward)
            text += f"; grad_x = layer.backward({back})"
        return text

    def data(self) -> dict:
        return {"args": list(self.layer_args), "kwargs": dict(self.layer_kwargs),
                "params": dict(self.params), "buffers": dict(self.buffers),
                "steps": [step.data() for step in self.steps]}

    def describe(self) -> str:
        given = [f"layer.params[{n!r}] = {n}" for n, _ in self.params]
        given += [f"layer.buffers[{n!r}] = {n}" for n, _ in self.buffers]
        then = f", then {', '.join(given)}" if given else ""
        lines = [f"  layer = {self.constructor()}{then}"]
        lines += [f"  {self.step_text(i)}" for i in range(len(self.steps))]
        for name, value in self.params + self.buffers:
            lines.append(f"  {name} = {fmt(value)}")
        for step in self.steps:
            for name, value in step.forward + (step.backward or ()):
                if isinstance(value, np.ndarray):
                    lines.append(f"  {name} = {fmt(value)}")
        return "\n".join(lines)

    def _extra(self) -> dict:
        return {"layer_args": self.layer_args, "layer_kwargs": self.layer_kwargs,
                "params": self.params, "buffers": self.buffers, "steps": self.steps,
                "cls": self.cls}


_MISSING = object()


def _part_label(case: LayerCase, index: int, kind: str, name: str | None) -> str:
    what = {"out": "out = layer.forward(...)", "grad_x": "grad_x = layer.backward(...)",
            "grads": f"layer.grads[{name!r}] after backward",
            "buffers": f"layer.buffers[{name!r}] after the forward pass"}[kind]
    return f"In `{what}` ({case.step_text(index)})"


def _parts(step: Step, want: dict) -> list[tuple[str, str | None]]:
    """The parts of a step that are compared, in the order a student would check them."""
    parts = [("out", None)]
    if step.backward is not None:
        parts += [("grad_x", None)] + [("grads", n) for n in want.get("grads", {})]
    return parts + [("buffers", n) for n in want.get("buffers", {})]


class StepsResult(Result):
    """The reply of a stepped object: every part of every step, judged in order.

    A part is named ``(index, kind, name)``: the step, ``"out"``/``"grad_x"``/
    ``"grads"``/``"buffers"``, and the entry of a dict part.
    """

    def judge(self, task, target, case, expected, where):
        outcome = task.call(target, case)
        if not outcome.ok:
            return f"{outcome.message()}\n{case.describe()}"
        result = outcome.value
        if not isinstance(result, dict) or not isinstance(result.get("steps"), list):
            return f"The judged process sent an unexpected reply.\n{case.describe()}"
        for index, (step, want) in enumerate(zip(case.steps, expected["steps"])):
            if index >= len(result["steps"]) or not isinstance(result["steps"][index], dict):
                break
            got = result["steps"][index]
            for kind, name in _parts(step, want):
                if kind not in got:
                    break  # the step failed there: reported below
                value = self.part(result, (index, kind, name))
                if value is None:
                    return task.missing_part(case, index, kind, name, got[kind])
                problem = task.compare(case, index, kind, name, value,
                                       self.part(expected, (index, kind, name)), where)
                if problem is not None:
                    return f"{_part_label(case, index, kind, name)}: {problem}"
            problem = task.unchanged(case, index, got)
            if problem:
                return problem
        error = result.get("error")
        if isinstance(error, dict):
            return task.raised(case, error)
        return None

    def part(self, value, part):
        """The value of one part of a reply or of the expected steps (None if absent)."""
        index, kind, name = part
        steps = value.get("steps") if isinstance(value, dict) else None
        if not isinstance(steps, list) or index >= len(steps) or not isinstance(steps[index], dict):
            return None
        found = steps[index].get(kind, _MISSING)
        if name is not None:
            found = found.get(name, _MISSING) if isinstance(found, dict) else _MISSING
        return None if found is _MISSING else found

    def agrees(self, task, got, value, exact=False, part=None):
        if isinstance(value, np.ndarray):
            return super().agrees(task, got, value, exact)
        a, b = as_float(got), as_float(value)
        if a is None or b is None:
            return False
        if exact:
            return abs(a - b) <= 1e-9 * max(1.0, abs(b))
        return abs(a - b) <= task.atol + task.rtol * abs(b)

    def mistakes_of(self, task, case, part):
        return task.mistakes(case, *part)


class LayerTask(ProcedureTask):
    """A class the student wrote, judged step by step on a table of :class:`LayerCase`:
    the procedure task whose reply is read by :class:`StepsResult`."""

    result = StepsResult()
    procedure = "numpy_layer"
    """The catalogue procedure that builds and steps the student's object."""

    def where(self) -> str:
        """Where the expected values were computed (shown beside them)."""
        raise NotImplementedError

    def expect(self, case):
        return {"steps": self.expected_steps(case)}, self.where()

    def expected_steps(self, case: LayerCase) -> list[dict]:
        raise NotImplementedError

    def mistakes(self, case: LayerCase, index: int, kind: str, name: str | None) -> list:
        return []

    def shape_formula(self, case: LayerCase, index: int, kind: str, name: str | None) -> str:
        return ""

    def nonfinite_hint(self, case: LayerCase) -> str | None:
        return None

    # what the result strategy asks of the task ------------------------------------------
    def compare(self, case, index, kind, name, got, expected, where) -> str | None:
        mistakes = self.mistakes(case, index, kind, name)
        if not isinstance(expected, np.ndarray):  # a loss: one number
            return self._compare_number(case, index, kind, name, got, expected, where, mistakes)
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.dtype.itemsize < 8 \
                and got.shape == expected.shape:
            return (f"Your result has dtype {got.dtype}: keep float64 inputs in float64 (create "
                    f"arrays with `dtype=x.dtype`, or `np.zeros_like(x)`).\n{case.describe()}")
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.shape == expected.shape \
                and not np.isfinite(got).all() and self.nonfinite_hint(case):
            return f"Your result holds {got[~np.isfinite(got)][0]}: {self.nonfinite_hint(case)}\n" \
                   f"{case.describe()}"
        return judge_array(self, case, got, expected, where, mistakes,
                           self.shape_formula(case, index, kind, name), part=(index, kind, name))

    def _compare_number(self, case, index, kind, name, got, expected, where,
                        mistakes: list[Mistake]) -> str | None:
        value = as_float(got)
        shown = f"  expected ({where}): {expected!r}\n  got: {fmt(got)}\n{case.describe()}"
        if value is None:
            return f"Return the loss as one float, got {fmt(got)}.\n{shown}"
        if not math.isfinite(value):
            hint = self.nonfinite_hint(case) or "every value should be finite."
            return f"Your loss is {value}: {hint}\n{shown}"
        if self.result.agrees(self, value, expected):
            return None
        fallback = "No typical mistake gives this value."
        named = suspects(value, [m for m in mistakes if not isinstance(m.value, np.ndarray)],
                         expected, equal=lambda a, b: self.result.agrees(self, a, b, exact=True))
        line = likely(named, fallback, (index, kind, name)) if named else fallback
        return f"Wrong value: expected {expected:.10g}, got {value:.10g}.\n{line}\n{shown}"

    def missing_part(self, case, index, kind, name, mapping) -> str:
        has = sorted(map(str, mapping)) if isinstance(mapping, dict) else type(mapping).__name__
        if kind == "grads":
            return (f"After `layer.backward(...)`, `layer.grads` has no entry {name!r} (it has "
                    f"{has}): store dL/d{name} in `self.grads[{name!r}]`, an array of the shape "
                    f"of `self.params[{name!r}]`.\n{case.describe()}")
        return (f"`layer.buffers` has no entry {name!r} (it has {has}): keep the running "
                f"statistics in `self.buffers[{name!r}]`.\n{case.describe()}")

    def unchanged(self, case, index, got: dict) -> str | None:
        """A layer changes neither its parameters nor its inputs."""
        for name, value in case.params if "params" in got else ():
            params = got["params"]
            now = params.get(name) if isinstance(params, dict) else None
            if not (isinstance(now, np.ndarray) and now.shape == value.shape
                    and np.array_equal(now, value)):
                return (f"After {case.step_text(index)}, `layer.params[{name!r}]` has changed: "
                        "a layer only computes gradients (into `self.grads`); the optimizer "
                        f"updates the parameters.\n  before:\n    {fmt(value)}\n  after:\n    "
                        f"{fmt(now)}\n{case.describe()}")
        step = case.steps[index]
        given = list(step.forward) + list(step.backward or ())
        for (name, value), now in zip(given, got.get("inputs_after", ())):
            if isinstance(value, np.ndarray) and not (
                    isinstance(now, np.ndarray) and now.shape == value.shape
                    and np.array_equal(now, value)):
                return (f"Your layer changed its input `{name}` in place during "
                        f"{case.step_text(index)} (e.g. `{name}[{name} < 0] = 0` or "
                        f"`{name} *= ...`): the caller's array (another layer's output, or the "
                        "data) would change too; compute into "
                        f"a new array.\n  `{name}` before:\n    {fmt(value)}\n  after:\n    "
                        f"{fmt(now)}\n{case.describe()}")
        return None

    def raised(self, case, error: dict) -> str:
        where = str(error.get("where", ""))
        if where.startswith("step "):
            number = int(where.split()[1].rstrip(":")) - 1
            phase = "forward" if where.endswith("forward") else "backward"
            where = f"in the {phase} pass of {case.step_text(number)}"
        elif where == "build":
            where = f"building and setting up `{case.constructor()}`"
        return f"Your code raised {error.get('text')}\n  ({where})\n{case.describe()}"
