"""Every number the lecture notebooks state in their text, recomputed with the library.

Each fact is a snippet of a notebook's markdown (it must still be there, word for word) and
the computation that gives its numbers. Rewording a sentence means updating its snippet
here; changing a number that no longer holds fails the computation. Numbers that come out
of a training run (accuracies, IoUs, timings) are checked in the notebook's own kernel
after it has run: see ``AFTER_RUN`` in ``tests/test_notebooks.py``.
"""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import course.ops as ops
from course import data, detection, models

ROOT = Path(__file__).resolve().parents[1]


def markdown(prefix: str) -> str:
    path = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dense_params(sizes):
    return sum(ops.num_parameters(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def _x5():
    x5 = np.array([[1, 2, 3, 4, 5], [1, 3, 2, 3, 10], [3, 2, 1, 4, 5], [6, 1, 1, 2, 2], [3, 2, 1, 5, 4]], float)
    edge = np.array([[1, 0, -1]] * 3, float)
    return x5, edge


def _alexnet_shares():
    net = models.AlexNet()
    dense = sum(count(m) for m in net.classifier)
    conv = sum(count(m) for m in net.features)
    return count(net), conv, dense


def _lenet_shares():
    net = models.LeNet5(input_size=32)
    conv = sum(count(m) for m in net.features)
    return count(net), conv


def _three_channel():
    x3 = np.array([[[1, 2, 3, 4], [1, 3, 2, 3], [3, 2, 1, 4], [6, 1, 1, 2]],
                   [[4, 3, 1, 2], [2, 6, 1, 2], [1, 3, 1, 2], [3, 2, 1, 0]],
                   [[7, 2, 3, 4], [6, 3, 2, 3], [5, 2, 1, 4], [1, 5, 6, 4]]], float)
    w3 = np.stack([c * np.array([[1, 0, -1]] * 3, float) for c in (1, 2, 3)])[None]
    parts = [ops.correlate2d(x3[c], w3[0, c])[0, 0] for c in range(3)]
    return parts, ops.conv2d(x3[None], w3)[0, 0, 0, 0]


def _six_by_six():
    image6 = np.array([[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0],
                       [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]], float)
    f1 = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    return ops.conv2d(image6[None, None], f1[None, None], stride=2)[0, 0]


def _dilated_stack():
    layers = [ops.Layer(3, dilation=d, padding=d) for d in [1, 1, 2, 4, 8, 16, 1]] + [ops.Layer(1)]
    return [f.size for f in ops.receptive_field(layers)]


def _efficiency():
    H_out, W_out = 319, 280
    return ops.conv_output_size(320, 2), 2 * H_out * W_out, H_out * W_out * 3, H_out * W_out * 320 * 280


def _transposed():
    k22 = np.array([[1.0, 2.0], [2.0, 1.0]])
    return ops.conv_transpose2d(np.array([[1.0, 2.0], [2.0, 4.0]])[None, None], k22[None, None])[0, 0]


def _conv3d_shape():
    layer = torch.nn.Conv3d(1, 16, kernel_size=3)
    with torch.no_grad():
        return tuple(layer(torch.zeros(1, 1, 64, 128, 128)).shape), count(layer)


FACTS = [
    # 01
    ("01", r"$(784 + 1) \cdot 1000 + (1000 + 1) \cdot 10 = 795{,}010$",
     lambda: dense_params([784, 1000, 10]) == 795_010 and ops.num_parameters(784, 1000) == 785_000
     and ops.num_parameters(1000, 10) == 10_010),
    ("01", r"$(20 + 1) \cdot 30 = 630$", lambda: count(torch.nn.Linear(20, 30)) == 630),
    ("01", r"$(28 \cdot 28 \cdot 3 + 1) \cdot 100 = 235{,}300$", lambda: ops.num_parameters(28 * 28 * 3, 100) == 235_300),
    ("01", "Almost 800 thousand parameters", lambda: 750_000 < dense_params([784, 1000, 10]) < 800_000),
    ("01", "the question \"where to play next?\" as a choice among the 19 × 19 = 361 points", lambda: 19 * 19 == 361),
    ("01", "`(N, C, D, H, W) = (8, 3, 16, 112, 112)`",
     lambda: torch.nn.Conv3d(3, 1, 1)(torch.zeros(8, 3, 16, 112, 112)).shape[:3] == (8, 1, 16)),
    ("01", "the exact frequencies give 20 and 0.4", lambda: 100 * 1 / 5 == 20 and 1 * 2 / 5 == 0.4),
    # 02
    ("02", "a 3 × 3 window fits at $10 - 3 + 1 = 8$ positions per axis", lambda: ops.conv_output_size(10, 3) == 8),
    ("02", r"$\begin{bmatrix}-1 & -4 & -14\\ 6 & -3 & -13\\ 9 & -6 & -8\end{bmatrix}$",
     lambda: np.array_equal(ops.correlate2d(*_x5()), [[-1, -4, -14], [6, -3, -13], [9, -6, -8]])),
    ("02", "2, 1, 0 and 10: it adds the two diagonal entries",
     lambda: [ops.correlate2d(np.array(p, float), np.eye(2))[0, 0] for p in
              ([[1, 1], [0, 1]], [[1, 2], [3, 0]], [[0, 2], [3, 0]], [[5, 0], [0, 5]])] == [2, 1, 0, 10]),
    ("02", r"the two columns of windows that straddle the edge give ±30 ($3 \cdot 10$)",
     lambda: set(np.unique(ops.correlate2d(np.array([[10, 10, 10, 0, 0, 0]] * 5, float), _x5()[1]))) == {0, 30}),
    ("02", r"every response changes sign: $-30$ for the bright-to-dark edge",
     lambda: ops.convolve2d(np.array([[10, 10, 10, 0, 0, 0]] * 5, float), _x5()[1]).min() == -30),
    ("02", r"Its weights sum to $8 - 8 = 0$", lambda: np.array([[-1] * 3, [-1, 8, -1], [-1] * 3]).sum() == 0),
    # 03
    ("03", r"$32 - 7 + 1 = 26$, so 26 × 26. Padding $P = 3$ on every side: $32 + 6 - 7 + 1 = 32$",
     lambda: ops.conv_output_size(32, 7) == 26 and ops.conv_output_size(32, 7, padding=3) == 32),
    ("03", r"Element (1, 1) is $-1 + 8 + 36 = 43$",
     lambda: _three_channel() == ([-1.0, 8.0, 36.0], 43.0)),
    ("03", r"$(5 \cdot 5 \cdot 32 + 1) \cdot 64 = 51{,}264$", lambda: ops.num_parameters(32, 64, 5) == 51_264),
    ("03", "giving a 2 × 2 map that starts 3, −3", lambda: _six_by_six().shape == (2, 2) and list(_six_by_six()[0]) == [3, -3]),
    ("03", "14 × 14 × 6 (pooling acts on each channel separately",
     lambda: ops.max_pool2d(np.zeros((1, 6, 28, 28)), 2).shape == (1, 6, 14, 14)),
    ("03", "AlexNet's first layer applies 96 filters of 11 × 11 with stride 4 to a 227 × 227 image",
     lambda: ops.conv_output_size(227, 11, stride=4) == 55 and ops.conv_output_size(224, 11, stride=4, padding=2) == 55),
    ("03", "so a 3 × 3 kernel covers 5 × 5 pixels with $D = 2$", lambda: 2 * (3 - 1) + 1 == 5),
    ("03", "The deck's dilation $l$ is PyTorch's `dilation=l + 1`",
     lambda: ops.conv_output_size(5, 3, dilation=1) == 3),   # PyTorch's 1 is the ordinary convolution
    ("03", "For $K = 3$ that is $P = D$",
     lambda: all(ops.same_padding(3, d) == (d, d) for d in range(1, 9))),
    # 04
    ("04", r"**3 parameters** instead of the $6 \times 8 = 48$ of a dense layer",
     lambda: ops.conv_matrix((1, 8), np.ones((1, 1, 3))).shape == (6, 8)),
    ("04", "Both give $(22, 21, 22, 20)$",
     lambda: ops.conv2d(np.array([[1, 2, 3], [6, 5, 3], [1, 4, 1]], float)[None, None],
                        np.array([[1, 2], [2, 1]], float)[None, None]).ravel().tolist() == [22, 21, 22, 20]),
    ("04", r"$28 \cdot 28 \cdot 6 \cdot 26 = 122{,}304$ parameters instead of 156",
     lambda: 28 * 28 * 6 * (25 + 1) == 122_304 and ops.num_parameters(1, 6, 5) == 156),
    ("04", r"the sparse matrix stores $2 \cdot 319 \cdot 280 = 178{,}640$ numbers and needs the same $319 \cdot 280 \cdot 3 = 267{,}960$ operations",
     lambda: _efficiency()[:3] == (319, 178_640, 267_960)
     and ops.conv_matrix((1, 320, 280), np.array([[1.0], [-1.0]])[None, None], sparse=True).nnz == 178_640),
    ("04", "needs more than 8 billion (over 32 GB in float32) and more than 16 billion operations",
     lambda: _efficiency()[3] > 8e9 and _efficiency()[3] * 4 > 32e9 and 2 * _efficiency()[3] > 16e9),
    ("04", r"Dense: $1024 \cdot 900 = 921{,}600$. Convolution: 9. A locally connected layer would have $900 \cdot 9 = 8{,}100$",
     lambda: ops.num_parameters(1024, 900, bias=False) == 921_600 and ops.conv_output_size(32, 3) ** 2 * 9 == 8_100),
    ("04", "Three 3 × 3 layers see 7 × 7", lambda: [f.size for f in ops.receptive_field([ops.Layer(3)] * 3)] == [3, 5, 7]),
    ("04", "(3 then 7 instead of 5)",
     lambda: [f.size for f in ops.receptive_field([ops.Layer(3, stride=2), ops.Layer(3)])] == [3, 7]),
    ("04", "3, 5, 9, 17, 33, 65, 67, 67: the field doubles", lambda: _dilated_stack() == [3, 5, 9, 17, 33, 65, 67, 67]),
    ("04", "gives `[3, 5, 6, 10]`",
     lambda: [f.size for f in ops.receptive_field([ops.Layer(3), ops.Layer(3), ops.Layer(2, stride=2), ops.Layer(3)])]
     == [3, 5, 6, 10]),
    ("04", r"For 512 and 3 × 3 kernels that is 256 layers ($1 + 2 \cdot 255 = 511$ is one pixel short)",
     lambda: [f.size for f in ops.receptive_field([ops.Layer(3)] * 256)][-2:] == [511, 513]),
    ("04", "takes more than 250 layers", lambda: [f.size for f in ops.receptive_field([ops.Layer(3)] * 250)][-1] < 512),
    # 05
    ("05", "the two convolutional layers have 2,572 of the 61,706; the dense layers hold 96 %",
     lambda: _lenet_shares() == (61_706, 2_572) and round(100 * (61_706 - 2_572) / 61_706) == 96),
    ("05", "61 million parameters, 96 % of them (58.6 million) in the three dense layers; the convolutions hold only 2.5 million",
     lambda: (lambda t, c, d: round(t / 1e6) == 61 and round(100 * d / t) == 96 and round(d / 1e6, 1) == 58.6
              and round(c / 1e6, 1) == 2.5)(*_alexnet_shares())),
    ("05", "AlexNet: 61.1 million, 96 % in dense layers, first layer 55 × 55",
     lambda: round(_alexnet_shares()[0] / 1e6, 1) == 61.1
     and models.trace_shapes(models.AlexNet(), (1, 3, 224, 224))[0][2] == (1, 64, 55, 55)),
    ("05", r"$(5 \cdot 5 \cdot 64 + 1) \cdot 192 = 307{,}392$",
     lambda: count(torch.nn.Conv2d(64, 192, 5)) == 307_392 and ops.conv_output_size(27, 5, padding=2) == 27),
    ("05", r"$32 - 5 + 1 = 28$, pool → 14, $14 - 5 + 1 = 10$, pool → 5",
     lambda: [s for _, _, s in models.trace_shapes(models.LeNet5(input_size=32), (1, 1, 32, 32))][1:6:2]
     == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10)]),
    ("05", r"All three give $\begin{bmatrix}1&4&4\\4&13&10\\4&10&4\end{bmatrix}$",
     lambda: _transposed().tolist() == [[1, 4, 4], [4, 13, 10], [4, 10, 4]]),
    ("05", r"(the centre gets $1 \cdot 1 + 2 \cdot 2 + 2 \cdot 2 + 4 \cdot 1 = 13$)", lambda: _transposed()[1, 1] == 13),
    ("05", r"$(1, 16, 62, 126, 126)$ (no padding: each axis loses 2), and $(27 \cdot 1 + 1) \cdot 16 = 448$ parameters",
     lambda: _conv3d_shape() == ((1, 16, 62, 126, 126), 448)),
    ("05", "(a unit after the dilated layer sees 13 × 13 input pixels)",
     lambda: [f.size for f in ops.receptive_field([ops.Layer(3, padding=1), ops.Layer(3, 2, 1), ops.Layer(3, 1, 2, 2)])][-1] == 13),
    ("05", "notebook 04's table: 3, 5, 9, 17, 33, 65, 67, 67", lambda: _dilated_stack() == [3, 5, 9, 17, 33, 65, 67, 67]),
    # 06
    ("06", r"so the loss is $\log 10 \approx 2.303$", lambda: round(math.log(10), 3) == 2.303),
    ("06", "Gradient descent is only stable for a learning rate below $2/100 = 0.02$", lambda: 2 / 100 == 0.02),
    ("06", "269,322 parameters, computed below",
     lambda: count(torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 10)))
     == 269_322),
    ("06", "in a fixed split of 3,000 for training, 1,000 for **validation**",
     lambda: (lambda d: (len(d.y_train), len(d.y_val), len(d.y_test), d.x_train.shape[-1]) == (3000, 1000, 1000, 32))(data.mnist())),
    ("06", "`data.mnist()` reads 5,000 MNIST digits", lambda: len(data._mnist_raw()[1]) == 5000),
    ("06", "The lecture's $p = 0.8$ is `nn.Dropout(0.2)`", lambda: torch.nn.Dropout(1 - 0.8).p == pytest.approx(0.2)),
    # 07
    ("07", r"LeNet-5: $5 \cdot 5 \cdot 1 = 25$ weights (+1 bias)", lambda: models.LeNet5().features[0].weight[0].numel() == 25),
    ("07", r"AlexNet: $11 \cdot 11 \cdot 3 = 363$ weights", lambda: torch.nn.Conv2d(3, 96, 11).weight[0].numel() == 363),
    ("07", "(84 numbers for LeNet-5, the F6 layer)", lambda: models.LeNet5().embed(torch.zeros(1, 1, 8, 8)).shape == (1, 84)),
    ("07", r"gives $(96 - 32)/4 + 1 = 17$ positions along each axis, 289 windows",
     lambda: ops.conv_output_size(96, 32, stride=4) == 17 and len(detection.sliding_windows(96, 96, 32, 4)) == 289),
    ("07", "a new output layer with 11 scores", lambda: models.LeNet5(num_classes=11).classifier[-1].out_features == 11),
]


@pytest.mark.parametrize("prefix, snippet, check", FACTS, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(FACTS)])
def test_stated_number_holds(prefix, snippet, check):
    assert snippet in markdown(prefix), f"notebook {prefix} no longer says: {snippet}"
    assert check(), f"notebook {prefix} says {snippet!r}, which the library does not confirm"


CORRECTED = [
    # (notebook, what the text says now, what it said before and must not say again)
    ("05", "96 % of them (58.6 million) in the three dense layers", "94 % of them in the three dense layers"),
    ("05", "AlexNet: 61.1 million, 96 % in dense layers", "94 % in dense layers"),
    ("06", "269,322 parameters", "about 83,000 parameters"),
    ("06", "So for the first epochs the training curves look *worse* than the validation ones",
     "the training curves lie *below* the held-out ones"),
    ("04", "takes more than 250 layers", "needs about 255 layers"),
    ("03", "The deck's dilation $l$ is PyTorch's `dilation=l + 1`", None),
    ("06", "In the lecture, $p$ is the probability that a unit is **kept**", None),
]


@pytest.mark.parametrize("prefix, now, before", CORRECTED, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(CORRECTED)])
def test_corrected_statements_stay_corrected(prefix, now, before):
    text = markdown(prefix)
    assert now in text
    if before:
        assert before not in text
