"""conv_output_size, receptive_field and num_parameters: the lectures' formulas and numbers."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from course.ops import Layer


def test_alexnet_first_layer_is_55():
    assert ops.conv_output_size(227, 11, stride=4) == 55  # (227 - 11) / 4 + 1
    assert ops.conv_output_size(224, 11, stride=4, padding=2) == 55  # the deck's torch code


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3))
def test_output_size_agrees_with_the_operations(n, k, s, p, d):
    import numpy as np
    x = np.zeros((1, 1, n, 1))
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        with pytest.raises(ValueError, match="larger than the padded input"):
            ops.conv_output_size(n, k, s, p, d)
        return
    assert ops.conv2d(x, np.zeros((1, 1, k, 1)), stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2] == \
        ops.conv_output_size(n, k, s, p, d)
    out = ops.conv_output_size(n, k, s, p, d)
    assert ops.conv_transpose2d(np.zeros((1, 1, out, 1)), np.zeros((1, 1, k, 1)), stride=(s, 1), dilation=(d, 1)).shape[2] == \
        ops.conv_output_size(out, k, s, 0, d, transposed=True)


def test_ceil_mode_rounds_up_but_drops_a_window_starting_in_the_padding():
    assert ops.conv_output_size(5, 2, 2) == 2
    assert ops.conv_output_size(5, 2, 2, ceil_mode=True) == 3
    assert ops.conv_output_size(6, 3, 3, padding=1, ceil_mode=True) == 3  # not 4: that window starts at 7 > 6 + 1


def test_transposed_size():
    assert ops.conv_output_size(2, 2, transposed=True) == 3  # the deck's 2x2 -> 3x3
    assert ops.conv_output_size(4, 3, 2, 1, transposed=True, output_padding=1) == 8


def test_dilated_receptive_field_table():
    dilations = [1, 1, 2, 4, 8, 16, 1]
    layers = [Layer(3, dilation=d) for d in dilations] + [Layer(1)]
    assert [f.size for f in ops.receptive_field(layers)] == [3, 5, 9, 17, 33, 65, 67, 67]


def test_stacked_3x3_and_strided_fields():
    assert [f.size for f in ops.receptive_field([Layer(3)] * 3)] == [3, 5, 7]
    fields = ops.receptive_field([Layer(3, stride=2), Layer(3, stride=2), {"kernel_size": 3}])
    assert [(f.size, f.jump) for f in fields] == [(3, 2), (7, 4), (15, 4)]


def test_start_and_span_with_padding():
    fields = ops.receptive_field([Layer(3, padding=1), Layer(2, stride=2, name="pool")])
    assert fields[0].start == 0.0 and fields[0].span(0) == (-1.0, 1.0)
    assert fields[1].span(1) == (1.0, 4.0)  # pooling unit 1 sees conv units 2 and 3


def test_parameter_counts_from_the_decks():
    assert ops.num_parameters(3, 2, 3, bias=False) == 54
    assert ops.num_parameters(784, 1000) == 785_000
    assert ops.num_parameters(1000, 10) == 10_010
    assert ops.num_parameters(3, 96, 11) == 34_944  # AlexNet's first layer
    assert ops.num_parameters(4, 4, 3, groups=2) == 76
    assert ops.num_parameters(1, 1, (5,)) == 6


def test_same_padding():
    assert ops.same_padding(3) == (1, 1) and ops.same_padding(4) == (1, 2) and ops.same_padding(3, 2) == (2, 2)


@pytest.mark.parametrize("call, match", [
    (lambda: ops.conv_output_size(0, 3), "`input_size` must be >= 1, got 0"),
    (lambda: ops.conv_output_size(5, 3, stride=0), "`stride` must be >= 1, got 0"),
    (lambda: ops.conv_output_size(5, 3, dilation=0), "`dilation` must be >= 1, got 0"),
    (lambda: ops.conv_output_size(5, 3, padding=-1), "`padding` must be >= 0"),
    (lambda: ops.conv_output_size(5, 3, output_padding=1), "`output_padding` only applies with transposed=True"),
    (lambda: ops.conv_output_size(5.0, 3), "`input_size` must be an int"),
    (lambda: ops.num_parameters(3, 4, 3, groups=2), "`groups`=2 must divide"),
    (lambda: ops.num_parameters(3, 4, ()), "`kernel_size` must name at least one size"),
    (lambda: ops.receptive_field([{"size": 3}]), r"`layers\[0\]` must have a kernel_size"),
    (lambda: ops.receptive_field([3]), r"`layers\[0\]` must be a Layer or a dict"),
    (lambda: ops.receptive_field([Layer(3, stride=0)]), r"`layers\[0\].stride` must be >= 1"),
])
def test_arithmetic_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
