"""Padding: extend an array at its borders, as ``torch.nn.functional.pad``.

The four modes differ only in what they put beyond the border:

=============  ==================================  =====================
mode           padded values (row ``1 2 3``, pad 2)  NumPy's name
=============  ==================================  =====================
``constant``   ``0 0 | 1 2 3 | 0 0``                ``constant``
``reflect``    ``3 2 | 1 2 3 | 2 1``                ``reflect``
``replicate``  ``1 1 | 1 2 3 | 3 3``                ``edge``
``circular``   ``2 3 | 1 2 3 | 1 2``                ``wrap``
=============  ==================================  =====================
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Sequence

import numpy as np

from ._checks import as_array

__all__ = ["PAD_MODES", "pad", "pad_naive"]

#: Padding modes of ``torch.nn.functional.pad`` and their NumPy names.
PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_widths(x: np.ndarray, pad: Sequence[int], mode: str) -> list[tuple[int, int]]:
    """Turn torch's flat ``pad`` (last axis first) into NumPy's per-axis pairs; check them."""
    if isinstance(pad, (str, bytes)) or not isinstance(pad, Sequence):
        raise TypeError(f"`pad` must be a tuple of ints (left, right, top, bottom, ...), got {pad!r}")
    if len(pad) % 2 or not pad:
        raise ValueError(f"`pad` must have an even, non-zero number of entries, got {len(pad)}: {pad!r}")
    if not all(isinstance(p, Integral) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"`pad` must hold ints, got {pad!r}")
    axes = len(pad) // 2
    if axes > x.ndim:
        raise ValueError(
            f"`pad` has {len(pad)} entries, padding {axes} axes, but `x` has only {x.ndim} "
            f"(shape {x.shape})"
        )
    if mode != "constant" and axes > x.ndim - 1:
        raise ValueError(
            f"mode '{mode}' pads at most the last {x.ndim - 1} axes of a {x.ndim}-D `x` "
            f"(the first axis holds channels), got `pad` for {axes} axes"
        )
    widths = [(0, 0)] * x.ndim
    for k in range(axes):
        axis = x.ndim - 1 - k
        before, after = int(pad[2 * k]), int(pad[2 * k + 1])
        size = x.shape[axis]
        if mode in ("reflect", "replicate") and min(before, after) < 0:
            raise ValueError(f"mode '{mode}' needs non-negative `pad`, got {pad!r}")
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"reflect padding of {max(before, after)} must be smaller than the size {size} "
                f"of axis {axis} of `x` (shape {x.shape})"
            )
        if mode == "circular" and max(before, after) > size:
            raise ValueError(
                f"circular padding of {max(before, after)} must not exceed the size {size} "
                f"of axis {axis} of `x` (shape {x.shape})"
            )
        if mode == "replicate" and size == 0:
            raise ValueError(f"replicate padding needs a non-empty axis {axis} (shape {x.shape})")
        if size + before + after < 0:
            raise ValueError(f"`pad` {pad!r} removes more than the {size} cells of axis {axis}")
        widths[axis] = (before, after)
    return widths


def _validate(x, pad, mode, value):
    x = as_array(x, "x", tuple(range(1, 8)))
    if mode not in PAD_MODES:
        raise ValueError(f"`mode` must be one of {sorted(PAD_MODES)}, got {mode!r}")
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"`value` must be a number, got {value!r}")
    if mode != "constant" and value != 0:
        raise ValueError(f"`value` only applies to mode 'constant', got value={value} with mode '{mode}'")
    return x, _pad_widths(x, pad, mode)


def pad(x: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """Pad the last axes of ``x``, as ``torch.nn.functional.pad``.

    Parameters
    ----------
    x : ndarray, shape (..., H, W)
        Any array; batched images are (N, C, H, W).
    pad : tuple of int
        Pairs of widths starting from the LAST axis: ``(left, right)`` pads W,
        ``(left, right, top, bottom)`` pads W then H. Negative widths crop
        (constant and circular modes).
    mode : {'constant', 'reflect', 'replicate', 'circular'}
        What to put beyond the border (see the module table).
    value : float
        Fill value of mode 'constant'.

    Returns
    -------
    ndarray, shape (..., H + top + bottom, W + left + right)
        Same dtype as ``x``.

    Raises
    ------
    ValueError
        Odd-length ``pad``, more axes than ``x`` has, unknown ``mode``, or reflect
        padding as wide as the axis it pads.

    Notes
    -----
    Zero padding lets the kernel centre visit border pixels but darkens the border
    of a blurred photo; reflect and replicate keep the border's statistics. See
    notebook 03, "The convolutional layer".

    Examples
    --------
    >>> pad(np.array([[1, 2, 3]]), (2, 2), mode="reflect")
    array([[3, 2, 1, 2, 3, 2, 1]])
    >>> pad(np.array([[1, 2, 3]]), (1, 1, 1, 0), value=9)
    array([[9, 9, 9, 9, 9],
           [9, 1, 2, 3, 9]])
    """
    x, widths = _validate(x, pad, mode, value)
    # Crop first (negative widths), then pad what remains (positive widths).
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-a, 0)) for i, (b, a) in enumerate(widths))
    x = x[crop]
    if mode == "circular":
        for i, (b, a) in enumerate(widths):
            if x.shape[i] < max(b, a):
                raise ValueError(f"circular padding of {max(b, a)} is wider than axis {i} after cropping")
    positive = [(max(b, 0), max(a, 0)) for b, a in widths]
    if mode == "constant":
        return np.pad(x, positive, mode="constant", constant_values=value)
    return np.pad(x, positive, mode=PAD_MODES[mode])


def pad_naive(x: np.ndarray, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """Loop version of :func:`pad` for non-negative widths: each output cell looks up its source.

    A padded position ``i`` along an axis of size ``n`` with ``before`` cells in
    front reads source index ``i - before`` if that is inside, else
    reflect: ``-j`` or ``2(n-1) - j``; replicate: the nearest end; circular: ``j mod n``.

    Examples
    --------
    >>> pad_naive(np.array([[1, 2, 3]]), (2, 2), mode="circular")
    array([[2, 3, 1, 2, 3, 1, 2]])
    """
    x, widths = _validate(x, pad, mode, value)
    if any(min(w) < 0 for w in widths):
        raise ValueError(f"pad_naive handles non-negative `pad` only, got {pad!r}")
    out_shape = tuple(n + b + a for n, (b, a) in zip(x.shape, widths))
    out = np.empty(out_shape, dtype=x.dtype)
    for index in np.ndindex(*out_shape):
        source = []
        for i, (n, (before, _)) in zip(index, zip(x.shape, widths)):
            j = i - before
            if 0 <= j < n:
                source.append(j)
            elif mode == "constant":
                source = None
                break
            elif mode == "reflect":
                source.append(-j if j < 0 else 2 * (n - 1) - j)
            elif mode == "replicate":
                source.append(min(max(j, 0), n - 1))
            else:  # circular
                source.append(j % n)
        out[index] = value if source is None else x[tuple(source)]
    return out
