"""Explorer 4: pooling, with each window's winner, and what a shift of 1-2 pixels does (equivariance, invariance).

:func:`pooling_result` computes, :class:`PoolingView` draws, :func:`plot_pooling` is
the static figure and :func:`pooling_explorer` the widget. Lecture notebooks 03 and 04.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import course.ops as ops
from course import data

from . import controls as C
from .conv_step import VERTICAL_EDGE
from .render import (
    DIVERGING,
    Labels,
    View,
    blank_axes,
    cell_positions,
    fmt,
    make_plot,
    set_image,
    symmetric_limit,
)

__all__ = ["DEFAULT_FEATURE_MAP", "PoolingView", "plot_pooling", "pooling_explorer", "pooling_result"]


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
        padded = lambda inp=inp: ops.pad(inp[None, None], (left, right, top, bottom), mode="circular")
        res["conv" + suffix] = memo(("conv", kernel.shape, kernel.tobytes(), moved),
                                    lambda padded=padded: ops.conv2d(padded(), kernel[None, None])[0, 0])
    res["equivariance_error"] = float(np.abs(res["conv_shifted"] - _shift(res["conv"], shift)).max())
    res["pooled_unchanged"] = float(np.mean(res["pooled"] == res["pooled_shifted"]))
    res["max_unchanged"] = bool(res["conv"].max() == res["conv_shifted"].max())
    return res


class PoolingView(View):
    """Top row: ``x`` with the maximum of each window circled, the pooled map,
    ``conv(x)``; bottom row: the same for the shifted map. The title gives the
    equivariance error and how many pooled cells the shift left unchanged.
    """

    function = staticmethod(pooling_result)
    internal = ("cache",)
    image_format = "jpeg"
    figsize = (10, 6.4)

    _ANNOTATE = 12  # write the numbers into maps up to this size

    def __init__(self) -> None:
        super().__init__()
        fig = self.figure
        grid = fig.add_gridspec(2, 3, left=0.06, right=0.98, top=0.86, bottom=0.03, hspace=0.28, wspace=0.2)
        self.axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(3)] for r in range(2)])
        self.images = np.empty((2, 3), dtype=object)
        for (r, c), ax in np.ndenumerate(self.axes):
            blank_axes(ax)
            cmap = DIVERGING if c == 2 else "viridis"
            self.images[r, c] = ax.imshow(np.zeros((2, 2)), cmap=cmap, interpolation="nearest")
        self.markers = [self.axes[r, 0].plot([], [], "s", mfc="none", mec="red", mew=2)[0]
                        for r in range(2)]
        self.labels = [[Labels(self.axes[r, c], fontsize=8) for c in range(2)] for r in range(2)]
        self.lines: list = []  # window borders, redrawn for each setting
        self.axes[0, 0].set_ylabel("x", fontsize=11)
        self.axes[1, 0].set_ylabel("shift(x)", fontsize=11)
        self.title = fig.suptitle("", fontsize=10.5)
        self._source, self._cache = None, {}

    def compute(self, x=None, **settings) -> dict[str, Any]:
        """:func:`pooling_result` with a cache kept while ``x`` stays the same object."""
        if x is not self._source:  # the cache only holds results for one input
            self._source, self._cache = x, {}
        return pooling_result(x, cache=self._cache, **settings)

    def draw(self, res: dict[str, Any]) -> None:
        for line in self.lines:
            line.remove()
        self.lines = []
        small = max(res["x"].shape) <= self._ANNOTATE
        H, W = res["x"].shape
        k, st = res["kernel_size"], res["stride"]
        vmin, vmax = float(res["x"].min()), float(res["x"].max())
        clim = symmetric_limit(res["conv"], res["conv_shifted"])
        dy, dx = res["shift"]
        for r, suffix in enumerate(("", "_shifted")):
            inp = res["x"] if r == 0 else res["shifted"]
            panels = (inp, res["pooled" + suffix], res["conv" + suffix])
            for c, values in enumerate(panels):
                im = self.images[r, c]
                set_image(im, values)
                im.set_clim(*((-clim, clim) if c == 2 else (vmin, vmax)))
                if c < 2 and small:
                    # blank = 0 in the input keeps the map readable
                    shown = np.ones(values.shape, bool) if c else values != 0
                    vals = values[shown]
                    self.labels[r][c].set_labels(
                        cell_positions(*values.shape)[shown.ravel()], [fmt(v) for v in vals],
                        ["white" if v < (vmin + vmax) / 2 else "black" for v in vals])
                elif c < 2:
                    self.labels[r][c].clear_labels()
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
            self.axes[r, 1].set_title(f"{res['mode']} pool {res['kernel_size']}, stride {res['stride']}: "
                                      f"{pooled.shape[0]}×{pooled.shape[1]}", fontsize=9.5)
            self.axes[r, 2].set_title("conv(x)" if r == 0 else "conv(shift(x))", fontsize=9.5)
        same_shape = res["pooled"].shape == res["pooled_shifted"].shape
        self.title.set_text(
            f"equivariance: max |conv(shift(x)) − shift(conv(x))| = {res['equivariance_error']:.3g}"
            f" (circular padding)\n"
            + (f"invariance: {100 * res['pooled_unchanged']:.0f}% of pooled cells unchanged by the shift; "
               if same_shape else "")
            + f"max of conv unchanged: {res['max_unchanged']}")


plot_pooling = make_plot(PoolingView, "plot_pooling",
                         "Draw pooling with each window's winner, and the shift experiment (see "
                         ":func:`pooling_result`).")


# ----------------------------------------------------------------------------- the widget


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    return {"shift": (values["shift_rows"], values["shift_cols"])}


def pooling_explorer(x=None):
    """Max or average pooling of a feature map, and what a shift of 1-2 pixels does.

    Parameters
    ----------
    x : array_like, shape (H, W) or (H, W, 3), optional
        Feature map or image; default the 8x8 :data:`DEFAULT_FEATURE_MAP`.

    Returns
    -------
    Explorer
        Controls: ``mode`` (max / avg), ``kernel_size``, ``stride``, ``shift_rows``,
        ``shift_cols``. ``result`` is :func:`pooling_result`'s dict.
    """
    from .widget import build

    x = DEFAULT_FEATURE_MAP if x is None else np.asarray(x)
    controls = {
        "mode": C.Toggle("pooling", ["max", "avg"]),
        "kernel_size": C.Slider("window", 1, 4, continuous=False),
        "stride": C.Slider("stride", 1, 4, default=2, continuous=False),
        "shift_rows": C.Slider("shift down", -2, 2, default=0, continuous=False),
        "shift_cols": C.Slider("shift right", -2, 2, default=0, continuous=False),
    }
    layout = [C.Row("mode", "kernel_size", "stride"), C.Row("shift_rows", "shift_cols")]
    return build("pooling", PoolingView(), controls, layout, fixed={"x": x}, arguments=_arguments)
