"""Tests of course.explorers.conv_step: the step-by-step numbers against course.ops, the widget against direct calls."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import course.ops as ops
from course.explorers.conv_step import (
    DECK_INPUT,
    VERTICAL_EDGE,
    conv_step,
    conv_stepper,
    plot_conv_step,
)
from explorer_helpers import changes_image, texts

DECK_OUTPUT = np.array([[-1, -4, -14], [6, -3, -13], [9, -6, -8]])


def test_conv_step_reproduces_the_deck_example_step_by_step():
    for step in range(9):
        res = conv_step(DECK_INPUT, VERTICAL_EDGE, step)
        np.testing.assert_array_equal(res["output"], DECK_OUTPUT)
        np.testing.assert_array_equal(res["output"], ops.correlate2d(DECK_INPUT, VERTICAL_EDGE))
        r, c = divmod(step, 3)
        assert res["position"] == (r, c)
        np.testing.assert_array_equal(res["window"], DECK_INPUT[r : r + 3, c : c + 3])
        assert res["products"].sum() == res["value"] == DECK_OUTPUT[r, c]
    assert conv_step(DECK_INPUT, VERTICAL_EDGE, 2)["value"] == -14
    assert conv_step(DECK_INPUT, VERTICAL_EDGE, 3)["value"] == 6


def test_conv_step_flip_is_convolution():
    rng = np.random.default_rng(0)
    x, k = rng.integers(-5, 6, (6, 7)), rng.integers(-3, 4, (3, 2))
    for step in (0, 7, 19):
        res = conv_step(x, k, step, flip=True)
        np.testing.assert_array_equal(res["output"], ops.convolve2d(x, k))
        np.testing.assert_array_equal(res["applied_kernel"], k[::-1, ::-1])
        assert res["products"].sum() == pytest.approx(res["value"])
        assert res["value"] == res["output"][res["position"]]


def test_conv_step_one_d_matches_conv1d():
    x, k = np.array([1, 3, 2, 3, 10, 5, 2, 2]), np.array([1, 0, -1])
    res = conv_step(x, k, 4)
    expected = ops.conv1d(x[None, None], k[None, None])[0, 0]
    np.testing.assert_array_equal(res["output"], expected)
    assert res["one_d"] and res["n_steps"] == 6 and res["position"] == (0, 4)
    assert res["value"] == expected[4] == res["products"].sum()
    flipped = conv_step(x, k, 0, flip=True)["output"]
    np.testing.assert_array_equal(flipped, ops.conv1d(x[None, None], k[::-1].copy()[None, None])[0, 0])


def test_conv_step_wraps_and_checks_inputs():
    assert conv_step(DECK_INPUT, VERTICAL_EDGE, 9)["position"] == (0, 0)
    assert conv_step(DECK_INPUT, VERTICAL_EDGE, -1)["position"] == (2, 2)
    with pytest.raises(ValueError, match="both be 1-D or both 2-D"):
        conv_step(np.ones(5), np.ones((3, 3)))
    with pytest.raises(ValueError, match="larger than"):
        conv_step(np.ones((2, 2)), np.ones((3, 3)))
    with pytest.raises(TypeError, match="`step`"):
        conv_step(DECK_INPUT, VERTICAL_EDGE, 1.5)
    with pytest.raises(TypeError, match="`x`"):
        conv_step(np.array([["a"]]), VERTICAL_EDGE)


def test_plot_conv_step_shows_the_sum_and_the_filled_output():
    fig = plot_conv_step(DECK_INPUT, VERTICAL_EDGE, 2)
    assert isinstance(fig, Figure)
    text = texts(fig)
    assert "3×1 + 4×0 + 5×-1 + 2×1 + 3×0 + 10×-1 + 1×1 + 4×0 + 5×-1 = -14" in text
    assert "step 3 of 9" in text
    out_grid = fig.axes[3]
    shown = [label for c in out_grid.collections for label in getattr(c, "strings", ())]
    assert shown == ["-1", "-4", "-14"]  # filled up to the current step only
    assert "flipped" in texts(plot_conv_step(DECK_INPUT, VERTICAL_EDGE, 0, flip=True))


# ----------------------------------------------------------------------------- the widget


def test_conv_stepper_steps_through_the_deck_example():
    w = conv_stepper()
    np.testing.assert_array_equal(w.result["output"], DECK_OUTPUT)
    c = w.controls
    assert c["step"].max == 8 and c["play"].max == 8
    assert changes_image(w, "step", 2)
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
    w = conv_stepper()
    c = w.controls
    c["operation"].value = "convolution"
    np.testing.assert_array_equal(w.result["output"], ops.convolve2d(DECK_INPUT, VERTICAL_EDGE))
    c["x"].value = "1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16"
    c["kernel"].value = "1 2\n3 4"
    x = np.arange(1, 17).reshape(4, 4)
    np.testing.assert_array_equal(w.result["output"], ops.convolve2d(x, [[1, 2], [3, 4]]))
    assert c["step"].max == 8
    c["operation"].value = "cross-correlation"
    np.testing.assert_array_equal(w.result["output"], ops.correlate2d(x, [[1, 2], [3, 4]]))


def test_conv_stepper_one_d():
    w = conv_stepper()
    w.controls["dims"].value = "1-D"
    x, k = np.array([1, 3, 2, 3, 10, 5, 2, 2]), np.array([1, 0, -1])
    assert w.error is None and w.result["one_d"]
    np.testing.assert_array_equal(w.result["output"], ops.conv1d(x[None, None], k[None, None])[0, 0])
    assert w.controls["step"].max == 5
    w.controls["dims"].value = "2-D"
    np.testing.assert_array_equal(w.result["output"], DECK_OUTPUT)
    w1 = conv_stepper(np.array([4, 1, 3]), np.array([1, -1]))
    assert w1.controls["dims"].value == "1-D"
    np.testing.assert_array_equal(w1.result["output"], [3, -2])


def test_conv_stepper_bad_text_shows_a_message():
    w = conv_stepper()
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
