"""Explorer 2: convolution arithmetic, the padded (or, transposed, spread) input, the kernel's taps and the output.

:func:`conv_arithmetic` computes the geometry of one step, :class:`ConvArithmeticView`
draws it as in Dumoulin and Visin's animations, :func:`plot_conv_arithmetic` is the
static figure, :func:`save_conv_arithmetic_gif` the animation and
:func:`conv_arithmetic_explorer` the widget. Lecture notebook 03 (and 05 for the
transposed convolution); :mod:`course.explorers.name_the_operation` reuses the view.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

import course.ops as ops

from . import controls as C
from .render import View, blank_axes, cell_lines, fill, make_plot, save_gif, set_image, wrap

__all__ = ["ConvArithmeticView", "conv_arithmetic", "conv_arithmetic_explorer", "plot_conv_arithmetic",
           "save_conv_arithmetic_gif"]

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


class ConvArithmeticView(View):
    """Left: the (padded, or for ``transposed`` spread and padded) input with the
    kernel's taps at this step in dark; right: the output grid, cells computed so far
    in light green and the current one dark; below: the output-size formula with
    these values. Invalid settings draw the explanation of
    :func:`course.ops.conv_output_size` instead of raising.

    The axes, images and texts are made once; a new setting changes their data, and
    the cell borders only when a grid changes size. Subclasses change what the
    title and the formula line say (:meth:`title_text`, :meth:`formula_text`) and may
    write into the grids (:meth:`draw_numbers`).
    """

    function = staticmethod(conv_arithmetic)
    figsize = (8.5, 4.6)
    _BOTTOM = 0.14  # room under the grids for the formula

    def __init__(self) -> None:
        super().__init__()
        fig = self.figure
        grid = fig.add_gridspec(1, 2, width_ratios=[1.25, 1], left=0.03, right=0.97,
                                top=0.80, bottom=self._BOTTOM, wspace=0.15)
        self.ax_in, self.ax_out = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        for ax in (self.ax_in, self.ax_out):
            blank_axes(ax)
            ax.set_aspect("equal")
        self.im_in = self.ax_in.imshow(np.ones((1, 1, 3)), interpolation="nearest")
        self.im_out = self.ax_out.imshow(np.ones((1, 1, 3)), interpolation="nearest")
        self.window = self.ax_in.add_patch(Rectangle((0, 0), 1, 1, fill=False, lw=2, ec="#cc0000"))
        self.message = self.ax_out.text(
            0.5, 0.5, "", ha="center", va="center", fontsize=10, color="#990000",
            transform=self.ax_out.transAxes, bbox=dict(boxstyle="round", fc="#fce8e6", ec="#990000"))
        self.title = fig.suptitle("", fontsize=11)
        self.formula = fig.text(0.5, 0.04, "", ha="center", fontsize=11)
        self._borders: list = []
        self._sizes: tuple | None = None

    def title_text(self, res: dict[str, Any]) -> str:
        """The figure's title: the operation and its settings."""
        kind = "transposed convolution" if res["transposed"] else "convolution"
        return (f"{kind}: input {res['input_size']}, kernel {res['kernel_size']}, padding {res['padding']}, "
                f"stride {res['stride']}, dilation {res['dilation']}")

    def formula_text(self, res: dict[str, Any]) -> str:
        """The line under the figure: the output-size formula evaluated on the settings."""
        return res["formula"]

    def draw_numbers(self, res: dict[str, Any], G: int, o: int) -> None:
        """Write values into the grids (nothing here: the geometry alone)."""

    def draw(self, res: dict[str, Any]) -> None:
        self.title.set_text(self.title_text(res))
        self.formula.set_text(self.formula_text(res))
        G = 0 if res["coords"] is None else len(res["coords"])
        o = 0 if res["error"] is not None else res["output_size"]
        if (G, o) != self._sizes:
            self._draw_borders(G, o)
        self._draw_input(res, G)
        self.im_out.set_visible(o > 0)
        self.message.set_visible(o == 0)
        if o == 0:
            self.message.set_text("These settings do not work:\n\n" + wrap(res["error"], 42))
            self.ax_out.set_title("")
            self.draw_numbers(res, G, o)
            return
        colors = fill((o, o), "white")
        colors[np.arange(o * o).reshape(o, o) < res["step"]] = _OUT_DONE
        colors[res["output_cell"]] = _OUT_NOW
        set_image(self.im_out, colors)
        side = max(o, G)  # same cell size as the input grid
        self.ax_out.set_xlim(-0.5, side - 0.5)
        self.ax_out.set_ylim(side - 0.5, -0.5)
        self.ax_out.set_title(f"output {o}×{o}, cell {res['output_cell']}", fontsize=10)
        self.draw_numbers(res, G, o)

    def _draw_borders(self, G: int, o: int) -> None:
        for lines in self._borders:
            lines.remove()
        self._borders = []
        if G:
            self._borders += cell_lines(self.ax_in, G, G, color="0.55", lw=0.8 if G > 15 else 1.0)
        if o:
            self._borders += cell_lines(self.ax_out, o, o, color="0.4")
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
        set_image(self.im_in, colors)
        what = "input spread by the stride and padded" if res["transposed"] else "input (blue) with padding"
        self.ax_in.set_title(what, fontsize=10)


plot_conv_arithmetic = make_plot(
    ConvArithmeticView, "plot_conv_arithmetic",
    "Draw one frame of the convolution-arithmetic animation (see :func:`conv_arithmetic`).")

_GIF_SETTINGS = ("input_size", "kernel_size", "padding", "stride", "dilation", "transposed")


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
    unknown = set(settings) - set(_GIF_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; use {sorted(_GIF_SETTINGS)}")
    first = conv_arithmetic(**settings)
    if first["error"] is not None:
        raise ValueError(first["error"])
    frames = [{**settings, "step": step} for step in range(first["n_steps"])]
    return save_gif(ConvArithmeticView(), frames, path, fps=fps, dpi=dpi)


# ----------------------------------------------------------------------------- the widget


def step_range(kwargs: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The step slider's range for these settings: one step per output cell (0..0 when invalid)."""
    settings = {k: v for k, v in kwargs.items() if k != "step"}
    n_steps = conv_arithmetic(**settings)["n_steps"]
    return {"step": (0, max(n_steps - 1, 0))}


def conv_arithmetic_explorer():
    """Input size, kernel, padding, stride, dilation and transposed mode, as in the conv-arithmetic animations.

    Returns
    -------
    Explorer
        Controls: ``input_size``, ``kernel_size``, ``padding``, ``stride``,
        ``dilation``, ``transposed``, ``step``, ``play``. Invalid settings show
        the explanation of :func:`course.ops.conv_output_size` in the figure and
        in ``error``. ``result`` is :func:`conv_arithmetic`'s dict.
    """
    from .widget import build

    controls = {
        "input_size": C.Slider("input size i", 1, 9),
        "kernel_size": C.Slider("kernel size k", 1, 6),
        "padding": C.Slider("padding p", 0, 4),
        "stride": C.Slider("stride s", 1, 4),
        "dilation": C.Slider("dilation d", 1, 4),
        "transposed": C.Checkbox("transposed convolution"),
        "step": C.Slider("step", 0, 8),
        "play": C.Play("step", interval=700),
    }
    layout = [C.Row("input_size", "kernel_size", "padding"), C.Row("stride", "dilation", "transposed"),
              C.Row("play", "step")]
    return build("conv-arithmetic", ConvArithmeticView(), controls, layout, ranges=step_range)
