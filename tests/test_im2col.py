"""im2col and col2im: the convolution as one matrix product, and its adjoint."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from strategies import TOL, arrays, max_err


@st.composite
def unfold_cases(draw):
    k, s, p, d = ((draw(st.integers(lo, hi)), draw(st.integers(lo, hi))) for lo, hi in ((1, 3), (1, 3), (0, 2), (1, 2)))
    H = draw(st.integers(max(d[0] * (k[0] - 1) + 1 - 2 * p[0], 1), 8))
    W = draw(st.integers(max(d[1] * (k[1] - 1) + 1 - 2 * p[1], 1), 8))
    return arrays(draw, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)), dict(
        kernel_size=k, stride=s, padding=p, dilation=d)


@settings(max_examples=100, deadline=None)
@given(unfold_cases())
def test_im2col_and_col2im_match_torch_unfold_and_fold(case):
    x, kw = case
    cols = ops.im2col(x, **kw)
    np.testing.assert_array_equal(cols, F.unfold(torch.tensor(x), **kw).numpy())
    folded = F.fold(torch.tensor(cols), output_size=x.shape[2:], **kw).numpy()
    assert max_err(ops.col2im(cols, x.shape, **kw), folded) <= TOL


def test_conv_is_one_matrix_product_on_im2col():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    cols = ops.im2col(x, (3, 2), stride=2, padding=1)
    out = (w.reshape(4, -1) @ cols).reshape(2, 4, 4, 4)
    np.testing.assert_allclose(out, ops.conv2d(x, w, stride=2, padding=1), atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(1)
    x, c = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((1, 2 * 9, 9))
    lhs = np.sum(ops.im2col(x, 3, padding=1, stride=2) * c)
    rhs = np.sum(x * ops.col2im(c, x.shape, 3, padding=1, stride=2))
    assert abs(lhs - rhs) < 1e-10


def test_unbatched():
    assert ops.im2col(np.zeros((2, 4, 4)), 2).shape == (8, 9)
    assert ops.col2im(np.zeros((8, 9)), (2, 4, 4), 2).shape == (2, 4, 4)


def test_col2im_checks_the_column_shape():
    with pytest.raises(ValueError, match=r"`cols` must have shape \(N, C\*KH\*KW, H_out\*W_out\) = \(1, 4, 4\)"):
        ops.col2im(np.zeros((1, 4, 5)), (1, 1, 3, 3), 2)
    with pytest.raises(ValueError, match="`input_shape` must be"):
        ops.col2im(np.zeros((1, 4, 4)), (3, 3), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.im2col(np.zeros((1, 1, 2, 2)), 3)
