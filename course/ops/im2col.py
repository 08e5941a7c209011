"""Sliding windows: the one mechanism behind every vectorized operation.

``window_view`` lays every kernel-sized window of a padded input side by side
without copying; ``scatter_windows`` is its adjoint, adding window-shaped values
back onto the grid. Convolution is a matrix product on the windows (im2col),
pooling a max or mean over them, and the backward passes and the transposed
convolution scatter through ``scatter_windows`` (col2im).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import as_array, batched, check_kernel_fits, int_tuple, promote_float
from .arithmetic import conv_output_size

__all__ = ["col2im", "im2col", "reduce_windows", "scatter_windows", "window_view"]


def window_view(
    xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
    out_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read-only view of all windows of an already padded input.

    Parameters
    ----------
    xp : ndarray, shape (N, C, H, W)
        Padded input.
    kernel, stride, dilation : pair of int
    out_size : pair of int, optional
        Number of window positions (H_out, W_out); by default as many as fit.

    Returns
    -------
    ndarray, shape (N, C, KH, KW, H_out, W_out)
        ``view[n, c, u, v, i, j] == xp[n, c, i sh + u dh, j sw + v dw]``.
    """
    N, C, H, W = xp.shape
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    if out_size is None:
        out_size = ((H - dh * (KH - 1) - 1) // sh + 1, (W - dw * (KW - 1) - 1) // sw + 1)
    Ho, Wo = out_size
    sN, sC, sH, sW = xp.strides
    return as_strided(
        xp, (N, C, KH, KW, Ho, Wo), (sN, sC, sH * dh, sW * dw, sH * sh, sW * sw), writeable=False
    )


def scatter_windows(
    values: np.ndarray, padded_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> np.ndarray:
    """Add window-shaped values back onto a grid: the adjoint of :func:`window_view`.

    Parameters
    ----------
    values : ndarray, shape (N, C, KH, KW, H_out, W_out)
    padded_size : pair of int
        Size (H, W) of the grid the windows were taken from.

    Returns
    -------
    ndarray, shape (N, C, H, W)
        ``out[n, c, i sh + u dh, j sw + v dw] += values[n, c, u, v, i, j]`` for all indices.
    """
    N, C, KH, KW, Ho, Wo = values.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros((N, C) + tuple(padded_size), dtype=values.dtype)
    # One strided slice per kernel offset: KH*KW vectorized additions, however large the image.
    for u in range(KH):
        for v in range(KW):
            out[:, :, u * dh : u * dh + sh * (Ho - 1) + 1 : sh, v * dw : v * dw + sw * (Wo - 1) + 1 : sw] += (
                values[:, :, u, v]
            )
    return out


def reduce_windows(
    xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
    out_size: tuple[int, int], ufunc: np.ufunc,
) -> np.ndarray:
    """Combine each window's cells with a binary ufunc (``np.maximum``, ``np.add``).

    Equivalent to reducing :func:`window_view` over its kernel axes, but walks the
    KH*KW kernel offsets with whole-image strided slices, so no window is copied.

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out)
    """
    (KH, KW), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_size
    out = None
    for u in range(KH):
        for v in range(KW):
            cells = xp[:, :, u * dh : u * dh + sh * (Ho - 1) + 1 : sh, v * dw : v * dw + sw * (Wo - 1) + 1 : sw]
            out = cells.copy() if out is None else ufunc(out, cells, out=out)
    return out


def _geometry(shape, kernel_size, stride, padding, dilation):
    kernel = int_tuple(kernel_size, "kernel_size", minimum=1)
    stride = int_tuple(stride, "stride", minimum=1)
    padding = int_tuple(padding, "padding", minimum=0)
    dilation = int_tuple(dilation, "dilation", minimum=1)
    H, W = shape[-2:]
    check_kernel_fits((H + 2 * padding[0], W + 2 * padding[1]), kernel, dilation)
    out = tuple(
        conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip((H, W), kernel, stride, padding, dilation)
    )
    return kernel, stride, padding, dilation, out


def im2col(
    x: np.ndarray, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Unfold every (zero-padded) kernel window of ``x`` into a column.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding, dilation : int or pair of int
        As in ``torch.nn.functional.unfold``.

    Returns
    -------
    ndarray, shape (N, C KH KW, H_out W_out)
        Column ``i W_out + j`` holds the window of output position (i, j), ordered
        channel first, then kernel row, then kernel column, so that
        ``weight.reshape(F, -1) @ cols`` is the convolution. Unbatched input gives
        shape (C KH KW, H_out W_out).

    Examples
    --------
    >>> im2col(np.arange(9).reshape(1, 1, 3, 3), 2)[0]
    array([[0, 1, 3, 4],
           [1, 2, 4, 5],
           [3, 4, 6, 7],
           [4, 5, 7, 8]])
    """
    x = as_array(x, "x", (3, 4))
    x, unbatched = batched(x, "x", 2)
    kernel, stride, padding, dilation, out = _geometry(x.shape, kernel_size, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    N, C = x.shape[:2]
    cols = window_view(xp, kernel, stride, dilation, out).reshape(N, C * kernel[0] * kernel[1], out[0] * out[1])
    return cols[0] if unbatched else cols


def col2im(
    cols: np.ndarray, input_shape: tuple[int, ...], kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Fold columns back onto the image grid, summing where windows overlap.

    The adjoint (transpose) of :func:`im2col`, as ``torch.nn.functional.fold``;
    not its inverse: a pixel covered by k windows receives the sum of k values.

    Parameters
    ----------
    cols : ndarray, shape (N, C KH KW, H_out W_out) or (C KH KW, H_out W_out)
    input_shape : tuple of int
        Shape (N, C, H, W) or (C, H, W) of the image the columns came from.
    kernel_size, stride, padding, dilation : int or pair of int

    Returns
    -------
    ndarray, shape ``input_shape``

    Examples
    --------
    Each pixel of a 3x3 image lies in 1, 2 or 4 of the 2x2 windows:

    >>> x = np.ones((1, 1, 3, 3))
    >>> col2im(im2col(x, 2), x.shape, 2)[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    cols = promote_float(as_array(cols, "cols", (2, 3)))
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (3, 4):
        raise ValueError(f"`input_shape` must be (N, C, H, W) or (C, H, W), got {input_shape!r}")
    unbatched = len(input_shape) == 3
    shape = (1, *input_shape) if unbatched else tuple(input_shape)
    if cols.ndim != (2 if unbatched else 3):
        raise ValueError(
            f"`cols` must have {2 if unbatched else 3} dimensions for input_shape {tuple(input_shape)}, "
            f"got shape {cols.shape}"
        )
    if unbatched:
        cols = cols[None]
    N, C, H, W = shape
    kernel, stride, padding, dilation, out = _geometry(shape, kernel_size, stride, padding, dilation)
    expected = (N, C * kernel[0] * kernel[1], out[0] * out[1])
    if cols.shape != expected:
        raise ValueError(
            f"`cols` must have shape (N, C*KH*KW, H_out*W_out) = {expected} for input_shape "
            f"{tuple(input_shape)}, got {cols.shape}"
        )
    values = cols.reshape(N, C, kernel[0], kernel[1], out[0], out[1])
    grid = scatter_windows(values, (H + 2 * padding[0], W + 2 * padding[1]), stride, dilation)
    image = grid[:, :, padding[0] : padding[0] + H, padding[1] : padding[1] + W]
    return image[0] if unbatched else image
