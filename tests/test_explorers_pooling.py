"""Tests of course.explorers.pooling: pooling and the shift experiment against course.ops, the widget."""
from __future__ import annotations

import numpy as np
import pytest

import course.ops as ops
from course import data
from course.explorers.kernels import KERNEL_PRESETS
from course.explorers.pooling import (
    DEFAULT_FEATURE_MAP,
    plot_pooling,
    pooling_explorer,
    pooling_result,
)
from explorer_helpers import changes_image, texts


def test_pooling_result_matches_ops_and_marks_winners():
    res = pooling_result()
    x = DEFAULT_FEATURE_MAP.astype(float)
    pooled, idx = ops.max_pool2d(x[None], 2, return_indices=True)
    np.testing.assert_array_equal(res["pooled"], pooled[0])
    rows, cols = res["winners"]
    np.testing.assert_array_equal(x[rows, cols], res["pooled"])  # each marked cell holds its window's max
    np.testing.assert_array_equal(rows * 8 + cols, idx[0])
    avg = pooling_result(mode="avg", kernel_size=3, stride=1)
    np.testing.assert_allclose(avg["pooled"], ops.avg_pool2d(x[None], 3, 1)[0])
    assert avg["winners"] is None
    with pytest.raises(ValueError, match="`mode`"):
        pooling_result(mode="min")


def test_shift_shows_equivariance_and_invariance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 10))
    for shift in [(0, 1), (2, -1), (-2, 2)]:
        res = pooling_result(x, shift=shift, kernel=KERNEL_PRESETS["Sobel x (horizontal gradient)"])
        np.testing.assert_array_equal(res["shifted"], np.roll(x, shift, axis=(0, 1)))
        assert res["equivariance_error"] < 1e-12
        np.testing.assert_allclose(res["conv_shifted"], np.roll(res["conv"], shift, axis=(0, 1)), atol=1e-12)
        np.testing.assert_array_equal(res["pooled_shifted"], ops.max_pool2d(res["shifted"][None], 2)[0])
    res = pooling_result(shift=(0, 1))
    assert res["pooled_unchanged"] == np.mean(res["pooled"] == res["pooled_shifted"]) == 0.6875
    assert res["pooled"].max() == res["pooled_shifted"].max() == 9


def test_plot_pooling_draws_both_rows():
    fig = plot_pooling(shift=(1, 0))
    text = texts(fig)
    assert "shifted by (1, 0)" in text and "max pool 2, stride 2: 4×4" in text
    marker = fig.axes[0].lines[0]
    assert len(marker.get_xdata()) == 16  # one winner per window
    fig = plot_pooling(data.camera(), shift=(0, 2))
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(),
                                  ops.max_pool2d(data.camera()[None].astype(float), 2)[0])


# ----------------------------------------------------------------------------- the widget


def test_pooling_explorer_matches_ops():
    w = pooling_explorer()
    x = DEFAULT_FEATURE_MAP.astype(float)
    c = w.controls
    np.testing.assert_array_equal(w.result["pooled"], ops.max_pool2d(x[None], 2)[0])
    assert changes_image(w, "shift_cols", 1)
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
    w = pooling_explorer(camera)
    w.controls["kernel_size"].value = 4
    w.controls["stride"].value = 4
    np.testing.assert_array_equal(w.result["pooled"], ops.max_pool2d(camera[None].astype(float), 4)[0])
    assert w.result["pooled"].shape == (128, 128)
