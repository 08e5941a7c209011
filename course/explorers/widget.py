"""The widget layer of every explorer: :class:`Explorer`, and :func:`build` from declared controls.

Each explorer module declares its controls once (:mod:`course.explorers.controls`)
and calls :func:`build` with its view; :func:`build` makes the ipywidgets, reads
their values into the keyword arguments of the view's compute function and
redraws the view on every change. Nothing is computed here.

The widgets follow ipywidgets 8; setting a control's ``.value`` in code redraws
exactly as moving it does (the tests and benchmarks do that).
"""
from __future__ import annotations

import html
import inspect
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as W

from . import controls as C
from .render import View, render_figure

__all__ = ["Explorer", "build", "set_range"]

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
    view : View
        The view whose figure is shown.
    draw : callable
        Reads the controls, updates ``view`` and returns the result dict; may raise
        ValueError/TypeError for invalid settings, whose message is then shown.
    passive : iterable of str
        Controls whose changes their own callbacks handle (a preset that fills in
        other controls first, then calls :meth:`refresh` once).

    Attributes
    ----------
    controls : dict of str to ipywidgets.Widget
    result : dict
        What the view's compute function returned on the last successful redraw.
    error : str or None
        The message shown for invalid settings.
    image : ipywidgets.Image
        The figure (PNG, or JPEG for photos).
    """

    def __init__(self, name: str, controls: dict[str, W.Widget], rows: list[W.Widget], view: Any,
                 draw: Callable[[], dict[str, Any]], *, passive: Sequence[str] = ()) -> None:
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
        self.image.value = render_figure(self.figure, self.image_format)

    def show_error(self, message: str) -> None:
        """Show ``message`` instead of redrawing (the last figure stays)."""
        self.error = message
        self.message.value = _error_html(message)


def _error_html(message: str) -> str:
    return (f'<div style="color:#a00000;background:#fce8e6;padding:4px 8px;border-radius:4px">'
            f"⚠ {html.escape(message)}</div>")


def set_range(slider: W.IntSlider | W.Play, lo: int, hi: int) -> None:
    """New bounds for a slider, keeping its value inside them (order matters to the validators)."""
    hi = max(hi, lo)
    if lo > slider.max:
        slider.max = hi
        slider.min = lo
    else:
        slider.min = lo
        slider.max = hi


def _assign(widget: W.Widget, value: Any) -> None:
    """Set a control's value; a slider first widens its range to hold it (the next draw sets the real range)."""
    if isinstance(widget, W.IntSlider):
        set_range(widget, min(widget.min, value), max(widget.max, value))
    widget.value = value


# ----------------------------------------------------------------------------- from declarations to widgets


def _default(key: str, control, parameters: Mapping[str, inspect.Parameter], function: Callable) -> Any:
    if control.default is not C.SIGNATURE:
        return control.default
    parameter = parameters.get(key)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise TypeError(f"control {key!r} has no default and {function.__name__}() has no parameter "
                        f"{key!r} with a default to take it from")
    return parameter.default


def _make(control, value: Any) -> W.Widget:
    """The ipywidget for one value control."""
    if hasattr(control, "check"):
        control.check(value)
    if isinstance(control, C.Slider):
        return W.IntSlider(value=value, min=control.lo, max=control.hi, step=control.step,
                           description=control.label, style=_WIDE, continuous_update=control.continuous,
                           layout=W.Layout(width=control.width))
    if isinstance(control, C.Toggle):
        return W.ToggleButtons(options=list(control.options), value=value, description=control.label,
                               tooltips=list(control.tooltips),
                               style={**_WIDE, "button_width": control.button_width})
    if isinstance(control, C.Dropdown):
        layout = W.Layout(width=control.width) if control.width else W.Layout()
        return W.Dropdown(options=list(control.options), value=value, description=control.label, style=_WIDE,
                          layout=layout)
    if isinstance(control, C.Checkbox):
        return W.Checkbox(value=bool(value), description=control.label, style=_WIDE)
    if isinstance(control, C.Switch):
        return W.ToggleButton(value=bool(value), description=control.label, tooltip=control.tooltip,
                              layout=W.Layout(width="auto"))
    if isinstance(control, C.TextBox):
        return W.Textarea(value=value, description=control.label, continuous_update=False,
                          layout=W.Layout(width=control.width, height=control.height))
    if isinstance(control, C.Number):
        return W.FloatText(value=float(value), description=control.label, layout=W.Layout(width=control.width))
    raise TypeError(f"unknown control {control!r}")


def _lay_out(item, widgets: Mapping[str, W.Widget]) -> W.Widget:
    if isinstance(item, str):
        return widgets[item]
    if isinstance(item, C.Note):
        return W.HTML(item.html)
    if isinstance(item, C.Grid):
        return W.GridBox([widgets[name] for name in item.names],
                         layout=W.Layout(grid_template_columns=f"repeat({item.columns}, {item.cell_width})"))
    if isinstance(item, C.Column):
        return W.VBox([_lay_out(i, widgets) for i in item.items])
    if isinstance(item, C.Row):
        return W.HBox([_lay_out(i, widgets) for i in item.items])
    raise TypeError(f"cannot lay out {item!r}")


def build(
    name: str,
    view: View,
    controls: Mapping[str, Any],
    layout: Sequence,
    *,
    fixed: Mapping[str, Any] | None = None,
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ranges: Callable[[dict[str, Any]], dict[str, tuple[int, int]]] | None = None,
    reactions: Mapping[str, Callable[[dict[str, Any], Any], dict[str, Any] | None]] | None = None,
    side: Callable[[dict[str, Any]], str] | None = None,
) -> Explorer:
    """Make the explorer widget of ``view`` from declared controls.

    Parameters
    ----------
    name : str
        CSS name (``explorer-<name>``).
    view : View
        Kept alive and updated with ``view.update(**fixed, **arguments)`` on every change.
    controls : dict of str to a declaration of :mod:`course.explorers.controls`
        Keyed by the parameter of ``view.function`` each control sets. Defaults
        come from that function's signature unless declared.
    layout : list
        Rows above the figure: control names, ``Note``, ``Row``, ``Column``, ``Grid``.
    fixed : dict, optional
        Arguments that no control sets (the model, the image).
    arguments : callable, optional
        ``arguments(values) -> dict``: keyword arguments from the control values, for
        controls that are not parameters as they are (text to parse, a 1-based index);
        they update those taken by name.
    ranges : callable, optional
        ``ranges(kwargs) -> {slider: (lo, hi)}``, applied before each redraw (e.g. the
        number of steps); the arguments are read again after.
    reactions : dict of str to callable, optional
        ``reactions[key](values, new) -> {control: value}`` runs when control ``key``
        changes by hand (not while the explorer holds): the returned controls are set
        together, then the figure is redrawn once. ``None`` means nothing to redraw.
    side : callable, optional
        ``side(result) -> html`` shown to the right of the figure (a table).

    Returns
    -------
    Explorer

    Raises
    ------
    TypeError
        If a control without a declared default is not a parameter of
        ``view.function``, or, without ``arguments``, a value control is neither a
        parameter nor handled by a reaction (a typo in a name).
    """
    function = view.function
    parameters = inspect.signature(function).parameters
    fixed = dict(fixed or {})
    reactions = dict(reactions or {})
    if arguments is None:
        for key, control in controls.items():
            if isinstance(control, C.VALUE_CONTROLS) and key not in parameters and key not in reactions:
                raise TypeError(f"control {key!r} is not a parameter of {function.__name__}() "
                                f"({', '.join(parameters)}) and nothing maps it")
    widgets: dict[str, W.Widget] = {}
    for key, control in controls.items():
        if isinstance(control, C.VALUE_CONTROLS):
            widgets[key] = _make(control, _default(key, control, parameters, function))
    followers: dict[str, list[W.Widget]] = {}
    for key, control in controls.items():
        if isinstance(control, C.Play):
            slider = widgets[control.drives]
            widgets[key] = W.Play(value=slider.value, min=slider.min, max=slider.max, interval=control.interval,
                                  description="play")
            W.link((widgets[key], "value"), (slider, "value"))
            followers.setdefault(control.drives, []).append(widgets[key])
        elif isinstance(control, C.Jump):
            widgets[key] = W.Button(description=control.label, layout=W.Layout(width="80px"))
            widgets[key].on_click(lambda _, c=control: _jump(widgets[c.drives], c.delta))
    value_keys = [k for k, c in controls.items() if isinstance(c, C.VALUE_CONTROLS)]

    def values() -> dict[str, Any]:
        return {key: widgets[key].value for key in value_keys}

    def kwargs() -> dict[str, Any]:
        current = values()
        found = {key: current[key] for key in current if key in parameters}
        if arguments is not None:
            found.update(arguments(current))
        return {**fixed, **found}

    table = W.HTML() if side is not None else None

    def draw() -> dict[str, Any]:
        settings = kwargs()
        if ranges is not None:
            for key, (lo, hi) in ranges(settings).items():
                for widget in (widgets[key], *followers.get(key, ())):
                    set_range(widget, lo, hi)
            settings = kwargs()
        result = view.update(**settings)
        if table is not None:
            table.value = side(result)
        return result

    rows = [_lay_out(item, widgets) for item in layout]
    explorer = Explorer(name, widgets, rows, view, draw, passive=tuple(reactions))
    if table is not None:
        table.add_class("explorer-table")
        explorer.table = table
        explorer.children = [*rows, explorer.message, W.HBox([explorer.image, table])]
        explorer.image.layout = W.Layout(max_width="55%", height="auto")

    def react(change, key: str) -> None:
        if explorer._held:
            return
        updates = reactions[key](values(), change["new"])
        if updates is None:
            return
        with explorer.hold():
            for target, value in updates.items():
                _assign(widgets[target], value)
        explorer.refresh()

    for key in reactions:
        widgets[key].observe(lambda change, key=key: react(change, key), names="value")
    return explorer


def _jump(slider: W.IntSlider, delta: int) -> None:
    n = slider.max - slider.min + 1
    slider.value = slider.min + (slider.value - slider.min + delta) % n
