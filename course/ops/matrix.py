"""Convolution as a matrix: the sparse, weight-shared linear map a conv layer is.

A convolution is linear in its input, so for a fixed input shape there is a
matrix ``M`` with ``conv(x).ravel() == M @ x.ravel()``. Each row holds one copy
of the kernel, shifted to its output position, and zeros elsewhere: few
non-zeros (local connectivity) and the same few values in every row (shared
weights). A dense layer would store every entry of ``M`` separately.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse

from ._checks import as_array, check_kernel_fits, int_tuple, promote_float
from .conv import PADDING_MODES, resolve_padding
from .im2col import window_view
from .padding import pad

__all__ = ["conv_matrix"]


def conv_matrix(
    input_shape: tuple[int, ...],
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
    sparse: bool = False,
) -> np.ndarray | scipy.sparse.csr_array:
    """The matrix ``M`` of a convolution: ``conv2d(x, weight, ...).ravel() == M @ x.ravel()``.

    Parameters
    ----------
    input_shape : tuple of int
        (C, H, W) for a 2-D convolution, (C, L) for a 1-D one (one sample, no batch axis).
    weight : ndarray, shape (F, C, KH, KW) or (F, C, K)
    stride, padding, dilation, padding_mode
        As in :func:`course.ops.conv.conv2d` (``groups=1``). With reflect, replicate or
        circular padding a weight may reach the same input twice; the entries add.
    sparse : bool
        Return a ``scipy.sparse.csr_array`` instead of a dense array.

    Returns
    -------
    ndarray or csr_array, shape (F H_out W_out, C H W)
        Row ``(f, i, j)`` (in C order) holds the weights that output uses.

    Examples
    --------
    The lecture's 3x3 input and 2x2 kernel: a 4x9 matrix with the kernel in every row.

    >>> M = conv_matrix((1, 3, 3), np.array([[[[1, 2], [2, 1]]]]))
    >>> M.astype(int)
    array([[1, 2, 0, 2, 1, 0, 0, 0, 0],
           [0, 1, 2, 0, 2, 1, 0, 0, 0],
           [0, 0, 0, 1, 2, 0, 2, 1, 0],
           [0, 0, 0, 0, 1, 2, 0, 2, 1]])
    >>> (M @ np.array([1, 2, 3, 6, 5, 3, 1, 4, 1])).astype(int)
    array([22, 21, 22, 20])
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (2, 3) or not all(
        isinstance(n, (int, np.integer)) and n >= 1 for n in input_shape
    ):
        raise ValueError(f"`input_shape` must be (C, H, W) or (C, L) of positive ints, got {input_shape!r}")
    spatial = len(input_shape) - 1
    weight = promote_float(as_array(weight, "weight", (spatial + 2,)))
    if weight.shape[1] != input_shape[0]:
        raise ValueError(
            f"`weight` has {weight.shape[1]} input channels but `input_shape` has {input_shape[0]} "
            f"(input_shape: {tuple(input_shape)}, weight: {weight.shape})"
        )
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"`padding_mode` must be one of {sorted(PADDING_MODES)}, got {padding_mode!r}")
    stride = int_tuple(stride, "stride", minimum=1, length=spatial)
    dilation = int_tuple(dilation, "dilation", minimum=1, length=spatial)
    pads = resolve_padding(padding, weight.shape[2:], dilation, stride, spatial)
    check_kernel_fits(
        tuple(n + b + a for n, (b, a) in zip(input_shape[1:], pads)), weight.shape[2:], dilation
    )
    if spatial == 1:  # a signal is an image of height 1
        input_shape, weight = (input_shape[0], 1, input_shape[1]), weight[:, :, None]
        stride, dilation, pads = (1, *stride), (1, *dilation), ((0, 0), *pads)
    C, H, W = input_shape
    F, _, KH, KW = weight.shape

    # Pad an image of input indices the way the convolution pads x: each padded cell
    # then names the input it copies, or -1 for a zero.
    index = np.arange(C * H * W, dtype=np.int64).reshape(1, C, H, W)
    flat = tuple(w for axis in reversed(pads) for w in axis)
    if any(flat):
        mode = PADDING_MODES[padding_mode]
        index = pad(index, flat, mode=mode, value=-1) if mode == "constant" else pad(index, flat, mode=mode)
    windows = window_view(index, (KH, KW), stride, dilation)[0]  # (C, KH, KW, H_out, W_out)
    Ho, Wo = windows.shape[3:]
    cols = np.broadcast_to(windows[None], (F, C, KH, KW, Ho, Wo))
    rows = np.broadcast_to(np.arange(F * Ho * Wo).reshape(F, 1, 1, 1, Ho, Wo), cols.shape)
    vals = np.broadcast_to(weight[:, :, :, :, None, None], cols.shape)
    keep = cols >= 0
    M = scipy.sparse.coo_array(
        (vals[keep], (rows[keep], cols[keep])), shape=(F * Ho * Wo, C * H * W)
    ).tocsr()  # duplicate (row, col) pairs from reflected padding are summed here
    M.sum_duplicates()
    return M if sparse else M.toarray()
