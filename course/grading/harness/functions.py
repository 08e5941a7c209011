"""The functions the judge hands to student code by name (``numerical_gradient(f, x)``,
``gradient_check(forward, backward, ...)``): a :class:`.wire.Function` names one, and
the judged process builds it here, from its own copy. Only values live here, never an
answer: whatever student code can reach from what it is handed (a closure, a module's
globals) must not include the exact gradients, which are the judge's (ps3.GRADIENTS).
"""
from __future__ import annotations

import numpy as np

from . import wire


# --------------------------------------------------------------------------------------
# Functions of an array (numerical_gradient). Only their values live here: the judged
# process holds this module, and whatever is reachable from what it hands to student code
# (a function's closure, its module's globals) must not include the answer. The exact
# gradients are the judge's (ps3.GRADIENTS).
def _weights(count):
    return np.array([1.0 + (t % 3) * 0.5 for t in range(count)])


def _weighted_value(v):
    return float(np.sum(_weights(v.size) * v * v) + (v[0] * v[1] if v.size > 1 else 0.0))


FUNCTIONS = {
    "squares": ("sum(x**2)", lambda v: np.sum(v * v)),
    "weighted": ("sum(w * x**2) + x[0]*x[1]  (w = 1, 1.5, 2, 1, ...)", _weighted_value),
    "cubes": ("sum(x**3) / 3", lambda v: np.sum(v ** 3) / 3),
    "logcosh": ("sum(log(cosh(x)))", lambda v: np.sum(np.log(np.cosh(v)))),
}
"""Scalar functions by name: (formula, value of the flattened float64 array)."""


def scalar_function(name: str):
    """f(x) -> float for an ndarray x: a plain function, with nothing attached."""
    formula, value = FUNCTIONS[name]

    def f(x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"f expects an ndarray, got {type(x).__name__}")
        return float(value(np.asarray(x, dtype=np.float64).ravel()))

    f.__doc__ = f"f(x) = {formula}"
    return f


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """A NumPy conv2d handed to the student's gradient check (not a shortcut: it is given)."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    (sh, sw) = (stride, stride) if isinstance(stride, int) else tuple(stride)
    (ph, pw) = (padding, padding) if isinstance(padding, int) else tuple(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.einsum("nchwij,fcij->nfhw", windows, weight)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def constant(value):
    """A backward pass that returns fixed gradients, whatever it is given."""
    value = tuple(np.array(v, dtype=np.float64) for v in value)

    def backward(*args, **kwargs):
        return tuple(v.copy() for v in value)

    return backward


def build(spec: "wire.Function"):
    """The callable a :class:`wire.Function` names: a plain function, nothing attached."""
    if spec.name in FUNCTIONS:
        return scalar_function(spec.name)
    if spec.name == "conv2d_forward":
        return conv2d_forward
    if spec.name == "constant":
        return constant(spec.arguments["value"])
    raise ValueError(f"no function {spec.name!r} in the catalogue")
