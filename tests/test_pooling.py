"""max_pool2d, avg_pool2d and their backward passes against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import course.ops as ops
from course.ops.pytorch import reference
from strategies import TOL, arrays, max_err


@st.composite
def pool_cases(draw, dilation=True):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    H = draw(st.integers(d[0] * (k[0] - 1) + 1, 11))
    W = draw(st.integers(d[1] * (k[1] - 1) + 1, 11))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    x = arrays(draw, shape[1:] if draw(st.booleans()) else shape)
    kw = dict(kernel_size=k, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if dilation:
        kw["dilation"] = d
    return x, kw


@settings(max_examples=150, deadline=None)
@given(pool_cases())
def test_max_pool2d_and_indices_match_torch(case):
    x, kw = case
    out, idx = reference("max_pool2d", x, return_indices=True, **kw).value
    assume(np.isfinite(out).all())  # a ceil_mode window entirely in padding has no winner
    for pool in (ops.max_pool2d, ops.max_pool2d_naive):
        got, got_idx = pool(x, return_indices=True, **kw)
        assert max_err(got, out) == 0.0
        np.testing.assert_array_equal(got_idx, idx)
    grad_out = np.random.default_rng(1).standard_normal(out.shape)
    expected = reference("max_pool2d_backward", grad_out, x, **kw).value
    assert max_err(ops.max_pool2d_backward(grad_out, x, **kw), expected) <= TOL
    assert max_err(ops.max_pool2d_backward_naive(grad_out, x, **kw), expected) <= TOL


@settings(max_examples=150, deadline=None)
@given(pool_cases(dilation=False), st.booleans())
def test_avg_pool2d_and_backward_match_torch(case, count_include_pad):
    x, kw = case
    kw["count_include_pad"] = count_include_pad
    out = reference("avg_pool2d", x, **kw).value
    assume(np.isfinite(out).all())
    assert max_err(ops.avg_pool2d(x, **kw), out) <= TOL
    assert max_err(ops.avg_pool2d_naive(x, **kw), out) <= TOL
    grad_out = np.random.default_rng(2).standard_normal(out.shape)
    expected = reference("avg_pool2d_backward", grad_out, x, **kw).value
    assert max_err(ops.avg_pool2d_backward(grad_out, x, **kw), expected) <= TOL
    assert max_err(ops.avg_pool2d_backward_naive(grad_out, x, **kw), expected) <= TOL


def test_overlapping_windows_send_gradient_to_a_shared_winner():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 5.0
    grad = ops.max_pool2d_backward(np.ones((1, 1, 3, 3)), x, 2, stride=1)
    assert grad[0, 0, 1, 1] == 4.0  # the 5 wins all four windows that contain it
    np.testing.assert_array_equal(grad, reference("max_pool2d_backward", np.ones((1, 1, 3, 3)), x, 2, stride=1).value)


def test_deck_feature_maps_max_pooled():
    f1 = np.array([[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]])
    f2 = np.array([[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]])
    pooled = ops.max_pool2d(np.stack([f1, f2]), 2)
    np.testing.assert_array_equal(pooled, [[[3, 0], [3, 1]], [[-1, 1], [0, 3]]])


def test_max_is_shift_invariant_within_a_window():
    x = np.zeros((1, 6, 6))
    x[0, 0, 0] = 1.0
    shifted = np.roll(x, 1, axis=2)
    np.testing.assert_array_equal(ops.max_pool2d(x, 2), ops.max_pool2d(shifted, 2))


def test_ceil_mode_keeps_the_partial_window():
    x = np.arange(25.0).reshape(1, 5, 5)
    assert ops.max_pool2d(x, 2).shape == (1, 2, 2)
    assert ops.max_pool2d(x, 2, ceil_mode=True).shape == (1, 3, 3)
    assert ops.max_pool2d(x, 2, ceil_mode=True)[0, 2, 2] == 24.0


def test_uint8_input():
    x = np.array([[[250, 255], [1, 2]]], dtype=np.uint8)
    np.testing.assert_array_equal(ops.avg_pool2d(x, 2), [[[127.0]]])


def test_padding_more_than_half_the_kernel_refused():
    with pytest.raises(ValueError, match="`padding` must be at most half the kernel size"):
        ops.max_pool2d(np.zeros((1, 5, 5)), 2, padding=2)
    with pytest.raises(ValueError, match="`padding` must be at most half the kernel size"):
        ops.avg_pool2d(np.zeros((1, 5, 5)), 3, padding=2)


def test_pool_errors_name_the_parameter():
    with pytest.raises(ValueError, match="`stride` must be >= 1, got 0"):
        ops.max_pool2d(np.zeros((1, 5, 5)), 2, stride=0)
    with pytest.raises(ValueError, match="`kernel_size` must be >= 1"):
        ops.avg_pool2d(np.zeros((1, 5, 5)), 0)
    with pytest.raises(ValueError, match="`x` must have 3 or 4 dimensions, got 2"):
        ops.max_pool2d(np.zeros((5, 5)), 2)
    with pytest.raises(ValueError, match="larger than the padded input of size 3"):
        ops.max_pool2d(np.zeros((1, 3, 3)), 4)
    with pytest.raises(TypeError, match="`ceil_mode` must be True or False"):
        ops.max_pool2d(np.zeros((1, 3, 3)), 2, ceil_mode="yes")
    with pytest.raises(TypeError, match="`count_include_pad` must be True or False"):
        ops.avg_pool2d(np.zeros((1, 3, 3)), 2, count_include_pad=None)
    with pytest.raises(ValueError, match=r"`grad_out` must have the shape of the pooling's output \(1, 1, 1\)"):
        ops.max_pool2d_backward(np.zeros((1, 2, 2)), np.zeros((1, 3, 3)), 2)
