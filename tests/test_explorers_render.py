"""Tests of course.explorers.render: the renderer's pixels, labels, image bytes, View and make_plot."""
from __future__ import annotations

import inspect

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from course.explorers import render
from course.explorers.conv_step import DECK_INPUT, VERTICAL_EDGE, plot_conv_step


def _png_pixels(data: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_render_figure_formats():
    fig = plot_conv_step(DECK_INPUT, VERTICAL_EDGE, 0)
    assert render.render_figure(fig).startswith(b"\x89PNG")
    assert render.render_figure(fig, "jpeg").startswith(b"\xff\xd8")
    with pytest.raises(ValueError, match="`format`"):
        render.render_figure(fig, "gif")


def test_render_figure_sends_what_matplotlib_draws():
    """The PNG is the figure as plain Agg draws it (text within the cache's sub-pixel placement)."""
    fig = plot_conv_step(DECK_INPUT, VERTICAL_EDGE, 4)
    ours = _png_pixels(render.render_figure(fig))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    agg = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    assert ours.shape == agg.shape == (440, 850, 3)  # 8.5 x 4.4 inches for a 5x5 input, at 100 dpi
    diff = np.abs(ours - agg).max(axis=-1)
    assert diff.mean() < 1.0 and (diff > 100).mean() < 0.01  # only the edges of some glyphs differ
    # the same figure at another size renders at that size
    fig.set_size_inches(6, 2)
    assert _png_pixels(render.render_figure(fig)).shape == (200, 600, 3)


def test_new_figure_is_not_kept_by_pyplot():
    before = plt.get_fignums()
    fig = render.new_figure(3, 2)
    assert plt.get_fignums() == before
    assert tuple(fig.get_size_inches()) == (3, 2) and fig.dpi == render.FIG_DPI


def test_labels_draw_each_string_in_its_cell():
    """Grid numbers are one path collection (fast to redraw): the ink must land where asked."""
    fig = render.new_figure(2, 1)  # 200 x 100 pixels
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(0.5, -0.5)
    ax.axis("off")
    labels = render.Labels(ax, fontsize=20)
    labels.set_labels([(0, 0)], ["8"])
    ink = render.render_rgba(fig)[..., 0] < 128
    assert labels.strings == ["8"]
    assert ink[:, :100].sum() > 30  # the "8" sits in the left cell, around pixel (50, 50)
    assert not ink[:, 100:].any()
    rows, cols = np.nonzero(ink)
    assert abs(cols.mean() - 50) < 4 and abs(rows.mean() - 50) < 4
    labels.set_labels([(1, 0)], ["8"])  # moved to the right cell
    ink = render.render_rgba(fig)[..., 0] < 128
    assert not ink[:, :100].any() and ink[:, 100:].sum() > 30
    labels.clear_labels()
    assert labels.strings == [] and not (render.render_rgba(fig)[..., 0] < 128).any()


def test_text_cache_draws_what_matplotlib_draws():
    """The explorers' renderer rasterizes each line of text once and reuses it: the pixels must
    be Matplotlib's (to within sub-pixel placement), and lines that differ only in colour or
    size must not be mixed up."""

    def figure():
        fig = Figure(figsize=(3, 1), dpi=100)
        FigureCanvasAgg(fig)
        fig.text(0.1, 0.6, "conv 3×3 → 55", fontsize=12, color="red")
        fig.text(0.1, 0.2, "conv 3×3 → 55", fontsize=8)
        return fig

    render.TextCachingRenderer.cache.clear()
    fig = figure()
    render.render_rgba(fig)
    assert {key[0] for key in render.TextCachingRenderer.cache} == {"conv 3×3 → 55"}
    assert len(render.TextCachingRenderer.cache) == 2  # one per size and colour: the cache is in use
    ours = render.render_rgba(fig).astype(int)  # the second draw comes from the cache
    plain = figure()
    plain.canvas.draw()
    agg = np.asarray(plain.canvas.buffer_rgba()).astype(int)
    assert np.abs(ours - agg).mean() < 1.0
    red = (ours[..., 0] > 150) & (ours[..., 1] < 100)
    dark = ours[..., :3].sum(axis=-1) < 200
    assert red[:50].sum() > 50 and not red[50:].any()  # the large red line, in the top half
    assert dark[50:].sum() > 20 and not dark[:50].any()  # the small black one, below


def test_rotated_and_math_text_are_drawn_by_matplotlib_itself():
    render.TextCachingRenderer.cache.clear()
    fig = Figure(figsize=(2, 2), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "rotated", rotation=90)
    fig.text(0.1, 0.1, r"$\frac{a}{b}$")
    rgba = render.render_rgba(fig)
    assert render.TextCachingRenderer.cache == {}
    assert (rgba[..., 0] < 128).sum() > 50  # but drawn


def test_helpers():
    np.testing.assert_array_equal(render.cell_positions(2, 3), [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]])
    assert render.fill((2, 1), "red").tolist() == [[[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]]
    assert render.symmetric_limit(np.array([1.0, -3.0, np.nan]), np.array([np.inf, 2.0])) == 3.0
    assert render.symmetric_limit(np.zeros(3)) == 1e-12
    assert render.wrap("a b c d", 3) == "a b\nc d"
    assert render.fmt(2.0) == "2" and render.fmt(1 / 3) == "0.333"
    fig = render.new_figure(2, 2)
    im = fig.add_subplot().imshow(np.zeros((2, 2)))
    render.set_image(im, np.zeros((3, 5)))
    assert im.get_extent() == [-0.5, 4.5, 2.5, -0.5] and im.axes.get_xlim() == (-0.5, 4.5)


class _SquareView(render.View):
    """Nothing but a title with the square."""

    @staticmethod
    def function(n: int, *, offset: int = 0, cache: dict | None = None) -> dict:
        if cache is not None:
            cache["calls"] = cache.get("calls", 0) + 1
        return {"square": n * n + offset}

    internal = ("cache",)
    figsize = (2, 1)

    def __init__(self):
        super().__init__()
        self.title = self.figure.suptitle("")

    def draw(self, result):
        self.title.set_text(f"square {result['square']}")


def test_view_update_computes_draws_and_keeps_the_result():
    view = _SquareView()
    assert view.update(3, offset=1) == {"square": 10} == view.result
    assert view.title.get_text() == "square 10"
    with pytest.raises(NotImplementedError):
        render.View.draw(view, {})


def test_make_plot_has_the_compute_signature_less_internal_parameters():
    plot = render.make_plot(_SquareView, "plot_square", "Draw a square.")
    assert str(inspect.signature(plot)) == "(n: 'int', *, offset: 'int' = 0) -> 'Figure'"
    assert plot.__name__ == "plot_square" and plot.__module__ == __name__
    assert plot.__doc__.startswith("Draw a square.") and "Nothing but a title" in plot.__doc__
    fig = plot(4, offset=2)
    assert isinstance(fig, Figure) and fig.get_suptitle() == "square 18"
    with pytest.raises(TypeError, match="unexpected keyword argument 'size'"):
        plot(4, size=3)
    with pytest.raises(TypeError, match="cache"):
        plot(4, cache={})  # internal: not part of the static call


def test_renderer_only_overrides_the_public_backend_api():
    """No private Matplotlib name is used by the explorers (pyproject admits matplotlib>=3.8)."""
    import course.explorers as explorers

    for path in sorted(__import__("pathlib").Path(explorers.__file__).parent.glob("*.py")):
        source = path.read_text()
        assert "_lastKey" not in source and "._suptitle" not in source and "_get_renderer" not in source, path
    assert matplotlib.__version__  # the tests run on the pinned one (tests/test_packaging.py)
