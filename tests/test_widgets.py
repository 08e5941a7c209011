"""Tests of course.widgets: set controls in code, compare the explorer's arrays with direct ops calls."""
from __future__ import annotations

import subprocess
import sys

import ipywidgets as W
import numpy as np
import pytest
import torch

import course.ops as ops
from course import data, viz, widgets

DECK_OUTPUT = np.array([[-1, -4, -14], [6, -3, -13], [9, -6, -8]])


def _changes_image(explorer, key, value) -> bool:
    before = explorer.image.value
    explorer.controls[key].value = value
    return explorer.image.value != before


def test_widgets_module_does_not_import_torch():
    code = "import sys, course.widgets, course.viz; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"MPLBACKEND": "Agg", **__import__("os").environ})
    assert out.stdout.strip() == "False"


def test_explorer_structure():
    w = widgets.conv_stepper()
    assert isinstance(w, W.VBox) and isinstance(w, widgets.Explorer)
    assert w.image in w.children and w.message in w.children
    assert "explorer-conv-stepper" in w._dom_classes
    assert "control-step" in w.controls["step"]._dom_classes
    assert bytes(w.image.value).startswith(b"\x89PNG") and w.error is None
    for key, control in w.controls.items():
        if hasattr(control, "description") and not isinstance(control, W.Button):
            assert control.description, f"control {key} has no label"


# ----------------------------------------------------------------------------- 1. stepper


def test_conv_stepper_steps_through_the_deck_example():
    w = widgets.conv_stepper()
    np.testing.assert_array_equal(w.result["output"], DECK_OUTPUT)
    c = w.controls
    assert c["step"].max == 8 and c["play"].max == 8
    assert _changes_image(w, "step", 2)
    assert w.result["value"] == -14 and w.result["position"] == (0, 2)
    c["next"].click()
    assert c["step"].value == 3 and w.result["value"] == 6
    c["step"].value = 8
    c["next"].click()
    assert c["step"].value == 0  # wraps around
    c["back"].click()
    assert c["step"].value == 8 and w.result["value"] == -8
    c["play"].value = 4  # the Play control drives the slider
    assert c["step"].value == 4 and w.result["position"] == (1, 1)


def test_conv_stepper_convolution_and_custom_values():
    w = widgets.conv_stepper()
    c = w.controls
    c["operation"].value = "convolution"
    np.testing.assert_array_equal(w.result["output"], ops.convolve2d(viz.DECK_INPUT, viz.VERTICAL_EDGE))
    c["x"].value = "1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16"
    c["kernel"].value = "1 2\n3 4"
    x = np.arange(1, 17).reshape(4, 4)
    np.testing.assert_array_equal(w.result["output"], ops.convolve2d(x, [[1, 2], [3, 4]]))
    assert c["step"].max == 8
    c["operation"].value = "cross-correlation"
    np.testing.assert_array_equal(w.result["output"], ops.correlate2d(x, [[1, 2], [3, 4]]))


def test_conv_stepper_one_d():
    w = widgets.conv_stepper()
    w.controls["dims"].value = "1-D"
    x, k = np.array([1, 3, 2, 3, 10, 5, 2, 2]), np.array([1, 0, -1])
    assert w.error is None and w.result["one_d"]
    np.testing.assert_array_equal(w.result["output"], ops.conv1d(x[None, None], k[None, None])[0, 0])
    assert w.controls["step"].max == 5
    w.controls["dims"].value = "2-D"
    np.testing.assert_array_equal(w.result["output"], DECK_OUTPUT)
    w1 = widgets.conv_stepper(np.array([4, 1, 3]), np.array([1, -1]))
    assert w1.controls["dims"].value == "1-D"
    np.testing.assert_array_equal(w1.result["output"], [3, -2])


def test_conv_stepper_bad_text_shows_a_message():
    w = widgets.conv_stepper()
    before = w.image.value
    w.controls["x"].value = "1 2 3\n4 five 6"
    assert "row 2: 'five' is not a number" in w.error
    assert "five" in w.message.value and w.image.value == before
    w.controls["x"].value = "1 2\n3 4"  # now the 3x3 kernel does not fit
    assert "larger than" in w.error
    w.controls["x"].value = "1 2 3\n4 5 6\n7 8 9"
    assert w.error is None and w.message.value == ""
    assert w.result["output"].shape == (1, 1)
    w.controls["dims"].value = "1-D"
    w.controls["kernel"].value = "1 0\n0 1"
    assert "single row" in w.error


# ----------------------------------------------------------------------------- 2. arithmetic


def test_conv_arithmetic_explorer_matches_ops():
    w = widgets.conv_arithmetic_explorer()
    c = w.controls
    assert w.result["output_size"] == 3 and c["step"].max == 8
    with w.hold():
        c["padding"].value, c["stride"].value = 1, 2
    w.refresh()
    assert w.result["output_size"] == ops.conv_output_size(5, 3, 2, 1) == 3
    c["dilation"].value = 2
    assert w.result["output_size"] == ops.conv_output_size(5, 3, 2, 1, 2) == 2
    assert c["step"].max == 3
    c["transposed"].value = True
    size = ops.conv_output_size(5, 3, 2, 1, 2, transposed=True)
    assert w.result["output_size"] == size and c["step"].max == size * size - 1
    assert _changes_image(w, "step", 5)
    assert w.result["output_cell"] == divmod(5, size)


def test_conv_arithmetic_explorer_explains_invalid_settings():
    w = widgets.conv_arithmetic_explorer()
    before = w.image.value
    w.controls["kernel_size"].value = 6
    assert w.error is not None and "larger than the padded input" in w.error
    assert "larger than the padded input" in w.message.value
    assert w.image.value != before  # the figure now shows the explanation
    w.controls["padding"].value = 1
    assert w.error is None and w.result["output_size"] == 2


# ----------------------------------------------------------------------------- 3. kernels


def _direct(image, kernel, *, mode="zeros", stride=1):
    x = data.to_tensor_layout(np.asarray(image, dtype=float))
    weight = np.broadcast_to(kernel, (1, x.shape[1], *np.shape(kernel)))
    return ops.conv2d(x, weight, stride=stride, padding=1, padding_mode=mode)[0]


def test_kernel_explorer_presets_and_controls():
    camera = data.camera()
    w = widgets.kernel_explorer(camera)
    c = w.controls
    assert c["image"].value == "given" and bytes(w.image.value).startswith(b"\xff\xd8")
    np.testing.assert_allclose(w.result["output"], _direct(camera, viz.VERTICAL_EDGE))
    c["preset"].value = "Laplacian"
    kernel = np.array([[c[f"w{r}{k}"].value for k in range(3)] for r in range(3)])
    np.testing.assert_array_equal(kernel, viz.KERNEL_PRESETS["Laplacian"])
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
    w = widgets.kernel_explorer()
    c = w.controls
    assert c["image"].value == "cat"
    c["channels"].value = "separate"
    assert w.result["output"].shape == (3, 300, 451)
    c["padding_mode"].value = "valid"
    assert w.result["output"].shape == (3, 298, 449)
    c["image"].value = "logo"
    assert w.result["x"].shape == (1, 3, 500, 500)
    assert _changes_image(w, "image", "camera")
    assert w.result["output"].shape == (1, 510, 510)


# ----------------------------------------------------------------------------- 4. pooling


def test_pooling_explorer_matches_ops():
    w = widgets.pooling_explorer()
    x = viz.DEFAULT_FEATURE_MAP.astype(float)
    c = w.controls
    np.testing.assert_array_equal(w.result["pooled"], ops.max_pool2d(x[None], 2)[0])
    assert _changes_image(w, "shift_cols", 1)
    np.testing.assert_array_equal(w.result["pooled_shifted"], ops.max_pool2d(np.roll(x, 1, axis=1)[None], 2)[0])
    assert w.result["equivariance_error"] == 0
    c["mode"].value = "avg"
    c["kernel_size"].value = 3
    c["stride"].value = 1
    np.testing.assert_allclose(w.result["pooled"], ops.avg_pool2d(x[None], 3, 1)[0])
    c["shift_rows"].value = -2
    assert w.result["shift"] == (-2, 1)


def test_pooling_explorer_on_a_photo():
    camera = data.camera()
    w = widgets.pooling_explorer(camera)
    w.controls["kernel_size"].value = 4
    w.controls["stride"].value = 4
    np.testing.assert_array_equal(w.result["pooled"], ops.max_pool2d(camera[None].astype(float), 4)[0])
    assert w.result["pooled"].shape == (128, 128)


# ----------------------------------------------------------------------------- 5. receptive fields


def test_receptive_field_explorer_default_and_presets():
    w = widgets.receptive_field_explorer()
    c = w.controls
    assert [f.size for f in w.result["fields"]] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert c["layer"].value == 8 and w.result["unit"] == (37, 37)
    c["layer"].value = 3
    assert w.result["rows"] == ops.receptive_field(viz.parse_layers(c["layers"].value))[2].span(37) == (33.0, 41.0)
    assert "<td style='padding:2px 8px;text-align:center'>65</td>" in w.table.value
    assert w.table.value.count("background:#fce5cd") == 1  # the chosen layer
    c["preset"].value = "three 3x3 convolutions"
    assert [f.size for f in w.result["fields"]] == [3, 5, 7]
    assert c["input_size"].value == 9 and c["unit_row"].max == 2
    c["unit_row"].value, c["unit_col"].value = 2, 0
    assert w.result["rows"] == (2.0, 8.0) and w.result["cols"] == (0.0, 6.0)
    c["layer"].value = 1
    assert c["unit_row"].max == 6 and w.result["rows"] == (2.0, 4.0)


def test_receptive_field_explorer_editing_and_errors():
    w = widgets.receptive_field_explorer([ops.Layer(3), ops.Layer(2, 2, name="pool")])
    c = w.controls
    assert c["preset"].value == "custom" and [f.size for f in w.result["fields"]] == [3, 4]
    c["input_size"].value = 20
    c["layers"].value = "conv k=5\npool k=2 s=2\nconv k=3 d=2"
    assert [f.size for f in w.result["fields"]] == [5, 6, 14]
    assert c["layer"].max == 3
    c["layers"].value = "conv k=3 x=1"
    assert "unknown setting 'x'" in w.error
    c["layers"].value = "conv k=3"
    c["input_size"].value = 2
    assert "does not fit" in w.error and "does not fit" in w.message.value
    c["input_size"].value = 10
    assert w.error is None and w.result["sizes"] == [8]


# ----------------------------------------------------------------------------- 6. conv matrix


def test_conv_matrix_viewer():
    w = widgets.conv_matrix_viewer()
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


# ----------------------------------------------------------------------------- 7. feature maps


def test_feature_map_viewer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    image = data.camera()[::8, ::8]
    w = widgets.feature_map_viewer(model, image)
    c = w.controls
    assert list(c["layer"].options) == ["0 (Conv2d)", "1 (ReLU)", "2 (MaxPool2d)"]
    x = torch.tensor(image / 255.0, dtype=torch.float32)[None, None]
    with torch.no_grad():
        np.testing.assert_allclose(w.result["maps"], model[0](x)[0].numpy(), rtol=1e-6)
        assert len(w.result["shown"]) == 16 and c["start"].max == 16
        assert _changes_image(w, "layer", "2 (MaxPool2d)")
        np.testing.assert_allclose(w.result["maps"], model(x)[0].numpy(), rtol=1e-6)
    c["start"].value = 16
    np.testing.assert_array_equal(w.result["shown"], w.result["maps"][16:])
    with pytest.raises(ValueError, match="no Conv2d"):
        widgets.feature_map_viewer(torch.nn.Sequential(torch.nn.Flatten()), image)
