"""Explorer 6: convolution as a matrix, sparse and weight-shared, and the parameter counts against a dense layer.

:func:`conv_matrix_result` computes, :class:`ConvMatrixView` draws,
:func:`plot_conv_matrix` is the static figure and :func:`conv_matrix_viewer` the
widget. Lecture notebook 04.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

import course.ops as ops

from . import controls as C
from .parse import parse_matrix
from .render import Labels, View, blank_axes, cell_lines, cell_positions, fmt, make_plot, set_image

__all__ = ["ConvMatrixView", "conv_matrix_result", "conv_matrix_viewer", "plot_conv_matrix"]


def conv_matrix_result(input_shape=8, kernel=(-1, 0, 1), *, stride: int = 1, padding: int = 0,
                       dilation: int = 1, bias: bool = False) -> dict[str, Any]:
    """The matrix of a one-channel convolution, which entries share a weight, and the parameter counts.

    Parameters
    ----------
    input_shape : int or (int, int)
        Length L of a 1-D input, or (H, W) of a 2-D one.
    kernel : array_like, shape (K,) or (KH, KW)
        One-channel kernel; its dimension must match the input's.
    stride, padding, dilation : int, keyword-only
    bias : bool, keyword-only
        Count a bias in both layers.

    Returns
    -------
    dict
        ``matrix`` (shape (L_out, L) or (H_out W_out, H W)) from
        :func:`course.ops.conv_matrix`; ``tap`` (same shape, int: 0 for structural
        zeros, ``t + 1`` where kernel entry ``t`` (row-major) sits, built by
        passing the kernel positions 1..K as weights); ``output_shape``;
        ``conv_params`` and ``dense_params`` from :func:`course.ops.num_parameters`;
        ``nonzeros``.

    Examples
    --------
    The lectures' 3x3 input with a 2x2 kernel gives a 4x9 matrix:

    >>> r = conv_matrix_result((3, 3), [[1, 2], [2, 1]])
    >>> r["matrix"][0]
    array([1., 2., 0., 2., 1., 0., 0., 0., 0.])
    >>> r["conv_params"], r["dense_params"]
    (4, 36)
    """
    shape = (int(input_shape),) if np.isscalar(input_shape) else tuple(int(s) for s in input_shape)
    kernel = np.asarray(kernel, dtype=np.float64)
    if len(shape) not in (1, 2):
        raise ValueError(f"`input_shape` must be L or (H, W), got {shape}")
    if kernel.ndim != len(shape):
        raise ValueError(f"`kernel` must have {len(shape)} dimension(s) for input shape {shape}, "
                         f"got shape {kernel.shape}")
    positions = np.arange(1, kernel.size + 1, dtype=np.float64).reshape(kernel.shape)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    matrix = np.asarray(ops.conv_matrix((1, *shape), kernel[None, None], **kw))
    tap = np.rint(np.asarray(ops.conv_matrix((1, *shape), positions[None, None], **kw))).astype(int)
    out_shape = tuple(ops.conv_output_size(n, k, stride, padding, dilation) for n, k in zip(shape, kernel.shape))
    return {
        "matrix": matrix,
        "tap": tap,
        "kernel": kernel,
        "input_shape": shape,
        "output_shape": out_shape,
        "conv_params": ops.num_parameters(1, 1, kernel.shape, bias=bias),
        "dense_params": ops.num_parameters(matrix.shape[1], matrix.shape[0], bias=bias),
        "nonzeros": int(np.count_nonzero(tap)),
        "bias": bool(bias),
    }


def _tap_colors(n: int) -> ListedColormap:
    base = plt.get_cmap("tab20" if n > 10 else "tab10")
    return ListedColormap(["white"] + [base(i % base.N) for i in range(n)])


class ConvMatrixView(View):
    """The matrix with each entry coloured by the kernel weight it is a copy of
    (white: always zero), the kernel in the same colours, and the parameter counts of
    the convolution and of the dense layer with the same shape.

    The three axes and their artists are made once; a new matrix shape only moves the
    axes (new width ratios) and redraws the cell borders.
    """

    function = staticmethod(conv_matrix_result)
    figsize = (10, 4.2)

    def __init__(self) -> None:
        super().__init__()
        fig = self.figure
        self.ax_m, self.ax_k, self.ax_p = (fig.add_subplot(1, 3, i + 1) for i in range(3))
        for ax in (self.ax_m, self.ax_k, self.ax_p):
            blank_axes(ax)
        self.im_m = self.ax_m.imshow(np.zeros((1, 1)), interpolation="nearest", aspect="equal")
        self.im_k = self.ax_k.imshow(np.zeros((1, 1)), interpolation="nearest")
        self.labels_m = Labels(self.ax_m, fontsize=9)
        self.labels_k = Labels(self.ax_k, fontsize=11)
        self.ax_k.set_title("kernel (colour = weight)", fontsize=9.5)
        self.params = self.ax_p.text(0.05, 0.95, "", transform=self.ax_p.transAxes, ha="left", va="top",
                                     fontsize=10)
        self.title = fig.suptitle("", fontsize=10.5)
        self._borders: list = []
        self._layout: tuple | None = None

    def _arrange(self, rows: int, cols: int, kshape: tuple[int, int]) -> None:
        """Size the figure and the axes for a (rows, cols) matrix and a kernel of shape kshape."""
        fig = self.figure
        fig.set_size_inches(10, float(np.clip(0.32 * rows + 2.2, 3.0, 7.5)))
        grid = fig.add_gridspec(1, 3, width_ratios=[max(cols, 6), max(kshape[1], 2), 4], left=0.03,
                                right=0.99, top=0.80, bottom=0.04, wspace=0.15)
        for i, ax in enumerate((self.ax_m, self.ax_k, self.ax_p)):
            ax.set_subplotspec(grid[0, i])
        for lines in self._borders:
            lines.remove()
        self._borders = (cell_lines(self.ax_m, rows, cols, color="0.85", lw=0.5)
                         + cell_lines(self.ax_k, *kshape))
        self.labels_m.fontsize = 9 if cols <= 16 else 6.5
        self._layout = (rows, cols, kshape)

    def draw(self, res: dict[str, Any]) -> None:
        M, tap, k = res["matrix"], res["tap"], res["kernel"]
        rows, cols = M.shape
        k2 = k if k.ndim == 2 else k[None]
        if (rows, cols, k2.shape) != self._layout:
            self._arrange(rows, cols, k2.shape)
        cmap = _tap_colors(k.size)
        set_image(self.im_m, tap)
        set_image(self.im_k, np.arange(1, k.size + 1).reshape(k2.shape))
        for im in (self.im_m, self.im_k):
            im.set_cmap(cmap)
            im.set_clim(-0.5, k.size + 0.5)
        if rows * cols <= 900:
            self.labels_m.set_labels(
                cell_positions(rows, cols), [fmt(m) if t else "0" for m, t in zip(M.ravel(), tap.ravel())],
                ["black" if t else "0.75" for t in tap.ravel()])
        else:
            self.labels_m.set_labels(np.empty((0, 2)), [])
        self.labels_k.set_labels(cell_positions(*k2.shape), [fmt(v) for v in k2.ravel()])
        in_desc = "×".join(map(str, res["input_shape"]))
        out_desc = "×".join(map(str, res["output_shape"]))
        self.ax_m.set_title(f"matrix {rows}×{cols}: output ({out_desc}, flattened) = M @ input ({in_desc}, "
                            f"flattened)", fontsize=9.5)
        what = "weights + bias" if res["bias"] else "weights"
        self.params.set_text(f"parameters ({what})\n\nconvolution: {res['conv_params']:,}\n"
                             f"dense layer {cols} → {rows}: {res['dense_params']:,}")
        self.title.set_text(f"convolution as a sparse, weight-shared matrix: {res['nonzeros']} of {rows * cols} "
                            f"entries non-zero ({100 * res['nonzeros'] / (rows * cols):.0f}%), "
                            f"all copies of {k.size} weights")


plot_conv_matrix = make_plot(ConvMatrixView, "plot_conv_matrix",
                             "Draw the matrix of a small convolution (see :func:`conv_matrix_result`).")


# ----------------------------------------------------------------------------- the widget

_DEFAULTS = {"1-D": (8, "-1 0 1"), "2-D": (3, "1 2\n2 1")}


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    one_d = values["dims"] == "1-D"
    n = values["input_size"]
    return {"input_shape": n if one_d else (n, n),
            "kernel": parse_matrix(values["kernel"], "kernel", ndim=1 if one_d else 2)}


def _on_dims(values: dict[str, Any], dims: str) -> dict[str, Any]:
    size, text = _DEFAULTS[dims]
    return {"input_size": size, "kernel": text}


def conv_matrix_viewer():
    """The sparse, weight-shared matrix of a small 1-D or 2-D convolution, and the parameter counts.

    Returns
    -------
    Explorer
        Controls: ``dims`` (1-D / 2-D), ``input_size`` (L, or H = W), ``kernel``
        (text), ``stride``, ``padding``, ``dilation``, ``bias``. ``result`` is
        :func:`conv_matrix_result`'s dict. The 2-D default is the lectures' 3x3
        input with the 2x2 kernel [[1, 2], [2, 1]].
    """
    from .widget import build

    controls = {
        "dims": C.Toggle("input", ["1-D", "2-D"], default="1-D"),
        "input_size": C.Slider("input size", 1, 12, default=8),
        "kernel": C.TextBox("kernel", "-1 0 1", width="200px", height="80px"),
        "stride": C.Slider("stride", 1, 3),
        "padding": C.Slider("padding", 0, 3),
        "dilation": C.Slider("dilation", 1, 3),
        "bias": C.Checkbox("count biases"),
    }
    layout = [C.Row(C.Column("dims", "input_size", "bias"), C.Column("stride", "padding", "dilation"), "kernel")]
    return build("conv-matrix", ConvMatrixView(), controls, layout, arguments=_arguments,
                 reactions={"dims": _on_dims})
