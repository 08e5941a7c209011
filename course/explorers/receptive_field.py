"""Explorer 5: receptive fields of a stack of conv / pooling layers, on the input grid, with the per-layer table.

:func:`receptive_field_result` computes, :class:`ReceptiveFieldView` draws,
:func:`plot_receptive_field` is the static figure, :func:`receptive_field_rows` /
:func:`receptive_field_table_html` the table and :func:`receptive_field_explorer`
the widget. Lecture notebook 04.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

import course.ops as ops

from . import controls as C
from .parse import format_layers, parse_layers
from .render import View, blank_axes, cell_grid, fmt, make_plot

__all__ = ["RECEPTIVE_FIELD_PRESETS", "ReceptiveFieldView", "plot_receptive_field", "receptive_field_explorer",
           "receptive_field_result", "receptive_field_rows", "receptive_field_table_html"]

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



class ReceptiveFieldView(View):
    """Left: the input grid, the field inside it in orange and its full extent
    dashed (it can reach into the padding), with the fields of the earlier layers
    thin; right: kernel, stride, padding, dilation, output size, field size, jump and
    start of every layer, the chosen layer highlighted.

    Parameters
    ----------
    table : bool
        Draw the table beside the grid; the explorer passes False and shows it as HTML.
    """

    function = staticmethod(receptive_field_result)
    figsize = (10, 4.8)

    def __init__(self, table: bool = True) -> None:
        super().__init__()
        self.table = bool(table)

    def draw(self, res: dict[str, Any]) -> None:
        table = self.table
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
            cell_grid(ax, n, n, color="0.8", lw=0.5)
        else:
            blank_axes(ax)
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
                     f"rows {fmt(r0)}..{fmt(r1)}, cols {fmt(c0)}..{fmt(c1)} ({f.size}×{f.size})",
                     fontsize=9.5)
        if ax_t is None:
            return
        blank_axes(ax_t)
        cells = ax_t.table(cellText=receptive_field_rows(res), colLabels=_RF_HEADER, loc="upper center",
                           cellLoc="center")
        cells.auto_set_font_size(False)
        cells.set_fontsize(9)
        cells.scale(1, 1.25)
        for col in range(len(_RF_HEADER)):
            cells[res["layer"] + 1, col].set_facecolor("#fce5cd")
            cells[0, col].set_facecolor("#d9d9d9")
        ax_t.set_title("receptive field per layer (size, jump, start in input pixels)", fontsize=9.5)


_RF_HEADER = ["layer", "k", "s", "p", "d", "output", "field", "jump", "start"]


def receptive_field_rows(res: dict[str, Any]) -> list[list[str]]:
    """The per-layer table of :func:`receptive_field_result` as text rows (header: name, k, s, p, d,
    output size, field size, jump, start)."""
    return [[f"{i + 1} {fl.layer.name}", str(fl.layer.kernel_size), str(fl.layer.stride), str(fl.layer.padding),
             str(fl.layer.dilation), f"{size}×{size}", str(fl.size), str(fl.jump), fmt(fl.start)]
            for i, (fl, size) in enumerate(zip(res["fields"], res["sizes"]))]


def receptive_field_table_html(res: dict[str, Any]) -> str:
    """The same table as HTML, the chosen layer highlighted (for the explorer)."""
    head = "".join(f"<th style='padding:2px 8px'>{h}</th>" for h in _RF_HEADER)
    body = []
    for i, row in enumerate(receptive_field_rows(res)):
        style = " style='background:#fce5cd'" if i == res["layer"] else ""
        cells = "".join(f"<td style='padding:2px 8px;text-align:center'>{html.escape(v)}</td>" for v in row)
        body.append(f"<tr{style}>{cells}</tr>")
    return ("<b>receptive field per layer</b> (size, jump, start in input pixels)"
            f"<table style='border-collapse:collapse'><tr style='background:#e0e0e0'>{head}</tr>"
            + "".join(body) + "</table>")


plot_receptive_field = make_plot(
    ReceptiveFieldView, "plot_receptive_field",
    "Draw the receptive field of one unit and the per-layer table (see :func:`receptive_field_result`).")


# ----------------------------------------------------------------------------- the widget


def _stack(values: dict[str, Any]) -> list:
    return parse_layers(values["layers"])


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    return {"layers": _stack(values), "layer": values["layer"] - 1,
            "unit": (values["unit_row"], values["unit_col"])}


def _output_side(layers, input_size: int, layer: int) -> int:
    """Side of the output of ``layer`` (0-based); ValueError if a layer does not fit."""
    return receptive_field_result(layers, input_size=input_size, layer=layer, unit=(0, 0))["sizes"][layer]


def _ranges(kwargs: dict[str, Any]) -> dict[str, tuple[int, int]]:
    layers = kwargs["layers"]
    layer = min(max(kwargs["layer"], 0), len(layers) - 1)
    side = _output_side(layers, kwargs["input_size"], layer)
    return {"layer": (1, len(layers)), "unit_row": (0, side - 1), "unit_col": (0, side - 1)}


def _start(layers, size: int) -> dict[str, Any]:
    """Control values that show a stack: its text, input size, last layer, centre unit."""
    centre = _output_side(layers, size, len(layers) - 1) // 2
    return {"layers": format_layers(layers), "input_size": size, "layer": len(layers),
            "unit_row": centre, "unit_col": centre}


def receptive_field_explorer(layers=None):
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
        ``unit_row``, ``unit_col``. ``result`` is :func:`receptive_field_result`'s
        dict; ``table`` is the HTML table of size, jump and start per layer.
    """
    from .widget import build

    presets = dict(RECEPTIVE_FIELD_PRESETS)
    if layers is not None:
        layers = list(layers)
        presets = {"custom": (layers, max(ops.receptive_field(layers)[-1].size, 8)), **presets}
    first = next(iter(presets))
    stack, size = presets[first]
    start = _start(stack, size)
    side = _output_side(stack, size, len(stack) - 1)
    controls = {
        "preset": C.Dropdown("preset", list(presets), default=first, width="380px"),
        "layers": C.TextBox("", start["layers"], width="230px", height="170px"),
        "input_size": C.Slider("input size", 1, 128, default=start["input_size"]),
        "layer": C.Slider("layer", 1, start["layer"], default=start["layer"]),
        "unit_row": C.Slider("unit row", 0, side - 1, default=start["unit_row"]),
        "unit_col": C.Slider("unit col", 0, side - 1, default=start["unit_col"]),
    }
    layout = [C.Row(C.Column("preset", "input_size", "layer", "unit_row", "unit_col"),
                    C.Column(C.Note("<small>layers: <code>name k= s= p= d=</code>, one per line</small>"),
                             "layers"))]
    return build("receptive-field", ReceptiveFieldView(table=False), controls, layout, arguments=_arguments,
                 ranges=_ranges, reactions={"preset": lambda values, name: _start(*presets[name])},
                 side=receptive_field_table_html)
