"""Static figures of the course's explorers, all computed through :mod:`course.ops`.

Every explorer comes in three layers, following the mpl-interactions pattern:

1. a *compute* function (``conv_step``, ``conv_arithmetic``, ``kernel_result``,
   ``pooling_result``, ``receptive_field_result``, ``conv_matrix_result``,
   ``feature_maps``) that returns the numbers for given settings as a dict of
   arrays; it calls :mod:`course.ops` for every convolution, pooling, output size,
   receptive field and parameter count, and never draws;
2. a *view* class that owns one matplotlib figure and redraws it for new settings
   (the widgets in :mod:`course.widgets` keep one view alive and only update it,
   which is what makes a redraw fast; see ``benchmarks/bench_widgets.py``);
3. a *plot* function (``plot_conv_step``, ``plot_conv_arithmetic``, ...) that draws
   one figure for given settings, for notebooks and for the book.

The figures are closed in pyplot right away, so a notebook shows each of them once,
as the value of its cell.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

import course.ops as ops
from course import data

__all__ = [
    "DECK_INPUT",
    "DEFAULT_FEATURE_MAP",
    "KERNEL_PRESETS",
    "RECEPTIVE_FIELD_PRESETS",
    "VERTICAL_EDGE",
    "ConvArithmeticView",
    "ConvMatrixView",
    "ConvStepView",
    "FeatureMapView",
    "KernelResultView",
    "PoolingView",
    "ReceptiveFieldView",
    "conv_arithmetic",
    "conv_matrix_result",
    "conv_step",
    "feature_maps",
    "render_figure",
    "format_layers",
    "kernel_result",
    "parse_layers",
    "parse_matrix",
    "plot_conv_arithmetic",
    "plot_conv_matrix",
    "plot_conv_step",
    "plot_feature_maps",
    "plot_kernel_result",
    "plot_pooling",
    "plot_receptive_field",
    "pooling_result",
    "receptive_field_result",
    "receptive_field_rows",
    "receptive_field_table_html",
    "save_conv_arithmetic_gif",
]

# ----------------------------------------------------------------------------- worked examples

#: The 5x5 input of the step-by-step example in the lectures (deck 004).
DECK_INPUT = np.array(
    [[1, 2, 3, 4, 5], [1, 3, 2, 3, 10], [3, 2, 1, 4, 5], [6, 1, 1, 2, 2], [3, 2, 1, 5, 4]]
)
#: The vertical-edge detector of the same example; its output on DECK_INPUT is
#: [[-1, -4, -14], [6, -3, -13], [9, -6, -8]].
VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])

_IDENTITY = np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])
_BOX = np.full((3, 3), 1 / 9)
_SOBEL_X = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])

#: Named 3x3 kernels of the lectures.
KERNEL_PRESETS: dict[str, np.ndarray] = {
    "identity": _IDENTITY,
    "box blur (moving average)": _BOX,
    "Gaussian blur": np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen (2 identity - box blur)": 2 * _IDENTITY - _BOX,
    "Sobel x (horizontal gradient)": _SOBEL_X,
    "Sobel y (vertical gradient)": _SOBEL_X.T.copy(),
    "Laplacian": np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "vertical edge detector": VERTICAL_EDGE.astype(float),
    "horizontal edge detector": VERTICAL_EDGE.T.astype(float),
    "high-pass (8 centre, -1 around)": np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}


def _make_feature_map() -> np.ndarray:
    # A sparse map: weak background and four strong responses, so that a shift by
    # one pixel mostly keeps each maximum inside its 2x2 pooling window.
    rng = np.random.default_rng(7)
    fmap = (rng.random((8, 8)) < 0.3).astype(np.int64)
    for (r, c), v in {(1, 2): 9, (2, 5): 8, (5, 1): 7, (6, 6): 9}.items():
        fmap[r, c] = v
    return fmap


#: The default 8x8 feature map of the pooling explorer (integers 0..9).
DEFAULT_FEATURE_MAP = _make_feature_map()

_L = ops.Layer
#: Layer stacks for the receptive-field explorer: (layers, default input size).
RECEPTIVE_FIELD_PRESETS: dict[str, tuple[list, int]] = {
    # Yu & Koltun's context module: 3x3 convolutions with dilation 1, 1, 2, 4, 8, 16,
    # 1 and a 1x1 convolution; padding keeps the resolution. Fields 3, 5, 9, ..., 67.
    "dilated context module": (
        [_L(3, 1, 1, 1), _L(3, 1, 1, 1), _L(3, 1, 2, 2), _L(3, 1, 4, 4), _L(3, 1, 8, 8),
         _L(3, 1, 16, 16), _L(3, 1, 1, 1), _L(1)],
        75,
    ),
    "three 3x3 convolutions": ([_L(3), _L(3), _L(3)], 9),
    "conv 5, pool 2, conv 5, pool 2 (LeNet-like)": (
        [_L(5), _L(2, 2, name="pool"), _L(5), _L(2, 2, name="pool")],
        32,
    ),
    "conv 3 stride 2, three times": ([_L(3, 2), _L(3, 2), _L(3, 2)], 23),
}

_DIVERGING = "RdBu_r"
_FIG_DPI = 100


# ----------------------------------------------------------------------------- helpers


class _TextCachingRenderer(RendererAgg):
    """Agg renderer that rasterizes each distinct horizontal line of text once.

    Matplotlib 3.11 shapes and rasterizes every glyph of every text on every draw
    (about 0.1 ms a glyph); an explorer redraws its titles, labels and tick labels
    on each control change, though few of them change. Here a line is drawn once
    into a small transparent buffer, kept by its string, font, colour and dpi, and
    composited as an image after that: the same pixels to within the sub-pixel
    placement of the line (under half a pixel), in a fraction of the time.
    """

    _cache: dict[tuple, tuple[np.ndarray, int, float]] = {}
    _CACHE_SIZE = 4096
    _PAD = 2

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        plain = mtext is None or (mtext.get_fontfeatures() is None and mtext.get_language() is None)
        if ismath or angle % 360 or not s.strip() or not plain:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
                prop.get_stretch(), prop.get_size_in_points(), prop.get_file())
        key = (s, font, self.dpi, tuple(gc.get_rgb()), gc.get_alpha(), gc.get_antialiased())
        hit = self._cache.get(key)
        if hit is None:
            width, height, descent = self.get_text_width_height_descent(s, prop, False)
            pad = self._PAD
            small = RendererAgg(math.ceil(width) + 2 * pad, math.ceil(height) + 2 * pad, self.dpi)
            baseline = pad + height - descent  # from the top, as x, y are given here
            RendererAgg.draw_text(small, gc, pad, baseline, s, prop, 0, False, mtext)
            # draw_image takes the bottom row first
            hit = (np.asarray(small.buffer_rgba())[::-1].copy(), pad, baseline)
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = hit
        image, pad, baseline = hit
        top = round(y - baseline)  # y is the baseline, counted from the top of the canvas
        self.draw_image(gc, round(x - pad), self.height - top - image.shape[0], image)


class _Canvas(FigureCanvasAgg):
    """An Agg canvas whose renderer caches rasterized text (see _TextCachingRenderer)."""

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _TextCachingRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer


def _new_figure(width: float, height: float) -> Figure:
    """A figure that pyplot does not keep: it shows once, as a cell's value."""
    fig = plt.figure(figsize=(width, height), dpi=_FIG_DPI)
    plt.close(fig)
    _Canvas(fig)  # an Agg canvas of its own: it keeps its renderer between redraws
    return fig


def render_figure(fig: Figure, format: str = "png") -> bytes:
    """Render ``fig`` to image bytes for an ``ipywidgets.Image``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    format : {'png', 'jpeg'}
        PNG (fast compression) suits diagrams of flat colour and text; photos and
        heat maps encode about ten times faster as JPEG (quality 92, no chroma
        subsampling, so thin lines and text stay sharp).

    Returns
    -------
    bytes
    """
    if format not in ("png", "jpeg"):
        raise ValueError(f"`format` must be 'png' or 'jpeg', got {format!r}")
    from PIL import Image

    fig.canvas.draw()
    # the figures are opaque: encoding RGB instead of RGBA saves a quarter of the work
    # (and PIL drops the alpha channel five times faster than a NumPy copy)
    rgba = fig.canvas.buffer_rgba()
    rgb = Image.frombuffer("RGBA", fig.canvas.get_width_height(physical=True), rgba, "raw", "RGBA", 0, 1)
    rgb = rgb.convert("RGB")
    buf = io.BytesIO()
    if format == "png":
        rgb.save(buf, format="png", compress_level=1)
    else:
        rgb.save(buf, format="jpeg", quality=92, subsampling=0)
    return buf.getvalue()


def _fmt(value: float) -> str:
    value = float(value)
    if np.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


@lru_cache(maxsize=8192)
def _label_path(text: str, size: float, ha: str, va: str) -> Path:
    """The outline of ``text`` in points, anchored at (0, 0) as ``ha``/``va`` say.

    Vertically every label is placed by the extent of the digit "0", so that all
    numbers of a grid share one baseline whatever their glyphs.
    """
    prop = FontProperties(size=size)
    path = TextPath((0, 0), text, size=size, prop=prop)
    if len(path.vertices) == 0:
        return path
    ext, ref = path.get_extents(), TextPath((0, 0), "0", size=size, prop=prop).get_extents()
    dx = {"center": -(ext.x0 + ext.x1) / 2, "left": -ext.x0, "right": -ext.x1}[ha]
    dy = {"center": -(ref.y0 + ref.y1) / 2, "bottom": -ref.y0, "top": -ref.y1}[va]
    return Path(path.vertices + (dx, dy), path.codes)


class _Labels(PathCollection):
    """Many short strings (the numbers of a grid) drawn as one collection of outlines.

    Matplotlib lays out and rasterizes every ``Text`` artist again on every draw,
    about 1 ms each; the explorers' grids hold up to a few hundred numbers and redraw
    on every control change. Here each distinct string becomes a ``TextPath`` once
    (cached) and a redraw is a single path-collection draw, several times faster,
    with the same font and look. ``strings`` holds what is shown, for tests.
    """

    def __init__(self, ax, *, fontsize: float, color="black", ha: str = "center",
                 va: str = "center") -> None:
        super().__init__([], offsets=np.empty((0, 2)), offset_transform=ax.transData,
                         facecolors=color, edgecolors="none", linewidths=0)
        self.fontsize, self.color, self.ha, self.va = fontsize, color, ha, va
        self.strings: list[str] = []
        # paths are in points; the figure's dpi turns them into pixels (at any savefig dpi)
        self.set_transform(Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans)
        self.set_clip_on(False)
        ax.add_collection(self, autolim=False)

    def set_labels(self, positions, strings: Sequence[str], colors=None) -> None:
        """Show ``strings[i]`` centred (as ``ha``/``va`` say) at data point ``positions[i]`` (x, y)."""
        self.strings = [str(text) for text in strings]
        self.set_paths([_label_path(text, self.fontsize, self.ha, self.va) for text in self.strings])
        self.set_offsets(np.asarray(positions, dtype=float).reshape(-1, 2))
        self.set_facecolor(self.color if colors is None else colors)
        self.stale = True


def _cell_positions(rows: int, cols: int) -> np.ndarray:
    """(x, y) = (column, row) of every cell of a (rows, cols) imshow, row by row."""
    r, c = np.mgrid[0:rows, 0:cols]
    return np.column_stack([c.ravel(), r.ravel()])


def _blank_axes(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _cell_lines(ax, rows: int, cols: int, *, color: str = "0.35", lw: float = 1.0) -> list:
    """Lines around the cells of an imshow of shape (rows, cols); returns the two collections."""
    return [ax.hlines(np.arange(rows + 1) - 0.5, -0.5, cols - 0.5, colors=color, linewidth=lw),
            ax.vlines(np.arange(cols + 1) - 0.5, -0.5, rows - 0.5, colors=color, linewidth=lw)]


def _cell_grid(ax, rows: int, cols: int, *, color: str = "0.35", lw: float = 1.0) -> None:
    """Lines around the cells of an imshow of shape (rows, cols), and no ticks or frame."""
    _cell_lines(ax, rows, cols, color=color, lw=lw)
    _blank_axes(ax)


def _fill(shape: tuple[int, int], color: str) -> np.ndarray:
    out = np.empty(shape + (3,))
    out[...] = to_rgb(color)
    return out


def _set_image(im, values: np.ndarray) -> None:
    """Replace an imshow's data, fitting its extent and the axes to the new shape."""
    im.set_data(values)
    rows, cols = values.shape[:2]
    im.set_extent((-0.5, cols - 0.5, rows - 0.5, -0.5))
    im.axes.set_xlim(-0.5, cols - 0.5)
    im.axes.set_ylim(rows - 0.5, -0.5)


def _symmetric_limit(*arrays: np.ndarray) -> float:
    """Largest absolute finite value (at least a tiny positive number), for a 0-centred scale."""
    peak = 0.0
    for a in arrays:
        finite = np.abs(a[np.isfinite(a)])
        if finite.size:
            peak = max(peak, float(finite.max()))
    return peak if peak > 0 else 1e-12


def parse_matrix(text: str, name: str = "values", *, ndim: int | None = None) -> np.ndarray:
    """Read numbers typed by a student: rows on lines (or separated by ``;``), values by spaces or commas.

    Parameters
    ----------
    text : str
        For example ``"1 0 -1\\n1 0 -1"`` or ``"1, 2; 2, 1"``; brackets are ignored.
    name : str
        What the numbers are, for the error message.
    ndim : {1, 2}, optional
        Require one row (returned as shape (L,)) or allow several (shape (H, W)).

    Returns
    -------
    ndarray, shape (H, W), or (L,) with ``ndim=1``
        int64 when every value is an integer, otherwise float64.

    Raises
    ------
    ValueError
        On an empty text, a word that is not a number, rows of different lengths,
        or several rows where one is required.

    Examples
    --------
    >>> parse_matrix("1 0 -1; 1 0 -1")
    array([[ 1,  0, -1],
           [ 1,  0, -1]])
    """
    if not isinstance(text, str):
        raise TypeError(f"`{name}` must be text, got {type(text).__name__}")
    lines = [ln for ln in re.split(r"[;\n]", text.replace("[", " ").replace("]", " ")) if ln.strip()]
    if not lines:
        raise ValueError(f"`{name}` is empty: type numbers separated by spaces, one row per line")
    rows = []
    for number, line in enumerate(lines, start=1):
        row = []
        for word in re.split(r"[,\s]+", line.strip()):
            try:
                row.append(float(word))
            except ValueError:
                raise ValueError(
                    f"`{name}`, row {number}: {word!r} is not a number "
                    f"(type numbers separated by spaces, one row per line)"
                ) from None
        rows.append(row)
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise ValueError(f"`{name}`: rows have different lengths {lengths}; every row needs as many numbers")
    values = np.array(rows)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`{name}` must hold finite numbers")
    if np.all(values == np.round(values)):
        values = values.astype(np.int64)
    if ndim == 1:
        if values.shape[0] != 1:
            raise ValueError(f"`{name}` must be a single row in 1-D mode, got {values.shape[0]} rows")
        return values[0]
    return values


# ----------------------------------------------------------------------------- 1. convolution step by step


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
        self.labels = _Labels(ax, fontsize=fontsize)
        self.positions = _cell_positions(rows, cols)
        _cell_grid(ax, rows, cols)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)

    def update(self, values: np.ndarray, colors: np.ndarray, show: np.ndarray | None = None) -> None:
        self.im.set_data(colors)
        shown = np.ones(values.shape, bool) if show is None else np.asarray(show, bool)
        self.labels.set_labels(self.positions[shown.ravel()], [_fmt(v) for v in values[shown]])


class ConvStepView:
    """Figure of one step: input with the window, kernel, products and the output filling in.

    The axes and text objects are made once per input/kernel shape; a new step
    only changes colours, strings and positions.
    """

    image_format = "png"

    def __init__(self) -> None:
        self.figure = _new_figure(9, 3.2)
        self.result: dict[str, Any] = {}
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
        self.marks = _Labels(axes[0], fontsize=size * 0.62, color="#c00000", ha="right", va="top")
        self.window = axes[0].add_patch(Rectangle((-0.5, -0.5), KW, KH, fill=False, lw=2.5, ec="#c00000"))
        self.title = fig.suptitle("", fontsize=11)
        self.sum_text = fig.text(0.5, 0.06, "", ha="center", fontsize=10)

    def update(self, x, kernel, step: int = 0, *, flip: bool = False) -> dict[str, Any]:
        res = conv_step(x, kernel, step, flip=flip)
        self.result = res
        x2, k2, out = res["x"], res["applied_kernel"], res["output_2d"]
        (H, W), (KH, KW), (OH, OW) = x2.shape, k2.shape, out.shape
        shapes = (x2.shape, k2.shape, out.shape)
        if shapes != self._shapes:
            self._build(*shapes)
            self._shapes = shapes
        r, c = res["position"]
        colors = _fill((H, W), "white")
        colors[r : r + KH, c : c + KW] = to_rgb("#ffd966")
        self.grids[0].update(x2, colors)
        self.marks.set_labels(_cell_positions(KH, KW) + (c + 0.42, r - 0.42), [_fmt(v) for v in k2.ravel()])
        self.window.set_xy((c - 0.5, r - 0.5))
        self.grids[1].update(k2, _fill((KH, KW), "#f4cccc"))
        self.grids[1].ax.set_title("kernel, flipped" if res["flip"] else "kernel", fontsize=10)
        self.grids[2].update(res["products"], _fill((KH, KW), "#fff2cc"))
        done = np.arange(OH * OW).reshape(OH, OW) <= res["step"]
        out_colors = _fill((OH, OW), "white")
        out_colors[done] = to_rgb("#d9ead3")
        out_colors[r, c] = to_rgb("#93c47d")
        self.grids[3].update(out, out_colors, show=done)
        name = "convolution (kernel flipped)" if res["flip"] else "cross-correlation"
        where = f"output[{c}]" if res["one_d"] else f"output[{r}, {c}]"
        self.title.set_text(f"{name}, step {res['step'] + 1} of {res['n_steps']}: {where}")
        terms = [f"{_fmt(a)}×{_fmt(b)}" for a, b in zip(res["window"].ravel(), k2.ravel())]
        if len(terms) > 12:
            terms = terms[:6] + ["…"] + terms[-2:]
        self.sum_text.set_text(" + ".join(terms) + f" = {_fmt(res['value'])}")
        self.sum_text.set_fontsize(10 if len(terms) <= 9 else 8)
        return res


def plot_conv_step(x, kernel, step: int, *, flip: bool = False) -> Figure:
    """Draw step ``step`` of sliding ``kernel`` over ``x`` (see :func:`conv_step`).

    Parameters
    ----------
    x : array_like, shape (H, W) or (L,)
    kernel : array_like, shape (KH, KW) or (K,)
    step : int
        Output cell being computed (row-major), modulo the number of cells.
    flip : bool, keyword-only
        Flip the kernel (convolution) instead of cross-correlation.

    Returns
    -------
    matplotlib.figure.Figure
        Input with the window and the kernel values it meets, the kernel, the
        element-wise products, and the output filled up to this step.
    """
    view = ConvStepView()
    view.update(x, kernel, step, flip=flip)
    return view.figure


# ----------------------------------------------------------------------------- 2. convolution arithmetic

_DATA, _DATA_HIT = to_rgb("#6d9eeb"), to_rgb("#1c4587")
_PAD, _PAD_HIT = to_rgb("#f3f3f3"), to_rgb("#999999")
_OUT_TODO, _OUT_DONE, _OUT_NOW = to_rgb("#ffffff"), to_rgb("#a2e0d3"), to_rgb("#1b8a75")


def conv_arithmetic(
    input_size: int = 5,
    kernel_size: int = 3,
    padding: int = 0,
    stride: int = 1,
    dilation: int = 1,
    transposed: bool = False,
    step: int = 0,
) -> dict[str, Any]:
    """Geometry of one step of a square convolution, as in the convolution-arithmetic animations.

    For a direct convolution the grid is the input with ``padding`` cells around
    it; the kernel's ``kernel_size`` taps, ``dilation`` apart, start at
    ``-padding + stride * (row, col)``. A transposed convolution is drawn as the
    equivalent direct convolution with stride 1 (Dumoulin & Visin): the input
    cells are spread ``stride`` apart (``stride - 1`` zeros between them) and the
    spread input gets ``dilation (kernel_size - 1) - padding`` cells of padding
    (cropped when that is negative).

    Parameters
    ----------
    input_size, kernel_size, padding, stride, dilation : int
        As in ``nn.Conv2d`` / ``nn.ConvTranspose2d``, the same along both axes.
    transposed : bool
        Draw the transposed convolution with these settings.
    step : int
        Output cell (row-major), modulo the number of output cells.

    Returns
    -------
    dict
        ``output_size`` from :func:`course.ops.conv_output_size` (None when the
        settings are invalid, and then ``error`` holds the message of the
        ValueError/TypeError); ``formula`` (the size formula evaluated on these
        values, mathtext); ``coords`` (grid coordinates along one axis, input cell
        ``q`` sits at ``q`` or, transposed, at ``q * stride``); ``is_data`` (bool,
        shape (G, G): grid cells holding input values); ``taps`` (the kernel's grid
        coordinates along one axis at this step, rows then columns);
        ``footprint_inputs`` (sorted list of input cells (row, col) under the
        kernel); ``output_cell`` (row, col); ``n_steps``.

    Examples
    --------
    >>> r = conv_arithmetic(5, 3, padding=1, stride=2)
    >>> r["output_size"], r["footprint_inputs"][:2]
    (3, [(0, 0), (0, 1)])
    """
    settings = dict(input_size=input_size, kernel_size=kernel_size, padding=padding,
                    stride=stride, dilation=dilation, transposed=bool(transposed))
    result: dict[str, Any] = {**settings, "error": None, "output_size": None, "formula": "",
                              "coords": None, "is_data": None, "taps": None,
                              "footprint_inputs": [], "output_cell": None, "n_steps": 0}
    try:
        size = ops.conv_output_size(input_size, kernel_size, stride, padding, dilation,
                                    transposed=bool(transposed))
    except (ValueError, TypeError) as err:
        result["error"] = str(err)
        size = None
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
               for v in (input_size, kernel_size, padding, stride, dilation))
    if ints:
        ints = min(input_size, kernel_size, stride, dilation) >= 1 and padding >= 0
    if not ints:
        return result
    i, k, p, s, d = input_size, kernel_size, padding, stride, dilation
    if transposed:
        extra = d * (k - 1) - p
        lo, hi, spacing = -extra, (i - 1) * s + extra, s
        result["formula"] = (
            r"$o = (i-1)\,s - 2p + d\,(k-1) + 1"
            + rf" = ({i}-1)\cdot{s} - 2\cdot{p} + {d}\cdot({k}-1) + 1"
            + (rf" = {size}$" if size is not None else "$")
        )
    else:
        lo, hi, spacing = -p, i - 1 + p, 1
        result["formula"] = (
            r"$o = \left\lfloor \frac{i + 2p - d\,(k-1) - 1}{s} \right\rfloor + 1"
            + rf" = \left\lfloor \frac{{{i} + 2\cdot{p} - {d}\cdot({k}-1) - 1}}{{{s}}} \right\rfloor + 1"
            + (rf" = {size}$" if size is not None else "$")
        )
    coords = np.arange(lo, hi + 1)
    on_data = (coords % spacing == 0) & (coords >= 0) & (coords <= (i - 1) * spacing)
    result["coords"] = coords
    result["is_data"] = on_data[:, None] & on_data[None, :]
    if size is None:
        return result
    result["output_size"] = size
    n_steps = size * size
    step = int(step) % n_steps
    row, col = divmod(step, size)
    move = 1 if transposed else s  # the equivalent direct convolution of a transposed one has stride 1
    taps_r = lo + row * move + d * np.arange(k)
    taps_c = lo + col * move + d * np.arange(k)
    inputs = [
        (int(a) // spacing, int(b) // spacing)
        for a in taps_r for b in taps_c
        if on_data[a - lo] and on_data[b - lo]
    ]
    result.update(step=step, n_steps=n_steps, output_cell=(row, col), taps=(taps_r, taps_c),
                  footprint_inputs=sorted(inputs))
    return result


class ConvArithmeticView:
    """The convolution-arithmetic picture: padded input, kernel footprint, output grid and formula.

    The axes, images and texts are made once; a new setting changes their data, and
    the cell borders only when a grid changes size.
    """

    image_format = "png"

    def __init__(self) -> None:
        fig = self.figure = _new_figure(8.5, 4.6)
        grid = fig.add_gridspec(1, 2, width_ratios=[1.25, 1], left=0.03, right=0.97,
                                top=0.80, bottom=0.14, wspace=0.15)
        self.ax_in, self.ax_out = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        for ax in (self.ax_in, self.ax_out):
            _blank_axes(ax)
            ax.set_aspect("equal")
        self.im_in = self.ax_in.imshow(np.ones((1, 1, 3)), interpolation="nearest")
        self.im_out = self.ax_out.imshow(np.ones((1, 1, 3)), interpolation="nearest")
        self.window = self.ax_in.add_patch(Rectangle((0, 0), 1, 1, fill=False, lw=2, ec="#cc0000"))
        self.message = self.ax_out.text(
            0.5, 0.5, "", ha="center", va="center", fontsize=10, color="#990000",
            transform=self.ax_out.transAxes, bbox=dict(boxstyle="round", fc="#fce8e6", ec="#990000"))
        self.title = fig.suptitle("", fontsize=11)
        self.formula = fig.text(0.5, 0.04, "", ha="center", fontsize=11)
        self.result: dict[str, Any] = {}
        self._borders: list = []
        self._sizes: tuple | None = None

    def update(self, **settings) -> dict[str, Any]:
        res = conv_arithmetic(**settings)
        self.result = res
        kind = "transposed convolution" if res["transposed"] else "convolution"
        self.title.set_text(
            f"{kind}: input {res['input_size']}, kernel {res['kernel_size']}, padding {res['padding']}, "
            f"stride {res['stride']}, dilation {res['dilation']}")
        self.formula.set_text(res["formula"])
        G = 0 if res["coords"] is None else len(res["coords"])
        o = 0 if res["error"] is not None else res["output_size"]
        if (G, o) != self._sizes:
            self._draw_borders(G, o)
        self._draw_input(res, G)
        self.im_out.set_visible(o > 0)
        self.message.set_visible(o == 0)
        if o == 0:
            self.message.set_text("These settings do not work:\n\n" + _wrap(res["error"], 42))
            self.ax_out.set_title("")
            return res
        colors = _fill((o, o), "white")
        colors[np.arange(o * o).reshape(o, o) < res["step"]] = _OUT_DONE
        colors[res["output_cell"]] = _OUT_NOW
        _set_image(self.im_out, colors)
        side = max(o, G)  # same cell size as the input grid
        self.ax_out.set_xlim(-0.5, side - 0.5)
        self.ax_out.set_ylim(side - 0.5, -0.5)
        self.ax_out.set_title(f"output {o}×{o}, cell {res['output_cell']}", fontsize=10)
        return res

    def _draw_borders(self, G: int, o: int) -> None:
        for lines in self._borders:
            lines.remove()
        self._borders = []
        if G:
            self._borders += _cell_lines(self.ax_in, G, G, color="0.55", lw=0.8 if G > 15 else 1.0)
        if o:
            self._borders += _cell_lines(self.ax_out, o, o, color="0.4")
        self._sizes = (G, o)

    def _draw_input(self, res, G: int) -> None:
        self.im_in.set_visible(G > 0)
        self.window.set_visible(G > 0 and res["taps"] is not None)
        if not G:
            self.ax_in.set_title("")
            return
        coords, is_data = res["coords"], res["is_data"]
        colors = np.where(is_data[..., None], np.array(_DATA), np.array(_PAD))
        if res["taps"] is not None:
            lo = coords[0]
            rows, cols = res["taps"][0] - lo, res["taps"][1] - lo
            hit = np.zeros((G, G), bool)
            hit[np.ix_(rows, cols)] = True
            colors[hit & is_data] = _DATA_HIT
            colors[hit & ~is_data] = _PAD_HIT
            self.window.set_bounds(cols[0] - 0.5, rows[0] - 0.5, cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
        _set_image(self.im_in, colors)
        what = "input spread by the stride and padded" if res["transposed"] else "input (blue) with padding"
        self.ax_in.set_title(what, fontsize=10)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot_conv_arithmetic(
    input_size: int = 5,
    kernel_size: int = 3,
    padding: int = 0,
    stride: int = 1,
    dilation: int = 1,
    transposed: bool = False,
    step: int = 0,
) -> Figure:
    """Draw one frame of the convolution-arithmetic animation (see :func:`conv_arithmetic`).

    Invalid settings draw the explanation from :func:`course.ops.conv_output_size`
    instead of raising.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the (padded, or for ``transposed`` spread and padded) input with the
        kernel's taps at this step in dark; right: the output grid, cells computed
        so far in light green and the current one dark; below: the output-size
        formula with these values.
    """
    view = ConvArithmeticView()
    view.update(input_size=input_size, kernel_size=kernel_size, padding=padding, stride=stride,
                dilation=dilation, transposed=transposed, step=step)
    return view.figure


def save_conv_arithmetic_gif(path, *, fps: float = 2.0, dpi: int = 60, **settings) -> str:
    """Animate every step of :func:`plot_conv_arithmetic` into a GIF (Pillow).

    Parameters
    ----------
    path : str or path-like
        Where to write the GIF.
    fps : float, keyword-only
        Frames (output cells) per second.
    dpi : int, keyword-only
        Resolution of the frames.
    **settings
        ``input_size``, ``kernel_size``, ``padding``, ``stride``, ``dilation``,
        ``transposed`` as in :func:`conv_arithmetic`.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ValueError
        If the settings are invalid (the message of :func:`course.ops.conv_output_size`),
        or ``settings`` has an unknown name.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    allowed = {"input_size", "kernel_size", "padding", "stride", "dilation", "transposed"}
    unknown = set(settings) - allowed
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; use {sorted(allowed)}")
    first = conv_arithmetic(**settings)
    if first["error"] is not None:
        raise ValueError(first["error"])
    view = ConvArithmeticView()
    anim = FuncAnimation(view.figure, lambda frame: view.update(step=frame, **settings) and [],
                         frames=first["n_steps"], blit=False, repeat=False)
    anim.save(str(path), writer=PillowWriter(fps=fps), dpi=dpi)
    return str(path)


# ----------------------------------------------------------------------------- 3. kernels on real images

#: padding_mode of kernel_result -> mode of ops.pad ('valid' means no padding).
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def kernel_result(image, kernel, *, padding_mode: str = "zeros", stride: int = 1, relu: bool = False,
                  channels: str = "sum") -> dict[str, Any]:
    """Apply one kernel to an image as a convolutional layer would.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A photo in file layout (e.g. :func:`course.data.cat`), values used as they are.
    kernel : array_like, shape (KH, KW)
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'valid'}, keyword-only
        'valid' adds no padding (the output shrinks); the others pad ``same`` style
        (:func:`course.ops.same_padding`) with that mode via :func:`course.ops.pad`.
    stride : int, keyword-only
    relu : bool, keyword-only
        Apply ReLU (``max(0, .)``) to the output.
    channels : {'sum', 'separate'}, keyword-only
        'sum': one filter with the kernel on every colour channel, summed (a layer
        with C input channels and one output); 'separate': each channel filtered
        on its own (as ``groups=C``), one output per channel.

    Returns
    -------
    dict
        ``x`` (float64, padded, shape (1, C, H', W')), ``weight`` (shape (1, C, KH, KW),
        or (1, 1, KH, KW) applied to each channel), ``pad`` (left, right, top, bottom), ``output`` (shape
        (F, H_out, W_out), F = 1 or C) from :func:`course.ops.conv2d`, ``limit``
        (largest absolute output value, for a scale centred on 0).

    Raises
    ------
    ValueError
        On an unknown ``padding_mode`` / ``channels`` or shapes that do not fit.
    """
    if padding_mode not in (*_PAD_MODES, "valid"):
        raise ValueError(f"`padding_mode` must be one of {[*_PAD_MODES, 'valid']}, got {padding_mode!r}")
    if channels not in ("sum", "separate"):
        raise ValueError(f"`channels` must be 'sum' or 'separate', got {channels!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"`kernel` must have shape (KH, KW), got {kernel.shape}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must have shape (H, W) or (H, W, C), got {image.shape}")
    x = data.to_tensor_layout(image.astype(np.float64))
    C = x.shape[1]
    KH, KW = kernel.shape
    if channels == "sum":
        weight = np.broadcast_to(kernel, (1, C, KH, KW)).copy()
    else:
        weight = kernel[None, None]
    if padding_mode == "valid":
        pads = (0, 0, 0, 0)
    else:
        (top, bottom), (left, right) = ops.same_padding(KH), ops.same_padding(KW)
        pads = (left, right, top, bottom)
        x = ops.pad(x, pads, mode=_PAD_MODES[padding_mode])
    if channels == "sum":
        out = ops.conv2d(x, weight, stride=stride)[0]
    else:
        # each channel on its own: the channels as a batch of one-channel images (the
        # same numbers as groups=C, and faster)
        out = ops.conv2d(x.transpose(1, 0, 2, 3), weight, stride=stride)[:, 0]
    if relu:
        out = np.maximum(out, 0.0)
    return {"x": x, "weight": weight, "pad": pads, "output": out, "limit": _symmetric_limit(out),
            "channels": channels, "relu": bool(relu), "stride": stride, "padding_mode": padding_mode}


def _display_image(image: np.ndarray) -> tuple[np.ndarray, dict]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image, {"cmap": "gray"}
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / (hi - lo or 1.0)
    return image[..., :3], {}


class KernelResultView:
    """Input image, kernel and output side by side, output on a colour scale centred on 0."""

    image_format = "jpeg"

    _ARTISTS = ("figure", "ax_in", "ax_k", "ax_out", "im_in", "im_k", "k_texts", "im_out", "title", "_shown_id")

    def __init__(self) -> None:
        self.figure = _new_figure(10, 3.6)
        self.result: dict[str, Any] = {}
        self._layout: tuple | None = None
        self._layouts: dict[tuple, dict[str, Any]] = {}

    def _switch(self, layout: tuple) -> None:
        """Use the figure of this layout, made on first use (switching back is then free)."""
        if self._layout is not None:
            self._layouts[self._layout] = {name: getattr(self, name) for name in self._ARTISTS}
        if layout in self._layouts:
            self.__dict__.update(self._layouts[layout])
        else:
            if self._layout is not None:
                self.figure = _new_figure(10, 3.6)
            self._build(layout[0])
        self._layout = layout

    def _build(self, n_out: int) -> None:
        fig = self.figure
        self._shown_id = None
        ratios = [1.0, 0.42] + [1.0] * n_out + [0.05]
        fig.set_size_inches(10 if n_out == 1 else 12, 3.6 if n_out == 1 else 3.0)
        # right=0.92 leaves room for the colour bar's tick labels (e.g. "-1500").
        grid = fig.add_gridspec(1, len(ratios), width_ratios=ratios, left=0.01, right=0.92,
                                top=0.86, bottom=0.04, wspace=0.12)
        self.ax_in = fig.add_subplot(grid[0, 0])
        self.ax_k = fig.add_subplot(grid[0, 1])
        self.ax_out = [fig.add_subplot(grid[0, 2 + i]) for i in range(n_out)]
        cax = fig.add_subplot(grid[0, -1])
        for ax in [self.ax_in, self.ax_k, *self.ax_out]:
            _blank_axes(ax)
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray", interpolation="antialiased")
        self.ax_in.set_title("input", fontsize=10)
        self.im_k = self.ax_k.imshow(np.zeros((3, 3)), cmap=_DIVERGING, vmin=-1, vmax=1)
        self.k_texts = _Labels(self.ax_k, fontsize=8)
        self.im_out = [ax.imshow(np.zeros((2, 2)), cmap=_DIVERGING, vmin=-1, vmax=1,
                                 interpolation="antialiased") for ax in self.ax_out]
        fig.colorbar(self.im_out[0], cax=cax)
        self.title = fig.suptitle("", fontsize=11)

    def update(self, image, kernel, *, padding_mode: str = "zeros", stride: int = 1, relu: bool = False,
               channels: str = "sum") -> dict[str, Any]:
        res = kernel_result(image, kernel, padding_mode=padding_mode, stride=stride, relu=relu,
                            channels=channels)
        self.result = res
        out = res["output"]
        layout = (out.shape[0],)
        if layout != self._layout:
            self._switch(layout)
        shown, style = _display_image(image)
        if self.im_in.get_array().shape != shown.shape or getattr(self, "_shown_id", None) is not shown:
            _set_image(self.im_in, shown)
            self.im_in.set_cmap(style.get("cmap", "gray"))
            if shown.ndim == 2:
                self.im_in.set_clim(float(shown.min()), float(shown.max()))
            self._shown_id = shown
        kernel = np.asarray(kernel, dtype=np.float64)
        _set_image(self.im_k, kernel)
        klim = _symmetric_limit(kernel)
        self.im_k.set_clim(-klim, klim)
        shown = kernel if kernel.size <= 49 else kernel[:0]
        self.k_texts.set_labels(_cell_positions(*shown.shape), [_fmt(v) for v in shown.ravel()],
                                ["white" if abs(v) > 0.6 * klim else "black" for v in shown.ravel()])
        self.ax_k.set_title(f"kernel {kernel.shape[0]}×{kernel.shape[1]}", fontsize=10)
        names = ["sum over channels"] if out.shape[0] == 1 else (
            ["R", "G", "B"] if out.shape[0] == 3 else [f"channel {i}" for i in range(out.shape[0])])
        for im, ax, fmap, name in zip(self.im_out, self.ax_out, out, names):
            _set_image(im, fmap)
            im.set_clim(-res["limit"], res["limit"])
            ax.set_title(f"{name}: {fmap.shape[0]}×{fmap.shape[1]}", fontsize=10)
        H, W = np.asarray(image).shape[:2]
        self.title.set_text(
            f"{H}×{W} image, padding {padding_mode}, stride {stride}" + (", ReLU" if relu else "")
            + f" → output {out.shape[1]}×{out.shape[2]}")
        return res


def plot_kernel_result(image, kernel, *, padding_mode: str = "zeros", stride: int = 1, relu: bool = False,
                       channels: str = "sum") -> Figure:
    """Draw an image, a kernel and the filtered result (see :func:`kernel_result`).

    The output uses a diverging colour map centred on 0 (blue negative, red
    positive) with a colourbar, so negative responses stay visible.

    Returns
    -------
    matplotlib.figure.Figure
    """
    view = KernelResultView()
    view.update(image, kernel, padding_mode=padding_mode, stride=stride, relu=relu, channels=channels)
    return view.figure


# ----------------------------------------------------------------------------- 4. pooling, equivariance, invariance


def _shift(x: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    # circular shift: with circular padding the convolution commutes with it exactly
    return np.roll(x, shift, axis=(0, 1))


class _Memo:
    """Results of earlier calls with the same input, so a redraw recomputes only what changed."""

    def __init__(self, store: dict | None, limit: int = 24) -> None:
        self.store, self.limit = store, limit

    def __call__(self, key, compute):
        if self.store is None:
            return compute()
        if key not in self.store:
            if len(self.store) >= self.limit:
                self.store.pop(next(iter(self.store)))
            self.store[key] = compute()
        return self.store[key]


def pooling_result(x=None, *, mode: str = "max", kernel_size: int = 2, stride: int | None = None,
                   shift: tuple[int, int] = (0, 0), kernel=None, cache: dict | None = None) -> dict[str, Any]:
    """Pool a feature map, and compare a convolution and the pooling before and after a shift.

    Parameters
    ----------
    x : array_like, shape (H, W), optional
        A feature map (or a grey image); default :data:`DEFAULT_FEATURE_MAP`.
    mode : {'max', 'avg'}, keyword-only
    kernel_size : int, keyword-only
        Pooling window (square).
    stride : int, optional, keyword-only
        Distance between windows; default ``kernel_size``.
    shift : (int, int), keyword-only
        Rows and columns to move the map by (circularly: what leaves one side
        comes back on the other).
    kernel : array_like, shape (KH, KW), optional, keyword-only
        Convolution used to show equivariance; default :data:`VERTICAL_EDGE`.
    cache : dict, optional, keyword-only
        Keeps pooled and convolved maps between calls ON THE SAME ``x``, so a new
        shift or window recomputes only what it changes (the explorer passes one).

    Returns
    -------
    dict
        ``x``, ``shifted``; ``pooled``, ``pooled_shifted`` (shape (H_out, W_out),
        :func:`course.ops.max_pool2d` / :func:`course.ops.avg_pool2d`); for max
        pooling ``winners`` / ``winners_shifted``: (rows, cols) of each window's
        maximum in the input (from ``return_indices``), else None; ``conv``,
        ``conv_shifted`` (:func:`course.ops.conv2d`, circular ``same`` padding);
        ``equivariance_error``: max |conv(shift(x)) - shift(conv(x))|;
        ``pooled_unchanged``: fraction of pooled cells equal before and after the
        shift (only meaningful when the shapes match).
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"`mode` must be 'max' or 'avg', got {mode!r}")
    x = np.asarray(DEFAULT_FEATURE_MAP if x is None else x)
    if x.ndim == 3:
        x = data.to_gray(x)
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (H, W), got {x.shape}")
    x = x.astype(np.float64)
    shift = tuple(int(s) for s in shift)
    if len(shift) != 2:
        raise ValueError(f"`shift` must be (rows, cols), got {shift}")
    kernel = np.asarray(VERTICAL_EDGE if kernel is None else kernel, dtype=np.float64)
    shifted = _shift(x, shift)
    res: dict[str, Any] = {"x": x, "shifted": shifted, "mode": mode, "kernel_size": kernel_size,
                           "stride": stride if stride is not None else kernel_size, "shift": shift,
                           "kernel": kernel}
    W = x.shape[1]
    memo = _Memo(cache)
    (top, bottom), (left, right) = ops.same_padding(kernel.shape[0]), ops.same_padding(kernel.shape[1])
    for suffix, inp, moved in (("", x, (0, 0)), ("_shifted", shifted, shift)):
        if mode == "max":
            pooled, idx = memo(("max", kernel_size, stride, moved),
                               lambda inp=inp: ops.max_pool2d(inp[None], kernel_size, stride, return_indices=True))
            res["pooled" + suffix] = pooled[0]
            res["winners" + suffix] = (idx[0] // W, idx[0] % W)
        else:
            res["pooled" + suffix] = memo(("avg", kernel_size, stride, moved),
                                          lambda inp=inp: ops.avg_pool2d(inp[None], kernel_size, stride))[0]
            res["winners" + suffix] = None
        padded = lambda inp=inp: ops.pad(inp[None, None], (left, right, top, bottom), mode="circular")  # noqa: E731
        res["conv" + suffix] = memo(("conv", kernel.shape, kernel.tobytes(), moved),
                                    lambda padded=padded: ops.conv2d(padded(), kernel[None, None])[0, 0])
    res["equivariance_error"] = float(np.abs(res["conv_shifted"] - _shift(res["conv"], shift)).max())
    res["pooled_unchanged"] = float(np.mean(res["pooled"] == res["pooled_shifted"]))
    res["max_unchanged"] = bool(res["conv"].max() == res["conv_shifted"].max())
    return res


class PoolingView:
    """Rows: the map and the shifted map; columns: input with winners, pooled, convolved."""

    image_format = "jpeg"

    _ANNOTATE = 12  # write the numbers into maps up to this size

    def __init__(self) -> None:
        fig = self.figure = _new_figure(10, 6.4)
        grid = fig.add_gridspec(2, 3, left=0.06, right=0.98, top=0.86, bottom=0.03, hspace=0.28, wspace=0.2)
        self.axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(3)] for r in range(2)])
        self.images = np.empty((2, 3), dtype=object)
        for (r, c), ax in np.ndenumerate(self.axes):
            _blank_axes(ax)
            cmap = _DIVERGING if c == 2 else "viridis"
            self.images[r, c] = ax.imshow(np.zeros((2, 2)), cmap=cmap, interpolation="nearest")
        self.markers = [self.axes[r, 0].plot([], [], "s", mfc="none", mec="red", mew=2)[0]
                        for r in range(2)]
        self.labels = [[_Labels(self.axes[r, c], fontsize=8) for c in range(2)] for r in range(2)]
        self.lines: list = []  # window borders, redrawn for each setting
        self.axes[0, 0].set_ylabel("x", fontsize=11)
        self.axes[1, 0].set_ylabel("shift(x)", fontsize=11)
        self.title = fig.suptitle("", fontsize=10.5)
        self.result: dict[str, Any] = {}
        self._source, self._cache = None, {}

    def update(self, x=None, *, mode: str = "max", kernel_size: int = 2, stride: int | None = None,
               shift: tuple[int, int] = (0, 0), kernel=None) -> dict[str, Any]:
        if x is not self._source:  # the cache only holds results for one input
            self._source, self._cache = x, {}
        res = pooling_result(x, mode=mode, kernel_size=kernel_size, stride=stride, shift=shift, kernel=kernel,
                             cache=self._cache)
        self.result = res
        for line in self.lines:
            line.remove()
        self.lines = []
        small = max(res["x"].shape) <= self._ANNOTATE
        H, W = res["x"].shape
        k, st = res["kernel_size"], res["stride"]
        vmin, vmax = float(res["x"].min()), float(res["x"].max())
        clim = _symmetric_limit(res["conv"], res["conv_shifted"])
        dy, dx = res["shift"]
        for r, suffix in enumerate(("", "_shifted")):
            inp = res["x"] if r == 0 else res["shifted"]
            panels = (inp, res["pooled" + suffix], res["conv" + suffix])
            for c, values in enumerate(panels):
                im = self.images[r, c]
                _set_image(im, values)
                im.set_clim(*((-clim, clim) if c == 2 else (vmin, vmax)))
                if c < 2 and small:
                    # blank = 0 in the input keeps the map readable
                    shown = np.ones(values.shape, bool) if c else values != 0
                    vals = values[shown]
                    self.labels[r][c].set_labels(
                        _cell_positions(*values.shape)[shown.ravel()], [_fmt(v) for v in vals],
                        ["white" if v < (vmin + vmax) / 2 else "black" for v in vals])
                elif c < 2:
                    self.labels[r][c].set_labels(np.empty((0, 2)), [])
            winners = res["winners" + suffix]
            n_windows = res["pooled"].size
            if winners is not None and n_windows <= 400:
                self.markers[r].set_data(winners[1].ravel(), winners[0].ravel())
                box = self.axes[r, 0].get_position()
                cell = 72 * min(box.width * self.figure.get_figwidth() / W,
                                box.height * self.figure.get_figheight() / H)
                self.markers[r].set_markersize(0.8 * cell)
            else:
                self.markers[r].set_data([], [])
            if st == k and n_windows <= 400:  # non-overlapping windows: draw their borders
                edges = np.arange(0, max(H, W) + 1, k) - 0.5
                self.lines.append(self.axes[r, 0].hlines(edges[edges <= H], -0.5, W - 0.5, colors="white", lw=1.5))
                self.lines.append(self.axes[r, 0].vlines(edges[edges <= W], -0.5, H - 0.5, colors="white", lw=1.5))
            pooled = res["pooled" + suffix]
            self.axes[r, 0].set_title(
                ("x" if r == 0 else f"x shifted by ({dy}, {dx})") + f", {inp.shape[0]}×{inp.shape[1]}"
                + (" (blank = 0)" if small else ""), fontsize=9.5)
            self.axes[r, 1].set_title(f"{mode} pool {res['kernel_size']}, stride {res['stride']}: "
                                      f"{pooled.shape[0]}×{pooled.shape[1]}", fontsize=9.5)
            self.axes[r, 2].set_title("conv(x)" if r == 0 else "conv(shift(x))", fontsize=9.5)
        same_shape = res["pooled"].shape == res["pooled_shifted"].shape
        self.title.set_text(
            f"equivariance: max |conv(shift(x)) − shift(conv(x))| = {res['equivariance_error']:.3g}"
            f" (circular padding)\n"
            + (f"invariance: {100 * res['pooled_unchanged']:.0f}% of pooled cells unchanged by the shift; "
               if same_shape else "")
            + f"max of conv unchanged: {res['max_unchanged']}")
        return res


def plot_pooling(x=None, *, mode: str = "max", kernel_size: int = 2, stride: int | None = None,
                 shift: tuple[int, int] = (0, 0), kernel=None) -> Figure:
    """Draw pooling with each window's winner, and the shift experiment (see :func:`pooling_result`).

    Returns
    -------
    matplotlib.figure.Figure
        Top row: ``x`` with the maximum of each window circled, the pooled map,
        ``conv(x)``; bottom row: the same for the shifted map. The title gives the
        equivariance error and how many pooled cells the shift left unchanged.
    """
    view = PoolingView()
    view.update(x, mode=mode, kernel_size=kernel_size, stride=stride, shift=shift, kernel=kernel)
    return view.figure


# ----------------------------------------------------------------------------- 5. receptive fields


def format_layers(layers: Iterable) -> str:
    """One line per layer, ``conv k=3 s=1 p=1 d=2``: the text the explorer lets students edit.

    Examples
    --------
    >>> print(format_layers([ops.Layer(3, padding=1), ops.Layer(2, 2, name="pool")]))
    conv k=3 s=1 p=1 d=1
    pool k=2 s=2 p=0 d=1
    """
    lines = []
    for layer in layers:
        if isinstance(layer, Mapping):
            layer = ops.Layer(**layer)
        lines.append(f"{layer.name} k={layer.kernel_size} s={layer.stride} p={layer.padding} d={layer.dilation}")
    return "\n".join(lines)


_KEYS = {"k": "kernel_size", "kernel": "kernel_size", "kernel_size": "kernel_size", "s": "stride",
         "stride": "stride", "p": "padding", "padding": "padding", "d": "dilation", "dilation": "dilation"}


def parse_layers(text: str) -> list:
    """Read layers written as by :func:`format_layers` (missing settings take the defaults).

    A line is a name (``conv``, ``pool``, ...) followed by ``key=value`` pairs with
    keys ``k``/``kernel``, ``s``/``stride``, ``p``/``padding``, ``d``/``dilation``; a
    bare number is the kernel size. Empty lines and ``#`` comments are skipped.

    Returns
    -------
    list of course.ops.Layer

    Raises
    ------
    ValueError
        Naming the line that cannot be read.

    Examples
    --------
    >>> parse_layers("conv 3\\npool k=2 s=2")
    [Layer(kernel_size=3, stride=1, padding=0, dilation=1, name='conv'),
     Layer(kernel_size=2, stride=2, padding=0, dilation=1, name='pool')]
    """
    layers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        words = line.replace(",", " ").split()
        name, settings = "conv", {}
        for word in words:
            if "=" in word:
                key, _, value = word.partition("=")
                if key.strip().lower() not in _KEYS:
                    raise ValueError(f"layer line {number}: unknown setting {key!r} (use k, s, p, d)")
                target = _KEYS[key.strip().lower()]
            elif word.lstrip("-").isdigit():
                target, value = "kernel_size", word
            else:
                name = word
                continue
            try:
                settings[target] = int(value)
            except ValueError:
                raise ValueError(f"layer line {number}: {word!r} needs a whole number") from None
        if "kernel_size" not in settings:
            raise ValueError(f"layer line {number}: {line!r} has no kernel size (write e.g. 'conv k=3')")
        layers.append(ops.Layer(name=name, **settings))
    if not layers:
        raise ValueError("no layers: write one layer per line, e.g. 'conv k=3 s=1 p=0 d=1'")
    return layers


def receptive_field_result(layers=None, *, input_size: int | None = None, layer: int = -1,
                           unit: tuple[int, int] | None = None) -> dict[str, Any]:
    """Receptive field of one unit of a layer stack, on the input grid.

    Parameters
    ----------
    layers : sequence of course.ops.Layer or dict, optional
        Default: the dilated context module (fields 3, 5, 9, 17, 33, 65, 67, 67).
    input_size : int, optional, keyword-only
        Side of the square input; default the preset's (75) or the last field size.
    layer : int, keyword-only
        Which layer's unit (0-based, negative counts from the end).
    unit : (int, int), optional, keyword-only
        Row and column of the unit in that layer's output; default its centre.

    Returns
    -------
    dict
        ``fields`` (list of course.ops.LayerField from :func:`course.ops.receptive_field`),
        ``sizes`` (output side after each layer, :func:`course.ops.conv_output_size`),
        ``layer`` (index), ``unit``, ``rows`` / ``cols``: (first, last) input
        coordinate seen by the unit (``LayerField.span``; may lie outside the input,
        in the padding), ``input_size``.

    Raises
    ------
    ValueError
        If a layer does not fit its input (message from ``conv_output_size``) or
        ``layer`` / ``unit`` are out of range.
    """
    if layers is None:
        layers, default_size = RECEPTIVE_FIELD_PRESETS["dilated context module"]
    else:
        layers, default_size = list(layers), None
    fields = ops.receptive_field(layers)
    if not fields:
        raise ValueError("`layers` is empty")
    if input_size is None:
        input_size = default_size or fields[-1].size
    sizes = [input_size]
    for position, f in enumerate(fields):
        L = f.layer
        try:
            sizes.append(ops.conv_output_size(sizes[-1], L.kernel_size, L.stride, L.padding, L.dilation))
        except ValueError as err:
            raise ValueError(f"layer {position + 1} ({L.name}) does not fit its {sizes[-1]}×{sizes[-1]} "
                             f"input: {err}") from None
    n = len(fields)
    if not -n <= layer < n:
        raise ValueError(f"`layer` must be in [{-n}, {n - 1}], got {layer}")
    layer = layer % n
    side = sizes[layer + 1]
    if unit is None:
        unit = (side // 2, side // 2)
    unit = tuple(int(u) for u in unit)
    if not all(0 <= u < side for u in unit):
        raise ValueError(f"`unit` must be inside the {side}×{side} output of layer {layer + 1}, got {unit}")
    return {"fields": fields, "sizes": sizes[1:], "input_size": input_size, "layer": layer, "unit": unit,
            "rows": fields[layer].span(unit[0]), "cols": fields[layer].span(unit[1])}


class ReceptiveFieldView:
    """Input grid with one unit's receptive field, beside the size/jump/start table."""

    image_format = "png"

    def __init__(self) -> None:
        self.figure = _new_figure(10, 4.8)
        self.result: dict[str, Any] = {}

    def update(self, layers=None, *, input_size: int | None = None, layer: int = -1,
               unit: tuple[int, int] | None = None, table: bool = True) -> dict[str, Any]:
        """Redraw; ``table=False`` leaves the table out (the explorer shows it as HTML)."""
        res = receptive_field_result(layers, input_size=input_size, layer=layer, unit=unit)
        self.result = res
        fig = self.figure
        fig.clear()
        n_rows = len(res["fields"])
        if table:
            fig.set_size_inches(10, max(4.2, 1.4 + 0.3 * n_rows))
            grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.25], left=0.03, right=0.99, top=0.88,
                                    bottom=0.04, wspace=0.08)
            ax, ax_t = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        else:
            fig.set_size_inches(5, 5)
            ax, ax_t = fig.add_axes((0.03, 0.02, 0.94, 0.84)), None
        n = res["input_size"]
        (r0, r1), (c0, c1) = res["rows"], res["cols"]
        ax.imshow(np.zeros((n, n)), cmap=ListedColormap(["#eef3fb"]), extent=(-0.5, n - 0.5, n - 0.5, -0.5))
        if n <= 40:
            _cell_grid(ax, n, n, color="0.8", lw=0.5)
        else:
            _blank_axes(ax)
        # the part of the field inside the input, and the whole field (maybe reaching into padding)
        ir0, ir1, ic0, ic1 = max(r0, 0), min(r1, n - 1), max(c0, 0), min(c1, n - 1)
        if ir0 <= ir1 and ic0 <= ic1:
            ax.add_patch(Rectangle((ic0 - 0.5, ir0 - 0.5), ic1 - ic0 + 1, ir1 - ir0 + 1, fc="#e69138",
                                   alpha=0.75, ec="none"))
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, ec="#990000",
                               lw=2, ls="--"))
        # the fields of the earlier layers around the same centre, to show the growth
        centre_r, centre_c = (r0 + r1) / 2, (c0 + c1) / 2
        for earlier, side in zip(res["fields"][: res["layer"]], res["sizes"]):
            ur = int(np.clip(round((centre_r - earlier.start) / earlier.jump), 0, side - 1))
            uc = int(np.clip(round((centre_c - earlier.start) / earlier.jump), 0, side - 1))
            (a0, a1), (b0, b1) = earlier.span(ur), earlier.span(uc)
            ax.add_patch(Rectangle((b0 - 0.5, a0 - 0.5), b1 - b0 + 1, a1 - a0 + 1, fill=False, ec="#7f6000",
                                   lw=0.8))
        ax.plot([centre_c], [centre_r], "k+", ms=10)
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, fill=False, ec="0.3", lw=1))
        lo, hi = min(-0.5, r0 - 1, c0 - 1), max(n - 0.5, r1 + 1, c1 + 1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(hi, lo)
        ax.set_aspect("equal")
        for spine in ax.spines.values():
            spine.set_visible(False)
        f = res["fields"][res["layer"]]
        ax.set_title(f"input {n}×{n}: field of unit {res['unit']} after layer {res['layer'] + 1} "
                     f"(thin: earlier layers)\n"
                     f"rows {_fmt(r0)}..{_fmt(r1)}, cols {_fmt(c0)}..{_fmt(c1)} ({f.size}×{f.size})",
                     fontsize=9.5)
        if ax_t is None:
            return res
        _blank_axes(ax_t)
        cells = ax_t.table(cellText=receptive_field_rows(res), colLabels=_RF_HEADER, loc="upper center",
                           cellLoc="center")
        cells.auto_set_font_size(False)
        cells.set_fontsize(9)
        cells.scale(1, 1.25)
        for col in range(len(_RF_HEADER)):
            cells[res["layer"] + 1, col].set_facecolor("#fce5cd")
            cells[0, col].set_facecolor("#d9d9d9")
        ax_t.set_title("receptive field per layer (size, jump, start in input pixels)", fontsize=9.5)
        return res


_RF_HEADER = ["layer", "k", "s", "p", "d", "output", "field", "jump", "start"]


def receptive_field_rows(res: dict[str, Any]) -> list[list[str]]:
    """The per-layer table of :func:`receptive_field_result` as text rows (header: name, k, s, p, d,
    output size, field size, jump, start)."""
    return [[f"{i + 1} {fl.layer.name}", str(fl.layer.kernel_size), str(fl.layer.stride), str(fl.layer.padding),
             str(fl.layer.dilation), f"{size}×{size}", str(fl.size), str(fl.jump), _fmt(fl.start)]
            for i, (fl, size) in enumerate(zip(res["fields"], res["sizes"]))]


def receptive_field_table_html(res: dict[str, Any]) -> str:
    """The same table as HTML, the chosen layer highlighted (for the explorer)."""
    import html

    head = "".join(f"<th style='padding:2px 8px'>{h}</th>" for h in _RF_HEADER)
    body = []
    for i, row in enumerate(receptive_field_rows(res)):
        style = " style='background:#fce5cd'" if i == res["layer"] else ""
        cells = "".join(f"<td style='padding:2px 8px;text-align:center'>{html.escape(v)}</td>" for v in row)
        body.append(f"<tr{style}>{cells}</tr>")
    return ("<b>receptive field per layer</b> (size, jump, start in input pixels)"
            f"<table style='border-collapse:collapse'><tr style='background:#e0e0e0'>{head}</tr>"
            + "".join(body) + "</table>")


def plot_receptive_field(layers=None, *, input_size: int | None = None, layer: int = -1,
                         unit: tuple[int, int] | None = None) -> Figure:
    """Draw the receptive field of one unit and the per-layer table (see :func:`receptive_field_result`).

    Returns
    -------
    matplotlib.figure.Figure
        Left: the input grid, the field inside it in orange and its full extent
        dashed (it can reach into the padding); right: kernel, stride, padding,
        dilation, output size, field size, jump and start of every layer, the
        chosen layer highlighted.
    """
    view = ReceptiveFieldView()
    view.update(layers, input_size=input_size, layer=layer, unit=unit)
    return view.figure


# ----------------------------------------------------------------------------- 6. convolution as a matrix


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


class ConvMatrixView:
    """The weight-shared band matrix (same weight = same colour) and the parameter counts.

    The three axes and their artists are made once; a new matrix shape only moves the
    axes (new width ratios) and redraws the cell borders.
    """

    image_format = "png"

    def __init__(self) -> None:
        fig = self.figure = _new_figure(10, 4.2)
        self.ax_m, self.ax_k, self.ax_p = (fig.add_subplot(1, 3, i + 1) for i in range(3))
        for ax in (self.ax_m, self.ax_k, self.ax_p):
            _blank_axes(ax)
        self.im_m = self.ax_m.imshow(np.zeros((1, 1)), interpolation="nearest", aspect="equal")
        self.im_k = self.ax_k.imshow(np.zeros((1, 1)), interpolation="nearest")
        self.labels_m = _Labels(self.ax_m, fontsize=9)
        self.labels_k = _Labels(self.ax_k, fontsize=11)
        self.ax_k.set_title("kernel (colour = weight)", fontsize=9.5)
        self.params = self.ax_p.text(0.05, 0.95, "", transform=self.ax_p.transAxes, ha="left", va="top",
                                     fontsize=10)
        self.title = fig.suptitle("", fontsize=10.5)
        self.result: dict[str, Any] = {}
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
        self._borders = (_cell_lines(self.ax_m, rows, cols, color="0.85", lw=0.5)
                         + _cell_lines(self.ax_k, *kshape))
        self.labels_m.fontsize = 9 if cols <= 16 else 6.5
        self._layout = (rows, cols, kshape)

    def update(self, input_shape=8, kernel=(-1, 0, 1), *, stride: int = 1, padding: int = 0,
               dilation: int = 1, bias: bool = False) -> dict[str, Any]:
        res = conv_matrix_result(input_shape, kernel, stride=stride, padding=padding, dilation=dilation,
                                 bias=bias)
        self.result = res
        M, tap, k = res["matrix"], res["tap"], res["kernel"]
        rows, cols = M.shape
        k2 = k if k.ndim == 2 else k[None]
        if (rows, cols, k2.shape) != self._layout:
            self._arrange(rows, cols, k2.shape)
        cmap = _tap_colors(k.size)
        _set_image(self.im_m, tap)
        _set_image(self.im_k, np.arange(1, k.size + 1).reshape(k2.shape))
        for im in (self.im_m, self.im_k):
            im.set_cmap(cmap)
            im.set_clim(-0.5, k.size + 0.5)
        if rows * cols <= 900:
            self.labels_m.set_labels(
                _cell_positions(rows, cols), [_fmt(m) if t else "0" for m, t in zip(M.ravel(), tap.ravel())],
                ["black" if t else "0.75" for t in tap.ravel()])
        else:
            self.labels_m.set_labels(np.empty((0, 2)), [])
        self.labels_k.set_labels(_cell_positions(*k2.shape), [_fmt(v) for v in k2.ravel()])
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
        return res


def plot_conv_matrix(input_shape=8, kernel=(-1, 0, 1), *, stride: int = 1, padding: int = 0,
                     dilation: int = 1, bias: bool = False) -> Figure:
    """Draw the matrix of a small convolution (see :func:`conv_matrix_result`).

    Returns
    -------
    matplotlib.figure.Figure
        The matrix with each entry coloured by the kernel weight it is a copy of
        (white: always zero), the kernel in the same colours, and the parameter
        counts of the convolution and of the dense layer with the same shape.
    """
    view = ConvMatrixView()
    view.update(input_shape, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    return view.figure


# ----------------------------------------------------------------------------- 7. feature maps of a model


def feature_maps(model, image) -> dict[str, Any]:
    """Run ``model`` on one image and record the output of every Conv2d, ReLU and pooling layer.

    Parameters
    ----------
    model : torch.nn.Module
    image : array_like, shape (H, W) or (C, H, W)
        uint8 images are scaled to [0, 1]; other dtypes are used as they are.

    Returns
    -------
    dict
        ``maps``: dict of layer label (``"<name> (<type>)"``, in execution order) to
        ndarray of shape (C, H, W); ``filters``: weights of the first Conv2d,
        shape (F, C, KH, KW) (None if there is none); ``image``: the input as
        (C, H, W) float; ``error``: the message if the forward pass failed after
        some layers (e.g. a Linear layer expecting another image size), else None.

    Notes
    -----
    Forward hooks copy each output, so an in-place ReLU does not overwrite the
    convolution output recorded before it. The model runs in eval mode under
    ``torch.no_grad()`` and is put back in its previous mode.
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"`image` must have shape (H, W) or (C, H, W), got {np.asarray(image).shape}")
    arr = arr / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    kinds = (nn.Conv2d, nn.ReLU, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
             nn.AdaptiveMaxPool2d)
    params = list(model.parameters())
    dtype = params[0].dtype if params else torch.float32
    device = params[0].device if params else torch.device("cpu")
    maps: dict[str, np.ndarray] = {}
    handles = []
    first_conv = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and first_conv is None:
            first_conv = module
        if isinstance(module, kinds):
            label = f"{name} ({type(module).__name__})"
            handles.append(module.register_forward_hook(
                lambda mod, inp, out, label=label: maps.__setitem__(label, out.detach()[0].cpu().numpy().copy())))
    error = None
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.as_tensor(arr, dtype=dtype, device=device)[None])
    except Exception as err:  # noqa: BLE001 - show what ran before the failing layer
        error = f"{type(err).__name__}: {err}"
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    filters = None if first_conv is None else first_conv.weight.detach().cpu().numpy().copy()
    return {"maps": maps, "filters": filters, "image": arr, "error": error}


def _mosaic(tiles: Sequence[np.ndarray], cols: int, gap: tuple[int, int], fill=np.nan
            ) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """Lay equal-shaped tiles out row by row in one array, with room above each row for a label.

    Parameters
    ----------
    tiles : sequence of ndarray, each of shape (h, w) or (h, w, 3)
    cols : int
        Tiles per row.
    gap : (int, int)
        Cells left free above each row of tiles (for labels) and between two tiles of a row.
    fill : float
        Value of the free cells (NaN: drawn in the colour map's "bad" colour).

    Returns
    -------
    mosaic : ndarray
    where : list of (slice, slice)
        ``mosaic[where[i]]`` is ``tiles[i]``.
    """
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    gy, gx = gap
    mosaic = np.full((rows * (gy + h), cols * w + (cols - 1) * gx) + tiles[0].shape[2:], fill)
    where = []
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (gy + h) + gy, c * (w + gx)
        where.append((slice(y, y + h), slice(x, x + w)))
        mosaic[where[-1]] = tile
    return mosaic, where


class FeatureMapView:
    """Input and first-layer filters on top, then up to 16 feature maps of one layer.

    The filters and the maps are each drawn as one mosaic image (one image to colour
    and resample per redraw instead of one per panel); ``map_tiles[i]`` is where map
    ``start + i`` sits in ``im_m``'s array.
    """

    image_format = "jpeg"

    N_FILTERS = 7
    N_MAPS = 16
    _PER_ROW = 8

    def __init__(self) -> None:
        fig = self.figure = _new_figure(10, 4.8)
        grid = fig.add_gridspec(3, 8, left=0.01, right=0.92, top=0.88, bottom=0.02, hspace=0.3, wspace=0.08)
        self.ax_in = fig.add_subplot(grid[0, 0])
        self.ax_f = fig.add_subplot(grid[0, 1:])
        self.ax_m = fig.add_subplot(grid[1:, :])
        cax = fig.add_axes((0.94, 0.05, 0.012, 0.55))
        for ax in (self.ax_in, self.ax_f, self.ax_m):
            _blank_axes(ax)
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray")
        self.ax_in.set_title("input", fontsize=8)
        diverging = plt.get_cmap(_DIVERGING).with_extremes(bad="white")
        self.im_f = self.ax_f.imshow(np.zeros((2, 2)), cmap=diverging, vmin=-1, vmax=1, interpolation="nearest")
        self.im_m = self.ax_m.imshow(np.zeros((2, 2)), cmap=diverging, interpolation="antialiased")
        self.labels_f = _Labels(self.ax_f, fontsize=7)
        self.labels_m = _Labels(self.ax_m, fontsize=7)
        fig.colorbar(self.im_m, cax=cax)
        self.title = fig.suptitle("", fontsize=10)
        self.recorded: dict[str, Any] | None = None
        self._source = None
        self.map_tiles: list[tuple[slice, slice]] = []
        self.result: dict[str, Any] = {}

    def _show_tiles(self, im, labels: _Labels, tiles: list[np.ndarray], names: list[str], cols: int,
                    fill=np.nan) -> list[tuple[slice, slice]]:
        h, w = tiles[0].shape[:2]
        gap = (max(1, round(0.3 * h)), max(1, round(0.08 * w)))
        mosaic, where = _mosaic(tiles, cols, gap, fill)
        _set_image(im, mosaic)
        labels.set_labels([((x.start + x.stop - 1) / 2, y.start - 0.5 - gap[0] / 2) for y, x in where], names)
        return where

    def record(self, model, image) -> dict[str, Any]:
        """Run the model once and draw the input and the filters (they do not change with the layer)."""
        rec = self.recorded = feature_maps(model, image)
        self._source = (model, image)
        img = rec["image"]
        shown = img[0] if img.shape[0] != 3 else np.moveaxis(img, 0, -1)
        if shown.ndim == 3:
            shown = (shown - shown.min()) / (np.ptp(shown) or 1.0)
        _set_image(self.im_in, shown)
        if shown.ndim == 2:
            self.im_in.set_clim(float(shown.min()), float(shown.max()))
        filters = rec["filters"]
        self.im_f.set_visible(filters is not None)
        if filters is None:
            self.labels_f.set_labels(np.empty((0, 2)), [])
            return rec
        tiles = []
        for w in filters[: self.N_FILTERS]:
            if w.shape[0] == 3:  # an RGB filter reads best as a colour patch
                rgb = np.moveaxis(w, 0, -1)
                tiles.append((rgb - rgb.min()) / (np.ptp(rgb) or 1.0))
            else:  # each filter on its own symmetric scale, as -1..1
                tiles.append(w.mean(axis=0) / _symmetric_limit(w))
        names = [f"filter {i}" for i in range(len(tiles))]
        self._show_tiles(self.im_f, self.labels_f, tiles, names, self.N_FILTERS,
                         fill=1.0 if tiles[0].ndim == 3 else np.nan)
        return rec

    def update(self, model=None, image=None, *, layer: str | int | None = None, start: int = 0) -> dict[str, Any]:
        if model is not None and (self._source is None or self._source[0] is not model
                                  or self._source[1] is not image):
            self.record(model, image)
        if self.recorded is None:
            raise ValueError("give `model` and `image` on the first update")
        maps = self.recorded["maps"]
        if not maps:
            raise ValueError("`model` has no Conv2d, ReLU or pooling layer to show"
                             + (f" ({self.recorded['error']})" if self.recorded["error"] else ""))
        labels = list(maps)
        if layer is None:
            layer = labels[0]
        if isinstance(layer, (int, np.integer)):
            if not -len(labels) <= layer < len(labels):
                raise ValueError(f"`layer` must be in [{-len(labels)}, {len(labels) - 1}], got {layer}")
            layer = labels[layer]
        if layer not in maps:
            matches = [lab for lab in labels if lab.split(" (")[0] == layer]
            if not matches:
                raise ValueError(f"`layer` {layer!r} is not one of {labels}")
            layer = matches[0]
        fmaps = maps[layer]
        start = int(np.clip(start, 0, max(fmaps.shape[0] - 1, 0)))
        shown = fmaps[start : start + self.N_MAPS]
        lim = _symmetric_limit(fmaps)
        # a map much larger than its ~100-pixel tile is thinned first: the same picture,
        # a fraction of the colour-mapping work
        box = self.ax_m.get_position(original=True)  # not the box shrunk to the last aspect
        tile_px = box.width * self.figure.get_figwidth() * self.figure.dpi / self._PER_ROW
        thin = max(1, int(max(fmaps.shape[1:]) // tile_px))
        self.map_tiles = self._show_tiles(self.im_m, self.labels_m, [m[::thin, ::thin] for m in shown],
                                          [f"map {start + i}" for i in range(len(shown))], self._PER_ROW)
        self.im_m.set_clim(-lim, lim)
        C, H, W = fmaps.shape
        error = self.recorded["error"]
        self.title.set_text(f"{layer}: {C} feature maps of {H}×{W} (showing {start}..{start + len(shown) - 1})"
                            + ("\nforward pass stopped: " + error[:90] if error else ""))
        self.result = {"layer": layer, "maps": fmaps, "shown": shown, "start": start,
                       "filters": self.recorded["filters"], "labels": labels}
        return self.result


def plot_feature_maps(model, image, layer: str | int | None = None, *, start: int = 0) -> Figure:
    """Draw the first conv layer's filters and the feature maps of one layer (see :func:`feature_maps`).

    Parameters
    ----------
    model : torch.nn.Module
    image : array_like, shape (H, W) or (C, H, W)
    layer : str or int, optional
        A label from ``feature_maps(model, image)["maps"]``, a module name (e.g.
        ``"0"`` or ``"features.3"``) or the index of a recorded layer; default the first.
    start : int, keyword-only
        First channel to show (16 are shown).

    Returns
    -------
    matplotlib.figure.Figure
    """
    view = FeatureMapView()
    view.update(model, image, layer=layer, start=start)
    return view.figure

