"""Parts 4 and 5 of problem set 5: the trained network on held-out digits, and naive loops against im2col."""
from __future__ import annotations

import math

import numpy as np

from .. import references as refs
from ..engine import ValuesTask, Verdict, as_float
from ..ps2 import Conv2d as _Ps2Conv2d
from .common import (
    ADVICE,
    REQUIRED_ACCURACY,
    TIMING_INPUT,
    TIMING_KEYS,
    TIMING_WEIGHT,
    NumpyTask,
    _np,
    task,
)
from .network import _scores, network_from_state


# --------------------------------------------------------------------------------------
# Part 4: the trained network
@task("test_trained_network", values=("trained", "history"))
class TrainedNetwork(NumpyTask, ValuesTask):
    """The notebook's trained state dict, evaluated by the judge on the held-out test split."""

    what = "the trained network"
    heldout = True

    def judge_values(self, values, rng, hidden):
        state, history = values["trained"], values["history"]
        net, problem = network_from_state(state)
        if problem:
            return self.fail(hidden, "`trained`", problem)
        digits = self.test_digits(32, hidden)
        x, y = digits.x, digits.y
        predicted = _np(_scores(net, x, False).argmax(1))
        correct = int(np.sum(predicted == y))
        accuracy = correct / len(y)
        device = refs.device().type
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
class Timing(NumpyTask, ValuesTask):
    """The exported timings: what can be judged of numbers measured in the student's kernel."""

    what = "`timing`"

    def judge_values(self, values, rng, hidden):
        timing = values["timing"]
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
