"""Tests of course.explorers.conv_matrix: the deck's matrix, shared weights, parameter counts, the widget."""
from __future__ import annotations

import numpy as np
import pytest

import course.ops as ops
from course.explorers.conv_matrix import conv_matrix_result, conv_matrix_viewer, plot_conv_matrix
from explorer_helpers import texts


def test_conv_matrix_reproduces_the_deck_matrix():
    res = conv_matrix_result((3, 3), [[1, 2], [2, 1]])
    expected = np.array([
        [1, 2, 0, 2, 1, 0, 0, 0, 0],
        [0, 1, 2, 0, 2, 1, 0, 0, 0],
        [0, 0, 0, 1, 2, 0, 2, 1, 0],
        [0, 0, 0, 0, 1, 2, 0, 2, 1],
    ])
    np.testing.assert_array_equal(res["matrix"], expected)
    x = np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]])
    np.testing.assert_array_equal(res["matrix"] @ x.ravel(), [22, 21, 22, 20])  # the deck's product
    assert res["conv_params"] == ops.num_parameters(1, 1, (2, 2), bias=False) == 4
    assert res["dense_params"] == ops.num_parameters(9, 4, bias=False) == 36


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_matrix_taps_mark_shared_weights(stride, padding, dilation):
    kernel = np.array([[0.5, -1, 2], [3, 1.5, -2]])
    res = conv_matrix_result((5, 6), kernel, stride=stride, padding=padding, dilation=dilation, bias=True)
    M, tap = res["matrix"], res["tap"]
    for t, w in enumerate(kernel.ravel()):
        assert np.all(M[tap == t + 1] == w)  # every copy of a weight has its colour
    assert np.all(M[tap == 0] == 0)
    x = np.random.default_rng(2).normal(size=(5, 6))
    y = ops.conv2d(x[None, None], kernel[None, None], stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(M @ x.ravel(), y.ravel())
    assert res["output_shape"] == y.shape[-2:]
    assert res["conv_params"] == 7 and res["dense_params"] == ops.num_parameters(30, y[0, 0].size)


def test_conv_matrix_one_d_default_and_checks():
    res = conv_matrix_result()
    assert res["matrix"].shape == (6, 8)
    np.testing.assert_array_equal(res["matrix"][1, :4], [0, -1, 0, 1])
    assert res["nonzeros"] == 18 and res["conv_params"] == 3 and res["dense_params"] == 48
    with pytest.raises(ValueError, match="`kernel` must have 1"):
        conv_matrix_result(8, [[1, 2]])
    with pytest.raises(ValueError, match="larger than"):
        conv_matrix_result(2, [1, 2, 3])
    fig = plot_conv_matrix((3, 3), [[1, 2], [2, 1]])
    assert "convolution: 4" in texts(fig) and "dense layer 9 → 4: 36" in texts(fig)


# ----------------------------------------------------------------------------- the widget


def test_conv_matrix_viewer():
    w = conv_matrix_viewer()
    c = w.controls
    M = ops.conv_matrix((1, 8), np.array([-1.0, 0, 1])[None, None])
    np.testing.assert_array_equal(w.result["matrix"], M)
    assert w.result["dense_params"] == ops.num_parameters(8, 6, bias=False)
    c["dims"].value = "2-D"
    assert c["input_size"].value == 3 and w.result["matrix"].shape == (4, 9)
    np.testing.assert_array_equal(w.result["matrix"][0], [1, 2, 0, 2, 1, 0, 0, 0, 0])
    c["padding"].value = 1
    c["bias"].value = True
    np.testing.assert_array_equal(
        w.result["matrix"], ops.conv_matrix((1, 3, 3), np.array([[1.0, 2], [2, 1]])[None, None], padding=1))
    assert w.result["conv_params"] == 5 and w.result["dense_params"] == ops.num_parameters(9, 16)
    c["kernel"].value = "1 2 3\n4 5 6\n7 8 9\n1 1 1"
    c["padding"].value = 0
    assert "larger than" in w.error
    c["kernel"].value = "1 2 3"
    assert w.error is None and w.result["matrix"].shape == (3, 9)
