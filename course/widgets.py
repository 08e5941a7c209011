"""Interactive explorers (ipywidgets 8) on top of the figures of :mod:`course.viz`.

Each explorer maps controls to the arguments of one plain function of
:mod:`course.viz` and shows its figure; nothing is computed here. Every explorer
returns an :class:`Explorer` (an ``ipywidgets.VBox``) with

- ``controls``: dict of the control widgets by name; setting ``.value`` in code
  redraws, exactly as moving the control does (tests and benchmarks do that);
- ``result``: the dict of arrays of the last successful redraw (what the
  ``viz`` compute function returned);
- ``error``: the message shown for invalid settings, or None;
- ``image``: the ``ipywidgets.Image`` showing the figure (PNG, or JPEG for photos).

One matplotlib figure lives as long as the explorer and is updated in place
(``set_data`` on its images where the layout allows), then rendered to PNG and
sent to the browser; the course's budget is 100 ms a redraw on a 512x512 image
(``benchmarks/bench_widgets.py`` measures it).

>>> from course import widgets
>>> widgets.conv_stepper()  # doctest: +SKIP
"""
from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import ipywidgets as W
import numpy as np

from course import data, viz

__all__ = [
    "Explorer",
    "conv_arithmetic_explorer",
    "conv_matrix_viewer",
    "conv_stepper",
    "feature_map_viewer",
    "kernel_explorer",
    "pooling_explorer",
    "receptive_field_explorer",
]

_WIDE = {"description_width": "initial"}


class Explorer(W.VBox):
    """An explorer widget: controls, a message line and the figure.

    Parameters
    ----------
    name : str
        Short name, also the CSS class ``explorer-<name>`` (the browser test finds
        explorers by it; each control gets ``control-<key>``).
    controls : dict of str to ipywidgets.Widget
        The controls; a change of any ``value`` redraws.
    rows : list of ipywidgets.Widget
        How the controls are laid out above the figure.
    view : object with ``figure``
        A ``viz`` view whose figure is shown.
    draw : callable
        Reads the controls, updates ``view`` and returns the result dict; may raise
        ValueError/TypeError for invalid settings, whose message is then shown.
    passive : iterable of str
        Controls whose changes their own callbacks handle (a preset that fills in
        other controls first, then calls :meth:`refresh` once).
    """

    def __init__(self, name: str, controls: dict[str, W.Widget], rows: list[W.Widget], view: Any,
                 draw: Callable[[], dict[str, Any]], *, passive: tuple[str, ...] = ()) -> None:
        self.name = name
        self.controls = controls
        self.view = view
        self.result: dict[str, Any] = {}
        self.error: str | None = None
        self._draw = draw
        self._held = 0
        self.message = W.HTML(value="")
        self.message.add_class("explorer-message")
        self.image_format = getattr(view, "image_format", "png")
        self.image = W.Image(format=self.image_format, layout=W.Layout(max_width="100%", height="auto"))
        self.image.add_class("explorer-image")
        super().__init__(children=[*rows, self.message, self.image])
        self.add_class("course-explorer")
        self.add_class(f"explorer-{name}")
        for key, control in controls.items():
            control.add_class(f"control-{key}")
            if "value" in control.trait_names() and not isinstance(control, W.Play) and key not in passive:
                control.observe(self.refresh, names="value")
        self.refresh()

    @property
    def figure(self):
        """The matplotlib figure shown (a view may switch figures when its layout changes)."""
        return self.view.figure

    @contextmanager
    def hold(self):
        """Change several controls without a redraw after each (one ``refresh()`` after)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    def refresh(self, change: Any = None) -> None:
        """Recompute and redraw from the current control values."""
        if self._held:
            return
        try:
            with self.hold():
                result = self._draw()
        except (ValueError, TypeError) as err:
            self.show_error(str(err))
            return
        self.result = result
        message = result.get("error") if isinstance(result, dict) else None
        self.error = message
        self.message.value = _error_html(message) if message else ""
        self.image.value = viz.render_figure(self.figure, self.image_format)

    def show_error(self, message: str) -> None:
        """Show ``message`` instead of redrawing (the last figure stays, greyed)."""
        self.error = message
        self.message.value = _error_html(message)


def _error_html(message: str) -> str:
    return (f'<div style="color:#a00000;background:#fce8e6;padding:4px 8px;border-radius:4px">'
            f"⚠ {html.escape(message)}</div>")


def _slider(description: str, value: int, lo: int, hi: int, *, continuous: bool = True) -> W.IntSlider:
    return W.IntSlider(value=value, min=lo, max=hi, description=description, style=_WIDE,
                       continuous_update=continuous, layout=W.Layout(width="260px"))


def _set_range(slider: W.IntSlider, lo: int, hi: int) -> None:
    """New bounds for a slider, keeping its value inside them (order matters to the validators)."""
    hi = max(hi, lo)
    if lo > slider.max:
        slider.max = hi
        slider.min = lo
    else:
        slider.min = lo
        slider.max = hi


def _text_of(values: np.ndarray) -> str:
    values = np.atleast_2d(values)
    return "\n".join(" ".join(viz._fmt(v) for v in row) for row in values)


# ----------------------------------------------------------------------------- 1. step by step

_DEFAULT_1D_X = np.array([1, 3, 2, 3, 10, 5, 2, 2])
_DEFAULT_1D_KERNEL = np.array([1, 0, -1])


def conv_stepper(x=None, kernel=None) -> Explorer:
    """Step a kernel over a small input: window, products, their sum and the output filling in.

    Parameters
    ----------
    x : array_like, shape (H, W) or (L,), optional
        Default: the lectures' 5x5 input :data:`course.viz.DECK_INPUT`.
    kernel : array_like, shape (KH, KW) or (K,), optional
        Default: the vertical-edge kernel :data:`course.viz.VERTICAL_EDGE`
        (output ``[[-1, -4, -14], [6, -3, -13], [9, -6, -8]]``).

    Returns
    -------
    Explorer
        Controls: ``dims`` (2-D / 1-D), ``x`` and ``kernel`` (text, one row per
        line), ``operation`` (cross-correlation / convolution), ``step``, ``play``,
        ``back``, ``next``. ``result`` is :func:`course.viz.conv_step`'s dict.
    """
    x = viz.DECK_INPUT if x is None else np.asarray(x)
    one_d = x.ndim == 1
    if kernel is None:
        kernel = _DEFAULT_1D_KERNEL if one_d else viz.VERTICAL_EDGE
    kernel = np.asarray(kernel)
    text_layout = W.Layout(width="210px", height="120px")
    controls = {
        "dims": W.ToggleButtons(options=["2-D", "1-D"], value="1-D" if one_d else "2-D",
                                description="input", style={**_WIDE, "button_width": "60px"}),
        "x": W.Textarea(value=_text_of(x), description="x", continuous_update=False, layout=text_layout),
        "kernel": W.Textarea(value=_text_of(kernel), description="kernel", continuous_update=False,
                             layout=W.Layout(width="170px", height="120px")),
        "operation": W.ToggleButtons(options=["cross-correlation", "convolution"], value="cross-correlation",
                                     description="operation", style={**_WIDE, "button_width": "130px"},
                                     tooltips=["slide the kernel as it is (what conv2d computes)",
                                               "flip the kernel first (the mathematical convolution)"]),
        "step": _slider("step", 0, 0, 8),
        "play": W.Play(value=0, min=0, max=8, interval=900, description="play"),
        "back": W.Button(description="◀ back", layout=W.Layout(width="80px")),
        "next": W.Button(description="next ▶", layout=W.Layout(width="80px")),
    }
    c = controls
    W.link((c["play"], "value"), (c["step"], "value"))
    view = viz.ConvStepView()
    rows = [
        W.HBox([c["dims"], c["operation"]]),
        W.HBox([c["x"], c["kernel"], W.HTML("<small>one row per line, numbers separated by spaces;"
                                            "<br>click outside the box to apply</small>")]),
        W.HBox([c["back"], c["play"], c["next"], c["step"]]),
    ]

    def draw() -> dict[str, Any]:
        ndim = 1 if c["dims"].value == "1-D" else 2
        xs = viz.parse_matrix(c["x"].value, "x", ndim=ndim)
        ks = viz.parse_matrix(c["kernel"].value, "kernel", ndim=ndim)
        n_steps = viz.conv_step(xs, ks, 0)["n_steps"]
        _set_range(c["step"], 0, n_steps - 1)
        _set_range(c["play"], 0, n_steps - 1)
        return view.update(xs, ks, c["step"].value, flip=c["operation"].value == "convolution")

    explorer = Explorer("conv-stepper", controls, rows, view, draw, passive=("dims",))

    def on_dims(change) -> None:
        # a new dimension needs matching defaults for both boxes
        with explorer.hold():
            if change["new"] == "1-D":
                c["x"].value, c["kernel"].value = _text_of(_DEFAULT_1D_X), _text_of(_DEFAULT_1D_KERNEL)
            else:
                c["x"].value, c["kernel"].value = _text_of(viz.DECK_INPUT), _text_of(viz.VERTICAL_EDGE)
            c["step"].value = 0
        explorer.refresh()

    def move(delta: int) -> None:
        n = c["step"].max + 1
        c["step"].value = (c["step"].value + delta) % n

    c["dims"].observe(on_dims, names="value")
    c["back"].on_click(lambda _: move(-1))
    c["next"].on_click(lambda _: move(+1))
    return explorer


# ----------------------------------------------------------------------------- 2. convolution arithmetic


def conv_arithmetic_explorer() -> Explorer:
    """Input size, kernel, padding, stride, dilation and transposed mode, as in the conv-arithmetic animations.

    Returns
    -------
    Explorer
        Controls: ``input_size``, ``kernel_size``, ``padding``, ``stride``,
        ``dilation``, ``transposed``, ``step``, ``play``. Invalid settings show
        the explanation of :func:`course.ops.conv_output_size` in the figure and
        in ``error``. ``result`` is :func:`course.viz.conv_arithmetic`'s dict.
    """
    controls = {
        "input_size": _slider("input size i", 5, 1, 9),
        "kernel_size": _slider("kernel size k", 3, 1, 6),
        "padding": _slider("padding p", 0, 0, 4),
        "stride": _slider("stride s", 1, 1, 4),
        "dilation": _slider("dilation d", 1, 1, 4),
        "transposed": W.Checkbox(value=False, description="transposed convolution", style=_WIDE),
        "step": _slider("step", 0, 0, 8),
        "play": W.Play(value=0, min=0, max=8, interval=700, description="play"),
    }
    c = controls
    W.link((c["play"], "value"), (c["step"], "value"))
    view = viz.ConvArithmeticView()
    rows = [
        W.HBox([c["input_size"], c["kernel_size"], c["padding"]]),
        W.HBox([c["stride"], c["dilation"], c["transposed"]]),
        W.HBox([c["play"], c["step"]]),
    ]
    names = ("input_size", "kernel_size", "padding", "stride", "dilation", "transposed")

    def draw() -> dict[str, Any]:
        settings = {name: c[name].value for name in names}
        n_steps = viz.conv_arithmetic(**settings)["n_steps"]
        _set_range(c["step"], 0, max(n_steps - 1, 0))
        _set_range(c["play"], 0, max(n_steps - 1, 0))
        return view.update(step=c["step"].value, **settings)

    return Explorer("conv-arithmetic", controls, rows, view, draw)


# ----------------------------------------------------------------------------- 3. kernels on photos

_IMAGES: dict[str, np.ndarray] = {}
_LOADERS = {"cat": data.cat, "logo": data.logo, "camera": data.camera}


def _image(name: str) -> np.ndarray:
    if name not in _IMAGES:
        _IMAGES[name] = _LOADERS[name]()
    return _IMAGES[name]


def kernel_explorer(image=None) -> Explorer:
    """Apply preset or hand-edited 3x3 kernels to a photo, with padding, stride, ReLU and channels.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3), optional
        Offered as "your image" beside the course's photos (cat, logo, camera);
        default the cat.

    Returns
    -------
    Explorer
        Controls: ``image``, ``preset``, ``w00`` ... ``w22`` (the kernel, row then
        column), ``padding_mode``, ``stride``, ``relu``, ``channels``. ``result``
        is :func:`course.viz.kernel_result`'s dict.
    """
    options = [("cat", "cat"), ("logo", "logo"), ("camera", "camera")]
    if image is not None:
        _IMAGES["given"] = np.asarray(image)
        options.insert(0, ("your image", "given"))
    first = "vertical edge detector"
    presets = [*viz.KERNEL_PRESETS, "custom"]
    cells = {f"w{r}{col}": W.FloatText(value=float(viz.KERNEL_PRESETS[first][r, col]),
                                       layout=W.Layout(width="72px"))
             for r in range(3) for col in range(3)}
    controls = {
        "image": W.Dropdown(options=options, value=options[0][1], description="image", style=_WIDE),
        "preset": W.Dropdown(options=presets, value=first, description="kernel", style=_WIDE),
        **cells,
        "padding_mode": W.Dropdown(options=["zeros", "reflect", "replicate", "circular", "valid"],
                                   value="zeros", description="padding", style=_WIDE,
                                   layout=W.Layout(width="200px")),
        "stride": _slider("stride", 1, 1, 4, continuous=False),
        "relu": W.Checkbox(value=False, description="ReLU", style=_WIDE),
        "channels": W.ToggleButtons(options=[("sum over RGB", "sum"), ("per channel", "separate")],
                                    value="sum", description="channels", style={**_WIDE, "button_width": "125px"}),
    }
    c = controls
    grid = W.GridBox(list(cells.values()), layout=W.Layout(grid_template_columns="repeat(3, 76px)"))
    view = viz.KernelResultView()
    rows = [
        W.HBox([W.VBox([c["image"], c["preset"], c["padding_mode"]]),
                W.VBox([W.HTML("<b>kernel</b> (editable)"), grid]),
                W.VBox([c["stride"], c["relu"], c["channels"]])]),
    ]

    def kernel() -> np.ndarray:
        return np.array([[cells[f"w{r}{col}"].value for col in range(3)] for r in range(3)])

    def draw() -> dict[str, Any]:
        return view.update(_image(c["image"].value), kernel(), padding_mode=c["padding_mode"].value,
                           stride=c["stride"].value, relu=c["relu"].value, channels=c["channels"].value)

    explorer = Explorer("kernel", controls, rows, view, draw, passive=("preset",))

    def on_preset(change) -> None:
        if change["new"] == "custom":
            return
        with explorer.hold():
            for (r, col), v in np.ndenumerate(viz.KERNEL_PRESETS[change["new"]]):
                cells[f"w{r}{col}"].value = float(v)
        explorer.refresh()

    def on_cell(change) -> None:
        if explorer._held:
            return
        matching = [name for name, k in viz.KERNEL_PRESETS.items() if np.allclose(k, kernel())]
        with explorer.hold():
            c["preset"].value = matching[0] if matching else "custom"

    c["preset"].observe(on_preset, names="value")
    for cell in cells.values():
        cell.observe(on_cell, names="value")
    return explorer


# ----------------------------------------------------------------------------- 4. pooling


def pooling_explorer(x=None) -> Explorer:
    """Max or average pooling of a feature map, and what a shift of 1-2 pixels does.

    Parameters
    ----------
    x : array_like, shape (H, W) or (H, W, 3), optional
        Feature map or image; default the 8x8 :data:`course.viz.DEFAULT_FEATURE_MAP`.

    Returns
    -------
    Explorer
        Controls: ``mode`` (max / avg), ``kernel_size``, ``stride``, ``shift_rows``,
        ``shift_cols``. ``result`` is :func:`course.viz.pooling_result`'s dict.
    """
    x = viz.DEFAULT_FEATURE_MAP if x is None else np.asarray(x)
    controls = {
        "mode": W.ToggleButtons(options=["max", "avg"], value="max", description="pooling",
                                style={**_WIDE, "button_width": "60px"}),
        "kernel_size": _slider("window", 2, 1, 4, continuous=False),
        "stride": _slider("stride", 2, 1, 4, continuous=False),
        "shift_rows": _slider("shift down", 0, -2, 2, continuous=False),
        "shift_cols": _slider("shift right", 0, -2, 2, continuous=False),
    }
    c = controls
    view = viz.PoolingView()
    rows = [W.HBox([c["mode"], c["kernel_size"], c["stride"]]), W.HBox([c["shift_rows"], c["shift_cols"]])]

    def draw() -> dict[str, Any]:
        return view.update(x, mode=c["mode"].value, kernel_size=c["kernel_size"].value, stride=c["stride"].value,
                           shift=(c["shift_rows"].value, c["shift_cols"].value))

    return Explorer("pooling", controls, rows, view, draw)


# ----------------------------------------------------------------------------- 5. receptive fields


def receptive_field_explorer(layers=None) -> Explorer:
    """Edit a stack of conv / pooling layers, pick a unit, see its receptive field and the table.

    Parameters
    ----------
    layers : sequence of course.ops.Layer or dict, optional
        A stack to start from (shown as the "custom" preset); default the dilated
        context module (fields 3, 5, 9, 17, 33, 65, 67, 67).

    Returns
    -------
    Explorer
        Controls: ``preset``, ``layers`` (text, one layer per line as
        ``conv k=3 s=1 p=1 d=2``), ``input_size``, ``layer`` (1-based),
        ``unit_row``, ``unit_col``. ``result`` is
        :func:`course.viz.receptive_field_result`'s dict; ``table`` is the HTML
        table of size, jump and start per layer.
    """
    presets = dict(viz.RECEPTIVE_FIELD_PRESETS)
    if layers is not None:
        layers = list(layers)
        presets = {"custom": (layers, max(viz.ops.receptive_field(layers)[-1].size, 8)), **presets}
    first = next(iter(presets))
    stack, size = presets[first]
    controls = {
        "preset": W.Dropdown(options=list(presets), value=first, description="preset", style=_WIDE,
                             layout=W.Layout(width="380px")),
        "layers": W.Textarea(value=viz.format_layers(stack), continuous_update=False,
                             layout=W.Layout(width="230px", height="170px")),
        "input_size": _slider("input size", size, 1, 128),
        "layer": _slider("layer", len(stack), 1, len(stack)),
        "unit_row": _slider("unit row", 0, 0, 0),
        "unit_col": _slider("unit col", 0, 0, 0),
    }
    c = controls
    view = viz.ReceptiveFieldView()
    table = W.HTML()
    table.add_class("explorer-table")
    rows = [W.HBox([W.VBox([c["preset"], c["input_size"], c["layer"], c["unit_row"], c["unit_col"]]),
                    W.VBox([W.HTML("<small>layers: <code>name k= s= p= d=</code>, one per line</small>"),
                            c["layers"]])])]
    centred = {"pending": True}

    def draw() -> dict[str, Any]:
        stack = viz.parse_layers(c["layers"].value)
        _set_range(c["layer"], 1, len(stack))
        probe = viz.receptive_field_result(stack, input_size=c["input_size"].value, layer=c["layer"].value - 1,
                                           unit=(0, 0))
        side = probe["sizes"][probe["layer"]]
        _set_range(c["unit_row"], 0, side - 1)
        _set_range(c["unit_col"], 0, side - 1)
        if centred["pending"]:  # start on the centre unit
            c["unit_row"].value = c["unit_col"].value = side // 2
            centred["pending"] = False
        res = view.update(stack, input_size=c["input_size"].value, layer=c["layer"].value - 1,
                          unit=(c["unit_row"].value, c["unit_col"].value), table=False)
        table.value = viz.receptive_field_table_html(res)
        return res

    explorer = Explorer("receptive-field", controls, rows, view, draw, passive=("preset",))
    # the figure and the table side by side
    explorer.children = [*rows, explorer.message, W.HBox([explorer.image, table])]
    explorer.image.layout = W.Layout(max_width="55%", height="auto")
    explorer.table = table

    def on_preset(change) -> None:
        stack, size = presets[change["new"]]
        with explorer.hold():
            c["layers"].value = viz.format_layers(stack)
            c["input_size"].value = size
            _set_range(c["layer"], 1, len(stack))
            c["layer"].value = len(stack)
            centred["pending"] = True
        explorer.refresh()

    c["preset"].observe(on_preset, names="value")
    return explorer


# ----------------------------------------------------------------------------- 6. convolution as a matrix

_MATRIX_DEFAULTS = {"1-D": (8, "-1 0 1"), "2-D": (3, "1 2\n2 1")}


def conv_matrix_viewer() -> Explorer:
    """The sparse, weight-shared matrix of a small 1-D or 2-D convolution, and the parameter counts.

    Returns
    -------
    Explorer
        Controls: ``dims`` (1-D / 2-D), ``input_size`` (L, or H = W), ``kernel``
        (text), ``stride``, ``padding``, ``dilation``, ``bias``. ``result`` is
        :func:`course.viz.conv_matrix_result`'s dict. The 2-D default is the
        lectures' 3x3 input with the 2x2 kernel [[1, 2], [2, 1]].
    """
    controls = {
        "dims": W.ToggleButtons(options=["1-D", "2-D"], value="1-D", description="input",
                                style={**_WIDE, "button_width": "60px"}),
        "input_size": _slider("input size", 8, 1, 12),
        "kernel": W.Textarea(value="-1 0 1", description="kernel", continuous_update=False,
                             layout=W.Layout(width="200px", height="80px")),
        "stride": _slider("stride", 1, 1, 3),
        "padding": _slider("padding", 0, 0, 3),
        "dilation": _slider("dilation", 1, 1, 3),
        "bias": W.Checkbox(value=False, description="count biases", style=_WIDE),
    }
    c = controls
    view = viz.ConvMatrixView()
    rows = [W.HBox([W.VBox([c["dims"], c["input_size"], c["bias"]]),
                    W.VBox([c["stride"], c["padding"], c["dilation"]]), c["kernel"]])]

    def draw() -> dict[str, Any]:
        one_d = c["dims"].value == "1-D"
        kernel = viz.parse_matrix(c["kernel"].value, "kernel", ndim=1 if one_d else 2)
        n = c["input_size"].value
        return view.update(n if one_d else (n, n), kernel, stride=c["stride"].value, padding=c["padding"].value,
                           dilation=c["dilation"].value, bias=c["bias"].value)

    explorer = Explorer("conv-matrix", controls, rows, view, draw, passive=("dims",))

    def on_dims(change) -> None:
        size, text = _MATRIX_DEFAULTS[change["new"]]
        with explorer.hold():
            c["input_size"].value, c["kernel"].value = size, text
        explorer.refresh()

    c["dims"].observe(on_dims, names="value")
    return explorer


# ----------------------------------------------------------------------------- 7. feature maps


def feature_map_viewer(model, image) -> Explorer:
    """Feature maps of every Conv2d / ReLU / pooling layer of a model on one image, and its first filters.

    Parameters
    ----------
    model : torch.nn.Module
    image : array_like, shape (H, W) or (C, H, W)

    Returns
    -------
    Explorer
        Controls: ``layer`` (recorded layers in execution order), ``start`` (first
        map shown; 16 at a time). The model runs once, when the explorer is made.
        ``result`` is :meth:`course.viz.FeatureMapView.update`'s dict.
    """
    view = viz.FeatureMapView()
    recorded = view.record(model, image)
    labels = list(recorded["maps"])
    if not labels:
        raise ValueError("`model` has no Conv2d, ReLU or pooling layer to show"
                         + (f" ({recorded['error']})" if recorded["error"] else ""))
    controls = {
        "layer": W.Dropdown(options=labels, value=labels[0], description="layer", style=_WIDE,
                            layout=W.Layout(width="320px")),
        "start": W.IntSlider(value=0, min=0, max=0, step=view.N_MAPS, description="first map", style=_WIDE,
                             continuous_update=False),
    }
    c = controls
    rows = [W.HBox([c["layer"], c["start"]])]

    def draw() -> dict[str, Any]:
        channels = recorded["maps"][c["layer"].value].shape[0]
        _set_range(c["start"], 0, max(channels - 1, 0) // view.N_MAPS * view.N_MAPS)
        return view.update(layer=c["layer"].value, start=c["start"].value)

    return Explorer("feature-maps", controls, rows, view, draw)
