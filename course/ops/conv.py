"""Convolution layers, as ``torch.nn.functional.conv1d`` / ``conv2d`` and ``nn.Conv2d``.

Like every deep-learning library, "convolution" here is cross-correlation: the
kernel is not flipped,

    out[n, f, i, j] = bias[f] + sum_{c, u, v} x_pad[n, c, i*sh + u*dh, j*sw + v*dw] * weight[f, c, u, v]

(within the group of filter f). The flip of the mathematical convolution only
matters for a fixed kernel; a learned kernel simply learns the flipped values.
:func:`convolve2d` and :func:`correlate2d` show the difference on one image.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import (
    as_array,
    batched,
    check_channels,
    check_kernel_fits,
    int_tuple,
    promote_float,
)
from .arithmetic import same_padding
from .im2col import scatter_windows, window_view
from .padding import pad

__all__ = [
    "PADDING_MODES",
    "conv1d",
    "conv1d_naive",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_naive",
    "convolve2d",
    "correlate2d",
]

#: ``padding_mode`` of ``nn.Conv2d`` and the :func:`course.ops.padding.pad` mode it uses.
PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


class ConvSetup(NamedTuple):
    """A validated convolution: padded float input and everything the loops need."""

    xp: np.ndarray          # (N, C, H + top + bottom, W + left + right)
    weight: np.ndarray      # (F, C // groups, KH, KW)
    bias: np.ndarray | None  # (F,)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]  # (top, bottom), (left, right)
    groups: int
    out_size: tuple[int, int]
    unbatched: bool


def resolve_padding(padding, kernel, dilation, stride, spatial: int = 2) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per spatial axis for an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * spatial
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' needs stride 1 (the output cannot keep the input size "
                    f"when it skips positions), got stride={stride if spatial == 2 else stride[-1]}"
                )
            return tuple(same_padding(k, d) for k, d in zip(kernel, dilation))
        raise ValueError(f"`padding` must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    values = int_tuple(padding, "padding", minimum=0, length=spatial)
    return tuple((p, p) for p in values)


def _setup(x, weight, bias, stride, padding, dilation, groups, padding_mode, spatial=2) -> ConvSetup:
    """Check every argument of a convolution and pad the input; shared by all conv code paths."""
    x = as_array(x, "x", (spatial + 1, spatial + 2))
    weight = as_array(weight, "weight", (spatial + 2,))
    x, unbatched = batched(x, "x", spatial)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"`groups` must be an int >= 1, got {groups!r}")
    check_channels(x, weight, int(groups))
    if bias is not None:
        bias = as_array(bias, "bias", (1,))
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"`bias` must have one value per filter, shape ({weight.shape[0]},), got {bias.shape}"
            )
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"`padding_mode` must be one of {sorted(PADDING_MODES)}, got {padding_mode!r}")
    stride = int_tuple(stride, "stride", minimum=1, length=spatial)
    dilation = int_tuple(dilation, "dilation", minimum=1, length=spatial)
    kernel = weight.shape[2:]
    pads = resolve_padding(padding, kernel, dilation, stride, spatial)
    sizes = x.shape[2:]
    check_kernel_fits(tuple(n + b + a for n, (b, a) in zip(sizes, pads)), kernel, dilation)
    if spatial == 1:  # conv1d runs as conv2d on an image of height 1
        x, weight, stride, dilation, pads = x[:, :, None], weight[:, :, None], (1, *stride), (1, *dilation), ((0, 0), *pads)
    flat = tuple(w for axis in reversed(pads) for w in axis)  # torch order: last axis first
    xp = pad(promote_float(x), flat, mode=PADDING_MODES[padding_mode]) if any(flat) else promote_float(x)
    H, W = xp.shape[2:]
    out_size = tuple(
        (n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip((H, W), weight.shape[2:], stride, dilation)
    )
    bias = None if bias is None else promote_float(bias)
    return ConvSetup(xp, promote_float(weight), bias, stride, dilation, pads, int(groups), out_size, unbatched)


def _result_dtype(*arrays) -> np.dtype:
    return np.result_type(*(a for a in arrays if a is not None))


#: Size of the column matrix built at a time: im2col for a few images, or a band of output
#: rows of one large image, keeps it in the CPU's cache while the matrix product reads it.
_COLUMNS_BYTES = 1 << 21


def _conv_core(s: ConvSetup) -> np.ndarray:
    """im2col + one batched matrix product per group, block by block; returns (N, F, H_out, W_out)."""
    N, C = s.xp.shape[:2]
    F, Cg, KH, KW = s.weight.shape
    G = s.groups
    (Ho, Wo), K = s.out_size, Cg * KH * KW
    dtype = _result_dtype(s.xp, s.weight, s.bias)
    windows = window_view(s.xp.astype(dtype, copy=False), (KH, KW), s.stride, s.dilation, s.out_size)
    w = s.weight.astype(dtype, copy=False).reshape(G, F // G, K)
    out = np.empty((N, F, Ho, Wo), dtype=dtype)
    flat = out.reshape(N, G, F // G, Ho * Wo)  # a view: the products are written straight into out
    row_bytes = C * KH * KW * Wo * dtype.itemsize  # columns of one output row of one image
    rows = int(min(Ho, max(1, _COLUMNS_BYTES // row_bytes)))
    images = max(1, _COLUMNS_BYTES // (row_bytes * Ho)) if rows == Ho else 1
    for n in range(0, N, images):
        for r in range(0, Ho, rows):
            r1 = min(Ho, r + rows)
            cols = windows[n : n + images, :, :, :, r:r1].reshape(-1, G, K, (r1 - r) * Wo)  # the one copy
            np.matmul(w, cols, out=flat[n : n + images, :, :, r * Wo : r1 * Wo])
    if s.bias is not None:
        out += s.bias.astype(dtype, copy=False)[:, None, None]
    return out


def _finish(out: np.ndarray, s: ConvSetup, spatial: int) -> np.ndarray:
    if spatial == 1:
        out = out[:, :, 0]
    return out[0] if s.unbatched else out


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """2-D convolution (cross-correlation) of a batch of images with a bank of filters.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (C, H, W)
        Input images. Integer images (uint8) are computed in float64.
    weight : ndarray, shape (F, C // groups, KH, KW)
        One kernel per filter, spanning all input channels of its group.
    bias : ndarray, shape (F,), optional
    stride, dilation : int or pair of int
    padding : int, pair of int, 'valid' or 'same'
        Rows/columns added on each side; 'same' keeps H and W (stride 1 only,
        the extra cell of an odd total goes to the bottom/right, as PyTorch).
    groups : int
        Split channels and filters into ``groups`` independent convolutions.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds, as ``nn.Conv2d``.

    Returns
    -------
    ndarray, shape (N, F, H_out, W_out)
        ``H_out = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1``, likewise W_out.
        Unbatched input gives (F, H_out, W_out).

    Raises
    ------
    ValueError
        Channels of ``x`` and ``weight`` disagree, ``groups`` does not divide them,
        the kernel is larger than the padded input, 'same' with stride > 1,
        reflect padding wider than the input, stride or dilation below 1, or an
        array with the wrong number of dimensions.

    Notes
    -----
    Vectorized as im2col followed by one matrix product (BLAS); see
    :func:`conv2d_naive` for the loop that reads like the lecture formula and
    notebook 03 for the layer it implements.

    Examples
    --------
    The lectures' 5x5 input and vertical-edge kernel:

    >>> x = np.array([[1, 2, 3, 4, 5], [1, 3, 2, 3, 10], [3, 2, 1, 4, 5],
    ...               [6, 1, 1, 2, 2], [3, 2, 1, 5, 4]])
    >>> k = np.array([[1, 0, -1]] * 3)
    >>> conv2d(x[None, None], k[None, None])[0, 0]
    array([[ -1.,  -4., -14.],
           [  6.,  -3., -13.],
           [  9.,  -6.,  -8.]])
    """
    s = _setup(x, weight, bias, stride, padding, dilation, groups, padding_mode)
    return _finish(_conv_core(s), s, 2)


def conv2d_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Loop version of :func:`conv2d`: one output value at a time, as on the slides.

    Same parameters, shapes and errors as :func:`conv2d`.

    Examples
    --------
    >>> conv2d_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), bias=np.array([0.5]))
    array([[[[4.5, 4.5],
             [4.5, 4.5]]]])
    """
    s = _setup(x, weight, bias, stride, padding, dilation, groups, padding_mode)
    N = s.xp.shape[0]
    F, Cg, KH, KW = s.weight.shape
    (sh, sw), (dh, dw) = s.stride, s.dilation
    out = np.zeros((N, F, *s.out_size), dtype=_result_dtype(s.xp, s.weight, s.bias))
    for n in range(N):
        for f in range(F):
            g = f // (F // s.groups)  # the group of filter f sees channels g*Cg .. (g+1)*Cg - 1
            for i in range(s.out_size[0]):
                for j in range(s.out_size[1]):
                    window = s.xp[n, g * Cg : (g + 1) * Cg,
                                  i * sh : i * sh + dh * (KH - 1) + 1 : dh,
                                  j * sw : j * sw + dw * (KW - 1) + 1 : dw]
                    out[n, f, i, j] = np.sum(window * s.weight[f])
                    if s.bias is not None:
                        out[n, f, i, j] += s.bias[f]
    return _finish(out, s, 2)


def conv1d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """1-D convolution (cross-correlation) of a batch of signals, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, L) or (C, L)
    weight : ndarray, shape (F, C // groups, K)
    bias : ndarray, shape (F,), optional
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv2d`, with single ints.

    Returns
    -------
    ndarray, shape (N, F, L_out)
        ``L_out = floor((L + 2 padding - dilation (K - 1) - 1) / stride) + 1``.

    Examples
    --------
    A moving sum of three samples:

    >>> conv1d(np.array([[1, 2, 3, 4, 5]]), np.ones((1, 1, 3)))
    array([[ 6.,  9., 12.]])
    """
    s = _setup(x, weight, bias, stride, padding, dilation, groups, padding_mode, spatial=1)
    return _finish(_conv_core(s), s, 1)


def conv1d_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Loop version of :func:`conv1d`: ``out[n, f, i] = b[f] + sum_{c,u} x_pad[n, c, i s + u d] w[f, c, u]``.

    Examples
    --------
    >>> conv1d_naive(np.array([[1, 2, 3, 4, 5]]), np.array([[[1, 0, -1]]]), stride=2)
    array([[-2., -2.]])
    """
    s = _setup(x, weight, bias, stride, padding, dilation, groups, padding_mode, spatial=1)
    xp, w = s.xp[:, :, 0], s.weight[:, :, 0]
    N, (F, Cg, K) = xp.shape[0], w.shape
    st, d = s.stride[1], s.dilation[1]
    out = np.zeros((N, F, s.out_size[1]), dtype=_result_dtype(xp, w, s.bias))
    for n in range(N):
        for f in range(F):
            g = f // (F // s.groups)
            for i in range(s.out_size[1]):
                total = s.bias[f] if s.bias is not None else 0.0
                for c in range(Cg):
                    for u in range(K):
                        total += xp[n, g * Cg + c, i * st + u * d] * w[f, c, u]
                out[n, f, i] = total
    return out[0] if s.unbatched else out


_MODES_2D = ("valid", "same", "full")


def _single_image_padding(image, kernel, mode):
    image = promote_float(as_array(image, "image", (2,)))
    kernel = promote_float(as_array(kernel, "kernel", (2,)))
    if mode not in _MODES_2D:
        raise ValueError(f"`mode` must be one of {_MODES_2D}, got {mode!r}")
    if mode == "valid":
        pads = ((0, 0), (0, 0))
    elif mode == "same":
        pads = tuple(same_padding(k) for k in kernel.shape)
    else:
        pads = tuple((k - 1, k - 1) for k in kernel.shape)
    check_kernel_fits(tuple(n + b + a for n, (b, a) in zip(image.shape, pads)), kernel.shape, (1, 1))
    xp = np.pad(image, pads)[None, None]
    return xp, kernel


def correlate2d(image: np.ndarray, kernel: np.ndarray, mode: str = "valid") -> np.ndarray:
    """Cross-correlation of one 2-D image with one 2-D kernel (no flip): what CNN layers compute.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    kernel : ndarray, shape (KH, KW)
    mode : {'valid', 'same', 'full'}
        'valid': only positions where the kernel fits, (H - KH + 1, W - KW + 1);
        'same': zero-padded to keep (H, W) (odd padding extra at the bottom/right);
        'full': every position with any overlap, (H + KH - 1, W + KW - 1).

    Returns
    -------
    ndarray, shape depends on ``mode``
        ``out[i, j] = sum_{u, v} image_pad[i + u, j + v] kernel[u, v]``.

    Examples
    --------
    >>> correlate2d(np.array([[1, 2, 3]]), np.array([[1, 0, -1]]), mode="same")
    array([[-2., -2.,  2.]])
    """
    xp, kernel = _single_image_padding(image, kernel, mode)
    s = ConvSetup(xp, kernel[None, None], None, (1, 1), (1, 1), ((0, 0), (0, 0)), 1,
                  (xp.shape[2] - kernel.shape[0] + 1, xp.shape[3] - kernel.shape[1] + 1), False)
    return _conv_core(s)[0, 0]


def convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str = "valid") -> np.ndarray:
    """True convolution of one 2-D image with one 2-D kernel: cross-correlation with the kernel flipped.

    ``out[i, j] = sum_{u, v} image_pad[i + u, j + v] kernel[KH-1-u, KW-1-v]``. Parameters
    and shapes as :func:`correlate2d`. Convolution is commutative and associative
    (blurring twice is one blur with the convolved kernels); cross-correlation is not.

    Examples
    --------
    The flip turns a dark-to-light edge detector into a light-to-dark one:

    >>> convolve2d(np.array([[1, 2, 3]]), np.array([[1, 0, -1]]), mode="same")
    array([[ 2.,  2., -2.]])
    """
    kernel = as_array(kernel, "kernel", (2,))
    return correlate2d(image, kernel[::-1, ::-1], mode)


class ConvGrads(NamedTuple):
    """Gradients of a convolution's loss with respect to its input, weights and bias."""

    grad_x: np.ndarray       # like x: (N, C, H, W)
    grad_weight: np.ndarray  # like weight: (F, C // groups, KH, KW)
    grad_bias: np.ndarray    # (F,)


def _backward_setup(grad_out, x, weight, stride, padding, dilation, groups):
    s = _setup(x, weight, None, stride, padding, dilation, groups, "zeros")
    grad_out = as_array(grad_out, "grad_out", (3, 4))
    g = grad_out[None] if s.unbatched and grad_out.ndim == 3 else grad_out
    expected = (s.xp.shape[0], s.weight.shape[0], *s.out_size)
    if g.shape != expected:
        shown = expected[1:] if s.unbatched else expected
        raise ValueError(
            f"`grad_out` must have the shape of the convolution's output {shown}, got {grad_out.shape}"
        )
    return s, promote_float(g)


def _backward_finish(s: ConvSetup, grad_xp, grad_w, grad_b) -> ConvGrads:
    (top, bottom), (left, right) = s.pads
    H, W = grad_xp.shape[2:]
    grad_x = grad_xp[:, :, top : H - bottom, left : W - right]
    if s.unbatched:
        grad_x = grad_x[0]
    return ConvGrads(grad_x, grad_w, grad_b)


def conv2d_backward(
    grad_out: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> ConvGrads:
    """Gradients of :func:`conv2d` (zero padding), as ``torch.autograd`` computes them.

    Parameters
    ----------
    grad_out : ndarray, shape (N, F, H_out, W_out)
        Gradient of the loss with respect to the convolution's output.
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    weight : ndarray, shape (F, C // groups, KH, KW)
    stride, padding, dilation, groups
        As in the forward call.

    Returns
    -------
    ConvGrads
        ``grad_x`` (N, C, H, W): every output's gradient sent back through the
        weights to the inputs of its window (a transposed convolution);
        ``grad_weight`` (F, C // groups, KH, KW): the correlation of the input
        with ``grad_out``; ``grad_bias`` (F,): ``grad_out`` summed over N, H_out, W_out.

    Examples
    --------
    >>> g = conv2d_backward(np.ones((1, 1, 2, 2)), np.arange(9.).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)))
    >>> g.grad_weight[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    >>> g.grad_bias
    array([4.])
    """
    s, g = _backward_setup(grad_out, x, weight, stride, padding, dilation, groups)
    N, C = s.xp.shape[:2]
    F, Cg, KH, KW = s.weight.shape
    G, P = s.groups, s.out_size[0] * s.out_size[1]
    cols = window_view(s.xp, (KH, KW), s.stride, s.dilation, s.out_size).reshape(N, G, Cg * KH * KW, P)
    go = g.reshape(N, G, F // G, P)
    grad_w = np.matmul(go, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(F, Cg, KH, KW)
    w = s.weight.reshape(G, F // G, Cg * KH * KW)
    grad_cols = np.matmul(w.transpose(0, 2, 1), go).reshape(N, C, KH, KW, *s.out_size)
    grad_xp = scatter_windows(grad_cols, s.xp.shape[2:], s.stride, s.dilation)
    return _backward_finish(s, grad_xp, grad_w, g.sum(axis=(0, 2, 3)))


def conv2d_backward_naive(
    grad_out: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> ConvGrads:
    """Loop version of :func:`conv2d_backward`: each output position sends its gradient back.

    Output ``(n, f, i, j)`` was computed from one window of ``x`` and the kernel of
    filter ``f``; by the chain rule its gradient flows to that window (times the
    kernel) and to the kernel (times the window).

    Examples
    --------
    >>> g = conv2d_backward_naive(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))
    >>> g.grad_x[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    s, g = _backward_setup(grad_out, x, weight, stride, padding, dilation, groups)
    F, Cg, KH, KW = s.weight.shape
    (sh, sw), (dh, dw) = s.stride, s.dilation
    grad_xp = np.zeros_like(s.xp)
    grad_w = np.zeros_like(s.weight)
    for n in range(s.xp.shape[0]):
        for f in range(F):
            c0 = (f // (F // s.groups)) * Cg
            for i in range(s.out_size[0]):
                for j in range(s.out_size[1]):
                    rows = slice(i * sh, i * sh + dh * (KH - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (KW - 1) + 1, dw)
                    grad_xp[n, c0 : c0 + Cg, rows, cols] += g[n, f, i, j] * s.weight[f]
                    grad_w[f] += g[n, f, i, j] * s.xp[n, c0 : c0 + Cg, rows, cols]
    return _backward_finish(s, grad_xp, grad_w, g.sum(axis=(0, 2, 3)))
