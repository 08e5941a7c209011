"""Tests of course.explorers.receptive_field: spans against composed convolution matrices, the table, the widget."""
from __future__ import annotations

import numpy as np
import pytest

import course.ops as ops
from course.explorers.parse import parse_layers
from course.explorers.receptive_field import (
    RECEPTIVE_FIELD_PRESETS,
    plot_receptive_field,
    receptive_field_explorer,
    receptive_field_result,
)
from explorer_helpers import texts


def test_receptive_field_default_is_the_dilated_table():
    res = receptive_field_result()
    assert [f.size for f in res["fields"]] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert res["sizes"] == [75] * 8  # padding keeps the resolution
    assert res["unit"] == (37, 37) and res["rows"] == res["cols"] == (4.0, 70.0)
    res = receptive_field_result([ops.Layer(3)] * 3)
    assert [f.size for f in res["fields"]] == [3, 5, 7]


def _field_by_matrices(layers, n, unit):
    """Input cells that reach `unit` of the last layer, by multiplying 1-D conv matrices of ones."""
    M = np.eye(n)
    size = n
    for L in layers:
        step = ops.conv_matrix((1, size), np.ones((1, 1, L.kernel_size)), stride=L.stride, padding=L.padding,
                               dilation=L.dilation)
        M = step @ M
        size = step.shape[0]
    return np.flatnonzero(M[unit])


@pytest.mark.parametrize("name", list(RECEPTIVE_FIELD_PRESETS))
def test_receptive_field_spans_match_the_composed_convolutions(name):
    layers, n = RECEPTIVE_FIELD_PRESETS[name]
    for unit in (0, 1):
        res = receptive_field_result(layers, input_size=n, unit=(unit, unit))
        assert res["rows"] == ops.receptive_field(layers)[-1].span(unit)
        first, last = res["rows"]
        reached = _field_by_matrices(layers, n, unit)
        # inside the input the field is exactly the cells the unit depends on
        assert reached.min() == max(first, 0) and reached.max() == min(last, n - 1)


def test_receptive_field_checks():
    with pytest.raises(ValueError, match="does not fit"):
        receptive_field_result([ops.Layer(3)] * 3, input_size=4)
    with pytest.raises(ValueError, match="`unit`"):
        receptive_field_result([ops.Layer(3)], input_size=5, unit=(3, 0))
    with pytest.raises(ValueError, match="`layer`"):
        receptive_field_result([ops.Layer(3)], input_size=5, layer=2)




def test_plot_receptive_field_table():
    fig = plot_receptive_field([ops.Layer(3), ops.Layer(2, 2, name="pool"), ops.Layer(3)], input_size=12,
                                   layer=1, unit=(1, 2))
    table = fig.axes[1].tables[0]
    cells = table.get_celld()
    assert cells[2, 0].get_text().get_text() == "2 pool"
    assert [cells[r, 6].get_text().get_text() for r in (1, 2, 3)] == ["3", "4", "8"]
    assert [cells[r, 7].get_text().get_text() for r in (1, 2, 3)] == ["1", "2", "2"]
    assert "rows 2..5, cols 4..7" in texts(fig)


# ----------------------------------------------------------------------------- the widget


def test_receptive_field_explorer_default_and_presets():
    w = receptive_field_explorer()
    c = w.controls
    assert [f.size for f in w.result["fields"]] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert c["layer"].value == 8 and w.result["unit"] == (37, 37)
    c["layer"].value = 3
    assert w.result["rows"] == ops.receptive_field(parse_layers(c["layers"].value))[2].span(37) == (33.0, 41.0)
    assert "<td style='padding:2px 8px;text-align:center'>65</td>" in w.table.value
    assert w.table.value.count("background:#fce5cd") == 1  # the chosen layer
    c["preset"].value = "three 3x3 convolutions"
    assert [f.size for f in w.result["fields"]] == [3, 5, 7]
    assert c["input_size"].value == 9 and c["unit_row"].max == 2
    c["unit_row"].value, c["unit_col"].value = 2, 0
    assert w.result["rows"] == (2.0, 8.0) and w.result["cols"] == (0.0, 6.0)
    c["layer"].value = 1
    assert c["unit_row"].max == 6 and w.result["rows"] == (2.0, 4.0)


def test_receptive_field_explorer_editing_and_errors():
    w = receptive_field_explorer([ops.Layer(3), ops.Layer(2, 2, name="pool")])
    c = w.controls
    assert c["preset"].value == "custom" and [f.size for f in w.result["fields"]] == [3, 4]
    c["input_size"].value = 20
    c["layers"].value = "conv k=5\npool k=2 s=2\nconv k=3 d=2"
    assert [f.size for f in w.result["fields"]] == [5, 6, 14]
    assert c["layer"].max == 3
    c["layers"].value = "conv k=3 x=1"
    assert "unknown setting 'x'" in w.error
    c["layers"].value = "conv k=3"
    c["input_size"].value = 2
    assert "does not fit" in w.error and "does not fit" in w.message.value
    c["input_size"].value = 10
    assert w.error is None and w.result["sizes"] == [8]
