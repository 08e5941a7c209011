"""Max and average pooling with their backward passes, as ``torch.nn.functional``.

Pooling summarises each window of each channel by one number: the largest value
(max pooling: "is the feature present anywhere here?") or the mean. It has no
weights, keeps the channels apart, and makes the output insensitive to shifts
smaller than the window.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import as_array, batched, int_tuple, pool_pair, promote_float
from .arithmetic import conv_output_size
from .im2col import reduce_windows, scatter_windows, window_view

__all__ = [
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool2d_backward_naive",
    "avg_pool2d_naive",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_backward_naive",
    "max_pool2d_naive",
]


class PoolSetup(NamedTuple):
    """A validated pooling: float input, geometry, and the padding to the right that ceil_mode needs."""

    x: np.ndarray  # (N, C, H, W), floating
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    out_size: tuple[int, int]
    extent: tuple[int, int]  # cells from the start of the left padding to the end of the last window
    unbatched: bool


def _setup(x, kernel_size, stride, padding, dilation, ceil_mode) -> PoolSetup:
    x = as_array(x, "x", (3, 4))
    x, unbatched = batched(x, "x", 2)
    kernel = int_tuple(kernel_size, "kernel_size", minimum=1)
    stride = pool_pair(stride, kernel)
    padding = int_tuple(padding, "padding", minimum=0)
    dilation = int_tuple(dilation, "dilation", minimum=1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"`ceil_mode` must be True or False, got {ceil_mode!r}")
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ValueError(
                f"`padding` must be at most half the kernel size (so no window lies entirely "
                f"in the padding), got padding={padding} for kernel_size={kernel}"
            )
    out_size = tuple(
        conv_output_size(n, k, s, p, d, ceil_mode=bool(ceil_mode))
        for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)
    )
    extent = tuple((o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_size, stride, dilation, kernel))
    return PoolSetup(promote_float(x), kernel, stride, padding, dilation, out_size, extent, unbatched)


def _padded(s: PoolSetup, fill: float) -> np.ndarray:
    """The input padded on the left by ``padding`` and on the right up to the last window."""
    H, W = s.x.shape[2:]
    right = [max(e - p - n, 0) for e, p, n in zip(s.extent, s.padding, (H, W))]
    if not any(s.padding) and not any(right):
        return s.x
    widths = ((0, 0), (0, 0), (s.padding[0], right[0]), (s.padding[1], right[1]))
    return np.pad(s.x, widths, constant_values=fill)


def _finish(out: np.ndarray, unbatched: bool) -> np.ndarray:
    return out[0] if unbatched else out


def _argmax_positions(s: PoolSetup) -> tuple[np.ndarray, np.ndarray]:
    """Max values (N, C, H_out, W_out) and the flat input index h W + w of each."""
    N, C, H, W = s.x.shape
    (KH, KW), (Ho, Wo) = s.kernel, s.out_size
    windows = window_view(_padded(s, -np.inf), s.kernel, s.stride, s.dilation, s.out_size)
    windows = windows.reshape(N, C, KH * KW, Ho, Wo)
    best = windows.argmax(axis=2)  # first maximum in row-major window order, as PyTorch
    values = np.take_along_axis(windows, best[:, :, None], axis=2)[:, :, 0]
    u, v = np.divmod(best, KW)
    rows = np.arange(Ho)[:, None] * s.stride[0] + u * s.dilation[0] - s.padding[0]
    cols = np.arange(Wo)[None, :] * s.stride[1] + v * s.dilation[1] - s.padding[1]
    return values, rows * W + cols


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling over each channel separately, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or pair of int
        Window size (KH, KW).
    stride : int or pair of int, optional
        Distance between windows; defaults to ``kernel_size`` (non-overlapping windows).
    padding : int or pair of int
        Implicit -inf padding on each side, at most half the kernel size.
    dilation : int or pair of int
        Spacing between the cells of a window.
    ceil_mode : bool
        Round the output size up, keeping a last partial window.
    return_indices : bool
        Also return where each maximum was.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
        ``H_out = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1`` (ceil with ``ceil_mode``).
    indices : ndarray of int64, shape (N, C, H_out, W_out)
        Only with ``return_indices``: flat position ``h W + w`` of each maximum in its
        channel of ``x``; ties go to the first in row-major order.

    Examples
    --------
    The feature maps of the lectures' 6x6 example, pooled 2x2:

    >>> fmap = np.array([[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]])
    >>> max_pool2d(fmap[None], 2)[0]
    array([[3., 0.],
           [3., 1.]])
    """
    s = _setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    if return_indices:
        values, indices = _argmax_positions(s)
        return _finish(values, s.unbatched), _finish(indices.astype(np.int64), s.unbatched)
    values = reduce_windows(_padded(s, -np.inf), s.kernel, s.stride, s.dilation, s.out_size, np.maximum)
    return _finish(values, s.unbatched)


def max_pool2d_naive(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loop version of :func:`max_pool2d`: ``out[n, c, i, j] = max`` over the window's cells inside ``x``.

    Examples
    --------
    >>> max_pool2d_naive(np.array([[[1, 5, 2, 0], [3, 4, 8, 1]]]), 2)
    array([[[5., 8.]]])
    """
    s = _setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    N, C, H, W = s.x.shape
    out = np.empty((N, C, *s.out_size), dtype=s.x.dtype)
    where = np.empty((N, C, *s.out_size), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(s.out_size[0]):
                for j in range(s.out_size[1]):
                    best, best_at = -np.inf, -1
                    for u in range(s.kernel[0]):
                        for v in range(s.kernel[1]):
                            h = i * s.stride[0] + u * s.dilation[0] - s.padding[0]
                            w = j * s.stride[1] + v * s.dilation[1] - s.padding[1]
                            if 0 <= h < H and 0 <= w < W and (x_hw := s.x[n, c, h, w]) > best:
                                best, best_at = x_hw, h * W + w
                    out[n, c, i, j], where[n, c, i, j] = best, best_at
    if return_indices:
        return _finish(out, s.unbatched), _finish(where, s.unbatched)
    return _finish(out, s.unbatched)


def _avg_divisor(s: PoolSetup, count_include_pad: bool) -> np.ndarray:
    """Divisor of each window (H_out, W_out), following PyTorch's rules at the borders.

    With ``count_include_pad`` a window counts its padding cells but not cells past
    the padding (where a ceil_mode window hangs over); without it only real cells count.
    """
    sizes = []
    for n, k, st, p, o in zip(s.x.shape[2:], s.kernel, s.stride, s.padding, s.out_size):
        start = np.arange(o) * st - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(*sizes).astype(s.x.dtype)


def _check_count_include_pad(value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`count_include_pad` must be True or False, got {value!r}")


def avg_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Average pooling over each channel separately, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding, ceil_mode
        As in :func:`max_pool2d` (zero padding; no dilation, as in PyTorch).
    count_include_pad : bool
        Whether padding cells count in a window's divisor.

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out)

    Examples
    --------
    >>> avg_pool2d(np.array([[[1, 3, 2, 6]]]), (1, 2))
    array([[[2., 4.]]])
    >>> avg_pool2d(np.array([[[2, 4]]]), (1, 2), padding=(0, 1), count_include_pad=False)
    array([[[2., 4.]]])
    """
    _check_count_include_pad(count_include_pad)
    s = _setup(x, kernel_size, stride, padding, 1, ceil_mode)
    sums = reduce_windows(_padded(s, 0.0), s.kernel, s.stride, s.dilation, s.out_size, np.add)
    out = sums / _avg_divisor(s, count_include_pad)
    return _finish(out, s.unbatched)


def avg_pool2d_naive(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Loop version of :func:`avg_pool2d`: the sum of a window's real cells over its divisor.

    Examples
    --------
    >>> avg_pool2d_naive(np.array([[[1, 3, 2, 6]]]), (1, 2))
    array([[[2., 4.]]])
    """
    _check_count_include_pad(count_include_pad)
    s = _setup(x, kernel_size, stride, padding, 1, ceil_mode)
    N, C, H, W = s.x.shape
    out = np.zeros((N, C, *s.out_size), dtype=s.x.dtype)
    for i in range(s.out_size[0]):
        for j in range(s.out_size[1]):
            h0, w0 = i * s.stride[0] - s.padding[0], j * s.stride[1] - s.padding[1]
            h1, w1 = min(h0 + s.kernel[0], H + s.padding[0]), min(w0 + s.kernel[1], W + s.padding[1])
            inside = s.x[:, :, max(h0, 0) : min(h1, H), max(w0, 0) : min(w1, W)]
            if count_include_pad:
                divisor = (h1 - h0) * (w1 - w0)
            else:
                divisor = inside.shape[2] * inside.shape[3]
            out[:, :, i, j] = inside.sum(axis=(2, 3)) / divisor
    return _finish(out, s.unbatched)


def _check_grad_out(grad_out, s: PoolSetup) -> np.ndarray:
    grad_out = as_array(grad_out, "grad_out", (3, 4))
    g = grad_out[None] if s.unbatched and grad_out.ndim == 3 else grad_out
    expected = (*s.x.shape[:2], *s.out_size)
    if g.shape != expected:
        shown = expected[1:] if s.unbatched else expected
        raise ValueError(f"`grad_out` must have the shape of the pooling's output {shown}, got {grad_out.shape}")
    return promote_float(g)


def max_pool2d_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to ``x``, as ``torch.autograd``.

    Each window's gradient goes entirely to the cell that won its maximum; a cell
    that wins several overlapping windows collects all their gradients.

    Parameters
    ----------
    grad_out : ndarray, shape (N, C, H_out, W_out)
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding, dilation, ceil_mode
        As in the forward call.

    Returns
    -------
    ndarray, shape (N, C, H, W)

    Examples
    --------
    Overlapping 2x2 windows at stride 1 that share their maximum:

    >>> max_pool2d_backward(np.ones((1, 2, 2)), np.array([[[0, 0, 0], [0, 9, 0], [0, 0, 0]]]), 2, stride=1)
    array([[[0., 0., 0.],
            [0., 4., 0.],
            [0., 0., 0.]]])
    """
    s = _setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    g = _check_grad_out(grad_out, s)
    N, C, H, W = s.x.shape
    _, indices = _argmax_positions(s)
    grad = np.zeros((N * C, H * W), dtype=np.result_type(g, s.x))
    rows = np.repeat(np.arange(N * C), indices[0, 0].size)
    np.add.at(grad, (rows, indices.reshape(-1)), g.reshape(-1))  # add.at: repeated winners accumulate
    return _finish(grad.reshape(N, C, H, W), s.unbatched)


def max_pool2d_backward_naive(
    grad_out: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Loop version of :func:`max_pool2d_backward`: route each output's gradient to its winner.

    Examples
    --------
    >>> max_pool2d_backward_naive(np.array([[[5.0]]]), np.array([[[1, 7], [3, 2]]]), 2)
    array([[[0., 5.],
            [0., 0.]]])
    """
    s = _setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    g = _check_grad_out(grad_out, s)
    _, winners = max_pool2d_naive(s.x, s.kernel, s.stride, s.padding, s.dilation, bool(ceil_mode), True)
    N, C, H, W = s.x.shape
    grad = np.zeros((N, C, H * W), dtype=np.result_type(g, s.x))
    for n in range(N):
        for c in range(C):
            for i in range(s.out_size[0]):
                for j in range(s.out_size[1]):
                    grad[n, c, winners[n, c, i, j]] += g[n, c, i, j]
    return _finish(grad.reshape(N, C, H, W), s.unbatched)


def avg_pool2d_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d` with respect to ``x``, as ``torch.autograd``.

    Each window shares its gradient equally among its cells (divided by the
    window's divisor); the shares landing in the padding are dropped.

    Returns
    -------
    ndarray, shape (N, C, H, W)

    Examples
    --------
    >>> avg_pool2d_backward(np.array([[[4.0]]]), np.zeros((1, 2, 2)), 2)
    array([[[1., 1.],
            [1., 1.]]])
    """
    _check_count_include_pad(count_include_pad)
    s = _setup(x, kernel_size, stride, padding, 1, ceil_mode)
    g = _check_grad_out(grad_out, s)
    share = g / _avg_divisor(s, count_include_pad)
    N, C, H, W = s.x.shape
    values = np.broadcast_to(share[:, :, None, None], (N, C, *s.kernel, *s.out_size))
    padded = _padded(s, 0.0).shape[2:]
    grid = scatter_windows(values, padded, s.stride, s.dilation)
    return _finish(grid[:, :, s.padding[0] : s.padding[0] + H, s.padding[1] : s.padding[1] + W], s.unbatched)


def avg_pool2d_backward_naive(
    grad_out: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Loop version of :func:`avg_pool2d_backward`: each window hands out equal shares.

    Examples
    --------
    >>> avg_pool2d_backward_naive(np.array([[[4.0]]]), np.zeros((1, 2, 2)), 2)
    array([[[1., 1.],
            [1., 1.]]])
    """
    _check_count_include_pad(count_include_pad)
    s = _setup(x, kernel_size, stride, padding, 1, ceil_mode)
    g = _check_grad_out(grad_out, s)
    N, C, H, W = s.x.shape
    divisor = _avg_divisor(s, count_include_pad)
    grad = np.zeros((N, C, H, W), dtype=np.result_type(g, s.x))
    for i in range(s.out_size[0]):
        for j in range(s.out_size[1]):
            h0, w0 = i * s.stride[0] - s.padding[0], j * s.stride[1] - s.padding[1]
            rows = slice(max(h0, 0), min(h0 + s.kernel[0], H))
            cols = slice(max(w0, 0), min(w0 + s.kernel[1], W))
            grad[:, :, rows, cols] += (g[:, :, i, j] / divisor[i, j])[:, :, None, None]
    return _finish(grad, s.unbatched)
