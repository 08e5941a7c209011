"""conv_matrix: conv(x).ravel() == M @ x.ravel() for every setting and padding mode."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from strategies import arrays


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_matrix_reproduces_conv2d(data):
    C, F = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    K = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    d = data.draw(st.integers(1, 2))
    H, W = data.draw(st.integers(d * (K[0] - 1) + 3, 8)), data.draw(st.integers(d * (K[1] - 1) + 3, 8))
    mode = data.draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    stride, padding = data.draw(st.integers(1, 3)), data.draw(st.integers(0, 2))
    x, w = arrays(data.draw, (C, H, W)), arrays(data.draw, (F, C, *K))
    kw = dict(stride=stride, padding=padding, dilation=d, padding_mode=mode)
    M = ops.conv_matrix(x.shape, w, sparse=True, **kw)
    assert isinstance(M, scipy.sparse.csr_array)
    np.testing.assert_allclose(M @ x.ravel(), ops.conv2d(x, w, **kw).ravel(), atol=1e-12)


def test_1d_matrix_is_banded_and_weight_shared():
    M = ops.conv_matrix((1, 6), np.array([[[1.0, 2.0, 3.0]]]))
    assert M.shape == (4, 6)
    for i in range(4):  # every row is the kernel, shifted one column further
        np.testing.assert_array_equal(M[i, i : i + 3], [1, 2, 3])
        assert np.count_nonzero(M[i]) == 3
    x = np.arange(6.0)
    np.testing.assert_array_equal(M @ x, ops.conv1d(x[None], np.array([[[1.0, 2.0, 3.0]]]))[0])


def test_deck_conv_matrix_and_its_transpose():
    k = np.array([[[[1, 2], [2, 1]]]])
    M = ops.conv_matrix((1, 3, 3), k)
    np.testing.assert_array_equal(M @ np.array([1, 2, 3, 6, 5, 3, 1, 4, 1]), [22, 21, 22, 20])
    np.testing.assert_array_equal(M.T @ np.array([1, 2, 2, 4]), [1, 4, 4, 4, 13, 10, 4, 10, 4])


def test_conv_matrix_errors():
    with pytest.raises(ValueError, match="`weight` has 2 input channels but `input_shape` has 1"):
        ops.conv_matrix((1, 4, 4), np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="`input_shape` must be"):
        ops.conv_matrix((4, 4, 4, 4), np.zeros((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="`weight` must have 4 dimensions"):
        ops.conv_matrix((1, 4, 4), np.zeros((1, 1, 2)))
