"""Tests of course.explorers.conv_arithmetic: footprints against conv matrices, invalid settings
explained, the GIF, the widget."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

import course.ops as ops
from course.explorers.conv_arithmetic import (
    conv_arithmetic,
    conv_arithmetic_explorer,
    plot_conv_arithmetic,
    save_conv_arithmetic_gif,
)
from explorer_helpers import changes_image, texts

SETTINGS = [
    dict(input_size=5, kernel_size=3),
    dict(input_size=5, kernel_size=3, padding=1, stride=2),
    dict(input_size=7, kernel_size=3, dilation=2),
    dict(input_size=6, kernel_size=3, padding=1, stride=2),
    dict(input_size=5, kernel_size=4, padding=2),
    dict(input_size=7, kernel_size=2, stride=3, padding=1, dilation=2),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_conv_arithmetic_footprint_matches_the_conv_matrix(settings):
    s = dict(stride=1, padding=0, dilation=1) | settings
    size = ops.conv_output_size(s["input_size"], s["kernel_size"], s["stride"], s["padding"], s["dilation"])
    i, k = s["input_size"], s["kernel_size"]
    out = ops.conv2d(np.zeros((1, 1, i, i)), np.zeros((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                     dilation=s["dilation"])
    assert out.shape[-2:] == (size, size)
    M = ops.conv_matrix((1, i, i), np.ones((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                        dilation=s["dilation"])
    for step in range(size * size):
        res = conv_arithmetic(**settings, step=step)
        assert res["error"] is None and res["output_size"] == size and res["n_steps"] == size * size
        assert res["output_cell"] == divmod(step, size)
        expected = sorted(divmod(int(j), i) for j in np.flatnonzero(M[step]))
        assert res["footprint_inputs"] == expected


@pytest.mark.parametrize("settings", [
    dict(input_size=3, kernel_size=3, stride=2),
    dict(input_size=2, kernel_size=2),
    dict(input_size=3, kernel_size=3, stride=2, padding=1),
    dict(input_size=4, kernel_size=3, stride=3, padding=2, dilation=1),
    dict(input_size=3, kernel_size=2, stride=2, dilation=2),
    dict(input_size=6, kernel_size=2, padding=2),  # padding beyond d(k-1): the spread input is cropped
])
def test_transposed_footprint_is_the_transpose_of_the_forward_matrix(settings):
    s = dict(stride=1, padding=0, dilation=1) | settings
    i, k = s["input_size"], s["kernel_size"]
    size = ops.conv_output_size(i, k, s["stride"], s["padding"], s["dilation"], transposed=True)
    y = ops.conv_transpose2d(np.zeros((1, 1, i, i)), np.zeros((1, 1, k, k)), stride=s["stride"],
                             padding=s["padding"], dilation=s["dilation"])
    assert y.shape[-2:] == (size, size)
    # the transposed convolution is M.T for the forward convolution from size `size` to `i`
    M = ops.conv_matrix((1, size, size), np.ones((1, 1, k, k)), stride=s["stride"], padding=s["padding"],
                        dilation=s["dilation"])
    assert M.shape == (i * i, size * size)
    for step in range(size * size):
        res = conv_arithmetic(**settings, transposed=True, step=step)
        assert res["output_size"] == size
        expected = sorted(divmod(int(q), i) for q in np.flatnonzero(M[:, step]))
        assert res["footprint_inputs"] == expected


def test_transposed_grid_spreads_the_input_by_the_stride():
    res = conv_arithmetic(input_size=3, kernel_size=3, stride=2, transposed=True)
    # 3 cells spread to 5 with one zero between, plus d(k-1) - p = 2 cells of padding per side
    assert list(res["coords"]) == list(range(-2, 7))
    row = res["is_data"][2]
    np.testing.assert_array_equal(row, [0, 0, 1, 0, 1, 0, 1, 0, 0])
    assert res["output_size"] == 7
    assert "= 7$" in res["formula"]


def test_conv_arithmetic_invalid_settings_explain_instead_of_raising():
    with pytest.raises(ValueError) as info:
        ops.conv_output_size(5, 7)
    res = conv_arithmetic(input_size=5, kernel_size=7)
    assert res["error"] == str(info.value)
    assert res["output_size"] is None and res["footprint_inputs"] == []
    fig = plot_conv_arithmetic(input_size=5, kernel_size=7)
    assert "do not work" in texts(fig)
    assert "larger than the padded input" in texts(fig).replace("\n", " ")
    res = conv_arithmetic(input_size=2, kernel_size=1, padding=3, transposed=True)
    assert res["error"] is not None and "removes the whole output" in res["error"]
    res = conv_arithmetic(input_size=0)
    assert res["error"] is not None and "`input_size`" in res["error"]
    plot_conv_arithmetic(input_size=0)  # draws the message, does not raise


def test_formula_is_evaluated_on_the_settings():
    res = conv_arithmetic(input_size=5, kernel_size=3, padding=1, stride=2)
    assert r"\frac{5 + 2\cdot1 - 1\cdot(3-1) - 1}{2}" in res["formula"]
    assert res["formula"].endswith("= 3$")
    fig = plot_conv_arithmetic(input_size=5, kernel_size=3, padding=1, stride=2, step=4)
    assert res["formula"] in texts(fig)


def test_save_conv_arithmetic_gif(tmp_path):
    path = save_conv_arithmetic_gif(tmp_path / "conv.gif", input_size=4, kernel_size=3, padding=1,
                                        stride=2, fps=4)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 4  # one frame per output cell of the 2x2 output
    with pytest.raises(ValueError, match="larger than"):
        save_conv_arithmetic_gif(tmp_path / "bad.gif", input_size=3, kernel_size=5)
    with pytest.raises(ValueError, match="unknown settings"):
        save_conv_arithmetic_gif(tmp_path / "bad.gif", size=3)



def test_every_setting_combination_of_the_arithmetic_draws():
    # the explorer's whole slider range: never an exception, always a size or an explanation
    for i, k, p, s, d, t in itertools.product((1, 3, 5), (1, 3, 5), (0, 2), (1, 3), (1, 2), (False, True)):
        res = conv_arithmetic(i, k, p, s, d, t)
        assert (res["output_size"] is None) == (res["error"] is not None)


# ----------------------------------------------------------------------------- the widget


def test_conv_arithmetic_explorer_matches_ops():
    w = conv_arithmetic_explorer()
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
    assert changes_image(w, "step", 5)
    assert w.result["output_cell"] == divmod(5, size)


def test_conv_arithmetic_explorer_explains_invalid_settings():
    w = conv_arithmetic_explorer()
    before = w.image.value
    w.controls["kernel_size"].value = 6
    assert w.error is not None and "larger than the padded input" in w.error
    assert "larger than the padded input" in w.message.value
    assert w.image.value != before  # the figure now shows the explanation
    w.controls["padding"].value = 1
    assert w.error is None and w.result["output_size"] == 2
