"""Tests of course.explorers.name_the_operation: frames of all four operations against torch, the
numbers against the drawn window, the verdicts, and a quiz that keeps its answers until checked."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.explorers.name_the_operation import (
    FIELDS,
    OPERATIONS,
    PUZZLES,
    NameTheOperationView,
    OperationFrameView,
    Puzzle,
    check_answer,
    default_input,
    default_weight,
    name_the_operation,
    operation_frame,
    plot_name_the_operation,
    plot_operation_frame,
    quiz_result,
)
from explorer_helpers import changes_image, texts

SETTINGS = [
    dict(input_size=5, kernel_size=3, stride=2),
    dict(input_size=5, kernel_size=3, stride=2, padding=1),
    dict(input_size=7, kernel_size=3, dilation=2),
    dict(input_size=6, kernel_size=2, stride=2),
    dict(input_size=6, kernel_size=3, padding=1),
    dict(input_size=4, kernel_size=1, stride=2),
]


def _torch(operation, x, weight, s):
    t = torch.tensor(x, dtype=torch.float64)[None, None]
    k, st, p, d = s["kernel_size"], s.get("stride", 1), s.get("padding", 0), s.get("dilation", 1)
    if operation == "convolution":
        return F.conv2d(t, torch.tensor(weight)[None, None], stride=st, padding=p, dilation=d)
    if operation == "transposed convolution":
        return F.conv_transpose2d(t, torch.tensor(weight)[None, None], stride=st, padding=p, dilation=d)
    if operation == "max pooling":
        return F.max_pool2d(t, k, st, p, d)
    return F.avg_pool2d(t, k, st, p)


def _cases():
    for s in SETTINGS:
        for operation in OPERATIONS:
            if operation == "average pooling" and s.get("dilation", 1) != 1:
                continue
            if operation.endswith("pooling") and s.get("padding", 0) > s["kernel_size"] // 2:
                continue
            yield operation, s


@pytest.mark.parametrize("operation,settings", list(_cases()))
def test_frames_compute_what_torch_computes(operation, settings):
    res = operation_frame(operation, **settings)
    assert res["error"] is None
    expected = _torch(operation, res["x"], res["weight"], settings)[0, 0].numpy()
    np.testing.assert_allclose(res["output"], expected, atol=1e-12)
    assert res["output"].shape == (res["output_size"],) * 2
    assert (res["weight"] is None) == operation.endswith("pooling")


@pytest.mark.parametrize("operation,settings", list(_cases()))
def test_each_output_is_read_off_the_drawn_window(operation, settings):
    """What the picture shows (the numbers under the kernel's taps) gives the output cell, by the
    rule of each operation: the drawing and the numbers agree at every step."""
    n_steps = operation_frame(operation, **settings)["n_steps"]
    for step in range(n_steps):
        res = operation_frame(operation, **settings, step=step)
        window, k = res["window"], settings["kernel_size"]
        assert window.shape == (k, k)
        if operation == "max pooling":
            expected = np.nanmax(window)
        elif operation == "average pooling":
            expected = np.nansum(window) / k**2  # padding counts as zeros (count_include_pad)
        elif operation == "convolution":
            expected = np.nansum(window * res["weight"])
        else:  # the direct convolution that computes a transposed one uses the flipped kernel
            expected = np.nansum(window * res["weight"][::-1, ::-1])
        assert res["value"] == pytest.approx(expected), step
        assert res["value"] == res["output"][divmod(step, res["output_size"])]


def test_grid_values_hold_the_input_where_the_picture_has_data():
    res = operation_frame("convolution", 5, 3, padding=1)
    grid = res["grid_values"]
    assert grid.shape == (7, 7) and np.isnan(grid[0]).all() and np.isnan(grid[:, -1]).all()
    np.testing.assert_array_equal(grid[1:-1, 1:-1], default_input(5))
    res = operation_frame("transposed convolution", 3, 3, stride=2)
    grid = res["grid_values"]  # spread by 2 and padded by d(k-1) - p = 2: 9 x 9
    assert grid.shape == (9, 9)
    np.testing.assert_array_equal(grid[2:7:2, 2:7:2], default_input(3))
    assert np.isnan(grid).sum() == 81 - 9


def test_default_values():
    np.testing.assert_array_equal(default_input(3), default_input(3))
    assert default_input(4).min() >= 0 and default_input(4).max() <= 9 and default_input(4).shape == (4, 4)
    w = default_weight(3)
    assert w[0, 0] == -1 and set(np.unique(w)) <= {-1, 1, 2} and w.shape == (3, 3)
    assert default_weight(1).tolist() == [[-1]]  # a 1x1 kernel of weight 1 would look like pooling


def test_given_values_and_checks():
    x = np.arange(16).reshape(4, 4)
    res = operation_frame("max pooling", 4, 2, stride=2, x=x)
    np.testing.assert_array_equal(res["output"], [[5, 7], [13, 15]])
    res = operation_frame("convolution", 4, 2, stride=2, x=x, weight=[[1, 0], [0, 0]])
    np.testing.assert_array_equal(res["output"], [[0, 2], [8, 10]])
    with pytest.raises(ValueError, match="`operation` must be one of"):
        operation_frame("min pooling")
    with pytest.raises(ValueError, match="`weight` must be None for max pooling"):
        operation_frame("max pooling", weight=np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(5, 5\)"):
        operation_frame("convolution", x=np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"`weight` must have shape \(3, 3\)"):
        operation_frame("convolution", weight=np.ones((2, 2)))


def test_invalid_settings_explain_instead_of_raising():
    res = operation_frame("max pooling", 5, 3, padding=2)
    assert "at most half the kernel size" in res["error"] and res["output"] is None and res["n_steps"] == 0
    res = operation_frame("average pooling", 7, 3, dilation=2)
    assert res["error"].startswith("`dilation` must be 1 for average pooling") and res["taps"] is None
    res = operation_frame("convolution", 3, 5)
    assert "larger than the padded input" in res["error"] and res["output"] is None
    assert "do not work" in texts(plot_operation_frame("max pooling", 5, 3, padding=2))


def test_frame_figure_shows_the_numbers_and_names_the_operation():
    fig = plot_operation_frame("max pooling", 5, 3, stride=2, step=1)
    res = operation_frame("max pooling", 5, 3, stride=2, step=1)
    text = texts(fig)
    assert "max pooling: input 5, kernel 3, padding 0, stride 2, dilation 1" in text
    assert str(int(res["value"])) in text
    view = OperationFrameView()
    view.update("max pooling", 5, 3, stride=2, step=1)
    assert view.in_labels.strings == [str(v) for v in default_input(5).ravel()]
    assert view.out_labels.strings == [str(int(v)) for v in res["output"].ravel()[:2]]  # computed so far
    view.update("convolution", 3, 5)  # invalid: no numbers
    assert view.in_labels.strings == [] and view.out_labels.strings == []


# ----------------------------------------------------------------------------- puzzles and answers


def test_the_first_two_puzzles_are_the_lecture_frames():
    one, two = PUZZLES["lecture, frame 1"], PUZZLES["lecture, frame 2"]
    assert (one.operation, one.input_size, one.kernel_size, one.stride, one.padding, one.dilation) == \
        ("max pooling", 5, 3, 2, 0, 1)
    assert (two.input_size, two.kernel_size, two.stride, two.padding, two.dilation) == (5, 3, 2, 1, 1)
    assert operation_frame("max pooling", 5, 3, stride=2)["output_size"] == 2
    assert operation_frame("convolution", 5, 3, stride=2, padding=1)["output_size"] == 3
    assert set(p.operation for p in PUZZLES.values()) == set(OPERATIONS)  # every operation is asked once at least


@pytest.mark.parametrize("name", list(PUZZLES))
def test_every_puzzle_can_be_answered_from_its_numbers(name):
    """A reader who compares each output with its window can tell the operation: pooling frames follow
    their rule at every step, and frames of the other operations break the pooling rules somewhere."""
    p = PUZZLES[name]
    frames = [operation_frame(p.operation, p.input_size, p.kernel_size, p.padding, p.stride, p.dilation, s)
              for s in range(operation_frame(p.operation, p.input_size, p.kernel_size, p.padding, p.stride,
                                             p.dilation)["n_steps"])]
    is_max = [f["value"] == np.nanmax(f["window"]) for f in frames]
    is_mean = [f["value"] == pytest.approx(np.nansum(f["window"]) / p.kernel_size**2) for f in frames]
    if p.operation == "max pooling":
        assert all(is_max) and not all(is_mean)
    elif p.operation == "average pooling":
        assert all(is_mean) and not all(is_max)
    else:
        assert not all(is_max) and not all(is_mean)
    assert p.note


def test_check_answer_field_by_field():
    right = dict(operation="max pooling", kernel_size=3, stride=2, padding=0, dilation=1)
    r = check_answer("lecture, frame 1", right)
    assert r["score"] == 5 and r["all_correct"]
    r = check_answer(PUZZLES["lecture, frame 1"], {**right, "operation": "average pooling", "padding": 1})
    assert r["score"] == 3 and not r["all_correct"]
    assert r["fields"]["operation"] == {"guess": "average pooling", "truth": "max pooling", "correct": False}
    assert r["fields"]["stride"] == {"guess": 2, "truth": 2, "correct": True}
    r = check_answer("lecture, frame 1", {})
    assert r["score"] == 0 and all(f["guess"] is None for f in r["fields"].values())
    one = Puzzle("convolution", 4, 1, stride=2)
    assert check_answer(one, {"dilation": 3})["fields"]["dilation"]["correct"]  # a 1x1 kernel has no dilation
    assert not check_answer(one, {"dilation": None})["fields"]["dilation"]["correct"]


def test_lecture_frame_2_accepts_pooling_or_convolution_as_the_lecture_does():
    """Deck 000 answers its second animation "pooling or convolution": the question is the window's
    geometry, the same for both; the numbers drawn come from a convolution, and the note says so."""
    two = PUZZLES["lecture, frame 2"]
    assert two.operation == "convolution" and set(two.also_correct) == {"max pooling", "average pooling"}
    assert two.answer == "pooling or convolution"
    settings = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1}
    for operation in OPERATIONS:
        r = check_answer("lecture, frame 2", {"operation": operation, **settings})
        right = operation != "transposed convolution"
        assert r["fields"]["operation"] == {"guess": operation, "truth": "pooling or convolution", "correct": right}
        assert r["all_correct"] is right and r["score"] == 4 + right
    # every accepted operation has this very geometry: 5x5 -> 3x3, the same windows at every step
    frames = {op: operation_frame(op, 5, 3, 1, 2, 1, 4) for op in ("convolution", *two.also_correct)}
    assert {f["output_size"] for f in frames.values()} == {3}
    assert len({(tuple(f["taps"][0]), tuple(f["taps"][1])) for f in frames.values()}) == 1
    # the note's numbers: the second output is 26, more than any input, so no maximum and no mean
    res = operation_frame("convolution", 5, 3, 1, 2, 1, step=1)
    assert res["value"] == 26 and res["value"] > res["x"].max()
    assert "26, exceeds every input" in two.note and "pooling or convolution" in two.note
    # the other puzzles accept their own operation only
    assert all(p.also_correct == () and p.answer == p.operation for n, p in PUZZLES.items() if n != "lecture, frame 2")
    assert not check_answer("lecture, frame 1", {"operation": "convolution"})["fields"]["operation"]["correct"]


def test_the_checked_figure_of_frame_2_names_both_answers_and_explains():
    fig = plot_name_the_operation("lecture, frame 2", 1, operation="average pooling", kernel_size=3, stride=2,
                                  padding=1, dilation=1, check=True)
    said = texts(fig)
    assert "5 of 5 right: pooling or convolution ✓, kernel 3 ✓, stride 2 ✓" in said
    assert "a pooling moves its window just as a convolution does" in " ".join(said.split())  # the note, wrapped
    said = texts(plot_name_the_operation("lecture, frame 2", 1, operation="transposed convolution", check=True))
    assert "pooling or convolution ✗ (you: transposed convolution)" in said


def test_puzzle_checks_its_accepted_operations():
    assert Puzzle("convolution", 5, 3, also_correct=["max pooling"]).also_correct == ("max pooling",)
    with pytest.raises(TypeError, match="`also_correct` must be a tuple"):
        Puzzle("convolution", 5, 3, also_correct="max pooling")
    with pytest.raises(ValueError, match="`also_correct` must be one of"):
        Puzzle("convolution", 5, 3, also_correct=("pooling",))
    with pytest.raises(ValueError, match="repeats the puzzle's own operation 'convolution'"):
        Puzzle("convolution", 5, 3, also_correct=("convolution",))
    with pytest.raises(ValueError, match="do not work for average pooling"):  # no dilation in average pooling
        Puzzle("convolution", 7, 3, dilation=2, also_correct=("average pooling",))


def test_check_answer_checks_its_input():
    with pytest.raises(ValueError, match="unknown fields \\['size'\\]"):
        check_answer("lecture, frame 1", {"size": 3})
    with pytest.raises(ValueError, match="`guess\\['operation'\\]` must be one of"):
        check_answer("lecture, frame 1", {"operation": "pooling"})
    with pytest.raises(TypeError, match="`guess\\['stride'\\]` must be an int or None"):
        check_answer("lecture, frame 1", {"stride": "2"})
    with pytest.raises(ValueError, match="`puzzle` must be a Puzzle or one of"):
        check_answer("frame 9", {})
    with pytest.raises(ValueError, match="puzzle settings do not work"):
        Puzzle("max pooling", 5, 3, padding=2)
    with pytest.raises(ValueError, match="`operation`"):
        Puzzle("pooling", 5, 3)


def test_quiz_result_reveals_only_when_checked():
    hidden = quiz_result("lecture, frame 2", 1, operation="convolution", padding=0)
    assert "verdict" not in hidden and "truth" not in hidden and not hidden["checked"]
    assert hidden["guess"] == dict(operation="convolution", kernel_size=None, stride=None, padding=0, dilation=None)
    shown = quiz_result("lecture, frame 2", 1, operation="convolution", padding=0, check=True)
    assert shown["verdict"] == check_answer("lecture, frame 2", shown["guess"])
    assert shown["truth"]["padding"] == 1 and shown["verdict"]["score"] == 1
    frame = operation_frame("convolution", 5, 3, 1, 2, 1, 1)
    np.testing.assert_array_equal(shown["output"], frame["output"])
    assert shown["value"] == frame["value"]
    with pytest.raises(TypeError, match="`guess\\['kernel_size'\\]`"):
        quiz_result(kernel_size=2.5)  # a bad guess is refused before it is revealed


_GIVEAWAYS = ["pooling", "convolution", "transposed", "stride 2", "padding 0", "padding 1", "dilation 1",
              "kernel 3", "spread", "$"]


@pytest.mark.parametrize("name", list(PUZZLES))
def test_the_figure_gives_nothing_away_until_checked(name):
    fig = plot_name_the_operation(name, step=1)
    said = texts(fig).lower()
    assert "which operation" in said
    for word in _GIVEAWAYS:
        assert word not in said, f"{name}: the figure says {word!r} before the check"


def test_the_checked_figure_gives_the_verdict():
    fig = plot_name_the_operation("lecture, frame 1", 1, operation="max pooling", kernel_size=3, stride=2,
                                  padding=1, dilation=1, check=True)
    said = texts(fig)
    assert "4 of 5 right: max pooling ✓, kernel 3 ✓, stride 2 ✓" in said
    assert "padding 0 ✗ (you: 1), dilation 1 ✓" in said
    assert r"\frac{5 + 2\cdot0 - 1\cdot(3-1) - 1}{2}" in said  # the size formula with its values
    assert "largest value under the window" in said  # the puzzle's note
    assert str(inspect.signature(plot_name_the_operation)) == str(inspect.signature(quiz_result)).replace(
        "-> 'dict[str, Any]'", "-> 'Figure'")


# ----------------------------------------------------------------------------- the widget


def test_quiz_widget_matches_direct_calls_and_reveals_on_check():
    w = name_the_operation()
    c = w.controls
    assert isinstance(w.view, NameTheOperationView) and c["puzzle"].value is PUZZLES["lecture, frame 1"]
    assert c["step"].max == 3 and all(c[name].value == "?" for name in FIELDS) and not c["check"].value
    assert "which operation" in w.view.title.get_text().lower()
    c["step"].value = 2
    c["operation"].value = "max pooling"
    c["kernel_size"].value = 3
    c["stride"].value = 1
    direct = quiz_result(PUZZLES["lecture, frame 1"], 2, operation="max pooling", kernel_size=3, stride=1)
    np.testing.assert_array_equal(w.result["output"], direct["output"])
    assert w.result["value"] == direct["value"] and w.result["guess"] == direct["guess"]
    assert "verdict" not in w.result and "pooling" not in w.view.title.get_text()
    assert changes_image(w, "check", True)
    assert w.result["verdict"] == check_answer("lecture, frame 1", direct["guess"])
    assert w.result["verdict"]["score"] == 2 and "2 of 5 right" in w.view.title.get_text()
    c["stride"].value = 2  # answers can still change after the check, the verdict follows
    assert w.result["verdict"]["score"] == 3
    c["puzzle"].value = PUZZLES["puzzle 6"]  # a new puzzle starts hidden and unanswered
    assert not c["check"].value and c["step"].value == 0 and all(c[name].value == "?" for name in FIELDS)
    assert c["step"].max == 48 and w.result["output_size"] == 7 and "verdict" not in w.result
    c["play"].value = 5
    assert w.result["output_cell"] == (0, 5) and w.error is None


def test_quiz_widget_with_own_puzzles():
    w = name_the_operation({"mine": Puzzle("average pooling", 4, 2, stride=2, note="mean")})
    assert list(w.controls["puzzle"].options) == [("mine", Puzzle("average pooling", 4, 2, stride=2, note="mean"))]
    assert w.result["output"].shape == (2, 2) and w.controls["step"].max == 3
    with pytest.raises(TypeError, match="`puzzles`"):
        name_the_operation({})
    with pytest.raises(TypeError, match="`puzzles`"):
        name_the_operation({"x": "lecture, frame 1"})
