"""Problem set 1, convolution: the tasks behind ``source/ps1``'s test cells.

Each task class is one test cell; ``check_<name>`` runs it in the student's kernel.
"""
from __future__ import annotations

import numpy as np

from .cases import Case, Mistake, make, pair
from .engine import ArrayResult, CaseTask, IntResult, problem_set
from .references import (
    FLIPPED,
    attempt,
    conv2d_1ch,
    correlate_reference,
    f64,
    ops,
    out_size,
    size_formula,
    torch_reference,
)

task = problem_set("ps1")

__all__ = ["check_convolve1d", "check_correlate1d", "check_correlate2d",
           "check_correlate2d_general", "check_correlate2d_strided", "check_output_size",
           "check_pad2d"]


@task("test_correlate1d")
class Correlate1d(CaseTask):
    result = ArrayResult()
    flip = False

    def cases(self, rng, hidden):
        cases = [Case("signal [1, 2, 3, 4, 5] with kernel [1, 0, -1]",
                      (("x", make((5,), [1, 2, 3, 4, 5])), ("w", make((3,), [1, 0, -1])))),
                 Case("random signal of length 9, kernel of length 2",
                      (("x", rng.array((9,))), ("w", rng.array((2,), nonzero=True))))]
        if hidden:
            cases += [
                Case("kernel as long as the signal",
                     (("x", rng.array((4,), step=0.5)), ("w", rng.array((4,), step=0.5)))),
                Case("kernel of length 1", (("x", rng.array((6,))), ("w", make((1,), [3.0])))),
                Case("uint8 signal and kernel (values up to 255)",
                     (("x", rng.array((12,), 0, 255, dtype="uint8")),
                      ("w", rng.array((3,), 1, 255, dtype="uint8")))),
                Case("long signal, kernel of length 5",
                     (("x", rng.array((40,), step=0.25)), ("w", rng.array((5,), step=0.25)))),
            ]
        return cases

    def _kernel(self, w):
        w = f64(w)
        return w[::-1].copy() if self.flip else w

    def expected(self, case):
        i = case.inputs()
        value, where = torch_reference("conv1d", f64(i["x"])[None, None],
                                       self._kernel(i["w"])[None, None])
        return value[0, 0], where

    def shape_formula(self, case):
        L, K = case.inputs()["x"].shape[0], case.inputs()["w"].shape[0]
        return f"L_out = L - K + 1 = {L} - {K} + 1 = {L - K + 1}"

    def mistakes(self, case):
        x, w = f64(case.inputs()["x"]), self._kernel(case.inputs()["w"])
        right = np.correlate(x, w, "valid")
        message = FLIPPED if not self.flip else (
            "the kernel is not flipped: that is a cross-correlation; a convolution reverses "
            "the kernel first (w[::-1]).")
        return [
            Mistake(message, np.correlate(x, w[::-1], "valid")),
            Mistake("you returned the 'full' output (every partial overlap, length L + K - 1); "
                    "keep only the positions where the whole kernel fits ('valid').",
                    np.correlate(x, w, "full")),
            Mistake("you returned an output as long as the input ('same'); keep only the "
                    "positions where the whole kernel fits ('valid').",
                    np.correlate(x, w, "same") if w.size <= x.size else None),
            Mistake("one position too few: the last window starts at index L - K, so there are "
                    "L - K + 1 positions (range(L - K + 1)).", right[:-1]),
            Mistake("your output is as long as the input ('same'); 'valid' keeps only the "
                    "positions where the whole kernel fits.", shape=x.shape),
            Mistake("your output has the length of the 'full' correlation, L + K - 1; 'valid' "
                    "keeps only the positions where the whole kernel fits.",
                    shape=(x.size + w.size - 1,)),
        ]


@task("test_convolve1d")
class Convolve1d(Correlate1d):
    flip = True


def vertical_edge_example():
    """The lecture's 5x5 image and its vertical-edge kernel."""
    image = make((5, 5), [1, 2, 3, 4, 5, 1, 3, 2, 3, 10, 3, 2, 1, 4, 5, 6, 1, 1, 2, 2,
                          3, 2, 1, 5, 4])
    kernel = make((3, 3), [1, 0, -1] * 3)
    return image, kernel


@task("test_correlate2d")
class Correlate2d(CaseTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        image, kernel = vertical_edge_example()
        cases = [
            Case("the lecture's 5x5 input with the vertical-edge kernel",
                 (("image", image), ("kernel", kernel))),
            Case("random 6x7 image, 2x3 kernel",
                 (("image", rng.array((6, 7))), ("kernel", rng.array((2, 3), nonzero=True)))),
        ]
        if hidden:
            cases += [
                Case("1x1 kernel", (("image", rng.array((3, 4))), ("kernel", make((1, 1), [2.0])))),
                Case("kernel as large as the image",
                     (("image", rng.array((3, 3), step=0.5)), ("kernel", rng.array((3, 3))))),
                Case("uint8 image with the vertical-edge kernel (int64)",
                     (("image", rng.array((6, 6), 0, 255, dtype="uint8")),
                      ("kernel", make((3, 3), [1, 0, -1] * 3, "int64")))),
                Case("tall 9x4 image, 4x2 kernel",
                     (("image", rng.array((9, 4), step=0.25)), ("kernel", rng.array((4, 2))))),
                Case("20x20 image, 5x5 kernel",
                     (("image", rng.array((20, 20), step=0.125)),
                      ("kernel", rng.array((5, 5), step=0.5)))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        return correlate_reference(i["image"], i["kernel"])

    def shape_formula(self, case):
        (H, W), (KH, KW) = case.inputs()["image"].shape, case.inputs()["kernel"].shape
        return (f"H_out = H - KH + 1 = {H} - {KH} + 1 = {H - KH + 1}, "
                f"W_out = W - KW + 1 = {W} - {KW} + 1 = {W - KW + 1}")

    def mistakes(self, case):
        image, kernel = f64(case.inputs()["image"]), f64(case.inputs()["kernel"])
        (KH, KW) = kernel.shape
        right = conv2d_1ch(image, kernel)
        return [
            Mistake(FLIPPED, attempt(conv2d_1ch, image, kernel[::-1, ::-1].copy())),
            Mistake("the kernel is transposed (rows and columns swapped).",
                    attempt(conv2d_1ch, image, kernel.T.copy())),
            Mistake("you returned a 'same'-size output (zero padding around the image); "
                    "'valid' keeps only the positions where the whole kernel fits.",
                    attempt(conv2d_1ch, image, kernel, padding="same")),
            Mistake("you returned the 'full' output; 'valid' keeps only the positions where the "
                    "whole kernel fits.", attempt(conv2d_1ch, image, kernel,
                                                  padding=(KH - 1, KW - 1))),
            Mistake("your output is a 'same'-size output, as large as the image; 'valid' keeps "
                    "only the positions where the whole kernel fits.", shape=image.shape),
            Mistake("your output has the size of the 'full' correlation (every partial "
                    "overlap); 'valid' keeps only the positions where the whole kernel fits.",
                    shape=(image.shape[0] + KH - 1, image.shape[1] + KW - 1)),
            Mistake("one position too few along each axis: there are H - KH + 1 row positions "
                    "(range(H - KH + 1)).", right[:-1, :-1]),
            Mistake("the output's height and width are swapped.", right.T.copy()
                    if right.shape[0] != right.shape[1] else None),
        ]


_TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


@task("test_pad2d")
class Pad2d(CaseTask):
    result = ArrayResult()
    forbidden = (("numpy", "pad"), ("torch.nn.functional", "pad"))

    def cases(self, rng, hidden):
        cases = [
            Case("3x3 image, padding 1, zeros",
                 (("image", make((3, 3), [1, 2, 3, 4, 5, 6, 7, 8, 9])),),
                 (("padding", 1), ("mode", "zeros"))),
            Case("3x4 image, padding 1, reflect",
                 (("image", rng.array((3, 4), nonzero=True)),), (("padding", 1), ("mode", "reflect"))),
            Case("3x4 image, padding 2, replicate",
                 (("image", rng.array((3, 4), nonzero=True)),), (("padding", 2), ("mode", "replicate"))),
        ]
        if hidden:
            for mode in ("zeros", "reflect", "replicate"):
                cases += [
                    Case(f"5x6 image, padding (1, 2), {mode}",
                         (("image", rng.array((5, 6), step=0.5, nonzero=True)),),
                         (("padding", (1, 2)), ("mode", mode))),
                    Case(f"4x4 image, padding 3, {mode}",
                         (("image", rng.array((4, 4), nonzero=True)),), (("padding", 3), ("mode", mode))),
                    Case(f"3x3 image, padding 0, {mode}",
                         (("image", rng.array((3, 3))),), (("padding", 0), ("mode", mode))),
                ]
        return cases

    def expected(self, case):
        i = case.inputs()
        ph, pw = pair(i["padding"])
        value, where = torch_reference("pad", f64(i["image"])[None, None], (pw, pw, ph, ph),
                                       mode=_TORCH_MODE[i["mode"]])
        return value[0, 0], where

    def shape_formula(self, case):
        ph, pw = pair(case.inputs()["padding"])
        H, W = case.inputs()["image"].shape
        return f"(H + 2 ph, W + 2 pw) = ({H} + 2*{ph}, {W} + 2*{pw}) = ({H + 2 * ph}, {W + 2 * pw})"

    def mistakes(self, case):
        i = case.inputs()
        image = f64(i["image"])
        ph, pw = pair(i["padding"])
        mode = i["mode"]
        names = {"zeros": "zero padding", "reflect": "reflect padding (mirror without repeating "
                 "the edge)", "replicate": "replicate padding (repeat the edge value)"}
        found = []
        for other in ("zeros", "reflect", "replicate"):
            if other != mode:
                value = attempt(ops().pad, image[None, None], (pw, pw, ph, ph), mode=_TORCH_MODE[other])
                found.append(Mistake(f"you used {names[other]} instead of {names[mode]}.",
                                     value[0, 0] if value is not None else None,
                                     key=f"padding mode -> {other}"))
        found += [
            Mistake("you mirrored the edge row too (NumPy's 'symmetric'); 'reflect' mirrors "
                    "around the edge without repeating it: [a b c] -> b | a b c | b.",
                    attempt(np.pad, image, ((ph, ph), (pw, pw)), mode="symmetric")),
            Mistake("the padding is missing: the output equals the input.", image),
            Mistake("you padded one side only; add `padding` rows/columns on both sides.",
                    attempt(lambda: ops().pad(image[None, None], (pw, 0, ph, 0),
                                              mode=_TORCH_MODE[mode])[0, 0])),
            Mistake("the row and column padding are swapped: `padding=(ph, pw)` adds ph rows "
                    "above and below, pw columns left and right.",
                    attempt(lambda: ops().pad(image[None, None], (ph, ph, pw, pw),
                                              mode=_TORCH_MODE[mode])[0, 0]) if ph != pw else None),
        ]
        return found


@task("test_output_size")
class OutputSize(CaseTask):
    result = IntResult()

    def cases(self, rng, hidden):
        cases = [
            Case("AlexNet's first layer: 227, kernel 11, stride 4",
                 (("n", 227), ("k", 11)), (("s", 4), ("p", 0), ("d", 1))),
            Case("5, kernel 3, padding 1", (("n", 5), ("k", 3)), (("s", 1), ("p", 1), ("d", 1))),
            Case("7, kernel 3, stride 2", (("n", 7), ("k", 3)), (("s", 2), ("p", 0), ("d", 1))),
            Case("10, kernel 3, dilation 2", (("n", 10), ("k", 3)), (("s", 1), ("p", 0), ("d", 2))),
        ]
        if hidden:
            fixed = [(6, 3, 2, 0, 1), (8, 2, 3, 1, 1), (32, 5, 1, 2, 1), (9, 3, 2, 1, 2),
                     (4, 4, 1, 0, 1), (1, 1, 1, 0, 1), (28, 5, 3, 0, 2), (15, 2, 2, 0, 3),
                     (224, 7, 2, 3, 1)]
            for _ in range(6):  # fresh settings where a window always fits
                k, s, p, d = rng.ints(1, 7, 1)[0], rng.ints(1, 4, 1)[0], rng.ints(0, 3, 1)[0], \
                    rng.ints(1, 3, 1)[0]
                n = d * (k - 1) + 1 - 2 * p + rng.ints(0, 40, 1)[0]
                if n >= 1:
                    fixed.append((n, k, s, p, d))
            for n, k, s, p, d in fixed:
                cases.append(Case(f"n={n}, k={k}, s={s}, p={p}, d={d}", (("n", n), ("k", k)),
                                  (("s", s), ("p", p), ("d", d))))
        return cases

    def expected(self, case):
        i = case.inputs()
        return out_size(i["n"], i["k"], i["s"], i["p"], i["d"]), ""

    def shape_formula(self, case):
        i = case.inputs()
        return size_formula("n", i["n"], i["k"], i["s"], i["p"], i["d"])

    def mistakes(self, case):
        n, k, s, p, d = (case.inputs()[key] for key in ("n", "k", "s", "p", "d"))
        return [
            Mistake("you rounded up; the formula rounds down (floor, `//`): a window that does "
                    "not fit entirely is not computed.", out_size(n, k, s, p, d, ceil=True)),
            Mistake("the dilation is ignored: a dilated kernel covers d(K-1)+1 cells.",
                    out_size(n, k, s, p, 1)),
            Mistake("the padding is counted once; it is added on both sides (2p).",
                    (n + p - d * (k - 1) - 1) // s + 1),
            Mistake("the +1 is missing: the first window position counts too.",
                    (n + 2 * p - d * (k - 1) - 1) // s),
            Mistake("the stride is ignored.", out_size(n, k, 1, p, d)),
            Mistake("you used (n + 2p - K)//s + 1 with the dilated kernel size d*K; the dilated "
                    "kernel covers d(K-1)+1 cells.", (n + 2 * p - d * k) // s + 1),
        ]


@task("test_correlate2d_strided")
class Strided(CaseTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        image, kernel = vertical_edge_example()
        cases = [
            Case("the lecture's 5x5 example with stride 2",
                 (("image", image), ("kernel", kernel)), (("stride", 2),)),
            Case("random 7x8 image, 3x3 kernel, stride 3",
                 (("image", rng.array((7, 8))), ("kernel", rng.array((3, 3), nonzero=True))),
                 (("stride", 3),)),
        ]
        if hidden:
            cases += [
                Case("stride 1", (("image", rng.array((5, 6))), ("kernel", rng.array((2, 2)))),
                     (("stride", 1),)),
                Case("stride (1, 2)", (("image", rng.array((6, 9), step=0.5)),
                                       ("kernel", rng.array((2, 3)))), (("stride", (1, 2)),)),
                Case("stride (3, 2), the last window does not fit",
                     (("image", rng.array((10, 9))), ("kernel", rng.array((3, 2)))),
                     (("stride", (3, 2)),)),
                Case("stride larger than the kernel",
                     (("image", rng.array((11, 11), step=0.25)), ("kernel", rng.array((2, 2)))),
                     (("stride", 4),)),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        return correlate_reference(i["image"], i["kernel"], stride=i["stride"])

    def shape_formula(self, case):
        (H, W), (KH, KW) = case.inputs()["image"].shape, case.inputs()["kernel"].shape
        sh, sw = pair(case.inputs()["stride"])
        return f"{size_formula('H', H, KH, sh)}; {size_formula('W', W, KW, sw)}"

    def mistakes(self, case):
        image, kernel = f64(case.inputs()["image"]), f64(case.inputs()["kernel"])
        (H, W), (KH, KW) = image.shape, kernel.shape
        sh, sw = pair(case.inputs()["stride"])
        full = conv2d_1ch(image, kernel)
        ceil = (out_size(H, KH, sh, ceil=True), out_size(W, KW, sw, ceil=True))
        found = [
            Mistake("you let the last window hang over the edge (the output size is rounded "
                    "up); it rounds down (floor): a window that does not fit entirely is not "
                    "computed.", shape=ceil),
            Mistake("the stride is ignored (every position is computed).", full),
        ]
        for delta in (-1, 1):
            s2 = (sh + delta, sw + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride "
                                     f"{s2} instead of {(sh, sw)}.",
                                     attempt(conv2d_1ch, image, kernel, stride=s2),
                                     key=f"stride {delta:+d}"))
        if sh != sw:
            found.append(Mistake("the row and column strides are swapped: stride=(sh, sw) moves "
                                 "sh rows down and sw columns right.",
                                 attempt(conv2d_1ch, image, kernel, stride=(sw, sh))))
        found.append(Mistake(FLIPPED, attempt(conv2d_1ch, image, kernel[::-1, ::-1].copy(),
                                              stride=(sh, sw))))
        return found


@task("test_correlate2d_general")
class General(CaseTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        cases = [
            Case("7x7 image, 3x3 kernel, dilation 2",
                 (("image", rng.array((7, 7))), ("kernel", rng.array((3, 3), nonzero=True))),
                 (("stride", 1), ("padding", 0), ("dilation", 2), ("padding_mode", "zeros"))),
            Case("6x6 image, 3x3 kernel, padding 1, replicate",
                 (("image", rng.array((6, 6), nonzero=True)),
                  ("kernel", rng.array((3, 3), nonzero=True))),
                 (("stride", 1), ("padding", 1), ("dilation", 1), ("padding_mode", "replicate"))),
        ]
        if hidden:
            settings = [((2, 1, 2, "zeros"), (9, 10), (3, 3)),
                        ((1, 2, 3, "reflect"), (8, 8), (2, 2)),
                        ((2, 2, 1, "replicate"), (7, 9), (3, 2)),
                        (((1, 2), (0, 1), (3, 1), "zeros"), (12, 7), (3, 3)),
                        ((3, 1, 2, "reflect"), (10, 10), (3, 3)),
                        ((1, 0, 1, "zeros"), (5, 5), (5, 5))]
            for (s, p, d, mode), shape, kshape in settings:
                cases.append(Case(
                    f"{shape[0]}x{shape[1]} image, {kshape[0]}x{kshape[1]} kernel, stride {s}, "
                    f"padding {p} ({mode}), dilation {d}",
                    (("image", rng.array(shape, step=0.5, nonzero=True)),
                     ("kernel", rng.array(kshape, nonzero=True))),
                    (("stride", s), ("padding", p), ("dilation", d), ("padding_mode", mode))))
        return cases

    def expected(self, case):
        i = case.inputs()
        return correlate_reference(i["image"], i["kernel"], i["stride"], i["padding"],
                                   i["dilation"], i["padding_mode"])

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["image"].shape, i["kernel"].shape
        (sh, sw), (ph, pw), (dh, dw) = pair(i["stride"]), pair(i["padding"]), pair(i["dilation"])
        return f"{size_formula('H', H, KH, sh, ph, dh)}; {size_formula('W', W, KW, sw, pw, dw)}"

    def mistakes(self, case):
        i = case.inputs()
        image, kernel = f64(i["image"]), f64(i["kernel"])
        (H, W), (KH, KW) = image.shape, kernel.shape
        s, p, d = pair(i["stride"]), pair(i["padding"]), pair(i["dilation"])
        mode = i["padding_mode"]

        def run(s=s, p=p, d=d, mode=mode, k=kernel):
            return attempt(lambda: ops().conv2d(image[None, None], k.copy()[None, None], stride=s,
                                                padding=p, dilation=d, padding_mode=mode)[0, 0])

        found = [
            Mistake("you let the last window hang over the edge (the output size is rounded "
                    "up); it rounds down (floor).",
                    shape=(out_size(H, KH, s[0], p[0], d[0], True),
                           out_size(W, KW, s[1], p[1], d[1], True))),
            Mistake("the dilation is ignored: with dilation d the kernel taps are d cells apart.",
                    run(d=(1, 1))),
        ]
        if d != (1, 1):
            padded = run(k=np.ones((1, 1)), s=(1, 1), d=(1, 1))  # the padded image itself
            if padded is not None:
                found.append(Mistake(
                    "the dilation is applied to the image (`padded[::d, ::d]`), which skips "
                    "pixels; dilation spreads the KERNEL: its taps are d cells apart and every "
                    "pixel stays in play (build a kernel of size d(K-1)+1 with zeros between "
                    "the taps).",
                    attempt(conv2d_1ch, padded[::d[0], ::d[1]].copy(), kernel, stride=s)))
        for delta in (-1, 1):
            d2 = (d[0] + delta, d[1] + delta)
            if min(d2) >= 1:
                found.append(Mistake(f"the dilation is off by one: your output matches dilation "
                                     f"{d2} instead of {d} (dilation 1 means neighbouring taps; "
                                     "the taps are d cells apart).", run(d=d2),
                                     key=f"dilation {delta:+d}"))
        for delta in (-1, 1):
            s2 = (s[0] + delta, s[1] + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride {s2} "
                                     f"instead of {s}.", run(s=s2), key=f"stride {delta:+d}"))
        if p != (0, 0):
            found.append(Mistake("the padding is missing.", run(p=(0, 0))))
            for other in ("zeros", "reflect", "replicate"):
                if other != mode:
                    found.append(Mistake(f"wrong padding mode: you used '{other}' padding "
                                         f"instead of '{mode}'.", run(mode=other),
                                         key=f"padding mode -> {other}"))
        found.append(Mistake(FLIPPED, run(k=kernel[::-1, ::-1])))
        return found


check_correlate1d = Correlate1d.check
check_convolve1d = Convolve1d.check
check_correlate2d = Correlate2d.check
check_pad2d = Pad2d.check
check_output_size = OutputSize.check
check_correlate2d_strided = Strided.check
check_correlate2d_general = General.check
