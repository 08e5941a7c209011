"""What the judge compares with, and the arithmetic its messages quote.

Expected values come from PyTorch in float64 (:func:`torch_reference`, through
:mod:`course.ops.pytorch`: CUDA with TF32 off when there is a GPU, else the CPU). The
values of typical mistakes come from the course's NumPy operations
(:mod:`course.ops`), which the test suite checks against PyTorch. Both run only in
the judge's process (and in the student's kernel for the visible checks), never in
the judged process.
"""
from __future__ import annotations

import numpy as np

from .cases import pair

FLIPPED = ("the kernel is flipped: you computed a convolution (kernel[::-1]); the "
           "'convolution' of deep learning is a cross-correlation, which slides the kernel "
           "as it is.")


def ops():
    import course.ops

    return course.ops


def torch():
    """PyTorch, imported when a task first needs it (the judge's process only)."""
    import torch as module

    return module


def device():
    """Where the references run: CUDA with TF32 off when there is a GPU, else the CPU."""
    from course.ops.pytorch import device as find

    return find()


def mnist():
    """The course's real MNIST digits (:func:`course.data.mnist`)."""
    from course import data

    return data.mnist()


def digits():
    """scikit-learn's small 8x8 digits (:func:`course.data.digits`)."""
    from course import data

    return data.digits()


def torch_reference(name: str, *args, **kwargs):
    """(value, "PyTorch float64 on <device>") of ``course.ops.pytorch.reference``."""
    from course.ops.pytorch import reference

    result = reference(name, *args, **kwargs)
    return result.value, f"PyTorch float64 on {result.device}"


def attempt(fn, *args, **kwargs):
    """A typical mistake may not be computable for a case (kernel too large, ...): None."""
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001
        return None


def f64(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


def out_size(n, k, s=1, p=0, d=1, ceil=False) -> int:
    room = n + 2 * p - d * (k - 1) - 1
    if ceil:
        return -(-room // s) + 1
    return room // s + 1


def size_formula(label: str, n, k, s=1, p=0, d=1) -> str:
    return (f"{label}_out = ({label} + 2p - d(K-1) - 1)//s + 1 = "
            f"({n} + 2*{p} - {d}*({k}-1) - 1)//{s} + 1 = {out_size(n, k, s, p, d)}")


def conv2d_1ch(image, kernel, **kwargs) -> np.ndarray:
    """A single-channel 2-D cross-correlation with the course's conv2d."""
    return ops().conv2d(f64(image)[None, None], f64(kernel)[None, None], **kwargs)[0, 0]


def correlate_reference(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    """Single-channel 2-D cross-correlation through the PyTorch reference."""
    x = f64(image)[None, None]
    ph, pw = pair(padding)
    if (ph or pw) and padding_mode != "zeros":
        x, _ = torch_reference("pad", x, (pw, pw, ph, ph), mode=padding_mode)
        ph = pw = 0
    value, where = torch_reference("conv2d", x, f64(kernel)[None, None], None,
                                   stride=pair(stride), padding=(ph, pw), dilation=pair(dilation))
    return value[0, 0], where
