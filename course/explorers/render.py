"""What every explorer's figure is drawn with: the figure, the fast renderer, grid helpers, the view base.

- :func:`new_figure` makes a figure that pyplot does not keep (it shows once, as a
  cell's value);
- :func:`render_figure` draws a figure to PNG/JPEG bytes for an ``ipywidgets.Image``
  through :class:`TextCachingRenderer`, which rasterizes each distinct line of text
  once (a redraw changes few of them);
- :class:`Labels` draws the numbers of a grid as one path collection;
- :class:`View` is the base of every explorer's view: one figure kept alive and
  redrawn in place from the dict its compute function returns; :func:`make_plot`
  turns a view into the static ``plot_*`` function with the compute function's
  signature.

Only Matplotlib's public API is used (``Figure.draw`` with a ``RendererAgg`` of our
own, ``RendererAgg.draw_text`` overridden as a backend would), so every Matplotlib
that ``pyproject.toml`` admits draws the explorers.
"""
from __future__ import annotations

import inspect
import io
import math
import textwrap
import weakref
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

from .parse import format_number as fmt

__all__ = [
    "DIVERGING",
    "FIG_DPI",
    "Labels",
    "TextCachingRenderer",
    "View",
    "blank_axes",
    "cell_grid",
    "cell_lines",
    "cell_positions",
    "fill",
    "fmt",
    "make_plot",
    "new_figure",
    "render_figure",
    "render_rgba",
    "save_gif",
    "set_image",
    "symmetric_limit",
    "wrap",
]

#: Colour map of signed values (kernels, convolution outputs): blue negative, red positive.
DIVERGING = "RdBu_r"
#: Resolution of every explorer figure.
FIG_DPI = 100


# ----------------------------------------------------------------------------- figures and rendering


class TextCachingRenderer(RendererAgg):
    """Agg renderer that rasterizes each distinct horizontal line of text once.

    Matplotlib 3.11 shapes and rasterizes every glyph of every text on every draw
    (about 0.1 ms a glyph); an explorer redraws its titles, labels and tick labels
    on each control change, though few of them change. Here a line is drawn once
    into a small transparent buffer, kept by its string, font, colour and dpi, and
    composited as an image after that: the same pixels to within the sub-pixel
    placement of the line (under half a pixel), in a fraction of the time.

    Only the renderer API that every backend implements is overridden
    (``draw_text``); :func:`render_figure` hands this renderer to ``Figure.draw``.
    """

    cache: ClassVar[dict[tuple, tuple[np.ndarray, int, float]]] = {}
    CACHE_SIZE: ClassVar[int] = 4096
    _PAD = 2

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath or angle % 360 or not s.strip() or not _plain(mtext):
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
                prop.get_stretch(), prop.get_size_in_points(), prop.get_file())
        key = (s, font, self.dpi, tuple(gc.get_rgb()), gc.get_alpha(), gc.get_antialiased())
        hit = self.cache.get(key)
        if hit is None:
            width, height, descent = self.get_text_width_height_descent(s, prop, False)
            pad = self._PAD
            small = RendererAgg(math.ceil(width) + 2 * pad, math.ceil(height) + 2 * pad, self.dpi)
            baseline = pad + height - descent  # from the top, as x, y are given here
            RendererAgg.draw_text(small, gc, pad, baseline, s, prop, 0, False, mtext)
            # draw_image takes the bottom row first
            hit = (np.asarray(small.buffer_rgba())[::-1].copy(), pad, baseline)
            if len(self.cache) >= self.CACHE_SIZE:
                self.cache.clear()
            self.cache[key] = hit
        image, pad, baseline = hit
        top = round(y - baseline)  # y is the baseline, counted from the top of the canvas
        self.draw_image(gc, round(x - pad), self.height - top - image.shape[0], image)


def _plain(mtext) -> bool:
    """Whether a text has no OpenType features or language set (Matplotlib 3.10+ options)."""
    if mtext is None:
        return True
    features = getattr(mtext, "get_fontfeatures", lambda: None)()
    language = getattr(mtext, "get_language", lambda: None)()
    return features is None and language is None


_RENDERERS: weakref.WeakKeyDictionary[Figure, TextCachingRenderer] = weakref.WeakKeyDictionary()


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches that pyplot does not keep: it shows once, as a cell's value."""
    fig = plt.figure(figsize=(width, height), dpi=FIG_DPI)
    plt.close(fig)
    return fig


def render_rgba(fig: Figure) -> np.ndarray:
    """Draw ``fig`` with its :class:`TextCachingRenderer` and return the pixels.

    Returns
    -------
    ndarray of uint8, shape (H, W, 4)
        A view of the renderer's buffer (valid until the next draw of ``fig``).
    """
    width, height = fig.canvas.get_width_height(physical=True)
    renderer = _RENDERERS.get(fig)
    if renderer is None or (renderer.width, renderer.height, renderer.dpi) != (width, height, fig.dpi):
        renderer = _RENDERERS[fig] = TextCachingRenderer(width, height, fig.dpi)
    renderer.clear()
    fig.draw(renderer)
    return np.asarray(renderer.buffer_rgba())


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

    Raises
    ------
    ValueError
        For another ``format``.
    """
    if format not in ("png", "jpeg"):
        raise ValueError(f"`format` must be 'png' or 'jpeg', got {format!r}")
    from PIL import Image

    rgba = render_rgba(fig)
    # the figures are opaque: encoding RGB instead of RGBA saves a quarter of the work
    # (and PIL drops the alpha channel five times faster than a NumPy copy)
    rgb = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    if format == "png":
        rgb.save(buf, format="png", compress_level=1)
    else:
        rgb.save(buf, format="jpeg", quality=92, subsampling=0)
    return buf.getvalue()


def save_gif(view: View, frames: Sequence[dict[str, Any]], path, *, fps: float = 2.0, dpi: int = 60) -> str:
    """Animate ``view``: one frame per dict of settings in ``frames``, written as a GIF (Pillow).

    Parameters
    ----------
    view : View
    frames : sequence of dict
        Keyword arguments of ``view.update`` for each frame.
    path : str or path-like
    fps : float, keyword-only
        Frames per second.
    dpi : int, keyword-only
        Resolution of the frames.

    Returns
    -------
    str
        ``path``.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    frames = list(frames)
    anim = FuncAnimation(view.figure, lambda i: view.update(**frames[i]) and [], frames=len(frames),
                         blit=False, repeat=False)
    anim.save(str(path), writer=PillowWriter(fps=fps), dpi=dpi)
    return str(path)


# ----------------------------------------------------------------------------- numbers in grids


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


class Labels(PathCollection):
    """Many short strings (the numbers of a grid) drawn as one collection of outlines.

    Matplotlib lays out and rasterizes every ``Text`` artist again on every draw,
    about 1 ms each; the explorers' grids hold up to a few hundred numbers and redraw
    on every control change. Here each distinct string becomes a ``TextPath`` once
    (cached) and a redraw is a single path-collection draw, several times faster,
    with the same font and look. ``strings`` holds what is shown, for tests.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Positions are in its data coordinates.
    fontsize : float, keyword-only
    color : colour, keyword-only
    ha, va : str, keyword-only
        Anchor of each string at its position ('left'/'center'/'right', 'bottom'/'center'/'top').
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
        """Show ``strings[i]`` anchored at data point ``positions[i]`` (x, y); ``positions`` has shape (n, 2)."""
        self.strings = [str(text) for text in strings]
        self.set_paths([_label_path(text, self.fontsize, self.ha, self.va) for text in self.strings])
        self.set_offsets(np.asarray(positions, dtype=float).reshape(-1, 2))
        self.set_facecolor(self.color if colors is None else colors)
        self.stale = True

    def clear_labels(self) -> None:
        """Show nothing."""
        self.set_labels(np.empty((0, 2)), [])


def cell_positions(rows: int, cols: int) -> np.ndarray:
    """(x, y) = (column, row) of every cell of a (rows, cols) imshow, row by row: shape (rows * cols, 2)."""
    r, c = np.mgrid[0:rows, 0:cols]
    return np.column_stack([c.ravel(), r.ravel()])


def blank_axes(ax) -> None:
    """No ticks and no frame."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def cell_lines(ax, rows: int, cols: int, *, color: str = "0.35", lw: float = 1.0) -> list:
    """Lines around the cells of an imshow of shape (rows, cols); returns the two collections."""
    return [ax.hlines(np.arange(rows + 1) - 0.5, -0.5, cols - 0.5, colors=color, linewidth=lw),
            ax.vlines(np.arange(cols + 1) - 0.5, -0.5, rows - 0.5, colors=color, linewidth=lw)]


def cell_grid(ax, rows: int, cols: int, *, color: str = "0.35", lw: float = 1.0) -> None:
    """Lines around the cells of an imshow of shape (rows, cols), and no ticks or frame."""
    cell_lines(ax, rows, cols, color=color, lw=lw)
    blank_axes(ax)


def fill(shape: tuple[int, int], color) -> np.ndarray:
    """An RGB image of shape ``shape + (3,)`` in one colour."""
    out = np.empty(shape + (3,))
    out[...] = to_rgb(color)
    return out


def set_image(im, values: np.ndarray) -> None:
    """Replace an imshow's data, fitting its extent and the axes to the new shape."""
    im.set_data(values)
    rows, cols = values.shape[:2]
    im.set_extent((-0.5, cols - 0.5, rows - 0.5, -0.5))
    im.axes.set_xlim(-0.5, cols - 0.5)
    im.axes.set_ylim(rows - 0.5, -0.5)


def symmetric_limit(*arrays: np.ndarray) -> float:
    """Largest absolute finite value (at least a tiny positive number), for a 0-centred scale."""
    peak = 0.0
    for a in arrays:
        finite = np.abs(a[np.isfinite(a)])
        if finite.size:
            peak = max(peak, float(finite.max()))
    return peak if peak > 0 else 1e-12


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width))


# ----------------------------------------------------------------------------- views


class View:
    """Base of the explorers' views: one figure, redrawn in place for new settings.

    A subclass sets

    - ``function``: the explorer's pure compute function (``staticmethod``); its
      signature is the explorer's, written once: :meth:`update`, the static
      ``plot_*`` function (:func:`make_plot`) and the widget's control defaults all
      follow it;
    - ``draw(result)``: update the figure's artists from the dict ``function``
      returned (no computing there);
    - optionally ``compute(*args, **kwargs)``, to pass ``function`` a cache it keeps.

    The explorer widgets keep one view alive and only update it, which is what makes
    a redraw fast (``benchmarks/bench_widgets.py``).
    """

    #: The compute function (a staticmethod in subclasses).
    function: ClassVar[Callable[..., dict[str, Any]]]
    #: Parameters of ``function`` that the view fills itself (caches): not part of the plot's signature.
    internal: ClassVar[tuple[str, ...]] = ()
    #: Encoding for the browser: 'png' for flat diagrams, 'jpeg' for photos and heat maps.
    image_format: ClassVar[str] = "png"
    #: Size of the figure in inches (width, height).
    figsize: ClassVar[tuple[float, float]] = (8.0, 4.0)

    def __init__(self) -> None:
        self.figure = new_figure(*self.figsize)
        self.result: dict[str, Any] = {}

    def compute(self, *args, **kwargs) -> dict[str, Any]:
        """The numbers for these settings: ``function(*args, **kwargs)``."""
        return type(self).function(*args, **kwargs)

    def update(self, *args, **kwargs) -> dict[str, Any]:
        """Compute for these settings (the arguments of ``function``), redraw, return the result dict."""
        result = self.compute(*args, **kwargs)
        self.draw(result)
        self.result = result
        return result

    def draw(self, result: dict[str, Any]) -> None:
        raise NotImplementedError


def make_plot(view_class: type[View], name: str, summary: str) -> Callable[..., Figure]:
    """The static figure of an explorer: a function with ``view_class.function``'s signature.

    Parameters
    ----------
    view_class : type of View
    name : str
        The function's name (``plot_...``), for its repr and the docs.
    summary : str
        First line of its docstring.

    Returns
    -------
    callable
        ``plot(*args, **kwargs)`` draws a new ``view_class()`` for these settings and
        returns its figure.
    """
    function = view_class.function
    signature = inspect.signature(function)
    signature = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name not in view_class.internal],
        return_annotation="Figure")

    def plot(*args, **kwargs) -> Figure:
        signature.bind(*args, **kwargs)  # a TypeError naming the wrong argument, as a written signature gives
        view = view_class()
        view.update(*args, **kwargs)
        return view.figure

    plot.__signature__ = signature
    plot.__name__ = plot.__qualname__ = name
    plot.__module__ = view_class.__module__
    described = inspect.cleandoc(view_class.__doc__ or "")
    plot.__doc__ = (
        f"{summary}\n\nParameters\n----------\nThe settings of :func:`{function.__name__}`"
        f" ({', '.join(signature.parameters)}).\n\nReturns\n-------\nmatplotlib.figure.Figure\n"
        + textwrap.indent(described, "    ") + "\n")
    return plot
