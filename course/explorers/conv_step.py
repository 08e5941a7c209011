"""Explorer 1: a convolution step by step: window, products, their sum and the output filling in.

:func:`conv_step` computes one step, :class:`ConvStepView` draws it,
:func:`plot_conv_step` is the static figure and :func:`conv_stepper` the widget.
Lecture notebook 02, the deck's 5x5 example.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

import course.ops as ops

from . import controls as C
from .parse import format_matrix, parse_matrix
from .render import Labels, View, cell_grid, cell_positions, fill, fmt, make_plot

__all__ = ["DECK_INPUT", "VERTICAL_EDGE", "ConvStepView", "conv_step", "conv_stepper", "plot_conv_step"]

#: The 5x5 input of the step-by-step example in the lectures (deck 004).
DECK_INPUT = np.array(
    [[1, 2, 3, 4, 5], [1, 3, 2, 3, 10], [3, 2, 1, 4, 5], [6, 1, 1, 2, 2], [3, 2, 1, 5, 4]]
)
#: The vertical-edge detector of the same example; its output on DECK_INPUT is
#: [[-1, -4, -14], [6, -3, -13], [9, -6, -8]].
VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])

_DEFAULT_1D_X = np.array([1, 3, 2, 3, 10, 5, 2, 2])
_DEFAULT_1D_KERNEL = np.array([1, 0, -1])


def _as_signal(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"`{name}` must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D or 2-D array, got shape {arr.shape}")
    return arr


def conv_step(x, kernel, step: int = 0, *, flip: bool = False) -> dict[str, Any]:
    """The numbers of one step of a sliding-window (valid, stride 1) convolution.

    Parameters
    ----------
    x : array_like, shape (H, W) or (L,)
        Input; a 1-D input is a signal and needs a 1-D kernel.
    kernel : array_like, shape (KH, KW) or (K,)
    step : int
        Which output cell is being computed, in row-major order; taken modulo the
        number of output cells, so stepping past the end starts again.
    flip : bool, keyword-only
        False: cross-correlation (what ``conv2d`` computes); True: the mathematical
        convolution, which flips the kernel in both directions first.

    Returns
    -------
    dict
        ``output`` (ndarray, shape (H_out, W_out) or (L_out,)), from
        :func:`course.ops.correlate2d` / :func:`course.ops.convolve2d`;
        ``applied_kernel`` (the kernel as laid on the input: flipped when ``flip``);
        ``position`` (row, col) of the output cell; ``window`` (the input values
        under the kernel), ``products`` (``window * applied_kernel``), ``value``
        (the output cell, equal to ``products.sum()``); ``n_steps``; ``x``,
        ``kernel`` as 2-D arrays; ``one_d``.

    Raises
    ------
    ValueError
        If the shapes do not match or the kernel is larger than the input.
    TypeError
        If ``x`` or ``kernel`` is not numeric or ``step`` is not an int.

    Examples
    --------
    >>> r = conv_step(DECK_INPUT, VERTICAL_EDGE, 2)
    >>> r["value"], r["position"]
    (-14.0, (0, 2))
    """
    x = _as_signal(x, "x")
    kernel = _as_signal(kernel, "kernel")
    if x.ndim != kernel.ndim:
        raise ValueError(
            f"`x` and `kernel` must both be 1-D or both 2-D, got x: {x.shape}, kernel: {kernel.shape}"
        )
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"`step` must be an int, got {step!r}")
    one_d = x.ndim == 1
    x2 = x[None] if one_d else x
    k2 = kernel[None] if one_d else kernel
    out_rows = ops.conv_output_size(x2.shape[0], k2.shape[0])
    out_cols = ops.conv_output_size(x2.shape[1], k2.shape[1])
    output = ops.convolve2d(x2, k2) if flip else ops.correlate2d(x2, k2)
    applied = k2[::-1, ::-1] if flip else k2
    n_steps = out_rows * out_cols
    step = int(step) % n_steps
    r, c = divmod(step, out_cols)
    window = x2[r : r + k2.shape[0], c : c + k2.shape[1]]
    return {
        "x": x2,
        "kernel": k2,
        "applied_kernel": applied,
        "output": output[0] if one_d else output,
        "output_2d": output,
        "position": (r, c),
        "window": window,
        "products": window * applied,
        "value": float(output[r, c]),
        "step": step,
        "n_steps": n_steps,
        "flip": bool(flip),
        "one_d": one_d,
    }


class _NumberGrid:
    """A small matrix drawn as coloured cells with numbers, updated in place."""

    def __init__(self, ax, shape: tuple[int, int], *, fontsize: float, title: str) -> None:
        rows, cols = shape
        self.ax = ax
        self.im = ax.imshow(np.ones((rows, cols, 3)), interpolation="nearest",
                            extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
        self.labels = Labels(ax, fontsize=fontsize)
        self.positions = cell_positions(rows, cols)
        cell_grid(ax, rows, cols)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)

    def update(self, values: np.ndarray, colors: np.ndarray, show: np.ndarray | None = None) -> None:
        self.im.set_data(colors)
        shown = np.ones(values.shape, bool) if show is None else np.asarray(show, bool)
        self.labels.set_labels(self.positions[shown.ravel()], [fmt(v) for v in values[shown]])


class ConvStepView(View):
    """Input with the window and the kernel values it meets, the kernel, the element-wise
    products, and the output filled up to this step.

    The axes and text objects are made once per input/kernel shape; a new step
    only changes colours, strings and positions.
    """

    function = staticmethod(conv_step)
    figsize = (9, 3.2)

    def __init__(self) -> None:
        super().__init__()
        self._shapes: tuple | None = None

    def _build(self, shape, kshape, oshape) -> None:
        (H, W), (KH, KW), (OH, OW) = shape, kshape, oshape
        fig = self.figure
        fig.clear()
        cols = W + 2 * KW + OW
        fig.set_size_inches(float(np.clip(0.5 * cols + 1.5, 6.5, 11.0)),
                            float(np.clip(0.5 * max(H, KH) + 1.9, 2.3, 7.5)))
        grid = fig.add_gridspec(1, 4, width_ratios=[W, KW, KW, OW], wspace=0.35,
                                left=0.02, right=0.98, top=0.80, bottom=0.22)
        axes = [fig.add_subplot(grid[0, i]) for i in range(4)]
        size = 11 if max(H, W) <= 8 else 8
        self.grids = [_NumberGrid(axes[0], (H, W), fontsize=size, title="input x"),
                      _NumberGrid(axes[1], (KH, KW), fontsize=size, title="kernel"),
                      _NumberGrid(axes[2], (KH, KW), fontsize=size, title="window ⊙ kernel"),
                      _NumberGrid(axes[3], (OH, OW), fontsize=size, title="output")]
        # the kernel value each input cell of the window meets, as a red superscript
        self.marks = Labels(axes[0], fontsize=size * 0.62, color="#c00000", ha="right", va="top")
        self.window = axes[0].add_patch(Rectangle((-0.5, -0.5), KW, KH, fill=False, lw=2.5, ec="#c00000"))
        self.title = fig.suptitle("", fontsize=11)
        self.sum_text = fig.text(0.5, 0.06, "", ha="center", fontsize=10)

    def draw(self, res: dict[str, Any]) -> None:
        x2, k2, out = res["x"], res["applied_kernel"], res["output_2d"]
        (H, W), (KH, KW), (OH, OW) = x2.shape, k2.shape, out.shape
        shapes = (x2.shape, k2.shape, out.shape)
        if shapes != self._shapes:
            self._build(*shapes)
            self._shapes = shapes
        r, c = res["position"]
        colors = fill((H, W), "white")
        colors[r : r + KH, c : c + KW] = to_rgb("#ffd966")
        self.grids[0].update(x2, colors)
        self.marks.set_labels(cell_positions(KH, KW) + (c + 0.42, r - 0.42), [fmt(v) for v in k2.ravel()])
        self.window.set_xy((c - 0.5, r - 0.5))
        self.grids[1].update(k2, fill((KH, KW), "#f4cccc"))
        self.grids[1].ax.set_title("kernel, flipped" if res["flip"] else "kernel", fontsize=10)
        self.grids[2].update(res["products"], fill((KH, KW), "#fff2cc"))
        done = np.arange(OH * OW).reshape(OH, OW) <= res["step"]
        out_colors = fill((OH, OW), "white")
        out_colors[done] = to_rgb("#d9ead3")
        out_colors[r, c] = to_rgb("#93c47d")
        self.grids[3].update(out, out_colors, show=done)
        name = "convolution (kernel flipped)" if res["flip"] else "cross-correlation"
        where = f"output[{c}]" if res["one_d"] else f"output[{r}, {c}]"
        self.title.set_text(f"{name}, step {res['step'] + 1} of {res['n_steps']}: {where}")
        terms = [f"{fmt(a)}×{fmt(b)}" for a, b in zip(res["window"].ravel(), k2.ravel())]
        if len(terms) > 12:
            terms = terms[:6] + ["…"] + terms[-2:]
        self.sum_text.set_text(" + ".join(terms) + f" = {fmt(res['value'])}")
        self.sum_text.set_fontsize(10 if len(terms) <= 9 else 8)


plot_conv_step = make_plot(ConvStepView, "plot_conv_step",
                           "Draw one step of sliding ``kernel`` over ``x`` (see :func:`conv_step`).")


# ----------------------------------------------------------------------------- the widget

_OPERATIONS = ["cross-correlation", "convolution"]


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    ndim = 1 if values["dims"] == "1-D" else 2
    return {"x": parse_matrix(values["x"], "x", ndim=ndim),
            "kernel": parse_matrix(values["kernel"], "kernel", ndim=ndim),
            "flip": values["operation"] == "convolution"}


def _ranges(kwargs: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {"step": (0, conv_step(kwargs["x"], kwargs["kernel"], 0)["n_steps"] - 1)}


def _on_dims(values: dict[str, Any], dims: str) -> dict[str, Any]:
    # a new dimension needs matching defaults for both boxes
    x, kernel = (_DEFAULT_1D_X, _DEFAULT_1D_KERNEL) if dims == "1-D" else (DECK_INPUT, VERTICAL_EDGE)
    return {"x": format_matrix(x), "kernel": format_matrix(kernel), "step": 0}


def conv_stepper(x=None, kernel=None):
    """Step a kernel over a small input: window, products, their sum and the output filling in.

    Parameters
    ----------
    x : array_like, shape (H, W) or (L,), optional
        Default: the lectures' 5x5 input :data:`DECK_INPUT`.
    kernel : array_like, shape (KH, KW) or (K,), optional
        Default: the vertical-edge kernel :data:`VERTICAL_EDGE`
        (output ``[[-1, -4, -14], [6, -3, -13], [9, -6, -8]]``).

    Returns
    -------
    Explorer
        Controls: ``dims`` (2-D / 1-D), ``x`` and ``kernel`` (text, one row per
        line), ``operation`` (cross-correlation / convolution), ``step``, ``play``,
        ``back``, ``next``. ``result`` is :func:`conv_step`'s dict.
    """
    from .widget import build

    x = DECK_INPUT if x is None else np.asarray(x)
    one_d = x.ndim == 1
    if kernel is None:
        kernel = _DEFAULT_1D_KERNEL if one_d else VERTICAL_EDGE
    controls = {
        "dims": C.Toggle("input", ["2-D", "1-D"], default="1-D" if one_d else "2-D"),
        "x": C.TextBox("x", format_matrix(x)),
        "kernel": C.TextBox("kernel", format_matrix(kernel), width="170px"),
        "operation": C.Toggle("operation", _OPERATIONS, default="cross-correlation", button_width="130px",
                              tooltips=["slide the kernel as it is (what conv2d computes)",
                                        "flip the kernel first (the mathematical convolution)"]),
        "step": C.Slider("step", 0, 8),
        "play": C.Play("step", interval=900),
        "back": C.Jump("◀ back", "step", -1),
        "next": C.Jump("next ▶", "step", +1),
    }
    layout = [
        C.Row("dims", "operation"),
        C.Row("x", "kernel", C.Note("<small>one row per line, numbers separated by spaces;"
                                    "<br>click outside the box to apply</small>")),
        C.Row("back", "play", "next", "step"),
    ]
    return build("conv-stepper", ConvStepView(), controls, layout, arguments=_arguments, ranges=_ranges,
                 reactions={"dims": _on_dims})
