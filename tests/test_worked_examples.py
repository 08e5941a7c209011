"""The lecture decks' worked examples, as the lecture notebooks compute them.

Each test recomputes one example with course.ops / course.models and compares it with
the number printed on the slides (deck files in /work/shared/seeds, named in comments).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import course.ops as ops
from course import data, models

VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=float)
X5 = np.array([
    [1, 2, 3, 4, 5],
    [1, 3, 2, 3, 10],
    [3, 2, 1, 4, 5],
    [6, 1, 1, 2, 2],
    [3, 2, 1, 5, 4],
], dtype=float)


# ----------------------------------------------------------------------------- notebook 01


def test_dense_layer_sizes_of_the_lecture():
    # deck 000: a 972 x 1920 RGB photo has about 5 million inputs; a dense layer of the
    # same width has about 25 trillion weights (the deck squares the rounded 5 million)
    n = 972 * 1920 * 3
    assert n == 5_598_720
    assert ops.num_parameters(n, n, bias=False) == n * n
    assert 2.5e13 <= n * n < 3.2e13
    # deck 003: the 784-1000-10 MNIST network
    assert ops.num_parameters(784, 1000) == 785_000
    assert ops.num_parameters(1000, 10) == 10_010


def _shift_right(images, pixels):
    out = np.zeros_like(images)
    out[..., pixels:] = images[..., : images.shape[-1] - pixels]
    return out


def test_shifted_digits_defeat_the_dense_detector_but_not_the_sliding_one():
    d = data.digits()
    x_train, x_test = d.x_train[:, 0].astype(np.float64), d.x_test[:, 0].astype(np.float64)
    templates = np.stack([x_train[d.y_train == k].mean(0) for k in range(10)])
    templates -= templates.mean(axis=(1, 2), keepdims=True)

    def dense(images):
        return (images.reshape(len(images), 64) @ templates.reshape(10, 64).T).argmax(1)

    def sliding(images):
        scores = ops.conv2d(images[:, None], templates[:, None], padding=2)
        return scores.max(axis=(2, 3)).argmax(1)

    acc = lambda predict, pixels: np.mean(predict(_shift_right(x_test, pixels)) == d.y_test)
    assert acc(dense, 0) == pytest.approx(acc(sliding, 0))
    assert acc(dense, 0) > 0.85
    assert acc(dense, 1) < 0.4 and acc(dense, 2) < 0.15
    assert acc(sliding, 1) > 0.85 and acc(sliding, 2) > 0.8


# ----------------------------------------------------------------------------- notebook 02


def test_neighbourhood_average_table():
    # deck 000: 3x3 mean filter on the 10x10 image with a lost block, rounded
    noisy = np.array([
        [113, 122, 130, 128, 126, 125, 121, 121, 115, 127],
        [115, 112, 110, 111, 114, 119, 122, 117, 120, 117],
        [105, 106, 105, 106, 108, 111, 113, 117, 118, 114],
        [94, 98, 101, 103, 105, 108, 110, 114, 114, 111],
        [106, 109, 111, 112, 113, 114, 115, 113, 112, 111],
        [114, 113, 111, 110, 109, 0, 0, 0, 111, 113],
        [110, 106, 106, 108, 111, 0, 0, 0, 107, 110],
        [109, 106, 108, 116, 124, 0, 0, 0, 106, 109],
        [102, 97, 100, 109, 116, 117, 114, 118, 111, 114],
        [100, 108, 97, 100, 107, 90, 93, 97, 102, 110],
    ])
    slide = np.array([
        [113, 114, 115, 116, 118, 118, 118, 118],
        [105, 106, 107, 109, 112, 115, 116, 116],
        [104, 106, 107, 109, 111, 113, 114, 114],
        [106, 108, 108, 97, 86, 75, 88, 100],
        [110, 110, 110, 86, 62, 38, 62, 86],
        [109, 109, 111, 75, 38, 0, 36, 73],
        [105, 106, 111, 89, 65, 39, 62, 86],
        [103, 105, 109, 98, 85, 70, 82, 96],
    ])
    averaged = ops.correlate2d(noisy, np.full((3, 3), 1 / 9))
    np.testing.assert_array_equal(np.rint(averaged).astype(int), slide)
    assert averaged[0, 0] == pytest.approx(1018 / 9)


def test_five_by_five_vertical_edge_example():
    # deck 004, computed step by step on the slides
    expected = np.array([[-1, -4, -14], [6, -3, -13], [9, -6, -8]])
    np.testing.assert_array_equal(ops.correlate2d(X5, VERTICAL_EDGE), expected)
    np.testing.assert_array_equal(ops.conv2d_naive(X5[None, None], VERTICAL_EDGE[None, None])[0, 0], expected)
    # convolution flips the kernel: every sign changes for this antisymmetric kernel
    np.testing.assert_array_equal(ops.convolve2d(X5, VERTICAL_EDGE), -expected)


def test_edge_detection_signs():
    # deck 004: bright->dark gives +30, dark->bright gives -30, flat regions 0
    light_to_dark = np.array([[10, 10, 10, 0, 0, 0]] * 5, dtype=float)
    np.testing.assert_array_equal(ops.correlate2d(light_to_dark, VERTICAL_EDGE), [[0, 30, 30, 0]] * 3)
    np.testing.assert_array_equal(ops.correlate2d(light_to_dark[:, ::-1], VERTICAL_EDGE), [[0, -30, -30, 0]] * 3)
    top_bright = np.array([[10] * 6] * 3 + [[0] * 6] * 3, dtype=float)
    np.testing.assert_array_equal(ops.correlate2d(top_bright, VERTICAL_EDGE.T), [[0] * 4, [30] * 4, [30] * 4, [0] * 4])


@pytest.mark.parametrize(
    "patch, value",
    [([[1, 1], [0, 1]], 2), ([[1, 1], [1, 1]], 2), ([[1, 2], [3, 0]], 1),
     ([[0, 2], [3, 0]], 0), ([[3, 0], [0, 3]], 6), ([[5, 0], [0, 5]], 10)],
)
def test_two_by_two_diagonal_kernel(patch, value):
    # deck 003
    assert ops.correlate2d(np.array(patch, dtype=float), np.eye(2))[0, 0] == value


def test_sharpen_is_twice_identity_minus_box():
    # deck 003: sharpen = identity + (identity - box blur)
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    sharpen = 2 * identity - np.full((3, 3), 1 / 9)
    np.testing.assert_allclose(sharpen * 9, [[-1, -1, -1], [-1, 17, -1], [-1, -1, -1]])
    assert sharpen.sum() == pytest.approx(1.0)      # keeps the mean brightness


def test_outline_kernel_is_high_pass():
    # deck 002: the kernel with 8 in the centre removes constant regions
    outline = -np.ones((3, 3))
    outline[1, 1] = 8
    np.testing.assert_allclose(ops.correlate2d(np.full((6, 6), 37.0), outline), 0)
    gain = np.abs(np.fft.fft2(outline, (32, 32)))
    assert gain[0, 0] == pytest.approx(0, abs=1e-12) and gain[16, 16] == pytest.approx(8)   # (pi, pi): 8 + 4 - 4


def test_convolution_theorem():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(20, 17)), rng.normal(size=(5, 4))
    shape = (image.shape[0] + kernel.shape[0] - 1, image.shape[1] + kernel.shape[1] - 1)
    via_fft = np.fft.irfft2(np.fft.rfft2(image, shape) * np.fft.rfft2(kernel, shape), shape)
    np.testing.assert_allclose(ops.convolve2d(image, kernel, mode="full"), via_fft, atol=1e-10)


# ----------------------------------------------------------------------------- notebook 03

IMAGE6 = np.array([
    [1, 0, 0, 0, 0, 1],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 1, 0, 0],
    [1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 1, 0],
    [0, 0, 1, 0, 1, 0],
], dtype=float)
FILTERS = np.stack([
    [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
    [[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]],
]).astype(float)[:, None]


def test_six_by_six_image_with_two_filters():
    # deck 001: two 4x4 feature maps at stride 1; 3, -3 first row at stride 2
    maps = ops.conv2d(IMAGE6[None, None], FILTERS)[0]
    np.testing.assert_array_equal(maps[0], [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]])
    np.testing.assert_array_equal(maps[1], [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]])
    strided = ops.conv2d(IMAGE6[None, None], FILTERS, stride=2)[0, 0]
    np.testing.assert_array_equal(strided[0], [3, -3])
    pooled = ops.max_pool2d(maps[None], kernel_size=2)[0]
    np.testing.assert_array_equal(pooled, [[[3, 0], [3, 1]], [[-1, 1], [0, 3]]])


def test_three_channel_example_gives_43():
    # deck 004: kernels 1x, 2x, 3x the vertical-edge kernel on three 4x4 channels
    x = np.array([
        [[1, 2, 3, 4], [1, 3, 2, 3], [3, 2, 1, 4], [6, 1, 1, 2]],
        [[4, 3, 1, 2], [2, 6, 1, 2], [1, 3, 1, 2], [3, 2, 1, 0]],
        [[7, 2, 3, 4], [6, 3, 2, 3], [5, 2, 1, 4], [1, 5, 6, 4]],
    ], dtype=float)
    weight = np.stack([c * VERTICAL_EDGE for c in (1, 2, 3)])[None]
    parts = [ops.correlate2d(x[c], weight[0, c])[0, 0] for c in range(3)]
    assert parts == [-1, 8, 36]
    assert ops.conv2d(x[None], weight)[0, 0, 0, 0] == 43


def test_parameter_counts():
    # deck 004: two 3x3x3 kernels, 27 x 2 = 54 weights; deck 003: ((2d+1)^2 C + 1) T
    assert ops.num_parameters(3, 2, 3, bias=False) == 54
    d, C, T = 1, 3, 2
    assert ops.num_parameters(C, T, 2 * d + 1) == ((2 * d + 1) ** 2 * C + 1) * T == 56
    assert ops.num_parameters(3, 2, 3) == sum(p.numel() for p in torch.nn.Conv2d(3, 2, 3).parameters())


def test_stride_and_dilation_on_the_five_by_five_example():
    # deck 004: stride 2 keeps the corner outputs of the stride-1 result
    np.testing.assert_array_equal(ops.conv2d(X5[None, None], VERTICAL_EDGE[None, None], stride=2)[0, 0],
                                  [[-1, -14], [9, -8]])
    dilated = ops.conv2d(X5[None, None], VERTICAL_EDGE[None, None], dilation=2)[0, 0]
    assert dilated.shape == (1, 1)
    assert dilated[0, 0] == (X5[::2, ::2] * VERTICAL_EDGE).sum()


def test_output_size_formula():
    # deck 002: AlexNet (227 - 11) / 4 + 1 = 55; the torch listing with padding 2 on 224
    assert ops.conv_output_size(227, 11, stride=4) == 55
    assert ops.conv_output_size(224, 11, stride=4, padding=2) == 55
    # deck 000 "name the operation": 5x5, size 3, stride 2, without and with padding
    assert ops.conv_output_size(5, 3, stride=2) == 2
    assert ops.conv_output_size(5, 3, stride=2, padding=1) == 3


def test_pooling_strip_example():
    # deck 003: 2x2 max pooling of a 2x6 array
    strip = np.array([[1, 0, 2, 1, 0, 0], [0, 1, 3, 2, 1, 2]], dtype=float)
    np.testing.assert_array_equal(ops.max_pool2d(strip[None, None], kernel_size=2)[0, 0], [[1, 3, 2]])


def test_zero_padding_darkens_a_white_border_and_reflect_does_not():
    logo = data.to_gray(data.logo())[::3, ::3][None, None]
    blur = np.full((1, 1, 15, 15), 1 / 225)
    zeros = ops.conv2d(logo, blur, padding="same", padding_mode="zeros")[0, 0]
    reflect = ops.conv2d(logo, blur, padding="same", padding_mode="reflect")[0, 0]
    assert zeros.shape == reflect.shape == logo.shape[2:]
    assert zeros[0].mean() < 0.6 * reflect[0].mean()


# ----------------------------------------------------------------------------- notebook 04


def test_conv_matrix_example():
    # deck 002: 3x3 input, 2x2 kernel; the 4x9 matrix and its product
    x = np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]], dtype=float)
    k = np.array([[1, 2], [2, 1]], dtype=float)
    M = ops.conv_matrix((1, 3, 3), k[None, None])
    np.testing.assert_array_equal(M, [
        [1, 2, 0, 2, 1, 0, 0, 0, 0],
        [0, 1, 2, 0, 2, 1, 0, 0, 0],
        [0, 0, 0, 1, 2, 0, 2, 1, 0],
        [0, 0, 0, 0, 1, 2, 0, 2, 1],
    ])
    np.testing.assert_array_equal(M @ x.ravel(), [22, 21, 22, 20])
    np.testing.assert_array_equal(ops.conv2d(x[None, None], k[None, None]).ravel(), [22, 21, 22, 20])


def test_one_d_conv_matrix_is_banded():
    # deck 000: x * (-1, 0, 1) as a banded matrix
    M = ops.conv_matrix((1, 6), np.array([[[-1.0, 0.0, 1.0]]]))
    assert M.shape == (4, 6)
    for row in range(4):
        np.testing.assert_array_equal(M[row, row:row + 3], [-1, 0, 1])
        assert np.count_nonzero(M[row]) == 2


def test_efficiency_table():
    # deck 002 (Goodfellow 2016): 320 x 280 input, 2 x 1 kernel
    weight = np.array([[1.0], [-1.0]])[None, None]
    H_out, W_out = ops.conv_output_size(320, 2), ops.conv_output_size(280, 1)
    assert (H_out, W_out) == (319, 280)
    M = ops.conv_matrix((1, 320, 280), weight, sparse=True)
    assert M.shape == (319 * 280, 320 * 280)
    assert M.nnz == 2 * 319 * 280 == 178_640
    dense_floats = 319 * 280 * 320 * 280
    assert dense_floats > 8e9
    assert 2 * dense_floats > 16e9
    assert 319 * 280 * 3 == 267_960
    assert weight.size == 2
    x = np.random.default_rng(0).normal(size=(320, 280))
    np.testing.assert_allclose(M @ x.ravel(), ops.conv2d(x[None, None], weight).ravel())


def test_receptive_fields():
    # deck 003: 3, 5, 7 for stacked 3x3; 7 after a stride-2 layer
    assert [f.size for f in ops.receptive_field([ops.Layer(3)] * 3)] == [3, 5, 7]
    assert [f.size for f in ops.receptive_field([ops.Layer(3, stride=2), ops.Layer(3)])] == [3, 7]
    # deck 002 (Yu & Koltun): the dilated context module
    layers = [ops.Layer(3, dilation=d, padding=d) for d in (1, 1, 2, 4, 8, 16, 1)] + [ops.Layer(1)]
    assert [f.size for f in ops.receptive_field(layers)] == [3, 5, 9, 17, 33, 65, 67, 67]


def test_translation_equivariance_with_circular_padding():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1, 16, 16))
    w = rng.normal(size=(2, 1, 3, 3))
    shift = lambda a: np.roll(a, (3, 5), axis=(-2, -1))
    conv = lambda a: ops.conv2d(a, w, padding=1, padding_mode="circular")
    np.testing.assert_allclose(conv(shift(x)), shift(conv(x)), atol=1e-12)


def test_learning_the_sobel_kernel_by_gradient_descent():
    # notebook 04: recover a known kernel from (input, output) pairs with conv2d_backward
    rng = np.random.default_rng(0)
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)[None, None]
    images = rng.normal(size=(16, 1, 12, 12))
    targets = ops.conv2d(images, sobel)
    w = np.zeros((1, 1, 3, 3))
    for _ in range(150):
        error = ops.conv2d(images, w) - targets
        w -= 0.01 * ops.conv2d_backward(error / len(images), images, w)[1]
    np.testing.assert_allclose(w, sobel, atol=1e-3)


# ----------------------------------------------------------------------------- notebook 05


def test_transposed_convolution_example():
    # deck 002: 2x2 input, 2x2 kernel -> 3x3, via the transposed matrix and directly
    k = np.array([[1, 2], [2, 1]], dtype=float)
    small = np.array([[1, 2], [2, 4]], dtype=float)
    expected = [[1, 4, 4], [4, 13, 10], [4, 10, 4]]
    M = ops.conv_matrix((1, 3, 3), k[None, None])
    np.testing.assert_array_equal((M.T @ small.ravel()).reshape(3, 3), expected)
    np.testing.assert_array_equal(ops.conv_transpose2d(small[None, None], k[None, None])[0, 0], expected)
    assert ops.conv_output_size(2, 2, transposed=True) == 3


def test_lenet_and_alexnet_numbers():
    assert sum(p.numel() for p in models.LeNet5().parameters()) == 61_706
    shapes = [s for _, _, s in models.trace_shapes(models.AlexNet(), (1, 3, 224, 224))]
    assert shapes[0] == (1, 64, 55, 55)
    assert torch.nn.Conv2d(3, 96, 11, stride=4)(torch.zeros(1, 3, 227, 227)).shape == (1, 96, 55, 55)


def test_one_by_one_convolution_is_a_per_pixel_dense_layer():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 8, 5, 5)), rng.normal(size=(3, 8, 1, 1))
    np.testing.assert_allclose(ops.conv2d(x, w), np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x), atol=1e-12)
