"""Tests of course.explorers.parse: what students type into the explorers' boxes, and the messages they get."""
from __future__ import annotations

import numpy as np
import pytest

import course.ops as ops
from course.explorers.parse import (
    format_layers,
    format_matrix,
    format_number,
    parse_layers,
    parse_matrix,
)
from course.explorers.receptive_field import RECEPTIVE_FIELD_PRESETS


def test_parse_matrix():
    np.testing.assert_array_equal(parse_matrix("1 2\n3 4"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(parse_matrix("[1, 2; 3, 4]"), [[1, 2], [3, 4]])
    assert parse_matrix("1 0.5").dtype == np.float64
    np.testing.assert_array_equal(parse_matrix("1 0 -1", ndim=1), [1, 0, -1])
    with pytest.raises(ValueError, match="row 2: 'x' is not a number"):
        parse_matrix("1 2\n3 x", "x")
    with pytest.raises(ValueError, match="different lengths"):
        parse_matrix("1 2\n3")
    with pytest.raises(ValueError, match="empty"):
        parse_matrix("  ")
    with pytest.raises(ValueError, match="single row"):
        parse_matrix("1\n2", ndim=1)
    with pytest.raises(TypeError, match="`values` must be text"):
        parse_matrix(3)
    with pytest.raises(ValueError, match="`ndim`"):
        parse_matrix("1 2", ndim=3)
    with pytest.raises(ValueError, match="finite"):
        parse_matrix("1 inf")


def test_format_matrix_round_trips_through_parse_matrix():
    values = np.array([[1, 0, -1], [2, 3, 4]])
    assert format_matrix(values) == "1 0 -1\n2 3 4"
    np.testing.assert_array_equal(parse_matrix(format_matrix(values)), values)
    assert format_matrix([0.5, 2]) == "0.5 2"
    np.testing.assert_array_equal(parse_matrix(format_matrix([0.5, 2]), ndim=1), [0.5, 2])


def test_format_number():
    assert [format_number(v) for v in (3.0, -2, 0.125, 1 / 3, 2e6, float("nan"))] == \
        ["3", "-2", "0.125", "0.333", "2e+06", ""]


def test_layers_text_round_trip():
    layers, _ = RECEPTIVE_FIELD_PRESETS["dilated context module"]
    assert parse_layers(format_layers(layers)) == layers
    assert parse_layers("conv 3\npool k=2 s=2  # halves\n\n") == [ops.Layer(3), ops.Layer(2, 2, name="pool")]
    with pytest.raises(ValueError, match="line 2: unknown setting 'q'"):
        parse_layers("conv 3\nconv k=3 q=1")
    with pytest.raises(ValueError, match="line 1: .* no kernel size"):
        parse_layers("conv s=2")
    with pytest.raises(ValueError, match="needs a whole number"):
        parse_layers("conv k=1.5")
    with pytest.raises(ValueError, match="no layers"):
        parse_layers("")
    with pytest.raises(TypeError, match="`text`"):
        parse_layers(None)
    assert parse_layers("conv k=3 d=2 p=2 s=1") == [ops.Layer(3, 1, 2, 2)]
    assert format_layers([{"kernel_size": 2, "stride": 2, "name": "pool"}]) == "pool k=2 s=2 p=0 d=1"
