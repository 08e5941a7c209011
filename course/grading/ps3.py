"""Problem set 3, convolution as a matrix product and backpropagation: ``source/ps3``'s tasks.

``numerical_gradient`` and ``gradient_check`` take callables: the judge hands them
functions of :mod:`.harness.functions` by name, never code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases import Case, Mistake, make, pair
from .engine import ArrayResult, ArraysResult, CaseTask, EstimateResult, problem_set
from .harness import functions, wire
from .ps2 import Conv2d, Conv2dCases, conv2d_case, conv2d_inputs, conv2d_mistakes
from .references import FLIPPED, attempt, f64, ops, out_size, size_formula, torch_reference

task = problem_set("ps3")

__all__ = ["check_conv2d_backward", "check_conv2d_matmul", "check_conv_matrix_1d",
           "check_conv_matrix_2d", "check_conv_transpose2d", "check_gradient_check",
           "check_im2col", "check_max_pool2d_backward", "check_numerical_gradient"]


def unfold_reference(x, kernel_size, stride, padding):
    """``torch.nn.functional.unfold`` in float64 (course.ops.pytorch has no unfold)."""
    import torch
    import torch.nn.functional as F

    from course.ops.pytorch import device

    dev = device()
    cols = F.unfold(torch.as_tensor(f64(x), device=dev), kernel_size, stride=stride,
                    padding=padding)
    return cols.detach().cpu().numpy(), f"PyTorch float64 on {dev.type}"


def deck_example():
    """The lecture's 3x3 input and 2x2 kernel (conv matrix and transposed convolution)."""
    image = make((3, 3), [1, 2, 3, 6, 5, 3, 1, 4, 1])
    kernel = make((2, 2), [1, 2, 2, 1])
    return image, kernel


class _ExactArray(CaseTask):
    """A task whose answer only places given values (input pixels, kernel entries), with no
    arithmetic on them: compared exactly (to 1e-12)."""

    result = ArrayResult()
    rtol = 0.0
    atol = 1e-12


@task("test_im2col")
class Im2col(_ExactArray):
    def cases(self, rng, hidden):
        image, _ = deck_example()
        cases = [
            Case("the lecture's 3x3 input, 2x2 windows",
                 (("x", np.array(image)[None, None]),),
                 (("kernel_size", 2), ("stride", 1), ("padding", 0))),
            Case("2 images, 2 channels, 4x5, (2, 3) windows",
                 (("x", rng.array((2, 2, 4, 5))),),
                 (("kernel_size", (2, 3)), ("stride", 1), ("padding", 0))),
        ]
        if hidden:
            cases += [
                Case("3 channels, 3x3 windows, stride 2, padding 1",
                     (("x", rng.array((1, 3, 5, 5), nonzero=True)),),
                     (("kernel_size", 3), ("stride", 2), ("padding", 1))),
                Case("stride (2, 1), padding (0, 1), 2x2 windows",
                     (("x", rng.array((2, 2, 5, 4), step=0.5)),),
                     (("kernel_size", 2), ("stride", (2, 1)), ("padding", (0, 1)))),
                Case("1x1 windows on 4 channels",
                     (("x", rng.array((1, 4, 3, 3))),),
                     (("kernel_size", 1), ("stride", 1), ("padding", 0))),
                Case("one window covering the whole 3x4 image",
                     (("x", rng.array((2, 3, 3, 4))),),
                     (("kernel_size", (3, 4)), ("stride", 1), ("padding", 0))),
                Case("batch of 3, 3 channels, 6x6, 3x3 windows, stride 3, padding 2",
                     (("x", rng.array((3, 3, 6, 6), step=0.25)),),
                     (("kernel_size", 3), ("stride", 3), ("padding", 2))),
            ]
        return cases

    def _settings(self, case):
        i = case.inputs()
        return pair(i["kernel_size"]), pair(i["stride"]), pair(i["padding"])

    def expected(self, case):
        k, s, p = self._settings(case)
        return unfold_reference(case.inputs()["x"], k, s, p)

    def shape_formula(self, case):
        (KH, KW), s, p = self._settings(case)
        N, C, H, W = case.inputs()["x"].shape
        return (f"(N, C*KH*KW, H_out*W_out) = ({N}, {C}*{KH}*{KW}, H_out*W_out) with "
                f"{size_formula('H', H, KH, s[0], p[0])}; {size_formula('W', W, KW, s[1], p[1])}")

    def mistakes(self, case):
        (KH, KW), s, p = self._settings(case)
        x = f64(case.inputs()["x"])
        N, C, H, W = x.shape
        Ho, Wo = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
        L = Ho * Wo
        cols, _ = self.expected(case)
        blocks = cols.reshape(N, C, KH, KW, Ho, Wo)
        found = [
            Mistake("the rows are in channel-last order (kernel row, kernel column, channel); "
                    "like PyTorch's unfold, row c*KH*KW + a*KW + b holds channel c at kernel "
                    "offset (a, b): all offsets of channel 0 first, then channel 1, ...",
                    np.array(blocks.transpose(0, 2, 3, 1, 4, 5)).reshape(N, C * KH * KW, L)
                    if C > 1 else None),
            Mistake("the kernel offsets are ordered column by column; row a*KW + b of a "
                    "channel's block holds offset (a, b) (row-major, as `window.ravel()`).",
                    np.array(blocks.transpose(0, 1, 3, 2, 4, 5)).reshape(N, C * KH * KW, L)
                    if KH > 1 and KW > 1 else None),
            Mistake("the windows (columns) are ordered column by column; column i*W_out + j "
                    "holds the window at output position (i, j) (row-major).",
                    np.array(blocks.transpose(0, 1, 2, 3, 5, 4)).reshape(N, C * KH * KW, L)
                    if Ho > 1 and Wo > 1 else None),
            Mistake("rows and columns are swapped: each COLUMN holds one window; the result "
                    "is (N, C*KH*KW, H_out*W_out).", shape=(N, L, C * KH * KW)),
            Mistake("the channel and kernel axes are not flattened into one axis of length "
                    "C*KH*KW.", shape=(N, C, KH * KW, L)),
            Mistake("the batch axis is lost: keep N first even when N = 1.",
                    shape=(C * KH * KW, L)),
        ]
        if p != (0, 0):
            found += [
                Mistake("the padding is ignored: pad x with `padding` zeros on every side "
                        "first.", attempt(lambda: unfold_reference(x, (KH, KW), s, (0, 0))[0])),
                Mistake("the padding is added on one side only.",
                        shape=(N, C * KH * KW, out_size(H - p[0], KH, s[0], p[0])
                               * out_size(W - p[1], KW, s[1], p[1]))),
            ]
        if s != (1, 1):
            found.append(Mistake("the stride is ignored: windows start every `stride` pixels.",
                                 attempt(lambda: unfold_reference(x, (KH, KW), (1, 1), p)[0])))
        return found


@task("test_conv2d_matmul")
class Conv2dMatmul(Conv2d):
    """ps3's conv2d as one matrix product; the ps2 diagnoses and a few of its own.

    It must build the column matrix with the student's ``im2col``, once per call (how
    the product is written is not seen; the text says so).
    """

    calls = "im2col"

    def cases(self, rng, hidden):
        shared = Conv2dCases(rng)
        cases = [shared.lecture(), shared.padded_batch()]
        if hidden:
            cases += [
                shared.lecture(stride=2),
                shared.square(batch=2),
                shared.one_by_one(batch=3),
                shared.non_square(),
                conv2d_case("batch of 4, 16x16 images, 8 filters, stride 2, padding 2",
                            rng.array((4, 3, 16, 16), step=0.25), rng.array((8, 3, 5, 5)),
                            rng.array((8,), nonzero=True), stride=2, padding=2),
            ]
        return cases

    def mistakes(self, case):
        o = ops()
        x, w, b, s, p = conv2d_inputs(case)
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        found = []
        if C > 1:
            # rows of the column matrix channel-last, the flattened weight channel-first
            mixed = np.array(w.reshape(F, KH, KW, C).transpose(0, 3, 1, 2))
            found.append(Mistake("the rows of your column matrix and the flattened weight are "
                                 "in different orders: `weight.reshape(F, -1)` is ordered "
                                 "(channel, kernel row, kernel column), so im2col's rows must "
                                 "be too.", attempt(o.conv2d, x, mixed, b, stride=s, padding=p)))
        right = attempt(o.conv2d, x, w, b, stride=s, padding=p)
        if right is not None and N > 1 and F > 1:
            Ho, Wo = right.shape[2:]
            # (F, N*L) reshaped straight to (N, F, H_out, W_out)
            found.append(Mistake("the product (F, N*H_out*W_out) was reshaped to (N, F, H_out, "
                                 "W_out) without moving the filter axis behind the batch axis "
                                 "(reshape to (F, N, H_out, W_out), then transpose).",
                                 np.array(right.transpose(1, 0, 2, 3)).reshape(N, F, Ho, Wo)))
        return found + conv2d_mistakes(case)


@task("test_conv_matrix_1d")
class ConvMatrix1d(_ExactArray):
    def cases(self, rng, hidden):
        cases = [
            Case("the lecture's kernel (-1, 0, 1) on a signal of length 6",
                 (("L", 6), ("kernel", make((3,), [-1, 0, 1])))),
            Case("length 5, kernel of length 2", (("L", 5), ("kernel", rng.array((2,), nonzero=True)))),
        ]
        if hidden:
            cases += [
                Case("kernel as long as the signal",
                     (("L", 4), ("kernel", rng.array((4,), nonzero=True)))),
                Case("kernel of length 1", (("L", 3), ("kernel", make((1,), [2.5])))),
                Case("length 12, kernel of length 5",
                     (("L", 12), ("kernel", rng.array((5,), step=0.5, nonzero=True)))),
                Case("integer kernel (int64)", (("L", 7), ("kernel", make((3,), [1, 2, 3], "int64")))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        k = f64(i["kernel"])
        return ops().conv_matrix((1, i["L"]), k[None, None]), "course.ops.conv_matrix"

    def shape_formula(self, case):
        i = case.inputs()
        L, K = i["L"], i["kernel"].shape[0]
        return (f"(L_out, L) with L_out = L - K + 1 = {L} - {K} + 1 = {L - K + 1}: one row per "
                "output, one column per input")

    def mistakes(self, case):
        i = case.inputs()
        L, k = i["L"], f64(i["kernel"])
        K = k.shape[0]
        flipped = attempt(ops().conv_matrix, (1, L), np.array(k[::-1])[None, None])
        return [
            Mistake(FLIPPED, flipped),
            Mistake("you returned the transpose: M has one ROW per output value and one column "
                    "per input value, shape (L - K + 1, L).", shape=(L, L - K + 1)),
            Mistake("you returned the 'full' matrix (partial overlaps too); keep the rows where "
                    "the whole kernel fits ('valid').", shape=(L + K - 1, L)),
            Mistake("one row per input ('same'); keep the rows where the whole kernel fits.",
                    shape=(L, L)),
        ]


@task("test_conv_matrix_2d")
class ConvMatrix2d(_ExactArray):
    def cases(self, rng, hidden):
        _, kernel = deck_example()
        cases = [
            Case("the lecture's 3x3 input with the 2x2 kernel [[1, 2], [2, 1]]",
                 (("input_shape", (3, 3)), ("kernel", kernel))),
            Case("4x5 input, 2x3 kernel",
                 (("input_shape", (4, 5)), ("kernel", rng.array((2, 3), nonzero=True)))),
        ]
        if hidden:
            cases += [
                Case("3x4 input, 3x2 kernel",
                     (("input_shape", (3, 4)), ("kernel", rng.array((3, 2), nonzero=True)))),
                Case("1x1 kernel", (("input_shape", (2, 3)), ("kernel", make((1, 1), [-2.0])))),
                Case("kernel as large as the input",
                     (("input_shape", (3, 3)), ("kernel", rng.array((3, 3), nonzero=True)))),
                Case("5x4 input, 2x2 kernel (not symmetric)",
                     (("input_shape", (5, 4)), ("kernel", make((2, 2), [1, 2, 3, 4])))),
                Case("6x6 input, 3x3 kernel",
                     (("input_shape", (6, 6)), ("kernel", rng.array((3, 3), step=0.5, nonzero=True)))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        H, W = i["input_shape"]
        return (ops().conv_matrix((1, H, W), f64(i["kernel"])[None, None]),
                "course.ops.conv_matrix")

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["input_shape"], i["kernel"].shape
        Ho, Wo = H - KH + 1, W - KW + 1
        return (f"(H_out*W_out, H*W) = ({Ho}*{Wo}, {H}*{W}) = ({Ho * Wo}, {H * W}): one row per "
                "output pixel, one column per input pixel")

    def mistakes(self, case):
        i = case.inputs()
        (H, W), k = i["input_shape"], f64(i["kernel"])
        KH, KW = k.shape
        Ho, Wo = H - KH + 1, W - KW + 1

        def matrix(kernel):
            return attempt(ops().conv_matrix, (1, H, W), np.array(kernel)[None, None])

        M = matrix(k)
        found = [
            Mistake(FLIPPED, matrix(k[::-1, ::-1])),
            Mistake("you returned the transpose: M has one ROW per output pixel and one column "
                    "per input pixel.", shape=(H * W, Ho * Wo)),
            Mistake("the 'full' output (partial overlaps too); keep the positions where the "
                    "whole kernel fits ('valid').", shape=((H + KH - 1) * (W + KW - 1), H * W)),
            Mistake("one row per input pixel ('same'); keep the positions where the whole "
                    "kernel fits ('valid').", shape=(H * W, H * W)),
            Mistake("the matrix is not flattened: return a 2-D matrix (H_out*W_out, H*W).",
                    shape=(Ho, Wo, H, W)),
        ]
        if KH != KW or not np.array_equal(k, k.T):
            found.append(Mistake("the kernel is transposed (rows and columns swapped): row a "
                                 "of the kernel moves down the image.",
                                 matrix(k.T) if KH == KW else None))
        if M is not None and (H > 1 and W > 1):
            # pixels numbered column by column (Fortran order) on both sides
            fortran = np.array(M.reshape(Ho, Wo, H, W).transpose(1, 0, 3, 2)).reshape(Ho * Wo, H * W)
            found.append(Mistake("pixels are numbered column by column; number them row by "
                                 "row, as `x.ravel()` does: pixel (r, c) is entry r*W + c.",
                                 fortran))
        return found


def crop_full(full, start, size):
    """full[..., start:start+size] on the last two axes, zeros outside (start may be < 0)."""
    N, F, FH, FW = full.shape
    out = np.zeros((N, F, size[0], size[1]))
    rows = [(r, r + start[0]) for r in range(size[0]) if 0 <= r + start[0] < FH]
    cols = [(c, c + start[1]) for c in range(size[1]) if 0 <= c + start[1] < FW]
    if rows and cols:
        (r0, f0), (c0, g0) = rows[0], cols[0]
        nr, nc = len(rows), len(cols)
        out[:, :, r0:r0 + nr, c0:c0 + nc] = full[:, :, f0:f0 + nr, g0:g0 + nc]
    return out


def transpose_case(label, x, weight, stride=1, padding=0, output_padding=0) -> Case:
    """One call ``conv_transpose2d(x, weight, stride=..., padding=..., output_padding=...)``."""
    return Case(label, (("x", x), ("weight", weight)),
                (("stride", stride), ("padding", padding), ("output_padding", output_padding)))


@task("test_conv_transpose2d")
class ConvTranspose2d(CaseTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        _, kernel = deck_example()
        cases = [
            transpose_case("the lecture's 2x2 input [[1, 2], [2, 4]] with the kernel [[1, 2], [2, 1]]",
                           make((1, 1, 2, 2), [1, 2, 2, 4]), np.array(kernel)[None, None]),
            transpose_case("2 images, 2 input channels, 3 output channels, 3x3 kernel, stride 2",
                           rng.array((2, 2, 3, 3)), rng.array((2, 3, 3, 3), nonzero=True), stride=2),
        ]
        if hidden:
            cases += [
                transpose_case("stride 2, padding 1",
                               rng.array((1, 2, 3, 3)), rng.array((2, 3, 3, 3)), stride=2, padding=1),
                transpose_case("stride 2, padding 1, output_padding 1",
                               rng.array((1, 1, 3, 4), nonzero=True),
                               rng.array((1, 2, 3, 3), nonzero=True),
                               stride=2, padding=1, output_padding=1),
                transpose_case("stride 2, no padding, output_padding 1 (the extra row and column)",
                               rng.array((2, 1, 2, 3), nonzero=True),
                               rng.array((1, 2, 2, 2), nonzero=True), stride=2, output_padding=1),
                transpose_case("stride (2, 3), padding (1, 0), output_padding (1, 2)",
                               rng.array((1, 2, 3, 3), step=0.5), rng.array((2, 2, 3, 2)),
                               stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
                transpose_case("3 input and 3 output channels (square: swapped axes would not crash)",
                               rng.array((2, 3, 3, 3)), rng.array((3, 3, 2, 2))),
                transpose_case("1x1 kernel, stride 2 (zeros between the inputs)",
                               rng.array((1, 2, 3, 3), nonzero=True),
                               rng.array((2, 1, 1, 1), nonzero=True), stride=2),
                transpose_case("batch of 2, 4x4 inputs, 4 -> 2 channels, 4x4 kernel, stride 2, "
                               "padding 1",
                               rng.array((2, 4, 4, 4), step=0.5), rng.array((4, 2, 4, 4)),
                               stride=2, padding=1),
            ]
        return cases

    def _settings(self, case):
        i = case.inputs()
        return pair(i["stride"]), pair(i["padding"]), pair(i["output_padding"])

    def _size(self, case, s=None, p=None, op=None):
        s0, p0, op0 = self._settings(case)
        s, p, op = s or s0, p or p0, op or op0
        N, C, H, W = case.inputs()["x"].shape
        _, F, KH, KW = case.inputs()["weight"].shape
        return ((H - 1) * s[0] - 2 * p[0] + KH + op[0], (W - 1) * s[1] - 2 * p[1] + KW + op[1])

    def expected(self, case):
        i = case.inputs()
        s, p, op = self._settings(case)
        return torch_reference("conv_transpose2d", f64(i["x"]), f64(i["weight"]), None,
                          stride=s, padding=p, output_padding=op)

    def shape_formula(self, case):
        s, p, op = self._settings(case)
        N, C, H, W = case.inputs()["x"].shape
        _, F, KH, KW = case.inputs()["weight"].shape
        Ho, Wo = self._size(case)
        return (f"(N, F, H_out, W_out) with N = {N}, F = weight.shape[1] = {F}; H_out = (H - 1)s "
                f"- 2p + KH + output_padding = ({H} - 1)*{s[0]} - 2*{p[0]} + {KH} + {op[0]} = {Ho}; "
                f"W_out = ({W} - 1)*{s[1]} - 2*{p[1]} + {KW} + {op[1]} = {Wo}")

    def mistakes(self, case):
        o = ops()
        i = case.inputs()
        x, w = f64(i["x"]), f64(i["weight"])
        s, p, op = self._settings(case)
        N, C, H, W = x.shape
        _, F, KH, KW = w.shape
        size = self._size(case)
        full = o.conv_transpose2d(x, w, stride=s)

        def run(w=w, s=s):
            return attempt(o.conv_transpose2d, x, np.array(w), stride=s, padding=p,
                        output_padding=op)

        found = [
            Mistake("the kernel is flipped: each input value x[n, c, i, j] adds "
                    "x[n, c, i, j] * weight[c, f] to the output block starting at (i*s, j*s), "
                    "kernel as it is (written as a convolution of the zero-spaced input, the "
                    "kernel is flipped once: do not flip it twice, nor forget it).",
                    run(w=w[:, :, ::-1, ::-1])),
            Mistake("the input and output channel axes of `weight` are swapped: for a "
                    "transposed convolution `weight` has shape (C_in, F, KH, KW), "
                    "weight[c, f] links input channel c to output channel f.",
                    run(w=w.transpose(1, 0, 2, 3)) if C == F else None,
                    shape=(N, C, size[0], size[1]) if C != F else None),
        ]
        if p != (0, 0):
            found += [
                Mistake("the padding is not cropped: `padding` removes p rows and columns "
                        "from each border of the full output.",
                        crop_full(full, (0, 0), (full.shape[2] + op[0], full.shape[3] + op[1]))),
                Mistake("the padding is cropped from one side only: remove p rows/columns at "
                        "the top/left and p at the bottom/right.",
                        crop_full(full, (0, 0), size)),
            ]
        if op != (0, 0):
            found += [
                Mistake("output_padding is added on the wrong side: the extra rows and "
                        "columns go at the bottom and the right of the output.",
                        crop_full(full, (p[0] - op[0], p[1] - op[1]), size)),
                Mistake("output_padding is ignored: it adds that many rows (columns) at the "
                        "bottom (right).", shape=(N, F, size[0] - op[0], size[1] - op[1])),
            ]
        if s != (1, 1):
            found += [
                Mistake("the stride is ignored: input (i, j) goes to the output block starting "
                        "at (i*sh, j*sw).", run(s=(1, 1)),
                        shape=(N, F, self._size(case, s=(1, 1))[0], self._size(case, s=(1, 1))[1])),
            ]
        found.append(Mistake("you computed an ordinary (strided) convolution; a transposed "
                             "convolution maps each input value to a whole kernel-sized block "
                             "and grows the image.",
                             shape=(N, F, out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1]))))
        return found

    def error_variants(self, case):
        C, F = case.inputs()["weight"].shape[:2]
        if F == C:
            return []
        swapped = np.array(case.inputs()["weight"].transpose(1, 0, 2, 3))
        return [("the input and output channel axes of `weight` are swapped: for a transposed "
                 "convolution `weight` has shape (C_in, F, KH, KW).", case.replace(weight=swapped))]


AUTOGRAD = (("torch.autograd", "grad"), ("torch.autograd", "backward"))


@task("test_conv2d_backward")
class Conv2dBackward(CaseTask):
    result = ArraysResult("grad_x", "grad_weight", "grad_bias")
    forbidden = AUTOGRAD

    def cases(self, rng, hidden):

        def case(label, x_shape, w_shape, s, p, step=1.0):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            Ho, Wo = out_size(H, KH, pair(s)[0], pair(p)[0]), out_size(W, KW, pair(s)[1], pair(p)[1])
            return Case(label, (("grad_out", rng.array((N, F, Ho, Wo), nonzero=True)),
                                ("x", rng.array(x_shape, step=step)),
                                ("weight", rng.array(w_shape, nonzero=True))),
                        (("stride", s), ("padding", p)))

        cases = [
            case("one 4x4 image, one 2x2 filter", (1, 1, 4, 4), (1, 1, 2, 2), 1, 0),
            case("batch of 2, 2 channels, 3 filters 3x3, padding 1", (2, 2, 4, 4), (3, 2, 3, 3), 1, 1),
        ]
        if hidden:
            cases += [
                case("stride 2", (2, 1, 5, 5), (2, 1, 3, 3), 2, 0),
                case("stride 2, padding 1, batch of 3", (3, 2, 6, 7), (4, 2, 3, 3), 2, 1, 0.5),
                case("2x3 kernels, stride (1, 2), padding (1, 0)", (2, 3, 5, 6), (2, 3, 2, 3),
                     (1, 2), (1, 0)),
                case("stride 3 larger than the 2x2 kernel (some pixels get no gradient)",
                     (2, 2, 7, 8), (3, 2, 2, 2), 3, 0),
                case("3 channels and 3 filters (square: swapped axes would not crash)",
                     (2, 3, 4, 4), (3, 3, 3, 3), 1, 1),
            ]
        return cases

    @staticmethod
    def _settings(case):
        i = case.inputs()
        return pair(i["stride"]), pair(i["padding"])

    def _grads(self, g, x, w, s, p):
        return torch_reference("conv2d_backward", f64(g), f64(x), f64(w),
                          stride=s, padding=p)[0]

    def expected(self, case):
        i = case.inputs()
        s, p = self._settings(case)
        return torch_reference("conv2d_backward", f64(i["grad_out"]), f64(i["x"]),
                          f64(i["weight"]), stride=s, padding=p)

    def part_shape_formula(self, case, index):
        i = case.inputs()
        return [f"grad_x has the shape of x, {i['x'].shape} = (N, C, H, W)",
                f"grad_weight has the shape of weight, {i['weight'].shape} = (F, C, KH, KW)",
                f"grad_bias has one value per filter, ({i['weight'].shape[0]},) = (F,)"][index]

    def part_mistakes(self, case, index):
        i = case.inputs()
        g, x, w = f64(i["grad_out"]), f64(i["x"]), f64(i["weight"])
        s, p = self._settings(case)
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        Ho, Wo = g.shape[2:]
        if index == 0:
            return self._grad_x_mistakes(g, x, w, s, p)
        if index == 1:
            gw = self._grads(g, x, w, s, p)[1]
            found = [
                Mistake("grad_weight is not summed over the batch: every image of the batch "
                        "adds its contribution, grad_weight = sum over n of ...",
                        shape=(N, F, C, KH, KW)),
                Mistake("grad_weight is not summed over the batch: it holds the last image's "
                        "contribution only (`=` instead of `+=` in the loop over n?).",
                        self._grads(g[-1:], x[-1:], w, s, p)[1] if N > 1 else None),
                Mistake("grad_weight is not summed over the batch: it holds the first image's "
                        "contribution only.",
                        self._grads(g[:1], x[:1], w, s, p)[1] if N > 1 else None),
                Mistake("grad_weight is averaged over the batch; the loss is the sum, so the "
                        "contributions add up (no division by N).", gw / N if N > 1 else None),
                Mistake("grad_weight is flipped: grad_weight[f, c, a, b] is the correlation of "
                        "the padded x[:, c] with grad_out[:, f] at offset (a, b).",
                        np.array(gw[:, :, ::-1, ::-1])),
                Mistake("grad_weight's filter and channel axes are swapped: it has the shape of "
                        "weight, (F, C, KH, KW).",
                        np.array(gw.transpose(1, 0, 2, 3)) if F == C else None,
                        shape=(C, F, KH, KW) if F != C else None),
            ]
            if s != (1, 1):
                xp = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]))
                xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
                part = np.array(xp[:, :, :Ho + KH - 1, :Wo + KW - 1])
                found.append(Mistake("the stride is ignored in grad_weight: output (i, j) saw "
                                     "the window starting at (i*sh, j*sw) of the padded input.",
                                     attempt(lambda: self._grads(g, part, w, (1, 1), (0, 0))[1])))
            return found
        gb = self._grads(g, x, w, s, p)[2]
        found = [
            Mistake("grad_bias is summed over the batch only; sum over N, H_out and W_out "
                    "(axes 0, 2, 3).", shape=(F, Ho, Wo)),
            Mistake("grad_bias is summed over the positions only; sum over the batch too "
                    "(axes 0, 2, 3).", shape=(N, F)),
            Mistake("grad_bias is summed over the wrong axes: sum grad_out over axes (0, 2, 3), "
                    "keeping the filter axis.", shape=(N,)),
            Mistake("grad_bias is summed over all axes; keep one value per filter (sum over "
                    "axes 0, 2, 3).", shape=()),
            Mistake("grad_bias is averaged; it is the sum of grad_out over N, H_out, W_out.",
                    gb / (N * Ho * Wo) if N * Ho * Wo > 1 else None),
        ]
        for axes, size in (((0, 1, 2), Wo), ((0, 1, 3), Ho), ((1, 2, 3), N)):
            if size == F:
                found.append(Mistake("grad_bias is summed over the wrong axes: sum grad_out "
                                     "over axes (0, 2, 3), keeping the filter axis.",
                                     g.sum(axis=axes)))
        return found

    def _grad_x_mistakes(self, g, x, w, s, p):
        o = ops()
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        Ho, Wo = g.shape[2:]
        found = [
            Mistake("grad_x uses the kernel without flipping it: grad_x is the transposed "
                    "convolution of grad_out (each grad_out[n, f, i, j] adds "
                    "grad_out[n, f, i, j] * weight[f] to the window it came from); written as "
                    "a correlation of the zero-padded grad_out, the kernel is flipped.",
                    self._grads(g, x, np.array(w[:, :, ::-1, ::-1]), s, p)[0]),
            Mistake("the padding is not cropped: grad_x has the shape of x, without the "
                    "padded border.", shape=(N, C, H + 2 * p[0], W + 2 * p[1])),
        ]
        reach = ((Ho - 1) * s[0] + KH - 2 * p[0], (Wo - 1) * s[1] + KW - 2 * p[1])
        if reach != (H, W):
            found.append(Mistake("grad_x is too small: pixels that no window reaches (when H + "
                                 "2p - KH is not a multiple of the stride) are part of x and "
                                 "get gradient 0.", shape=(N, C, reach[0], reach[1])))
        if s != (1, 1):
            full = attempt(o.conv_transpose2d, g, w)  # stride 1: blocks at (i, j)
            if full is not None:
                found.append(Mistake("the stride is ignored in the scatter: grad_out[n, f, i, j] "
                                     "goes back to the window starting at (i*sh, j*sw), not "
                                     "(i, j).", crop_full(full, p, (H, W))))
        return found


@task("test_max_pool2d_backward")
class MaxPool2dBackward(CaseTask):
    result = ArrayResult()
    forbidden = AUTOGRAD

    def cases(self, rng, hidden):

        def case(label, shape, k, s, low=-3, high=3, step=1.0):
            kh, kw = pair(k)
            sh, sw = (kh, kw) if s is None else pair(s)
            N, C, H, W = shape
            g = rng.array((N, C, out_size(H, kh, sh), out_size(W, kw, sw)), nonzero=True)
            return Case(label, (("grad_out", g), ("x", rng.array(shape, low, high, step=step))),
                        (("kernel_size", k), ("stride", s)))

        cases = [
            case("3x3 windows, stride 2 on a 5x5 map (windows share a row and a column)",
                 (1, 1, 5, 5), 3, 2, 0, 9),
            case("batch of 2, 2 channels, 3x3 windows, stride 1, values with ties",
                 (2, 2, 5, 6), 3, 1),
        ]
        if hidden:
            cases += [
                case("2x2 windows, stride 1, many ties", (2, 3, 6, 6), 2, 1, 0, 2),
                case("3x3 windows, stride 2, batch of 1", (1, 2, 7, 7), 3, 2, -5, 5, 0.5),
                case("(3, 2) windows, stride (1, 2)", (1, 2, 6, 7), (3, 2), (1, 2)),
                case("4x4 windows, stride 2, distinct values", (1, 1, 8, 8), 4, 2, -200, 200, 0.125),
                case("non-overlapping 2x2 windows (stride None)", (2, 2, 4, 6), 2, None),
                case("all values equal: the first maximum of each window takes the gradient",
                     (1, 1, 4, 4), 3, 1, 1, 1),
            ]
        return cases

    @staticmethod
    def _settings(case):
        i = case.inputs()
        k = pair(i["kernel_size"])
        return k, (k if i["stride"] is None else pair(i["stride"]))

    def expected(self, case):
        i = case.inputs()
        k, s = self._settings(case)
        return torch_reference("max_pool2d_backward", f64(i["grad_out"]), f64(i["x"]), k,
                          stride=s)

    def shape_formula(self, case):
        return f"grad_x has the shape of x, {case.inputs()['x'].shape} = (N, C, H, W)"

    @staticmethod
    def _route(g, x, k, s, mode):
        """The gradient as a typical loop routes it ('assign', 'last', 'ties', 'spread')."""
        N, C, H, W = x.shape
        Ho, Wo = g.shape[2:]
        grad = np.zeros(x.shape)
        for n in range(N):
            for c in range(C):
                for i in range(Ho):
                    for j in range(Wo):
                        window = x[n, c, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
                        values = list(np.ravel(window))
                        top = max(values)
                        hits = [t for t, v in enumerate(values) if v == top]
                        if mode == "spread":
                            hits = list(range(len(values)))
                        elif mode == "last":
                            hits = hits[-1:]
                        elif mode != "ties":
                            hits = hits[:1]
                        for t in hits:
                            a, b = t // k[1], t % k[1]
                            r, q = i * s[0] + a, j * s[1] + b
                            if mode == "assign":
                                grad[n, c, r, q] = g[n, c, i, j]
                            else:
                                grad[n, c, r, q] += g[n, c, i, j]
        return grad

    def mistakes(self, case):
        i = case.inputs()
        g, x = f64(i["grad_out"]), f64(i["x"])
        k, s = self._settings(case)
        N, C, H, W = x.shape
        found = [
            Mistake("the gradient is assigned (`grad[...] = g`) where windows overlap, so a "
                    "pixel that is the maximum of several windows keeps only the last "
                    "window's gradient; accumulate with `+=`.", self._route(g, x, k, s, "assign")),
            Mistake("the gradient is spread over the whole window (that is average pooling's "
                    "backward pass); only the maximum of each window receives it.",
                    attempt(ops().avg_pool2d_backward, g, x, k, stride=s)),
            Mistake("every element of the window receives the full gradient; only the maximum "
                    "does.", self._route(g, x, k, s, "spread")),
            Mistake("ties go to the last maximum of the window; like PyTorch, route the "
                    "gradient to the FIRST maximum in row-major order (np.argmax does).",
                    self._route(g, x, k, s, "last")),
            Mistake("every tied maximum receives the gradient; only the first maximum "
                    "(row-major, as np.argmax) does.", self._route(g, x, k, s, "ties")),
            Mistake("you returned a gradient of the pooled output's shape; grad_x has the shape "
                    "of x.", shape=g.shape),
        ]
        return found


def _weighted_gradient(v):
    g = 2 * functions._weights(v.size) * v
    if v.size > 1:
        g[0] += v[1]
        g[1] += v[0]
    return g


GRADIENTS = {
    "squares": lambda v: 2 * v,
    "weighted": _weighted_gradient,
    "cubes": lambda v: v * v,
    "logcosh": np.tanh,
}
"""The exact gradients of the catalogue's scalar functions: the judge's alone (the judged
process's copy of the catalogue holds only their values)."""


def _exact_gradient(case) -> np.ndarray:
    """The exact gradient of the function a numerical-gradient case hands over, at its x."""
    x = f64(case.inputs()["x"])
    return np.asarray(GRADIENTS[case.inputs()["f"].name](x.ravel()), dtype=np.float64).reshape(x.shape)


def _function(case):
    """The catalogue function a numerical-gradient case hands over."""
    return functions.build(case.inputs()["f"])


@task("test_numerical_gradient")
class NumericalGradient(CaseTask):
    result = ArrayResult()
    rtol = 1e-6
    atol = 1e-6
    forbidden = (("scipy.optimize", "approx_fprime"), ("scipy.optimize", "check_grad"),
                 ("numpy", "gradient")) + AUTOGRAD

    def cases(self, rng, hidden):
        squares, weighted = wire.Function("squares"), wire.Function("weighted")
        cases = [
            Case("f(x) = sum(x**2) on a 2x3 array: the gradient is 2x",
                 (("f", squares), ("x", rng.array((2, 3), -3, 3, step=0.5)))),
            Case("a quadratic with a cross term, eps=0.01",
                 (("f", weighted), ("x", rng.array((5,), -4, 4, step=0.5))), (("eps", 1e-2),)),
        ]
        if hidden:
            cases += [
                Case("sum(x**3)/3 with eps=1e-4 (the gradient is x**2)",
                     (("f", wire.Function("cubes")), ("x", rng.array((3, 2), -4, 4, step=0.5))),
                     (("eps", 1e-4),)),
                Case("sum(log(cosh(x))) on a 4-D array (a conv weight's shape)",
                     (("f", wire.Function("logcosh")), ("x", rng.array((2, 1, 2, 2), -4, 4, step=0.25)))),
                Case("an integer array x (int64)",
                     (("f", squares), ("x", rng.array((4,), -3, 3, dtype="int64")))),
                Case("one element", (("f", squares), ("x", make((1,), [1.5]))), (("eps", 1e-3),)),
                Case("the cross term again, eps=0.1",
                     (("f", weighted), ("x", rng.array((2, 2), -2, 2, step=0.5))), (("eps", 1e-1),)),
            ]
        return cases

    def expected(self, case):
        return _exact_gradient(case), "the exact derivative"

    def shape_formula(self, case):
        return f"the gradient has the shape of x, {case.inputs()['x'].shape}"

    @staticmethod
    def _differences(f, x, eps, mode):
        """The numerical gradient as a typical wrong loop computes it."""
        x = np.array(x)
        flat = x.reshape(-1)
        out = np.zeros(x.shape)
        out_flat = out.reshape(-1)
        for t in range(flat.shape[0]):
            old = flat[t]
            flat[t] = old + eps
            plus = f(x)
            flat[t] = old - eps
            minus = f(x)
            flat[t] = old
            base = f(x)
            if mode == "forward":
                out_flat[t] = (plus - base) / eps
            elif mode == "backward":
                out_flat[t] = (base - minus) / eps
            elif mode == "half":
                out_flat[t] = (plus - minus) / eps
            elif mode == "drift":
                flat[t] = old - eps  # not restored
                out_flat[t] = (plus - minus) / (2 * eps)
            else:
                out_flat[t] = (plus - minus) / (2 * eps)
        return out

    def mistakes(self, case):
        f, x = _function(case), case.inputs()["x"]
        eps = dict(case.kwargs).get("eps", 1e-6)
        found = []
        if x.dtype.kind in "iu":
            message = ("x has an integer dtype, so x + eps and x - eps are rounded to whole "
                       "numbers when stored in it; convert x to float first "
                       "(`x = np.array(x, dtype=np.float64)`).")
            found += [Mistake(message, np.zeros(x.shape)),
                      Mistake(message, self._differences(f, x, eps, "central")),
                      Mistake(message, self._differences(f, x, eps, "forward"))]
        xf = f64(x)
        found += [
            Mistake("forward difference (f(x + eps) - f(x)) / eps: its error is proportional to "
                    "eps; the central difference (f(x + eps) - f(x - eps)) / (2 eps) is exact "
                    "for quadratics and its error shrinks like eps**2.",
                    self._differences(f, xf, eps, "forward")),
            Mistake("backward difference (f(x) - f(x - eps)) / eps; use the central difference "
                    "(f(x + eps) - f(x - eps)) / (2 eps).", self._differences(f, xf, eps, "backward")),
            Mistake("the central difference is divided by eps instead of 2 eps.",
                    self._differences(f, xf, eps, "half")),
            Mistake("x[i] is not restored after the two evaluations, so later entries are "
                    "computed at a shifted point; put the saved value back.",
                    self._differences(f, xf, eps, "drift")),
        ]
        return found


def relative_error(a, b) -> float:
    """max |a - b| / max(|a|, |b|) over the entries (0 when both are zero)."""
    a, b = f64(a).ravel(), f64(b).ravel()
    diff = float(np.max(np.abs(a - b), initial=0.0))
    scale = float(max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0)))
    return diff / scale if scale > 0 else 0.0


@dataclass
class GradCase(Case):
    wrong: str = ""  # which gradient the given backward pass gets wrong ("" = none)

    def _extra(self) -> dict:
        return {"wrong": self.wrong}


@task("test_gradient_check")
class GradientCheck(CaseTask):
    forbidden = AUTOGRAD
    result = EstimateResult(
        helper="numerical_gradient", limits=(1e-6, 1e-3),
        hint_small=("the loss must be L = sum(forward(x, weight, bias, stride, padding) * "
                    "grad_out), whose exact gradients are what backward returns for that "
                    "grad_out; compare each numerical gradient with the matching analytic one "
                    "(x with grad_x, weight with grad_weight, bias with grad_bias)."),
        hint_large=("compare all three gradients: {part} must be checked too, with the "
                    "numerical gradient of L with respect to the matching input."))

    #: Every exact gradient entry is at least this far from zero, so that the usual
    #: elementwise relative error (CS231n's |a - n| / (|a| + |n|)) is also at rounding
    #: level for a correct backward pass, not only the max-based one the notebook asks for.
    smallest_gradient = 0.05

    def cases(self, rng, hidden):
        def case(label, wrong, x_shape, w_shape, s, p):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            Ho, Wo = out_size(H, KH, pair(s)[0], pair(p)[0]), out_size(W, KW, pair(s)[1], pair(p)[1])
            for _ in range(1000):  # about two draws on average
                g, x = rng.uniform((N, F, Ho, Wo)), rng.uniform(x_shape)
                w, b = rng.uniform(w_shape), rng.uniform((F,))
                exact = torch_reference("conv2d_backward", g, x, w, stride=pair(s),
                                        padding=pair(p))[0]
                if min(np.min(np.abs(a)) for a in exact) >= self.smallest_gradient:
                    break
            else:
                raise RuntimeError(f"no inputs for {label!r} with gradients away from zero")
            return GradCase(label, (("forward", wire.Function("conv2d_forward")), ("backward", None),
                                    ("x", x), ("weight", w), ("bias", b), ("grad_out", g)),
                            (("stride", s), ("padding", p)), wrong)

        cases = [
            case("a correct backward pass, one 4x4 image, two 2x2 filters", "", (1, 1, 4, 4),
                 (2, 1, 2, 2), 1, 0),
            case("a backward pass whose grad_x is wrong (kernel not flipped)", "grad_x",
                 (2, 2, 4, 4), (2, 2, 3, 3), 1, 1),
        ]
        if hidden:
            cases += [
                case("a correct backward pass, stride 2, padding 1", "", (2, 2, 5, 5),
                     (3, 2, 3, 3), 2, 1),
                case("a backward pass whose grad_weight holds the last image only", "grad_weight",
                     (2, 2, 4, 4), (2, 2, 2, 2), 1, 0),
                case("a backward pass whose grad_bias is averaged instead of summed", "grad_bias",
                     (2, 1, 4, 4), (2, 1, 3, 3), 1, 1),
            ]
        return [self._with_backward(c) for c in cases]

    def _with_backward(self, case):
        """Fill in the backward pass: the reference's gradients, one made wrong."""
        i = case.inputs()
        s, p = pair(i["stride"]), pair(i["padding"])
        g, x, w = i["grad_out"], i["x"], i["weight"]
        gx, gw, gb = torch_reference("conv2d_backward", g, x, w, stride=s, padding=p)[0]
        if case.wrong == "grad_x":
            gx = torch_reference("conv2d_backward", g, x, np.array(w[:, :, ::-1, ::-1]), stride=s,
                                 padding=p)[0][0]
        elif case.wrong == "grad_weight":
            gw = torch_reference("conv2d_backward", np.array(g[-1:]), np.array(x[-1:]), w,
                                 stride=s, padding=p)[0][1]
        elif case.wrong == "grad_bias":
            gb = gb / (g.shape[0] * g.shape[2] * g.shape[3])
        return case.replace(backward=wire.Function("constant", {"value": [gx, gw, gb]}))

    def expected(self, case):
        """The true relative error of the given backward pass (0 for a correct one)."""
        i = case.inputs()
        s, p = pair(i["stride"]), pair(i["padding"])
        right = torch_reference("conv2d_backward", i["grad_out"], i["x"], i["weight"], stride=s,
                                padding=p)[0]
        given = i["backward"].arguments["value"]
        return max(relative_error(a, b) for a, b in zip(given, right)), "exact gradients"


check_im2col = Im2col.check
check_conv2d_matmul = Conv2dMatmul.check
check_conv_matrix_1d = ConvMatrix1d.check
check_conv_matrix_2d = ConvMatrix2d.check
check_conv_transpose2d = ConvTranspose2d.check
check_conv2d_backward = Conv2dBackward.check
check_max_pool2d_backward = MaxPool2dBackward.check
check_numerical_gradient = NumericalGradient.check
check_gradient_check = GradientCheck.check
