"""Explorer 8: "name the operation", the lecture's exercise as a quiz that keeps its answers until asked.

A frame of the convolution-arithmetic picture, with the numbers: the input values,
the window at this step and the output cells computed so far. Convolution,
transposed convolution, max and average pooling all draw the same kind of window;
only the numbers tell them apart (the maximum of the window, its mean, or a
weighted sum with weights the picture does not show). The reader picks the
operation, kernel size, stride, padding and dilation, then presses *Check*; only
then does the figure say what it was.

- :func:`operation_frame` computes one frame of any of the four operations
  (geometry from :func:`course.explorers.conv_arithmetic.conv_arithmetic`, values
  from :mod:`course.ops`); :class:`OperationFrameView` / :func:`plot_operation_frame`
  draw it with its settings in the title;
- :func:`check_answer` compares a guess with a :class:`Puzzle`;
- :func:`quiz_result` is one frame of a puzzle and, once checked, the verdict;
  :class:`NameTheOperationView` / :func:`plot_name_the_operation` draw it without
  giving the settings away; :func:`name_the_operation` is the widget.

Lecture notebook 03, deck 000's exercise (its two animations are the first two puzzles; the
second accepts "pooling or convolution", the lecture's answer: :attr:`Puzzle.also_correct`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import course.ops as ops

from . import controls as C
from .conv_arithmetic import ConvArithmeticView, conv_arithmetic, step_range
from .render import Labels, cell_positions, fmt, make_plot, wrap

__all__ = ["FIELDS", "OPERATIONS", "PUZZLES", "NameTheOperationView", "OperationFrameView", "Puzzle",
           "check_answer", "name_the_operation", "operation_frame", "plot_name_the_operation",
           "plot_operation_frame", "quiz_result"]

#: The operations a frame can show.
OPERATIONS = ("convolution", "transposed convolution", "max pooling", "average pooling")
#: What the reader names, in the order the quiz asks.
FIELDS = ("operation", "kernel_size", "stride", "padding", "dilation")


def _check_operation(operation, name: str = "operation") -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"`{name}` must be one of {list(OPERATIONS)}, got {operation!r}")


def default_input(input_size: int) -> np.ndarray:
    """The input values of a frame: integers 0..9, the same for every frame of one size.

    Returns
    -------
    ndarray of int64, shape (input_size, input_size)
    """
    return np.random.default_rng(1000 + input_size).integers(0, 10, (input_size, input_size))


def default_weight(kernel_size: int) -> np.ndarray:
    """The hidden kernel of a convolution frame: weights -1, 1 and 2, the first -1.

    A negative weight keeps a weighted sum from looking like a maximum or a mean
    (a 1x1 kernel of weight 1 would copy the input, as a 1x1 pooling does).

    Returns
    -------
    ndarray of int64, shape (kernel_size, kernel_size)
    """
    weight = np.random.default_rng(2000 + kernel_size).choice([-1, 1, 2], (kernel_size, kernel_size))
    weight[0, 0] = -1
    return weight


def _invalid(res: dict[str, Any], message: str) -> dict[str, Any]:
    res.update(error=message, output_size=None, taps=None, footprint_inputs=[], output_cell=None, n_steps=0,
               output=None, value=None, window=None)
    return res


def operation_frame(operation: str = "convolution", input_size: int = 5, kernel_size: int = 3, padding: int = 0,
                    stride: int = 1, dilation: int = 1, step: int = 0, *, x=None, weight=None) -> dict[str, Any]:
    """One frame of a convolution, transposed convolution, max or average pooling, with its numbers.

    Parameters
    ----------
    operation : {'convolution', 'transposed convolution', 'max pooling', 'average pooling'}
        Convolutions are ``ops.conv2d`` / ``ops.conv_transpose2d`` with one channel;
        max pooling pads with -inf, average pooling with zeros that count in the
        mean (PyTorch's defaults, :func:`course.ops.max_pool2d`, :func:`course.ops.avg_pool2d`).
    input_size, kernel_size, padding, stride, dilation : int
        As in ``nn.Conv2d`` / ``nn.MaxPool2d``, the same along both axes. Average
        pooling has no dilation (it must be 1); pooling's padding is at most half the kernel.
    step : int
        Output cell (row-major), modulo the number of output cells.
    x : array_like, shape (input_size, input_size), optional, keyword-only
        Input values; default :func:`default_input`.
    weight : array_like, shape (kernel_size, kernel_size), optional, keyword-only
        Kernel of a convolution; default :func:`default_weight`. Pooling has none.

    Returns
    -------
    dict
        Everything :func:`~course.explorers.conv_arithmetic.conv_arithmetic` returns
        (geometry on the grid of the padded, or spread, input: ``coords``, ``is_data``,
        ``taps``, ``output_cell``, ``n_steps``, ``formula``, ``error``), and
        ``operation``; ``x`` (float, shape (i, i)); ``weight`` (shape (k, k), or None
        for pooling); ``output`` (shape (o, o)); ``value`` (the output cell of this
        step); ``grid_values`` (shape (G, G): the input value at each grid cell that
        holds one, NaN in the padding and between spread cells); ``window`` (shape
        (k, k): ``grid_values`` under the kernel's taps). Invalid settings give
        ``error`` and None for the values.

    Raises
    ------
    ValueError
        On an unknown ``operation``, or ``x`` / ``weight`` of the wrong shape, or a
        weight for pooling.

    Notes
    -----
    What the picture lets a reader check: with padding and spread cells read as
    missing, ``value`` is the maximum of ``window`` (max pooling), the sum of
    ``window`` over ``k * k`` (average pooling), the sum of ``window * weight``
    (convolution) or of ``window * weight[::-1, ::-1]`` (a transposed convolution,
    drawn as the direct convolution that computes it).

    Examples
    --------
    The lecture's first frame: a 3x3 max pooling with stride 2 on a 5x5 input.

    >>> r = operation_frame("max pooling", 5, 3, stride=2, step=1)
    >>> r["output_size"], r["value"], bool(r["value"] == np.nanmax(r["window"]))
    (2, 9.0, True)
    """
    _check_operation(operation)
    transposed = operation == "transposed convolution"
    res = conv_arithmetic(input_size, kernel_size, padding, stride, dilation, transposed, step)
    res.update(operation=operation, x=None, weight=None, output=None, value=None, grid_values=None, window=None)
    pooling = operation.endswith("pooling")
    if weight is not None and pooling:
        raise ValueError(f"`weight` must be None for {operation}: pooling has no weights")
    if res["coords"] is None:  # sizes that are not whole numbers in range: conv_arithmetic explains
        return res
    i, k, p, s, d = input_size, kernel_size, padding, stride, dilation
    xs = default_input(i) if x is None else np.asarray(x)
    if xs.shape != (i, i):
        raise ValueError(f"`x` must have shape ({i}, {i}) for input_size={i}, got {xs.shape}")
    xs = xs.astype(np.float64)
    res["x"] = xs
    w = None
    if not pooling:
        w = default_weight(k) if weight is None else np.asarray(weight)
        if w.shape != (k, k):
            raise ValueError(f"`weight` must have shape ({k}, {k}) for kernel_size={k}, got {w.shape}")
        res["weight"] = w = w.astype(np.float64)
    if res["error"] is not None:
        return res
    if operation == "average pooling" and d != 1:
        return _invalid(res, f"`dilation` must be 1 for average pooling (it has none in PyTorch), got {d}")
    try:
        if operation == "convolution":
            out = ops.conv2d(xs[None, None], w[None, None], stride=s, padding=p, dilation=d)[0, 0]
        elif transposed:
            out = ops.conv_transpose2d(xs[None, None], w[None, None], stride=s, padding=p, dilation=d)[0, 0]
        elif operation == "max pooling":
            out = ops.max_pool2d(xs[None], k, s, p, d)[0]
        else:
            out = ops.avg_pool2d(xs[None], k, s, p)[0]
    except ValueError as err:  # pooling's own limits, e.g. padding over half the kernel
        return _invalid(res, str(err))
    assert out.shape == (res["output_size"],) * 2, (out.shape, res["output_size"])
    on_data = res["is_data"].any(axis=1)
    grid = np.full(res["is_data"].shape, np.nan)
    grid[np.ix_(on_data, on_data)] = xs
    lo = res["coords"][0]
    rows, cols = res["taps"][0] - lo, res["taps"][1] - lo
    res.update(output=out, value=float(out[res["output_cell"]]), grid_values=grid, window=grid[np.ix_(rows, cols)])
    return res


class OperationFrameView(ConvArithmeticView):
    """The convolution-arithmetic picture of :func:`operation_frame` with its numbers:
    the input values (none in the padding), the kernel's taps at this step, the
    output values computed so far; the title names the operation and its settings.
    """

    function = staticmethod(operation_frame)

    def __init__(self) -> None:
        super().__init__()
        self.in_labels = Labels(self.ax_in, fontsize=10)
        self.out_labels = Labels(self.ax_out, fontsize=10)

    def title_text(self, res: dict[str, Any]) -> str:
        return (f"{res['operation']}: input {res['input_size']}, kernel {res['kernel_size']}, padding "
                f"{res['padding']}, stride {res['stride']}, dilation {res['dilation']}")

    def draw_numbers(self, res: dict[str, Any], G: int, o: int) -> None:
        if res["grid_values"] is None or o == 0:
            self.in_labels.clear_labels()
            self.out_labels.clear_labels()
            return
        size = 10 if max(G, o) <= 9 else 7
        self.in_labels.fontsize = self.out_labels.fontsize = size
        grid = res["grid_values"]
        shown = ~np.isnan(grid)
        hit = np.zeros(grid.shape, bool)
        lo = res["coords"][0]
        hit[np.ix_(res["taps"][0] - lo, res["taps"][1] - lo)] = True
        self.in_labels.set_labels(cell_positions(G, G)[shown.ravel()], [fmt(v) for v in grid[shown]],
                                  ["white" if h else "black" for h in hit[shown]])
        done = (np.arange(o * o) <= res["step"]).reshape(o, o)
        out = res["output"]
        self.out_labels.set_labels(cell_positions(o, o)[done.ravel()], [fmt(v) for v in out[done]],
                                   ["white" if (r, c) == res["output_cell"] else "black"
                                    for r, c in zip(*np.nonzero(done))])


plot_operation_frame = make_plot(
    OperationFrameView, "plot_operation_frame",
    "Draw one frame of a convolution, transposed convolution or pooling with its numbers "
    "(see :func:`operation_frame`).")


# ----------------------------------------------------------------------------- the quiz


@dataclass(frozen=True)
class Puzzle:
    """The hidden settings of one "name the operation" frame.

    Parameters
    ----------
    operation : str
        One of :data:`OPERATIONS`.
    input_size, kernel_size, stride, padding, dilation : int
        As in :func:`operation_frame`.
    note : str
        Shown with the answer.
    also_correct : tuple of str
        Other operations that count as a right answer, because the question is about the
        window's geometry and theirs is the same: the lecture answers its second frame
        "pooling or convolution". ``operation`` is still what computed the numbers drawn.
    """

    operation: str
    input_size: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    note: str = ""
    also_correct: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_operation(self.operation)
        if isinstance(self.also_correct, str) or not isinstance(self.also_correct, (tuple, list)):
            raise TypeError(f"`also_correct` must be a tuple of operation names, got {self.also_correct!r}")
        object.__setattr__(self, "also_correct", tuple(self.also_correct))
        for other in self.also_correct:
            _check_operation(other, "also_correct")
        if self.operation in self.also_correct:
            raise ValueError(f"`also_correct` repeats the puzzle's own operation {self.operation!r}")
        for operation in (self.operation, *self.also_correct):
            res = operation_frame(operation, self.input_size, self.kernel_size, self.padding, self.stride,
                                  self.dilation)
            if res["error"] is not None:
                raise ValueError(f"puzzle settings do not work for {operation}: {res['error']}")

    @property
    def answer(self) -> str:
        """The operations that count as right, as the verdict names them.

        Examples
        --------
        >>> PUZZLES["lecture, frame 2"].answer
        'pooling or convolution'
        >>> PUZZLES["lecture, frame 1"].answer
        'max pooling'
        """
        names = [*self.also_correct, self.operation]
        if "max pooling" in names and "average pooling" in names:
            names = ["pooling", *[n for n in names if not n.endswith("pooling")]]
        return " or ".join(names)


#: The quiz's frames: the two of the lecture first, then more of each operation.
PUZZLES: dict[str, Puzzle] = {
    "lecture, frame 1": Puzzle("max pooling", 5, 3, stride=2, note=(
        "The lecture's first animation: every output is the largest value under the window; "
        "5×5 → 2×2.")),
    "lecture, frame 2": Puzzle("convolution", 5, 3, stride=2, padding=1, also_correct=(
        "max pooling", "average pooling"), note=(
        "Both count as right, as in the lecture (\"pooling or convolution\"): a pooling moves its window just "
        "as a convolution does (3×3, stride 2, padding 1: 5×5 → 3×3). The numbers drawn here say more: the "
        "second output, 26, exceeds every input, so these are a convolution's weighted sums, not maxima or means.")),
    "puzzle 3": Puzzle("convolution", 7, 3, dilation=2, note="Dilation 2: the taps are two cells apart."),
    "puzzle 4": Puzzle("average pooling", 6, 2, stride=2, note="Each output is the mean of its 2×2 window."),
    "puzzle 5": Puzzle("max pooling", 6, 3, stride=1, padding=1, note=(
        "Overlapping windows (stride 1 < kernel 3); the padding never wins a maximum.")),
    "puzzle 6": Puzzle("transposed convolution", 3, 3, stride=2, note=(
        "Drawn as the direct convolution that computes it: the input spread by the stride (zeros between), "
        "padded by d(k−1) − p = 2, the kernel flipped; 3×3 → 7×7.")),
    "puzzle 7": Puzzle("average pooling", 5, 3, stride=1, padding=1, note=(
        "The padding counts as zeros in the mean (PyTorch's count_include_pad=True); 5×5 → 5×5.")),
    "puzzle 8": Puzzle("convolution", 6, 2, stride=2, dilation=2, note=(
        "A 2×2 kernel dilated by 2 spans 3×3 cells; stride 2 moves it two cells.")),
}


def _puzzle(puzzle) -> Puzzle:
    if isinstance(puzzle, Puzzle):
        return puzzle
    if isinstance(puzzle, str) and puzzle in PUZZLES:
        return PUZZLES[puzzle]
    raise ValueError(f"`puzzle` must be a Puzzle or one of {list(PUZZLES)}, got {puzzle!r}")


def check_answer(puzzle, guess: dict[str, Any]) -> dict[str, Any]:
    """Compare a guess with a puzzle's settings, field by field.

    Parameters
    ----------
    puzzle : Puzzle or str
        A puzzle or the name of one in :data:`PUZZLES`.
    guess : dict
        Any of ``operation``, ``kernel_size``, ``stride``, ``padding``, ``dilation``;
        a missing field or None is "no answer".

    Returns
    -------
    dict
        ``fields``: for each name of :data:`FIELDS` a dict ``guess``, ``truth``,
        ``correct``; ``score``: how many are correct; ``all_correct``. A 1x1 kernel
        has no dilation to see, so any dilation is right for it. The operation's
        ``truth`` is :attr:`Puzzle.answer`: the puzzle's operation, or the operations
        that count as right ("pooling or convolution"); a guess among
        :attr:`Puzzle.also_correct` is correct.

    Raises
    ------
    ValueError
        On an unknown key or operation.
    TypeError
        If a size is not an int.

    Examples
    --------
    >>> r = check_answer("lecture, frame 1", dict(operation="max pooling", kernel_size=3, stride=2,
    ...                                           padding=1, dilation=1))
    >>> r["score"], r["fields"]["padding"]
    (4, {'guess': 1, 'truth': 0, 'correct': False})

    The lecture's second frame accepts a pooling as well as a convolution:

    >>> check_answer("lecture, frame 2", dict(operation="max pooling"))["fields"]["operation"]
    {'guess': 'max pooling', 'truth': 'pooling or convolution', 'correct': True}
    """
    puzzle = _puzzle(puzzle)
    unknown = set(guess) - set(FIELDS)
    if unknown:
        raise ValueError(f"`guess` has unknown fields {sorted(unknown)}; use {list(FIELDS)}")
    fields = {}
    for name in FIELDS:
        value, truth = guess.get(name), getattr(puzzle, name)
        if value is not None and name == "operation":
            _check_operation(value, "guess['operation']")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise TypeError(f"`guess['{name}']` must be an int or None, got {value!r}")
        correct = value == truth or (name == "dilation" and value is not None and puzzle.kernel_size == 1)
        if name == "operation":
            correct = correct or value in puzzle.also_correct
            truth = puzzle.answer
        fields[name] = {"guess": value, "truth": truth, "correct": bool(correct)}
    score = sum(f["correct"] for f in fields.values())
    return {"fields": fields, "score": score, "all_correct": score == len(FIELDS)}


def quiz_result(puzzle="lecture, frame 1", step: int = 0, *, operation: str | None = None,
                kernel_size: int | None = None, stride: int | None = None, padding: int | None = None,
                dilation: int | None = None, check: bool = False) -> dict[str, Any]:
    """One frame of a puzzle, and once ``check`` is set, how the guess compares.

    Parameters
    ----------
    puzzle : Puzzle or str
        A puzzle or the name of one in :data:`PUZZLES`.
    step : int
        Output cell shown (row-major), modulo the number of cells.
    operation, kernel_size, stride, padding, dilation : optional, keyword-only
        The reader's guess (None: no answer yet).
    check : bool, keyword-only
        Reveal: add ``verdict`` (:func:`check_answer`) and ``truth``.

    Returns
    -------
    dict
        :func:`operation_frame`'s dict for the puzzle's settings, and ``puzzle``,
        ``guess`` (dict of the five fields), ``checked``; when checked, ``verdict``
        and ``truth`` (the puzzle's settings as a dict, with its ``note``).

    Examples
    --------
    >>> r = quiz_result("lecture, frame 2", 1, operation="convolution", check=True)
    >>> r["verdict"]["score"], r["truth"]["padding"]
    (1, 1)
    """
    p = _puzzle(puzzle)
    guess = dict(operation=operation, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    verdict = check_answer(p, guess)  # checks the guess's types even before it is revealed
    res = operation_frame(p.operation, p.input_size, p.kernel_size, p.padding, p.stride, p.dilation, step)
    res.update(puzzle=p, guess=guess, checked=bool(check))
    if check:
        res.update(verdict=verdict, truth=asdict(p))
    return res


_NAMES = {"operation": "", "kernel_size": "kernel ", "stride": "stride ", "padding": "padding ",
          "dilation": "dilation "}


class NameTheOperationView(OperationFrameView):
    """A frame of a puzzle with its numbers and without its settings; once checked, the
    title gives the score, each setting with ✓ or ✗ (and what was guessed), the
    size formula and the puzzle's note.
    """

    function = staticmethod(quiz_result)
    figsize = (8.5, 5.2)
    _BOTTOM = 0.2  # room for the formula and the note

    def __init__(self) -> None:
        super().__init__()
        self.note = self.figure.text(0.5, 0.118, "", ha="center", va="center", fontsize=9, color="0.25")

    def title_text(self, res: dict[str, Any]) -> str:
        if not res["checked"]:
            return (f"Which operation, kernel size, stride, padding and dilation? "
                    f"(step {res['step'] + 1} of {res['n_steps']})")
        verdict = res["verdict"]
        parts = []
        for name, field in verdict["fields"].items():
            mark = "✓" if field["correct"] else "✗"
            said = "" if field["correct"] else f" (you: {'?' if field['guess'] is None else field['guess']})"
            parts.append(f"{_NAMES[name]}{field['truth']} {mark}{said}")
        return f"{verdict['score']} of {len(FIELDS)} right: " + ", ".join(parts[:3]) + ",\n" + ", ".join(parts[3:])

    def formula_text(self, res: dict[str, Any]) -> str:
        return res["formula"] if res["checked"] else "What does each output cell have to do with its window?"

    def draw(self, res: dict[str, Any]) -> None:
        super().draw(res)
        self.ax_in.set_title("input", fontsize=10)  # not "spread by the stride": that would tell
        self.note.set_text(wrap(res["truth"]["note"], 110) if res["checked"] else "")


plot_name_the_operation = make_plot(
    NameTheOperationView, "plot_name_the_operation",
    "Draw one frame of a \"name the operation\" puzzle, its settings hidden unless ``check`` "
    "(see :func:`quiz_result`).")


# ----------------------------------------------------------------------------- the widget


_NO_ANSWER = "?"  # a drop-down's value for "no answer" (ipywidgets shows a value None as no selection)


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    return {name: None if values[name] == _NO_ANSWER else values[name] for name in FIELDS}


def _on_puzzle(values: dict[str, Any], new) -> dict[str, Any]:
    # a new puzzle starts unanswered and hidden
    return {"check": False, "step": 0, **{name: _NO_ANSWER for name in FIELDS}}


def name_the_operation(puzzles: dict[str, Puzzle] | None = None):
    """The "name the operation" quiz: read a frame's numbers, name its settings, press Check.

    Parameters
    ----------
    puzzles : dict of str to Puzzle, optional
        The frames offered, by name; default :data:`PUZZLES` (the lecture's two first).

    Returns
    -------
    Explorer
        Controls: ``puzzle``, ``step``, ``play``; the answer ``operation``,
        ``kernel_size``, ``stride``, ``padding``, ``dilation`` (``"?"``: no answer); ``check``
        (pressed: reveal). ``result`` is :func:`quiz_result`'s dict.
    """
    from .widget import build

    puzzles = dict(PUZZLES if puzzles is None else puzzles)
    if not puzzles or not all(isinstance(p, Puzzle) for p in puzzles.values()):
        raise TypeError("`puzzles` must be a non-empty dict of names to Puzzle")
    options = list(puzzles.items())

    def choice(label: str, values, width: str = "150px") -> C.Dropdown:
        return C.Dropdown(label, [(_NO_ANSWER, _NO_ANSWER), *[(str(v), v) for v in values]], default=_NO_ANSWER,
                          width=width)

    controls = {
        "puzzle": C.Dropdown("puzzle", options, default=options[0][1], width="260px"),
        "step": C.Slider("step", 0, 8),
        "play": C.Play("step", interval=800),
        "operation": choice("operation", OPERATIONS, width="290px"),
        "kernel_size": choice("kernel size", range(1, 6)),
        "stride": choice("stride", range(1, 5)),
        "padding": choice("padding", range(0, 4)),
        "dilation": choice("dilation", range(1, 4)),
        "check": C.Switch("Check", tooltip="reveal the settings and whether your answer was right"),
    }
    layout = [C.Row("puzzle", "play", "step"),
              C.Row(C.Note("<b>your answer:</b>&nbsp;"), "operation", "kernel_size"),
              C.Row("stride", "padding", "dilation", "check")]

    def ranges(kwargs: dict[str, Any]) -> dict[str, tuple[int, int]]:
        p = _puzzle(kwargs["puzzle"])
        return step_range(dict(input_size=p.input_size, kernel_size=p.kernel_size, padding=p.padding,
                               stride=p.stride, dilation=p.dilation,
                               transposed=p.operation == "transposed convolution"))

    return build("name-the-operation", NameTheOperationView(), controls, layout, arguments=_arguments,
                 ranges=ranges, reactions={"puzzle": _on_puzzle})
