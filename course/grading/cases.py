"""Test cases, typical mistakes and the helpers to build and show them.

A :class:`Case` is one call of the student's function: positional array inputs and
keyword settings, each with its name, and a label that says what the case probes.
A :class:`Mistake` is a typical wrong answer to a case: what the student most likely
did, and the value that mistake produces (or, where it cannot be computed, only its
shape). Inputs come from :class:`Rng`, a small exactly reproducible generator: the
visible cases of a task always use the same seed (students see them in the
notebook); the judge draws the others from a seed that is fresh for every
submission.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Case", "Mistake", "Rng", "compare", "fmt", "make", "pair", "same", "unravel"]

_MASK = (1 << 64) - 1


class Rng:
    """SplitMix64: a tiny generator whose numbers are the same on every machine.

    ``Rng(seed)`` for a given int; ``Rng.fresh()`` for 128 bits from ``os.urandom``;
    ``rng.child("conv2d")`` for an independent stream per task, so that adding a task
    does not change the cases of the others.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.state = (self.seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK

    @classmethod
    def fresh(cls) -> "Rng":
        return cls(int.from_bytes(os.urandom(16), "big"))

    def child(self, name: str) -> "Rng":
        return Rng((self.seed * 1_000_003 + zlib.crc32(name.encode())) & ((1 << 128) - 1))

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def ints(self, low: int, high: int, count: int) -> list[int]:
        """``count`` integers in ``[low, high]``."""
        return [low + self.next() % (high - low + 1) for _ in range(count)]

    def array(self, shape, low=-5, high=5, *, step=1.0, dtype="float64", nonzero=False):
        """Array of ``shape`` with values ``k * step`` for integers k in ``[low, high]``."""
        count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        values = self.ints(low, high, count)
        if nonzero:
            values = [v if v else 1 for v in values]
        if np.dtype(dtype).kind in "iu":
            return np.array(values, dtype=dtype).reshape(shape)
        return (np.array(values, dtype=np.float64) * step).astype(dtype).reshape(shape)

    def uniform(self, shape, low=-2.0, high=2.0) -> np.ndarray:
        """Irregular values in [low, high] on a fine grid (sums of products do not cancel)."""
        count = int(np.prod(shape, dtype=np.int64))
        k = np.array(self.ints(0, 999983, count), dtype=np.float64)
        return (low + (high - low) * k / 999983).reshape(shape)


def make(shape, values, dtype="float64") -> np.ndarray:
    """An array of ``shape`` from a flat list of values."""
    return np.array(values, dtype=dtype).reshape(shape)


def pair(value) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(1, 2) -> (1, 2)``."""
    return (value, value) if isinstance(value, (int, np.integer)) else (value[0], value[1])


@dataclass
class Case:
    """One call of the student's function.

    ``args`` are ``(name, value)`` pairs passed positionally, ``kwargs`` pairs passed by
    keyword; the names show in messages (``call: fn(x, w, stride=2)``).
    """

    label: str
    args: tuple = ()
    kwargs: tuple = ()

    @property
    def size(self) -> int:
        return sum(v.size if isinstance(v, np.ndarray) else 1 for _, v in self.args)

    def inputs(self) -> dict:
        return dict(self.args + self.kwargs)

    def call_args(self) -> tuple[list, dict]:
        return [value for _, value in self.args], dict(self.kwargs)

    def replace(self, **values) -> "Case":
        """The same case with some inputs replaced (``case.replace(weight=w2)``)."""
        args = tuple((n, values.get(n, v)) for n, v in self.args)
        kwargs = tuple((n, values.get(n, v)) for n, v in self.kwargs)
        return type(self)(self.label, args, kwargs, **self._extra())

    def _extra(self) -> dict:
        return {}

    def describe(self) -> str:
        call = ", ".join([name for name, _ in self.args] + [f"{k}={v!r}" for k, v in self.kwargs])
        lines = [f"  call: fn({call})"]
        for name, value in self.args:
            if isinstance(value, np.ndarray):
                lines.append(f"  {name} = {fmt(value)}")
        return "\n".join(lines)


@dataclass
class Mistake:
    """A typical wrong answer: what the student did, and its value (or only its shape).

    A mistake is named ("Likely mistake: ...") only when its ``value`` equals every
    wrong answer the student gave on the cases the task ran (see
    :meth:`.engine.CaseTask.diagnose`). The same
    mistake is recognised from case to case by its ``rule``: the ``key`` when the
    message depends on the case ("your output matches stride (3, 3)"), else the
    message. A mistake known only by ``shape`` is shown as a statement about the
    shape ("(4, 4) is the shape of ..."), which is true whenever the shapes agree.
    """

    message: str
    value: object = None
    shape: tuple | None = None
    key: str | None = None

    @property
    def rule(self) -> str:
        """What identifies this mistake on every case: ``key``, else ``message``."""
        return self.key or self.message


# --------------------------------------------------------------------------------------
# Comparisons and display
def compare(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float):
    """None when ``|got - expected| <= atol + rtol |expected|`` everywhere, else
    ``(flat index, got, expected, largest error)`` of the worst entry."""
    g = np.asarray(got, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(g - e)
        bad = ~(diff <= atol + rtol * np.abs(e))
    if not bad.any():
        return None
    candidates = np.where(bad, np.nan_to_num(diff, nan=np.inf, posinf=np.inf), -1.0)
    index = int(np.argmax(candidates))
    return index, float(g[index]), float(e[index]), float(diff[index])


def same(a, b, rtol: float = 1e-9, atol: float = 1e-9) -> bool:
    """Both ndarrays of one shape with the same values (within the tolerance)."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
        return False
    if a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return False
    return compare(a, b, rtol, atol) is None


def unravel(index: int, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(index, shape)) if shape else ()


def fmt(value, indent: str = "    ") -> str:
    """An array with its shape and dtype (or any value's repr), indented for messages."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=120, linewidth=88):
            text = np.array2string(value, separator=", ")
        text = f"{text}  (shape {value.shape}, dtype {value.dtype})"
    else:
        text = repr(value)
    return text.replace("\n", "\n" + indent)
