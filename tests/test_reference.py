"""The torch reference helper: float64, the right device, TF32 off."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import course.ops as ops
from course.ops.pytorch import OPERATIONS, device, reference


def test_device_is_cuda_exactly_when_available_and_tf32_is_off():
    # On a GPU machine this runs the CUDA path; on the CPU-only CI the CPU path.
    dev = device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 is False


def test_reference_reports_device_and_returns_float64_numpy():
    r = reference("conv2d", np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 3, 3), np.float32))
    assert isinstance(r.value, np.ndarray) and r.value.dtype == np.float64
    assert r.device == device().type
    np.testing.assert_array_equal(r.value, np.full((1, 1, 2, 2), 9.0))


def test_every_operation_runs_and_agrees_with_ops():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    calls = {
        "pad": ((x, (1, 2, 0, 1)), {"mode": "reflect"}),
        "conv1d": ((x[:, :, 0], w[:, :, 0]), {"padding_mode": "circular", "padding": 1}),
        "conv2d": ((x, w), {"bias": np.ones(3), "padding": 1, "padding_mode": "replicate"}),
        "correlate2d": ((x[0, 0], w[0, 0], "full"), {}),
        "convolve2d": ((x[0, 0], w[0, 0], "same"), {}),
        "conv_transpose2d": ((x, w.transpose(1, 0, 2, 3)), {"stride": 2}),
        "max_pool2d": ((x, 3), {"stride": 2, "padding": 1}),
        "avg_pool2d": ((x, 2), {"ceil_mode": True}),
        "conv2d_backward": ((np.ones((1, 3, 4, 4)), x, w), {}),
        "max_pool2d_backward": ((np.ones((1, 2, 3, 3)), x, 2), {}),
        "avg_pool2d_backward": ((np.ones((1, 2, 3, 3)), x, 2), {}),
    }
    assert set(calls) == set(OPERATIONS)
    for name, (args, kwargs) in calls.items():
        want = reference(name, *args, **kwargs).value
        got = getattr(ops, name)(*args, **kwargs)
        for a, b in zip(got if isinstance(want, tuple) else [got], want if isinstance(want, tuple) else [want]):
            np.testing.assert_allclose(a, b, atol=1e-10, err_msg=name)


def test_unknown_operation():
    with pytest.raises(ValueError, match="`name` must be one of"):
        reference("conv3d", np.zeros(1))

