"""The lecture notebooks' exercises (course/grading/lectures.py), checked as a reader meets them.

Every "Your turn" exercise of notebooks 01-07 is found in its notebook: the stub the reader
completes, the check cell under it, and the worked solution folded below. For each one:

- the notebook has the four cells in order, and every task of ``course.grading.lectures``
  is used by exactly one exercise;
- the worked solution, taken from the notebook (not copied here), passes the visible
  cases and fresh hidden ones;
- the stub as the notebook ships it prints "not answered yet" instead of failing (so the
  notebooks run top to bottom), and fails like a wrong answer with ``unanswered_ok=False``;
- at least one typical wrong answer fails with a message that names the mistake.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.grading import lectures
from course.grading.engine import tasks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[0-9]_*.ipynb"))
CHECK = re.compile(r"^from course\.grading import lectures\nlectures\.check_(\w+)\((\w+)\)$")
SOLUTION = re.compile(r"^<details><summary>Worked solution</summary>\n\n(.*?)```python\n(.*?)\n```\n\n</details>$", re.S)
PRELUDE = "import math\nimport numpy as np\nfrom course import detection\n"


def _exercises() -> dict[str, dict]:
    found = {}
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells):
            match = CHECK.match(cell.source.strip()) if cell.cell_type == "code" else None
            if not match:
                continue
            name = match.group(1)
            assert name not in found, f"{name} is an exercise twice"
            found[name] = {"notebook": path.name, "index": index, "intro": cells[index - 2],
                           "stub": cells[index - 1], "check": cell, "solution": cells[index + 1],
                           "argument": match.group(2)}
    return found


EXERCISES = _exercises()


def _define(source: str, name: str):
    namespace: dict = {}
    exec(PRELUDE + source, namespace)  # noqa: S102 - the course's own notebooks
    return namespace[name]


def _solution(name: str):
    match = SOLUTION.match(EXERCISES[name]["solution"].source)
    assert match, f"{name}: the cell after the check is not a folded worked solution"
    return _define(match.group(2), name)


def _check(name):
    return getattr(lectures, f"check_{name}")


def _fails(name, fn, hidden=False) -> str:
    with pytest.raises(AssertionError) as info:
        _check(name)(fn, hidden=hidden)
    return str(info.value)


# ----------------------------------------------------------------------------- structure
def test_every_lecture_task_is_an_exercise_of_one_notebook():
    registered = {task.name for task in tasks("lectures").values()}
    assert registered == set(EXERCISES)
    assert sorted(f"check_{name}" for name in registered) == sorted(lectures.__all__)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_two_or_three_exercises(path):
    count = sum(1 for e in EXERCISES.values() if e["notebook"] == path.name)
    assert 2 <= count <= 3, f"{path.name} has {count} exercises"


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_exercise_cells_come_in_order(name):
    e = EXERCISES[name]
    assert e["argument"] == name
    assert e["intro"].cell_type == "markdown" and e["intro"].source.startswith("**Your turn:")
    stub = e["stub"].source
    assert e["stub"].cell_type == "code" and stub.startswith(f"def {name}(")
    assert stub.rstrip().endswith("# YOUR CODE HERE\n    raise NotImplementedError()")
    assert '"""' in stub, "the stub keeps its docstring"
    assert e["solution"].cell_type == "markdown" and SOLUTION.match(e["solution"].source)
    assert f"def {name}(" in SOLUTION.match(e["solution"].source).group(2)


# ----------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_worked_solution_passes(name, capsys):
    solution = _solution(name)
    _check(name)(solution)
    _check(name)(solution, hidden=True)
    out = capsys.readouterr().out
    assert f"{name}: all" in out and "visible cases passed" in out and "fresh inputs) passed" in out


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_unanswered_stub_prints_a_line_and_fails_when_asked_to(name, capsys):
    stub = _define(EXERCISES[name]["stub"].source, name)
    assert _check(name)(stub) is None
    out = capsys.readouterr().out
    assert out.startswith(f"{name}: not answered yet.") and "Traceback" not in out
    with pytest.raises(AssertionError, match="Your function raised NotImplementedError"):
        _check(name)(stub, unanswered_ok=False)


def test_the_trial_call_for_a_stub_prints_nothing(capsys):
    solution = _solution("mlp_parameters")

    def mlp_parameters(sizes):
        print("computing", sizes)
        return solution(sizes)

    lectures.check_mlp_parameters(mlp_parameters)
    out = capsys.readouterr().out
    assert out.count("computing [784, 1000, 10]") == 1 and "not answered" not in out   # the probed case


def test_a_stub_that_raises_something_else_is_reported_as_an_error():
    def box_blur(image, k):
        raise ValueError("half written")

    with pytest.raises(AssertionError, match="Your function raised ValueError: half written"):
        lectures.check_box_blur(box_blur)


def test_a_partly_written_function_is_judged():
    def box_blur(image, k):          # answers the smallest case (k = 2), then falls over
        if k == 2:
            return _solution("box_blur")(image, k)
        raise NotImplementedError()

    message = _fails("box_blur", box_blur)
    assert "case 2 of 2" in message and "Your function raised NotImplementedError" in message


# Typical wrong answers: (exercise, source, words the message must contain). Each fails the
# visible cases of the check with "Likely mistake: <words>" (or a shape hint).
WRONG = [
    ("mlp_parameters", "def mlp_parameters(sizes):\n    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))",
     "Likely mistake: the biases are missing"),
    ("mlp_parameters", "def mlp_parameters(sizes):\n    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + sizes[0]",
     "Likely mistake: the input layer got biases too"),
    ("board_planes", "def board_planes(board):\n    return np.stack([board == -1, board == 1, board == 0]).astype(float)",
     "Likely mistake: the black and white planes are swapped"),
    ("board_planes", "def board_planes(board):\n    return np.stack([board == 1, board == -1]).astype(float)",
     "Shape hint (your shape is that of a typical mistake; its values were not compared): the empty plane is missing"),
    ("box_blur", textwrap.dedent("""
        def box_blur(image, k):
            H, W = image.shape
            return np.array([[image[i:i + k, j:j + k].sum() for j in range(W - k + 1)] for i in range(H - k + 1)])"""),
     "Likely mistake: the box is not normalised"),
    ("box_blur", textwrap.dedent("""
        def box_blur(image, k):
            H, W = image.shape
            return np.array([[image[i:i + k, j:j + k].mean() for j in range(W - k)] for i in range(H - k)])"""),
     "Likely mistake: one position too few along each axis"),
    ("gaussian_kernel", textwrap.dedent("""
        def gaussian_kernel(size, sigma):
            d = np.arange(size) - size // 2
            return np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma ** 2))"""),
     "Likely mistake: the kernel is not normalised"),
    ("gaussian_kernel", textwrap.dedent("""
        def gaussian_kernel(size, sigma):
            d = np.arange(size)
            g = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma ** 2))
            return g / g.sum()"""),
     "Likely mistake: the offsets start at the corner"),
    ("to_layer_layout", "def to_layer_layout(image):\n    H, W, C = image.shape\n    return image.reshape(1, C, H, W)",
     "Likely mistake: you reshaped instead of moving the axis"),
    ("to_layer_layout", "def to_layer_layout(image):\n    return image.transpose(2, 0, 1)",
     "Likely mistake: the batch axis is missing"),
    ("same_padding", "def same_padding(kernel_size, dilation=1):\n    return (kernel_size - 1) // 2",
     "Likely mistake: the dilation is ignored"),
    ("same_padding", "def same_padding(kernel_size, dilation=1):\n    return dilation * (kernel_size - 1)",
     "Likely mistake: this is the total padding"),
    ("locally_connected_parameters",
     "def locally_connected_parameters(height, width, kernel_size, in_channels=1, out_channels=1, bias=False):\n"
     "    return (kernel_size ** 2 * in_channels + bias) * out_channels",
     "Likely mistake: that is the convolution's count"),
    ("locally_connected_parameters",
     "def locally_connected_parameters(height, width, kernel_size, in_channels=1, out_channels=1, bias=False):\n"
     "    units = (height - kernel_size + 1) * (width - kernel_size + 1) * out_channels\n"
     "    return units * kernel_size ** 2 * in_channels + (out_channels if bias else 0)",
     "Likely mistake: one bias per feature map is the convolution's sharing"),
    ("layers_to_cover", "def layers_to_cover(image_size, kernel_size):\n    return (image_size - 1) // (kernel_size - 1)",
     "Likely mistake: you rounded down"),
    ("layers_to_cover", "import math\ndef layers_to_cover(image_size, kernel_size):\n    return math.ceil((image_size - 1) / kernel_size)",
     "Likely mistake: each stride-1 layer widens the field by K - 1 pixels, not K"),
    ("batch_norm2d", textwrap.dedent("""
        def batch_norm2d(x, gamma, beta, eps=1e-5):
            mean, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
            return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]"""),
     "Likely mistake: per image (axis=(1, 2, 3)): that is layer normalisation"),
    ("batch_norm2d", textwrap.dedent("""
        def batch_norm2d(x, gamma, beta, eps=1e-5):
            mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
            return (x - mean) / np.sqrt(var) * gamma[None, :, None, None] + beta[None, :, None, None]"""),
     "Likely mistake: eps is missing"),
    ("pixel_cross_entropy", textwrap.dedent("""
        def pixel_cross_entropy(scores, labels):
            e = np.exp(scores - scores.max(axis=-1, keepdims=True))
            p = e / e.sum(axis=-1, keepdims=True)
            return -np.log(np.take_along_axis(p, labels[:, None], axis=1)[:, 0])"""),
     "Likely mistake: the softmax runs over the last axis"),
    ("pixel_cross_entropy", "def pixel_cross_entropy(scores, labels):\n    return -np.take_along_axis(scores, labels[:, None], axis=1)[:, 0]",
     "Likely mistake: there is no softmax"),
    ("momentum_step", "def momentum_step(w, velocity, grad, lr, momentum):\n    return w - lr * velocity, momentum * velocity + grad",
     "Likely mistake: the step uses the OLD velocity"),
    ("momentum_step", "def momentum_step(w, velocity, grad, lr, momentum):\n    v = momentum * velocity - lr * grad\n    return w + v, v",
     "Likely mistake: this is the other common form"),
    ("momentum_step", "def momentum_step(w, velocity, grad, lr, momentum):\n    velocity *= momentum\n    velocity += grad\n"
                      "    return w - lr * velocity, velocity",
     "Your function changed its input `velocity` in place"),
    ("inverted_dropout", "def inverted_dropout(x, keep, p):\n    return x * keep / p",
     "Likely mistake: you divided by p: in PyTorch p is the probability to DROP a unit"),
    ("inverted_dropout", "def inverted_dropout(x, keep, p):\n    return x * keep",
     "Likely mistake: the kept activations are not rescaled"),
    ("flip_horizontal", "def flip_horizontal(images):\n    return images[:, :, ::-1].copy()",
     "Likely mistake: you flipped top to bottom"),
    ("box_iou", textwrap.dedent("""
        def box_iou(a, b):
            w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
            h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
            area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
            return w * h / (area(a)[:, None] + area(b)[None, :] - w * h)"""),
     "Likely mistake: the overlaps are not clipped at 0"),
    ("box_iou", textwrap.dedent("""
        def box_iou(a, b):
            w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
            h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
            area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
            return w * h / (area(a)[:, None] + area(b)[None, :])"""),
     "Likely mistake: the union counts the intersection twice"),
    ("nms", textwrap.dedent("""
        def nms(boxes, scores, iou_threshold):
            order, keep = list(np.argsort(-scores)), []
            while order:
                best = order.pop(0)
                keep.append(best)
                order = [j for j in order if detection.box_iou(boxes[[best]], boxes[[j]])[0, 0] <= iou_threshold]
            return np.sort(keep)"""),
     "Likely mistake: the kept indices are sorted by index"),
    ("nms", textwrap.dedent("""
        def nms(boxes, scores, iou_threshold):
            iou = detection.box_iou(boxes, boxes)
            order = list(np.argsort(-scores))
            return np.array([j for r, j in enumerate(order) if not any(iou[i, j] > iou_threshold for i in order[:r])])"""),
     "only KEPT boxes remove others"),
    ("nms", textwrap.dedent("""
        def nms(boxes, scores, iou_threshold):
            order, keep = list(np.argsort(-scores)), []
            while order:
                best = order.pop(0)
                keep.append(best)
                order = [j for j in order if detection.box_iou(boxes[[best]], boxes[[j]])[0, 0] < iou_threshold]
            return np.array(keep)"""),
     "Likely mistake: boxes whose IoU equals the threshold are removed too"),
]


@pytest.mark.parametrize("name, source, words", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_typical_wrong_answer_is_named(name, source, words):
    message = _fails(name, _define(source, name))
    assert words in message, message
    assert f"{name}: case " in message and "(visible cases, smallest first) failed" in message


def test_every_exercise_has_a_typical_wrong_answer_tested():
    assert {name for name, _, _ in WRONG} == set(EXERCISES)


def test_a_library_shortcut_is_refused():
    def box_blur(image, k):
        from course import ops

        return ops.correlate2d(image, np.full((k, k), 1 / k**2))

    message = _fails("box_blur", box_blur)
    assert "Forbidden call" in message and "correlate2d" in message


def test_a_wrong_value_nobody_predicted_shows_the_values():
    def mlp_parameters(sizes):
        return 12345

    message = _fails("mlp_parameters", mlp_parameters)
    assert "Wrong value: expected 795010, got 12345." in message and "No typical mistake gives this value" in message
