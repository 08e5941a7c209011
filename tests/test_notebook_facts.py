"""Every number the lecture notebooks state in their text, recomputed with the library.

Each fact is a snippet of a notebook's markdown (it must still be there, word for word) and
the computation that gives its numbers. Rewording a sentence means updating its snippet
here; changing a number that no longer holds fails the computation. Numbers that come out
of a training run (accuracies, IoUs, timings) are checked in the notebook's own kernel
after it has run: see ``AFTER_RUN`` in ``tests/test_notebooks.py``.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import NamedTuple

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
    ("03", "For that sentence alone, its dilation $l$ is PyTorch's `dilation=l + 1`",
     lambda: ops.conv_output_size(5, 3, dilation=1) == 3      # PyTorch's 1 is the ordinary convolution
     and _dilated_stack() == [3, 5, 9, 17, 33, 65, 67, 67]),  # and deck 002's table counts the same way
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
    ("03", "For that sentence alone, its dilation $l$ is PyTorch's `dilation=l + 1`",
     "The deck's dilation $l$ is PyTorch's `dilation=l + 1`"),   # it held for one sentence of deck 002 only
    ("06", "In the lecture, $p$ is the probability that a unit is **kept**", None),
]


@pytest.mark.parametrize("prefix, now, before", CORRECTED, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(CORRECTED)])
def test_corrected_statements_stay_corrected(prefix, now, before):
    text = markdown(prefix)
    assert now in text
    if before:
        assert before not in text


# ----------------------------------------------------------------------------- lectures 01-03 and the book's pages
# The fidelity pass of decks 000, 003 and 004 (and deck 001's history, deck 002's dilation table and
# wavelets): the numbers lectures 01-03, the glossary and the problem-set texts state, recomputed here
# independently of the notebooks' own cells (torch, loops written out, other library functions).


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Bandit(NamedTuple):
    arm0: np.ndarray  # P(0), P(+1), P(+100) for arm 0
    arm1: np.ndarray
    loss: float
    best: float


@functools.cache
def _bandit(steps: int = 2000, lr: float = 1.0):
    """Notebook 01's two-armed bandit: a linear layer 1 -> 3 scores, softmax, cross-entropy, plain
    gradient descent with the gradient lambda - y. Returns (P for arm 0, P for arm 1, loss, best loss)."""
    arm = np.array([0, 1, 1, 1, 0, 1, 0, 1, 0, 0], float)
    reward = np.array([1, 0, 0, 0, 1, 0, 0, 100, 0, 0])
    target = (reward[:, None] == np.array([0, 1, 100])).astype(float)
    w, b = np.zeros(3), np.zeros(3)
    for _ in range(steps):
        g = (_softmax(arm[:, None] * w + b) - target) / len(arm)
        w, b = w - lr * (g * arm[:, None]).sum(0), b - lr * g.sum(0)
    loss = -(target * np.log(_softmax(arm[:, None] * w + b))).sum(1).mean()
    # the lowest possible loss: the cross-entropy of the observed frequencies (3/5, 2/5, 0) and (4/5, 0, 1/5)
    best = -(3 * math.log(3 / 5) + 2 * math.log(2 / 5) + 4 * math.log(4 / 5) + math.log(1 / 5)) / 10
    return Bandit(_softmax(b), _softmax(w + b), loss, best)


def _softmax_gradient_is_p_minus_y():
    z, y, h = np.array([2.0, 1.0, -1.0]), np.eye(3)[0], 1e-6
    loss = lambda s: -(y * torch.log_softmax(torch.tensor(s), 0).numpy()).sum()
    numeric = np.array([(loss(z + h * e) - loss(z - h * e)) / (2 * h) for e in np.eye(3)])
    return np.allclose(numeric, _softmax(z) - y, atol=1e-8)


class Detectors(NamedTuple):
    dense: list    # accuracy of the dense template detector on digits shifted by 0, 1, 2 pixels
    sliding: list  # ... of the sliding (convolutional) one


@functools.cache
def _template_detectors():
    d = data.digits()
    x_train, x_test = d.x_train[:, 0].astype(np.float64), d.x_test[:, 0].astype(np.float64)
    templates = np.stack([x_train[d.y_train == k].mean(0) for k in range(10)])
    templates -= templates.mean(axis=(1, 2), keepdims=True)
    shift = lambda im, p: np.pad(im, ((0, 0), (0, 0), (p, 0)))[..., :im.shape[-1]]
    dense = [np.mean((shift(x_test, p).reshape(-1, 64) @ templates.reshape(10, 64).T).argmax(1) == d.y_test)
             for p in (0, 1, 2)]
    scores = torch.nn.functional.conv2d(torch.tensor(np.stack([shift(x_test, p) for p in (0, 1, 2)]))
                                        .reshape(-1, 1, 8, 8), torch.tensor(templates)[:, None], padding=2)
    sliding = (scores.amax(dim=(2, 3)).argmax(1).numpy().reshape(3, -1) == d.y_test).mean(1)
    return Detectors(dense, list(sliding))


class Haar(NamedTuple):
    shares: np.ndarray  # energy of the four sub-bands over the image's
    error: float        # largest error of the reconstruction
    gram: np.ndarray    # the kernels' inner products


@functools.cache
def _haar_bands():
    camera = data.camera().astype(np.float64)
    haar = np.array([[[1, 1], [1, 1]], [[1, 1], [-1, -1]], [[1, -1], [1, -1]], [[1, -1], [-1, 1]]], float)[:, None] / 2
    bands = torch.nn.functional.conv2d(torch.tensor(camera)[None, None], torch.tensor(haar), stride=2)[0].numpy()
    shares = (bands ** 2).sum(axis=(1, 2)) / (camera ** 2).sum()
    restored = ops.conv_transpose2d(bands[None], haar, stride=2)[0, 0]
    gram = haar.reshape(4, 4) @ haar.reshape(4, 4).T                  # orthonormal kernels: the identity
    return Haar(shares, np.abs(restored - camera).max(), gram)


@functools.cache
def _fft_difference():
    camera = data.camera().astype(np.float64)
    blur7 = np.full((7, 7), 1 / 49)
    shape = (camera.shape[0] + 6, camera.shape[1] + 6)
    via_fft = np.fft.irfft2(np.fft.rfft2(camera, shape) * np.fft.rfft2(blur7, shape), shape)
    return np.abs(ops.convolve2d(camera, blur7, mode="full") - via_fft).max(), camera.max()


def _participation(n: int, k: int, padding: int) -> np.ndarray:
    """How many outputs each input pixel enters: the transposed convolution of an output of ones."""
    out = ops.conv_output_size(n, k, padding=padding)
    ones = torch.ones(1, 1, out, out, dtype=torch.float64)
    return torch.nn.functional.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64),
                                                padding=padding)[0, 0].numpy()


class SameExample(NamedTuple):
    padded_shape: tuple
    same: np.ndarray
    agrees_with_torch: bool


def _same_example():
    x5, edge = _x5()
    padded = np.zeros((7, 7))
    padded[1:-1, 1:-1] = x5
    same = ops.correlate2d(padded, edge)
    reference = torch.nn.functional.conv2d(torch.tensor(x5)[None, None], torch.tensor(edge)[None, None], padding=1)
    return SameExample(padded.shape, same, np.array_equal(same, reference[0, 0].numpy()))


class Channels(NamedTuple):
    per_channel: list  # shapes of the three per-channel maps
    summed: bool       # their sum is the one-filter output
    two: tuple         # the shape with two filters
    weights: int       # weights of two 3 x 3 x 3 filters


def _thirty_two_by_three():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 32, 32))
    filters = rng.normal(size=(2, 3, 3, 3))
    per_channel = [ops.correlate2d(x[0, c], filters[0, c]) for c in range(3)]
    one = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(filters[:1]))[0, 0].numpy()
    two = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(filters))
    return Channels([p.shape for p in per_channel], np.allclose(sum(per_channel), one), tuple(two.shape),
                    torch.nn.Conv2d(3, 2, 3, bias=False).weight.numel())


def _centred_formula(bias_inside: bool = False):
    """Deck 003's formula with loops, the kernel indexed from -d to d, for d = 1, C = 3, T = 2 on the
    three-channel example; compared with torch's conv2d using weight[t, c, a, b] = K_t(a - d, b - d, c)."""
    x3 = np.array([[[1, 2, 3, 4], [1, 3, 2, 3], [3, 2, 1, 4], [6, 1, 1, 2]],
                   [[4, 3, 1, 2], [2, 6, 1, 2], [1, 3, 1, 2], [3, 2, 1, 0]],
                   [[7, 2, 3, 4], [6, 3, 2, 3], [5, 2, 1, 4], [1, 5, 6, 4]]], float)
    d, C, T = 1, 3, 2
    K = {(t, i, j, c): (c + 1) * [1, 0, -1][j + d] if t == 0 else 1.0
         for t in range(T) for i in range(-d, d + 1) for j in range(-d, d + 1) for c in range(C)}
    b = [5.0, -1.0]
    out = np.zeros((T, 2, 2))
    for t in range(T):
        for x in range(d, 4 - d):
            for y in range(d, 4 - d):
                terms = [K[t, i, j, c] * x3[c, x + i, y + j] + (b[t] if bias_inside else 0)
                         for i in range(-d, d + 1) for j in range(-d, d + 1) for c in range(C)]
                out[t, x - d, y - d] = sum(terms) + (0 if bias_inside else b[t])
    weight = np.array([[[[K[t, a - d, bb - d, c] for bb in range(2 * d + 1)] for a in range(2 * d + 1)]
                        for c in range(C)] for t in range(T)])
    reference = torch.nn.functional.conv2d(torch.tensor(x3)[None], torch.tensor(weight), torch.tensor(b, dtype=torch.float64))[0].numpy()
    return out, reference


def _dilation_fields(dilations, kernels=(3, 3, 3, 3, 3, 3, 3, 1)):
    return [f.size for f in ops.receptive_field([ops.Layer(k, dilation=dl) for k, dl in zip(kernels, dilations)])]


def _macs(size, channels_in, filters, k, padding=0):
    """Multiply-adds of a stride-1 convolution, from the shape torch gives its output."""
    layer = torch.nn.Conv2d(channels_in, filters, k, padding=padding, bias=False)
    with torch.no_grad():
        out = layer(torch.zeros(1, channels_in, size, size))
    return out[0].numel() * layer.weight[0].numel()


def _pooled_features():
    def fmap(points):
        m = torch.zeros(1, 1, 8, 8)
        for r, c in points:
            m[0, 0, r, c] = 1
        return m
    pool = lambda m: torch.nn.functional.max_pool2d(m, 2)
    before = fmap([(0, 0), (2, 5), (5, 2), (6, 6)])
    deformed = fmap([(1, 1), (3, 4), (4, 3), (7, 7)])
    crossed = fmap([(1, 1), (1, 5), (4, 3), (7, 7)])
    return (int((before != deformed).sum()), int((pool(before) != pool(deformed)).sum()),
            int((pool(before) != pool(crossed)).sum()))


def _edges_of_conv(n: int, k: int):
    """Shape, number of edges (non-zero weights) and of different weights of a 1-D convolution's matrix."""
    M = ops.conv_matrix((1, n), np.arange(1.0, k + 1.0)[None, None])
    return M.shape, np.count_nonzero(M), len(np.unique(M[M != 0]))


def _quiz_accepts_pooling_or_convolution() -> bool:
    from course.explorers.name_the_operation import check_answer

    verdict = lambda op: check_answer("lecture, frame 2", {"operation": op})["fields"]["operation"]["correct"]
    return all(verdict(op) for op in ("convolution", "max pooling", "average pooling")) \
        and not verdict("transposed convolution")


def _cell_with(prefix: str, snippet: str) -> str:
    path = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    return next(c.source for c in nbformat.read(path, as_version=4).cells if snippet in c.source)


FACTS_01_03 = [
    # 01: history and notation (deck 001), softmax and cross-entropy, the bandit (deck 000)
    ("01", "has $|V| = 1794$ neurons but $|E| = 784 \\cdot 1000 + 1000 \\cdot 10 = 794{,}000$ edges",
     lambda: 784 + 1000 + 10 == 1794 and count(torch.nn.Linear(784, 1000, bias=False))
     + count(torch.nn.Linear(1000, 10, bias=False)) == 794_000),
    ("01", "$100 - 5 + 1 = 96$ outputs with 5 edges each, $480$ edges, and only 5 different weights",
     lambda: _edges_of_conv(100, 5) == ((96, 100), 480, 5)),
    ("01", "so their probabilities differ by the factor $e \\approx 2.72$: 0.705 and 0.259; the score −1 gets 0.035",
     lambda: list(np.round(torch.softmax(torch.tensor([2.0, 1.0, -1.0]), 0).numpy(), 3)) == [0.705, 0.259, 0.035]
     and round(math.e, 2) == 2.72),
    ("01", "the loss is $-\\log 0.705 = 0.349$; if it is class 2, to which the network gave 3.5 %, the loss is $3.349$",
     lambda: [round(torch.nn.functional.cross_entropy(torch.tensor([[2.0, 1.0, -1.0]]), torch.tensor([k])).item(), 3)
              for k in (0, 2)] == [0.349, 3.349]),
    ("01", "$\\partial \\ell / \\partial z_k = \\lambda_k - y_k$", _softmax_gradient_is_p_minus_y),
    ("01", "The loss, 0.588, approaches its smallest possible value, 0.587",
     lambda: round(_bandit().loss, 3) == 0.588 and round(_bandit().best, 3) == 0.587),
    ("01", "the softmax outputs approach 2/5 and 1/5",
     lambda: abs(_bandit().arm0[1] - 2 / 5) < 0.005 and abs(_bandit().arm1[2] - 1 / 5) < 0.005),
    ("01", "Arm 0's leftover probability of +100, 0.002, still adds 0.17 to its expected reward (0.57 instead of 0.4)",
     lambda: round(_bandit().arm0[2], 3) == 0.002 and round(100 * _bandit().arm0[2], 2) == 0.17
     and round(_bandit().arm0 @ [0, 1, 100], 2) == 0.57),
    ("01", "about 20 against well under 1",
     lambda: round(_bandit().arm1 @ [0, 1, 100]) == 20 and _bandit().arm0 @ [0, 1, 100] < 1),
    ("01", "A shift of one pixel ruins the detector, two pixels bring it to chance level (10 %) or below.",
     lambda: _template_detectors().dense[0] > 0.85 and _template_detectors().dense[1] < 0.4
     and _template_detectors().dense[2] <= 0.10),
    ("01", "Same weights, same number of parameters, but the convolutional version barely notices the shift.",
     lambda: abs(_template_detectors().sliding[0] - _template_detectors().dense[0]) < 0.01
     and min(_template_detectors().sliding) > _template_detectors().sliding[0] - 0.03),
    # 02: the FFT route, the Haar filterbank (deck 002), three hand-crafted classics
    ("02", "The two routes agree up to rounding (differences below $10^{-12}$ on values up to 255)",
     lambda: _fft_difference()[0] < 1e-12 and _fft_difference()[1] == 255),
    ("02", "The half-size average holds 99.6 % of the energy; the three detail bands, three quarters of the numbers, hold the remaining 0.4 %",
     lambda: round(100 * _haar_bands().shares[0], 1) == 99.6 and round(100 * _haar_bands().shares[1:].sum(), 1) == 0.4
     and abs(_haar_bands().shares.sum() - 1) < 1e-12),
    ("02", "so the transform keeps the image's energy, its sum of squares, and the transposed convolution with the same kernels (notebook 05) undoes it exactly",
     lambda: _haar_bands().error < 1e-9 and np.allclose(_haar_bands().gram, np.eye(4))),
    ("02", "Besides the box blur of section 2, three classics:",
     lambda: _cell_with("02", "Besides the box blur of section 2, three classics:").count("\n- **") == 3),
    # 03: the images, padding (decks 003, 004), channels and filters (deck 004), the formula (deck 003)
    ("03", "the **cat** is scikit-image's \"chelsea\", (300, 451, 3): the same layout (height, width, 3 colour channels) with about 12.6 times fewer pixels, and its brightest value is 231",
     lambda: data.cat().shape == (300, 451, 3) and round(1068 * 1600 / (300 * 451), 1) == 12.6 and data.cat().max() == 231),
    ("03", "which gives (167, 167) ($\\lceil 500 / 3 \\rceil = 167$), one pixel more per side than the lecture's (166, 166). Its values run from 0 to 255.",
     lambda: data.logo().shape == (500, 500, 3) and data.to_gray(data.logo())[::3, ::3].shape == (167, 167)
     and (data.to_gray(data.logo()).min(), data.to_gray(data.logo()).max()) == (0, 255)),
    ("03", "Without padding, a corner pixel enters 1 output and the centre pixel 9. 'Same' padding raises the corner to 4 and the middle of an edge to 6; only 'full' padding, $P = K - 1$, gives every pixel the same weight (9), at the price of an output larger than the input (7 × 7 here).",
     lambda: (_participation(5, 3, 0)[0, 0], _participation(5, 3, 0)[2, 2], _participation(5, 3, 1)[0, 0],
              _participation(5, 3, 1)[0, 2]) == (1, 9, 4, 6) and (_participation(5, 3, 2) == 9).all()
     and ops.conv_output_size(5, 3, padding=2) == 7),
    ("03", "pads its 5 × 5 input with one ring of zeros to 7 × 7 and applies the vertical-edge kernel to the padded matrix: the output is 5 × 5",
     lambda: _same_example().padded_shape == (7, 7) and _same_example().same.shape == (5, 5)
     and _same_example().agrees_with_torch),
    ("03", "Its right column is positive everywhere (7, 11, 9, 11, 7)",
     lambda: list(_same_example().same[:, -1]) == [7, 11, 9, 11, 7]
     and np.array_equal(_same_example().same[1:-1, 1:-1], ops.correlate2d(*_x5()))),
    ("03", "each 3 × 3 slice, applied to its own channel, gives a 30 × 30 matrix, and the three matrices are added element by element into **one** 30 × 30 output",
     lambda: _thirty_two_by_three().per_channel == [(30, 30)] * 3 and _thirty_two_by_three().summed),
    ("03", "two $3 \\times 3 \\times 3$ filters on the $32 \\times 32 \\times 3$ input of section 6 give two 30 × 30 maps, stacked into a $30 \\times 30 \\times 2$ output",
     lambda: _thirty_two_by_three().two == (1, 2, 30, 30)),
    ("03", "Each filter has $3 \\cdot 3 \\cdot 3 = 27$ weights, so the pair has $27 \\cdot 2 = 54$",
     lambda: _thirty_two_by_three().weights == 54 == 27 * 2),
    ("03", "PyTorch's `weight[t, c, a, b]` is $K_t(a - d, b - d, c)$",
     lambda: np.allclose(*_centred_formula()) and _centred_formula()[0][0, 0, 0] == 43 + 5),
    ("03", "read literally it would be added once per term, $(2d+1)^2 C$ times",
     lambda: np.allclose(_centred_formula(bias_inside=True)[0] - _centred_formula()[0],
                         ((2 * 1 + 1) ** 2 * 3 - 1) * np.array([5.0, -1.0])[:, None, None])),
    ("03", "a 3 × 3 kernel with $D = 4$ spans 9 × 9 pixels with 9 weights, where an ordinary 9 × 9 kernel needs 81",
     lambda: ops.conv_output_size(9, 3, dilation=4) == 1 and count(torch.nn.Conv2d(1, 1, 3, dilation=4, bias=False)) == 9
     and count(torch.nn.Conv2d(1, 1, 9, bias=False)) == 81),
    ("03", "Read as holes, they would give 5, 9, 15, 25, 43, 77, 81, 81, which is not the table",
     lambda: _dilation_fields([dl + 1 for dl in [1, 1, 2, 4, 8, 16, 1, 1]]) == [5, 9, 15, 25, 43, 77, 81, 81]
     != _dilation_fields([1, 1, 2, 4, 8, 16, 1, 1]) == [3, 5, 9, 17, 33, 65, 67, 67]),
    ("03", "Deck 003's figures grow the field to 3, 7 and 15", lambda: _dilation_fields([1, 2, 4], (3, 3, 3)) == [3, 7, 15]),
    ("03", "a 5 × 5 window also fits fewer times on a smaller map ($24^2 / 10^2 = 5.76$)",
     lambda: _macs(28, 6, 16, 5) == 1_382_400 and _macs(14, 6, 16, 5) == 240_000
     and _macs(28, 6, 16, 5) / _macs(14, 6, 16, 5) == 24 ** 2 / 10 ** 2 == 5.76),
    ("03", "With a 2 × 2 pooling between the stages that cost stays the same",
     lambda: len({_macs(64 // 2 ** s, c, c, 3, padding=1) for s, c in enumerate([16, 32, 64, 128])}) == 1
     and [_macs(64, c, c, 3, padding=1) // _macs(64, 16, 16, 3, padding=1) for c in [16, 32, 64, 128]] == [1, 4, 16, 64]),
    ("03", "but each stays inside its 2 × 2 window; the max-pooled map does not change",
     lambda: _pooled_features() == (8, 0, 2)),
    ("03", "The quiz below accepts both for this frame.", _quiz_accepts_pooling_or_convolution),
]


@pytest.mark.parametrize("prefix, snippet, check", FACTS_01_03, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(FACTS_01_03)])
def test_lectures_01_to_03_state_what_the_library_computes(prefix, snippet, check):
    assert snippet in markdown(prefix), f"notebook {prefix} no longer says: {snippet}"
    assert check(), f"notebook {prefix} says {snippet!r}, which the computation does not confirm"


CORRECTED_01_03 = [
    # (notebook, what the text says now, what it said before and must not say again)
    ("01", "trains exactly this network with plain gradient descent, written out", "torch.optim.Adam"),
    ("02", "Besides the box blur of section 2, three classics:", "Four classics:"),
    ("02", "so libraries usually compute them directly, in the spatial domain", "as the lecture notes"),
    ("03", "both right, as the lecture answers", "the picture cannot tell"),
]


@pytest.mark.parametrize("prefix, now, before", CORRECTED_01_03, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(CORRECTED_01_03)])
def test_lectures_01_to_03_corrections_stay_corrected(prefix, now, before):
    path = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    cells = nbformat.read(path, as_version=4).cells
    assert now in markdown(prefix)
    assert not any(before in c.source for c in cells), f"notebook {prefix} says again: {before}"


def test_notebook_01_teaches_softmax_and_cross_entropy_before_its_exercise():
    """The bandit exercise needs softmax, cross-entropy and an optimiser: they come first (deck 000 puts
    its softmax slide after the exercise), and the exercise's code uses nothing notebook 06 teaches."""
    path = next((ROOT / "notebooks").glob("01_*.ipynb"))
    cells = nbformat.read(path, as_version=4).cells
    first = lambda text: next(i for i, c in enumerate(cells) if text in c.source)
    assert first("## 6. Softmax and cross-entropy, in brief") < first("## 7. Exercise from the lecture: setting up a network")
    assert first("def softmax(z)") < first("arm = np.array([0, 1, 1, 1, 0, 1, 0, 1, 0, 0]")
    exercise = cells[first("arm = np.array([0, 1, 1, 1, 0, 1, 0, 1, 0, 0]")].source
    assert "torch" not in exercise and "grad_z = (p - target) / len(arm)" in exercise


def _glossary() -> dict[str, str]:
    import yaml

    entries = yaml.safe_load((ROOT / "book" / "glossary.yml").read_text(encoding="utf-8"))
    return {e["term"]: " ".join(e["definition"].split()) for e in entries}


def test_glossary_states_what_the_course_does():
    g = _glossary()
    # LeNet-5 is trained on real MNIST digits padded to 32 x 32 (course.data.mnist, notebook 06), not on 8 x 8 ones
    assert "8 × 8" not in g["LeNet-5"] and "28 × 28 padded with a blank border of 2 pixels to 32 × 32" in g["LeNet-5"]
    digits = data.mnist()
    assert digits.x_train.shape == (3000, 1, 32, 32) and "3,000 for training" in g["LeNet-5"]
    assert np.all(digits.x_train[:, :, :2] == 0) and np.all(digits.x_train[:, :, :, -2:] == 0)   # the blank border
    # dilation: the +1 holds for one sentence of deck 002, not for its table
    assert "so its dilation $l$ is PyTorch's $l + 1$" not in g["dilation"]
    assert "for that sentence alone, its dilation $l$ is PyTorch's $l + 1$" in g["dilation"]
    assert "(3, 5, 9, 17, 33, 65 ...)" in g["dilation"] and _dilated_stack()[:6] == [3, 5, 9, 17, 33, 65]
    # padding: 'same' padding does not make the border count as much as the centre
    assert "take part in as many windows as the centre ones" not in g["padding"]
    assert "uses a corner pixel once and a central one 9 times" in g["padding"] and "raises the corner to 4" in g["padding"]
    assert (_participation(5, 3, 0)[0, 0], _participation(5, 3, 0)[2, 2], _participation(5, 3, 1)[0, 0]) == (1, 9, 4)
    assert "(scores 2, 1, −1 give 0.705, 0.259, 0.035)" in g["softmax"]
    assert list(np.round(_softmax(np.array([2.0, 1.0, -1.0])), 3)) == [0.705, 0.259, 0.035]
    assert "795,010 weights and biases" in g["fully connected layer"] and dense_params([784, 1000, 10]) == 795_010
    assert "AlphaGo's convolutional network reads it as 48 planes" in g["data on a grid"]
    assert {"neural network", "wavelet filterbank"} <= set(g)


def test_problem_set_texts_state_what_the_library_computes():
    ps1 = "\n".join(c.source for c in nbformat.read(ROOT / "source" / "ps1" / "ps1.ipynb", as_version=4).cells)
    ps2 = "\n".join(c.source for c in nbformat.read(ROOT / "source" / "ps2" / "ps2.ipynb", as_version=4).cells)
    assert "uses a corner pixel in 1 window, the centre\npixel in 9" in ps1
    assert (_participation(5, 3, 0)[0, 0], _participation(5, 3, 0)[2, 2]) == (1, 9)
    assert "Dilation is counted as in\nPyTorch: $d = 1$ is the ordinary convolution" in ps1
    assert "dilations 1, 1, 2, 4, 8, 16, then 1) reaches 3, 5, 9, 17, 33, 65, 67; its dilations, like" in ps2
    assert _dilated_stack()[:7] == [3, 5, 9, 17, 33, 65, 67]
    # ps2's worked example prints both 4 x 4 feature maps of deck 001 in full
    maps = ops.conv2d(np.array([[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 1, 0],
                                [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]], float)[None, None],
                      np.array([[[[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]], [[[-1, 1, -1]] * 3]], float))[0]
    rows = [" ".join(f"{v:2d}" for v in row) for row in maps.astype(int)[0]]
    assert all(row in ps2 for row in rows), rows


def test_course_map_lists_the_new_topics_of_lectures_01_to_03():
    rows = {line[2:4]: line for line in (ROOT / "notebooks" / "README.md").read_text().splitlines()
            if line.startswith("| 0") and ".ipynb) |" in line}     # the map's rows, not the exercises' table
    assert "the graph $G = (V, E)$" in rows["01"] and "794,000 edges" in rows["01"]
    assert "loss 0.588 against the best possible 0.587" in rows["01"]
    assert (round(_bandit().loss, 3), round(_bandit().best, 3)) == (0.588, 0.587)
    assert "99.6 % of the energy in the average" in rows["02"] and round(100 * _haar_bands().shares[0], 1) == 99.6
    assert "the course's (300, 451, 3) and (167, 167) against the lecture's (1068, 1600, 3) and (166, 166)" in rows["03"]
    assert "5.76 times cheaper" in rows["03"] and _macs(28, 6, 16, 5) / _macs(14, 6, 16, 5) == 5.76
    for topic in ("centred-index formula", "pooling or convolution", "a corner 1, the centre 9", "30 × 30 × 2"):
        assert topic in rows["03"], topic


# ----------------------------------------------------------------------------- lectures 04-07 (pass B)
# The numbers notebooks 04-07 state in their text, each recomputed here with the library or PyTorch;
# the figures of training runs and of the notebooks' own cells are checked in their kernels
# (AFTER_RUN in tests/test_notebooks.py).


def _b_cells(prefix: str, cell_type: str = "code") -> str:
    path = next((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == cell_type)


def _b_maze_corner() -> tuple[int, int]:
    """Notebook 04's maze (read from its code): the corner's distance without and with the walls."""
    import ast
    from collections import deque

    source = _b_cells("04")
    tree = ast.parse(source[source.index("maze = ["):source.index("]", source.index("maze = [")) + 1])
    maze = ast.literal_eval(tree.body[0].value)
    start = next((r, c) for r, row in enumerate(maze) for c, ch in enumerate(row) if ch == "S")
    seen, queue = {start: 0}, deque([start])
    while queue:
        r, c = queue.popleft()
        for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= rr < len(maze) and 0 <= cc < len(maze[0]) and maze[rr][cc] != "#" and (rr, cc) not in seen:
                seen[rr, cc] = seen[r, c] + 1
                queue.append((rr, cc))
    return start[0] + start[1], seen[0, 0]


def _b_c3_1998() -> int:
    # LeNet-5's C3 (LeCun et al. 1998, table I): 6 maps read 3 of S2's maps, 9 read 4, 1 reads all 6
    return sum(maps * ops.num_parameters(inputs, 1, 5) for maps, inputs in ((6, 3), (9, 4), (1, 6)))


def _b_lenet_1998() -> int:
    subsampling = 2 * 6 + 2 * 16                        # a coefficient and a bias per map, S2 and S4
    return (ops.num_parameters(1, 6, 5) + subsampling + _b_c3_1998() + ops.num_parameters(400, 120)
            + ops.num_parameters(120, 84))              # the RBF output units are fixed


def _b_digit_share() -> float:
    digits = data.mnist()
    return float(np.mean(np.concatenate([digits.x_train[:, 0], digits.x_test[:, 0]]) > 0.5))


def _b_dice_is_two_iou_over_one_plus_iou() -> bool:
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, g = rng.random((16, 16)) < rng.random(), rng.random((16, 16)) < 0.3
        inter, total = (p & g).sum(), p.sum() + g.sum()
        dice, iou = 2 * inter / total, inter / (total - inter)
        if not math.isclose(dice, 2 * iou / (1 + iou)):
            return False
    return True


def _b_inverse_share_weights_average_the_classes() -> bool:
    torch.manual_seed(0)
    scores, labels = torch.randn(4, 2, 8, 8, dtype=torch.float64), (torch.rand(4, 8, 8) < 0.1).long()
    share = torch.stack([(labels == k).double().mean() for k in (0, 1)])
    each = _b_cross_entropy(scores, labels, reduction="none")
    per_class = torch.stack([each[labels == k].mean() for k in (0, 1)])
    return torch.allclose(_b_cross_entropy(scores, labels, weight=1 / share), per_class.mean())


def _b_cross_entropy(*args, **kwargs):
    return torch.nn.functional.cross_entropy(*args, **kwargs)


def _b_dilated(x: np.ndarray, s: int) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((N, C, (H - 1) * s + 1, (W - 1) * s + 1))
    out[:, :, ::s, ::s] = x
    return out


def _b_transposed_is_a_convolution_of_the_dilated_input() -> bool:
    rng = np.random.default_rng(0)
    for s, p, k in [(1, 0, 2), (2, 0, 3), (2, 1, 3), (3, 2, 4), (2, 1, 2)]:
        x, w = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 2, k, k))
        reference = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=s, padding=p).numpy()
        flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        if not np.allclose(ops.conv2d(_b_dilated(x, s), flipped, padding=k - 1 - p), reference):
            return False
    return True


def _b_weight_gradient_is_a_dilated_convolution() -> bool:
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(2, 3, 11, 11)), requires_grad=True)
    w = torch.tensor(rng.normal(size=(4, 3, 3, 3)), requires_grad=True)
    out = torch.nn.functional.conv2d(x, w, stride=2)
    grad_out = torch.tensor(rng.normal(size=tuple(out.shape)))
    out.backward(grad_out)
    by_dilation = torch.nn.functional.conv2d(x.detach().transpose(0, 1), grad_out.transpose(0, 1), dilation=2)
    return torch.allclose(by_dilation.transpose(0, 1), w.grad)


def _b_wrong_prediction_costs_a_bit() -> bool:
    torch.manual_seed(0)
    probs = torch.softmax(3 * torch.randn(20_000, 10), dim=1)
    labels = torch.randint(0, 10, (20_000,))
    wrong = probs.argmax(dim=1) != labels
    bits = -torch.log2(probs[torch.arange(20_000), labels])
    return bool(wrong.any() and (probs[wrong, :][torch.arange(int(wrong.sum())), labels[wrong]] <= 0.5).all()
                and (bits[wrong] >= 1).all())


def _b_expected_loss_is_smallest_at_q() -> bool:
    for q in (0.1, 0.3, 0.8):
        f = torch.tensor(q, dtype=torch.float64, requires_grad=True)
        (-q * torch.log(f) - (1 - q) * torch.log(1 - f)).backward()
        if abs(f.grad.item()) > 1e-12:
            return False
    return True


def _b_log_sigmoid_curvature() -> bool:
    z = torch.linspace(-8, 8, 33, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(-torch.nn.functional.logsigmoid(z).sum(), z, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), z)
    s = torch.sigmoid(z.detach())
    return torch.allclose(second, s * (1 - s)) and bool((second > 0).all())


def _b_xor_losses() -> tuple[float, float]:
    X, Y = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), torch.tensor([0.0, 1.0, 1.0, 0.0])
    W1, b1 = torch.tensor([[20.0, -20.0], [20.0, -20.0]]), torch.tensor([-10.0, 30.0])   # OR and NAND
    w2, b2 = torch.tensor([20.0, 20.0]), torch.tensor(-30.0)                              # AND

    def loss(W1, b1, w2, b2):
        return torch.nn.functional.binary_cross_entropy(torch.sigmoid(torch.sigmoid(X @ W1 + b1) @ w2 + b2), Y).item()

    swapped = (W1[:, [1, 0]], b1[[1, 0]], w2[[1, 0]], b2)
    halfway = ((W1 + swapped[0]) / 2, (b1 + swapped[1]) / 2, (w2 + swapped[2]) / 2, b2)
    assert loss(W1, b1, w2, b2) == loss(*swapped)
    return loss(W1, b1, w2, b2), loss(*halfway)


def _b_backprop_example() -> tuple[float, float, float, float]:
    """Notebook 06's 2-2-1 sigmoid network on x = (1, 0.5), y = 1: output, delta, loss, loss after a step."""
    x, y = torch.tensor([1.0, 0.5], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in
              ([[0.5, -0.4], [0.3, 0.8]], [0.1, -0.2], [[1.2], [-0.7]], [0.05])]

    def forward(W1, b1, W2, b2):
        a2 = torch.sigmoid(x @ W1 + b1) @ W2 + b2
        return a2, torch.sigmoid(a2)

    a2, f = forward(*params)
    a2.retain_grad()
    loss = torch.nn.functional.binary_cross_entropy(f, y)
    loss.backward()
    with torch.no_grad():
        after = torch.nn.functional.binary_cross_entropy(forward(*(p - 0.5 * p.grad for p in params))[1], y)
    return f.item(), a2.grad.item(), loss.item(), after.item()


def _b_half_lambda_w_squared_has_gradient_lambda_w() -> bool:
    w, lam = torch.randn(5, 3, dtype=torch.float64, requires_grad=True), 0.3
    (lam / 2 * (w ** 2).sum()).backward()
    return torch.allclose(w.grad, lam * w.detach())


def _b_window_labels() -> list[int]:
    # a 30-pixel box and windows shifted by 5, 10 and 11 pixels: IoU 0.71, exactly 0.5 and 0.46
    box, windows = [[0, 0, 30, 30]], [[5, 0, 35, 30], [10, 0, 40, 30], [11, 0, 41, 30]]
    return detection.label_windows(windows, box, [7], positive=0.7, negative=0.5, background=10).tolist()


def _b_ridge_codes_labels_plus_minus_one() -> bool:
    from sklearn.linear_model import Ridge, RidgeClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    targets = np.where(np.eye(3)[y] == 1, 1.0, -1.0)
    return np.allclose(RidgeClassifier(alpha=2.0).fit(X, y).decision_function(X),
                       Ridge(alpha=2.0).fit(X, targets).predict(X))


FACTS_04_TO_07 = [
    # 04
    ("04", "Without walls the corner would be 4 + 4 = 8 steps from the start", lambda: _b_maze_corner()[0] == 8),
    ("04", "the walls make the path 32 steps long, and the corner needs 32 layers", lambda: _b_maze_corner()[1] == 32),
    # 05
    ("05", r"$(224 - 11)/4 + 1 = 54.25$ is not a whole number (PyTorch's floor gives 54)",
     lambda: (224 - 11) / 4 + 1 == 54.25 and ops.conv_output_size(224, 11, stride=4) == 54
     and tuple(torch.nn.Conv2d(3, 96, 11, stride=4)(torch.zeros(1, 3, 224, 224)).shape[2:]) == (54, 54)),
    ("05", r"$(227 - 11)/4 + 1 = 55$: that is the lecture's computation", lambda: ops.conv_output_size(227, 11, stride=4) == 55),
    ("05", r"$\lfloor (224 + 2 \cdot 2 - 11)/4 \rfloor + 1 = 55$",
     lambda: ops.conv_output_size(224, 11, stride=4, padding=2) == 55
     and models.trace_shapes(models.AlexNet(), (1, 3, 224, 224))[0][2] == (1, 64, 55, 55)),
    ("05", "The 1998 network had 60,000 trainable parameters", lambda: _b_lenet_1998() == 60_000),
    ("05", "(1,516 parameters instead of 2,416", lambda: _b_c3_1998() == 1_516 and ops.num_parameters(6, 16, 5) == 2_416),
    ("05", "learned a coefficient and a bias per map (12 and 32)", lambda: (2 * 6, 2 * 16) == (12, 32)),
    ("05", "LeNet-5: 61,706 parameters (the 1998 original: 60,000)",
     lambda: count(models.LeNet5(input_size=32)) == 61_706 and _b_lenet_1998() == 60_000),
    ("05", "Here only about one pixel in ten belongs to a digit", lambda: 0.09 < _b_digit_share() < 0.11),
    ("05", "is right at about 90 % of the pixels", lambda: round(100 * (1 - _b_digit_share())) in (89, 90)),
    ("05", r"and Dice $= 2\,\text{IoU}/(1 + \text{IoU})$", _b_dice_is_two_iou_over_one_plus_iou),
    ("05", "the weighted loss is the mean of the two classes' mean losses", _b_inverse_share_weights_average_the_classes),
    ("05", "a transposed layer with padding $P$ pads the dilated input with $K - 1 - P$ zeros instead of $K - 1$",
     _b_transposed_is_a_convolution_of_the_dilated_input),
    ("05", "a convolution with PyTorch's `dilation=S`, the kernel spread out this time", _b_weight_gradient_is_a_dilated_convolution),
    # 06
    ("06", r"in float32, $\sigma(20) = 1 - 2 \cdot 10^{-9}$ is stored as exactly 1",
     lambda: torch.sigmoid(torch.tensor(20.0)).item() == 1.0 and f"{1 / (1 + math.exp(20)):.0e}" == "2e-09"),
    ("06", "reports 100, far from the true 20",
     lambda: torch.nn.functional.binary_cross_entropy(torch.sigmoid(torch.tensor(20.0)), torch.tensor(0.0)).item() == 100
     and round(torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(20.0), torch.tensor(0.0)).item(), 6) == 20),
    ("06", r"so $\lambda_{\text{true}} \le 1/2$ and $-\log_2 \lambda_{\text{true}} \ge 1$", _b_wrong_prediction_costs_a_bit),
    ("06", r"the derivative $-q/f + (1-q)/(1-f)$ vanishes at $f = q$", _b_expected_loss_is_smallest_at_q),
    ("06", r"the second derivative of $-\log \sigma(z)$ is $\sigma(z)(1 - \sigma(z)) > 0$", _b_log_sigmoid_curvature),
    ("06", "the loss jumps to 5.00", lambda: round(_b_xor_losses()[1], 2) == 5.00),
    ("06", r"far above the average (about $5 \cdot 10^{-5}$)", lambda: f"{_b_xor_losses()[0]:.0e}" == "5e-05"),
    ("06", "(1 against 81 in squared error)",
     lambda: (9 - 8) ** 2 == 1 and (9 - 0) ** 2 == 81 and float(np.sum((np.eye(10)[9] - np.eye(10)[8]) ** 2)) == 2),
    ("06", "The output, 0.634 for a label 1, is too low, so the output's delta is negative (−0.366)",
     lambda: [round(v, 3) for v in _b_backprop_example()[:2]] == [0.634, -0.366]),
    ("06", "(the loss falls from 0.456 to 0.342)", lambda: [round(v, 3) for v in _b_backprop_example()[2:]] == [0.456, 0.342]),
    ("06", r"and $\lambda w$ is the gradient of $\frac{\lambda}{2} \sum w^2$", _b_half_lambda_w_squared_has_gradient_lambda_w),
    # 07
    ("07", "a 32 × 32 window with an IoU of at least 0.7 with a digit's box gets that digit's label; one with an IoU below 0.5",
     lambda: "positive=0.7, negative=0.5" in _b_cells("07") and _b_window_labels() == [7, -2, 10]),
    ("07", "labels coded as +1 for the true class and −1 for the others", _b_ridge_codes_labels_plus_minus_one),
]


@pytest.mark.parametrize("prefix, snippet, check", FACTS_04_TO_07, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(FACTS_04_TO_07)])
def test_lectures_04_to_07_state_what_the_library_computes(prefix, snippet, check):
    assert snippet in markdown(prefix), f"notebook {prefix} no longer says: {snippet}"
    assert check(), f"notebook {prefix} says {snippet!r}, which the computation does not confirm"


CORRECTED_04_TO_07 = [
    # (notebook, what the text says now, what it said before and must not say again)
    ("06", "`models.fit` evaluates the pair it is given as `val` after every epoch",
     "Our training loop evaluates on the test set after every epoch"),
    ("06", r"and $\lambda w$ is the gradient of $\frac{\lambda}{2} \sum w^2$", r"add $\lambda \sum w^2$ (weight decay)"),
    ("07", "R-CNN fine-tunes its CNN with every proposal of IoU ≥ 0.5", "label them as R-CNN labels its regions"),
    ("07", "Faster R-CNN labels the candidate boxes of its region proposal network positive above 0.7", None),
    ("05", "applied to images of **224** × 224 × 3", "no padding on 227 × 227 images"),
    ("05", "The 1998 network had 60,000 trainable parameters", "the network its classic parameter count"),
    ("05", "Notebook 01 met softmax and cross-entropy", "as in notebook 06, so that large scores do not overflow"),
    ("07", "SSD (Liu et al., 2016) with convolutions only",
     "YOLO (Redmon et al., 2016) predict boxes and classes for a grid of cells in one pass of a fully convolutional network"),
    ("07", "labels coded as +1 for the true class and −1 for the others", "least squares on the one-hot labels"),
]


@pytest.mark.parametrize("prefix, now, before", CORRECTED_04_TO_07,
                         ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(CORRECTED_04_TO_07)])
def test_lectures_04_to_07_corrections_stay_corrected(prefix, now, before):
    text = markdown(prefix)
    assert now in text
    if before:
        assert before not in text


def test_lectures_04_to_07_name_the_validation_split():
    """models.fit's second pair is the validation split: no lecture reads History.test_*."""
    for prefix in ("04", "05", "06", "07"):
        source = _b_cells(prefix)
        assert ".test_acc" not in source and ".test_loss" not in source, prefix
    assert "history.val_acc" in _b_cells("06") and "history.val_acc" in _b_cells("07")


def test_segmentation_is_taught_before_notebook_06():
    """Notebook 05 trains with softmax, cross-entropy and Adam: it says what they are, before the training cell."""
    nb = nbformat.read(next((ROOT / "notebooks").glob("05_*.ipynb")), as_version=4)
    sources = [c.source for c in nb.cells]
    train = next(i for i, s in enumerate(sources) if "torch.optim.Adam(segmenter" in s)
    brief = next(i for i, s in enumerate(sources) if s.startswith("**How it is trained, in brief.**"))
    assert brief < train and all(w in sources[brief] for w in ("softmax", "cross-entropy", "Adam", "notebook 06"))


def _b_problem_set(name: str, where: str = "source") -> list:
    return nbformat.read(ROOT / where / name / f"{name}.ipynb", as_version=4).cells


def test_ps4_watches_the_validation_split_and_measures_the_test_set_once():
    for where in ("source", "release"):
        cells = {c.id: c.source for c in _b_problem_set("ps4", where)}
        assert "print the loss and the **validation** accuracy" in cells["cell-12"], where
        assert "test accuracy (`evaluate`) after each epoch" not in cells["cell-12"], where
        assert "val_loader = DataLoader(TensorDataset(torch.from_numpy(digits.x_val)" in cells["cell-13"], where
    solution = {c.id: c.source for c in _b_problem_set("ps4")}["cell-14"]
    loop = solution.split("for epoch")[1].split("\nprint")[0]   # the body of the epoch loop
    assert "val_loader" in loop and "test_loader" not in loop


def _b_bound_names(source: str) -> set[str]:
    import ast

    bound = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
    return bound


def test_ps5_set_up_creates_what_run_epochs_needs():
    """run_epochs reads ten names from the set-up cell; its text names the four a student creates."""
    import ast
    import builtins

    cells = _b_problem_set("ps5")
    ids = [c.id for c in cells]
    source = dict(zip(ids, (c.source for c in cells)))
    # what the cells up to run_epochs' own (which also defines accuracy) bind
    earlier = _b_bound_names("\n".join(c.source for c in cells[:ids.index("cell-53") + 1] if c.cell_type == "code"))
    run_epochs = next(n for n in ast.walk(ast.parse(source["cell-53"]))
                      if isinstance(n, ast.FunctionDef) and n.name == "run_epochs")
    local = {n.id for n in ast.walk(run_epochs) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    read = {n.id for n in ast.walk(run_epochs) if isinstance(n, ast.Name)} - local - {a.arg for a in run_epochs.args.args}
    from_set_up = read & _b_bound_names(source["cell-54"])
    assert from_set_up == {"EPOCHS", "LR", "BATCH_SIZE", "WEIGHT_DECAY", "SHIFT", "history", "net", "criterion",
                           "velocities", "rng"}, from_set_up
    assert read - from_set_up <= earlier | set(dir(builtins)), read - from_set_up - earlier
    for where in ("source", "release"):
        text = {c.id: c.source for c in _b_problem_set("ps5", where)}
        for name in ("net", "criterion", "velocities", "rng"):
            assert f"`{name}`" in text["cell-52"] and name in text["cell-54"], (where, name)
        assert "np.random.seed(0)" in text["cell-52"] and "np.random.seed(0)" in text["cell-54"], where


def test_course_map_lists_the_new_topics_of_lectures_04_to_07():
    rows = {line[2:4]: line for line in (ROOT / "notebooks" / "README.md").read_text().splitlines()
            if line.startswith("| 0") and ".ipynb) |" in line}     # the map's rows, not the exercises' table
    assert "ConvNets as message passing" in rows["04"] and "\"truncation\" row" in rows["04"]
    assert "the corner lit at layer 32 although 8 steps away without walls" in rows["04"] and _b_maze_corner() == (8, 32)
    for topic in ("deep-learning frameworks", "the 1998 original's 60,000", "convolution of the input dilated by the stride",
                  "softmax, cross-entropy and Adam in brief", "losses made for segmentation", "class weights"):
        assert topic in rows["05"], topic
    assert "C3's partial connections: 1,516" in rows["05"] and _b_c3_1998() == 1_516 and _b_lenet_1998() == 60_000
    assert "(224 − 11)/4 + 1 = 54.25, 227 makes it 55" in rows["05"] and ops.conv_output_size(227, 11, stride=4) == 55
    assert "digits are 10 % of the pixels" in rows["05"] and round(100 * _b_digit_share()) == 10
    for topic in ("why cross-entropy replaces the 0–1 loss", "one-hot labels", "backpropagation with SGD recalled",
                  "watching the validation split", "biases included"):
        assert topic in rows["06"], topic
    assert "loss 5.00 halfway" in rows["06"] and round(_b_xor_losses()[1], 2) == 5.00
    assert "from 0.456 to 0.342" in rows["06"] and [round(v, 3) for v in _b_backprop_example()[2:]] == [0.456, 0.342]
    assert "CNNs as builders of invariants" in rows["07"] and "R-CNN's 0.5 and 0.3" in rows["07"]
