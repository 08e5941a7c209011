"""conv1d, conv2d, correlate2d, convolve2d and conv2d_backward against PyTorch and the lecture decks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course.ops as ops
from course.ops.pytorch import reference
from strategies import TOL, arrays, max_err

# The decks' 5x5 input and vertical-edge kernel (deck 004), computed step by step there.
DECK_X = np.array([[1, 2, 3, 4, 5], [1, 3, 2, 3, 10], [3, 2, 1, 4, 5], [6, 1, 1, 2, 2], [3, 2, 1, 5, 4]])
EDGE = np.array([[1, 0, -1]] * 3)
DECK_OUT = np.array([[-1, -4, -14], [6, -3, -13], [9, -6, -8]])

# The 6x6 image and two filters of deck 001.
SIX = np.array([[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0],
                [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]])
FILTER1 = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
FILTER2 = np.array([[-1, 1, -1]] * 3)


@st.composite
def conv2d_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C, F = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    N = draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilation = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    kind = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    stride = 1 if kind == "same" else draw(st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 5), st.integers(1, 5))))
    padding = {"int": draw(st.integers(0, 2)), "pair": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               "valid": "valid", "same": "same"}[kind]
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    # The input is at least as large as the dilated kernel, and larger than any reflect padding.
    H = draw(st.integers(d[0] * (KH - 1) + 1, d[0] * (KH - 1) + 7)) + 3
    W = draw(st.integers(d[1] * (KW - 1) + 1, d[1] * (KW - 1) + 7)) + 3
    x = arrays(draw, (N, C, H, W))
    w = arrays(draw, (F, C // groups, KH, KW))
    b = arrays(draw, (F,)) if draw(st.booleans()) else None
    return x, w, dict(bias=b, stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)


@settings(max_examples=120, deadline=None)
@given(conv2d_cases())
def test_conv2d_matches_torch(case):
    x, w, kw = case
    expected = reference("conv2d", x, w, **kw).value
    assert max_err(ops.conv2d(x, w, **kw), expected) <= TOL


@pytest.mark.parametrize("block_bytes", [1, 5000, 40000])  # bands of 1, 2 rows; 3 images
def test_conv2d_in_blocks_of_rows_and_images_matches_torch(monkeypatch, block_bytes):
    """conv2d builds its column matrix block by block (a band of output rows of one image,
    or several whole images); with tiny blocks every image is split into bands."""
    import course.ops.conv

    monkeypatch.setattr(course.ops.conv, "_COLUMNS_BYTES", block_bytes)
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((5, 4, 11, 9)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    expected = reference("conv2d", x, w, b, **kw).value
    assert max_err(ops.conv2d(x, w, b, **kw), expected) <= TOL


@settings(max_examples=40, deadline=None)
@given(conv2d_cases())
def test_conv2d_naive_matches_torch(case):
    x, w, kw = case
    expected = reference("conv2d", x, w, **kw).value
    assert max_err(ops.conv2d_naive(x, w, **kw), expected) <= TOL


@settings(max_examples=60, deadline=None)
@given(conv2d_cases())
def test_conv2d_backward_matches_autograd(case):
    x, w, kw = case
    kw.pop("bias"), kw.pop("padding_mode")
    out_shape = ops.conv2d(x, w, **kw).shape
    grad_out = np.random.default_rng(0).standard_normal(out_shape)
    expected = reference("conv2d_backward", grad_out, x, w, **kw).value
    for ours in (ops.conv2d_backward(grad_out, x, w, **kw), ops.conv2d_backward_naive(grad_out, x, w, **kw)):
        for got, want in zip(ours, expected):
            assert max_err(got, want) <= TOL


@st.composite
def conv1d_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    C, F, K = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3)), draw(st.integers(1, 5))
    dilation = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["int", "same", "valid"]))
    padding = {"int": draw(st.integers(0, 3)), "same": "same", "valid": "valid"}[kind]
    stride = 1 if kind == "same" else draw(st.integers(1, 4))
    L = draw(st.integers(dilation * (K - 1) + 1, 20)) + 3
    unbatched = draw(st.booleans())
    x = arrays(draw, (C, L) if unbatched else (draw(st.integers(1, 3)), C, L))
    return x, arrays(draw, (F, C // groups, K)), dict(
        bias=arrays(draw, (F,)), stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])))


@settings(max_examples=80, deadline=None)
@given(conv1d_cases())
def test_conv1d_both_versions_match_torch(case):
    x, w, kw = case
    expected = reference("conv1d", x, w, **kw).value
    assert max_err(ops.conv1d(x, w, **kw), expected) <= TOL
    assert max_err(ops.conv1d_naive(x, w, **kw), expected) <= TOL


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_correlate_and_convolve2d_match_torch(data):
    KH, KW = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    H, W = data.draw(st.integers(KH, 12)), data.draw(st.integers(KW, 12))
    image, kernel = arrays(data.draw, (H, W)), arrays(data.draw, (KH, KW))
    mode = data.draw(st.sampled_from(["valid", "same", "full"]))
    assert max_err(ops.correlate2d(image, kernel, mode), reference("correlate2d", image, kernel, mode).value) <= TOL
    assert max_err(ops.convolve2d(image, kernel, mode), reference("convolve2d", image, kernel, mode).value) <= TOL


def test_unbatched_input_gives_unbatched_output():
    x, w = np.ones((3, 5, 5)), np.ones((2, 3, 3, 3))
    assert ops.conv2d(x, w).shape == (2, 3, 3)
    np.testing.assert_array_equal(ops.conv2d(x, w), ops.conv2d(x[None], w)[0])
    grads = ops.conv2d_backward(np.ones((2, 3, 3)), x, w)
    assert grads.grad_x.shape == (3, 5, 5) and grads.grad_weight.shape == w.shape


def test_uint8_images_do_not_overflow():
    image = np.full((1, 1, 4, 4), 200, dtype=np.uint8)
    out = ops.conv2d(image, np.ones((1, 1, 3, 3), dtype=np.uint8))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 1800.0))
    np.testing.assert_array_equal(ops.conv2d_naive(image, np.ones((1, 1, 3, 3), dtype=np.uint8)), out)
    np.testing.assert_array_equal(ops.correlate2d(image[0, 0], np.ones((2, 2), np.uint8)), np.full((3, 3), 800.0))


def test_float32_stays_float32():
    x = np.ones((1, 2, 5, 5), np.float32)
    assert ops.conv2d(x, np.ones((3, 2, 3, 3), np.float32)).dtype == np.float32


# ---- the decks' worked examples, exactly -------------------------------------------------

def test_deck_5x5_input_with_vertical_edge_kernel():
    np.testing.assert_array_equal(ops.correlate2d(DECK_X, EDGE), DECK_OUT)
    np.testing.assert_array_equal(ops.conv2d_naive(DECK_X[None, None], EDGE[None, None])[0, 0], DECK_OUT)


def test_deck_5x5_same_padding_and_stride_2():
    same = ops.conv2d(DECK_X[None, None], EDGE[None, None], padding=1)[0, 0]
    assert same.shape == (5, 5)
    np.testing.assert_array_equal(same[1:4, 1:4], DECK_OUT)
    np.testing.assert_array_equal(ops.conv2d(DECK_X[None, None], EDGE[None, None], stride=2)[0, 0], [[-1, -14], [9, -8]])


def test_deck_edge_detection_dark_to_light_and_light_to_dark():
    bright_left = np.array([[10, 10, 10, 0, 0, 0]] * 5)
    np.testing.assert_array_equal(ops.correlate2d(bright_left, EDGE), [[0, 30, 30, 0]] * 3)
    np.testing.assert_array_equal(ops.correlate2d(10 - bright_left, EDGE), [[0, -30, -30, 0]] * 3)


def test_deck_three_channel_example_gives_43():
    x = np.array([
        [[1, 2, 3, 4], [1, 3, 2, 3], [3, 2, 1, 4], [6, 1, 1, 2]],
        [[4, 3, 1, 2], [2, 6, 1, 2], [1, 3, 1, 2], [3, 2, 1, 0]],
        [[7, 2, 3, 4], [6, 3, 2, 3], [5, 2, 1, 4], [1, 5, 6, 4]],
    ])
    w = np.stack([c * EDGE for c in (1, 2, 3)])[None]  # one filter, 3 channels
    out = ops.conv2d(x, w)
    assert out.shape == (1, 2, 2)
    assert out[0, 0, 0] == 43  # -1 + 8 + 36
    np.testing.assert_array_equal(ops.conv2d_naive(x, w), out)


def test_deck_6x6_image_two_filters_stride_1_and_2():
    w = np.stack([FILTER1, FILTER2])[:, None]
    out = ops.conv2d(SIX[None, None], w)[0]
    np.testing.assert_array_equal(out[0], [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]])
    np.testing.assert_array_equal(out[1], [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]])
    np.testing.assert_array_equal(ops.conv2d(SIX[None, None], FILTER1[None, None], stride=2)[0, 0], [[3, -3], [-3, 0]])


def test_convolution_flips_the_kernel():
    image = np.arange(16.0).reshape(4, 4)
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(ops.convolve2d(image, kernel), ops.correlate2d(image, kernel[::-1, ::-1]))
    assert not np.array_equal(ops.convolve2d(image, kernel), ops.correlate2d(image, kernel))


def test_same_padding_is_asymmetric_for_even_kernels_like_torch():
    x = np.arange(5.0)[None, None]
    np.testing.assert_array_equal(ops.conv1d(x, np.array([[[1.0, 1.0]]]), padding="same"), [[[1, 3, 5, 7, 4]]])


# ---- one test per validation error -------------------------------------------------------

def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"`weight` has 4 input channels.*x: \(2, 3, 8, 8\).*weight: \(5, 4, 3, 3\)"):
        ops.conv2d(np.zeros((2, 3, 8, 8)), np.zeros((5, 4, 3, 3)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input of size 4"):
        ops.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="dilation 3 spreads it over 7"):
        ops.conv2d(np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), dilation=3)


@pytest.mark.parametrize("name", ["stride", "dilation"])
def test_stride_and_dilation_below_one(name):
    with pytest.raises(ValueError, match=f"`{name}` must be >= 1, got 0"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), **{name: 0})


def test_negative_padding():
    with pytest.raises(ValueError, match="`padding` must be >= 0"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1)


def test_groups_must_divide_channels_and_filters():
    with pytest.raises(ValueError, match="`groups`=2 must divide the 3 input channels"):
        ops.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="`groups`=2 must divide the 3 filters"):
        ops.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="`groups` must be an int >= 1"):
        ops.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=0)


def test_same_padding_with_stride_refused():
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=2, padding="same")


def test_unknown_padding_string_and_mode():
    with pytest.raises(ValueError, match="`padding` must be an int, a tuple, 'valid' or 'same', got 'full'"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="full")
    with pytest.raises(ValueError, match="`padding_mode` must be one of"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=1, padding_mode="mirror")


def test_reflect_padding_wider_than_input():
    with pytest.raises(ValueError, match="reflect padding of 3 must be smaller than the size 3"):
        ops.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), padding=3, padding_mode="reflect")


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"`x` must have 3 or 4 dimensions, got 2"):
        ops.conv2d(np.zeros((5, 5)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"`weight` must have 4 dimensions, got 2"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"`x` must have 2 or 3 dimensions"):
        ops.conv1d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3)))


def test_bias_of_wrong_length():
    with pytest.raises(ValueError, match=r"`bias` must have one value per filter, shape \(2,\), got \(3,\)"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), bias=np.zeros(3))


def test_non_numeric_input():
    with pytest.raises(TypeError, match="`x` must be an array, got str"):
        ops.conv2d("image", np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match=r"`stride` must be an int or a tuple of 2 ints, got 1.5"):
        ops.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=1.5)


def test_correlate2d_errors():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        ops.correlate2d(np.zeros((3, 3)), np.zeros((2, 2)), mode="circular")
    with pytest.raises(ValueError, match="`image` must have 2 dimensions"):
        ops.correlate2d(np.zeros((1, 3, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="larger than the padded input of size 3"):
        ops.convolve2d(np.zeros((3, 3)), np.zeros((4, 4)))


def test_backward_grad_out_shape_checked():
    with pytest.raises(ValueError, match=r"`grad_out` must have the shape of the convolution's output \(1, 1, 3, 3\)"):
        ops.conv2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)))
