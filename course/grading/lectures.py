"""The lecture notebooks' exercises: the tasks behind their "Your turn" cells.

Each lecture notebook has two or three small exercises. The reader writes the body of a
function in a cell that starts as a stub (``raise NotImplementedError()``), then runs the
check cell under it::

    from course.grading import lectures
    lectures.check_box_blur(box_blur)

The checks are tasks of the same engine as the problem sets' (:mod:`.engine`): the same
cases from the smallest, the same messages (the case, expected and received values, and
"Likely mistake: ..." only when the answer equals a typical mistake's answer in value).
Nothing here is graded: this "problem set" named ``lectures`` is never released and the
judge never runs it.

One difference: a stub that has not been answered yet is not an error. The notebooks
run top to bottom with every stub in place (in CI, in the book, for a reader who only
reads), so while the reader's function still raises :class:`NotImplementedError` the
check prints one line saying so and returns. ``check_x(fn, unanswered_ok=False)`` treats
the stub as a wrong answer, as a problem set's check does.

=========================================  ========  =====================================
check                                      notebook  what the reader writes
=========================================  ========  =====================================
``check_mlp_parameters``                   01        the parameter count of a dense network
``check_board_planes``                     01        a Go position as three input planes
``check_box_blur``                         02        the k x k neighbourhood average
``check_gaussian_kernel``                  02        the Gaussian blur kernel
``check_to_layer_layout``                  03        (H, W, C) to (1, C, H, W)
``check_same_padding``                     03        the padding that keeps the size
``check_locally_connected_parameters``     04        the parameters of a locally connected layer
``check_layers_to_cover``                  04        3 x 3 layers until the field covers the image
``check_batch_norm2d``                     05        batch normalisation in training mode
``check_pixel_cross_entropy``              05        the per-pixel loss of segmentation
``check_momentum_step``                    06        one step of SGD with momentum
``check_inverted_dropout``                 06        dropout with PyTorch's p
``check_flip_horizontal``                  06        the mirror augmentation of a batch
``check_box_iou``                          07        intersection over union of boxes
``check_nms``                              07        non-maximum suppression
=========================================  ========  =====================================
"""
from __future__ import annotations

import contextlib
import copy
import io
import math

import numpy as np

from .cases import Case, Mistake, make
from .engine import ArrayResult, ArraysResult, CaseTask, IntResult, problem_set
from .references import attempt, conv2d_1ch, correlate_reference, f64

task = problem_set("lectures")

__all__ = ["check_batch_norm2d", "check_board_planes", "check_box_blur", "check_box_iou",
           "check_flip_horizontal", "check_gaussian_kernel", "check_inverted_dropout",
           "check_layers_to_cover", "check_locally_connected_parameters",
           "check_mlp_parameters", "check_momentum_step", "check_nms",
           "check_pixel_cross_entropy", "check_same_padding", "check_to_layer_layout"]

UNANSWERED = ("{name}: not answered yet. Replace `raise NotImplementedError()` in `{function}` "
              "with your code, run that cell, then this one. Stuck? Open the worked solution "
              "below.")


def unanswered(task: CaseTask, fn) -> bool:
    """Whether ``fn`` is still a stub: it raises NotImplementedError on the smallest visible case."""
    if not callable(fn):
        return False
    case = min(task.cases(task.visible_rng(), False), key=lambda c: c.size)
    args, kwargs = copy.deepcopy(case.call_args())
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fn(*args, **kwargs)   # a trial call: what it prints would show twice
    except NotImplementedError:
        return True
    except Exception:  # noqa: BLE001 - any other error is the check's to report
        return False
    return False


class LectureTask(CaseTask):
    """A lecture exercise: a problem set's task whose check tolerates an unanswered stub."""

    @classmethod
    def check(cls, *objects, hidden: bool = False, unanswered_ok: bool = True) -> None:
        """Run the visible cases (``hidden=True``: fresh ones too) and print the verdict.

        While ``objects[0]`` still raises NotImplementedError, print that the exercise is
        not answered yet and return (``unanswered_ok=False``: judge it like any answer).
        A wrong answer raises AssertionError with the message, as in the problem sets.
        """
        __tracebackhide__ = True
        self = cls.registered
        if unanswered_ok and objects and unanswered(self, objects[0]):
            print(UNANSWERED.format(name=self.name, function=self.function))
            return
        super().check(*objects, hidden=hidden)


# --------------------------------------------------------------------------------------
# 01 · Why images need other models
def _mlp_count(sizes, *, bias=True, input_bias=False, bias_per_input=False):
    total = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        total += n_in * n_out
        if bias:
            total += n_in if bias_per_input else n_out
    if input_bias:
        total += sizes[0]
    return total


@task("test_mlp_parameters")
class MlpParameters(LectureTask):
    result = IntResult()

    def cases(self, rng, hidden):
        cases = [Case("the lecture's MNIST network, sizes [784, 1000, 10]", (("sizes", [784, 1000, 10]),)),
                 Case("one layer nn.Linear(20, 30), sizes [20, 30]", (("sizes", [20, 30]),)),
                 Case("notebook 06's dense network for 28 x 28 digits, sizes [784, 256, 256, 10]",
                      (("sizes", [784, 256, 256, 10]),))]
        if hidden:
            fixed = [[1, 1], [3, 1], [1, 5, 1], [4096, 4096, 1000], [2, 3, 4, 5, 6]]
            fixed += [rng.ints(1, 500, rng.ints(2, 6, 1)[0]) for _ in range(4)]
            cases += [Case(f"sizes {sizes}", (("sizes", sizes),)) for sizes in fixed]
        return cases

    def expected(self, case):
        return _mlp_count(case.inputs()["sizes"]), ""

    def shape_formula(self, case):
        sizes = case.inputs()["sizes"]
        terms = " + ".join(f"({a} + 1) * {b}" for a, b in zip(sizes[:-1], sizes[1:]))
        return f"sum over layers of (inputs + 1) * units = {terms}"

    def mistakes(self, case):
        sizes = case.inputs()["sizes"]
        found = [
            Mistake("the biases are missing: every unit of a layer has one bias besides its "
                    "weights, (inputs + 1) * units per layer.", _mlp_count(sizes, bias=False)),
            Mistake("the input layer got biases too: the inputs are the data, only the units "
                    "of the layers after it have a bias.", _mlp_count(sizes, input_bias=True)),
            Mistake("one bias per input instead of one per unit: a layer from n_in to n_out "
                    "has n_out biases.", _mlp_count(sizes, bias_per_input=True)),
        ]
        if len(sizes) > 2:
            found.append(Mistake("only the first layer is counted: add every pair of "
                                 "consecutive sizes.", _mlp_count(sizes[:2])))
        return found


BOARD = 19


def _planes(board, order=(1, -1, 0), axis=0):
    board = np.asarray(board)
    return np.stack([(board == value).astype(np.float64) for value in order], axis=axis)


def _position(rng, stones):
    """A 19 x 19 board with ``stones`` stones of each colour at distinct random points."""
    board = np.zeros((BOARD, BOARD))
    points = []
    while len(points) < 2 * stones:
        point = tuple(rng.ints(0, BOARD - 1, 2))
        if point not in points:
            points.append(point)
    for number, (r, c) in enumerate(points):
        board[r, c] = 1.0 if number % 2 == 0 else -1.0
    return board


@task("test_board_planes")
class BoardPlanes(LectureTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        board = np.zeros((BOARD, BOARD))
        board[3, 3] = board[15, 16] = 1.0
        board[3, 15] = -1.0
        cases = [Case("three stones: black at (3, 3) and (15, 16), white at (3, 15)", (("board", board),)),
                 Case("a position with five stones of each colour", (("board", _position(rng, 5)),))]
        if hidden:
            cases += [Case("the empty board", (("board", np.zeros((BOARD, BOARD))),)),
                      Case("a game in the middle: 40 stones of each colour", (("board", _position(rng, 40)),)),
                      Case("an int64 board", (("board", _position(rng, 12).astype(np.int64)),))]
        return cases

    def expected(self, case):
        return _planes(case.inputs()["board"]), "np.stack([board == 1, board == -1, board == 0])"

    def shape_formula(self, case):
        return "(3, 19, 19): one plane for black, one for white, one for the empty points"

    def mistakes(self, case):
        board = case.inputs()["board"]
        return [
            Mistake("the black and white planes are swapped: plane 0 marks black stones "
                    "(board == 1), plane 1 white ones (board == -1).", _planes(board, (-1, 1, 0))),
            Mistake("the planes are in the order of the values (-1, 0, 1); the order asked for is "
                    "black, white, empty.", _planes(board, (-1, 0, 1))),
            Mistake("the planes are last, (19, 19, 3): channels come first in PyTorch's layout, "
                    "(C, H, W).", _planes(board, axis=-1)),
            Mistake("the planes hold the board's values (1 and -1) instead of 1 where the point "
                    "belongs to the plane and 0 elsewhere.",
                    np.stack([np.where(board == 1, 1.0, 0.0), np.where(board == -1, -1.0, 0.0),
                              np.where(board == 0, 1.0, 0.0)])),
            Mistake("the empty plane is missing: (2, 19, 19) has black and white only; the third "
                    "plane marks the empty points (board == 0).", shape=(2, BOARD, BOARD)),
        ]


# --------------------------------------------------------------------------------------
# 02 · The convolution operation
NOISY = make((10, 10), [
    113, 122, 130, 128, 126, 125, 121, 121, 115, 127, 115, 112, 110, 111, 114, 119, 122, 117, 120, 117,
    105, 106, 105, 106, 108, 111, 113, 117, 118, 114, 94, 98, 101, 103, 105, 108, 110, 114, 114, 111,
    106, 109, 111, 112, 113, 114, 115, 113, 112, 111, 114, 113, 111, 110, 109, 0, 0, 0, 111, 113,
    110, 106, 106, 108, 111, 0, 0, 0, 107, 110, 109, 106, 108, 116, 124, 0, 0, 0, 106, 109,
    102, 97, 100, 109, 116, 117, 114, 118, 111, 114, 100, 108, 97, 100, 107, 90, 93, 97, 102, 110])
"""The lecture's 10 x 10 grey image with a hole (notebook 02, section 2)."""


@task("test_box_blur")
class BoxBlur(LectureTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        cases = [Case("the lecture's 10x10 image with a hole, k = 3", (("image", NOISY), ("k", 3))),
                 Case("a random 6x7 image, k = 2", (("image", rng.array((6, 7))), ("k", 2)))]
        if hidden:
            cases += [Case("k = 1 (no blur)", (("image", rng.array((4, 5))), ("k", 1))),
                      Case("a 9x7 image, k = 5", (("image", rng.array((9, 7), step=0.5)), ("k", 5))),
                      Case("k as large as the image", (("image", rng.array((4, 4))), ("k", 4))),
                      Case("a uint8 image (values up to 255), k = 3",
                           (("image", rng.array((8, 6), 0, 255, dtype="uint8")), ("k", 3)))]
        return cases

    def expected(self, case):
        i = case.inputs()
        k = i["k"]
        return correlate_reference(i["image"], np.full((k, k), 1.0 / k**2))

    def shape_formula(self, case):
        (H, W), k = case.inputs()["image"].shape, case.inputs()["k"]
        return f"(H - k + 1, W - k + 1) = ({H} - {k} + 1, {W} - {k} + 1) = ({H - k + 1}, {W - k + 1})"

    def mistakes(self, case):
        image, k = f64(case.inputs()["image"]), case.inputs()["k"]
        total = conv2d_1ch(image, np.ones((k, k)))
        return [
            Mistake("the box is not normalised: divide the window's sum by k * k (its number of "
                    "pixels) to get the average.", total),
            Mistake("you divided by k; a k x k window holds k * k pixels.", total / k),
            Mistake("you returned a 'same'-size output (zero padding around the image); the "
                    "exercise asks for 'valid': only windows that lie inside the image.",
                    attempt(conv2d_1ch, image, np.full((k, k), 1.0 / k**2), padding="same")),
            Mistake("one position too few along each axis: a k-wide window fits at H - k + 1 "
                    "row positions (range(H - k + 1)).", (total / k**2)[:-1, :-1]),
            Mistake("your output is as large as the image ('same'); 'valid' keeps only the "
                    "windows that lie inside the image.", shape=image.shape),
        ]


def _gaussian(size, sigma, *, normalise=True, two=True, square_sigma=True, corner=False, distance=False):
    offsets = np.arange(size) - (0 if corner else (size - 1) / 2)
    r2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    r = np.sqrt(r2) if distance else r2
    spread = (2 if two else 1) * (sigma**2 if square_sigma else sigma)
    kernel = np.exp(-r / spread)
    return kernel / kernel.sum() if normalise else kernel


@task("test_gaussian_kernel")
class GaussianKernel(LectureTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        settings = [(3, 1.0), (5, 0.5)]
        if hidden:
            settings += [(1, 1.0), (7, 2.0), (5, 3.0), (9, 1.5)]
        return [Case(f"size {k}, sigma {s}", (("size", k),), (("sigma", s),)) for k, s in settings]

    def expected(self, case):
        i = case.inputs()
        return _gaussian(i["size"], i["sigma"]), "exp(-(dy**2 + dx**2) / (2 sigma**2)), normalised, with NumPy"

    def mistakes(self, case):
        k, s = case.inputs()["size"], case.inputs()["sigma"]
        return [
            Mistake("the kernel is not normalised: divide by its sum, so that the weights add up "
                    "to 1 and the blur keeps the brightness (a low-pass kernel passes frequency "
                    "0 unchanged).", _gaussian(k, s, normalise=False)),
            Mistake("the 2 is missing: the Gaussian is exp(-r**2 / (2 sigma**2)).", _gaussian(k, s, two=False)),
            Mistake("sigma is not squared: the Gaussian is exp(-r**2 / (2 sigma**2)).",
                    _gaussian(k, s, square_sigma=False)),
            Mistake("the offsets start at the corner (0 ... size - 1); measure them from the "
                    "centre pixel, (size - 1) / 2, so that the peak is in the middle.",
                    _gaussian(k, s, corner=True)),
            Mistake("you used the distance r instead of its square: exp(-r**2 / (2 sigma**2)) "
                    "with r**2 = dy**2 + dx**2.", _gaussian(k, s, distance=True)),
        ]


# --------------------------------------------------------------------------------------
# 03 · The convolutional layer
@task("test_to_layer_layout")
class ToLayerLayout(LectureTask):
    result = ArrayResult()
    forbidden = (("course.data", "to_tensor_layout"),)

    def cases(self, rng, hidden):
        image = np.arange(18.0).reshape(2, 3, 3)
        cases = [Case("a 2 x 3 RGB image with the values 0 ... 17", (("image", image),)),
                 Case("a 4 x 5 RGB image, uint8", (("image", rng.array((4, 5, 3), 0, 255, dtype="uint8")),))]
        if hidden:
            cases += [Case("one pixel", (("image", rng.array((1, 1, 3))),)),
                      Case("a 6 x 2 grey image with its channel axis (C = 1)", (("image", rng.array((6, 2, 1))),)),
                      Case("a 7 x 9 image with 4 channels", (("image", rng.array((7, 9, 4), step=0.5)),))]
        return cases

    def expected(self, case):
        image = case.inputs()["image"]
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None]), "image.transpose(2, 0, 1)[None]"

    def shape_formula(self, case):
        H, W, C = case.inputs()["image"].shape
        return f"(1, C, H, W) = (1, {C}, {H}, {W})"

    def mistakes(self, case):
        image = case.inputs()["image"]
        H, W, C = image.shape
        return [
            Mistake("you reshaped instead of moving the axis: `reshape` keeps the order of the "
                    "values in memory (pixel by pixel, R G B R G B ...), so each 'channel' "
                    "mixes colours and places. Move the channel axis with `transpose(2, 0, 1)` "
                    "(or np.moveaxis).", image.reshape(1, C, H, W)),
            Mistake("height and width are swapped: transpose(2, 1, 0) gives (C, W, H); "
                    "transpose(2, 0, 1) keeps height before width.", image.transpose(2, 1, 0)[None]),
            Mistake("the batch axis is missing: the layer layout is (N, C, H, W), here with "
                    "N = 1 (`[None]` or np.newaxis in front).", image.transpose(2, 0, 1)),
            Mistake("you added the batch axis but left the channels last: (1, H, W, C) is "
                    "TensorFlow's layout; PyTorch wants (1, C, H, W).", image[None]),
        ]


def _same(k, d):
    return d * (k - 1) // 2


@task("test_same_padding")
class SamePadding(LectureTask):
    result = IntResult()
    forbidden = (("course.ops", "same_padding"), ("course.ops.arithmetic", "same_padding"))

    def cases(self, rng, hidden):
        settings = [(3, 1), (5, 1), (3, 2)]
        if hidden:
            settings += [(1, 1), (7, 1), (11, 1), (3, 4), (5, 3), (1, 5)]
            settings += [(2 * rng.ints(0, 5, 1)[0] + 1, rng.ints(1, 8, 1)[0]) for _ in range(4)]
        return [Case(f"kernel {k}, dilation {d}", (("kernel_size", k),), (("dilation", d),))
                for k, d in settings]

    def expected(self, case):
        i = case.inputs()
        return _same(i["kernel_size"], i["dilation"]), ""

    def shape_formula(self, case):
        k, d = case.inputs()["kernel_size"], case.inputs()["dilation"]
        return (f"the dilated kernel spans d(K - 1) + 1 = {d * (k - 1) + 1} pixels; padding "
                f"d(K - 1) / 2 = {d} * {k - 1} / 2 = {_same(k, d)} on each side keeps the size")

    def mistakes(self, case):
        k, d = case.inputs()["kernel_size"], case.inputs()["dilation"]
        return [
            Mistake("the dilation is ignored: with dilation d the kernel spans d(K - 1) + 1 "
                    "pixels, so the padding grows with d.", (k - 1) // 2),
            Mistake("this is the total padding d(K - 1); it is split between the two sides, "
                    "half before and half after.", d * (k - 1)),
            Mistake("one too many: padding d(K - 1) / 2 on each side keeps the size; "
                    "the kernel's centre pixel needs no padding.", d * (k - 1) // 2 + 1),
            Mistake("the dilated kernel spans d(K - 1) + 1 pixels, not d * K: a 3 x 3 kernel "
                    "with dilation 2 covers 5 pixels.", d * k // 2),
        ]


# --------------------------------------------------------------------------------------
# 04 · Convolution vs fully connected layers
def _local(H, W, k, C, F, bias, *, outputs=True, shared_bias=False, channels=True, square=True):
    Ho, Wo = (H - k + 1, W - k + 1) if outputs else (H, W)
    weights = Ho * Wo * F * (C if channels else 1) * (k * k if square else k)
    if not bias:
        return weights
    return weights + (F if shared_bias else Ho * Wo * F)


@task("test_locally_connected_parameters")
class LocallyConnectedParameters(LectureTask):
    result = IntResult()

    def cases(self, rng, hidden):
        settings = [(3, 3, 2, 1, 1, False), (32, 32, 3, 1, 1, False), (32, 32, 5, 1, 6, True)]
        if hidden:
            settings += [(1, 1, 1, 1, 1, True), (5, 7, 5, 3, 2, True), (10, 4, 1, 2, 3, False),
                         (28, 28, 3, 16, 8, True)]
            for _ in range(4):
                k = rng.ints(1, 7, 1)[0]
                C, F = rng.ints(1, 16, 2)
                settings.append((k + rng.ints(0, 30, 1)[0], k + rng.ints(0, 30, 1)[0], k, C, F,
                                 bool(rng.ints(0, 1, 1)[0])))
        return [Case(f"{H} x {W} x {C} input, {F} maps, {k} x {k} windows, bias={b}",
                     (("height", H), ("width", W), ("kernel_size", k)),
                     (("in_channels", C), ("out_channels", F), ("bias", b)))
                for H, W, k, C, F, b in settings]

    def _inputs(self, case):
        i = case.inputs()
        return (i["height"], i["width"], i["kernel_size"], i["in_channels"], i["out_channels"], i["bias"])

    def expected(self, case):
        return _local(*self._inputs(case)), ""

    def shape_formula(self, case):
        H, W, k, C, F, b = self._inputs(case)
        tail = f" + (H - K + 1)(W - K + 1) F = {(H - k + 1) * (W - k + 1) * F} biases" if b else ""
        return (f"(H - K + 1)(W - K + 1) F K^2 C = {H - k + 1} * {W - k + 1} * {F} * {k * k} * {C} "
                f"weights{tail}: every output unit has its own window of weights (and its own bias)")

    def mistakes(self, case):
        H, W, k, C, F, b = self._inputs(case)
        found = [
            Mistake("that is the convolution's count: its (K^2 C + 1) F parameters are shared by "
                    "all positions. A locally connected layer has its own weights at every "
                    "output pixel.", (k * k * C + (1 if b else 0)) * F),
            Mistake("you counted one window per INPUT pixel; there is one per output pixel, "
                    "(H - K + 1) (W - K + 1) of them.", _local(H, W, k, C, F, b, outputs=False)),
            Mistake("the input channels are missing: each window has K x K weights for each of "
                    "the C input channels.", _local(H, W, k, C, F, b, channels=False)),
            Mistake("a K x K window has K * K weights, not K.", _local(H, W, k, C, F, b, square=False)),
        ]
        if b:
            found.append(Mistake("one bias per feature map is the convolution's sharing; a "
                                 "locally connected layer has a bias for every output unit, "
                                 "(H - K + 1)(W - K + 1) F of them.", _local(H, W, k, C, F, b, shared_bias=True)))
        return found


@task("test_layers_to_cover")
class LayersToCover(LectureTask):
    result = IntResult()

    def cases(self, rng, hidden):
        settings = [(7, 3), (512, 3), (28, 5)]
        if hidden:
            settings += [(1, 3), (3, 3), (2, 2), (4, 3), (224, 7), (32, 2)]
            settings += [(rng.ints(1, 600, 1)[0], rng.ints(2, 9, 1)[0]) for _ in range(4)]
        return [Case(f"a {n} x {n} image, {k} x {k} layers", (("image_size", n), ("kernel_size", k)))
                for n, k in settings]

    def expected(self, case):
        n, k = case.inputs()["image_size"], case.inputs()["kernel_size"]
        return math.ceil((n - 1) / (k - 1)), ""

    def shape_formula(self, case):
        n, k = case.inputs()["image_size"], case.inputs()["kernel_size"]
        L = math.ceil((n - 1) / (k - 1))
        return (f"after L layers the field is 1 + L (K - 1); the smallest L with 1 + L * {k - 1} >= "
                f"{n} is {L} (1 + {L} * {k - 1} = {1 + L * (k - 1)})")

    def mistakes(self, case):
        n, k = case.inputs()["image_size"], case.inputs()["kernel_size"]
        return [
            Mistake("you rounded down: the field must reach at least the image size, so round "
                    "up (math.ceil, or -(-a // b)).", (n - 1) // (k - 1)),
            Mistake("a single pixel already has field 1: the layers only need to add n - 1 "
                    "pixels, (K - 1) per layer.", math.ceil(n / (k - 1))),
            Mistake("each stride-1 layer widens the field by K - 1 pixels, not K.",
                    math.ceil((n - 1) / k)),
            Mistake("you rounded down and forgot that one pixel is there from the start.",
                    n // (k - 1)),
        ]


# --------------------------------------------------------------------------------------
# 05 · Architectures
def _bn(x, gamma, beta, eps, axes=(0, 2, 3), ddof=0, eps_on_std=False, swap=False):
    x = f64(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    scale = (np.sqrt(var) + eps) if eps_on_std else np.sqrt(var + eps)
    g, b = (beta, gamma) if swap else (gamma, beta)
    return (x - mean) / scale * f64(g)[None, :, None, None] + f64(b)[None, :, None, None]


@task("test_batch_norm2d")
class BatchNorm2d(LectureTask):
    result = ArrayResult()
    forbidden = (("torch.nn.functional", "batch_norm"), ("torch", "batch_norm"))

    def cases(self, rng, hidden):
        small = rng.uniform((2, 3, 2, 2))
        small[:, 2] = 0.5 + 1e-3 * rng.uniform((2, 2, 2))   # an almost constant channel: eps matters
        cases = [
            Case("a batch of 2, 3 channels of 2 x 2; channel 2 is almost constant",
                 (("x", small), ("gamma", make((3,), [1.0, 2.0, 0.5])), ("beta", make((3,), [0.0, -1.0, 3.0]))),
                 (("eps", 1e-5),)),
            Case("a batch of 4, 2 channels of 3 x 3",
                 (("x", 3 * rng.uniform((4, 2, 3, 3)) + 1), ("gamma", rng.uniform((2,))),
                  ("beta", rng.uniform((2,)))), (("eps", 1e-5),)),
        ]
        if hidden:
            cases += [
                Case("a batch of one image", (("x", rng.uniform((1, 2, 3, 3))), ("gamma", rng.uniform((2,))),
                                              ("beta", rng.uniform((2,)))), (("eps", 1e-5),)),
                Case("one channel, eps = 0.1", (("x", rng.uniform((3, 1, 2, 4))), ("gamma", make((1,), [1.5])),
                                                ("beta", make((1,), [0.25]))), (("eps", 0.1),)),
                Case("8 channels of 5 x 5", (("x", 10 * rng.uniform((3, 8, 5, 5))), ("gamma", rng.uniform((8,))),
                                              ("beta", rng.uniform((8,)))), (("eps", 1e-5),)),
            ]
        return cases

    def expected(self, case):
        import torch

        i = case.inputs()
        with torch.no_grad():
            y = torch.nn.functional.batch_norm(
                torch.tensor(f64(i["x"])), None, None, torch.tensor(f64(i["gamma"])),
                torch.tensor(f64(i["beta"])), training=True, eps=i["eps"])
        return y.numpy(), "PyTorch float64, F.batch_norm(training=True)"

    def mistakes(self, case):
        i = case.inputs()
        x, g, b, eps = i["x"], i["gamma"], i["beta"], i["eps"]
        return [
            Mistake("one mean and variance for the whole batch: batch normalisation computes "
                    "them per CHANNEL, over the batch and all positions (axis=(0, 2, 3)).",
                    _bn(x, g, b, eps, axes=(0, 1, 2, 3))),
            Mistake("per image (axis=(1, 2, 3)): that is layer normalisation. Batch "
                    "normalisation averages each channel over the batch and the positions, "
                    "axis=(0, 2, 3).", _bn(x, g, b, eps, axes=(1, 2, 3))),
            Mistake("per image and channel (axis=(2, 3)): that is instance normalisation. "
                    "Batch normalisation also averages over the batch, axis=(0, 2, 3).",
                    _bn(x, g, b, eps, axes=(2, 3))),
            Mistake("over the batch only (axis=0): one mean per channel AND position. Batch "
                    "normalisation in 2-D shares them across positions, axis=(0, 2, 3).",
                    _bn(x, g, b, eps, axes=(0,))),
            Mistake("the variance is the unbiased one (ddof=1); batch normalisation divides by "
                    "the number of values (np.var's default, ddof=0).", _bn(x, g, b, eps, ddof=1)),
            Mistake("eps is missing: divide by sqrt(var + eps), so an almost constant channel "
                    "does not blow up.", _bn(x, g, b, 0.0)),
            Mistake("eps is added to the standard deviation; it belongs under the root: "
                    "sqrt(var + eps).", _bn(x, g, b, eps, eps_on_std=True)),
            Mistake("gamma and beta are swapped: gamma scales, beta shifts.", _bn(x, g, b, eps, swap=True)),
        ]


def _log_softmax(scores, axis):
    s = f64(scores)
    s = s - s.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _pick(values, labels):
    return np.take_along_axis(values, labels[:, None].astype(np.int64), axis=1)[:, 0]


@task("test_pixel_cross_entropy")
class PixelCrossEntropy(LectureTask):
    result = ArrayResult()
    forbidden = (("torch.nn.functional", "cross_entropy"), ("torch.nn.functional", "nll_loss"))

    def cases(self, rng, hidden):
        scores = make((1, 2, 2, 3), [2.0, -1.0, 0.0, 1.0, 0.5, -2.0, -1.0, 1.5, 0.0, 0.0, 3.0, 1.0])
        labels = make((1, 2, 3), [0, 1, 0, 1, 1, 0], "int64")
        cases = [Case("one 2 x 3 image, two classes (background 0, digit 1)",
                      (("scores", scores), ("labels", labels))),
                 Case("two 3 x 4 images, three classes",
                      (("scores", 2 * rng.uniform((2, 3, 3, 4))), ("labels", rng.array((2, 3, 4), 0, 2, dtype="int64"))))]
        if hidden:
            cases += [
                Case("one pixel, five classes", (("scores", rng.uniform((1, 5, 1, 1))),
                                                 ("labels", make((1, 1, 1), [4], "int64")))),
                Case("large scores (up to 50)", (("scores", 25 * rng.uniform((2, 2, 4, 4))),
                                                 ("labels", rng.array((2, 4, 4), 0, 1, dtype="int64")))),
                Case("three 5 x 6 images, four classes", (("scores", rng.uniform((3, 4, 5, 6))),
                                                          ("labels", rng.array((3, 5, 6), 0, 3, dtype="int64")))),
            ]
        return cases

    def expected(self, case):
        import torch

        i = case.inputs()
        loss = torch.nn.functional.cross_entropy(torch.tensor(f64(i["scores"])),
                                                 torch.tensor(i["labels"].astype(np.int64)), reduction="none")
        return loss.numpy(), "PyTorch float64, F.cross_entropy(reduction='none')"

    def shape_formula(self, case):
        N, K, H, W = case.inputs()["scores"].shape
        return f"one loss per pixel: (N, H, W) = ({N}, {H}, {W}); the K = {K} classes are axis 1 of the scores"

    def mistakes(self, case):
        scores, labels = f64(case.inputs()["scores"]), case.inputs()["labels"]
        log_p = _log_softmax(scores, 1)
        found = [
            Mistake("the softmax runs over the last axis (the image's width); the classes are "
                    "axis 1 of scores (N, K, H, W): normalise over axis=1.",
                    -_pick(_log_softmax(scores, -1), labels) if scores.shape[-1] > 1 else None),
            Mistake("there is no softmax: the loss is -log of the PROBABILITY of the true class, "
                    "softmax(scores) over axis 1, not minus its score.", -_pick(scores, labels)),
            Mistake("the minus sign is missing: the loss -log p is >= 0, small when the true "
                    "class gets a high probability.", _pick(log_p, labels)),
            Mistake("the log is missing: cross-entropy is -log p of the true class, not -p.",
                    -_pick(np.exp(log_p), labels)),
            Mistake("you averaged over the pixels; return one loss per pixel, shape (N, H, W) "
                    "(the training loss is their mean).", shape=()),
        ]
        return found


# --------------------------------------------------------------------------------------
# 06 · Training
@task("test_momentum_step")
class MomentumStep(LectureTask):
    result = ArraysResult("w", "velocity")

    def cases(self, rng, hidden):
        cases = [Case("two weights, the first step (velocity 0)",
                      (("w", make((2,), [1.0, -2.0])), ("velocity", make((2,), [0.0, 0.0])),
                       ("grad", make((2,), [0.5, -1.0]))), (("lr", 0.1), ("momentum", 0.9))),
                 Case("a 2 x 3 weight in mid-training",
                      (("w", rng.uniform((2, 3))), ("velocity", rng.uniform((2, 3))), ("grad", rng.uniform((2, 3)))),
                      (("lr", 0.05), ("momentum", 0.9)))]
        if hidden:
            cases += [Case("momentum 0 (plain SGD)", (("w", rng.uniform((4,))), ("velocity", rng.uniform((4,))),
                                                      ("grad", rng.uniform((4,)))), (("lr", 0.2), ("momentum", 0.0))),
                      Case("a conv weight (3, 2, 3, 3), momentum 0.5",
                           (("w", rng.uniform((3, 2, 3, 3))), ("velocity", rng.uniform((3, 2, 3, 3))),
                            ("grad", rng.uniform((3, 2, 3, 3)))), (("lr", 0.01), ("momentum", 0.5)))]
        return cases

    def _parts(self, case, form="torch"):
        i = case.inputs()
        w, v, g, lr, mu = f64(i["w"]), f64(i["velocity"]), f64(i["grad"]), i["lr"], i["momentum"]
        if form == "torch":
            v_new = mu * v + g
            return w - lr * v_new, v_new
        if form == "classic":     # v <- mu v - lr g, w <- w + v, applied to PyTorch's velocity
            v_new = mu * v - lr * g
            return w + v_new, v_new
        if form == "old":
            return w - lr * v, mu * v + g
        if form == "sgd":
            return w - lr * g, g
        if form == "sign":
            v_new = mu * v + g
            return w + lr * v_new, v_new
        if form == "lr_inside":
            v_new = mu * v + lr * g
            return w - lr * v_new, v_new
        raise ValueError(form)

    def expected(self, case):
        return self._parts(case), "PyTorch's SGD: v = momentum * v + grad; w = w - lr * v"

    def part_shape_formula(self, case, index):
        return "the same shape as w"

    def part_mistakes(self, case, index):
        messages = {
            "old": "the step uses the OLD velocity; update the velocity first (v = momentum * v "
                   "+ grad), then step with the new one.",
            "sgd": "the momentum is missing: that is a plain gradient step; the velocity "
                   "carries momentum * velocity from the steps before.",
            "sign": "the step goes uphill: subtract lr * velocity from w.",
            "classic": "this is the other common form (v = momentum * v - lr * grad; w = w + v); "
                       "PyTorch keeps the learning rate out of the velocity: v = momentum * v + "
                       "grad, then w = w - lr * v.",
            "lr_inside": "the learning rate is applied twice: PyTorch's velocity is momentum * "
                         "v + grad (no lr), and the step is lr * velocity.",
        }
        right = self._parts(case)[index]
        found = []
        for form, message in messages.items():
            value = self._parts(case, form)[index]
            found.append(Mistake(message, value if not np.allclose(value, right) else None))
        return found


@task("test_inverted_dropout")
class InvertedDropout(LectureTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        cases = [Case("eight activations, p = 0.25 (drop one in four)",
                      (("x", make((8,), [1, 2, 3, 4, 5, 6, 7, 8])),
                       ("keep", make((8,), [1, 0, 1, 1, 1, 1, 0, 1], "bool"))), (("p", 0.25),)),
                 Case("a 3 x 4 batch of activations, p = 0.6",
                      (("x", rng.uniform((3, 4))), ("keep", rng.array((3, 4), 0, 1, dtype="bool"))), (("p", 0.6),))]
        if hidden:
            cases += [Case("p = 0 (nothing dropped)", (("x", rng.uniform((5,))), ("keep", np.ones(5, bool))),
                           (("p", 0.0),)),
                      Case("feature maps (2, 3, 4, 4), p = 0.1",
                           (("x", rng.uniform((2, 3, 4, 4))), ("keep", rng.array((2, 3, 4, 4), 0, 1, dtype="bool"))),
                           (("p", 0.1),))]
        return cases

    def expected(self, case):
        i = case.inputs()
        return f64(i["x"]) * i["keep"] / (1 - i["p"]), "x * keep / (1 - p), as torch.nn.Dropout(p) in training"

    def mistakes(self, case):
        i = case.inputs()
        x, keep, p = f64(i["x"]), i["keep"], i["p"]
        return [
            Mistake("you divided by p: in PyTorch p is the probability to DROP a unit, so a unit "
                    "is kept with probability 1 - p and the kept ones are divided by 1 - p. (The "
                    "lecture's p is the keep probability: the two conventions meet here.)",
                    x * keep / p if p else None),
            Mistake("the kept activations are not rescaled: divide them by 1 - p, so that the "
                    "expected value of every unit stays what it is at test time.", x * keep),
            Mistake("the mask is inverted: `keep` is True for the units that stay.",
                    x * ~keep / (1 - p)),
            Mistake("you multiplied by 1 - p: that is the original dropout's TEST-time scaling; "
                    "inverted dropout divides by 1 - p during training and leaves test time alone.",
                    x * keep * (1 - p)),
        ]


@task("test_flip_horizontal")
class FlipHorizontal(LectureTask):
    result = ArrayResult()

    def cases(self, rng, hidden):
        cases = [Case("one 2 x 3 grey image", (("images", np.arange(6.0).reshape(1, 1, 2, 3)),)),
                 Case("two RGB images of 3 x 4", (("images", rng.array((2, 3, 3, 4))),))]
        if hidden:
            cases += [Case("a batch of 4 digits, 5 x 6", (("images", rng.uniform((4, 1, 5, 6))),)),
                      Case("one pixel wide", (("images", rng.array((3, 2, 4, 1))),))]
        return cases

    def expected(self, case):
        return case.inputs()["images"][..., ::-1].copy(), "images[..., ::-1]"

    def mistakes(self, case):
        x = case.inputs()["images"]
        return [
            Mistake("you flipped top to bottom (axis 2, the height): a horizontal flip reverses "
                    "the width, the last axis of (N, C, H, W).", x[:, :, ::-1].copy()),
            Mistake("you reversed the channels (axis 1): for RGB that swaps red and blue; flip "
                    "the width, the last axis.", x[:, ::-1].copy()),
            Mistake("you reversed the order of the images in the batch (axis 0); flip the "
                    "width, the last axis.", x[::-1].copy()),
            Mistake("you rotated by 180 degrees (both height and width reversed); flip the "
                    "width only.", x[:, :, ::-1, ::-1].copy()),
            Mistake("height and width are swapped (a transpose, not a mirror).", x.transpose(0, 1, 3, 2).copy()),
        ]


# --------------------------------------------------------------------------------------
# 07 · What CNNs learn (and detection)
def _iou(a, b, *, clip=True, subtract=True, smaller=False, inclusive=False):
    a, b = f64(a), f64(b)
    plus = 1.0 if inclusive else 0.0
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + plus
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + plus
    if clip:
        w, h = np.clip(w, 0, None), np.clip(h, 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0] + plus) * (a[:, 3] - a[:, 1] + plus)
    area_b = (b[:, 2] - b[:, 0] + plus) * (b[:, 3] - b[:, 1] + plus)
    if smaller:
        union = np.minimum(area_a[:, None], area_b[None, :])
    else:
        union = area_a[:, None] + area_b[None, :] - (inter if subtract else 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def _random_boxes(rng, count, limit=20):
    x0, y0 = np.array(rng.ints(0, limit, count)), np.array(rng.ints(0, limit, count))
    w, h = np.array(rng.ints(1, 10, count)), np.array(rng.ints(1, 10, count))
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1).astype(np.float64)


@task("test_box_iou")
class BoxIou(LectureTask):
    result = ArrayResult()
    libraries = False
    forbidden = (("course.detection", "box_iou"),)

    def cases(self, rng, hidden):
        cases = [
            Case("one box against an overlapping one and a distant one",
                 (("boxes_a", make((1, 4), [0, 0, 2, 2])), ("boxes_b", make((2, 4), [1, 0, 3, 2, 5, 5, 6, 6])))),
            Case("three boxes against two: nested, apart, shifted",
                 (("boxes_a", make((3, 4), [0, 0, 10, 10, 20, 0, 30, 10, 2, 2, 6, 8])),
                  ("boxes_b", make((2, 4), [2, 2, 6, 6, 12, 12, 18, 18])))),
        ]
        if hidden:
            cases += [
                Case("a box with itself", (("boxes_a", make((1, 4), [3, 4, 9, 7])), ("boxes_b", make((1, 4), [3, 4, 9, 7])))),
                Case("boxes that touch along an edge", (("boxes_a", make((1, 4), [0, 0, 4, 4])),
                                                        ("boxes_b", make((2, 4), [4, 0, 8, 4, 0, 4, 4, 8])))),
                Case("random boxes, 5 against 4", (("boxes_a", _random_boxes(rng, 5)), ("boxes_b", _random_boxes(rng, 4)))),
                Case("32 x 32 windows against digit boxes",
                     (("boxes_a", make((3, 4), [0, 0, 32, 32, 4, 4, 36, 36, 40, 8, 72, 40])),
                      ("boxes_b", make((2, 4), [2, 2, 34, 34, 44, 10, 76, 42])))),
            ]
        return cases

    def expected(self, case):
        from course.detection import box_iou

        i = case.inputs()
        return box_iou(i["boxes_a"], i["boxes_b"]), "course.detection.box_iou (NumPy)"

    def shape_formula(self, case):
        N, M = len(case.inputs()["boxes_a"]), len(case.inputs()["boxes_b"])
        return f"(N, M) = ({N}, {M}): one IoU per pair (box of boxes_a, box of boxes_b)"

    def mistakes(self, case):
        a, b = case.inputs()["boxes_a"], case.inputs()["boxes_b"]
        return [
            Mistake("the overlaps are not clipped at 0: for boxes that do not meet, "
                    "min(x1) - max(x0) is negative (and two negatives multiply to a positive "
                    "'area'); use max(0, ...) for the width and the height of the intersection.",
                    _iou(a, b, clip=False)),
            Mistake("the union counts the intersection twice: union = area_a + area_b - "
                    "intersection.", _iou(a, b, subtract=False)),
            Mistake("you divided by the smaller box's area (intersection over minimum), not by "
                    "the union.", _iou(a, b, smaller=True)),
            Mistake("you added 1 to widths and heights (inclusive pixel corners); here x1 and y1 "
                    "are excluded, as in image[y0:y1, x0:x1], so a box is x1 - x0 wide.",
                    _iou(a, b, inclusive=True)),
            Mistake("rows and columns are swapped: row i is box i of boxes_a, column j box j of "
                    "boxes_b, shape (N, M).", _iou(b, a)),
        ]


def _nms(boxes, scores, threshold, *, remove_equal=False, lowest_first=False, ordered=True,
         all_pairs=False):
    """NMS as it should be, or with one typical mistake."""
    boxes, scores = f64(boxes), f64(scores)
    order = list(np.argsort(scores if lowest_first else -scores, kind="stable"))
    iou = _iou(boxes, boxes)
    removes = (iou >= threshold) if remove_equal else (iou > threshold)
    keep = []
    if all_pairs:   # a box is dropped when ANY higher-scoring box overlaps it, kept or not
        keep = [j for rank, j in enumerate(order) if not any(removes[i, j] for i in order[:rank])]
    else:
        while order:
            best = order.pop(0)
            keep.append(best)
            order = [j for j in order if not removes[best, j]]
    keep = np.array(keep, dtype=np.int64)
    return keep if ordered else np.sort(keep)


@task("test_nms")
class Nms(LectureTask):
    result = ArrayResult()
    libraries = False   # course.detection.box_iou is allowed here
    forbidden = (("course.detection", "nms"),)

    def cases(self, rng, hidden):
        boxes = make((5, 4), [0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 21, 20, 31, 30, 2, 0, 12, 10])
        cases = [
            Case("five windows around two objects",
                 (("boxes", boxes), ("scores", make((5,), [0.7, 0.8, 0.6, 0.9, 0.5]))), (("iou_threshold", 0.5),)),
            Case("a chain: box 0 overlaps box 1, box 1 overlaps box 2, boxes 0 and 2 do not",
                 (("boxes", make((3, 4), [0, 0, 10, 10, 6, 0, 16, 10, 12, 0, 22, 10])),
                  ("scores", make((3,), [0.9, 0.8, 0.7]))), (("iou_threshold", 0.1),)),
            Case("an overlap of exactly the threshold (IoU 0.5 is not 'more than' 0.5)",
                 (("boxes", make((2, 4), [0, 0, 4, 2, 0, 0, 2, 2])), ("scores", make((2,), [0.9, 0.8]))),
                 (("iou_threshold", 0.5),)),
        ]
        if hidden:
            cases += [
                Case("a single box", (("boxes", make((1, 4), [3, 3, 8, 8])), ("scores", make((1,), [0.4]))),
                     (("iou_threshold", 0.5),)),
                Case("30 random boxes, threshold 0.3",
                     (("boxes", _random_boxes(rng, 30, 15)), ("scores", rng.uniform((30,), 0, 1))),
                     (("iou_threshold", 0.3),)),
                Case("no overlaps at all", (("boxes", make((3, 4), [0, 0, 2, 2, 5, 5, 7, 7, 10, 0, 12, 2])),
                                            ("scores", make((3,), [0.1, 0.3, 0.2]))), (("iou_threshold", 0.5),)),
            ]
        return cases

    def expected(self, case):
        from course.detection import nms

        i = case.inputs()
        return nms(i["boxes"], i["scores"], i["iou_threshold"]), "course.detection.nms (NumPy)"

    def mistakes(self, case):
        i = case.inputs()
        b, s, t = i["boxes"], i["scores"], i["iou_threshold"]
        return [
            Mistake("the kept indices are sorted by index; return them by score, highest first "
                    "(the order in which NMS keeps them).", _nms(b, s, t, ordered=False)),
            Mistake("you start from the LOWEST score; NMS keeps the most confident box and "
                    "removes its overlapping neighbours.", _nms(b, s, t, lowest_first=True)),
            Mistake("boxes whose IoU equals the threshold are removed too; remove only those "
                    "that overlap by MORE than iou_threshold (keep IoU <= threshold).",
                    _nms(b, s, t, remove_equal=True)),
            Mistake("a box was dropped because it overlaps a better box that was itself "
                    "removed; only KEPT boxes remove others: take the best box left, drop its "
                    "neighbours, repeat with the best box still left.", _nms(b, s, t, all_pairs=True)),
            Mistake("nothing was suppressed: that is every box by decreasing score.",
                    np.argsort(-f64(s), kind="stable").astype(np.int64)),
        ]


check_mlp_parameters = MlpParameters.check
check_board_planes = BoardPlanes.check
check_box_blur = BoxBlur.check
check_gaussian_kernel = GaussianKernel.check
check_to_layer_layout = ToLayerLayout.check
check_same_padding = SamePadding.check
check_locally_connected_parameters = LocallyConnectedParameters.check
check_layers_to_cover = LayersToCover.check
check_batch_norm2d = BatchNorm2d.check
check_pixel_cross_entropy = PixelCrossEntropy.check
check_momentum_step = MomentumStep.check
check_inverted_dropout = InvertedDropout.check
check_flip_horizontal = FlipHorizontal.check
check_box_iou = BoxIou.check
check_nms = Nms.check
