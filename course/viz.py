"""Static figures of the course's explorers and the functions that compute them.

The explorers live in :mod:`course.explorers`, one module each (compute function,
view, static plot, widget); this module gathers their compute functions, views,
``plot_*`` functions, presets and parsers under the names the notebooks use::

    from course import viz
    viz.plot_conv_step(viz.DECK_INPUT, viz.VERTICAL_EDGE, step=2)

Every ``plot_*`` function has the signature of its compute function and returns a
figure that pyplot does not keep, so a notebook shows it once, as the value of its
cell. Importing this module does not import ipywidgets or torch.
"""
from __future__ import annotations

from .explorers.conv_arithmetic import (
    ConvArithmeticView,
    conv_arithmetic,
    plot_conv_arithmetic,
    save_conv_arithmetic_gif,
)
from .explorers.conv_matrix import ConvMatrixView, conv_matrix_result, plot_conv_matrix
from .explorers.conv_step import DECK_INPUT, VERTICAL_EDGE, ConvStepView, conv_step, plot_conv_step
from .explorers.feature_maps import (
    FeatureMapView,
    feature_map_result,
    feature_maps,
    plot_feature_maps,
)
from .explorers.kernels import KERNEL_PRESETS, KernelResultView, kernel_result, plot_kernel_result
from .explorers.name_the_operation import (
    OPERATIONS,
    PUZZLES,
    NameTheOperationView,
    OperationFrameView,
    Puzzle,
    check_answer,
    operation_frame,
    plot_name_the_operation,
    plot_operation_frame,
    quiz_result,
)
from .explorers.parse import format_layers, format_matrix, parse_layers, parse_matrix
from .explorers.pooling import DEFAULT_FEATURE_MAP, PoolingView, plot_pooling, pooling_result
from .explorers.receptive_field import (
    RECEPTIVE_FIELD_PRESETS,
    ReceptiveFieldView,
    plot_receptive_field,
    receptive_field_result,
    receptive_field_rows,
    receptive_field_table_html,
)
from .explorers.render import render_figure

__all__ = [
    "DECK_INPUT",
    "DEFAULT_FEATURE_MAP",
    "KERNEL_PRESETS",
    "OPERATIONS",
    "PUZZLES",
    "RECEPTIVE_FIELD_PRESETS",
    "VERTICAL_EDGE",
    "ConvArithmeticView",
    "ConvMatrixView",
    "ConvStepView",
    "FeatureMapView",
    "KernelResultView",
    "NameTheOperationView",
    "OperationFrameView",
    "PoolingView",
    "Puzzle",
    "ReceptiveFieldView",
    "check_answer",
    "conv_arithmetic",
    "conv_matrix_result",
    "conv_step",
    "feature_map_result",
    "feature_maps",
    "format_layers",
    "format_matrix",
    "kernel_result",
    "operation_frame",
    "parse_layers",
    "parse_matrix",
    "plot_conv_arithmetic",
    "plot_conv_matrix",
    "plot_conv_step",
    "plot_feature_maps",
    "plot_kernel_result",
    "plot_name_the_operation",
    "plot_operation_frame",
    "plot_pooling",
    "plot_receptive_field",
    "pooling_result",
    "quiz_result",
    "receptive_field_result",
    "receptive_field_rows",
    "receptive_field_table_html",
    "render_figure",
    "save_conv_arithmetic_gif",
]
