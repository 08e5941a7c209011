"""Tests of course.viz: it re-exports the explorers' compute functions, views and static plots unchanged.

The explorers themselves are tested module by module in tests/test_explorers_*.py.
"""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from course import viz

# name -> the course.explorers module that defines it
HOMES = {
    "conv_step": ["DECK_INPUT", "VERTICAL_EDGE", "ConvStepView", "conv_step", "plot_conv_step"],
    "conv_arithmetic": ["ConvArithmeticView", "conv_arithmetic", "plot_conv_arithmetic", "save_conv_arithmetic_gif"],
    "kernels": ["KERNEL_PRESETS", "KernelResultView", "kernel_result", "plot_kernel_result"],
    "pooling": ["DEFAULT_FEATURE_MAP", "PoolingView", "plot_pooling", "pooling_result"],
    "receptive_field": ["RECEPTIVE_FIELD_PRESETS", "ReceptiveFieldView", "plot_receptive_field",
                        "receptive_field_result", "receptive_field_rows", "receptive_field_table_html"],
    "conv_matrix": ["ConvMatrixView", "conv_matrix_result", "plot_conv_matrix"],
    "feature_maps": ["FeatureMapView", "feature_map_result", "feature_maps", "plot_feature_maps"],
    "name_the_operation": ["OPERATIONS", "PUZZLES", "NameTheOperationView", "OperationFrameView", "Puzzle",
                           "check_answer", "operation_frame", "plot_name_the_operation", "plot_operation_frame",
                           "quiz_result"],
    "parse": ["format_layers", "format_matrix", "parse_layers", "parse_matrix"],
    "render": ["render_figure"],
}


def test_viz_reexports_every_explorer_name_from_its_module():
    import importlib

    expected = {name for names in HOMES.values() for name in names}
    assert set(viz.__all__) == expected
    for module, names in HOMES.items():
        home = importlib.import_module(f"course.explorers.{module}")
        for name in names:
            assert getattr(viz, name) is getattr(home, name), name


# The signatures notebooks call; a change here breaks lecture cells.
PLOT_SIGNATURES = {
    "plot_conv_step": "(x, kernel, step: 'int' = 0, *, flip: 'bool' = False)",
    "plot_conv_arithmetic": "(input_size: 'int' = 5, kernel_size: 'int' = 3, padding: 'int' = 0, stride: 'int' = 1, "
                            "dilation: 'int' = 1, transposed: 'bool' = False, step: 'int' = 0)",
    "plot_kernel_result": "(image, kernel, *, padding_mode: 'str' = 'zeros', stride: 'int' = 1, relu: 'bool' = False, "
                          "channels: 'str' = 'sum')",
    "plot_pooling": "(x=None, *, mode: 'str' = 'max', kernel_size: 'int' = 2, stride: 'int | None' = None, "
                    "shift: 'tuple[int, int]' = (0, 0), kernel=None)",
    "plot_receptive_field": "(layers=None, *, input_size: 'int | None' = None, layer: 'int' = -1, "
                            "unit: 'tuple[int, int] | None' = None)",
    "plot_conv_matrix": "(input_shape=8, kernel=(-1, 0, 1), *, stride: 'int' = 1, padding: 'int' = 0, "
                        "dilation: 'int' = 1, bias: 'bool' = False)",
    "plot_feature_maps": "(model, image, layer: 'str | int | None' = None, *, start: 'int' = 0)",
}


@pytest.mark.parametrize("name", list(PLOT_SIGNATURES))
def test_plot_functions_keep_the_signatures_the_notebooks_call(name):
    assert str(inspect.signature(getattr(viz, name))) == PLOT_SIGNATURES[name] + " -> 'Figure'"
    view = getattr(viz, name).__module__
    assert view.startswith("course.explorers.")


def test_viz_imports_neither_ipywidgets_nor_torch():
    code = "import sys, course.viz; print('ipywidgets' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"MPLBACKEND": "Agg", **__import__("os").environ})
    assert out.stdout.strip() == "False False"


def test_the_core_library_imports_neither_matplotlib_nor_ipywidgets():
    code = ("import sys, course.ops, course.ops.pytorch, course.grading, course.models, course.data; "
            "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
