"""conv_transpose2d against PyTorch, the deck's worked example, and its link to conv2d's gradient."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from course.ops.pytorch import reference
from strategies import TOL, arrays, max_err


@st.composite
def transposed_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    C, Fg = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    K = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    full = [(n - 1) * s + d * (k - 1) + 1 + op for n, s, d, k, op in zip((H, W), stride, dilation, K, output_padding)]
    padding = tuple(draw(st.integers(0, max((f - 1) // 2, 0))) for f in full)
    x = arrays(draw, (draw(st.integers(1, 2)), C, H, W))
    return x, arrays(draw, (C, Fg, *K)), dict(
        bias=arrays(draw, (Fg * groups,)) if draw(st.booleans()) else None, stride=stride, padding=padding,
        output_padding=output_padding, groups=groups, dilation=dilation)


@settings(max_examples=150, deadline=None)
@given(transposed_cases())
def test_conv_transpose2d_matches_torch(case):
    x, w, kw = case
    expected = reference("conv_transpose2d", x, w, **kw).value
    assert max_err(ops.conv_transpose2d(x, w, **kw), expected) <= TOL
    assert max_err(ops.conv_transpose2d_naive(x, w, **kw), expected) <= TOL


def test_deck_transposed_example():
    x = np.array([[1, 2], [2, 4]])[None, None]
    k = np.array([[1, 2], [2, 1]])[None, None]
    np.testing.assert_array_equal(ops.conv_transpose2d(x, k)[0, 0], [[1, 4, 4], [4, 13, 10], [4, 10, 4]])
    # It is the transposed matrix of the 3x3 -> 2x2 convolution with the same kernel.
    M = ops.conv_matrix((1, 3, 3), k)
    np.testing.assert_array_equal((M.T @ x.ravel()).reshape(3, 3), [[1, 4, 4], [4, 13, 10], [4, 10, 4]])


def test_transposed_conv_is_the_input_gradient_of_conv():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 2))
    g = rng.standard_normal(ops.conv2d(x, w, stride=2, padding=1, groups=2).shape)
    grad_x = ops.conv2d_backward(g, x, w, stride=2, padding=1, groups=2).grad_x
    np.testing.assert_allclose(ops.conv_transpose2d(g, w, stride=2, padding=1, output_padding=0, groups=2),
                               grad_x, atol=1e-12)


def test_transposed_errors():
    with pytest.raises(ValueError, match="`output_padding` must be smaller than `stride` or `dilation`"):
        ops.conv_transpose2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"`weight` must have shape \(C_in, F // groups, KH, KW\) with C_in = 2"):
        ops.conv_transpose2d(np.zeros((1, 2, 3, 3)), np.zeros((3, 1, 2, 2)))
    with pytest.raises(ValueError, match="must be an int or a pair"):
        ops.conv_transpose2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), padding="same")
    with pytest.raises(ValueError, match="removes the whole output"):
        ops.conv_transpose2d(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)), padding=1)
    with pytest.raises(ValueError, match="`groups`=2 must divide the 3 input channels"):
        ops.conv_transpose2d(np.zeros((1, 3, 3, 3)), np.zeros((3, 1, 2, 2)), groups=2)
    with pytest.raises(ValueError, match=r"`bias` must have one value per output channel, shape \(2,\)"):
        ops.conv_transpose2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 2, 2)), bias=np.zeros(3))
