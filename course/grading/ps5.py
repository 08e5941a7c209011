"""Problem set 5, a convolutional network from your own layers: ``source/ps5``'s tasks.

Students write layers as objects (``forward``, ``backward``, dicts ``params``, ``grads``
and ``buffers``), a ``Sequential`` that chains them, an SGD-with-momentum update, the
sanity checks of training (initial loss, a gradient check of the whole network,
overfitting 50 digits) and train the network on real MNIST digits. The judged process
has NumPy only; every expected value is computed here, in the judge's process, with
PyTorch's autograd in float64 (:func:`course.ops.pytorch.device`: CUDA with TF32 off when
there is a GPU).

==============================  ==========================================================
task                            how the judge decides
==============================  ==========================================================
``test_conv2d`` ...             a procedure builds the student's layer class in the judged
``test_batch_norm``             process with the judge's constructor arguments, parameters
                                and buffers, runs forward and backward steps (training and
                                evaluation mode) on fresh inputs and returns the outputs,
                                the input gradients, ``grads`` and ``buffers`` (batch
                                norm's running statistics), compared with PyTorch
``test_sequential``             the student's ``Sequential`` around the judge's probe
                                layers: the order of the calls, the modes, the chained
                                values, ``parameters()`` (the layers' own arrays),
                                ``gradients()``, ``state_dict()`` (copies, with buffers)
``test_sgd_momentum``           a pure function, through the case engine, against
                                ``torch.optim.SGD(momentum=...)``
``test_initial_loss``           the student's ``make_network()`` as it initialises itself:
                                the loss ``initial_loss`` returns must be the judge's loss
                                of the same weights and within :data:`INITIAL_LOSS_BAND`
                                of ln 10
``test_gradient_check_network`` small networks of the student's layers with the judge's
                                weights, some with one gradient made wrong: the check must
                                report less than :data:`GRADIENT_BOUND` for a right one and
                                more than :data:`BROKEN_BOUND` for a broken one (the true
                                errors come from autograd); the student's own backward
                                pass must be right
``test_overfit_small``          ``overfit_small`` on a fresh ``make_network()`` and 50
                                training digits: the judge computes the trained weights'
                                accuracy on them itself (100 % required)
``test_trained_network``        the notebook's ``trained`` state dict (and its ``history`` of
                                losses), exported from the kernel as arrays, evaluated in
                                the judge's PyTorch copy of the architecture on the
                                held-out test split of ``data.mnist()``: at least
                                :data:`REQUIRED_ACCURACY`
``test_conv2d_naive``           ps2's conv2d cases and diagnoses
``test_timing``                 the exported timings: consistent, a speed-up above 1, on
                                the stated input (timings cannot be trusted, so that is
                                what is graded)
==============================  ==========================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import heldout
from .cases import Case, Mistake, fmt, pair, same
from .engine import ArraysResult, CaseTask, Task, Verdict, as_float, judge_array, task
from .ps2 import Conv2d as _Ps2Conv2d, MaxPool2d as _Ps2MaxPool2d
from .ps3 import Conv2dBackward as _Ps3Conv2dBackward, MaxPool2dBackward as _Ps3PoolBackward
from .references import f64, out_size

__all__ = ["BROKEN_BOUND", "GRADIENT_BOUND", "INITIAL_LOSS_BAND", "NETWORK", "OVERFIT_SIZE",
           "REQUIRED_ACCURACY", "TIMING_INPUT", "TIMING_WEIGHT", "check_batch_norm",
           "check_conv2d", "check_conv2d_naive", "check_flatten", "check_gradient_check_network",
           "check_initial_loss", "check_linear", "check_max_pool2d", "check_overfit_small",
           "check_relu", "check_sequential", "check_sgd_momentum", "check_softmax_cross_entropy",
           "check_timing", "check_trained_network", "reference_network"]

REQUIRED_ACCURACY = 0.95
"""Test accuracy the trained network must reach on ``data.mnist()``'s 1,000 test digits."""
INITIAL_LOSS_BAND = 0.1
"""``|initial loss - ln 10|`` must be below this for the freshly initialised network."""
GRADIENT_BOUND = 1e-6
"""A gradient check must report less than this for a network whose gradients are right."""
BROKEN_BOUND = 1e-3
"""... and more than this for one whose gradient of some parameter is wrong."""
OVERFIT_SIZE = 50
"""Training digits that ``overfit_small`` must fit to 100 %."""
NETWORK = (
    ("Conv2d", (1, 8, 5), {}), ("BatchNorm2d", (8,), {}), ("ReLU", (), {}), ("MaxPool2d", (2,), {}),
    ("Conv2d", (8, 16, 5), {}), ("BatchNorm2d", (16,), {}), ("ReLU", (), {}),
    ("MaxPool2d", (2,), {}), ("Flatten", (), {}), ("Linear", (400, 64), {}), ("ReLU", (), {}),
    ("Linear", (64, 10), {}),
)
"""The network of the problem set, layer by layer: (class, arguments, keyword arguments)."""
TIMING_INPUT = (8, 8, 16, 16)
TIMING_WEIGHT = (16, 8, 3, 3)
"""The timing task's input x and weight (padding 1)."""
TIMING_KEYS = ("naive_s", "im2col_s", "speedup", "x_shape", "weight_shape")
ADVICE = ("write the layers yourself with NumPy array operations (torch, SciPy and "
          "course.ops are not available when your code is graded).")
WHERE = "PyTorch float64 autograd"


def _torch():
    import torch

    return torch


def _device():
    from course.ops.pytorch import device

    return device()


def _t(array, grad: bool = False):
    torch = _torch()
    tensor = torch.as_tensor(np.asarray(array, dtype=np.float64), device=_device())
    return tensor.clone().requires_grad_(grad)


def _np(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def _where() -> str:
    return f"{WHERE} on {_device().type}"


def _mnist():
    from course import data

    return data.mnist()


class NumpyTask(Task):
    """A problem-set-5 task: NumPy only in the judged process; libraries refused."""

    allowed = ("numpy",)
    advice = ADVICE

    def fail(self, hidden: bool, label: str, problem: str) -> Verdict:
        which = "hidden" if hidden else "visible"
        return Verdict(False, f"{self.name}: {which} check failed -- {label}.\n{problem}")


# --------------------------------------------------------------------------------------
# Part 1: the layers
@dataclass
class Step:
    """One forward (and backward) call: ``forward``/``backward`` are (name, value) pairs."""

    mode: str
    forward: tuple
    backward: tuple | None = ()

    def data(self) -> dict:
        return {"mode": self.mode, "forward": [v for _, v in self.forward],
                "backward": None if self.backward is None else [v for _, v in self.backward]}


@dataclass
class LayerCase(Case):
    """A layer built with ``layer_args``, given ``params`` and ``buffers``, run ``steps``."""

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


def _part_label(case: LayerCase, index: int, kind: str, name: str | None) -> str:
    what = {"out": "out = layer.forward(...)", "grad_x": "grad_x = layer.backward(...)",
            "grads": f"layer.grads[{name!r}] after backward",
            "buffers": f"layer.buffers[{name!r}] after the forward pass"}[kind]
    return f"In `{what}` ({case.step_text(index)})"


class LayerTask(NumpyTask):
    """A layer class judged on a table of :class:`LayerCase` against PyTorch's autograd.

    Subclasses give ``cases``, ``expected`` (one dict per step: ``out``, ``grad_x``,
    ``grads``, ``buffers``) and ``mistakes(case, index, kind, name)``.
    """

    rtol = 1e-6
    atol = 1e-8

    def cases(self, rng, hidden) -> list[LayerCase]:
        raise NotImplementedError

    def expected(self, case: LayerCase) -> list[dict]:
        raise NotImplementedError

    def mistakes(self, case: LayerCase, index: int, kind: str, name: str | None) -> list:
        return []

    def shape_formula(self, case: LayerCase, index: int, kind: str, name: str | None) -> str:
        return ""

    def nonfinite_hint(self, case: LayerCase) -> str | None:
        return None

    def judge(self, target, rng, hidden):
        cases = sorted(self.cases(rng, hidden), key=lambda c: c.size)
        for number, case in enumerate(cases, start=1):
            problem = self.judge_case(target, case)
            if problem is not None:
                which = "all cases" if hidden else "visible cases"
                return Verdict(False, f"{self.name}: case {number} of {len(cases)} ({which}, "
                                      f"smallest first) failed -- {case.label}.\n{problem}",
                               len(cases))
        which = "cases (visible and on fresh inputs)" if hidden else "visible cases"
        return Verdict(True, f"{self.name}: all {len(cases)} {which} passed against "
                             f"{_where()}.", len(cases))

    def judge_case(self, target, case: LayerCase) -> str | None:
        outcome = target.procedure(self, "numpy_layer", self.function, case.data())
        if not outcome.ok:
            return f"{outcome.message()}\n{case.describe()}"
        result = outcome.value
        if not isinstance(result, dict) or not isinstance(result.get("steps"), list):
            return f"The judged process sent an unexpected reply.\n{case.describe()}"
        expected = self.expected(case)
        for index, (step, want) in enumerate(zip(case.steps, expected)):
            if index >= len(result["steps"]) or not isinstance(result["steps"][index], dict):
                break
            got = result["steps"][index]
            parts = [("out", None)]
            if step.backward is not None:
                parts += [("grad_x", None)] + [("grads", n) for n in want.get("grads", {})]
            parts += [("buffers", n) for n in want.get("buffers", {})]
            for kind, name in parts:
                if kind not in got:
                    break  # the step failed there: reported below
                value = got[kind] if name is None else got[kind].get(name, _MISSING) \
                    if isinstance(got[kind], dict) else _MISSING
                if value is _MISSING:
                    return self._missing(case, index, kind, name, got[kind])
                problem = self.compare(case, index, kind, name, value,
                                       want[kind] if name is None else want[kind][name])
                if problem is not None:
                    return f"{_part_label(case, index, kind, name)}: {problem}"
            if "params" in got:
                problem = self._params_unchanged(case, index, got["params"])
                if problem:
                    return problem
            if "inputs_after" in got:
                problem = self._inputs_unchanged(case, index, got["inputs_after"])
                if problem:
                    return problem
        error = result.get("error")
        if isinstance(error, dict):
            where = str(error.get("where", ""))
            if where.startswith("step "):
                number = int(where.split()[1].rstrip(":")) - 1
                phase = "forward" if where.endswith("forward") else "backward"
                where = f"in the {phase} pass of {case.step_text(number)}"
            elif where == "build":
                where = f"building and setting up `{case.constructor()}`"
            return f"Your code raised {error.get('text')}\n  ({where})\n{case.describe()}"
        return None

    def _missing(self, case, index, kind, name, mapping) -> str:
        has = sorted(map(str, mapping)) if isinstance(mapping, dict) else type(mapping).__name__
        if kind == "grads":
            return (f"After `layer.backward(...)`, `layer.grads` has no entry {name!r} (it has "
                    f"{has}): store dL/d{name} in `self.grads[{name!r}]`, an array of the shape "
                    f"of `self.params[{name!r}]`.\n{case.describe()}")
        return (f"`layer.buffers` has no entry {name!r} (it has {has}): keep the running "
                f"statistics in `self.buffers[{name!r}]`.\n{case.describe()}")

    def compare(self, case, index, kind, name, got, expected) -> str | None:
        mistakes = self.mistakes(case, index, kind, name)
        if not isinstance(expected, np.ndarray):  # a loss: one number
            value = as_float(got)
            shown = f"  expected ({_where()}): {expected!r}\n  got: {fmt(got)}\n{case.describe()}"
            if value is None:
                return f"Return the loss as one float, got {fmt(got)}.\n{shown}"
            if not math.isfinite(value):
                hint = self.nonfinite_hint(case) or "every value should be finite."
                return f"Your loss is {value}: {hint}\n{shown}"
            if abs(value - expected) <= self.atol + self.rtol * abs(expected):
                return None
            lines = [f"Wrong value: expected {expected:.10g}, got {value:.10g}."]
            for mistake in mistakes:
                if mistake.value is not None and not isinstance(mistake.value, np.ndarray) \
                        and abs(value - mistake.value) <= 1e-9 * max(1.0, abs(mistake.value)) \
                        and abs(mistake.value - expected) > 1e-9 * max(1.0, abs(expected)):
                    lines.append(f"Likely mistake: {mistake.message}")
                    break
            else:
                lines.append("No typical mistake gives this value.")
            return "\n".join(lines) + "\n" + shown
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.dtype.itemsize < 8 \
                and got.shape == expected.shape:
            return (f"Your result has dtype {got.dtype}: keep float64 inputs in float64 (create "
                    f"arrays with `dtype=x.dtype`, or `np.zeros_like(x)`).\n{case.describe()}")
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.shape == expected.shape \
                and not np.isfinite(got).all() and self.nonfinite_hint(case):
            return f"Your result holds {got[~np.isfinite(got)][0]}: {self.nonfinite_hint(case)}\n" \
                   f"{case.describe()}"
        return judge_array(self, case, got, expected, _where(), mistakes,
                           self.shape_formula(case, index, kind, name))

    def _params_unchanged(self, case, index, params) -> str | None:
        for name, value in case.params:
            now = params.get(name) if isinstance(params, dict) else None
            if not (isinstance(now, np.ndarray) and now.shape == value.shape
                    and np.array_equal(now, value)):
                return (f"After {case.step_text(index)}, `layer.params[{name!r}]` has changed: "
                        "a layer only computes gradients (into `self.grads`); the optimizer "
                        f"updates the parameters.\n  before:\n    {fmt(value)}\n  after:\n    "
                        f"{fmt(now)}\n{case.describe()}")
        return None

    def _inputs_unchanged(self, case, index, after) -> str | None:
        step = case.steps[index]
        given = list(step.forward) + list(step.backward or ())
        for (name, value), now in zip(given, after):
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


_MISSING = object()


def _layer_case(label, cls, args=(), kwargs=(), params=(), buffers=(), steps=()) -> LayerCase:
    return LayerCase(label, (), (), tuple(args), tuple(kwargs), tuple(params), tuple(buffers),
                     tuple(steps), cls)


def _train_step(x, g, n="") -> Step:
    return Step("train", ((f"x{n}", x),), ((f"grad_out{n}", g),))


def _autograd(fn, inputs: dict, grad_out):
    """``fn(**tensors)`` and the gradients of ``sum(out * grad_out)`` w.r.t. every input."""
    tensors = {k: _t(v, True) for k, v in inputs.items()}
    out = fn(**tensors)
    out.backward(_t(grad_out))
    return _np(out), {k: _np(t.grad) for k, t in tensors.items()}


# -- Conv2d --------------------------------------------------------------------------
@task("test_conv2d", function="Conv2d")
class Conv2dLayer(LayerTask):
    """The convolutional layer: forward with the student's im2col, backward with col2im."""

    def cases(self, rng, hidden):
        def case(label, x_shape, w_shape, stride=1, padding=0, steps=1, step=1.0):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            s, p = pair(stride), pair(padding)
            Ho, Wo = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
            kwargs = (("stride", stride), ("padding", padding))
            args = (C, F, KH if KH == KW else (KH, KW))
            runs = []
            for k in range(steps):
                n = N if k == 0 else max(1, N - 1)
                runs.append(_train_step(rng.array((n, C, H, W), step=step),
                                        rng.array((n, F, Ho, Wo), nonzero=True),
                                        k + 1 if steps > 1 else ""))
            return _layer_case(label, "Conv2d", args, kwargs,
                               (("weight", rng.array(w_shape, nonzero=True)),
                                ("bias", rng.array((F,), nonzero=True))), (), runs)

        cases = [
            case("one 4x4 image, one channel, two 3x3 filters", (1, 1, 4, 4), (2, 1, 3, 3)),
            case("batch of 2, 3 channels, 4 filters 3x3, padding 1", (2, 3, 4, 4), (4, 3, 3, 3),
                 padding=1),
        ]
        if hidden:
            cases += [
                case("stride 2, padding 1, batch of 3", (3, 2, 6, 7), (3, 2, 3, 3), 2, 1, step=0.5),
                case("3x2 kernels, stride (2, 1), padding (1, 0)", (2, 2, 5, 4), (3, 2, 3, 2),
                     (2, 1), (1, 0)),
                case("1x1 convolution mixing 4 channels into 2", (2, 4, 3, 3), (2, 4, 1, 1)),
                case("stride 3 larger than the 2x2 kernel (some pixels get no gradient)",
                     (2, 2, 7, 8), (3, 2, 2, 2), 3),
                case("3 channels and 3 filters (square: swapped axes would not crash)",
                     (2, 3, 5, 5), (3, 3, 3, 3), 1, 1),
                case("two steps with batches of 3 and 2 (nothing may be kept from the first)",
                     (3, 2, 5, 5), (2, 2, 3, 3), 1, 1, steps=2),
            ]
        return cases

    @staticmethod
    def _settings(case):
        i = dict(case.layer_kwargs)
        return pair(i["stride"]), pair(i["padding"])

    def expected(self, case):
        torch = _torch()
        w, b = dict(case.params)["weight"], dict(case.params)["bias"]
        s, p = self._settings(case)
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            value, grads = _autograd(
                lambda x, weight, bias: torch.nn.functional.conv2d(x, weight, bias, s, p),
                {"x": x, "weight": w, "bias": b}, g)
            out.append({"out": value, "grad_x": grads["x"],
                        "grads": {"weight": grads["weight"], "bias": grads["bias"]}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        step = case.steps[index]
        w = dict(case.params)["weight"]
        N, C, H, W = step.forward[0][1].shape
        F, _, KH, KW = w.shape
        s, p = self._settings(case)
        if kind == "out":
            Ho, Wo = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
            return (f"(N, F, H_out, W_out) = ({N}, {F}, {Ho}, {Wo}) with "
                    f"H_out = (H + 2p - KH)//s + 1 = ({H} + 2*{p[0]} - {KH})//{s[0]} + 1")
        return {"grad_x": f"grad_x has the shape of x, {(N, C, H, W)}",
                "grads": f"the gradient has the shape of the parameter, "
                         f"{dict(case.params)[name].shape if name else ''}"}.get(kind, "")

    def _ps3_case(self, case, index):
        step = case.steps[index]
        s, p = self._settings(case)
        return Case("", (("grad_out", step.backward[0][1]), ("x", step.forward[0][1]),
                         ("weight", dict(case.params)["weight"])), (("stride", s), ("padding", p)))

    def mistakes(self, case, index, kind, name):
        from .ps2 import conv2d_mistakes

        step = case.steps[index]
        s, p = self._settings(case)
        params = dict(case.params)
        if kind == "out":
            inputs = (("x", step.forward[0][1]), ("weight", params["weight"]),
                      ("bias", params["bias"]))
            return conv2d_mistakes(Case("", inputs, (("stride", s), ("padding", p))))
        backward = _Ps3Conv2dBackward.registered
        part = {"grad_x": 0, "weight": 1, "bias": 2}[name or kind]
        return backward.part_mistakes(self._ps3_case(case, index), part)


# -- ReLU ----------------------------------------------------------------------------
@task("test_relu", function="ReLU")
class ReLULayer(LayerTask):
    rtol = 0.0
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, steps=1):
            runs = [_train_step(rng.array(shape, -3, 3), rng.array(shape, nonzero=True),
                                k + 1 if steps > 1 else "") for k in range(steps)]
            return _layer_case(label, "ReLU", steps=runs)

        cases = [case("a 2x6 array with zeros and negative values", (2, 6)),
                 case("maps (2, 3, 3, 3)", (2, 3, 3, 3))]
        if hidden:
            cases += [case("one value", (1, 1)), case("a batch of 4, 5 features", (4, 5)),
                      case("two steps on different inputs (nothing kept from the first)",
                           (2, 2, 4, 4), steps=2)]
        return cases

    def expected(self, case):
        torch = _torch()
        out = []
        for step in case.steps:
            value, grads = _autograd(lambda x: torch.relu(x), {"x": step.forward[0][1]},
                                     step.backward[0][1])
            out.append({"out": value, "grad_x": grads["x"], "grads": {}, "buffers": {}})
        return out

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        if kind == "out":
            return [Mistake("you returned the mask (x > 0) instead of max(x, 0).",
                            (x > 0).astype(np.float64)),
                    Mistake("negative values are kept: ReLU is max(x, 0).", np.abs(x))]
        return [
            Mistake("at x = 0 the gradient is passed on; ReLU's gradient is 1 where x > 0 and 0 "
                    "elsewhere (at 0 too, as PyTorch): use the mask x > 0, not x >= 0.",
                    g * (x >= 0)),
            Mistake("the mask is taken from grad_out (grad_out > 0); it must come from the "
                    "forward pass's input x (x > 0): remember it in forward.", g * (g > 0)),
            Mistake("the gradient is passed on unchanged: multiply it by the mask x > 0.", g),
            Mistake("you returned the mask itself; grad_x = grad_out * (x > 0).",
                    (x > 0).astype(np.float64)),
        ]


# -- MaxPool2d -----------------------------------------------------------------------
@task("test_max_pool2d", function="MaxPool2d")
class MaxPool2dLayer(LayerTask):
    rtol = 0.0
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, k, s=None, low=-3, high=3, step=1.0, steps=1):
            kh, kw = pair(k)
            sh, sw = (kh, kw) if s is None else pair(s)
            N, C, H, W = shape
            runs = []
            for number in range(steps):
                n = N if number == 0 else max(1, N - 1)
                g = rng.array((n, C, out_size(H, kh, sh), out_size(W, kw, sw)), nonzero=True)
                runs.append(_train_step(rng.array((n, C, H, W), low, high, step=step), g,
                                        number + 1 if steps > 1 else ""))
            kwargs = (("stride", s),) if s is not None else ()
            return _layer_case(label, "MaxPool2d", (k,), kwargs, steps=runs)

        cases = [
            case("2x2 windows (stride = kernel size) on 2 images, 2 channels", (2, 2, 4, 4), 2,
                 low=-20, high=20),
            case("3x3 windows, stride 2 on a 5x5 map (windows overlap)", (1, 1, 5, 5), 3, 2, 0, 9),
        ]
        if hidden:
            cases += [
                case("2x2 windows, stride 1, values with ties", (2, 3, 5, 5), 2, 1, 0, 2),
                case("(3, 2) windows, stride (1, 2)", (1, 2, 6, 7), (3, 2), (1, 2)),
                case("3x3 windows on 7x8 maps: the remainder is dropped", (2, 1, 7, 8), 3,
                     low=-50, high=50),
                case("all values equal: the first maximum of each window takes the gradient",
                     (1, 1, 4, 4), 2, 1, 1, 1),
                case("two steps with batches of 3 and 2 (nothing kept from the first)",
                     (3, 2, 4, 6), 2, low=-40, high=40, steps=2),
            ]
        return cases

    @staticmethod
    def _settings(case):
        k = pair(case.layer_args[0])
        s = dict(case.layer_kwargs).get("stride")
        return k, (k if s is None else pair(s))

    def expected(self, case):
        torch = _torch()
        k, s = self._settings(case)
        out = []
        for step in case.steps:
            value, grads = _autograd(lambda x: torch.nn.functional.max_pool2d(x, k, s),
                                     {"x": step.forward[0][1]}, step.backward[0][1])
            out.append({"out": value, "grad_x": grads["x"], "grads": {}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        k, s = self._settings(case)
        N, C, H, W = case.steps[index].forward[0][1].shape
        if kind == "out":
            return (f"(N, C, H_out, W_out) = ({N}, {C}, {out_size(H, k[0], s[0])}, "
                    f"{out_size(W, k[1], s[1])}), H_out = (H - kh)//sh + 1; the stride defaults "
                    "to the kernel size")
        return f"grad_x has the shape of x, {(N, C, H, W)}"

    def mistakes(self, case, index, kind, name):
        k, s = self._settings(case)
        step = case.steps[index]
        x = step.forward[0][1]
        if kind == "out":
            stride = dict(case.layer_kwargs).get("stride")
            return _Ps2MaxPool2d.registered.mistakes(
                Case("", (("x", x),), (("kernel_size", case.layer_args[0]), ("stride", stride),
                                       ("padding", 0))))
        return _Ps3PoolBackward.registered.mistakes(
            Case("", (("grad_out", step.backward[0][1]), ("x", x)),
                 (("kernel_size", k), ("stride", s))))


# -- Flatten -------------------------------------------------------------------------
@task("test_flatten", function="Flatten")
class FlattenLayer(LayerTask):
    rtol = 0.0
    atol = 0.0

    def cases(self, rng, hidden):
        def case(label, shapes):
            runs = []
            for number, shape in enumerate(shapes, start=1):
                n = shape[0]
                runs.append(_train_step(rng.array(shape), rng.array((n, int(np.prod(shape[1:])))),
                                        number if len(shapes) > 1 else ""))
            return _layer_case(label, "Flatten", steps=runs)

        cases = [case("maps (2, 3, 2, 2)", [(2, 3, 2, 2)])]
        if hidden:
            cases += [case("one image (1, 2, 3, 4): keep the batch axis", [(1, 2, 3, 4)]),
                      case("batches of 4 and then 1 (the shape comes from each forward pass)",
                           [(4, 2, 2, 3), (1, 2, 2, 3)]),
                      case("one channel (3, 1, 4, 4)", [(3, 1, 4, 4)])]
        return cases

    def expected(self, case):
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            out.append({"out": f64(x).reshape(x.shape[0], -1), "grad_x": f64(g).reshape(x.shape),
                        "grads": {}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        N, C, H, W = case.steps[index].forward[0][1].shape
        if kind == "out":
            return f"(N, C*H*W) = ({N}, {C * H * W}): one row per image"
        return f"grad_x has the shape of the forward pass's input, {(N, C, H, W)}"

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x = f64(step.forward[0][1])
        N = x.shape[0]
        if kind == "out":
            return [
                Mistake("the batch axis is flattened too: keep one row per image, "
                        "x.reshape(x.shape[0], -1).", shape=(x.size,)),
                Mistake("the values are flattened channel-last (H, W, C); flatten in PyTorch's "
                        "order (C, H, W): x.reshape(N, -1).",
                        x.transpose(0, 2, 3, 1).reshape(N, -1) if x.shape[1] > 1 else None),
            ]
        g = f64(step.backward[0][1])
        return [Mistake("grad_x must have the shape of the input x: reshape grad_out back "
                        "(remember x.shape in forward).", shape=g.shape)]


# -- Linear --------------------------------------------------------------------------
@task("test_linear", function="Linear")
class LinearLayer(LayerTask):
    def cases(self, rng, hidden):
        def case(label, n, d_in, d_out, steps=1):
            runs = [_train_step(rng.array((n if k == 0 else max(1, n - 1), d_in), step=0.5),
                                rng.array((n if k == 0 else max(1, n - 1), d_out), nonzero=True),
                                k + 1 if steps > 1 else "") for k in range(steps)]
            return _layer_case(label, "Linear", (d_in, d_out), (),
                               (("weight", rng.array((d_out, d_in), nonzero=True)),
                                ("bias", rng.array((d_out,), nonzero=True))), (), runs)

        cases = [case("2 examples, 3 features -> 2", 2, 3, 2),
                 case("a batch of 4, 5 features -> 3", 4, 5, 3)]
        if hidden:
            cases += [case("one example, 6 -> 4", 1, 6, 4),
                      case("square 4 -> 4 (a transposed weight would not crash)", 3, 4, 4),
                      case("10 -> 1", 5, 10, 1),
                      case("two steps with batches of 3 and 2 (nothing kept from the first)",
                           3, 4, 2, steps=2)]
        return cases

    def expected(self, case):
        torch = _torch()
        params = dict(case.params)
        out = []
        for step in case.steps:
            value, grads = _autograd(torch.nn.functional.linear,
                                     {"input": step.forward[0][1], "weight": params["weight"],
                                      "bias": params["bias"]}, step.backward[0][1])
            out.append({"out": value, "grad_x": grads["input"],
                        "grads": {"weight": grads["weight"], "bias": grads["bias"]}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        x = case.steps[index].forward[0][1]
        w = dict(case.params)["weight"]
        return {"out": f"(N, out_features) = ({x.shape[0]}, {w.shape[0]}): "
                       "out = x @ weight.T + bias",
                "grad_x": f"grad_x has the shape of x, {x.shape}",
                "grads": f"the gradient has the shape of the parameter "
                         f"{dict(case.params).get(name, np.zeros(0)).shape}"}[kind]

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        params = dict(case.params)
        w, b = params["weight"], params["bias"]
        N = x.shape[0]
        square = w.shape[0] == w.shape[1]
        if kind == "out":
            return [Mistake("the weight is not transposed: weight has shape (out_features, "
                            "in_features) as in PyTorch, so out = x @ weight.T + bias.",
                            x @ w + b if square else None, shape=None),
                    Mistake("the bias is missing.", x @ w.T)]
        if kind == "grad_x":
            return [Mistake("grad_x = grad_out @ weight (shape (N, in_features)); you used "
                            "weight.T.", g @ w.T if square else None)]
        if name == "weight":
            gw = g.T @ x
            return [
                Mistake("grad of `weight` has the shape (in_features, out_features): it must "
                        "have the shape of weight, grad_out.T @ x.", shape=gw.T.shape) if not square
                else Mistake("grad of `weight` is transposed: it is grad_out.T @ x, of weight's "
                             "shape (out_features, in_features).", gw.T),
                Mistake("the gradient of `weight` is averaged over the batch: the loss's mean is "
                        "already in grad_out, so a layer sums the per-example contributions "
                        "(no division by N).", gw / N if N > 1 else None),
                Mistake("the gradient of `weight` holds the last example's contribution only: "
                        "sum over the batch axis N (grad_out.T @ x does).",
                        np.outer(g[-1], x[-1]) if N > 1 else None),
                Mistake("the gradient of `weight` holds the first example's contribution only: "
                        "sum over the batch axis N (grad_out.T @ x does).",
                        np.outer(g[0], x[0]) if N > 1 else None),
                Mistake("the gradient of `weight` is not summed over the batch axis N: it has "
                        "the shape of weight.", shape=(N, *w.shape)),
            ]
        return [
            Mistake("the gradient of `bias` is not summed over the batch axis N: "
                    "grad_out.sum(axis=0), of shape (out_features,).", g if N > 1 else None,
                    shape=g.shape),
            Mistake("the gradient of `bias` is averaged over the batch; sum it "
                    "(grad_out.sum(axis=0)).", g.mean(axis=0) if N > 1 else None),
            Mistake("the gradient of `bias` holds the first example's only: sum over the batch "
                    "axis N.", g[0] if N > 1 else None),
            Mistake("the gradient of `bias` is summed over the wrong axis (the features); "
                    "sum over the batch axis 0.", g.sum(axis=1) if N == b.shape[0] else None,
                    shape=(N,)),
        ]


# -- SoftmaxCrossEntropy -------------------------------------------------------------
@task("test_softmax_cross_entropy", function="SoftmaxCrossEntropy")
class SoftmaxCrossEntropyLoss(LayerTask):
    rtol = 1e-9
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, n, k, low=-3, high=3, step=0.5, shift=0.0, steps=1):
            runs = []
            for number in range(steps):
                m = n if number == 0 else max(1, n - 1)
                scores = rng.array((m, k), low, high, step=step) + shift
                labels = np.array(rng.ints(0, k - 1, m), dtype=np.int64)
                suffix = number + 1 if steps > 1 else ""
                runs.append(Step("train", ((f"scores{suffix}", scores), (f"y{suffix}", labels)),
                                 ()))
            return _layer_case(label, "SoftmaxCrossEntropy", steps=runs)

        cases = [case("3 examples, 4 classes", 3, 4), case("a batch of 5, 10 classes", 5, 10)]
        if hidden:
            cases += [
                case("scores around 1000 (exp(1000) overflows)", 3, 5, -40, 40, 1.0, 1000.0),
                case("scores around -1000 (exp(-1000) underflows to 0)", 2, 4, -20, 20, 1.0,
                     -1000.0),
                case("one example, 2 classes", 1, 2),
                case("scores of 50 to 150 (float64 overflows at exp(710))", 4, 3, 50, 150, 1.0),
                case("two steps with batches of 4 and 3 (nothing kept from the first)", 4, 6,
                     steps=2),
            ]
        return cases

    def expected(self, case):
        torch = _torch()
        out = []
        for step in case.steps:
            scores, labels = step.forward[0][1], step.forward[1][1]
            s = _t(scores, True)
            loss = torch.nn.functional.cross_entropy(s, torch.as_tensor(labels, device=s.device))
            loss.backward()
            out.append({"out": float(loss.item()), "grad_x": _np(s.grad), "grads": {},
                        "buffers": {}})
        return out

    def nonfinite_hint(self, case):
        scores = np.concatenate([f64(step.forward[0][1]).ravel() for step in case.steps])
        if scores.max() > 709:
            what = (f"exp overflows for large scores (the largest here is {scores.max():g}; "
                    "float64's exp overflows above 709), so the softmax is inf/inf = nan")
        elif scores.max() < -700:
            what = (f"exp underflows to 0 for very negative scores (all are below "
                    f"{scores.max():g} here), so the softmax is 0/0 = nan and its log -inf")
        else:
            what = "a probability became 0 (log(0) = -inf) or exp overflowed"
        return (f"{what}. Subtract each row's largest score first, `scores - scores.max(axis=1, "
                "keepdims=True)`: the softmax does not change, the largest exponent becomes "
                "exp(0) = 1, and compute log p as shifted - log(sum(exp(shifted))).")

    def shape_formula(self, case, index, kind, name):
        scores = case.steps[index].forward[0][1]
        return f"the gradient has the shape of the scores, {scores.shape} = (N, K)"

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        scores, labels = f64(step.forward[0][1]), step.forward[1][1]
        N, K = scores.shape
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        onehot = np.eye(K)[labels]
        loss = float(-log_p[np.arange(N), labels].mean())
        if kind == "out":
            return [Mistake("you returned the sum over the batch; the loss is the mean over the "
                            "N examples.", loss * N if N > 1 else None),
                    Mistake("the mean is taken over all N*K entries; average over the N "
                            "examples only.", loss / K)]
        grad = (p - onehot) / N
        return [
            Mistake("the gradient is not divided by N: the loss is the mean over the batch, so "
                    "d loss / d scores = (softmax - one_hot) / N.", grad * N if N > 1 else None),
            Mistake("the one-hot labels are not subtracted: d loss / d scores = (softmax - "
                    "one_hot(y)) / N.", p / N),
            Mistake("the sign is flipped: d loss / d scores = (softmax - one_hot(y)) / N.", -grad),
        ]


# -- BatchNorm2d ---------------------------------------------------------------------
def _bn_forward(x, gamma, beta, mean, var, eps):
    shape = (1, -1, 1, 1)
    return gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) \
        + beta.reshape(shape)


@task("test_batch_norm", function="BatchNorm2d")
class BatchNorm2dLayer(LayerTask):
    """Spatial batch normalisation, training and evaluation mode, with running statistics."""

    rtol = 1e-6
    atol = 1e-9

    def cases(self, rng, hidden):
        def case(label, shape, modes, eps=None, momentum=None, running=False, gamma=True):
            N, C, H, W = shape
            kwargs = tuple((k, v) for k, v in (("eps", eps), ("momentum", momentum))
                           if v is not None)
            params = (("weight", rng.uniform((C,), 0.5, 2.0) if gamma else np.ones(C)),
                      ("bias", rng.uniform((C,), -1.0, 1.0) if gamma else np.zeros(C)))
            buffers = (("running_mean", rng.uniform((C,), -1.0, 1.0) if running else np.zeros(C)),
                       ("running_var", rng.uniform((C,), 0.5, 2.0) if running else np.ones(C)))
            runs = []
            for number, mode in enumerate(modes, start=1):
                suffix = number if len(modes) > 1 else ""
                x = rng.uniform(shape, -2.0, 2.0) * rng.uniform((1, C, 1, 1), 0.5, 3.0) \
                    + rng.uniform((1, C, 1, 1), -2.0, 2.0)
                g = rng.uniform(shape)
                runs.append(Step(mode, ((f"x{suffix}", x),), ((f"grad_out{suffix}", g),)))
            return _layer_case(label, "BatchNorm2d", (C,), kwargs, params, buffers, runs)

        cases = [
            case("training mode: 2 images, 3 channels, 3x3 maps", (2, 3, 3, 3), ["train"],
                 gamma=False),
            case("two training steps, then evaluation mode (the running statistics)",
                 (4, 2, 3, 3), ["train", "train", "eval"]),
        ]
        if hidden:
            cases += [
                case("evaluation mode on the given running statistics", (3, 2, 2, 2), ["eval"],
                     running=True),
                case("eps=1e-3, momentum=0.3, running statistics not at 0 and 1", (3, 2, 3, 2),
                     ["train", "eval", "train"], eps=1e-3, momentum=0.3, running=True),
                case("one image (the statistics are over H and W)", (1, 3, 4, 4),
                     ["train", "eval"]),
                case("one channel, 5 images", (5, 1, 2, 3), ["train", "train", "eval", "eval"]),
            ]
        return cases

    def _settings(self, case):
        kwargs = dict(case.layer_kwargs)
        return kwargs.get("eps", 1e-5), kwargs.get("momentum", 0.1)

    def expected(self, case):
        torch = _torch()
        eps, momentum = self._settings(case)
        params = dict(case.params)
        buffers = dict(case.buffers)
        running = [_t(buffers["running_mean"]), _t(buffers["running_var"])]
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            xt, wt, bt = _t(x, True), _t(params["weight"], True), _t(params["bias"], True)
            y = torch.nn.functional.batch_norm(xt, running[0], running[1], wt, bt,
                                               training=step.mode == "train", momentum=momentum,
                                               eps=eps)
            y.backward(_t(g))
            out.append({"out": _np(y), "grad_x": _np(xt.grad),
                        "grads": {"weight": _np(wt.grad), "bias": _np(bt.grad)},
                        "buffers": {"running_mean": _np(running[0]),
                                    "running_var": _np(running[1])}})
        return out

    def _running_before(self, case, index, variant: str = ""):
        """The running statistics before step ``index``, as a typical mistake updates them."""
        eps, momentum = self._settings(case)
        buffers = dict(case.buffers)
        mean, var = f64(buffers["running_mean"]), f64(buffers["running_var"])
        for step in case.steps[:index]:
            x = f64(step.forward[0][1])
            if step.mode != "train" and variant != "eval_updates":
                continue
            if variant == "frozen":
                continue
            m = x.size // x.shape[1]
            batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            if variant != "biased":
                batch_var = batch_var * m / max(m - 1, 1)
            if variant == "swapped":
                mean, var = momentum * mean + (1 - momentum) * batch_mean, \
                    momentum * var + (1 - momentum) * batch_var
            else:
                mean, var = (1 - momentum) * mean + momentum * batch_mean, \
                    (1 - momentum) * var + momentum * batch_var
        return mean, var

    def shape_formula(self, case, index, kind, name):
        x = case.steps[index].forward[0][1]
        if kind in ("grads", "buffers"):
            return f"one value per channel: ({x.shape[1]},)"
        return f"the shape of x, {x.shape}"

    def mistakes(self, case, index, kind, name):
        eps, momentum = self._settings(case)
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        params = dict(case.params)
        gamma, beta = f64(params["weight"]), f64(params["bias"])
        N, C, H, W = x.shape
        train = step.mode == "train"
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        m = N * H * W
        running = self._running_before(case, index)
        if kind == "out":
            found = []
            if not train:
                found += [
                    Mistake("in evaluation mode batch norm must use the running statistics "
                            "(running_mean and running_var, gathered in training), not the "
                            "batch's: a prediction must not depend on the other images of the "
                            "batch.", _bn_forward(x, gamma, beta, mean, var, eps)),
                    Mistake("eps is added outside the square root: divide by "
                            "sqrt(running_var + eps).",
                            gamma[None, :, None, None] * (x - running[0][None, :, None, None])
                            / (np.sqrt(running[1])[None, :, None, None] + eps)
                            + beta[None, :, None, None]),
                ]
                for variant, message in (
                        ("biased", "the running variance was updated with the biased batch "
                                   "variance; PyTorch's uses the unbiased one (divide by "
                                   "N*H*W - 1)."),
                        ("swapped", "the running statistics were updated with the weights "
                                    "swapped: running = (1 - momentum) * running + momentum * "
                                    "batch (PyTorch's convention, momentum=0.1)."),
                        ("frozen", "the running statistics are never updated in training mode: "
                                   "running = (1 - momentum) * running + momentum * batch "
                                   "statistic, after every training forward pass."),
                        ("eval_updates", "the running statistics are also updated in evaluation "
                                         "mode; only training-mode passes update them.")):
                    rm, rv = self._running_before(case, index, variant)
                    if not (same(rm, running[0]) and same(rv, running[1])):
                        found.append(Mistake(message, _bn_forward(x, gamma, beta, rm, rv, eps)))
                return found
            return [
                Mistake("in training mode batch norm normalises with the batch's own mean and "
                        "variance; you used the running statistics.",
                        _bn_forward(x, gamma, beta, running[0], running[1], eps)),
                Mistake("the statistics are computed per pixel (over the batch axis only); "
                        "spatial batch norm has one mean and variance per CHANNEL, over N, H and "
                        "W: x.mean(axis=(0, 2, 3)).",
                        gamma[None, :, None, None] * (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
                        + beta[None, :, None, None]),
                Mistake("the statistics are computed per image (over H and W only); batch norm "
                        "averages over the batch too: axes (0, 2, 3).",
                        gamma[None, :, None, None] * (x - x.mean((2, 3), keepdims=True))
                        / np.sqrt(x.var((2, 3), keepdims=True) + eps) + beta[None, :, None, None]
                        if N > 1 else None),
                Mistake("eps is added outside the square root: divide by sqrt(var + eps).",
                        gamma[None, :, None, None] * (x - mean[None, :, None, None])
                        / (np.sqrt(var)[None, :, None, None] + eps) + beta[None, :, None, None]),
                Mistake("the normalisation uses the unbiased variance; the batch is normalised "
                        "with the biased one (divide by N*H*W), the running variance is updated "
                        "with the unbiased one.",
                        _bn_forward(x, gamma, beta, mean, var * m / max(m - 1, 1), eps)),
                Mistake("weight and bias are swapped: out = weight * x_hat + bias.",
                        _bn_forward(x, beta, gamma, mean, var, eps)),
            ]
        if kind == "buffers":
            found = []
            for variant, message in (
                    ("biased", "the running variance is updated with the biased batch variance; "
                               "PyTorch's running_var uses the unbiased one, var * m / (m - 1) "
                               "with m = N*H*W."),
                    ("swapped", "the momentum weights are swapped: PyTorch's convention is "
                                "running = (1 - momentum) * running + momentum * batch statistic "
                                "(momentum=0.1 keeps 90 % of the old value)."),
                    ("frozen", "the running statistics are not updated in training mode: after "
                               "every training-mode forward pass, running = (1 - momentum) * "
                               "running + momentum * batch statistic."),
                    ("eval_updates", "the running statistics are updated in evaluation mode too; "
                                     "only training-mode forward passes update them.")):
                rm, rv = self._running_before(case, index + 1, variant)
                found.append(Mistake(message, rm if name == "running_mean" else rv))
            return found
        inv = 1.0 / np.sqrt((var if train else running[1]) + eps)
        center = (mean if train else running[0])[None, :, None, None]
        x_hat = (x - center) * inv[None, :, None, None]
        if kind == "grad_x":
            gh = g * gamma[None, :, None, None]
            constants = gh * inv[None, :, None, None]
            full = (gh - gh.mean((0, 2, 3), keepdims=True)
                    - x_hat * (gh * x_hat).mean((0, 2, 3), keepdims=True)) \
                * inv[None, :, None, None]
            if train:
                return [Mistake("the backward pass treats the mean and the variance as constants "
                                "(grad_x = grad_out * weight / sqrt(var + eps)); in training mode "
                                "they depend on x: grad_x = weight / sqrt(var + eps) * (g - "
                                "mean(g) - x_hat * mean(g * x_hat)), the means over N, H, W.",
                                constants),
                        Mistake("the gradient is not multiplied by weight (gamma).",
                                full / gamma[None, :, None, None])]
            batch_inv = 1.0 / np.sqrt(var + eps)
            batch_hat = (x - mean[None, :, None, None]) * batch_inv[None, :, None, None]
            return [Mistake("in evaluation mode the statistics are constants (the running ones): "
                            "grad_x = grad_out * weight / sqrt(running_var + eps); you used the "
                            "training-mode formula with the batch's statistics.",
                            (gh - gh.mean((0, 2, 3), keepdims=True)
                             - batch_hat * (gh * batch_hat).mean((0, 2, 3), keepdims=True))
                            * batch_inv[None, :, None, None])]
        if name == "weight":
            return [Mistake("the gradient of `weight` is not summed over N, H and W: "
                            "(grad_out * x_hat).sum(axis=(0, 2, 3)).", shape=(C, H, W)),
                    Mistake("the gradient of `weight` is not summed over the batch and the "
                            "positions: sum over axes (0, 2, 3).", shape=x.shape),
                    Mistake("the gradient of `weight` is averaged; sum it over N, H and W.",
                            (g * x_hat).mean((0, 2, 3)))]
        return [Mistake("the gradient of `bias` is not summed over N, H and W: "
                        "grad_out.sum(axis=(0, 2, 3)).", shape=(C, H, W)),
                Mistake("the gradient of `bias` is summed over the batch only; sum over N, H "
                        "and W.", shape=(C, H, W)),
                Mistake("the gradient of `bias` is averaged; sum it over N, H and W.",
                        g.mean((0, 2, 3)))]


# --------------------------------------------------------------------------------------
# Part 2: the network and the optimizer
PROBES = ({"name": "A", "scale": [1.5, -0.5, 2.0], "shift": [0.25, -1.0, 0.5], "counter": True},
          {"name": "B"},
          {"name": "C", "scale": [-1.0, 0.5, 3.0]})


def _probe_scale(spec) -> np.ndarray:
    """A probe multiplies by its scale; one without parameters doubles (as in the catalogue)."""
    if "scale" in spec:
        return np.array(spec["scale"], dtype=np.float64)
    return np.array(1.0 if "shift" in spec else 2.0)


def _probe_run(layers, x, g):
    """The probes' output, grad_x and gradients (``{"0.scale": ...}``) for input x."""
    values, inputs = f64(x), []
    for spec in layers:
        inputs.append(values)
        values = values * _probe_scale(spec) + np.array(spec.get("shift", 0.0))
    grads, grad = {}, f64(g)
    for index in reversed(range(len(layers))):
        spec = layers[index]
        if "scale" in spec:
            grads[f"{index}.scale"] = np.sum(grad * inputs[index], axis=0)
        if "shift" in spec:
            grads[f"{index}.shift"] = np.sum(grad, axis=0)
        grad = grad * _probe_scale(spec)
    return values, grad, grads


@task("test_sequential", function="Sequential")
class SequentialNetwork(NumpyTask):
    """The student's Sequential around the judge's probe layers (see the catalogue)."""

    def judge(self, target, rng, hidden):
        layers = [dict(p) for p in PROBES]
        if hidden:
            layers.append({"name": "D", "shift": [0.5, 0.5, -0.5]})
        n = 4 if hidden else 2
        runs = [{"mode": "train", "x": rng.array((n, 3), step=0.5),
                 "grad_out": rng.array((n, 3), nonzero=True)},
                {"mode": "eval", "x": rng.array((n, 3), step=0.5), "grad_out": None}]
        if hidden:
            runs.append({"mode": "train", "x": rng.array((1, 3), step=0.5),
                         "grad_out": rng.array((1, 3), nonzero=True)})
        outcome = target.procedure(self, "numpy_sequential", self.function,
                                   {"layers": layers, "runs": runs})
        label = (f"Sequential({', '.join('layer_' + spec['name'] for spec in layers)}) around "
                 "the judge's probe layers (out = x * scale + shift)")
        if not outcome.ok:
            return self.fail(hidden, label, outcome.message())
        result = outcome.value
        log = result.get("log", [])
        names = [spec["name"] for spec in layers]
        params = {f"{i}.{k}": np.array(spec[k], dtype=np.float64) for i, spec in enumerate(layers)
                  for k in ("scale", "shift") if k in spec}
        for number, (run, got) in enumerate(zip(runs, result.get("runs", [])), start=1):
            what = f"run {number}: net.{run['mode']}(); out = net.forward(x)" + (
                "; grad_x = net.backward(grad_out)" if run["grad_out"] is not None else "")
            shown = f"  {what}\n  x = {fmt(run['x'])}" + (
                f"\n  grad_out = {fmt(run['grad_out'])}" if run["grad_out"] is not None else "")
            calls = log[got.get("log_from", 0):got.get("log_to", len(log))]
            problem = self._calls(calls, names, run)
            if problem and "log_to" in got:
                return self.fail(hidden, label, f"{problem}\n{shown}")
            out, grad_x, grads = _probe_run(layers, run["x"], run["grad_out"]
                                            if run["grad_out"] is not None else run["x"])
            if "out" in got:
                problem = self._array("out = net.forward(x)", got["out"], out, [
                    Mistake("every layer received x: each layer's forward gets the previous "
                            "layer's output.", _probe_run(layers[-1:], run["x"], run["x"])[0])])
                if problem:
                    return self.fail(hidden, label, f"{problem}\n{shown}")
            if run["grad_out"] is not None and "grad_x" in got:
                wrong = f64(run["grad_out"]) * np.array(layers[0].get("scale", 1.0))
                problem = self._array("grad_x = net.backward(grad_out)", got["grad_x"], grad_x, [
                    Mistake("every layer's backward received grad_out: each gets the gradient "
                            "returned by the layer after it, from the last layer to the first.",
                            wrong)])
                if problem:
                    return self.fail(hidden, label, f"{problem}\n{shown}")
            if "parameters" in got:
                problem = self._named("net.parameters()", got["parameters"], params)
                if problem:
                    return self.fail(hidden, label, f"{problem}\n{shown}")
                missing = sorted(set(params) - set(got.get("shared", [])))
                if missing:
                    return self.fail(hidden, label, (
                        f"net.parameters()[{missing[0]!r}] is a copy, not the layer's own array: "
                        "return the arrays of the layers' `params` themselves, so that the "
                        "optimizer's in-place update (w[...] = w_next) changes the network.\n"
                        f"{shown}"))
            if run["grad_out"] is not None and "gradients" in got:
                problem = self._named("net.gradients()", got["gradients"], grads)
                if problem:
                    return self.fail(hidden, label, f"{problem}\n{shown}")
            if "state_dict" in got:
                state = dict(params)
                counted = sum(1 for r in runs[:number] if r["mode"] == "train")
                state["0.calls"] = np.array([float(counted)])
                problem = self._named("net.state_dict()", got["state_dict"], state, buffers=True)
                if problem:
                    return self.fail(hidden, label, f"{problem}\n{shown}")
                if got.get("aliased"):
                    return self.fail(hidden, label, (
                        f"net.state_dict() returned the layers' own arrays (the judge changed "
                        f"the returned {got['aliased'][0]!r}, and the layer's entry changed "
                        "too): return copies (`value.copy()`), a snapshot that later training "
                        f"does not change.\n{shown}"))
        error = result.get("error")
        if isinstance(error, dict):
            return self.fail(hidden, label, f"Your code raised {error.get('text')}\n  (in "
                                            f"{error.get('where')})")
        which = "hidden" if hidden else "visible"
        return Verdict(True, f"{self.name}: all {which} checks passed: calls in order and "
                             "reverse order, modes, outputs, gradients, parameters() (the "
                             "layers' own arrays), gradients() and state_dict() (copies, with "
                             "buffers).")

    @staticmethod
    def _calls(calls, names, run) -> str | None:
        forward = [c for c in calls if c[0] == "forward"]
        backward = [c for c in calls if c[0] == "backward"]
        order = [c[1] for c in forward]
        if order != names:
            return (f"net.forward(x) called the layers' forward in the order {order}; expected "
                    f"{names}, each once, first to last.")
        mode = run["mode"] == "train"
        wrong = [c[1] for c in forward if c[2] != mode]
        if wrong:
            what = "net.train()" if mode else "net.eval()"
            return (f"after {what} layer {wrong[0]} ran with training={not mode}: "
                    f"{what} must set the mode of every layer (call each layer's "
                    f"{'train' if mode else 'eval'}()).")
        if run["grad_out"] is not None:
            back = [c[1] for c in backward]
            if back != names[::-1]:
                return (f"net.backward(grad_out) called the layers' backward in the order "
                        f"{back}; expected {names[::-1]}: from the last layer to the first.")
        return None

    @staticmethod
    def _array(what, got, expected, mistakes) -> str | None:
        if isinstance(got, np.ndarray) and got.shape == expected.shape \
                and np.allclose(got, expected, rtol=1e-12, atol=1e-12):
            return None
        lines = [f"`{what}` is wrong:\n  expected:\n    {fmt(expected)}\n  got:\n    {fmt(got)}"]
        for mistake in mistakes:
            if isinstance(got, np.ndarray) and same(got, mistake.value):
                lines.append(f"Likely mistake: {mistake.message}")
                break
        else:
            if got is None:
                lines.append("Did you forget the `return` statement?")
        return "\n".join(lines)

    @staticmethod
    def _named(what, got, expected, buffers=False) -> str | None:
        if not isinstance(got, dict):
            return f"`{what}` must return a dict (name -> array), got {type(got).__name__}."
        if set(got) != set(expected):
            hint = ("names are '<layer index>.<name>', for layer i's entry name, e.g. '0.scale' "
                    "for layers[0].params['scale']")
            if buffers:
                hint += "; the state dict holds every layer's params AND buffers"
            return (f"`{what}` has the keys {sorted(got)}; expected {sorted(expected)} ({hint}).")
        for key, value in expected.items():
            if not (isinstance(got[key], np.ndarray) and got[key].shape == value.shape
                    and np.allclose(got[key], value, rtol=1e-12, atol=1e-12)):
                return (f"`{what}[{key!r}]` is wrong:\n  expected:\n    {fmt(value)}\n  got:\n"
                        f"    {fmt(got[key])}")
        return None


@task("test_sgd_momentum")
class SGDMomentum(CaseTask):
    """One step of SGD with momentum, PyTorch's convention, against torch.optim.SGD."""

    allowed = ("numpy",)
    advice = ADVICE
    result = ArraysResult("w_next", "v_next")
    rtol = 1e-10
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, lr, momentum, zero=False):
            v = np.zeros(shape) if zero else rng.array(shape, step=0.25)
            return Case(label, (("w", rng.array(shape, step=0.5)),
                                ("dw", rng.array(shape, step=0.5, nonzero=True)), ("v", v)),
                        (("lr", lr), ("momentum", momentum)))

        cases = [case("the first step (v = 0), 5 weights", (5,), 0.1, 0.9, zero=True),
                 case("a later step: 3x4 weights with a velocity", (3, 4), 0.1, 0.9)]
        if hidden:
            cases += [case("a conv weight (2, 3, 2, 2), lr 0.05", (2, 3, 2, 2), 0.05, 0.9),
                      case("momentum 0: plain SGD", (4,), 0.5, 0.0),
                      case("momentum 0.5, lr 1", (2, 3), 1.0, 0.5),
                      case("momentum 0.99, lr 0.01", (6,), 0.01, 0.99)]
        return cases

    def expected(self, case):
        torch = _torch()
        i = case.inputs()
        w = torch.nn.Parameter(_t(i["w"]))
        w.grad = _t(i["dw"])
        optimizer = torch.optim.SGD([w], lr=i["lr"], momentum=i["momentum"])
        if i["momentum"]:
            optimizer.state[w]["momentum_buffer"] = _t(i["v"])
        optimizer.step()
        v_next = _np(optimizer.state[w]["momentum_buffer"]) if i["momentum"] \
            else f64(i["dw"]).copy()
        return (_np(w), v_next), f"torch.optim.SGD(momentum={i['momentum']}) on {_device().type}"

    def part_shape_formula(self, case, index):
        return f"the shape of w, {case.inputs()['w'].shape}"

    def part_mistakes(self, case, index):
        i = case.inputs()
        w, dw, v, lr, mu = f64(i["w"]), f64(i["dw"]), f64(i["v"]), i["lr"], i["momentum"]
        v_next = mu * v + dw
        if index == 1:
            return [
                Mistake("momentum is applied to the wrong term: it scales the previous "
                        "velocity, v_next = momentum * v + dw (you computed v + momentum * dw).",
                        v + mu * dw),
                Mistake("the velocity is damped: PyTorch's v_next = momentum * v + dw (no "
                        "(1 - momentum) factor on dw).", mu * v + (1 - mu) * dw),
                Mistake("you used the convention v_next = momentum * v - lr * dw; this problem "
                        "set uses PyTorch's: v_next = momentum * v + dw, w_next = w - lr * "
                        "v_next.", mu * v - lr * dw),
                Mistake("momentum is applied to the wrong term: it scales the velocity, not the "
                        "gradient (v_next = momentum * v + dw).", mu * (v + dw)),
            ]
        return [
            Mistake("the update uses the gradient, not the velocity: w_next = w - lr * v_next.",
                    w - lr * dw),
            Mistake("momentum is applied to the wrong term: it scales the previous velocity, "
                    "v_next = momentum * v + dw, then w_next = w - lr * v_next (you computed "
                    "v + momentum * dw).", w - lr * (v + mu * dw)),
            Mistake("the update uses the old velocity v; use the new one: w_next = w - lr * "
                    "v_next.", w - lr * v),
            Mistake("the velocity is damped: PyTorch's v_next = momentum * v + dw.",
                    w - lr * (mu * v + (1 - mu) * dw)),
            Mistake("you used the convention v_next = momentum * v - lr * dw, w_next = w + "
                    "v_next; this problem set uses PyTorch's: v_next = momentum * v + dw, "
                    "w_next = w - lr * v_next.", w + mu * v - lr * dw),
            Mistake("the sign is flipped: step against the gradient, w_next = w - lr * v_next.",
                    w + lr * v_next),
            Mistake("that is Nesterov's momentum (w - lr * (dw + momentum * v_next)); use the "
                    "plain one: w_next = w - lr * v_next.", w - lr * (dw + mu * v_next)),
        ]


# --------------------------------------------------------------------------------------
# The judge's copies of networks (PyTorch, float64)
def reference_network(layers=NETWORK):
    """An ``nn.Sequential`` of the PyTorch modules of the same names and arguments."""
    nn = _torch().nn
    modules = [getattr(nn, name)(*args, **kwargs) for name, args, kwargs in layers]
    return nn.Sequential(*modules).double().to(_device())


def state_keys(layers=NETWORK) -> dict:
    """``{"0.weight": shape, ...}``: the state dict entries of a network, buffers included."""
    net = reference_network(layers)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def network_from_state(state, layers=NETWORK):
    """The judge's copy of the network holding ``state`` (name -> array), or a message."""
    torch = _torch()
    if not isinstance(state, dict):
        return None, (f"expected a dict of arrays (net.state_dict()), got "
                      f"{type(state).__name__}.")
    keys = state_keys(layers)
    missing = [k for k in keys if k not in state]
    extra = [k for k in state if k not in keys]
    if missing or extra:
        lines = []
        if missing:
            lines.append(f"missing entries {missing[:6]}")
        if extra:
            lines.append(f"entries that the network does not have {extra[:6]}")
        buffers = [k for k in missing if "running" in k]
        hint = (" (a state dict holds the batch norm layers' running_mean and running_var "
                "too)" if buffers and len(buffers) == len(missing) else "")
        return None, (f"the state dict does not fit the network of part 2: {'; '.join(lines)}"
                      f"{hint}. Expected the keys {sorted(keys)}.")
    for key, shape in keys.items():
        value = state[key]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
            return None, f"state[{key!r}] is not an array of numbers."
        if tuple(value.shape) != shape:
            return None, (f"state[{key!r}] has shape {tuple(value.shape)}; the network of part 2 "
                          f"has {shape}.")
        if not np.isfinite(value).all():
            return None, f"state[{key!r}] holds values that are not finite (nan or inf)."
    net = reference_network(layers)
    own = net.state_dict()
    own.update({k: torch.as_tensor(np.asarray(v, dtype=np.float64), device=_device())
                for k, v in state.items()})
    net.load_state_dict(own)
    return net, None


def _scores(net, x, training: bool, batch=500):
    torch = _torch()
    net.train(training)
    with torch.no_grad():
        return torch.cat([net(_t(x[i:i + batch])) for i in range(0, len(x), batch)])


def _loss(net, x, y, training: bool) -> float:
    torch = _torch()
    scores = _scores(net, x, training, batch=len(x))
    return float(torch.nn.functional.cross_entropy(
        scores, torch.as_tensor(y, device=scores.device)).item())


def _network_error(outcome, label: str) -> str | None:
    """The message for a network procedure that failed, or None."""
    if not outcome.ok:
        return outcome.message()
    result = outcome.value
    if not isinstance(result, dict):
        return "The judged process sent an unexpected reply."
    error = result.get("error")
    if isinstance(error, dict):
        where = str(error.get("where", ""))
        return f"Your code raised {error.get('text')}\n  (in {where}; {label})"
    return None


def _digits(rng, n: int, part: str = "train"):
    """n distinct digits of a split of data.mnist(), drawn from ``rng`` (float64, labels)."""
    digits = _mnist()
    x, y = getattr(digits, f"x_{part}"), getattr(digits, f"y_{part}")
    order = list(range(len(y)))
    for k in range(n):  # the first n steps of a Fisher-Yates shuffle
        j = k + rng.ints(0, len(y) - 1 - k, 1)[0]
        order[k], order[j] = order[j], order[k]
    picked = order[:n]
    return np.asarray(x[picked], dtype=np.float64), np.asarray(y[picked], dtype=np.int64)


def _architecture(result) -> str | None:
    classes = result.get("classes")
    wanted = [name for name, _, _ in NETWORK]
    if classes is not None and list(classes) != wanted:
        return (f"make_network() built the layers {classes}; the network of part 2 is "
                f"{wanted}.")
    return None


def _run_on_made_network(task, target, label, seed, x, y, state, what):
    """Run ``task``'s function in the judged process on ``np.random.seed(seed);
    make_network()`` with (x, y), and rebuild the judge's copy of that network from its
    ``state`` ("state_before" or "state_after"; ``what`` names it in a message). Returns
    (result, net, None), or (None, None, the message of what went wrong)."""
    outcome = target.procedure(task, "numpy_network", task.function, {
        "make": "make_network", "seed": seed, "mode": "train", "x": x, "y": y})
    problem = _network_error(outcome, label)
    if problem:
        return None, None, problem
    result = outcome.value
    problem = _architecture(result)
    net, problem = (None, problem) if problem else network_from_state(result.get(state))
    if problem:
        return None, None, f"{what}: {problem}"
    return result, net, None


# --------------------------------------------------------------------------------------
# Part 3: the sanity checks
@task("test_initial_loss")
class InitialLoss(NumpyTask):
    """``initial_loss`` on the student's freshly initialised ``make_network()``."""

    def judge(self, target, rng, hidden):
        runs = [(0, 20)] + ([(rng.ints(1, 10**6, 1)[0], 32)] if hidden else [])
        for seed, n in runs:
            x, y = _digits(rng, n)
            label = (f"np.random.seed({seed}); net = make_network(); initial_loss(net, "
                     f"criterion, x, y) on {n} training digits")
            result, net, problem = _run_on_made_network(
                self, target, label, seed, x, y, "state_before", "The network make_network() built")
            if problem:
                return self.fail(hidden, label, problem)
            value = as_float(result.get("value"))
            if value is None:
                return self.fail(hidden, label, f"Return the loss as one float, got "
                                                f"{fmt(result.get('value'))}.")
            train, evaluation = _loss(net, x, y, True), _loss(net, x, y, False)
            if not any(abs(value - e) <= 1e-6 * abs(e) + 1e-9 for e in (train, evaluation)):
                lines = [f"initial_loss returned {value:.8g}; the judge's loss of the same "
                         f"weights is {train:.8g} (training mode; {evaluation:.8g} in "
                         "evaluation mode)."]
                if abs(value - n * train) <= 1e-6 * n * train:
                    lines.append("Likely mistake: you returned the sum over the batch; the loss "
                                 "is the mean.")
                elif not math.isfinite(value):
                    lines.append("Your loss is not finite: see the softmax task.")
                else:
                    lines.append("Run one forward pass of the network and your criterion on "
                                 "(x, y); if the layers' tasks pass, compare your loss with "
                                 "criterion.forward(net.forward(x), y).")
                return self.fail(hidden, label, "\n".join(lines))
            before, after = result.get("state_before", {}), result.get("state_after", {})
            changed = [k for k in before if "running" not in k and not (
                isinstance(after.get(k), np.ndarray) and np.array_equal(after[k], before[k]))]
            if changed:
                return self.fail(hidden, label, (
                    f"initial_loss changed the network's parameter {changed[0]!r}: a sanity "
                    "check only measures; train nothing here."))
            if abs(train - math.log(10)) >= INITIAL_LOSS_BAND:
                return self.fail(hidden, label, (
                    f"the initial loss of your freshly initialised network is {train:.4f} "
                    f"(computed by the judge from your weights); with small weights it is "
                    f"within {INITIAL_LOSS_BAND} of ln 10 = {math.log(10):.4f}, the loss of "
                    "uniform predictions over 10 classes. Initialise the last Linear layer's "
                    "weights with standard deviation 0.01 (make_network, part 2): its scores "
                    "then start near 0."))
        which = "hidden" if hidden else "visible"
        return Verdict(True, f"{self.name}: all {which} checks passed: loss {value:.4f} of the "
                             f"freshly initialised network, the judge's too, within "
                             f"{INITIAL_LOSS_BAND} of ln 10 = {math.log(10):.4f}.")


TINY_NETWORKS = {
    "A": ((("Conv2d", (1, 2, 3), {"padding": 1}), ("BatchNorm2d", (2,), {}), ("ReLU", (), {}),
           ("MaxPool2d", (2,), {}), ("Flatten", (), {}), ("Linear", (32, 3), {})),
          (4, 1, 8, 8), 3),
    "B": ((("Conv2d", (2, 3, 3), {"stride": 2, "padding": 1}), ("ReLU", (), {}),
           ("Flatten", (), {}), ("Linear", (27, 4), {}), ("ReLU", (), {}), ("Linear", (4, 3), {})),
          (3, 2, 5, 5), 3),
}
"""The small networks the gradient check is run on: (layers, input shape, classes)."""


def _relative_error(a, b) -> float:
    a, b = f64(a).ravel(), f64(b).ravel()
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale if scale > 0 else 0.0


def network_error(a: dict, b: dict) -> float:
    """The relative error of two sets of gradients taken as one long vector (part 3b)."""
    names = sorted(a)
    return _relative_error(np.concatenate([f64(a[k]).ravel() for k in names]),
                           np.concatenate([f64(b[k]).ravel() for k in names]))


def _describe_layers(layers) -> str:
    def one(name, args, kwargs):
        text = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{name}({', '.join(text)})"

    return "Sequential(" + ", ".join(one(*layer) for layer in layers) + ")"


@task("test_gradient_check_network")
class GradientCheckNetwork(NumpyTask):
    """The student's whole-network gradient check on small networks of their own layers."""

    eps = 1e-5

    def _draw(self, rng, key, broken=()):
        """Weights and a batch for network ``key`` with no kink of ReLU or max pooling within
        eps of any nudge (checked with the judge's own central differences), on which each of
        the ``broken`` backward passes is clearly wrong."""
        layers, shape, classes = TINY_NETWORKS[key]
        for _ in range(50):
            net = reference_network(layers)
            state = {}
            for name, value in net.state_dict().items():
                if name.endswith("num_batches_tracked"):
                    continue
                if name.endswith("running_var"):
                    state[name] = np.ones(value.shape)
                elif name.endswith("running_mean"):
                    state[name] = np.zeros(value.shape)
                elif name.endswith("weight") and value.ndim == 1:  # batch norm's gamma
                    state[name] = rng.uniform(tuple(value.shape), 0.5, 1.5)
                else:
                    state[name] = rng.uniform(tuple(value.shape), -1.0, 1.0)
            x = rng.uniform(shape)
            y = np.array(rng.ints(0, classes - 1, shape[0]), dtype=np.int64)
            net, _ = network_from_state(state, layers)
            if not self.kink_free(net, x):
                continue
            exact = self._gradients(net, x, y)
            if all(network_error(exact, self._given(layers, state, x, y, breaks))
                   > 10 * BROKEN_BOUND for breaks in broken):
                return layers, state, x, y, exact
        raise RuntimeError("no kink-free case found")  # pragma: no cover - 50 tries

    @staticmethod
    def kink_free(net, x, margin: float = 1e-3) -> bool:
        """No ReLU input within ``margin`` of 0 and no max-pooling window whose two largest
        values are within ``margin`` (unless both are a ReLU's exact 0s, which nudges of 1e-5
        keep): then no central difference with eps = 1e-5 crosses a kink."""
        torch = _torch()
        seen = []

        def record(module, args):
            seen.append((module, args[0].detach()))

        handles = [m.register_forward_pre_hook(record) for m in net
                   if isinstance(m, (torch.nn.ReLU, torch.nn.MaxPool2d))]
        net.train()
        with torch.no_grad():
            net(_t(x))
        for handle in handles:
            handle.remove()
        for module, value in seen:
            if isinstance(module, torch.nn.ReLU):
                if float(value.abs().min()) < margin:
                    return False
                continue
            k, s = pair(module.kernel_size), pair(module.stride)
            windows = value.unfold(2, k[0], s[0]).unfold(3, k[1], s[1]).flatten(-2)
            top = windows.topk(2, dim=-1).values
            close = (top[..., 0] - top[..., 1] < margin) & (top[..., 0] > 0)
            if bool(close.any()):
                return False
        return True

    @staticmethod
    def _gradients(net, x, y) -> dict:
        torch = _torch()
        net.train()
        net.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(_t(x)), torch.as_tensor(y, device=_device()))
        loss.backward()
        return {k: _np(p.grad) for k, p in net.named_parameters()}

    def _numerical(self, layers, state, x, y) -> dict:
        torch = _torch()
        net, _ = network_from_state(state, layers)
        net.train()
        xt, yt = _t(x), torch.as_tensor(y, device=_device())
        out = {}
        with torch.no_grad():
            for name, p in net.named_parameters():
                grad = torch.zeros_like(p)
                flat, gflat = p.view(-1), grad.view(-1)
                for k in range(flat.numel()):
                    old = flat[k].item()
                    flat[k] = old + self.eps
                    plus = torch.nn.functional.cross_entropy(net(xt), yt).item()
                    flat[k] = old - self.eps
                    minus = torch.nn.functional.cross_entropy(net(xt), yt).item()
                    flat[k] = old
                    gflat[k] = (plus - minus) / (2 * self.eps)
                out[name] = _np(grad)
        return out

    def judge(self, target, rng, hidden):
        plans = [("A", (), "a correct network"),
                 ("A", ((0, "weight", 1.5),), "a network whose first layer's weight gradient is "
                                               "1.5 times too large")]
        if hidden:
            plans += [("B", (), "a correct network with a stride-2 convolution"),
                      ("A", ((1, "weight", 0.5),), "a network whose batch norm weight gradient "
                                                    "is halved"),
                      ("A", ((2, "grad_x", 1.5),), "a network whose ReLU passes back 1.5 times "
                                                    "its gradient (only the layers before it "
                                                    "are wrong)"),
                      ("B", ((5, "bias", 0.8),), "a network whose last bias gradient is 20 % "
                                                  "too small")]
        reported = []
        for key, breaks, what in plans:
            layers, state, x, y, exact = self._draw(rng.child(f"{key}{len(reported)}"), key,
                                                    [breaks] if breaks else [])
            label = (f"{what}: {_describe_layers(layers)} with the judge's weights, x of shape "
                     f"{x.shape}, y = {y.tolist()}")
            outcome = target.procedure(self, "numpy_network", self.function, {
                "layers": [list(layer) for layer in layers], "state": state, "mode": "train",
                "breaks": [list(b) for b in breaks], "x": x, "y": y, "analytic": True})
            problem = _network_error(outcome, label)
            if problem:
                return self.fail(hidden, label, problem)
            result = outcome.value
            value = as_float(result.get("value"))
            if value is None:
                return self.fail(hidden, label, f"Return one float (the largest relative error), "
                                                f"got {fmt(result.get('value'))}.")
            if not (math.isfinite(value) and value >= 0):
                return self.fail(hidden, label, f"A relative error is a finite number >= 0, got "
                                                f"{value!r} (a division by zero? guard the "
                                                "denominator).")
            grads = result.get("grads", {})
            given = self._given(layers, state, x, y, breaks) if breaks else exact
            own = self._own_backward(grads, given, exact)
            if own:
                noticed = ("your check reported {:.3g}, so it noticed" if value > BROKEN_BOUND
                           else "your check reported only {:.3g}, so it missed it").format(value)
                return self.fail(hidden, label, f"{own} ({noticed}.)")
            true_error = network_error(given, exact)
            after = result.get("state_after", {})
            moved = [k for k in state if "running" not in k and not (
                isinstance(after.get(k), np.ndarray) and np.allclose(after[k], state[k],
                                                                     rtol=0, atol=1e-12))]
            if moved:
                return self.fail(hidden, label, (
                    f"after your check, the network's {moved[0]!r} differs from before: put "
                    "every nudged entry back to its saved value."))
            if not breaks and not value < GRADIENT_BOUND:
                return self.fail(hidden, label, (
                    f"Your check reports {value:.3g} for a network whose gradients are right "
                    f"(they agree with PyTorch's autograd to {true_error:.1g}); it should be "
                    f"below {GRADIENT_BOUND:g}.\nLikely mistake: compare, for every parameter "
                    "array, net.gradients()[name] from ONE forward and backward pass with the "
                    "central differences (L(w + eps) - L(w - eps)) / (2 eps) of the loss "
                    "criterion.forward(net.forward(x), y), eps = 1e-5, in float64; err = "
                    "max|a - n| / max(max|a|, max|n|) over all the network's gradients at once "
                    "(a conv bias before batch norm has gradient 0: an error of its own would "
                    "compare rounding noise with rounding noise)."))
            if breaks and not value > BROKEN_BOUND:
                part = breaks[0][1]
                where = ("the gradients of the layers BEFORE layer " f"{breaks[0][0]}"
                         if part == "grad_x" else f"the gradient of {breaks[0][0]}.{part}")
                return self.fail(hidden, label, (
                    f"Your check reports only {value:.3g} for a network whose {where} is wrong "
                    f"(its true relative error is {true_error:.3g}); it should be above "
                    f"{BROKEN_BOUND:g}.\nLikely mistake: check every parameter array of every "
                    "layer (net.parameters()), every entry, against the analytic gradient "
                    "(net.gradients()) of the same forward and backward pass."))
            reported.append(value)
        which = "hidden" if hidden else "visible"
        return Verdict(True, f"{self.name}: all {len(plans)} {which} checks passed: below "
                             f"{GRADIENT_BOUND:g} for the right networks, above {BROKEN_BOUND:g} "
                             f"for the broken ones (you reported "
                             f"{', '.join(f'{v:.2g}' for v in reported)}).")

    def _given(self, layers, state, x, y, breaks) -> dict:
        """The gradients that a backward pass with ``breaks`` computes (autograd, with hooks)."""
        net, _ = network_from_state(state, layers)
        handles = []
        for index, part, factor in breaks:
            if part == "grad_x":
                handles.append(net[index].register_full_backward_hook(
                    lambda module, grad_in, grad_out, factor=factor:
                    tuple(None if g is None else g * factor for g in grad_in)))
        grads = self._gradients(net, x, y)
        for handle in handles:
            handle.remove()
        for index, part, factor in breaks:
            if part != "grad_x":
                grads[f"{index}.{part}"] = grads[f"{index}.{part}"] * factor
        return grads

    @staticmethod
    def _own_backward(grads, given, exact) -> str | None:
        """Whether the student's own layers compute the gradients they should."""
        if not isinstance(grads, dict) or set(grads) != set(exact):
            return (f"after one forward and backward pass, the layers' grads are "
                    f"{sorted(grads) if isinstance(grads, dict) else grads}; expected "
                    f"{sorted(exact)}")
        scale = max(float(np.max(np.abs(v))) for v in exact.values())
        for name in exact:
            got = grads[name]
            if not isinstance(got, np.ndarray) or got.shape != exact[name].shape:
                return f"the gradient of {name!r} has shape {getattr(got, 'shape', None)}"
            worst = float(np.max(np.abs(f64(got) - given[name]), initial=0.0))
            if worst > 1e-6 * scale:
                return (f"Your network's own backward pass is wrong: the gradient of {name!r} "
                        f"differs from PyTorch's autograd by up to {worst:.3g} (the largest "
                        f"gradient of the network is {scale:.3g}). Fix that layer first (its "
                        "task above names the mistake)")
        return None


@task("test_overfit_small")
class OverfitSmall(NumpyTask):
    """``overfit_small`` trains a fresh network on 50 digits; the judge counts what it fits."""

    def judge(self, target, rng, hidden):
        digits = _mnist()
        runs = [(0, np.asarray(digits.x_train[:OVERFIT_SIZE], dtype=np.float64),
                 digits.y_train[:OVERFIT_SIZE].astype(np.int64), "the first 50 training digits")]
        if hidden:
            x, y = _digits(rng, OVERFIT_SIZE)
            runs.append((rng.ints(1, 10**6, 1)[0], x, y, "50 training digits drawn afresh"))
        seconds = []
        for seed, x, y, which in runs:
            label = (f"np.random.seed({seed}); net = make_network(); overfit_small(net, "
                     f"criterion, x, y) on {which}")
            result, net, problem = _run_on_made_network(
                self, target, label, int(seed), x, y, "state_after",
                "The network after overfit_small")
            if problem:
                return self.fail(hidden, label, problem)
            losses = result.get("value")
            if not isinstance(losses, (list, tuple)) or not losses or not all(
                    as_float(v) is not None for v in losses):
                return self.fail(hidden, label, f"Return the list of losses, one float per "
                                                f"step, got {fmt(losses)}.")
            losses = [as_float(v) for v in losses]
            predicted = _np(_scores(net, x, True).argmax(1))
            accuracy = float(np.mean(predicted == y))
            if accuracy < 1.0:
                before = result.get("state_before", {})
                unchanged = all(np.array_equal(before[k], result["state_after"].get(k))
                                for k in before if "running" not in k)
                lines = [f"after overfit_small, your network classifies {int(accuracy * len(y))} "
                         f"of the {len(y)} digits it trained on correctly (computed by the judge "
                         "from the weights, in training mode); all 50 are required."]
                if unchanged:
                    lines.append("The parameters did not change: update them in place "
                                 "(w[...] = w_next) for every array of net.parameters().")
                elif not all(math.isfinite(v) for v in losses) or losses[-1] > losses[0]:
                    lines.append(f"Your losses went from {losses[0]:.4g} to {losses[-1]:.4g}: the "
                                 "training diverged (a learning rate too large for momentum "
                                 "0.9, or a wrong update: see the momentum task).")
                else:
                    lines.append(f"Your losses went from {losses[0]:.4g} to {losses[-1]:.4g} in "
                                 f"{len(losses)} steps: train longer, or with a larger learning "
                                 "rate (full-batch steps on the 50 digits).")
                return self.fail(hidden, label, "\n".join(lines))
            seconds.append(as_float(result.get("seconds")) or 0.0)
        which = "hidden" if hidden else "visible"
        return Verdict(True, f"{self.name}: all {which} checks passed: 100 % of the "
                             f"{OVERFIT_SIZE} digits fitted, computed by the judge (your "
                             f"losses: {losses[0]:.3f} -> {losses[-1]:.2g}; "
                             f"{max(seconds):.1f} s).")


# --------------------------------------------------------------------------------------
# Part 4: the trained network
@task("test_trained_network", values=("trained", "history"))
class TrainedNetwork(NumpyTask):
    """The notebook's trained state dict, evaluated by the judge on the held-out test split."""

    def judge(self, target, rng, hidden):
        try:
            values = target.values(self.values)
        except LookupError as error:
            return self.fail(hidden, "the trained network", (
                f"`trained` and `history` could not be read from your notebook when this cell "
                f"ran: {error}"))
        state, history = values["trained"], values["history"]
        net, problem = network_from_state(state)
        if problem:
            return self.fail(hidden, "`trained`", problem)
        digits = heldout.test_digits(32, hidden)
        x, y = digits.x, digits.y
        predicted = _np(_scores(net, x, False).argmax(1))
        correct = int(np.sum(predicted == y))
        accuracy = correct / len(y)
        device = _device().type
        if accuracy < REQUIRED_ACCURACY:
            lines = [f"your network classifies {correct} of {len(y)} test digits correctly "
                     f"(accuracy {accuracy:.4f} on {digits.where}, computed by the judge in "
                     f"evaluation mode on {device}); at least {REQUIRED_ACCURACY} is required."]
            batch = float(np.mean(_np(_scores(net, x, True).argmax(1)) == y))
            losses = [as_float(v) for v in history] if isinstance(history, (list, tuple)) else []
            losses = [v for v in losses if v is not None]
            if losses and (not all(math.isfinite(v) for v in losses) or losses[-1] > 2.0):
                lines.append(f"Your epochs' losses went {' -> '.join(f'{v:.3g}' for v in losses)}: "
                             "the training diverged or did not learn (a learning rate too large, "
                             "or a wrong update: see the momentum task).")
            elif batch >= REQUIRED_ACCURACY:
                lines.append(f"With each batch's own statistics (training mode) the same weights "
                             f"reach {batch:.4f}: your running_mean and running_var are not the "
                             "statistics the layers saw in training (see the batch norm task).")
            else:
                lines.append("Train as part 4 says (8 epochs, SGD with momentum, lr 0.05 "
                             "decaying, batches of 50) and check that the loss goes down.")
            return self.fail(hidden, "accuracy on the held-out test split", "\n".join(lines))
        return Verdict(True, f"trained network: test accuracy {accuracy:.4f} ({correct} of "
                             f"{len(y)}: {digits.where}, computed by the judge in evaluation "
                             f"mode on {device}) >= {REQUIRED_ACCURACY}. Passed.")


# --------------------------------------------------------------------------------------
# Part 5: naive loops against im2col
@task("test_conv2d_naive")
class Conv2dNaive(_Ps2Conv2d):
    """ps2's conv2d cases and diagnoses, for the loop version of part 5."""

    allowed = ("numpy",)
    advice = ADVICE


@task("test_timing", values=("timing",))
class Timing(NumpyTask):
    """The exported timings: what can be judged of numbers measured in the student's kernel."""

    def judge(self, target, rng, hidden):
        try:
            timing = target.values(self.values)["timing"]
        except LookupError as error:
            return self.fail(hidden, "`timing`", f"`timing` could not be read from your notebook "
                                                 f"when this cell ran: {error}")
        if not isinstance(timing, dict):
            return self.fail(hidden, "`timing`", f"`timing` must be a dict, got "
                                                 f"{type(timing).__name__}.")
        missing = [k for k in TIMING_KEYS if k not in timing]
        if missing:
            return self.fail(hidden, "`timing`", f"`timing` has no entry {missing[0]!r}; expected "
                                                 f"the keys {list(TIMING_KEYS)}.")
        for key, shape in (("x_shape", TIMING_INPUT), ("weight_shape", TIMING_WEIGHT)):
            got = timing[key]
            if not isinstance(got, (list, tuple)) or tuple(got) != shape:
                return self.fail(hidden, f"timing[{key!r}]", f"time the stated input: "
                                 f"{key} = {shape}, got {got!r}.")
        values = {}
        for key in ("naive_s", "im2col_s", "speedup"):
            value = as_float(timing[key])
            if value is None or not math.isfinite(value) or value <= 0:
                return self.fail(hidden, f"timing[{key!r}]", f"expected a positive number of "
                                 f"seconds (or a ratio), got {timing[key]!r}.")
            values[key] = value
        ratio = values["naive_s"] / values["im2col_s"]
        if abs(values["speedup"] - ratio) > 0.01 * ratio:
            return self.fail(hidden, "timing['speedup']", (
                f"the speed-up is naive_s / im2col_s = {values['naive_s']:.4g} / "
                f"{values['im2col_s']:.4g} = {ratio:.4g}, but you recorded "
                f"{values['speedup']:.4g}."))
        if ratio <= 1:
            return self.fail(hidden, "the speed-up", (
                f"your im2col convolution ({values['im2col_s']:.4g} s) was not faster than the "
                f"loops ({values['naive_s']:.4g} s): time the layer's forward pass (one matrix "
                "product) against conv2d_naive on the stated input, each the best of a few "
                "runs."))
        return Verdict(True, f"timing: im2col {ratio:.0f} times faster than the loops "
                             f"({values['naive_s'] * 1e3:.1f} ms against "
                             f"{values['im2col_s'] * 1e3:.2f} ms, measured in your notebook; "
                             "the judge checks the numbers are consistent, not the clock). "
                             "Passed.")


check_conv2d = Conv2dLayer.check
check_relu = ReLULayer.check
check_max_pool2d = MaxPool2dLayer.check
check_flatten = FlattenLayer.check
check_linear = LinearLayer.check
check_softmax_cross_entropy = SoftmaxCrossEntropyLoss.check
check_batch_norm = BatchNorm2dLayer.check
check_sequential = SequentialNetwork.check
check_sgd_momentum = SGDMomentum.check
check_initial_loss = InitialLoss.check
check_gradient_check_network = GradientCheckNetwork.check
check_overfit_small = OverfitSmall.check
check_trained_network = TrainedNetwork.check
check_conv2d_naive = Conv2dNaive.check
check_timing = Timing.check
