"""Tests of course.explorers.kernels: kernels on photos against torch, the widget's presets and cells."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course.ops as ops
from course import data
from course.explorers.conv_step import VERTICAL_EDGE
from course.explorers.kernels import (
    KERNEL_PRESETS,
    kernel_explorer,
    kernel_result,
    plot_kernel_result,
)
from explorer_helpers import changes_image


def test_presets_are_the_lecture_kernels():
    P = KERNEL_PRESETS
    np.testing.assert_allclose(P["sharpen (2 identity - box blur)"], 2 * P["identity"] - P["box blur (moving average)"])
    assert P["high-pass (8 centre, -1 around)"].sum() == 0 and P["high-pass (8 centre, -1 around)"][1, 1] == 8
    np.testing.assert_array_equal(P["Sobel y (vertical gradient)"], P["Sobel x (horizontal gradient)"].T)
    np.testing.assert_array_equal(P["vertical edge detector"], VERTICAL_EDGE)
    assert P["Gaussian blur"].sum() == pytest.approx(1) and P["box blur (moving average)"].sum() == pytest.approx(1)
    assert P["Laplacian"].sum() == 0


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_kernel_result_matches_torch(mode):
    image = data.camera()[100:160, 200:270]
    kernel = KERNEL_PRESETS["Sobel x (horizontal gradient)"]
    res = kernel_result(image, kernel, padding_mode=mode, stride=2)
    x = torch.tensor(image, dtype=torch.float64)[None, None]
    xp = F.pad(x, (1, 1, 1, 1), mode="constant" if mode == "zeros" else mode)
    expected = F.conv2d(xp, torch.tensor(kernel)[None, None], stride=2)[0].numpy()
    np.testing.assert_allclose(res["output"], expected, atol=1e-9)
    assert res["output"].shape == (1, 30, 35)


def test_kernel_result_channels_relu_and_valid():
    image = data.cat()[:40, :50]
    kernel = KERNEL_PRESETS["Laplacian"]
    summed = kernel_result(image, kernel)["output"]
    separate = kernel_result(image, kernel, channels="separate")["output"]
    assert summed.shape == (1, 40, 50) and separate.shape == (3, 40, 50)
    np.testing.assert_allclose(summed[0], separate.sum(axis=0), atol=1e-9)  # linearity
    x = data.to_tensor_layout(image.astype(float))
    for ch in range(3):
        np.testing.assert_allclose(separate[ch], ops.conv2d(x[:, ch : ch + 1], kernel[None, None], padding=1)[0, 0])
    relu = kernel_result(image, kernel, relu=True)
    np.testing.assert_array_equal(relu["output"], np.maximum(summed, 0))
    assert relu["output"].min() == 0 < relu["limit"]
    valid = kernel_result(image, kernel, padding_mode="valid")["output"]
    np.testing.assert_allclose(valid, summed[:, 1:-1, 1:-1], atol=1e-9)
    with pytest.raises(ValueError, match="`padding_mode`"):
        kernel_result(image, kernel, padding_mode="mirror")
    with pytest.raises(ValueError, match="`channels`"):
        kernel_result(image, kernel, channels="rgb")
    with pytest.raises(ValueError, match="`kernel`"):
        kernel_result(image, np.ones(3))


def test_plot_kernel_result_uses_a_scale_centred_on_zero():
    image = data.camera()[:64, :64]
    fig = plot_kernel_result(image, VERTICAL_EDGE)
    res = kernel_result(image, VERTICAL_EDGE)
    out_image = fig.axes[2].images[0]
    assert out_image.get_clim() == (-res["limit"], res["limit"])
    assert res["output"].min() < 0 < res["output"].max()
    np.testing.assert_array_equal(out_image.get_array(), res["output"][0])
    assert len(fig.axes) == 4  # input, kernel, output, colourbar
    fig = plot_kernel_result(data.cat()[:30, :30], VERTICAL_EDGE, channels="separate")
    assert len(fig.axes) == 6


# ----------------------------------------------------------------------------- the widget


def _direct(image, kernel, *, mode="zeros", stride=1):
    x = data.to_tensor_layout(np.asarray(image, dtype=float))
    weight = np.broadcast_to(kernel, (1, x.shape[1], *np.shape(kernel)))
    return ops.conv2d(x, weight, stride=stride, padding=1, padding_mode=mode)[0]


def test_kernel_explorer_presets_and_controls():
    camera = data.camera()
    w = kernel_explorer(camera)
    c = w.controls
    assert c["image"].value == "given" and bytes(w.image.value).startswith(b"\xff\xd8")
    np.testing.assert_allclose(w.result["output"], _direct(camera, VERTICAL_EDGE))
    c["preset"].value = "Laplacian"
    kernel = np.array([[c[f"w{r}{k}"].value for k in range(3)] for r in range(3)])
    np.testing.assert_array_equal(kernel, KERNEL_PRESETS["Laplacian"])
    np.testing.assert_allclose(w.result["output"], _direct(camera, kernel))
    c["stride"].value = 2
    c["padding_mode"].value = "reflect"
    np.testing.assert_allclose(w.result["output"], _direct(camera, kernel, mode="reflect", stride=2))
    assert w.result["output"].shape == (1, 256, 256)
    c["relu"].value = True
    assert w.result["output"].min() == 0
    c["w11"].value = -3.0
    assert c["preset"].value == "custom"
    assert w.result["weight"][0, 0, 1, 1] == -3.0
    c["w11"].value = -4.0
    assert c["preset"].value == "Laplacian"  # typing a preset's numbers selects it again


def test_kernel_explorer_images_channels_and_valid_padding():
    w = kernel_explorer()
    c = w.controls
    assert c["image"].value == "cat"
    c["channels"].value = "separate"
    assert w.result["output"].shape == (3, 300, 451)
    c["padding_mode"].value = "valid"
    assert w.result["output"].shape == (3, 298, 449)
    c["image"].value = "logo"
    assert w.result["x"].shape == (1, 3, 500, 500)
    assert changes_image(w, "image", "camera")
    assert w.result["output"].shape == (1, 510, 510)
