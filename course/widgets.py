"""Interactive explorers (ipywidgets 8) of the course, one per topic the lectures animate.

Each explorer maps controls to the arguments of one plain compute function (see
:mod:`course.explorers`, one module per explorer) and shows its figure; nothing is
computed here. Every explorer returns an :class:`Explorer` (an ``ipywidgets.VBox``)
with

- ``controls``: dict of the control widgets by name; setting ``.value`` in code
  redraws, exactly as moving the control does (tests and benchmarks do that);
- ``result``: the dict of arrays of the last successful redraw (what the
  compute function returned);
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

from .explorers.conv_arithmetic import conv_arithmetic_explorer
from .explorers.conv_matrix import conv_matrix_viewer
from .explorers.conv_step import conv_stepper
from .explorers.feature_maps import feature_map_viewer
from .explorers.kernels import kernel_explorer
from .explorers.name_the_operation import name_the_operation
from .explorers.pooling import pooling_explorer
from .explorers.receptive_field import receptive_field_explorer
from .explorers.widget import Explorer

__all__ = [
    "Explorer",
    "conv_arithmetic_explorer",
    "conv_matrix_viewer",
    "conv_stepper",
    "feature_map_viewer",
    "kernel_explorer",
    "name_the_operation",
    "pooling_explorer",
    "receptive_field_explorer",
]
