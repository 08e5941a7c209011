"""Input checks shared by every public operation.

Each check raises ``TypeError`` or ``ValueError`` with a message that names the
parameter, what was expected and what came, so that a student calling the library
with a wrong shape reads what to fix rather than a broadcasting error deep inside
NumPy.
"""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

__all__ = [
    "as_array",
    "promote_float",
    "batched",
    "check_channels",
    "check_kernel_fits",
    "int_tuple",
    "pool_pair",
]


def as_array(value: Any, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as an ndarray with one of the allowed numbers of dimensions.

    Lists and scalars are converted; strings, dicts and object arrays are refused.
    """
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"`{name}` must be an array, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must hold numbers, got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        wanted = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"`{name}` must have {wanted} dimensions, got {arr.ndim} (shape {arr.shape})"
        )
    return arr


def promote_float(arr: np.ndarray) -> np.ndarray:
    """Promote integer and boolean arrays to float64 so sums cannot overflow.

    A uint8 image multiplied by a kernel wraps around at 256 if left as uint8;
    float32 and float64 inputs keep their precision.
    """
    if np.issubdtype(arr.dtype, np.floating):
        return arr
    return arr.astype(np.float64)


def int_tuple(value: Any, name: str, *, minimum: int, length: int = 2) -> tuple[int, ...]:
    """Expand an int or a sequence of ints to a tuple of ``length`` ints >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an int or a tuple of {length} ints, got {value!r}")
    if isinstance(value, Integral):
        values = (int(value),) * length
    elif isinstance(value, (tuple, list)) and len(value) == length and all(
        isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"`{name}` must be an int or a tuple of {length} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
    return values


def pool_pair(stride: Any, kernel: tuple[int, ...], name: str = "stride") -> tuple[int, ...]:
    """Pooling's default stride is the kernel size (PyTorch: ``stride=None``)."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return int_tuple(stride, name, minimum=1, length=len(kernel))


def batched(x: np.ndarray, name: str, spatial: int) -> tuple[np.ndarray, bool]:
    """Add a batch axis to an unbatched input; return the array and whether one was added.

    ``spatial`` is the number of spatial axes (1 for conv1d, 2 for conv2d), so a
    batched input has ``spatial + 2`` dimensions and an unbatched one ``spatial + 1``.
    """
    if x.ndim == spatial + 1:
        return x[None], True
    if x.ndim == spatial + 2:
        return x, False
    shape = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    raise ValueError(
        f"`{name}` must have shape {shape} or the unbatched {shape.replace('N, ', '')}, "
        f"got {x.ndim} dimensions (shape {x.shape})"
    )


def check_channels(x: np.ndarray, weight: np.ndarray, groups: int) -> None:
    """Check that ``x`` and ``weight`` agree on input channels and ``groups`` divides both."""
    C, F, Cg = x.shape[1], weight.shape[0], weight.shape[1]
    shapes = f"(x: {tuple(x.shape)}, weight: {tuple(weight.shape)})"
    if C % groups:
        raise ValueError(f"`groups`={groups} must divide the {C} input channels of `x` {shapes}")
    if F % groups:
        raise ValueError(f"`groups`={groups} must divide the {F} filters of `weight` {shapes}")
    if Cg * groups != C:
        raise ValueError(
            f"`weight` has {Cg} input channels per group but `x` has {C} channels "
            f"in {groups} group(s), so it needs {C // groups} {shapes}"
        )


def check_kernel_fits(
    padded: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...], what: str = "kernel"
) -> None:
    """Refuse a (dilated) kernel that is larger than the padded input along some axis."""
    for axis, (size, k, d) in enumerate(zip(padded, kernel, dilation)):
        span = d * (k - 1) + 1
        if span > size:
            dil = f" (dilation {d} spreads it over {span})" if d > 1 else ""
            raise ValueError(
                f"{what} of size {k}{dil} is larger than the padded input of size {size} "
                f"along spatial axis {axis}"
            )
