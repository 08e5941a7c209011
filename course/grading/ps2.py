"""Problem set 2, convolutional layers: the tasks behind ``source/ps2``'s test cells."""
from __future__ import annotations

import numpy as np

from .cases import Case, Mistake, make, pair
from .engine import ArrayResult, CaseTask, IntResult, problem_set
from .references import FLIPPED, attempt, f64, ops, out_size, size_formula, torch_reference

task = problem_set("ps2")

__all__ = ["check_avg_pool2d", "check_conv2d", "check_max_pool2d", "check_num_conv_parameters",
           "check_receptive_field"]

SWAPPED = ("the channel and filter axes are swapped: `weight` has shape (F, C, KH, KW), "
           "filter f is weight[f] and its slice for input channel c is weight[f, c].")


def six_by_six_example():
    """The lecture's 6x6 image and its two 3x3 filters."""
    image = make((1, 1, 6, 6), [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0,
                                1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0])
    filters = make((2, 1, 3, 3), [1, -1, -1, -1, 1, -1, -1, -1, 1,
                                  -1, 1, -1, -1, 1, -1, -1, 1, -1])
    return image, filters


def three_channel_example():
    """The lecture's three-channel 4x4 input whose first output is 43."""
    x = make((1, 3, 4, 4), [1, 2, 3, 4, 1, 3, 2, 3, 3, 2, 1, 4, 6, 1, 1, 2,
                            4, 3, 1, 2, 2, 6, 1, 2, 1, 3, 1, 2, 3, 2, 1, 0,
                            7, 2, 3, 4, 6, 3, 2, 3, 5, 2, 1, 4, 1, 5, 6, 4])
    weight = make((1, 3, 3, 3), [1, 0, -1] * 3 + [2, 0, -2] * 3 + [3, 0, -3] * 3)
    return x, weight


def conv2d_inputs(case):
    """A conv2d case's ``x, weight, bias`` in float64 (bias may be None) and its stride and
    padding as pairs: ``x, w, b, s, p``."""
    i = case.inputs()
    b = None if i["bias"] is None else f64(i["bias"])
    return f64(i["x"]), f64(i["weight"]), b, pair(i["stride"]), pair(i["padding"])


def conv2d_mistakes(case) -> list[Mistake]:
    """The typical mistakes of a multi-channel conv2d with bias, stride and padding."""
    o = ops()
    x, w, b, s, p = conv2d_inputs(case)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape

    def run(x=x, w=w, b=b, s=s, p=p):
        return attempt(o.conv2d, x, np.array(w), b, stride=s, padding=p)

    def one_side(top_left: bool):
        padding = (p[1], 0, p[0], 0) if top_left else (0, p[1], 0, p[0])
        return attempt(lambda: o.conv2d(o.pad(x, padding), w, b, stride=s))

    H_out, W_out = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
    right = run()
    found = [
        Mistake(SWAPPED, run(w=w.transpose(1, 0, 2, 3)) if F == C else None,
                shape=(N, C, H_out, W_out) if F != C else None),
        Mistake("the bias is missing: add bias[f] to every value of output channel f.",
                run(b=None) if b is not None else None),
        Mistake(FLIPPED, run(w=w[:, :, ::-1, ::-1])),
        Mistake("you do not sum over the input channels: each filter's output is the sum over "
                "all input channels c of the cross-correlation of x[n, c] with weight[f, c].",
                shape=(N, F * C, H_out, W_out)),
        Mistake("the padding is missing.", run(p=(0, 0)) if p != (0, 0) else None),
        Mistake("the padding is added at the top and left only; add it on both sides.",
                one_side(True) if p != (0, 0) else None),
        Mistake("the padding is added at the bottom and right only; add it on both sides.",
                one_side(False) if p != (0, 0) else None),
        Mistake("you let the last window hang over the edge (the output size is rounded up); it "
                "rounds down (floor).",
                shape=(N, F, out_size(H, KH, s[0], p[0], ceil=True),
                       out_size(W, KW, s[1], p[1], ceil=True))),
        Mistake("the stride is ignored.", run(s=(1, 1)) if s != (1, 1) else None),
        Mistake("the batch axis is lost: return shape (N, F, H_out, W_out) even when N = 1.",
                right[0] if right is not None and N == 1 else None,
                shape=(F, H_out, W_out)),
    ]
    if b is not None and right is not None:
        found.append(Mistake("the bias is added once per input channel; add it once per "
                             "output value.", right + (C - 1) * b[None, :, None, None]))
    return found


def conv2d_case(label, x, weight, bias=None, stride=1, padding=0) -> Case:
    """One call ``conv2d(x, weight, bias, stride=stride, padding=padding)``."""
    return Case(label, (("x", x), ("weight", weight), ("bias", bias)),
                (("stride", stride), ("padding", padding)))


class Conv2dCases:
    """The conv2d cases that ps2's ``conv2d`` and ps3's ``conv2d_matmul`` share.

    Each method draws its inputs from ``rng`` when it is called, so a task's draws follow
    the order of its own list; ``batch`` is the one setting in which the two differ.
    """

    def __init__(self, rng):
        self.rng = rng

    def lecture(self, stride=1) -> Case:
        image, filters = six_by_six_example()
        label = ("the lecture's 6x6 image with two 3x3 filters, stride 1" if stride == 1
                 else f"the 6x6 example with stride {stride}")
        return conv2d_case(label, image, filters, stride=stride)

    def padded_batch(self) -> Case:
        rng = self.rng
        return conv2d_case("batch of 2, 3 channels, 4 filters, bias, padding 1",
                           rng.array((2, 3, 5, 5)), rng.array((4, 3, 3, 3)),
                           rng.array((4,), nonzero=True), padding=1)

    def square(self, batch: int) -> Case:
        rng = self.rng
        return conv2d_case("3 channels, 3 filters (square: swapped axes would not crash), bias",
                           rng.array((batch, 3, 6, 6)), rng.array((3, 3, 3, 3)),
                           rng.array((3,), nonzero=True))

    def one_by_one(self, batch: int) -> Case:
        rng = self.rng
        return conv2d_case("1x1 convolution mixing 4 channels into 2",
                           rng.array((batch, 4, 3, 3)), rng.array((2, 4, 1, 1)),
                           rng.array((2,), nonzero=True))

    def non_square(self) -> Case:
        rng = self.rng
        return conv2d_case("non-square 3x2 kernels, stride (2, 1), padding (1, 0)",
                           rng.array((3, 2, 7, 6), step=0.5), rng.array((3, 2, 3, 2)),
                           rng.array((3,), step=0.5, nonzero=True), stride=(2, 1), padding=(1, 0))


@task("test_conv2d")
class Conv2d(CaseTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        shared = Conv2dCases(rng)
        x3, w3 = three_channel_example()
        cases = [
            conv2d_case("2 channels, 2 filters of 2x2, on a 3x3 image",
                        rng.array((1, 2, 3, 3)), rng.array((2, 2, 2, 2), nonzero=True)),
            shared.lecture(),
            conv2d_case("the lecture's three-channel 4x4 example (element (0, 0) is 43)", x3, w3),
            shared.padded_batch(),
        ]
        if hidden:
            cases += [
                shared.lecture(stride=2),
                shared.square(batch=1),
                shared.one_by_one(batch=2),
                conv2d_case("uint8 images (values up to 255)",
                            rng.array((1, 1, 6, 6), 0, 255, dtype="uint8"),
                            make((1, 1, 3, 3), [1, 0, -1] * 3)),
                shared.non_square(),
                conv2d_case("batch of 4, stride 3, padding 2",
                            rng.array((4, 2, 9, 9), step=0.25), rng.array((5, 2, 3, 3)),
                            rng.array((5,), nonzero=True), stride=3, padding=2),
            ]
        return cases

    def expected(self, case):
        x, w, b, s, p = conv2d_inputs(case)
        return torch_reference("conv2d", x, w, b, stride=s, padding=p)

    def shape_formula(self, case):
        i = case.inputs()
        N, C, H, W = i["x"].shape
        F, _, KH, KW = i["weight"].shape
        (sh, sw), (ph, pw) = pair(i["stride"]), pair(i["padding"])
        return (f"(N, F, H_out, W_out) with N = {N}, F = {F}; {size_formula('H', H, KH, sh, ph)}; "
                f"{size_formula('W', W, KW, sw, pw)}")

    def mistakes(self, case):
        return conv2d_mistakes(case)

    def error_variants(self, case):
        F, C = case.inputs()["weight"].shape[:2]
        if F == C:
            return []
        return [(SWAPPED, case.replace(weight=np.array(case.inputs()["weight"].transpose(1, 0, 2, 3))))]


class _Pool(CaseTask):
    result = ArrayResult()
    mode = "max"

    def cases(self, rng, hidden):
        # the lecture's two 4x4 feature maps (the 6x6 image with its two filters)
        feature = make((1, 2, 4, 4), [3, -1, -3, -1, -3, 1, 0, -3, -3, -3, 0, 1, 3, -2, -2, -1,
                                      -1, -1, -1, -1, -1, -1, -2, 1, -1, -1, -2, 1, -1, 0, -4, 3])
        cases = [
            Case("the lecture's two 4x4 feature maps, 2x2 windows",
                 (("x", feature),), (("kernel_size", 2), ("stride", None), ("padding", 0))),
            Case("batch of 2, 3 channels, 3x3 windows, stride 1",
                 (("x", rng.array((2, 3, 5, 6))),), (("kernel_size", 3), ("stride", 1), ("padding", 0))),
        ]
        if hidden:
            cases += [
                Case("2x2 windows, stride 2, padding 1 (the padding must never win)",
                     (("x", rng.array((1, 2, 5, 5), -9, -1)),),
                     (("kernel_size", 2), ("stride", 2), ("padding", 1))),
                Case("3x3 windows, stride 2, padding 1",
                     (("x", rng.array((2, 2, 7, 8), step=0.5)),),
                     (("kernel_size", 3), ("stride", 2), ("padding", 1))),
                Case("non-square (2, 3) windows, default stride",
                     (("x", rng.array((1, 3, 6, 9))),),
                     (("kernel_size", (2, 3)), ("stride", None), ("padding", 0))),
                Case("windows that do not tile the input (7x7, 2x2, stride 2)",
                     (("x", rng.array((3, 1, 7, 7), step=0.25)),),
                     (("kernel_size", 2), ("stride", None), ("padding", 0))),
                Case("one window covering the whole 4x4 map",
                     (("x", rng.array((2, 4, 4, 4))),),
                     (("kernel_size", 4), ("stride", None), ("padding", 0))),
                Case("(3, 2) windows, stride (1, 2)",
                     (("x", rng.array((1, 2, 6, 6))),),
                     (("kernel_size", (3, 2)), ("stride", (1, 2)), ("padding", 0))),
            ]
        return cases

    def _settings(self, case):
        i = case.inputs()
        k = pair(i["kernel_size"])
        s = k if i["stride"] is None else pair(i["stride"])
        return k, s, pair(i["padding"])

    def expected(self, case):
        k, s, p = self._settings(case)
        return torch_reference(f"{self.mode}_pool2d", f64(case.inputs()["x"]), k, stride=s,
                               padding=p)

    def shape_formula(self, case):
        k, s, p = self._settings(case)
        N, C, H, W = case.inputs()["x"].shape
        return (f"(N, C, H_out, W_out) with N = {N}, C = {C}; "
                f"{size_formula('H', H, k[0], s[0], p[0])}; "
                f"{size_formula('W', W, k[1], s[1], p[1])} (stride defaults to the kernel size)")

    def mistakes(self, case):
        o = ops()
        k, s, p = self._settings(case)
        x = f64(case.inputs()["x"])
        N, C, H, W = x.shape
        own = o.max_pool2d if self.mode == "max" else o.avg_pool2d
        other = o.avg_pool2d if self.mode == "max" else o.max_pool2d
        found = [
            Mistake("you computed the " + ("average" if self.mode == "max" else "maximum")
                    + " of each window instead of the "
                    + ("maximum." if self.mode == "max" else "average."),
                    attempt(other, x, k, stride=s, padding=p)),
            Mistake("the windows overlap: with stride=None the stride equals the kernel size "
                    "(non-overlapping windows).",
                    attempt(own, x, k, stride=1, padding=p) if case.inputs()["stride"] is None else None),
            Mistake("you let the last window hang over the edge (the output size is rounded "
                    "up); it rounds down (floor): a window that does not fit is dropped.",
                    shape=(N, C, out_size(H, k[0], s[0], p[0], ceil=True),
                           out_size(W, k[1], s[1], p[1], ceil=True))),
            Mistake("pooling over the wrong axes: pool over the last two axes (H, W) of "
                    "(N, C, H, W), separately for every image and channel.",
                    shape=(N, attempt(out_size, C, k[0], s[0], p[0]),
                           attempt(out_size, H, k[1], s[1], p[1]), W)),
            Mistake("pooling over the wrong axes: the batch and channel axes must not be pooled.",
                    shape=(attempt(out_size, N, k[0], s[0], p[0]),
                           attempt(out_size, C, k[1], s[1], p[1]), H, W)),
        ]
        if k[0] != k[1] or s[0] != s[1]:
            found.append(Mistake("the window's height and width are swapped: kernel_size=(kh, kw) "
                                 "spans kh rows and kw columns.",
                                 attempt(own, x, (k[1], k[0]), stride=(s[1], s[0]), padding=p)))
        for delta in (-1, 1):
            s2 = (s[0] + delta, s[1] + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride {s2}.",
                                     attempt(own, x, k, stride=s2, padding=p),
                                     key=f"stride {delta:+d}"))
        if p != (0, 0):
            padded = o.pad(x, (p[1], p[1], p[0], p[0]))
            if self.mode == "max":
                found.append(Mistake("the padding is filled with zeros: max pooling pads with "
                                     "-inf so that the padding never wins.",
                                     attempt(own, padded, k, stride=s)))
            else:
                found.append(Mistake("the padded zeros are left out of the average: like PyTorch "
                                     "(count_include_pad=True) divide by the full window size "
                                     "kh*kw.", attempt(own, x, k, stride=s, padding=p,
                                                       count_include_pad=False)))
            found.append(Mistake("the padding is missing.", attempt(own, x, k, stride=s)))
        return found


@task("test_max_pool2d")
class MaxPool2d(_Pool):
    mode = "max"


@task("test_avg_pool2d")
class AvgPool2d(_Pool):
    mode = "avg"


@task("test_num_conv_parameters")
class NumConvParameters(CaseTask):
    result = IntResult()

    def cases(self, rng, hidden):
        cases = [
            Case("two 3x3 filters on an RGB image, no bias (the lecture's 54)",
                 (("in_channels", 3), ("out_channels", 2), ("kernel_size", 3)), (("bias", False),)),
            Case("a dense layer 784 -> 1000 as a 1x1 convolution",
                 (("in_channels", 784), ("out_channels", 1000), ("kernel_size", 1)), (("bias", True),)),
            Case("AlexNet's first layer: 96 filters 11x11 on 3 channels",
                 (("in_channels", 3), ("out_channels", 96), ("kernel_size", 11)), (("bias", True),)),
        ]
        if hidden:
            settings = [(1000, 10, 1, True), (64, 128, 3, True), (16, 16, (1, 7), False),
                        (1, 1, 1, True), (5, 3, (3, 2), True), (256, 512, 5, False)]
            for _ in range(4):  # fresh ones
                c, f = rng.ints(2, 300, 2)
                kh, kw = rng.ints(1, 7, 2)
                settings.append((c, f, kh if kh == kw else (kh, kw), bool(rng.ints(0, 1, 1)[0])))
            for c, f, k, b in settings:
                cases.append(Case(f"C={c}, F={f}, kernel {k}, bias={b}",
                                  (("in_channels", c), ("out_channels", f), ("kernel_size", k)),
                                  (("bias", b),)))
        return cases

    @staticmethod
    def _count(c, f, k, bias=True, *, in_channels=True, area=True, per_channel_bias=False):
        kh, kw = pair(k)
        weights = f * (c if in_channels else 1) * (kh * kw if area else kh)
        if not bias:
            return weights
        return weights + (f * c if per_channel_bias else f)

    def expected(self, case):
        i = case.inputs()
        return self._count(i["in_channels"], i["out_channels"], i["kernel_size"], i["bias"]), ""

    def shape_formula(self, case):
        i = case.inputs()
        kh, kw = pair(i["kernel_size"])
        return (f"F * C * KH * KW + (F if bias else 0) = {i['out_channels']} * {i['in_channels']} "
                f"* {kh} * {kw} + {i['out_channels'] if i['bias'] else 0}")

    def mistakes(self, case):
        i = case.inputs()
        c, f, k, b = i["in_channels"], i["out_channels"], i["kernel_size"], i["bias"]
        return [
            Mistake("the bias is missing: each filter has one bias.", self._count(c, f, k, False)),
            Mistake("the bias is counted although bias=False.", self._count(c, f, k, True)),
            Mistake("the input channels are missing: each filter has KH*KW weights for each "
                    "of the C input channels.", self._count(c, f, k, b, in_channels=False)),
            Mistake("one bias per filter, not one per filter and input channel.",
                    self._count(c, f, k, b, per_channel_bias=True)),
            Mistake("the kernel area is KH * KW (K * K for a square kernel), not K.",
                    self._count(c, f, k, b, area=False)),
        ]


@task("test_receptive_field")
class ReceptiveField(CaseTask):
    result = IntResult()

    def cases(self, rng, hidden):
        cases = [
            Case("three 3x3 convolutions (3, 5, 7)", (("layers", [(3, 1, 1)] * 3),)),
            Case("3x3 convolution, 2x2 pooling with stride 2, 3x3 convolution",
                 (("layers", [(3, 1, 1), (2, 2, 1), (3, 1, 1)]),)),
            Case("the dilated stack of the lecture (dilations 1, 1, 2, 4)",
                 (("layers", [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4)]),)),
        ]
        if hidden:
            stacks = [[(3, 1, 1)], [(5, 1, 1)], [(11, 4, 1), (3, 2, 1), (5, 1, 1)],
                      [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8), (3, 1, 16),
                       (3, 1, 1), (1, 1, 1)],
                      [(3, 2, 1), (3, 2, 1), (3, 2, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 2)],
                      [(1, 1, 1)]]
            for _ in range(4):  # fresh stacks
                depth = rng.ints(2, 5, 1)[0]
                stacks.append([(k, s, d) for k, s, d in zip(rng.ints(2, 7, depth),
                                                             rng.ints(1, 3, depth),
                                                             rng.ints(1, 3, depth))])
            for layers in stacks:
                cases.append(Case(f"layers {layers}", (("layers", layers),)))
        return cases

    @staticmethod
    def _field(layers, *, stride=True, dilation=True, own_stride=False, plus_one=True):
        size, jump = 1 if plus_one else 0, 1
        for k, s, d in layers:
            d = d if dilation else 1
            if own_stride and stride:
                jump *= s
            size += d * (k - 1) * jump
            if stride and not own_stride:
                jump *= s
        return size

    def expected(self, case):
        return self._field(case.inputs()["layers"]), ""

    def shape_formula(self, case):
        return ("r = 1 + sum over layers l of d_l (K_l - 1) * (s_1 * ... * s_{l-1}): each layer "
                "adds d(K-1) input pixels times the product of the strides before it")

    def mistakes(self, case):
        layers = case.inputs()["layers"]
        return [
            Mistake("the strides are ignored: after a layer with stride s, one step of the next "
                    "layer moves s input pixels.", self._field(layers, stride=False)),
            Mistake("the dilation is ignored: a dilated kernel spans d(K-1)+1 pixels.",
                    self._field(layers, dilation=False)),
            Mistake("a layer's own stride is applied to its own kernel; only the strides of the "
                    "layers before it count.", self._field(layers, own_stride=True)),
            Mistake("off by one: a single pixel has receptive field 1, and each layer adds "
                    "d(K-1)*jump.", self._field(layers, plus_one=False)),
        ]


check_conv2d = Conv2d.check
check_max_pool2d = MaxPool2d.check
check_avg_pool2d = AvgPool2d.check
check_num_conv_parameters = NumConvParameters.check
check_receptive_field = ReceptiveField.check
