"""pad against torch.nn.functional.pad."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from course.ops.pytorch import reference
from strategies import arrays


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_pad_matches_torch(data):
    mode = data.draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    H, W = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    x = arrays(data.draw, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), H, W))
    limit = {"reflect": (H - 1, W - 1), "circular": (H, W)}.get(mode, (3, 3))
    lo = -1 if mode == "constant" else 0  # torch's circular mode fails on some negative widths
    pad = tuple(data.draw(st.integers(lo if n > 1 else 0, lim)) for lim, n in ((limit[1], W), (limit[1], W), (limit[0], H), (limit[0], H)))
    value = data.draw(st.floats(-5, 5)) if mode == "constant" else 0.0
    expected = reference("pad", x, pad, mode=mode, value=value).value
    np.testing.assert_array_equal(ops.pad(x, pad, mode=mode, value=value), expected)
    if min(pad) >= 0:
        np.testing.assert_array_equal(ops.pad_naive(x, pad, mode=mode, value=value), expected)


def test_modes_on_one_row():
    row = np.array([[1, 2, 3]])
    assert ops.pad(row, (2, 2))[0].tolist() == [0, 0, 1, 2, 3, 0, 0]
    assert ops.pad(row, (2, 2), mode="reflect")[0].tolist() == [3, 2, 1, 2, 3, 2, 1]
    assert ops.pad(row, (2, 2), mode="replicate")[0].tolist() == [1, 1, 1, 2, 3, 3, 3]
    assert ops.pad(row, (2, 2), mode="circular")[0].tolist() == [2, 3, 1, 2, 3, 1, 2]


def test_pad_keeps_dtype():
    assert ops.pad(np.ones((2, 2), np.uint8), (1, 1)).dtype == np.uint8


@pytest.mark.parametrize("pad, match", [
    ((1,), "even, non-zero number of entries"),
    ((1, 1, 1, 1, 1, 1), "padding 3 axes, but `x` has only 2"),
    ((1.5, 1), "`pad` must hold ints"),
    ("same", "`pad` must be a tuple of ints"),
])
def test_bad_pad_argument(pad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ops.pad(np.zeros((3, 3)), pad)


def test_bad_mode_and_value():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        ops.pad(np.zeros((3, 3)), (1, 1), mode="zeros")
    with pytest.raises(ValueError, match="`value` only applies to mode 'constant'"):
        ops.pad(np.zeros((3, 3)), (1, 1), mode="reflect", value=1)


def test_reflect_wider_than_input_and_negative():
    with pytest.raises(ValueError, match="reflect padding of 3 must be smaller than the size 3 of axis 1"):
        ops.pad(np.zeros((3, 3)), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode 'replicate' needs non-negative `pad`"):
        ops.pad(np.zeros((3, 3)), (-1, 0), mode="replicate")
    with pytest.raises(ValueError, match="circular padding of 4 must not exceed the size 3"):
        ops.pad(np.zeros((3, 3)), (4, 0), mode="circular")
