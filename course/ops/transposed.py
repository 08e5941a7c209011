"""Transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

Each input pixel stamps a copy of the kernel, scaled by its value, onto the
output, the stamps ``stride`` cells apart; overlapping stamps add up. This is the
matrix of :func:`course.ops.conv.conv2d` transposed (hence the name): the same map
that carries a convolution's gradient back to its input, used to upsample in
decoders and segmentation networks.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_array, batched, int_tuple, promote_float
from .arithmetic import conv_output_size
from .im2col import scatter_windows

__all__ = ["conv_transpose2d", "conv_transpose2d_naive"]


def _setup(x, weight, bias, stride, padding, output_padding, groups, dilation):
    x = as_array(x, "x", (3, 4))
    weight = as_array(weight, "weight", (4,))
    x, unbatched = batched(x, "x", 2)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"`groups` must be an int >= 1, got {groups!r}")
    C = x.shape[1]
    shapes = f"(x: {tuple(x.shape)}, weight: {tuple(weight.shape)})"
    if C % groups:
        raise ValueError(f"`groups`={groups} must divide the {C} input channels of `x` {shapes}")
    if weight.shape[0] != C:
        raise ValueError(
            f"`weight` must have shape (C_in, F // groups, KH, KW) with C_in = {C}, the channels "
            f"of `x`, got {weight.shape[0]} {shapes}"
        )
    F = weight.shape[1] * groups
    if bias is not None:
        bias = promote_float(as_array(bias, "bias", (1,)))
        if bias.shape[0] != F:
            raise ValueError(f"`bias` must have one value per output channel, shape ({F},), got {bias.shape}")
    if isinstance(padding, str):
        raise ValueError(f"`padding` of a transposed convolution must be an int or a pair, got {padding!r}")
    stride = int_tuple(stride, "stride", minimum=1)
    padding = int_tuple(padding, "padding", minimum=0)
    output_padding = int_tuple(output_padding, "output_padding", minimum=0)
    dilation = int_tuple(dilation, "dilation", minimum=1)
    kernel = weight.shape[2:]
    out_size = tuple(
        conv_output_size(n, k, s, p, d, transposed=True, output_padding=op)
        for n, k, s, p, d, op in zip(x.shape[2:], kernel, stride, padding, dilation, output_padding)
    )
    return promote_float(x), promote_float(weight), bias, stride, padding, dilation, int(groups), out_size, unbatched


def _crop(full, padding, out_size, bias, unbatched):
    (ph, pw), (Ho, Wo) = padding, out_size
    out = full[:, :, ph : ph + Ho, pw : pw + Wo]
    if bias is not None:
        out = out + bias[:, None, None]
    return out[0] if unbatched else out


def _full_size(x, weight, stride, dilation, out_size, padding):
    # Every stamp fits in (H - 1) s + d (K - 1) + 1 cells; output_padding may add cells after them.
    return tuple(
        max((n - 1) * s + d * (k - 1) + 1, o + 2 * p)
        for n, k, s, d, o, p in zip(x.shape[2:], weight.shape[2:], stride, dilation, out_size, padding)
    )


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Transposed 2-D convolution ("deconvolution"), as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (C, H, W)
    weight : ndarray, shape (C, F // groups, KH, KW)
        Note the order: input channels first, as in PyTorch.
    bias : ndarray, shape (F,), optional
    stride, dilation : int or pair of int
        Distance between the stamps of neighbouring input pixels; spacing of kernel taps.
    padding : int or pair of int
        Cells removed from each side of the full output.
    output_padding : int or pair of int
        Cells added at the bottom/right, to pick among the input sizes a strided
        convolution maps to the same output size; smaller than stride or dilation.
    groups : int

    Returns
    -------
    ndarray, shape (N, F, H_out, W_out)
        ``H_out = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1``.

    Examples
    --------
    The lecture's example: a 2x2 input and a 2x2 kernel give a 3x3 output.

    >>> conv_transpose2d(np.array([[[[1, 2], [2, 4]]]]), np.array([[[[1, 2], [2, 1]]]]))[0, 0]
    array([[ 1.,  4.,  4.],
           [ 4., 13., 10.],
           [ 4., 10.,  4.]])
    """
    x, weight, bias, stride, padding, dilation, G, out_size, unbatched = _setup(
        x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    N, C, H, W = x.shape
    Cg, Fg, KH, KW = C // G, weight.shape[1], weight.shape[2], weight.shape[3]
    dtype = np.result_type(x, weight)
    w = weight.reshape(G, Cg, Fg * KH * KW).transpose(0, 2, 1)           # (G, Fg KH KW, Cg)
    stamps = np.matmul(w, x.reshape(N, G, Cg, H * W))                    # (N, G, Fg KH KW, H W)
    stamps = stamps.reshape(N, G * Fg, KH, KW, H, W).astype(dtype, copy=False)
    full = scatter_windows(stamps, _full_size(x, weight, stride, dilation, out_size, padding), stride, dilation)
    return _crop(full, padding, out_size, bias, unbatched)


def conv_transpose2d_naive(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> np.ndarray:
    """Loop version of :func:`conv_transpose2d`: each input pixel stamps ``x[n, c, i, j] * weight[c]``.

    The stamp of pixel (i, j) lands at rows ``i stride + u dilation - padding`` and
    columns ``j stride + v dilation - padding``. Same parameters and shapes.

    Examples
    --------
    >>> conv_transpose2d_naive(np.array([[[[1, 2]]]]), np.array([[[[1, 1]]]]), stride=2)[0, 0]
    array([[1., 1., 2., 2.]])
    """
    x, weight, bias, stride, padding, dilation, G, out_size, unbatched = _setup(
        x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    N, C, H, W = x.shape
    Cg, Fg, KH, KW = C // G, weight.shape[1], weight.shape[2], weight.shape[3]
    (sh, sw), (dh, dw) = stride, dilation
    full = np.zeros((N, G * Fg, *_full_size(x, weight, stride, dilation, out_size, padding)),
                    dtype=np.result_type(x, weight))
    for n in range(N):
        for c in range(C):
            f0 = (c // Cg) * Fg  # input channel c feeds the Fg outputs of its group
            for i in range(H):
                for j in range(W):
                    full[n, f0 : f0 + Fg, i * sh : i * sh + dh * (KH - 1) + 1 : dh,
                         j * sw : j * sw + dw * (KW - 1) + 1 : dw] += x[n, c, i, j] * weight[c]
    return _crop(full, padding, out_size, bias, unbatched)
