"""Unit tests of the tasks of ps1-ps3 (course/grading/ps1.py ... ps3.py): verdicts,
diagnoses and refused shortcuts, as a student sees them in the notebook.

The correct implementations are the instructor solutions of source/ps1 to ps3,
executed here; each wrong implementation is one typical mistake. The same tasks run
in the judge when grading (tests/test_judge.py); tampering with the checks is tried
there, on real notebooks graded through course-admin (tests/test_hostile.py).
"""
from __future__ import annotations

import re
import types

import numpy as np
import pytest

from course.grading import ps1, ps2, ps3, references
from course.grading.cases import Rng
from course.grading.engine import LocalTarget, tasks
from course.grading.harness import catalogue
from coursekit import instructor_namespace

grading = types.SimpleNamespace(**{name: getattr(module, name) for module in (ps1, ps2, ps3)
                                   for name in module.__all__})
TASKS = {task.name: task for assignment in ("ps1", "ps2", "ps3")
         for task in tasks(assignment).values()}

def _solutions(assignment: str) -> dict:
    """The instructor's solution cells of ``assignment``, run."""
    return instructor_namespace(assignment)


PS1 = _solutions("ps1")
PS2 = _solutions("ps2")
RIGHT = {**{k: PS1[k] for k in ("correlate1d", "convolve1d", "correlate2d", "pad2d",
                                "output_size", "correlate2d_strided", "correlate2d_general")},
         **{k: PS2[k] for k in ("conv2d", "max_pool2d", "avg_pool2d", "num_conv_parameters",
                                "receptive_field")}}


def _fails(check, fn, hidden=True) -> str:
    with pytest.raises(AssertionError) as info:
        check(fn, hidden=hidden)
    return str(info.value)


@pytest.mark.parametrize("name", sorted(RIGHT))
@pytest.mark.parametrize("hidden", [False, True])
def test_instructor_solution_passes(name, hidden, capsys):
    getattr(grading, f"check_{name}")(RIGHT[name], hidden=hidden)
    out = capsys.readouterr().out
    assert f"{name}: all" in out and "passed" in out
    if name not in ("output_size", "num_conv_parameters", "receptive_field"):
        assert "PyTorch float64 on cpu" in out or "PyTorch float64 on cuda" in out


# --- wrong implementations, one per typical mistake ----------------------------------
def _flip_1d(x, w):
    return RIGHT["convolve1d"](x, w)


def _no_flip_1d(x, w):
    return RIGHT["correlate1d"](x, w)


def _full_1d(x, w):
    x, w = np.asarray(x, float), np.asarray(w, float)
    xp = np.concatenate([np.zeros(len(w) - 1), x, np.zeros(len(w) - 1)])
    return RIGHT["correlate1d"](xp, w)


def _uint8_1d(x, w):
    if x.dtype == np.uint8:
        return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
    return RIGHT["correlate1d"](x, w)


def _flip_2d(image, kernel):
    return RIGHT["correlate2d"](image, np.asarray(kernel)[::-1, ::-1])


def _uint8_2d(image, kernel):
    out = np.zeros_like(image)
    out = out[: image.shape[0] - kernel.shape[0] + 1, : image.shape[1] - kernel.shape[1] + 1]
    out[...] = RIGHT["correlate2d"](image, kernel)  # wraps when image is uint8
    return out


def _same_2d(image, kernel):
    return RIGHT["pad2d"](RIGHT["correlate2d"](image, kernel), (
        (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2))


def _pad_mode(wrong):
    def pad2d(image, padding, mode="zeros"):
        return RIGHT["pad2d"](image, padding, wrong.get(mode, mode))

    return pad2d


def _pad_missing(image, padding, mode="zeros"):
    return np.asarray(image, float).copy()


def _size_ceil(n, k, s=1, p=0, d=1):
    return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1


def _size_no_dilation(n, k, s=1, p=0, d=1):
    return (n + 2 * p - k) // s + 1


def _size_float(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) / s + 1


def _stride_off(image, kernel, stride=1):
    s = (stride, stride) if isinstance(stride, int) else stride
    return RIGHT["correlate2d_strided"](image, kernel, (s[0] + 1, s[1] + 1))


def _dilation_off(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    return RIGHT["correlate2d_general"](image, kernel, stride, padding, (d[0] + 1, d[1] + 1),
                                        padding_mode)


def _general_wrong_mode(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    return RIGHT["correlate2d_general"](image, kernel, stride, padding, dilation, "zeros")


def _conv_no_bias(x, weight, bias=None, stride=1, padding=0):
    return RIGHT["conv2d"](x, weight, None, stride, padding)


def _conv_swapped(x, weight, bias=None, stride=1, padding=0):
    return RIGHT["conv2d"](x, np.asarray(weight).transpose(1, 0, 2, 3), bias, stride, padding)


def _conv_flipped(x, weight, bias=None, stride=1, padding=0):
    return RIGHT["conv2d"](x, np.asarray(weight)[:, :, ::-1, ::-1], bias, stride, padding)


def _conv_no_padding(x, weight, bias=None, stride=1, padding=0):
    return RIGHT["conv2d"](x, weight, bias, stride, 0)


def _max_zero_padding(x, kernel_size, stride=None, padding=0):
    p = padding if isinstance(padding, int) else padding[0]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return RIGHT["max_pool2d"](xp, kernel_size, stride, 0)


def _max_overlapping(x, kernel_size, stride=None, padding=0):
    return RIGHT["max_pool2d"](x, kernel_size, 1 if stride is None else stride, padding)


def _max_wrong_axes(x, kernel_size, stride=None, padding=0):
    # pools (C, H) as if the input were channels-last (N, H, W, C)
    moved = np.moveaxis(np.asarray(x, float), 3, 1)
    return np.moveaxis(RIGHT["max_pool2d"](moved, kernel_size, stride, padding), 1, 3)


def _avg_exclude_pad(x, kernel_size, stride=None, padding=0):
    total = RIGHT["avg_pool2d"](x, kernel_size, stride, padding)
    count = RIGHT["avg_pool2d"](np.ones_like(np.asarray(x, float)), kernel_size, stride, padding)
    return total / count


def _params_no_bias(in_channels, out_channels, kernel_size, bias=True):
    return RIGHT["num_conv_parameters"](in_channels, out_channels, kernel_size, False)


def _params_no_channels(in_channels, out_channels, kernel_size, bias=True):
    return RIGHT["num_conv_parameters"](1, out_channels, kernel_size, bias) + (
        0 if not bias else 0)


def _rf_no_stride(layers):
    return RIGHT["receptive_field"]([(k, 1, d) for k, s, d in layers])


def _rf_no_dilation(layers):
    return RIGHT["receptive_field"]([(k, s, 1) for k, s, d in layers])


DIAGNOSES = [
    ("correlate1d", _flip_1d, "kernel is flipped"),
    ("correlate1d", _full_1d, "'full' output"),
    ("correlate1d", _uint8_1d, "integer overflow"),
    ("convolve1d", _no_flip_1d, "not flipped"),
    ("correlate2d", _flip_2d, "kernel is flipped"),
    ("correlate2d", _uint8_2d, "integer overflow"),
    ("correlate2d", _same_2d, "'same'-size output"),
    ("pad2d", _pad_mode({"reflect": "replicate"}), "replicate padding (repeat the edge value) "
                                                   "instead of reflect"),
    ("pad2d", _pad_mode({"replicate": "zeros"}), "zero padding instead of replicate"),
    ("pad2d", _pad_missing, "padding is missing"),
    ("output_size", _size_ceil, "rounded up"),
    ("output_size", _size_no_dilation, "dilation is ignored"),
    ("output_size", _size_float, "Return an int"),
    ("correlate2d_strided", _stride_off, "stride is off by one"),
    ("correlate2d_general", _dilation_off, "dilation is off by one"),
    ("correlate2d_general", _general_wrong_mode, "wrong padding mode"),
    ("conv2d", _conv_no_bias, "bias is missing"),
    ("conv2d", _conv_swapped, "channel and filter axes are swapped"),
    ("conv2d", _conv_flipped, "kernel is flipped"),
    ("conv2d", _conv_no_padding, "padding is missing"),
    ("max_pool2d", _max_zero_padding, "filled with zeros"),
    ("max_pool2d", _max_overlapping, "windows overlap"),
    ("max_pool2d", _max_wrong_axes, "wrong axes"),
    ("avg_pool2d", _avg_exclude_pad, "count_include_pad=True"),
    ("num_conv_parameters", _params_no_bias, "bias is missing"),
    ("num_conv_parameters", _params_no_channels, "input channels are missing"),
    ("receptive_field", _rf_no_stride, "strides are ignored"),
    ("receptive_field", _rf_no_dilation, "dilation is ignored"),
]


@pytest.mark.parametrize("name, wrong, phrase", DIAGNOSES,
                         ids=[f"{n}-{w.__name__}" for n, w, _ in DIAGNOSES])
def test_each_mistake_is_diagnosed(name, wrong, phrase):
    message = _fails(getattr(grading, f"check_{name}"), wrong)
    assert "Likely mistake" in message or "Shape hint" in message or phrase == "Return an int"
    assert phrase in message
    assert "smallest first" in message


def test_message_shows_the_smallest_failing_case_with_expected_and_got():
    message = _fails(grading.check_correlate2d, _flip_2d, hidden=False)
    assert "case 1 of 2" in message and "lecture's 5x5 input" in message
    assert "expected (PyTorch float64 on" in message and "got:" in message
    assert "[[ -1.,  -4., -14.]" in message  # the lecture's output, as expected values


def test_shape_message_gives_the_formula():
    def too_short(image, kernel):
        return RIGHT["correlate2d"](image, kernel)[:-1]

    message = _fails(grading.check_correlate2d, too_short, hidden=False)
    assert "Wrong shape: expected (3, 3), got (2, 3)" in message
    assert "H_out = H - KH + 1 = 5 - 3 + 1 = 3" in message

    def ceil_size(image, kernel, stride=1):
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        (H, W), (KH, KW) = image.shape, kernel.shape
        rows, cols = -(-(H - KH) // sh) + 1, -(-(W - KW) // sw) + 1
        padded = np.zeros((max(H, (rows - 1) * sh + KH), max(W, (cols - 1) * sw + KW)))
        padded[:H, :W] = image
        return RIGHT["correlate2d_strided"](padded, kernel, stride)

    message = _fails(grading.check_correlate2d_strided, ceil_size, hidden=False)
    assert "case 2 of 2" in message
    assert "H_out = (H + 2p - d(K-1) - 1)//s + 1 = (7 + 2*0 - 1*(3-1) - 1)//3 + 1 = 2" in message
    assert "the output size is rounded up" in message


def test_return_type_finite_values_and_inplace_changes():
    assert "Return a NumPy ndarray, got list" in _fails(
        grading.check_correlate1d, lambda x, w: list(RIGHT["correlate1d"](x, w)))
    assert "forget the `return`" in _fails(grading.check_correlate1d, lambda x, w: None)

    def nan_out(x, w):
        out = RIGHT["correlate1d"](x, w)
        out[0] = np.nan
        return out

    assert "holds nan at index (0,)" in _fails(grading.check_correlate1d, nan_out)

    def in_place(x, w):
        out = RIGHT["correlate1d"](x, w)
        x[...] = 0
        return out

    assert "changed its input `x` in place" in _fails(grading.check_correlate1d, in_place)

    def raises(x, w):
        return 1 / 0

    message = _fails(grading.check_correlate1d, raises)
    assert "Your function raised ZeroDivisionError: division by zero" in message


def test_visible_and_hidden_sets_share_the_code_path():
    seen = []

    def spy(x, w):
        seen.append(x.size + w.size)
        return RIGHT["correlate1d"](x, w)

    grading.check_correlate1d(spy)
    visible = len(seen)
    grading.check_correlate1d(spy, hidden=True)
    assert visible == 2 and len(seen) - visible == 6
    assert seen[visible:] == sorted(seen[visible:])  # smallest case first


FORBIDDEN = [
    ("correlate2d", "import torch.nn.functional as F, torch\n"
     "def fn(image, kernel):\n"
     "    return F.conv2d(torch.tensor(image, dtype=torch.float64)[None, None],\n"
     "                    torch.tensor(kernel, dtype=torch.float64)[None, None])[0, 0].numpy()",
     "torch.nn.functional.conv2d"),
    ("correlate2d", "from torch import conv2d as c2, tensor, float64\n"
     "def fn(image, kernel):\n"
     "    return c2(tensor(image, dtype=float64)[None, None],\n"
     "              tensor(kernel, dtype=float64)[None, None])[0, 0].numpy()",
     "conv2d"),
    ("correlate2d", "from scipy.signal import correlate2d as sc\n"
     "def fn(image, kernel):\n    return sc(image.astype(float), kernel, mode='valid')",
     "scipy.signal.correlate2d"),
    ("correlate2d", "import scipy.ndimage\n"
     "def fn(image, kernel):\n    return scipy.ndimage.correlate(image.astype(float), kernel)",
     "scipy.ndimage.correlate"),
    ("correlate1d", "import numpy as np\n"
     "def fn(x, w):\n    return np.correlate(x.astype(float), w.astype(float), 'valid')",
     "numpy.correlate"),
    ("convolve1d", "from numpy import convolve\n"
     "def fn(x, w):\n    return convolve(x.astype(float), w.astype(float), 'valid')",
     "numpy.convolve"),
    ("correlate2d", "import course.ops as ops\n"
     "def fn(image, kernel):\n    return ops.correlate2d(image, kernel)", "course.ops.correlate2d"),
    ("max_pool2d", "from course.ops import max_pool2d as mp\n"
     "def fn(x, kernel_size, stride=None, padding=0):\n"
     "    return mp(x, kernel_size, stride, padding)", "max_pool2d"),
    ("pad2d", "import numpy as np\n"
     "def fn(image, padding, mode='zeros'):\n"
     "    p = padding if isinstance(padding, int) else padding[0]\n"
     "    return np.pad(image.astype(float), p)", "numpy.pad"),
    ("max_pool2d", "import torch\n"
     "def fn(x, kernel_size, stride=None, padding=0):\n"
     "    try:\n"
     "        return torch.nn.MaxPool2d(kernel_size, stride, padding)(torch.tensor(x)).numpy()\n"
     "    except Exception:\n"
     "        return None", "max_pool2d"),
]


@pytest.mark.parametrize("name, source, call", FORBIDDEN,
                         ids=[f"{n}-{c}-{i}" for i, (n, _, c) in enumerate(FORBIDDEN)])
def test_forbidden_calls_are_refused_and_named(name, source, call):
    import scipy.signal
    import torch.nn.functional as F

    originals = (F.conv2d, np.correlate, scipy.signal.correlate2d, np.pad)
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102
    message = _fails(getattr(grading, f"check_{name}"), namespace["fn"], hidden=False)
    assert "Forbidden call" in message and call in message
    # everything is restored afterwards
    assert (F.conv2d, np.correlate, scipy.signal.correlate2d, np.pad) == originals
    import sys

    assert sys.getprofile() is None or "grading" not in repr(sys.getprofile())


def test_allowed_library_code_is_not_refused():
    def with_sliding_windows(image, kernel):
        windows = np.lib.stride_tricks.sliding_window_view(np.asarray(image, float), kernel.shape)
        return np.einsum("ijab,ab->ij", windows, kernel)

    grading.check_correlate2d(with_sliding_windows, hidden=True)


def test_expected_values_match_the_course_library_and_the_lecture():
    """The checks' own formulas agree with course.ops and its arithmetic module."""
    import course.ops as ops

    task = TASKS["output_size"]
    for case in task.cases(Rng(7), hidden=True):
        i = case.inputs()
        assert task.expected(case)[0] == ops.conv_output_size(i["n"], i["k"], i["s"], i["p"], i["d"])
    task = TASKS["num_conv_parameters"]
    for case in task.cases(Rng(7), hidden=True):
        i = case.inputs()
        assert task.expected(case)[0] == ops.num_parameters(
            i["in_channels"], i["out_channels"], i["kernel_size"], bias=i["bias"])
    task = TASKS["receptive_field"]
    for case in task.cases(Rng(7), hidden=True):
        layers = [ops.Layer(k, s, dilation=d) for k, s, d in case.inputs()["layers"]]
        assert task.expected(case)[0] == ops.receptive_field(layers)[-1].size
    dilated = [(3, 1, d) for d in (1, 1, 2, 4, 8, 16, 1)] + [(1, 1, 1)]
    assert [ps2.ReceptiveField._field(dilated[:n]) for n in range(1, 9)] == \
        [3, 5, 9, 17, 33, 65, 67, 67]
    image, kernel = ps1.vertical_edge_example()
    assert references.correlate_reference(image, kernel)[0].tolist() == \
        [[-1, -4, -14], [6, -3, -13], [9, -6, -8]]
    x, w = ps2.three_channel_example()
    assert references.torch_reference("conv2d", x, w)[0][0, 0, 0, 0] == 43


def test_scipy_imported_inside_the_function_is_still_refused(monkeypatch):
    import sys

    for name in [m for m in sys.modules if m == "scipy.signal" or m.startswith("scipy.signal.")]:
        monkeypatch.delitem(sys.modules, name)

    def sneaky(image, kernel):
        from scipy.signal import correlate2d

        return correlate2d(image.astype(float), kernel, mode="valid")

    assert "`scipy.signal.correlate2d` is not allowed" in _fails(grading.check_correlate2d, sneaky)


# --- ps3: im2col, conv matrix, transposed convolution, backward passes, gradient checks ----
PS3 = _solutions("ps3")
PS3_TASKS = ("im2col", "conv2d_matmul", "conv_matrix_1d", "conv_matrix_2d", "conv_transpose2d",
             "conv2d_backward", "max_pool2d_backward", "numerical_gradient", "gradient_check")


@pytest.mark.parametrize("name", PS3_TASKS)
@pytest.mark.parametrize("hidden", [False, True])
def test_ps3_instructor_solution_passes(name, hidden, capsys):
    getattr(grading, f"check_{name}")(PS3[name], hidden=hidden)
    out = capsys.readouterr().out
    assert f"{name}: all" in out and "passed" in out


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _im2col_channel_last(x, kernel_size, stride=1, padding=0):
    cols = PS3["im2col"](x, kernel_size, stride, padding)
    N, CKK, L = cols.shape
    KH, KW = _pair(kernel_size)
    C = CKK // (KH * KW)
    return cols.reshape(N, C, KH, KW, L).transpose(0, 2, 3, 1, 4).reshape(N, CKK, L)


def _im2col_no_padding(x, kernel_size, stride=1, padding=0):
    return PS3["im2col"](x, kernel_size, stride, 0)


def _im2col_no_stride(x, kernel_size, stride=1, padding=0):
    return PS3["im2col"](x, kernel_size, 1, padding)


def _im2col_rows_are_windows(x, kernel_size, stride=1, padding=0):
    return PS3["im2col"](x, kernel_size, stride, padding).transpose(0, 2, 1)


im2col = PS3["im2col"]  # the helper conv2d_matmul's check counts: a notebook defines it


def _matmul(x, weight, bias=None, stride=1, padding=0, per_image=False):
    """conv2d_matmul as a student writes it, with the module's ``im2col``."""
    x, weight = np.asarray(x, float), np.asarray(weight, float)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    if per_image:  # one column matrix per image: im2col called N times
        cols = np.stack([im2col(x[n:n + 1], (KH, KW), (sh, sw), (ph, pw))[0] for n in range(N)])
    else:
        cols = im2col(x, (KH, KW), (sh, sw), (ph, pw))
    out = weight.reshape(F, -1) @ cols
    if bias is not None:
        out = out + np.asarray(bias, float)[None, :, None]
    return out.reshape(N, F, (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1)


def _matmul_mixed_order(x, weight, bias=None, stride=1, padding=0):
    weight = np.asarray(weight, float)
    F, C, KH, KW = weight.shape
    return _matmul(x, weight.reshape(F, KH, KW, C).transpose(0, 3, 1, 2), bias, stride, padding)


def _matmul_no_bias(x, weight, bias=None, stride=1, padding=0):
    return _matmul(x, weight, None, stride, padding)


def test_ps3_conv2d_matmul_must_build_its_columns_with_one_im2col_call(capsys):
    ps3.check_conv2d_matmul(_matmul, hidden=True)
    assert "conv2d_matmul: all" in capsys.readouterr().out

    def per_image(x, weight, bias=None, stride=1, padding=0):
        return _matmul(x, weight, bias, stride, padding, per_image=True)

    def loop(x, weight, bias=None, stride=1, padding=0):  # right values, no im2col at all
        return PS2["conv2d"](x, weight, bias, stride, padding)

    assert re.search(r"called `im2col` [2-9] times; it should call your `im2col` exactly once",
                     _fails(ps3.check_conv2d_matmul, per_image))
    assert "did not call your `im2col`" in _fails(ps3.check_conv2d_matmul, loop)


def _matrix_1d_flipped(L, kernel):
    return PS3["conv_matrix_1d"](L, np.asarray(kernel)[::-1])


def _matrix_1d_transposed(L, kernel):
    return PS3["conv_matrix_1d"](L, kernel).T


def _matrix_2d_flipped(input_shape, kernel):
    return PS3["conv_matrix_2d"](input_shape, np.asarray(kernel)[::-1, ::-1])


def _matrix_2d_column_major(input_shape, kernel):
    H, W = input_shape
    KH, KW = np.shape(kernel)
    M = PS3["conv_matrix_2d"](input_shape, kernel).reshape(H - KH + 1, W - KW + 1, H, W)
    return M.transpose(1, 0, 3, 2).reshape((H - KH + 1) * (W - KW + 1), H * W)


def _transpose_not_cropped(x, weight, stride=1, padding=0, output_padding=0):
    return PS3["conv_transpose2d"](x, weight, stride, 0, output_padding)


def _transpose_output_padding_on_top(x, weight, stride=1, padding=0, output_padding=0):
    op = _pair(output_padding)
    flipped = PS3["conv_transpose2d"](np.asarray(x)[:, :, ::-1, ::-1],
                                      np.asarray(weight)[:, :, ::-1, ::-1], stride, padding, op)
    return flipped[:, :, ::-1, ::-1]  # the extra rows and columns end up first


def _transpose_flipped(x, weight, stride=1, padding=0, output_padding=0):
    return PS3["conv_transpose2d"](x, np.asarray(weight)[:, :, ::-1, ::-1], stride, padding,
                                   output_padding)


def _transpose_axes_swapped(x, weight, stride=1, padding=0, output_padding=0):
    return PS3["conv_transpose2d"](x, np.asarray(weight).transpose(1, 0, 2, 3), stride, padding,
                                   output_padding)


def _backward_last_image(grad_out, x, weight, stride=1, padding=0):
    gx, _, gb = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    gw = PS3["conv2d_backward"](np.asarray(grad_out)[-1:], np.asarray(x)[-1:], weight, stride,
                                padding)[1]
    return gx, gw, gb


def _backward_per_image(grad_out, x, weight, stride=1, padding=0):
    gx, _, gb = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    gw = np.stack([PS3["conv2d_backward"](np.asarray(grad_out)[n:n + 1], np.asarray(x)[n:n + 1],
                                          weight, stride, padding)[1] for n in range(len(x))])
    return gx, gw, gb


def _backward_bias_positions_only(grad_out, x, weight, stride=1, padding=0):
    gx, gw, _ = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    return gx, gw, np.asarray(grad_out).sum(axis=(2, 3))


def _backward_bias_batch_only(grad_out, x, weight, stride=1, padding=0):
    gx, gw, _ = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    return gx, gw, np.asarray(grad_out).sum(axis=0)


def _backward_not_flipped(grad_out, x, weight, stride=1, padding=0):
    gx = PS3["conv2d_backward"](grad_out, x, np.asarray(weight)[:, :, ::-1, ::-1], stride, padding)[0]
    _, gw, gb = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    return gx, gw, gb


def _backward_scatter_without_stride(grad_out, x, weight, stride=1, padding=0):
    grad_out, x, weight = (np.asarray(a, float) for a in (grad_out, x, weight))
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    KH, KW = weight.shape[2:]
    gxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            gxp[:, :, i:i + KH, j:j + KW] += np.tensordot(grad_out[:, :, i, j], weight, axes=(1, 0))
    _, gw, gb = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    return gxp[:, :, ph:ph + H, pw:pw + W], gw, gb


def _backward_padding_kept(grad_out, x, weight, stride=1, padding=0):
    gx, gw, gb = PS3["conv2d_backward"](grad_out, x, weight, stride, padding)
    ph, pw = _pair(padding)
    return np.pad(gx, ((0, 0), (0, 0), (ph, ph), (pw, pw))), gw, gb


def _pool_route(mode):
    def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
        grad_out, x = np.asarray(grad_out, float), np.asarray(x, float)
        kh, kw = _pair(kernel_size)
        sh, sw = (kh, kw) if stride is None else _pair(stride)
        grad = np.zeros_like(x)
        for n, c, i, j in np.ndindex(grad_out.shape):
            window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
            if mode == "average":
                grad[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += grad_out[n, c, i, j] / (kh * kw)
                continue
            flat = window.ravel()
            k = len(flat) - 1 - np.argmax(flat[::-1]) if mode == "last" else np.argmax(flat)
            a, b = divmod(k, kw)
            if mode == "assign":
                grad[n, c, i * sh + a, j * sw + b] = grad_out[n, c, i, j]
            else:
                grad[n, c, i * sh + a, j * sw + b] += grad_out[n, c, i, j]
        return grad

    max_pool2d_backward.__name__ = f"_pool_{mode}"
    return max_pool2d_backward


def _numeric(mode):
    def numerical_gradient(f, x, eps=1e-6):
        x = np.array(x) if mode == "integer" else np.array(x, dtype=float)
        grad = np.zeros(x.shape)
        base = f(x)
        for index in np.ndindex(x.shape):
            old = x[index]
            x[index] = old + eps
            plus = f(x)
            x[index] = old - eps
            minus = f(x)
            if mode != "drift":
                x[index] = old
            if mode == "forward":
                grad[index] = (plus - base) / eps
            elif mode == "half":
                grad[index] = (plus - minus) / eps
            else:
                grad[index] = (plus - minus) / (2 * eps)
        return grad

    numerical_gradient.__name__ = f"_numeric_{mode}"
    return numerical_gradient


PS3_DIAGNOSES = [
    ("im2col", _im2col_channel_last, "channel-last order"),
    ("im2col", _im2col_no_padding, "padding is ignored"),
    ("im2col", _im2col_no_stride, "stride is ignored"),
    ("im2col", _im2col_rows_are_windows, "rows and columns are swapped"),
    ("conv2d_matmul", _matmul_mixed_order, "in different orders"),
    ("conv2d_matmul", _matmul_no_bias, "bias is missing"),
    ("conv_matrix_1d", _matrix_1d_flipped, "kernel is flipped"),
    ("conv_matrix_1d", _matrix_1d_transposed, "you returned the transpose"),
    ("conv_matrix_2d", _matrix_2d_flipped, "kernel is flipped"),
    ("conv_matrix_2d", _matrix_2d_column_major, "numbered column by column"),
    ("conv_transpose2d", _transpose_not_cropped, "padding is not cropped"),
    ("conv_transpose2d", _transpose_output_padding_on_top, "output_padding is added on the wrong side"),
    ("conv_transpose2d", _transpose_flipped, "kernel is flipped"),
    ("conv_transpose2d", _transpose_axes_swapped, "channel axes of `weight` are swapped"),
    ("conv2d_backward", _backward_last_image, "last image's contribution only"),
    ("conv2d_backward", _backward_per_image, "grad_weight is not summed over the batch"),
    ("conv2d_backward", _backward_bias_positions_only, "grad_bias is summed over the positions only"),
    ("conv2d_backward", _backward_bias_batch_only, "grad_bias is summed over the batch only"),
    ("conv2d_backward", _backward_not_flipped, "without flipping it"),
    ("conv2d_backward", _backward_scatter_without_stride, "stride is ignored in the scatter"),
    ("conv2d_backward", _backward_padding_kept, "padding is not cropped"),
    ("max_pool2d_backward", _pool_route("assign"), "accumulate with `+=`"),
    ("max_pool2d_backward", _pool_route("average"), "average pooling's backward pass"),
    ("max_pool2d_backward", _pool_route("last"), "ties go to the last maximum"),
    ("numerical_gradient", _numeric("forward"), "forward difference"),
    ("numerical_gradient", _numeric("half"), "divided by eps instead of 2 eps"),
    ("numerical_gradient", _numeric("drift"), "not restored"),
    ("numerical_gradient", _numeric("integer"), "integer dtype"),
]


@pytest.mark.parametrize("name, wrong, phrase", PS3_DIAGNOSES,
                         ids=[f"{n}-{w.__name__}" for n, w, _ in PS3_DIAGNOSES])
def test_ps3_each_mistake_is_diagnosed(name, wrong, phrase):
    message = _fails(getattr(grading, f"check_{name}"), wrong)
    assert "Likely mistake" in message or "Shape hint" in message
    assert phrase in message
    assert "smallest first" in message


def test_ps3_backward_names_the_wrong_part_and_wants_three_arrays():
    message = _fails(grading.check_conv2d_backward, _backward_last_image)
    assert "In `grad_weight` (returned value 2 of 3: grad_x, grad_weight, grad_bias)" in message
    assert "grad_weight has the shape of weight" not in message  # values, not shape, are wrong
    message = _fails(grading.check_conv2d_backward, _backward_per_image)
    assert "Wrong shape: expected (1, 1, 2, 2), got (1, 1, 1, 2, 2)" in message
    assert "grad_weight has the shape of weight" in message
    message = _fails(grading.check_conv2d_backward,
                     lambda g, x, w, stride=1, padding=0: PS3["conv2d_backward"](g, x, w, stride, padding)[:2])
    assert "Return a tuple of 3 arrays (grad_x, grad_weight, grad_bias), got tuple of length 2" in message
    message = _fails(grading.check_conv2d_backward, lambda g, x, w, stride=1, padding=0: None)
    assert "got NoneType" in message and "forget the `return`" in message


def test_ps3_transposed_weight_axes_are_diagnosed_when_the_student_code_crashes():
    def reads_weight_as_f_c(x, weight, stride=1, padding=0, output_padding=0):
        # the instructor's scatter with weight read as (F, C_in, KH, KW)
        x, weight = np.asarray(x, float), np.asarray(weight, float)
        (sh, sw), (ph, pw), (oh, ow) = _pair(stride), _pair(padding), _pair(output_padding)
        N, C, H, W = x.shape
        F, _, KH, KW = weight.shape
        full = np.zeros((N, F, (H - 1) * sh + KH + oh, (W - 1) * sw + KW + ow))
        for i in range(H):
            for j in range(W):
                full[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW] += np.einsum(
                    "nc,fcab->nfab", x[:, :, i, j], weight)
        H_out, W_out = (H - 1) * sh - 2 * ph + KH + oh, (W - 1) * sw - 2 * pw + KW + ow
        return full[:, :, ph:ph + H_out, pw:pw + W_out]

    message = _fails(grading.check_conv_transpose2d, reads_weight_as_f_c, hidden=False)
    assert "Your function raised ValueError" in message
    assert "channel axes of `weight` are swapped" in message


def _gradient_check_with(numerical_gradient, compare=("x", "weight", "bias"), loss="weighted",
                         elementwise=False):
    """A gradient_check whose global `numerical_gradient` is the given function."""
    namespace = {"np": np, "numerical_gradient": numerical_gradient}
    exec("""
def gradient_check(forward, backward, x, weight, bias, grad_out, stride=1, padding=0):
    analytic = dict(zip(("x", "weight", "bias"), backward(grad_out, x, weight, stride, padding)))
    args = {"x": x, "weight": weight, "bias": bias}
    errors = [0.0]
    for name in COMPARE:
        def L(v, name=name):
            out = forward(*[v if k == name else args[k] for k in ("x", "weight", "bias")], stride, padding)
            return np.sum(out * grad_out) if LOSS == "weighted" else np.sum(out)
        a, n = analytic[name], numerical_gradient(L, args[name])
        if ELEMENTWISE:
            errors.append(float(np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n)))))
        else:
            errors.append(float(np.max(np.abs(a - n)) / max(np.max(np.abs(a)), np.max(np.abs(n)))))
    return max(errors)
""", namespace)  # noqa: S102
    namespace.update(COMPARE=compare, LOSS=loss, ELEMENTWISE=elementwise)
    return namespace["gradient_check"]


def test_ps3_gradient_check_verdicts():
    right = PS3["numerical_gradient"]
    grading.check_gradient_check(_gradient_check_with(right), hidden=True)
    # the usual elementwise relative error (CS231n) works on these inputs too
    grading.check_gradient_check(_gradient_check_with(right, elementwise=True), hidden=True)
    # forward differences are exact enough on a loss that is linear in each argument
    grading.check_gradient_check(_gradient_check_with(_numeric("forward")), hidden=True)
    message = _fails(grading.check_gradient_check, _gradient_check_with(right, compare=("x",)))
    assert "grad_bias is wrong" in message or "grad_weight is wrong" in message
    assert "compare all three gradients" in message
    message = _fails(grading.check_gradient_check, _gradient_check_with(right, loss="plain"))
    assert "for a CORRECT backward pass" in message and "L = sum(forward(" in message


@pytest.mark.parametrize("seed", [47, 49, 70, 71, 90, 108, 118])
def test_ps3_gradient_check_elementwise_error_passes_on_any_seed(seed):
    # With these seeds the hidden inputs once had a weight gradient entry of order 1e-4,
    # where rounding alone gives an elementwise relative error above the 1e-6 bar: a
    # correct check failed for about one submission in twenty.
    task = TASKS["gradient_check"]
    function = _gradient_check_with(PS3["numerical_gradient"], elementwise=True)
    verdict = task.judge(LocalTarget({"gradient_check": function}), Rng(seed), True)
    assert verdict.passed, verdict.message


def test_ps3_gradient_check_must_use_the_students_numerical_gradient():
    calls = []

    def spy(f, x, eps=1e-6):
        calls.append(x.shape)
        return PS3["numerical_gradient"](f, x, eps)

    grading.check_gradient_check(_gradient_check_with(spy), hidden=False)
    assert calls, "the check did not go through the notebook's numerical_gradient"

    namespace = {"np": np, "numerical_gradient": PS3["numerical_gradient"]}
    exec("def gradient_check(forward, backward, x, weight, bias, grad_out, stride=1, padding=0):\n"  # noqa: S102
         "    return 0.0", namespace)
    message = _fails(grading.check_gradient_check, namespace["gradient_check"], hidden=False)
    assert "did not call your `numerical_gradient`" in message
    assert namespace["numerical_gradient"] is PS3["numerical_gradient"]  # restored

    namespace = {"np": np}
    exec("def gradient_check(forward, backward, x, weight, bias, grad_out, stride=1, padding=0):\n"  # noqa: S102
         "    return 0.0", namespace)
    message = _fails(grading.check_gradient_check, namespace["gradient_check"], hidden=False)
    assert "no function `numerical_gradient` was found" in message

    namespace = {"np": np, "numerical_gradient": PS3["numerical_gradient"]}
    exec("def gradient_check(forward, backward, x, weight, bias, grad_out, stride=1, padding=0):\n"  # noqa: S102
         "    numerical_gradient(lambda v: float(np.sum(v)), x)\n"
         "    return [0.0, 0.0, 0.0]", namespace)
    message = _fails(grading.check_gradient_check, namespace["gradient_check"], hidden=False)
    assert "Return one float (the largest relative error), got list" in message


def test_ps3_gradient_check_cases_are_clearly_right_or_wrong():
    task = TASKS["gradient_check"]
    cases = task.cases(Rng(7), hidden=True)
    assert sorted(c.wrong for c in cases) == ["", "", "grad_bias", "grad_weight", "grad_x"]
    for case in cases:
        error = task.expected(case)[0]
        assert (error == 0) if not case.wrong else (error > 0.1), (case.label, error)


PS3_FORBIDDEN = [
    ("conv_transpose2d", "import torch, torch.nn.functional as F\n"
     "def fn(x, weight, stride=1, padding=0, output_padding=0):\n"
     "    return F.conv_transpose2d(torch.tensor(x, dtype=torch.float64),\n"
     "        torch.tensor(weight, dtype=torch.float64), stride=stride, padding=padding,\n"
     "        output_padding=output_padding).numpy()", "torch.nn.functional.conv_transpose2d"),
    ("im2col", "import torch\nfrom torch.nn.functional import unfold\n"
     "def fn(x, kernel_size, stride=1, padding=0):\n"
     "    return unfold(torch.tensor(x, dtype=torch.float64), kernel_size, stride=stride,\n"
     "                  padding=padding).numpy()", "unfold"),
    ("conv_matrix_2d", "import numpy as np, course.ops as ops\n"
     "def fn(input_shape, kernel):\n"
     "    return ops.conv_matrix((1, *input_shape), np.asarray(kernel, float)[None, None])",
     "course.ops.conv_matrix"),
    ("conv2d_backward", "import course.ops as ops\n"
     "def fn(grad_out, x, weight, stride=1, padding=0):\n"
     "    return ops.conv2d_backward(grad_out, x, weight, stride, padding)",
     "course.ops.conv2d_backward"),
    ("conv2d_backward", "import torch\n"
     "def fn(grad_out, x, weight, stride=1, padding=0):\n"
     "    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)\n"
     "    (xt * 2).sum().backward()\n"
     "    return xt.grad.numpy(), weight, weight[:, 0, 0, 0]", "torch.autograd.backward"),
    ("max_pool2d_backward", "import course.ops as ops\n"
     "def fn(grad_out, x, kernel_size, stride=None):\n"
     "    return ops.max_pool2d_backward(grad_out, x, kernel_size, stride)",
     "course.ops.max_pool2d_backward"),
    ("numerical_gradient", "import numpy as np, scipy.optimize\n"
     "def fn(f, x, eps=1e-6):\n"
     "    x = np.array(x, float)\n"
     "    return scipy.optimize.approx_fprime(x.ravel(), lambda v: f(v.reshape(x.shape)), eps)"
     ".reshape(x.shape)", "scipy.optimize.approx_fprime"),
]


@pytest.mark.parametrize("name, source, call", PS3_FORBIDDEN,
                         ids=[f"{n}-{c}" for n, _, c in PS3_FORBIDDEN])
def test_ps3_forbidden_calls_are_refused_and_named(name, source, call):
    import torch
    import torch.nn.functional as F

    originals = (F.conv_transpose2d, F.unfold, torch.autograd.grad, torch.autograd.backward)
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102
    message = _fails(getattr(grading, f"check_{name}"), namespace["fn"], hidden=False)
    assert "Forbidden call" in message and call in message
    assert (F.conv_transpose2d, F.unfold, torch.autograd.grad, torch.autograd.backward) == originals


def test_ps3_expected_values_match_the_lecture_and_the_course_library():
    import course.ops as ops

    image, kernel = ps3.deck_example()
    task = TASKS["conv_matrix_2d"]
    M = task.expected(task.cases(task.visible_rng(), hidden=False)[0])[0]
    assert (M @ image.ravel()).tolist() == [22, 21, 22, 20]
    assert (M.T @ np.array([1.0, 2, 2, 4])).reshape(3, 3).tolist() == \
        [[1, 4, 4], [4, 13, 10], [4, 10, 4]]
    task = TASKS["conv_transpose2d"]
    assert task.expected(task.cases(task.visible_rng(), hidden=False)[0])[0][0, 0].tolist() == \
        [[1, 4, 4], [4, 13, 10], [4, 10, 4]]
    task = TASKS["im2col"]
    assert task.expected(task.cases(task.visible_rng(), hidden=False)[0])[0][0].tolist() == \
        [[1, 2, 6, 5], [2, 3, 5, 3], [6, 5, 1, 4], [5, 3, 4, 1]]
    for case in task.cases(Rng(7), hidden=True):  # torch's unfold and the course's im2col agree
        i = case.inputs()
        np.testing.assert_array_equal(task.expected(case)[0], ops.im2col(
            i["x"], i["kernel_size"], i["stride"], i["padding"]))
    task = TASKS["conv_matrix_1d"]
    assert task.expected(task.cases(task.visible_rng(), hidden=False)[0])[0][1].tolist() == [0, -1, 0, 1, 0, 0]
    # the overlapping-pool cases really overlap and hold ties where the routing matters
    task = TASKS["max_pool2d_backward"]
    for case in task.cases(Rng(7), hidden=True):
        k, s = task._settings(case)
        assert s[0] <= k[0] and s[1] <= k[1]
    visible = task.cases(task.visible_rng(), hidden=False)
    assert all(task._settings(c)[1][0] < task._settings(c)[0][0] for c in visible)


def test_ps3_numerical_gradient_tolerance_separates_central_from_forward():
    task = TASKS["numerical_gradient"]
    for case in task.cases(Rng(7), hidden=True):
        i = case.inputs()
        eps = dict(case.kwargs).get("eps", 1e-6)
        expected = task.expected(case)[0]
        central = PS3["numerical_gradient"](catalogue.build(i["f"]), i["x"], eps)
        assert np.allclose(central, expected, rtol=task.rtol / 10, atol=task.atol / 10), case.label


# --- diagnoses must be right when given -----------------------------------------------------
def _dilation_on_the_image(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    """Skips pixels of the padded image instead of spreading the kernel's taps."""
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    padded = RIGHT["pad2d"](image, padding, padding_mode)
    return RIGHT["correlate2d_strided"](padded[::dh, ::dw], kernel, stride)


def test_dilation_applied_to_the_image_is_named_and_not_called_a_stride_mistake():
    message = _fails(grading.check_correlate2d_general, _dilation_on_the_image)
    assert "Likely mistake: the dilation is applied to the image" in message
    assert "stride is off by one" not in message


def _plus_one(image, kernel):
    return RIGHT["correlate2d"](image, kernel) + 1


def _extra_row(image, kernel, stride=1):
    out = RIGHT["correlate2d_strided"](image, kernel, stride)
    return np.vstack([out, np.zeros((1, out.shape[1]))])


def _columns_reversed(x, weight, bias=None, stride=1, padding=0):
    return RIGHT["conv2d"](x, weight, bias, stride, padding)[..., ::-1]


@pytest.mark.parametrize("name, wrong", [("correlate2d", _plus_one),
                                         ("correlate2d_strided", _extra_row),
                                         ("conv2d", _columns_reversed)])
def test_a_mistake_no_table_names_gets_the_case_and_no_diagnosis(name, wrong):
    message = _fails(getattr(grading, f"check_{name}"), wrong)
    assert "Likely mistake" not in message and "Shape hint" not in message
    assert "expected (PyTorch float64 on" in message and "got:" in message
    if "Wrong values" in message:
        assert "No typical mistake matches your output" in message


def test_a_shape_only_mistake_is_a_hint_about_the_shape():
    def full(image, kernel):
        KH, KW = kernel.shape
        return RIGHT["correlate2d"](np.pad(np.asarray(image, float), ((KH - 1,) * 2, (KW - 1,) * 2)),
                                    kernel)[::-1]  # the 'full' shape, not its values

    message = _fails(grading.check_correlate2d, full, hidden=False)
    assert "Likely mistake" not in message
    assert "Shape hint (your shape is that of a typical mistake; its values were not compared)" \
           in message and "'full' correlation" in message
