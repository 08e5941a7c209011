"""Checks behind the auto-graded exercises (``source/ps1``, ``source/ps2``, ``source/ps3``).

Every test cell of the assignments calls one ``check_<task>(student_fn)`` of this
module. A check runs the student's function on seeded cases, from the smallest to
the largest, and compares each result with PyTorch in float64 (through
:func:`course.reference.reference`). The first failing case stops the check with an
``AssertionError`` that says, in order: a wrong return type, a wrong shape (with
the output-size formula filled in), non-finite values, wrong values (within the
stated tolerance) or modified inputs; it names the likely mistake when the wrong
answer equals a typical wrong computation (a flipped kernel, a missing bias, ...)
and shows the inputs, the expected and the received output.

The visible test cell and the hidden tests share one code path:
``check_conv1d(fn)`` runs the visible cases, ``check_conv1d(fn, hidden=True)``
all of them (edge shapes, every mode).

Most checks judge one returned array. ``check_conv2d_backward`` judges each array of
the returned ``(grad_x, grad_weight, grad_bias)`` in turn and names the wrong one;
``check_gradient_check`` hands the student's gradient check correct and deliberately
broken backward passes and wants a small error for the first and a large one for the
second, computed with the notebook's own ``numerical_gradient`` (its calls are counted).

Shortcuts are refused while the student's function runs: PyTorch's convolution and
pooling functions, SciPy's convolutions and filters, ``numpy.convolve`` and
``numpy.correlate`` (and ``numpy.pad`` where padding is the exercise), and the
course's own reference operations. Module attributes are replaced by a guard for
the duration of the call, and a profile hook catches the same functions called
through a name imported earlier (``from scipy.signal import correlate2d``).

Tampering
---------
A notebook runs in the same Python process as the checks, so a student cell can
rebind ``numpy.allclose``, ``numpy.testing``, built-ins or this module's
functions. The checks are written so that this cannot turn a wrong answer into a
pass:

* test cells obtain the checks through ``importlib.reload(course.grading)``, which
  re-executes this file: rebinding ``course.grading.check_x`` has no effect;
* test inputs come from a pure-Python generator and are built with the ndarray
  type's own constructor; comparisons run on Python floats (``ndarray.tolist``)
  with operators only, so no ``numpy.*`` function the notebook can rebind takes
  part in a verdict;
* the built-ins the checks rely on, the reference function and the library
  functions it calls are verified to be the genuine objects before every check;
  a replaced one fails the check with a message that names it.

What is not defended: a notebook that replaces the import machinery itself
(``builtins.__import__``, ``importlib.reload``) or writes to memory. Graders
should still read a submission whose score looks too good.

Notes
-----
The reference runs on CUDA with TF32 disabled when a GPU is present, else on the
CPU; the success line printed by each check says which.
"""
from __future__ import annotations

import builtins as _builtins_module
import os
import sys
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ForbiddenCallError",
    "check_avg_pool2d",
    "check_conv2d",
    "check_conv2d_backward",
    "check_conv2d_matmul",
    "check_conv_matrix_1d",
    "check_conv_matrix_2d",
    "check_conv_transpose2d",
    "check_convolve1d",
    "check_correlate1d",
    "check_correlate2d",
    "check_correlate2d_general",
    "check_correlate2d_strided",
    "check_gradient_check",
    "check_im2col",
    "check_max_pool2d",
    "check_max_pool2d_backward",
    "check_num_conv_parameters",
    "check_numerical_gradient",
    "check_output_size",
    "check_pad2d",
    "check_receptive_field",
]

# --------------------------------------------------------------------------------------
# Genuine objects, obtained from literals where possible (a notebook cannot rebind those).
_TYPE = ().__class__.__class__  # type
_INT = (0).__class__
_FLOAT = (0.0).__class__
_BOOL = True.__class__
_STR = "".__class__
_TUPLE = ().__class__
_LIST = [].__class__
_DICT = {}.__class__
_BUILTIN_FN = [].append.__class__  # builtin_function_or_method


def _probe():  # pragma: no cover - only its type is used
    pass


_FUNCTION = _probe.__class__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on classes defined in Python
_FLAGS = _TYPE.__dict__["__flags__"]
_COURSE_DIR = os.path.dirname(os.path.abspath(__file__))

# The built-ins this module uses; each is verified before a check runs.
_BUILTIN_NAMES = (
    "abs", "callable", "getattr", "hasattr", "id", "isinstance", "len", "max", "min",
    "print", "repr", "setattr", "sorted", "sum", "any", "all",
)
_BUILTIN_TYPES = {"int": _INT, "float": _FLOAT, "bool": _BOOL, "str": _STR, "tuple": _TUPLE,
                  "list": _LIST, "dict": _DICT, "type": _TYPE}
_BUILTIN_STATIC = ("range", "zip", "enumerate", "reversed", "AssertionError", "BaseException", "Exception", "TypeError",
                       "ValueError", "IndexError", "KeyError", "AttributeError", "ImportError")


class GraderEnvironmentError(AssertionError):
    """The notebook replaced something the checks rely on."""


class ForbiddenCallError(BaseException):
    """A library shortcut was called inside the student's function.

    Derived from ``BaseException`` so that ``except Exception`` in the student's
    code does not swallow it (the call is recorded either way).
    """


def _is_static_type(obj, name: str) -> bool:
    try:
        flags = _FLAGS.__get__(obj)
    except Exception:  # noqa: BLE001 - not a type at all
        return False
    return not (flags & _HEAPTYPE) and obj.__name__ == name


def _verify_builtins() -> None:
    """Refuse to grade when a built-in used by the checks has been replaced."""
    table = _builtins_module.__dict__
    for name in _BUILTIN_NAMES:
        obj = table.get(name)
        if not (_TYPE(obj) is _BUILTIN_FN and obj.__self__ is _builtins_module
                and obj.__name__ == name):
            _tampered(f"Python's built-in `{name}`")
    for name, genuine in _BUILTIN_TYPES.items():
        if table.get(name) is not genuine:
            _tampered(f"Python's built-in `{name}`")
    for name in _BUILTIN_STATIC:
        if not _is_static_type(table.get(name), name):
            _tampered(f"Python's built-in `{name}`")


def _tampered(what: str):
    raise GraderEnvironmentError(
        f"The notebook has replaced {what}, which the checks rely on, so nothing can be "
        "graded. Remove the cell that does this, restart the kernel and run all cells again."
    )


def _genuine_ndarray():
    nd = np.ndarray
    if not (_is_static_type(nd, "ndarray") and nd.__module__ == "numpy"):
        _tampered("`numpy.ndarray`")
    return nd


_ND = _genuine_ndarray()
_ND_TOLIST = _ND.tolist
_ND_RESHAPE = _ND.reshape
_ND_COPY = _ND.copy
_ND_ASTYPE = _ND.astype


def _is_ndarray(obj) -> bool:
    return _ND in _TYPE(obj).__mro__


def _package_dir(module_name: str) -> str | None:
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


def _is_genuine(obj, roots: tuple[str, ...]) -> bool:
    """A library function: C code, or Python code from one of the library folders."""
    kind = _TYPE(obj)
    if kind is _BUILTIN_FN:
        return True
    code = None
    if kind is _FUNCTION:
        code = obj.__code__
    else:
        flags = _FLAGS.__get__(kind)
        if not flags & _HEAPTYPE:  # a C callable such as numpy's dispatcher
            impl = getattr(obj, "_implementation", None)
            if impl is None:
                return True
            code = getattr(impl, "__code__", None)
        else:
            return False
    if code is None:
        return False
    filename = os.path.abspath(code.co_filename)
    return any(root and filename.startswith(root + os.sep) for root in roots)


# --------------------------------------------------------------------------------------
# Seeded inputs without numpy's random module (a notebook could rebind it).
_MASK = (1 << 64) - 1


class _Rng:
    """SplitMix64: a tiny, exactly reproducible generator in pure Python."""

    def __init__(self, seed: int):
        self.state = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def ints(self, low: int, high: int, count: int) -> list[int]:
        """``count`` integers in ``[low, high]``."""
        return [low + self.next() % (high - low + 1) for _ in range(count)]

    def array(self, shape, low=-5, high=5, *, step=1.0, dtype="float64", nonzero=False):
        """Array of ``shape`` with values ``k * step`` for integers k in ``[low, high]``."""
        count = 1
        for s in shape:
            count *= s
        values = self.ints(low, high, count)
        if nonzero:
            values = [v if v else 1 for v in values]
        if dtype == "uint8":
            return _make(shape, values, "uint8")
        return _make(shape, [v * step for v in values], dtype)


def _make(shape, values, dtype="float64"):
    """Build an ndarray with the genuine type's constructor."""
    arr = _ND(shape=_TUPLE(shape), dtype=dtype)
    flat = _ND_RESHAPE(arr, -1)
    flat[:] = values
    return arr


# --------------------------------------------------------------------------------------
# Comparisons on Python numbers.
def _flat_list(arr) -> list:
    return _ND_TOLIST(_ND_RESHAPE(arr, -1))


def _is_finite(value) -> bool:
    return value == value and value - value == 0


def _compare(got, expected, rtol: float, atol: float):
    """Return None when close, else (index, got, expected, largest difference)."""
    g, e = _flat_list(got), _flat_list(expected)
    worst, worst_at = -1.0, None
    for i in range(len(e)):
        diff = g[i] - e[i]
        diff = diff if diff >= 0 else -diff
        bound = atol + rtol * (e[i] if e[i] >= 0 else -e[i])
        if not diff <= bound and diff > worst:
            worst, worst_at = diff, i
    if worst_at is None:
        return None
    return worst_at, g[worst_at], e[worst_at], worst


def _same(a, b, rtol=1e-9, atol=1e-9) -> bool:
    if not (_is_ndarray(a) and _is_ndarray(b)) or a.shape != b.shape:
        return False
    return _compare(a, b, rtol, atol) is None


def _unravel(index: int, shape) -> tuple:
    out = []
    for size in reversed(shape):
        out.append(index % size)
        index //= size
    return _TUPLE(reversed(out))


def _fmt(value, indent: str = "    ") -> str:
    if _is_ndarray(value):
        try:
            with np.printoptions(precision=4, suppress=True, threshold=120, linewidth=88):
                text = np.array2string(value, separator=", ")
        except Exception:  # noqa: BLE001 - display only; numpy may have been tampered with
            text = repr(_ND_TOLIST(value))
        text = f"{text}  (shape {value.shape}, dtype {value.dtype})"
    else:
        text = repr(value)
    return text.replace("\n", "\n" + indent)


# --------------------------------------------------------------------------------------
# Forbidden shortcuts.
_TORCH_WORDS = ("conv", "pool", "unfold", "fold", "im2col", "col2im")
_SCIPY_SIGNAL = ("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve",
                 "oaconvolve", "choose_conv_method", "sepfir2d")
_SCIPY_NDIMAGE = ("convolve", "convolve1d", "correlate", "correlate1d", "uniform_filter",
                  "uniform_filter1d", "maximum_filter", "maximum_filter1d", "generic_filter",
                  "minimum_filter")
_COURSE_MODULES = ("course.ops", "course.reference", "course.conv", "course.padding",
                   "course.pooling", "course.transposed", "course.im2col", "course.arithmetic")


def _forbidden_targets(extra: tuple[tuple[str, str], ...]) -> list[tuple[object, str, str]]:
    """(module, attribute, display name) of every call refused inside a student function."""
    import importlib

    # SciPy is not imported here (half a second per grading kernel): a function that
    # imports it during the call is run again with it guarded (see _call).
    for name in ("torch", "torch.nn.functional"):
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    targets = []

    def add(module_name, attr, display=None):
        module = sys.modules.get(module_name)
        if module is not None and callable(getattr(module, attr, None)):
            targets.append((module, attr, display or f"{module_name}.{attr}"))

    for module_name in ("torch", "torch.nn.functional", "torch._C._nn"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for attr in sorted(dir(module)):
            lowered = attr.lower()
            if not attr.startswith("__") and any(w in lowered for w in _TORCH_WORDS):
                add(module_name, attr)
    for attr in _SCIPY_SIGNAL:
        add("scipy.signal", attr)
    for attr in _SCIPY_NDIMAGE:
        add("scipy.ndimage", attr)
    for attr in ("convolve", "correlate"):
        add("numpy", attr)
    for module_name in _COURSE_MODULES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for attr in sorted(vars(module)):
            value = getattr(module, attr)
            if (not attr.startswith("_") and _TYPE(value) is _FUNCTION
                    and value.__module__.startswith("course.")):
                add(module_name, attr)
    for module_name, attr in extra:
        add(module_name, attr)
    return targets


class _Guard:
    """Replace forbidden functions for the duration of one student call."""

    def __init__(self, task_name: str, extra: tuple[tuple[str, str], ...]):
        self.task_name = task_name
        self.targets = _forbidden_targets(extra)
        self.saved: list[tuple[object, str, object]] = []
        self.violation: str | None = None
        self.by_id: dict[int, str] = {}
        self.by_code: dict[int, str] = {}
        self.keep: list = []
        roots = tuple(r for r in (_package_dir("torch"), _package_dir("scipy"),
                                  _package_dir("numpy"), _COURSE_DIR) if r)
        for module, attr, display in self.targets:
            original = getattr(module, attr)
            if not _is_genuine(original, roots):
                _tampered(f"`{display}`")
            self._index(original, display)
        self.previous_profile = None

    def _index(self, obj, display: str) -> None:
        self.keep.append(obj)
        self.by_id.setdefault(id(obj), display)
        seen = 0
        while obj is not None and seen < 5:
            for candidate in (obj, getattr(obj, "_implementation", None)):
                code = getattr(candidate, "__code__", None)
                if code is not None:
                    self.keep.append(code)
                    self.by_code.setdefault(id(code), display)
            obj = getattr(obj, "__wrapped__", None)
            seen += 1

    def _refuse(self, display: str):
        if self.violation is None:
            self.violation = display
        raise ForbiddenCallError(
            f"`{display}` is not allowed in `{self.task_name}`: the exercise is to compute "
            "this yourself with NumPy array operations."
        )

    def _make_stub(self, display: str):
        def forbidden(*args, **kwargs):
            self._refuse(display)

        return forbidden

    def _profile(self, frame, event, arg):
        if event == "call":
            display = self.by_code.get(id(frame.f_code))
            if display is not None:
                self._refuse(display)
        elif event == "c_call":
            display = self.by_id.get(id(arg))
            if display is not None:
                self._refuse(display)

    def __enter__(self):
        for module, attr, display in self.targets:
            self.saved.append((module, attr, getattr(module, attr)))
            try:
                setattr(module, attr, self._make_stub(display))
            except (AttributeError, TypeError):
                self.saved.pop()
        self.previous_profile = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous_profile)
        for module, attr, original in reversed(self.saved):
            setattr(module, attr, original)
        self.saved.clear()
        return False


# --------------------------------------------------------------------------------------
# The engine shared by every check.
@dataclass
class Case:
    """One test case: positional array inputs and keyword settings."""

    label: str
    args: tuple = ()  # ((name, value), ...) passed positionally
    kwargs: tuple = ()  # ((name, value), ...) passed by keyword

    @property
    def size(self) -> int:
        total = 0
        for _, value in self.args:
            total += value.size if _is_ndarray(value) else 1
        return total

    def inputs(self) -> dict:
        return _DICT(self.args + self.kwargs)

    def describe(self) -> str:
        call = ", ".join([name for name, _ in self.args] + [f"{k}={v!r}" for k, v in self.kwargs])
        lines = [f"  call: fn({call})"]
        for name, value in self.args:
            if _is_ndarray(value):
                lines.append(f"  {name} = {_fmt(value)}")
        return "\n".join(lines)


@dataclass
class Mistake:
    """A typical wrong answer: its description and the value it produces (or its shape)."""

    message: str
    value: object = None
    shape: tuple | None = None


class Task:
    """What one check needs to know; subclasses fill in the exercise."""

    rtol = 1e-6
    atol = 1e-8
    kind = "array"  # or "int": the function returns a whole number
    forbidden: tuple = ()  # extra (module, attribute) pairs refused in this task

    def __init__(self, name: str):
        self.name = name

    def cases(self, hidden: bool) -> list[Case]:
        raise NotImplementedError

    def expected(self, case: Case):
        """(value, description of where it was computed)."""
        raise NotImplementedError

    def shape_formula(self, case: Case) -> str:
        return ""

    def mistakes(self, case: Case) -> list[Mistake]:
        return []

    def error_variants(self, case: Case) -> list[tuple[str, Case]]:
        """(diagnosis, altered case): when the function raises on ``case`` but returns the
        expected answer for the altered inputs, the diagnosis names the mistake."""
        return []


def _reference(name: str, *args, **kwargs):
    """Run the float64 PyTorch reference, after checking it is the course's own code."""
    import course.reference as ref_module
    import torch

    for module, attr, kind in ((np, "asarray", "function"), (np, "float64", "type"),
                               (torch, "as_tensor", "function")):
        obj = getattr(module, attr, None)
        ok = (_TYPE(obj) is _BUILTIN_FN and obj.__name__ == attr) if kind == "function" \
            else _is_static_type(obj, attr)
        if not ok:
            _tampered(f"`{module.__name__}.{attr}`")
    function = ref_module.reference
    if not (_TYPE(function) is _FUNCTION
            and os.path.abspath(function.__code__.co_filename).startswith(_COURSE_DIR + os.sep)):
        _tampered("`course.reference.reference`")
    result = function(name, *args, **kwargs)
    value = result.value
    if not (_is_ndarray(value) or (_TYPE(value) is _TUPLE and all(_is_ndarray(v) for v in value))):
        _tampered("the result of `course.reference.reference`")
    return value, f"PyTorch float64 on {result.device}"


def _as_float(arr):
    return _ND_ASTYPE(arr, "float64")


def _ops():
    import course.ops as ops

    return ops


def _try(fn, *args, **kwargs):
    """A candidate mistake may not be computable for a case (kernel too large, ...)."""
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001
        return None


def _run(task: Task, student_fn, hidden: bool) -> None:
    __tracebackhide__ = True
    _verify_builtins()
    if not callable(student_fn):
        raise AssertionError(f"`{task.name}` must be a function, got {_TYPE(student_fn).__name__}")
    _Guard(task.name, task.forbidden)  # refuses a replaced library function before any use
    cases = sorted(task.cases(hidden), key=lambda c: c.size)
    device = ""
    for number, case in enumerate(cases, start=1):
        expected, device = task.expected(case)
        if task.kind == "int":
            problem = _check_int(task, student_fn, case, expected)
        elif task.kind == "arrays":
            problem = _check_arrays(task, student_fn, case, expected, device)
        elif task.kind == "error":
            problem = _check_error(task, student_fn, case, expected)
        else:
            problem = _check_array(task, student_fn, case, expected, device)
        if problem is not None:
            which = "hidden" if hidden else "visible"
            raise AssertionError(
                f"{task.name}: case {number} of {len(cases)} ({which} set, smallest first) "
                f"failed -- {case.label}.\n{problem}"
            )
    where = f" against {device}" if device else ""
    print(f"{task.name}: all {len(cases)} {'hidden' if hidden else 'visible'} cases "
          f"passed{where}.")


def _call(task: Task, student_fn, case: Case):
    """Call the student's function under the guard; return (output, error message)."""
    args = [value for _, value in case.args]
    kwargs = _DICT(case.kwargs)
    lazy = [name for name in _LAZY_MODULES if name not in sys.modules]
    guard = _Guard(task.name, task.forbidden)
    try:
        with guard:
            output = student_fn(*args, **kwargs)
        if any(name in sys.modules for name in lazy):  # imported SciPy during the call
            guard = _Guard(task.name, task.forbidden)
            with guard:
                output = student_fn(*args, **kwargs)
    except ForbiddenCallError as error:
        return None, f"Forbidden call: {error}\n{case.describe()}"
    except GraderEnvironmentError:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the student
        message = f"Your function raised {_TYPE(error).__name__}: {error}"
        if guard.violation is None:
            return None, f"{message}\n{case.describe()}"
    if guard.violation is not None:
        return None, (f"Forbidden call: `{guard.violation}` is not allowed in `{task.name}`: "
                      f"the exercise is to compute this yourself.\n{case.describe()}")
    return output, None


_LAZY_MODULES = ("scipy.signal", "scipy.ndimage")


def _check_int(task: Task, student_fn, case: Case, expected: int) -> str | None:
    got, error = _call(task, student_fn, case)
    if error:
        return error
    kind = _TYPE(got)
    is_int = (kind is _INT) or (_is_ndarray(got) and got.ndim == 0 and got.dtype.kind in "iu") \
        or (kind is not _BOOL and _INT in kind.__mro__) \
        or (kind.__module__ == "numpy" and getattr(got, "dtype", None) is not None
            and got.dtype.kind in "iu")
    if not is_int:
        hint = " (use // for whole-number division)" if kind is _FLOAT else ""
        return (f"Return an int, got {kind.__name__} {got!r}{hint}.\n{case.describe()}\n"
                f"  expected: {expected}")
    got = _INT(got)
    if got == expected:
        return None
    lines = [f"Wrong value: expected {expected}, got {got}."]
    for mistake in task.mistakes(case):
        if mistake.value == got and mistake.value != expected:
            lines.append(f"Likely mistake: {mistake.message}")
            break
    formula = task.shape_formula(case)
    if formula:
        lines.append(f"Formula: {formula}")
    lines.append(case.describe())
    return "\n".join(lines)


def _check_array(task: Task, student_fn, case: Case, expected, device: str) -> str | None:
    saved = [(name, _ND_COPY(value)) for name, value in case.args if _is_ndarray(value)]
    got, error = _call(task, student_fn, case)
    if error:
        if error.startswith("Your function raised"):
            for message, variant in task.error_variants(case):
                other, failed = _call(task, student_fn, variant)
                if failed is None and _same(other, expected, task.rtol, task.atol):
                    return error.replace("\n", f"\nLikely mistake: {message}\n", 1)
        return error
    problem = _judge_array(task, case, got, expected, device)
    if problem is not None:
        return problem
    return _inputs_changed(case, saved)


def _judge_array(task: Task, case: Case, got, expected, device: str) -> str | None:
    """The verdict on one returned array: type, shape, finite values, values."""
    shown = (f"{case.describe()}\n  expected ({device}):\n    {_fmt(expected)}\n"
             f"  got:\n    {_fmt(got)}")
    # 1. return type
    if not _is_ndarray(got):
        hint = ""
        if got is None:
            hint = " Did you forget the `return` statement?"
        elif _TYPE(got) in (_LIST, _TUPLE):
            hint = " Convert it with np.array(...) before returning."
        return f"Return a NumPy ndarray, got {_TYPE(got).__name__}.{hint}\n{shown}"
    # 2. shape
    if got.shape != expected.shape:
        lines = [f"Wrong shape: expected {expected.shape}, got {got.shape}."]
        formula = task.shape_formula(case)
        if formula:
            lines.append(f"Output size: {formula}")
        mistakes = task.mistakes(case)
        # a candidate that matches values too beats one that only has the same shape
        exact = [m for m in mistakes if m.value is not None and _same(got, m.value)]
        for mistake in exact + mistakes:
            shape = mistake.shape if mistake.shape is not None else (
                mistake.value.shape if _is_ndarray(mistake.value) else None)
            if shape is not None and shape == got.shape and shape != expected.shape:
                lines.append(f"Likely mistake: {mistake.message}")
                break
        lines.append(shown)
        return "\n".join(lines)
    # 3. finite values
    if got.dtype.kind in "fc":
        values = _flat_list(got)
        for i in range(len(values)):
            if not _is_finite(values[i]):
                where = _unravel(i, got.shape)
                return (f"Your output holds {values[i]} at index {where}: every value should be "
                        f"finite (did -inf padding or a division by zero leak into the result?)."
                        f"\n{shown}")
    # 4. values
    difference = _compare(got, expected, task.rtol, task.atol)
    if difference is not None:
        index, g, e, worst = difference
        lines = [f"Wrong values: at index {_unravel(index, got.shape)} expected {e:.6g}, got "
                 f"{g:.6g} (largest error {worst:.3g}; tolerance "
                 f"|got - expected| <= {task.atol:g} + {task.rtol:g} * |expected|)."]
        diagnosis = _diagnose_values(task, case, got, expected)
        if diagnosis:
            lines.append(f"Likely mistake: {diagnosis}")
        lines.append(shown)
        return "\n".join(lines)
    return None


def _inputs_changed(case: Case, saved) -> str | None:
    """5. The inputs must be unchanged after the call."""
    current = case.inputs()
    for name, before in saved:
        if not _same(current[name], before, 0.0, 0.0):
            return (f"Your function changed its input `{name}` in place; work on a copy "
                    f"(e.g. `{name} = {name}.copy()` or write into a new array).\n"
                    f"  `{name}` before the call:\n    {_fmt(before)}\n"
                    f"  after:\n    {_fmt(current[name])}")
    return None


class _Part:
    """One returned array of a task that returns several (``kind = "arrays"``)."""

    def __init__(self, task: Task, index: int):
        self.task, self.index = task, index
        self.name, self.rtol, self.atol = task.name, task.rtol, task.atol

    def mistakes(self, case: Case) -> list[Mistake]:
        return self.task.part_mistakes(case, self.index)

    def shape_formula(self, case: Case) -> str:
        return self.task.part_shape_formula(case, self.index)


def _same_all(got, expected, rtol: float, atol: float) -> bool:
    if _is_ndarray(expected):
        return _same(got, expected, rtol, atol)
    return (_TYPE(got) in (_TUPLE, _LIST) and len(got) == len(expected)
            and all(_same(g, e, rtol, atol) for g, e in zip(got, expected)))


def _check_arrays(task: Task, student_fn, case: Case, expected, device: str) -> str | None:
    """Like _check_array for a function that returns a tuple of arrays (``task.parts``)."""
    saved = [(name, _ND_COPY(value)) for name, value in case.args if _is_ndarray(value)]
    got, error = _call(task, student_fn, case)
    if error:
        if error.startswith("Your function raised"):
            for message, variant in task.error_variants(case):
                other, failed = _call(task, student_fn, variant)
                if failed is None and _same_all(other, expected, task.rtol, task.atol):
                    return error.replace("\n", f"\nLikely mistake: {message}\n", 1)
        return error
    names = ", ".join(task.parts)
    if _TYPE(got) not in (_TUPLE, _LIST) or len(got) != len(task.parts):
        what = (f"{_TYPE(got).__name__} of length {len(got)}" if _TYPE(got) in (_TUPLE, _LIST)
                else _TYPE(got).__name__)
        hint = " Did you forget the `return` statement?" if got is None else ""
        return (f"Return a tuple of {len(task.parts)} arrays ({names}), got {what}.{hint}\n"
                f"{case.describe()}")
    for index, part in enumerate(task.parts):
        problem = _judge_array(_Part(task, index), case, got[index], expected[index], device)
        if problem is not None:
            return (f"In `{part}` (returned value {index + 1} of {len(task.parts)}: {names}): "
                    f"{problem}")
    return _inputs_changed(case, saved)


def _as_number(value):
    """A Python float from a real number or a one-element float array, else None."""
    kind = _TYPE(value)
    if kind is _BOOL:
        return None
    if kind in (_INT, _FLOAT) or (_FLOAT in kind.__mro__) or (_INT in kind.__mro__):
        return _FLOAT(value)
    if _is_ndarray(value) and value.size == 1 and value.dtype.kind in "iuf":
        return _FLOAT(_flat_list(value)[0])
    if kind.__module__ == "numpy" and getattr(value, "dtype", None) is not None \
            and value.dtype.kind in "iuf":
        return _FLOAT(value.item())
    return None


def _check_error(task: Task, student_fn, case: Case, expected: float) -> str | None:
    """A gradient check: a small error for a right backward pass, a large one for a wrong one.

    The student's function must compute it with the notebook's ``numerical_gradient``:
    that name is looked up in the function's globals and counted while it runs.
    """
    namespace = getattr(student_fn, "__globals__", None)
    helper = task.helper
    original = namespace.get(helper) if _TYPE(namespace) is _DICT else None
    if not callable(original):
        return (f"`{task.name}` must call your `{helper}` (define it above, run its cell, "
                f"then this one); no function `{helper}` was found.\n{case.describe()}")
    calls = [0]

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    namespace[helper] = counted
    try:
        got, error = _call(task, student_fn, case)
    finally:
        namespace[helper] = original
    if error:
        return error
    value = _as_number(got)
    if value is None:
        return (f"Return one float (the largest relative error), got {_TYPE(got).__name__} "
                f"{_fmt(got)}.\n{case.describe()}")
    if not calls[0]:
        return (f"`{task.name}` did not call your `{helper}`: compute the numerical gradients "
                f"with it.\n{case.describe()}")
    if not (_is_finite(value) and value >= 0):
        return (f"A relative error is a finite number >= 0, got {value!r} (a division by zero? "
                f"guard the denominator).\n{case.describe()}")
    limit_small, limit_large = task.limits
    if expected == 0 and not value < limit_small:
        return (f"Your check reports an error of {value:.3g} for a CORRECT backward pass; it "
                f"should be below {limit_small:g}.\nLikely mistake: {task.hint_small}\n"
                f"{case.describe()}")
    if expected > 0 and not value > limit_large:
        return (f"Your check reports an error of only {value:.3g} for a backward pass whose "
                f"{case.wrong} is wrong (the true relative error is {expected:.3g}); it should "
                f"be above {limit_large:g}.\nLikely mistake: {task.hint_large.format(part=case.wrong)}"
                f"\n{case.describe()}")
    return None


def _diagnose_values(task: Task, case: Case, got, expected) -> str | None:
    for mistake in task.mistakes(case):
        if mistake.value is not None and _same(got, mistake.value) \
                and not _same(mistake.value, expected):
            return mistake.message
    integer_input = any(_is_ndarray(v) and v.dtype.kind in "iu" for _, v in case.args)
    if integer_input:
        if got.dtype.kind in "iu" and got.dtype.itemsize == 1:
            return (f"integer overflow: your output has dtype {got.dtype}, which wraps around "
                    "at 256 and cannot hold negative or large sums; convert the input to float "
                    "first (`image.astype(np.float64)`).")
        g, e = _flat_list(got), _flat_list(expected)
        if all((gi - ei) % 256 == 0 for gi, ei in zip(g, e)):
            return ("integer overflow: your values differ from the expected ones by multiples "
                    "of 256, the mark of uint8 arithmetic wrapping around; convert the input "
                    "to float first (`image.astype(np.float64)`).")
    if got.dtype.kind in "iu" and expected.dtype.kind == "f":
        return (f"your output has an integer dtype ({got.dtype}) so fractions are cut off; "
                "create the output with a float dtype.")
    return None


# --------------------------------------------------------------------------------------
# Shared helpers for the convolution tasks.
def _pair(value) -> tuple[int, int]:
    return (value, value) if _TYPE(value) is _INT else (value[0], value[1])


def _out(n, k, s=1, p=0, d=1, ceil=False):
    room = n + 2 * p - d * (k - 1) - 1
    if ceil:
        return -(-room // s) + 1
    return room // s + 1


def _size_formula(label: str, n, k, s=1, p=0, d=1) -> str:
    return (f"{label}_out = ({label} + 2p - d(K-1) - 1)//s + 1 = "
            f"({n} + 2*{p} - {d}*({k}-1) - 1)//{s} + 1 = {_out(n, k, s, p, d)}")


_FLIPPED = ("the kernel is flipped: you computed a convolution (kernel[::-1]); the "
            "'convolution' of deep learning is a cross-correlation, which slides the kernel "
            "as it is.")


def _conv2d_1ch(image, kernel, **kwargs):
    return _ops().conv2d(_as_float(image)[None, None], _as_float(kernel)[None, None],
                         **kwargs)[0, 0]


def _correlate_ref(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    """Single-channel 2-D cross-correlation through the torch reference."""
    x = _as_float(image)[None, None]
    ph, pw = _pair(padding)
    if (ph or pw) and padding_mode != "zeros":
        x, _ = _reference("pad", x, (pw, pw, ph, ph), mode=padding_mode)
        ph = pw = 0
    value, device = _reference("conv2d", x, _as_float(kernel)[None, None], None,
                               stride=_pair(stride), padding=(ph, pw), dilation=_pair(dilation))
    return value[0, 0], device


# --------------------------------------------------------------------------------------
# ps1: convolution.
class _Correlate1d(Task):
    flip = False

    def cases(self, hidden):
        rng = _Rng(101 if not hidden else 202)
        cases = [Case("signal [1, 2, 3, 4, 5] with kernel [1, 0, -1]",
                      (("x", _make((5,), [1, 2, 3, 4, 5])), ("w", _make((3,), [1, 0, -1])))),
                 Case("random signal of length 9, kernel of length 2",
                      (("x", rng.array((9,))), ("w", rng.array((2,), nonzero=True))))]
        if hidden:
            cases += [
                Case("kernel as long as the signal",
                     (("x", rng.array((4,), step=0.5)), ("w", rng.array((4,), step=0.5)))),
                Case("kernel of length 1", (("x", rng.array((6,))), ("w", _make((1,), [3.0])))),
                Case("uint8 signal and kernel (values up to 255)",
                     (("x", rng.array((12,), 0, 255, dtype="uint8")),
                      ("w", rng.array((3,), 1, 255, dtype="uint8")))),
                Case("long signal, kernel of length 5",
                     (("x", rng.array((40,), step=0.25)), ("w", rng.array((5,), step=0.25)))),
            ]
        return cases

    def _kernel(self, w):
        w = _as_float(w)
        return _ND_COPY(w[::-1]) if self.flip else w

    def expected(self, case):
        x, w = case.inputs()["x"], case.inputs()["w"]
        value, device = _reference("conv1d", _as_float(x)[None, None],
                                   self._kernel(w)[None, None])
        return value[0, 0], device

    def shape_formula(self, case):
        x, w = case.inputs()["x"], case.inputs()["w"]
        return f"L_out = L - K + 1 = {x.shape[0]} - {w.shape[0]} + 1 = {x.shape[0] - w.shape[0] + 1}"

    def mistakes(self, case):
        ops = _ops()
        x, w = _as_float(case.inputs()["x"]), _as_float(case.inputs()["w"])
        flipped = self._kernel(w)[::-1]
        other = _try(ops.conv1d, x[None, None], _ND_COPY(flipped)[None, None])
        L, K = x.shape[0], w.shape[0]
        message = _FLIPPED if not self.flip else (
            "the kernel is not flipped: that is a cross-correlation; a convolution reverses "
            "the kernel first (w[::-1]).")
        return [
            Mistake(message, other[0, 0] if other is not None else None),
            Mistake("you returned the 'full' output (every partial overlap, length L + K - 1); "
                    "keep only the positions where the whole kernel fits ('valid').",
                    shape=(L + K - 1,)),
            Mistake("you returned an output as long as the input ('same'); keep only the "
                    "positions where the whole kernel fits ('valid').", shape=(L,)),
            Mistake("one position too few: the last window starts at index L - K, so there are "
                    "L - K + 1 positions (range(L - K + 1)).", shape=(L - K,)),
        ]


class _Convolve1d(_Correlate1d):
    flip = True


def _vertical_edge_example():
    image = _make((5, 5), [1, 2, 3, 4, 5, 1, 3, 2, 3, 10, 3, 2, 1, 4, 5, 6, 1, 1, 2, 2,
                           3, 2, 1, 5, 4])
    kernel = _make((3, 3), [1, 0, -1] * 3)
    return image, kernel


class _Correlate2d(Task):
    def cases(self, hidden):
        rng = _Rng(303 if not hidden else 404)
        image, kernel = _vertical_edge_example()
        cases = [
            Case("the lecture's 5x5 input with the vertical-edge kernel",
                 (("image", image), ("kernel", kernel))),
            Case("random 6x7 image, 2x3 kernel",
                 (("image", rng.array((6, 7))), ("kernel", rng.array((2, 3), nonzero=True)))),
        ]
        if hidden:
            cases += [
                Case("1x1 kernel", (("image", rng.array((3, 4))), ("kernel", _make((1, 1), [2.0])))),
                Case("kernel as large as the image",
                     (("image", rng.array((3, 3), step=0.5)), ("kernel", rng.array((3, 3))))),
                Case("uint8 image with the vertical-edge kernel (int64)",
                     (("image", rng.array((6, 6), 0, 255, dtype="uint8")),
                      ("kernel", _make((3, 3), [1, 0, -1] * 3, "int64")))),
                Case("tall 9x4 image, 4x2 kernel",
                     (("image", rng.array((9, 4), step=0.25)), ("kernel", rng.array((4, 2))))),
                Case("20x20 image, 5x5 kernel",
                     (("image", rng.array((20, 20), step=0.125)),
                      ("kernel", rng.array((5, 5), step=0.5)))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        return _correlate_ref(i["image"], i["kernel"])

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["image"].shape, i["kernel"].shape
        return (f"H_out = H - KH + 1 = {H} - {KH} + 1 = {H - KH + 1}, "
                f"W_out = W - KW + 1 = {W} - {KW} + 1 = {W - KW + 1}")

    def mistakes(self, case):
        i = case.inputs()
        image, kernel = _as_float(i["image"]), _as_float(i["kernel"])
        (H, W), (KH, KW) = image.shape, kernel.shape
        return [
            Mistake(_FLIPPED, _try(_conv2d_1ch, image, _ND_COPY(kernel[::-1, ::-1]))),
            Mistake("the kernel is transposed (rows and columns swapped).",
                    _try(_conv2d_1ch, image, _ND_COPY(kernel.T))),
            Mistake("you returned a 'same'-size output; 'valid' keeps only the positions where "
                    "the whole kernel fits.", shape=(H, W)),
            Mistake("you returned the 'full' output; 'valid' keeps only the positions where the "
                    "whole kernel fits.", shape=(H + KH - 1, W + KW - 1)),
            Mistake("one position too few along each axis: there are H - KH + 1 row positions "
                    "(range(H - KH + 1)).", shape=(H - KH, W - KW)),
            Mistake("the output's height and width are swapped.", shape=(W - KW + 1, H - KH + 1)),
        ]


_TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


class _Pad2d(Task):
    forbidden = (("numpy", "pad"), ("torch.nn.functional", "pad"))

    def cases(self, hidden):
        rng = _Rng(505 if not hidden else 606)
        cases = [
            Case("3x3 image, padding 1, zeros",
                 (("image", _make((3, 3), [1, 2, 3, 4, 5, 6, 7, 8, 9])),),
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
                         (("image", rng.array((4, 4), nonzero=True)),),
                         (("padding", 3), ("mode", mode))),
                    Case(f"3x3 image, padding 0, {mode}",
                         (("image", rng.array((3, 3))),), (("padding", 0), ("mode", mode))),
                ]
        return cases

    def expected(self, case):
        i = case.inputs()
        ph, pw = _pair(i["padding"])
        value, device = _reference("pad", _as_float(i["image"])[None, None], (pw, pw, ph, ph),
                                   mode=_TORCH_MODE[i["mode"]])
        return value[0, 0], device

    def shape_formula(self, case):
        i = case.inputs()
        ph, pw = _pair(i["padding"])
        H, W = i["image"].shape
        return f"(H + 2 ph, W + 2 pw) = ({H} + 2*{ph}, {W} + 2*{pw}) = ({H + 2 * ph}, {W + 2 * pw})"

    def mistakes(self, case):
        ops = _ops()
        i = case.inputs()
        image = _as_float(i["image"])
        ph, pw = _pair(i["padding"])
        H, W = image.shape
        mode = i["mode"]
        found = []
        names = {"zeros": "zero padding", "reflect": "reflect padding (mirror without repeating "
                 "the edge)", "replicate": "replicate padding (repeat the edge value)"}
        for other in ("zeros", "reflect", "replicate"):
            if other != mode:
                value = _try(ops.pad, image[None, None], (pw, pw, ph, ph), mode=_TORCH_MODE[other])
                found.append(Mistake(f"you used {names[other]} instead of {names[mode]}.",
                                     value[0, 0] if value is not None else None))
        symmetric = _try(np.pad, image, ((ph, ph), (pw, pw)), mode="symmetric")
        found.append(Mistake("you mirrored the edge row too (NumPy's 'symmetric'); 'reflect' "
                             "mirrors around the edge without repeating it: [a b c] -> b | a b c | b.",
                             symmetric))
        found += [
            Mistake("the padding is missing: the output equals the input.", shape=(H, W)),
            Mistake("you padded one side only; add `padding` rows/columns on both sides.",
                    shape=(H + ph, W + pw)),
            Mistake("the row and column padding are swapped: `padding=(ph, pw)` adds ph rows "
                    "above and below, pw columns left and right.", shape=(H + 2 * pw, W + 2 * ph)),
        ]
        return found


class _OutputSize(Task):
    kind = "int"

    def cases(self, hidden):
        cases = [
            Case("AlexNet's first layer: 227, kernel 11, stride 4",
                 (("n", 227), ("k", 11)), (("s", 4), ("p", 0), ("d", 1))),
            Case("5, kernel 3, padding 1", (("n", 5), ("k", 3)), (("s", 1), ("p", 1), ("d", 1))),
            Case("7, kernel 3, stride 2", (("n", 7), ("k", 3)), (("s", 2), ("p", 0), ("d", 1))),
            Case("10, kernel 3, dilation 2", (("n", 10), ("k", 3)), (("s", 1), ("p", 0), ("d", 2))),
        ]
        if hidden:
            for n, k, s, p, d in [(6, 3, 2, 0, 1), (8, 2, 3, 1, 1), (32, 5, 1, 2, 1),
                                  (9, 3, 2, 1, 2), (4, 4, 1, 0, 1), (1, 1, 1, 0, 1),
                                  (28, 5, 3, 0, 2), (15, 2, 2, 0, 3), (224, 7, 2, 3, 1)]:
                cases.append(Case(f"n={n}, k={k}, s={s}, p={p}, d={d}", (("n", n), ("k", k)),
                                  (("s", s), ("p", p), ("d", d))))
        return cases

    def expected(self, case):
        i = case.inputs()
        return _out(i["n"], i["k"], i["s"], i["p"], i["d"]), ""

    def shape_formula(self, case):
        i = case.inputs()
        return _size_formula("n", i["n"], i["k"], i["s"], i["p"], i["d"])

    def mistakes(self, case):
        n, k, s, p, d = (case.inputs()[key] for key in ("n", "k", "s", "p", "d"))
        return [
            Mistake("you rounded up; the formula rounds down (floor, `//`): a window that does "
                    "not fit entirely is not computed.", _out(n, k, s, p, d, ceil=True)),
            Mistake("the dilation is ignored: a dilated kernel covers d(K-1)+1 cells.",
                    _out(n, k, s, p, 1)),
            Mistake("the padding is counted once; it is added on both sides (2p).",
                    (n + p - d * (k - 1) - 1) // s + 1),
            Mistake("the +1 is missing: the first window position counts too.",
                    (n + 2 * p - d * (k - 1) - 1) // s),
            Mistake("the stride is ignored.", _out(n, k, 1, p, d)),
            Mistake("you used (n + 2p - K)//s + 1 with the dilated kernel size d*K; the dilated "
                    "kernel covers d(K-1)+1 cells.", (n + 2 * p - d * k) // s + 1),
        ]


class _Strided(Task):
    def cases(self, hidden):
        rng = _Rng(707 if not hidden else 808)
        image, kernel = _vertical_edge_example()
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
        return _correlate_ref(i["image"], i["kernel"], stride=i["stride"])

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["image"].shape, i["kernel"].shape
        sh, sw = _pair(i["stride"])
        return f"{_size_formula('H', H, KH, sh)}; {_size_formula('W', W, KW, sw)}"

    def mistakes(self, case):
        i = case.inputs()
        image, kernel = _as_float(i["image"]), _as_float(i["kernel"])
        (H, W), (KH, KW) = image.shape, kernel.shape
        sh, sw = _pair(i["stride"])
        found = [
            Mistake("you rounded the output size up; it rounds down (floor): a window that "
                    "does not fit entirely is not computed.",
                    shape=(_out(H, KH, sh, ceil=True), _out(W, KW, sw, ceil=True))),
            Mistake("the stride is ignored (every position is computed).",
                    _try(_conv2d_1ch, image, kernel)),
        ]
        for delta in (-1, 1):
            s2 = (sh + delta, sw + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride "
                                     f"{s2} instead of {(sh, sw)}.",
                                     _try(_conv2d_1ch, image, kernel, stride=s2)))
        if sh != sw:
            found.append(Mistake("the row and column strides are swapped: stride=(sh, sw) moves "
                                 "sh rows down and sw columns right.",
                                 _try(_conv2d_1ch, image, kernel, stride=(sw, sh))))
        found.append(Mistake(_FLIPPED, _try(_conv2d_1ch, image, _ND_COPY(kernel[::-1, ::-1]),
                                            stride=(sh, sw))))
        return found


class _General(Task):
    forbidden = ()

    def cases(self, hidden):
        rng = _Rng(909 if not hidden else 1010)
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
        return _correlate_ref(i["image"], i["kernel"], i["stride"], i["padding"], i["dilation"],
                              i["padding_mode"])

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["image"].shape, i["kernel"].shape
        (sh, sw), (ph, pw), (dh, dw) = _pair(i["stride"]), _pair(i["padding"]), _pair(i["dilation"])
        return f"{_size_formula('H', H, KH, sh, ph, dh)}; {_size_formula('W', W, KW, sw, pw, dw)}"

    def mistakes(self, case):
        i = case.inputs()
        image, kernel = _as_float(i["image"]), _as_float(i["kernel"])
        (H, W), (KH, KW) = image.shape, kernel.shape
        s, p, d = _pair(i["stride"]), _pair(i["padding"]), _pair(i["dilation"])
        mode = i["padding_mode"]

        def run(s=s, p=p, d=d, mode=mode, k=kernel):
            return _try(lambda: _ops().conv2d(image[None, None], _ND_COPY(k)[None, None],
                                              stride=s, padding=p, dilation=d,
                                              padding_mode=mode)[0, 0])

        found = [
            Mistake("you rounded the output size up; it rounds down (floor).",
                    shape=(_out(H, KH, s[0], p[0], d[0], True), _out(W, KW, s[1], p[1], d[1], True))),
            Mistake("the dilation is ignored: with dilation d the kernel taps are d cells apart.",
                    run(d=(1, 1))),
        ]
        for delta in (-1, 1):
            d2 = (d[0] + delta, d[1] + delta)
            if min(d2) >= 1:
                found.append(Mistake(f"the dilation is off by one: your output matches dilation "
                                     f"{d2} instead of {d} (dilation 1 means neighbouring taps; "
                                     "the taps are d cells apart).", run(d=d2)))
        for delta in (-1, 1):
            s2 = (s[0] + delta, s[1] + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride {s2} "
                                     f"instead of {s}.", run(s=s2)))
        if p != (0, 0):
            found.append(Mistake("the padding is missing.", run(p=(0, 0))))
            for other in ("zeros", "reflect", "replicate"):
                if other != mode:
                    found.append(Mistake(f"wrong padding mode: you used '{other}' padding "
                                         f"instead of '{mode}'.", run(mode=other)))
        found.append(Mistake(_FLIPPED, run(k=kernel[::-1, ::-1])))
        return found


# --------------------------------------------------------------------------------------
# ps2: convolutional layers.
def _six_by_six_example():
    image = _make((1, 1, 6, 6), [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0,
                                 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0])
    filters = _make((2, 1, 3, 3), [1, -1, -1, -1, 1, -1, -1, -1, 1,
                                   -1, 1, -1, -1, 1, -1, -1, 1, -1])
    return image, filters


def _three_channel_example():
    x = _make((1, 3, 4, 4), [1, 2, 3, 4, 1, 3, 2, 3, 3, 2, 1, 4, 6, 1, 1, 2,
                             4, 3, 1, 2, 2, 6, 1, 2, 1, 3, 1, 2, 3, 2, 1, 0,
                             7, 2, 3, 4, 6, 3, 2, 3, 5, 2, 1, 4, 1, 5, 6, 4])
    weight = _make((1, 3, 3, 3), [1, 0, -1] * 3 + [2, 0, -2] * 3 + [3, 0, -3] * 3)
    return x, weight


class _Conv2d(Task):
    def cases(self, hidden):
        rng = _Rng(1111 if not hidden else 1212)
        image, filters = _six_by_six_example()
        x3, w3 = _three_channel_example()
        cases = [
            Case("2 channels, 2 filters of 2x2, on a 3x3 image",
                 (("x", rng.array((1, 2, 3, 3))), ("weight", rng.array((2, 2, 2, 2), nonzero=True)),
                  ("bias", None)), (("stride", 1), ("padding", 0))),
            Case("the lecture's 6x6 image with two 3x3 filters, stride 1",
                 (("x", image), ("weight", filters), ("bias", None)), (("stride", 1), ("padding", 0))),
            Case("the lecture's three-channel 4x4 example (element (0, 0) is 43)",
                 (("x", x3), ("weight", w3), ("bias", None)), (("stride", 1), ("padding", 0))),
            Case("batch of 2, 3 channels, 4 filters, bias, padding 1",
                 (("x", rng.array((2, 3, 5, 5))), ("weight", rng.array((4, 3, 3, 3))),
                  ("bias", rng.array((4,), nonzero=True))), (("stride", 1), ("padding", 1))),
        ]
        if hidden:
            cases += [
                Case("the 6x6 example with stride 2",
                     (("x", image), ("weight", filters), ("bias", None)), (("stride", 2), ("padding", 0))),
                Case("3 channels, 3 filters (square: swapped axes would not crash), bias",
                     (("x", rng.array((1, 3, 6, 6))), ("weight", rng.array((3, 3, 3, 3))),
                      ("bias", rng.array((3,), nonzero=True))), (("stride", 1), ("padding", 0))),
                Case("1x1 convolution mixing 4 channels into 2",
                     (("x", rng.array((2, 4, 3, 3))), ("weight", rng.array((2, 4, 1, 1))),
                      ("bias", rng.array((2,), nonzero=True))), (("stride", 1), ("padding", 0))),
                Case("uint8 images (values up to 255)",
                     (("x", rng.array((1, 1, 6, 6), 0, 255, dtype="uint8")),
                      ("weight", _make((1, 1, 3, 3), [1, 0, -1] * 3)), ("bias", None)),
                     (("stride", 1), ("padding", 0))),
                Case("non-square 3x2 kernels, stride (2, 1), padding (1, 0)",
                     (("x", rng.array((3, 2, 7, 6), step=0.5)), ("weight", rng.array((3, 2, 3, 2))),
                      ("bias", rng.array((3,), step=0.5, nonzero=True))),
                     (("stride", (2, 1)), ("padding", (1, 0)))),
                Case("batch of 4, stride 3, padding 2",
                     (("x", rng.array((4, 2, 9, 9), step=0.25)), ("weight", rng.array((5, 2, 3, 3))),
                      ("bias", rng.array((5,), nonzero=True))), (("stride", 3), ("padding", 2))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        bias = i["bias"]
        return _reference("conv2d", _as_float(i["x"]), _as_float(i["weight"]),
                          None if bias is None else _as_float(bias),
                          stride=_pair(i["stride"]), padding=_pair(i["padding"]))

    def shape_formula(self, case):
        i = case.inputs()
        N, C, H, W = i["x"].shape
        F, _, KH, KW = i["weight"].shape
        (sh, sw), (ph, pw) = _pair(i["stride"]), _pair(i["padding"])
        return (f"(N, F, H_out, W_out) with N = {N}, F = {F}; {_size_formula('H', H, KH, sh, ph)}; "
                f"{_size_formula('W', W, KW, sw, pw)}")

    def mistakes(self, case):
        ops = _ops()
        i = case.inputs()
        x, w = _as_float(i["x"]), _as_float(i["weight"])
        b = None if i["bias"] is None else _as_float(i["bias"])
        s, p = _pair(i["stride"]), _pair(i["padding"])
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape

        def run(x=x, w=w, b=b, s=s, p=p):
            return _try(ops.conv2d, x, _ND_COPY(w), b, stride=s, padding=p)

        H_out, W_out = _out(H, KH, s[0], p[0]), _out(W, KW, s[1], p[1])
        found = [
            Mistake(_SWAPPED, run(w=w.transpose(1, 0, 2, 3)) if F == C else None,
                    shape=(N, C, H_out, W_out) if F != C else None),
            Mistake("the bias is missing: add bias[f] to every value of output channel f.",
                    run(b=None) if b is not None else None),
            Mistake(_FLIPPED, run(w=w[:, :, ::-1, ::-1])),
            Mistake("the channels are not summed: each filter's output is the sum over all "
                    "input channels c of the cross-correlation of x[n, c] with weight[f, c].",
                    shape=(N, F * C, H_out, W_out)),
            Mistake("the padding is missing.", run(p=(0, 0)) if p != (0, 0) else None,
                    shape=(N, F, _out(H, KH, s[0]), _out(W, KW, s[1])) if p != (0, 0) else None),
            Mistake("the padding is added on one side only.",
                    shape=(N, F, _out(H - p[0], KH, s[0], p[0]), _out(W - p[1], KW, s[1], p[1])) if p != (0, 0) else None),
            Mistake("you rounded the output size up; it rounds down (floor).",
                    shape=(N, F, _out(H, KH, s[0], p[0], ceil=True), _out(W, KW, s[1], p[1], ceil=True))),
            Mistake("the stride is ignored.", run(s=(1, 1)) if s != (1, 1) else None),
            Mistake("the batch axis is lost: return shape (N, F, H_out, W_out) even when N = 1.",
                    shape=(F, H_out, W_out)),
        ]
        if b is not None:
            found.append(Mistake("the bias is added once per input channel; add it once per "
                                 "output value.", _try(lambda: run() + (C - 1) * b[None, :, None, None])))
        return found


def _conv2d_error_variants(self, case):
    i = case.inputs()
    F, C = i["weight"].shape[:2]
    if F == C:
        return []
    swapped = _ND_COPY(i["weight"].transpose(1, 0, 2, 3))
    args = _TUPLE((name, swapped if name == "weight" else value) for name, value in case.args)
    return [(_SWAPPED, Case(case.label, args, case.kwargs))]


_SWAPPED = ("the channel and filter axes are swapped: `weight` has shape (F, C, KH, KW), "
            "filter f is weight[f] and its slice for input channel c is weight[f, c].")
_Conv2d.error_variants = _conv2d_error_variants


class _Pool(Task):
    mode = "max"

    def cases(self, hidden):
        rng = _Rng((1313 if not hidden else 1414) + (self.mode == "avg"))
        # the lecture's two 4x4 feature maps (the 6x6 image with its two filters)
        feature = _make((1, 2, 4, 4), [3, -1, -3, -1, -3, 1, 0, -3, -3, -3, 0, 1, 3, -2, -2, -1,
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
                     (("x", rng.array((1, 2, 5, 5), -9, -1)),), (("kernel_size", 2), ("stride", 2), ("padding", 1))),
                Case("3x3 windows, stride 2, padding 1",
                     (("x", rng.array((2, 2, 7, 8), step=0.5)),), (("kernel_size", 3), ("stride", 2), ("padding", 1))),
                Case("non-square (2, 3) windows, default stride",
                     (("x", rng.array((1, 3, 6, 9))),), (("kernel_size", (2, 3)), ("stride", None), ("padding", 0))),
                Case("windows that do not tile the input (7x7, 2x2, stride 2)",
                     (("x", rng.array((3, 1, 7, 7), step=0.25)),), (("kernel_size", 2), ("stride", None), ("padding", 0))),
                Case("one window covering the whole 4x4 map",
                     (("x", rng.array((2, 4, 4, 4))),), (("kernel_size", 4), ("stride", None), ("padding", 0))),
                Case("(3, 2) windows, stride (1, 2)",
                     (("x", rng.array((1, 2, 6, 6))),), (("kernel_size", (3, 2)), ("stride", (1, 2)), ("padding", 0))),
            ]
        return cases

    def _settings(self, case):
        i = case.inputs()
        k = _pair(i["kernel_size"])
        s = k if i["stride"] is None else _pair(i["stride"])
        return k, s, _pair(i["padding"])

    def expected(self, case):
        k, s, p = self._settings(case)
        return _reference(f"{self.mode}_pool2d", _as_float(case.inputs()["x"]), k, stride=s,
                          padding=p)

    def shape_formula(self, case):
        k, s, p = self._settings(case)
        N, C, H, W = case.inputs()["x"].shape
        return (f"(N, C, H_out, W_out) with N = {N}, C = {C}; {_size_formula('H', H, k[0], s[0], p[0])}; "
                f"{_size_formula('W', W, k[1], s[1], p[1])} (stride defaults to the kernel size)")

    def mistakes(self, case):
        ops = _ops()
        k, s, p = self._settings(case)
        x = _as_float(case.inputs()["x"])
        N, C, H, W = x.shape
        own = ops.max_pool2d if self.mode == "max" else ops.avg_pool2d
        other = ops.avg_pool2d if self.mode == "max" else ops.max_pool2d
        found = [
            Mistake("you computed the " + ("average" if self.mode == "max" else "maximum")
                    + " of each window instead of the " + ("maximum." if self.mode == "max" else "average."),
                    _try(other, x, k, stride=s, padding=p)),
            Mistake("the windows overlap: with stride=None the stride equals the kernel size "
                    "(non-overlapping windows).",
                    _try(own, x, k, stride=1, padding=p) if case.inputs()["stride"] is None else None),
            Mistake("you rounded the output size up; it rounds down (floor): a window that does "
                    "not fit is dropped.",
                    shape=(N, C, _out(H, k[0], s[0], p[0], ceil=True), _out(W, k[1], s[1], p[1], ceil=True))),
            Mistake("pooling over the wrong axes: pool over the last two axes (H, W) of "
                    "(N, C, H, W), separately for every image and channel.",
                    shape=(N, _try(_out, C, k[0], s[0], p[0]), _try(_out, H, k[1], s[1], p[1]), W)),
            Mistake("pooling over the wrong axes: the batch and channel axes must not be pooled.",
                    shape=(_try(_out, N, k[0], s[0], p[0]), _try(_out, C, k[1], s[1], p[1]), H, W)),
        ]
        if k[0] != k[1] or s[0] != s[1]:
            found.append(Mistake("the window's height and width are swapped: kernel_size=(kh, kw) "
                                 "spans kh rows and kw columns.",
                                 _try(own, x, (k[1], k[0]), stride=(s[1], s[0]), padding=p)))
        for delta in (-1, 1):
            s2 = (s[0] + delta, s[1] + delta)
            if min(s2) >= 1:
                found.append(Mistake(f"the stride is off by one: your output matches stride {s2}.",
                                     _try(own, x, k, stride=s2, padding=p)))
        if p != (0, 0):
            padded = ops.pad(x, (p[1], p[1], p[0], p[0]))
            if self.mode == "max":
                found.append(Mistake("the padding is filled with zeros: max pooling pads with "
                                     "-inf so that the padding never wins.",
                                     _try(own, padded, k, stride=s)))
            else:
                found.append(Mistake("the padded zeros are left out of the average: like PyTorch "
                                     "(count_include_pad=True) divide by the full window size "
                                     "kh*kw.", _try(own, x, k, stride=s, padding=p,
                                                    count_include_pad=False)))
            found.append(Mistake("the padding is missing.", shape=(N, C, _out(H, k[0], s[0]),
                                                                 _out(W, k[1], s[1]))))
        return found


class _MaxPool(_Pool):
    mode = "max"


class _AvgPool(_Pool):
    mode = "avg"


class _NumParameters(Task):
    kind = "int"

    def cases(self, hidden):
        cases = [
            Case("two 3x3 filters on an RGB image, no bias (the lecture's 54)",
                 (("in_channels", 3), ("out_channels", 2), ("kernel_size", 3)), (("bias", False),)),
            Case("a dense layer 784 -> 1000 as a 1x1 convolution",
                 (("in_channels", 784), ("out_channels", 1000), ("kernel_size", 1)), (("bias", True),)),
            Case("AlexNet's first layer: 96 filters 11x11 on 3 channels",
                 (("in_channels", 3), ("out_channels", 96), ("kernel_size", 11)), (("bias", True),)),
        ]
        if hidden:
            for c, f, k, b in [(1000, 10, 1, True), (64, 128, 3, True), (16, 16, (1, 7), False),
                               (1, 1, 1, True), (5, 3, (3, 2), True), (256, 512, 5, False)]:
                cases.append(Case(f"C={c}, F={f}, kernel {k}, bias={b}",
                                  (("in_channels", c), ("out_channels", f), ("kernel_size", k)),
                                  (("bias", b),)))
        return cases

    @staticmethod
    def _count(c, f, k, bias=True, *, in_channels=True, area=True, per_channel_bias=False):
        kh, kw = _pair(k)
        weights = f * (c if in_channels else 1) * (kh * kw if area else kh)
        if not bias:
            return weights
        return weights + (f * c if per_channel_bias else f)

    def expected(self, case):
        i = case.inputs()
        return self._count(i["in_channels"], i["out_channels"], i["kernel_size"], i["bias"]), ""

    def shape_formula(self, case):
        i = case.inputs()
        kh, kw = _pair(i["kernel_size"])
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


class _ReceptiveField(Task):
    kind = "int"

    def cases(self, hidden):
        cases = [
            Case("three 3x3 convolutions (3, 5, 7)", (("layers", [(3, 1, 1)] * 3),)),
            Case("3x3 convolution, 2x2 pooling with stride 2, 3x3 convolution",
                 (("layers", [(3, 1, 1), (2, 2, 1), (3, 1, 1)]),)),
            Case("the dilated stack of the lecture (dilations 1, 1, 2, 4)",
                 (("layers", [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4)]),)),
        ]
        if hidden:
            for layers in ([(3, 1, 1)], [(5, 1, 1)], [(11, 4, 1), (3, 2, 1), (5, 1, 1)],
                           [(3, 1, 1), (3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8), (3, 1, 16),
                            (3, 1, 1), (1, 1, 1)],
                           [(3, 2, 1), (3, 2, 1), (3, 2, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 2)],
                           [(1, 1, 1)]):
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


# --------------------------------------------------------------------------------------
# ps3: convolution as a matrix product, transposed convolution, backpropagation.
def _unfold_ref(x, kernel_size, stride, padding):
    """``torch.nn.functional.unfold`` in float64 (course.reference has no unfold)."""
    import course.reference as ref_module
    import torch
    import torch.nn.functional as F

    for obj, name in ((torch.as_tensor, "torch.as_tensor"),):
        if not (_TYPE(obj) is _BUILTIN_FN and obj.__name__ == "as_tensor"):
            _tampered(f"`{name}`")
    device = ref_module.device
    if not (_TYPE(device) is _FUNCTION
            and os.path.abspath(device.__code__.co_filename).startswith(_COURSE_DIR + os.sep)):
        _tampered("`course.reference.device`")
    dev = device()
    cols = F.unfold(torch.as_tensor(_as_float(x), device=dev), kernel_size, stride=stride,
                    padding=padding)
    value = cols.detach().cpu().numpy()
    if not _is_ndarray(value):
        _tampered("`torch.Tensor.numpy`")
    return value, f"PyTorch float64 on {dev.type}"


def _deck_example():
    """The lecture's 3x3 input and 2x2 kernel (conv matrix and transposed convolution)."""
    image = _make((3, 3), [1, 2, 3, 6, 5, 3, 1, 4, 1])
    kernel = _make((2, 2), [1, 2, 2, 1])
    return image, kernel


class _Im2col(Task):
    rtol = 0.0
    atol = 1e-12

    def cases(self, hidden):
        rng = _Rng(1501 if not hidden else 1602)
        image, _ = _deck_example()
        cases = [
            Case("the lecture's 3x3 input, 2x2 windows",
                 (("x", _ND_COPY(image)[None, None]),),
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
        return _pair(i["kernel_size"]), _pair(i["stride"]), _pair(i["padding"])

    def expected(self, case):
        k, s, p = self._settings(case)
        return _unfold_ref(case.inputs()["x"], k, s, p)

    def shape_formula(self, case):
        (KH, KW), s, p = self._settings(case)
        N, C, H, W = case.inputs()["x"].shape
        return (f"(N, C*KH*KW, H_out*W_out) = ({N}, {C}*{KH}*{KW}, H_out*W_out) with "
                f"{_size_formula('H', H, KH, s[0], p[0])}; {_size_formula('W', W, KW, s[1], p[1])}")

    def mistakes(self, case):
        (KH, KW), s, p = self._settings(case)
        x = _as_float(case.inputs()["x"])
        N, C, H, W = x.shape
        Ho, Wo = _out(H, KH, s[0], p[0]), _out(W, KW, s[1], p[1])
        L = Ho * Wo
        cols, _ = self.expected(case)
        blocks = cols.reshape(N, C, KH, KW, Ho, Wo)
        found = [
            Mistake("the rows are in channel-last order (kernel row, kernel column, channel); "
                    "like PyTorch's unfold, row c*KH*KW + a*KW + b holds channel c at kernel "
                    "offset (a, b): all offsets of channel 0 first, then channel 1, ...",
                    _ND_COPY(blocks.transpose(0, 2, 3, 1, 4, 5)).reshape(N, C * KH * KW, L)
                    if C > 1 else None),
            Mistake("the kernel offsets are ordered column by column; row a*KW + b of a "
                    "channel's block holds offset (a, b) (row-major, as `window.ravel()`).",
                    _ND_COPY(blocks.transpose(0, 1, 3, 2, 4, 5)).reshape(N, C * KH * KW, L)
                    if KH > 1 and KW > 1 else None),
            Mistake("the windows (columns) are ordered column by column; column i*W_out + j "
                    "holds the window at output position (i, j) (row-major).",
                    _ND_COPY(blocks.transpose(0, 1, 2, 3, 5, 4)).reshape(N, C * KH * KW, L)
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
                        "first.", _try(lambda: _unfold_ref(x, (KH, KW), s, (0, 0))[0])),
                Mistake("the padding is added on one side only.",
                        shape=(N, C * KH * KW, _out(H - p[0], KH, s[0], p[0])
                               * _out(W - p[1], KW, s[1], p[1]))),
            ]
        if s != (1, 1):
            found.append(Mistake("the stride is ignored: windows start every `stride` pixels.",
                                 _try(lambda: _unfold_ref(x, (KH, KW), (1, 1), p)[0])))
        return found


class _Conv2dMatmul(_Conv2d):
    """ps3's conv2d as one matrix product; the ps2 diagnoses and a few of its own."""

    def cases(self, hidden):
        rng = _Rng(1701 if not hidden else 1802)
        image, filters = _six_by_six_example()
        cases = [
            Case("the lecture's 6x6 image with two 3x3 filters, stride 1",
                 (("x", image), ("weight", filters), ("bias", None)), (("stride", 1), ("padding", 0))),
            Case("batch of 2, 3 channels, 4 filters, bias, padding 1",
                 (("x", rng.array((2, 3, 5, 5))), ("weight", rng.array((4, 3, 3, 3))),
                  ("bias", rng.array((4,), nonzero=True))), (("stride", 1), ("padding", 1))),
        ]
        if hidden:
            cases += [
                Case("the 6x6 example with stride 2",
                     (("x", image), ("weight", filters), ("bias", None)), (("stride", 2), ("padding", 0))),
                Case("3 channels, 3 filters (square: swapped axes would not crash), bias",
                     (("x", rng.array((2, 3, 6, 6))), ("weight", rng.array((3, 3, 3, 3))),
                      ("bias", rng.array((3,), nonzero=True))), (("stride", 1), ("padding", 0))),
                Case("1x1 convolution mixing 4 channels into 2",
                     (("x", rng.array((3, 4, 3, 3))), ("weight", rng.array((2, 4, 1, 1))),
                      ("bias", rng.array((2,), nonzero=True))), (("stride", 1), ("padding", 0))),
                Case("non-square 3x2 kernels, stride (2, 1), padding (1, 0)",
                     (("x", rng.array((3, 2, 7, 6), step=0.5)), ("weight", rng.array((3, 2, 3, 2))),
                      ("bias", rng.array((3,), step=0.5, nonzero=True))),
                     (("stride", (2, 1)), ("padding", (1, 0)))),
                Case("batch of 4, 16x16 images, 8 filters, stride 2, padding 2",
                     (("x", rng.array((4, 3, 16, 16), step=0.25)), ("weight", rng.array((8, 3, 5, 5))),
                      ("bias", rng.array((8,), nonzero=True))), (("stride", 2), ("padding", 2))),
            ]
        return cases

    def mistakes(self, case):
        ops = _ops()
        i = case.inputs()
        x, w = _as_float(i["x"]), _as_float(i["weight"])
        b = None if i["bias"] is None else _as_float(i["bias"])
        s, p = _pair(i["stride"]), _pair(i["padding"])
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        found = []
        if C > 1:
            # rows of the column matrix channel-last, the flattened weight channel-first
            mixed = _ND_COPY(w.reshape(F, KH, KW, C).transpose(0, 3, 1, 2))
            found.append(Mistake("the rows of your column matrix and the flattened weight are "
                                 "in different orders: `weight.reshape(F, -1)` is ordered "
                                 "(channel, kernel row, kernel column), so im2col's rows must "
                                 "be too.", _try(ops.conv2d, x, mixed, b, stride=s, padding=p)))
        right = _try(ops.conv2d, x, w, b, stride=s, padding=p)
        if right is not None and N > 1 and F > 1:
            Ho, Wo = right.shape[2:]
            # (F, N*L) reshaped straight to (N, F, H_out, W_out)
            found.append(Mistake("the product (F, N*H_out*W_out) was reshaped to (N, F, H_out, "
                                 "W_out) without moving the filter axis behind the batch axis "
                                 "(reshape to (F, N, H_out, W_out), then transpose).",
                                 _ND_COPY(right.transpose(1, 0, 2, 3)).reshape(N, F, Ho, Wo)))
        return found + _Conv2d.mistakes(self, case)


class _ConvMatrix1d(Task):
    rtol = 0.0
    atol = 1e-12

    def cases(self, hidden):
        rng = _Rng(1901 if not hidden else 2002)
        cases = [
            Case("the lecture's kernel (-1, 0, 1) on a signal of length 6",
                 (("L", 6), ("kernel", _make((3,), [-1, 0, 1])))),
            Case("length 5, kernel of length 2", (("L", 5), ("kernel", rng.array((2,), nonzero=True)))),
        ]
        if hidden:
            cases += [
                Case("kernel as long as the signal",
                     (("L", 4), ("kernel", rng.array((4,), nonzero=True)))),
                Case("kernel of length 1", (("L", 3), ("kernel", _make((1,), [2.5])))),
                Case("length 12, kernel of length 5",
                     (("L", 12), ("kernel", rng.array((5,), step=0.5, nonzero=True)))),
                Case("integer kernel (int64)", (("L", 7), ("kernel", _make((3,), [1, 2, 3], "int64")))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        k = _as_float(i["kernel"])
        return _ops().conv_matrix((1, i["L"]), k[None, None]), "course.ops.conv_matrix"

    def shape_formula(self, case):
        i = case.inputs()
        L, K = i["L"], i["kernel"].shape[0]
        return (f"(L_out, L) with L_out = L - K + 1 = {L} - {K} + 1 = {L - K + 1}: one row per "
                "output, one column per input")

    def mistakes(self, case):
        i = case.inputs()
        L, k = i["L"], _as_float(i["kernel"])
        K = k.shape[0]
        flipped = _try(_ops().conv_matrix, (1, L), _ND_COPY(k[::-1])[None, None])
        return [
            Mistake(_FLIPPED, flipped),
            Mistake("you returned the transpose: M has one ROW per output value and one column "
                    "per input value, shape (L - K + 1, L).", shape=(L, L - K + 1)),
            Mistake("you returned the 'full' matrix (partial overlaps too); keep the rows where "
                    "the whole kernel fits ('valid').", shape=(L + K - 1, L)),
            Mistake("one row per input ('same'); keep the rows where the whole kernel fits.",
                    shape=(L, L)),
        ]


class _ConvMatrix2d(Task):
    rtol = 0.0
    atol = 1e-12

    def cases(self, hidden):
        rng = _Rng(2101 if not hidden else 2202)
        _, kernel = _deck_example()
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
                Case("1x1 kernel", (("input_shape", (2, 3)), ("kernel", _make((1, 1), [-2.0])))),
                Case("kernel as large as the input",
                     (("input_shape", (3, 3)), ("kernel", rng.array((3, 3), nonzero=True)))),
                Case("5x4 input, 2x2 kernel (not symmetric)",
                     (("input_shape", (5, 4)), ("kernel", _make((2, 2), [1, 2, 3, 4])))),
                Case("6x6 input, 3x3 kernel",
                     (("input_shape", (6, 6)), ("kernel", rng.array((3, 3), step=0.5, nonzero=True)))),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        H, W = i["input_shape"]
        return (_ops().conv_matrix((1, H, W), _as_float(i["kernel"])[None, None]),
                "course.ops.conv_matrix")

    def shape_formula(self, case):
        i = case.inputs()
        (H, W), (KH, KW) = i["input_shape"], i["kernel"].shape
        Ho, Wo = H - KH + 1, W - KW + 1
        return (f"(H_out*W_out, H*W) = ({Ho}*{Wo}, {H}*{W}) = ({Ho * Wo}, {H * W}): one row per "
                "output pixel, one column per input pixel")

    def mistakes(self, case):
        i = case.inputs()
        (H, W), k = i["input_shape"], _as_float(i["kernel"])
        KH, KW = k.shape
        Ho, Wo = H - KH + 1, W - KW + 1

        def matrix(kernel):
            return _try(_ops().conv_matrix, (1, H, W), _ND_COPY(kernel)[None, None])

        M = matrix(k)
        found = [
            Mistake(_FLIPPED, matrix(k[::-1, ::-1])),
            Mistake("you returned the transpose: M has one ROW per output pixel and one column "
                    "per input pixel.", shape=(H * W, Ho * Wo)),
            Mistake("the 'full' output (partial overlaps too); keep the positions where the "
                    "whole kernel fits ('valid').", shape=((H + KH - 1) * (W + KW - 1), H * W)),
            Mistake("one row per input pixel ('same'); keep the positions where the whole "
                    "kernel fits ('valid').", shape=(H * W, H * W)),
            Mistake("the matrix is not flattened: return a 2-D matrix (H_out*W_out, H*W).",
                    shape=(Ho, Wo, H, W)),
        ]
        if KH != KW or _flat_list(k) != _flat_list(_ND_COPY(k.T)):
            found.append(Mistake("the kernel is transposed (rows and columns swapped): row a "
                                 "of the kernel moves down the image.",
                                 matrix(k.T) if KH == KW else None))
        if M is not None and (H > 1 and W > 1):
            # pixels numbered column by column (Fortran order) on both sides
            fortran = _ND_COPY(M.reshape(Ho, Wo, H, W).transpose(1, 0, 3, 2)).reshape(Ho * Wo, H * W)
            found.append(Mistake("pixels are numbered column by column; number them row by "
                                 "row, as `x.ravel()` does: pixel (r, c) is entry r*W + c.",
                                 fortran))
        return found


def _crop_full(full, start, size):
    """full[..., start:start+size] on the last two axes, zeros outside (start may be < 0)."""
    N, F, FH, FW = full.shape
    out = _ND(shape=(N, F, size[0], size[1]), dtype="float64")
    out[...] = 0.0
    rows = [(r, r + start[0]) for r in range(size[0]) if 0 <= r + start[0] < FH]
    cols = [(c, c + start[1]) for c in range(size[1]) if 0 <= c + start[1] < FW]
    if rows and cols:
        (r0, f0), (c0, g0) = rows[0], cols[0]
        nr, nc = len(rows), len(cols)
        out[:, :, r0:r0 + nr, c0:c0 + nc] = full[:, :, f0:f0 + nr, g0:g0 + nc]
    return out


class _ConvTranspose2d(Task):
    def cases(self, hidden):
        rng = _Rng(2301 if not hidden else 2402)
        _, kernel = _deck_example()
        cases = [
            Case("the lecture's 2x2 input [[1, 2], [2, 4]] with the kernel [[1, 2], [2, 1]]",
                 (("x", _make((1, 1, 2, 2), [1, 2, 2, 4])), ("weight", _ND_COPY(kernel)[None, None])),
                 (("stride", 1), ("padding", 0), ("output_padding", 0))),
            Case("2 images, 2 input channels, 3 output channels, 3x3 kernel, stride 2",
                 (("x", rng.array((2, 2, 3, 3))), ("weight", rng.array((2, 3, 3, 3), nonzero=True))),
                 (("stride", 2), ("padding", 0), ("output_padding", 0))),
        ]
        if hidden:
            cases += [
                Case("stride 2, padding 1",
                     (("x", rng.array((1, 2, 3, 3))), ("weight", rng.array((2, 3, 3, 3)))),
                     (("stride", 2), ("padding", 1), ("output_padding", 0))),
                Case("stride 2, padding 1, output_padding 1",
                     (("x", rng.array((1, 1, 3, 4), nonzero=True)), ("weight", rng.array((1, 2, 3, 3), nonzero=True))),
                     (("stride", 2), ("padding", 1), ("output_padding", 1))),
                Case("stride 2, no padding, output_padding 1 (the extra row and column)",
                     (("x", rng.array((2, 1, 2, 3), nonzero=True)), ("weight", rng.array((1, 2, 2, 2), nonzero=True))),
                     (("stride", 2), ("padding", 0), ("output_padding", 1))),
                Case("stride (2, 3), padding (1, 0), output_padding (1, 2)",
                     (("x", rng.array((1, 2, 3, 3), step=0.5)), ("weight", rng.array((2, 2, 3, 2)))),
                     (("stride", (2, 3)), ("padding", (1, 0)), ("output_padding", (1, 2)))),
                Case("3 input and 3 output channels (square: swapped axes would not crash)",
                     (("x", rng.array((2, 3, 3, 3))), ("weight", rng.array((3, 3, 2, 2)))),
                     (("stride", 1), ("padding", 0), ("output_padding", 0))),
                Case("1x1 kernel, stride 2 (zeros between the inputs)",
                     (("x", rng.array((1, 2, 3, 3), nonzero=True)), ("weight", rng.array((2, 1, 1, 1), nonzero=True))),
                     (("stride", 2), ("padding", 0), ("output_padding", 0))),
                Case("batch of 2, 4x4 inputs, 4 -> 2 channels, 4x4 kernel, stride 2, padding 1",
                     (("x", rng.array((2, 4, 4, 4), step=0.5)), ("weight", rng.array((4, 2, 4, 4)))),
                     (("stride", 2), ("padding", 1), ("output_padding", 0))),
            ]
        return cases

    def _settings(self, case):
        i = case.inputs()
        return _pair(i["stride"]), _pair(i["padding"]), _pair(i["output_padding"])

    def _size(self, case, s=None, p=None, op=None):
        s0, p0, op0 = self._settings(case)
        s, p, op = s or s0, p or p0, op or op0
        N, C, H, W = case.inputs()["x"].shape
        _, F, KH, KW = case.inputs()["weight"].shape
        return ((H - 1) * s[0] - 2 * p[0] + KH + op[0], (W - 1) * s[1] - 2 * p[1] + KW + op[1])

    def expected(self, case):
        i = case.inputs()
        s, p, op = self._settings(case)
        return _reference("conv_transpose2d", _as_float(i["x"]), _as_float(i["weight"]), None,
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
        ops = _ops()
        i = case.inputs()
        x, w = _as_float(i["x"]), _as_float(i["weight"])
        s, p, op = self._settings(case)
        N, C, H, W = x.shape
        _, F, KH, KW = w.shape
        size = self._size(case)
        full = ops.conv_transpose2d(x, w, stride=s)

        def run(w=w, s=s):
            return _try(ops.conv_transpose2d, x, _ND_COPY(w), stride=s, padding=p,
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
                        _crop_full(full, (0, 0), (full.shape[2] + op[0], full.shape[3] + op[1]))),
                Mistake("the padding is cropped from one side only: remove p rows/columns at "
                        "the top/left and p at the bottom/right.",
                        _crop_full(full, (0, 0), size)),
            ]
        if op != (0, 0):
            found += [
                Mistake("output_padding is added on the wrong side: the extra rows and "
                        "columns go at the bottom and the right of the output.",
                        _crop_full(full, (p[0] - op[0], p[1] - op[1]), size)),
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
                             shape=(N, F, _out(H, KH, s[0], p[0]), _out(W, KW, s[1], p[1]))))
        return found


def _conv_transpose_error_variants(self, case):
    i = case.inputs()
    C, F = i["weight"].shape[:2]
    if F == C:
        return []
    swapped = _ND_COPY(i["weight"].transpose(1, 0, 2, 3))
    args = _TUPLE((name, swapped if name == "weight" else value) for name, value in case.args)
    return [("the input and output channel axes of `weight` are swapped: for a transposed "
             "convolution `weight` has shape (C_in, F, KH, KW).", Case(case.label, args, case.kwargs))]


_ConvTranspose2d.error_variants = _conv_transpose_error_variants
_AUTOGRAD = (("torch.autograd", "grad"), ("torch.autograd", "backward"))


class _Conv2dBackward(Task):
    kind = "arrays"
    parts = ("grad_x", "grad_weight", "grad_bias")
    forbidden = _AUTOGRAD

    def cases(self, hidden):
        rng = _Rng(2501 if not hidden else 2602)

        def case(label, x_shape, w_shape, s, p, step=1.0):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            Ho, Wo = _out(H, KH, _pair(s)[0], _pair(p)[0]), _out(W, KW, _pair(s)[1], _pair(p)[1])
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
        return _pair(i["stride"]), _pair(i["padding"])

    def _grads(self, g, x, w, s, p):
        return _reference("conv2d_backward", _as_float(g), _as_float(x), _as_float(w),
                          stride=s, padding=p)[0]

    def expected(self, case):
        i = case.inputs()
        s, p = self._settings(case)
        return _reference("conv2d_backward", _as_float(i["grad_out"]), _as_float(i["x"]),
                          _as_float(i["weight"]), stride=s, padding=p)

    def part_shape_formula(self, case, index):
        i = case.inputs()
        return [f"grad_x has the shape of x, {i['x'].shape} = (N, C, H, W)",
                f"grad_weight has the shape of weight, {i['weight'].shape} = (F, C, KH, KW)",
                f"grad_bias has one value per filter, ({i['weight'].shape[0]},) = (F,)"][index]

    def part_mistakes(self, case, index):
        i = case.inputs()
        g, x, w = _as_float(i["grad_out"]), _as_float(i["x"]), _as_float(i["weight"])
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
                        _ND_COPY(gw[:, :, ::-1, ::-1])),
                Mistake("grad_weight's filter and channel axes are swapped: it has the shape of "
                        "weight, (F, C, KH, KW).",
                        _ND_COPY(gw.transpose(1, 0, 2, 3)) if F == C else None,
                        shape=(C, F, KH, KW) if F != C else None),
            ]
            if s != (1, 1):
                xp = _ND(shape=(N, C, H + 2 * p[0], W + 2 * p[1]), dtype="float64")
                xp[...] = 0.0
                xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
                part = _ND_COPY(xp[:, :, :Ho + KH - 1, :Wo + KW - 1])
                found.append(Mistake("the stride is ignored in grad_weight: output (i, j) saw "
                                     "the window starting at (i*sh, j*sw) of the padded input.",
                                     _try(lambda: self._grads(g, part, w, (1, 1), (0, 0))[1])))
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
        ops = _ops()
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        Ho, Wo = g.shape[2:]
        found = [
            Mistake("grad_x uses the kernel without flipping it: grad_x is the transposed "
                    "convolution of grad_out (each grad_out[n, f, i, j] adds "
                    "grad_out[n, f, i, j] * weight[f] to the window it came from); written as "
                    "a correlation of the zero-padded grad_out, the kernel is flipped.",
                    self._grads(g, x, _ND_COPY(w[:, :, ::-1, ::-1]), s, p)[0]),
            Mistake("the padding is not cropped: grad_x has the shape of x, without the "
                    "padded border.", shape=(N, C, H + 2 * p[0], W + 2 * p[1])),
        ]
        reach = ((Ho - 1) * s[0] + KH - 2 * p[0], (Wo - 1) * s[1] + KW - 2 * p[1])
        if reach != (H, W):
            found.append(Mistake("grad_x is too small: pixels that no window reaches (when H + "
                                 "2p - KH is not a multiple of the stride) are part of x and "
                                 "get gradient 0.", shape=(N, C, reach[0], reach[1])))
        if s != (1, 1):
            full = _try(ops.conv_transpose2d, g, w)  # stride 1: blocks at (i, j)
            if full is not None:
                found.append(Mistake("the stride is ignored in the scatter: grad_out[n, f, i, j] "
                                     "goes back to the window starting at (i*sh, j*sw), not "
                                     "(i, j).", _crop_full(full, p, (H, W))))
        return found


class _MaxPoolBackward(Task):
    forbidden = _AUTOGRAD

    def cases(self, hidden):
        rng = _Rng(2701 if not hidden else 2802)

        def case(label, shape, k, s, low=-3, high=3, step=1.0):
            kh, kw = _pair(k)
            sh, sw = (kh, kw) if s is None else _pair(s)
            N, C, H, W = shape
            g = rng.array((N, C, _out(H, kh, sh), _out(W, kw, sw)), nonzero=True)
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
        k = _pair(i["kernel_size"])
        return k, (k if i["stride"] is None else _pair(i["stride"]))

    def expected(self, case):
        i = case.inputs()
        k, s = self._settings(case)
        return _reference("max_pool2d_backward", _as_float(i["grad_out"]), _as_float(i["x"]), k,
                          stride=s)

    def shape_formula(self, case):
        return f"grad_x has the shape of x, {case.inputs()['x'].shape} = (N, C, H, W)"

    @staticmethod
    def _route(g, x, k, s, mode):
        """The gradient as a typical loop routes it ('assign', 'last', 'ties', 'spread')."""
        N, C, H, W = x.shape
        Ho, Wo = g.shape[2:]
        grad = _ND(shape=x.shape, dtype="float64")
        grad[...] = 0.0
        for n in range(N):
            for c in range(C):
                for i in range(Ho):
                    for j in range(Wo):
                        window = x[n, c, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
                        values = _flat_list(window)
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
        g, x = _as_float(i["grad_out"]), _as_float(i["x"])
        k, s = self._settings(case)
        N, C, H, W = x.shape
        found = [
            Mistake("the gradient is assigned (`grad[...] = g`) where windows overlap, so a "
                    "pixel that is the maximum of several windows keeps only the last "
                    "window's gradient; accumulate with `+=`.", self._route(g, x, k, s, "assign")),
            Mistake("the gradient is spread over the whole window (that is average pooling's "
                    "backward pass); only the maximum of each window receives it.",
                    _try(_ops().avg_pool2d_backward, g, x, k, stride=s)),
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


# Functions whose gradients the checks know exactly; pure Python on the array's values.
class _Function:
    def __init__(self, text, value, gradient):
        self.text, self.value, self.gradient = text, value, gradient

    def __call__(self, x):
        if not _is_ndarray(x):
            raise TypeError(f"f expects an ndarray, got {_TYPE(x).__name__}")
        return self.value(_flat_list(x))

    def __repr__(self):
        return f"f(x) = {self.text}"


def _weights(count):
    return [1.0 + (t % 3) * 0.5 for t in range(count)]


_SQUARES = _Function("sum(x**2)", lambda v: sum(t * t for t in v), lambda v: [2 * t for t in v])
_WEIGHTED = _Function("sum(w * x**2) + x[0]*x[1]  (w = 1, 1.5, 2, 1, ...)",
                      lambda v: sum(w * t * t for w, t in zip(_weights(len(v)), v)) + v[0] * v[1],
                      lambda v: [2 * w * t + (v[1] if n == 0 else v[0] if n == 1 else 0)
                                 for n, (w, t) in enumerate(zip(_weights(len(v)), v))])
_CUBES = _Function("sum(x**3) / 3", lambda v: sum(t * t * t for t in v) / 3, lambda v: [t * t for t in v])
_LOGCOSH = _Function("sum(log(cosh(x)))", lambda v: sum(_math().log(_math().cosh(t)) for t in v),
                     lambda v: [_math().tanh(t) for t in v])


def _math():
    import math

    return math


class _NumericalGradient(Task):
    rtol = 1e-6
    atol = 1e-6
    forbidden = (("scipy.optimize", "approx_fprime"), ("scipy.optimize", "check_grad"),
                 ("numpy", "gradient")) + _AUTOGRAD

    def cases(self, hidden):
        rng = _Rng(2901 if not hidden else 3002)
        cases = [
            Case("f(x) = sum(x**2) on a 2x3 array: the gradient is 2x",
                 (("f", _SQUARES), ("x", rng.array((2, 3), -3, 3, step=0.5)))),
            Case("a quadratic with a cross term, eps=0.01",
                 (("f", _WEIGHTED), ("x", rng.array((5,), -4, 4, step=0.5))), (("eps", 1e-2),)),
        ]
        if hidden:
            cases += [
                Case("sum(x**3)/3 with eps=1e-4 (the gradient is x**2)",
                     (("f", _CUBES), ("x", rng.array((3, 2), -4, 4, step=0.5))), (("eps", 1e-4),)),
                Case("sum(log(cosh(x))) on a 4-D array (a conv weight's shape)",
                     (("f", _LOGCOSH), ("x", rng.array((2, 1, 2, 2), -4, 4, step=0.25)))),
                Case("an integer array x (int64)",
                     (("f", _SQUARES), ("x", rng.array((4,), -3, 3, dtype="int64")))),
                Case("one element", (("f", _SQUARES), ("x", _make((1,), [1.5]))), (("eps", 1e-3),)),
                Case("the cross term again, eps=0.1",
                     (("f", _WEIGHTED), ("x", rng.array((2, 2), -2, 2, step=0.5))), (("eps", 1e-1),)),
            ]
        return cases

    def expected(self, case):
        i = case.inputs()
        x = i["x"]
        return _make(x.shape, i["f"].gradient(_flat_list(_as_float(x)))), "the exact derivative"

    def shape_formula(self, case):
        return f"the gradient has the shape of x, {case.inputs()['x'].shape}"

    @staticmethod
    def _differences(f, x, eps, mode):
        """The numerical gradient as a typical wrong loop computes it."""
        x = _ND_COPY(x)
        flat = _ND_RESHAPE(x, -1)
        out = _ND(shape=x.shape, dtype="float64")
        out_flat = _ND_RESHAPE(out, -1)
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
        i = case.inputs()
        f, x = i["f"], i["x"]
        eps = _DICT(case.kwargs).get("eps", 1e-6)
        found = []
        if x.dtype.kind in "iu":
            message = ("x has an integer dtype, so x + eps and x - eps are rounded to whole "
                       "numbers when stored in it; convert x to float first "
                       "(`x = np.array(x, dtype=np.float64)`).")
            zeros = _ND(shape=x.shape, dtype="float64")
            zeros[...] = 0.0
            found += [Mistake(message, zeros),
                      Mistake(message, self._differences(f, x, eps, "central")),
                      Mistake(message, self._differences(f, x, eps, "forward"))]
        xf = _as_float(x)
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


def _conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """A NumPy conv2d given to the student's gradient_check (not a forbidden function)."""
    x, weight = _as_float(x), _as_float(weight)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    xp = _ND(shape=(N, C, H + 2 * ph, W + 2 * pw), dtype="float64")
    xp[...] = 0.0
    xp[:, :, ph:ph + H, pw:pw + W] = x
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.einsum("nchwij,fcij->nfhw", windows, weight)
    if bias is not None:
        out = out + _as_float(bias)[None, :, None, None]
    return out


def _relative_error(a, b) -> float:
    """max |a - b| / max(|a|, |b|) over the entries (0 when both are zero)."""
    fa, fb = _flat_list(a), _flat_list(b)
    diff = max([abs(u - v) for u, v in zip(fa, fb)] + [0.0])
    scale = max([abs(u) for u in fa] + [abs(v) for v in fb] + [0.0])
    return diff / scale if scale > 0 else 0.0


def _uniform(rng, shape, low=-2.0, high=2.0):
    """Irregular values in [low, high] (a fine grid): sums of products do not cancel exactly."""
    count = 1
    for size in shape:
        count *= size
    return _make(shape, [low + (high - low) * k / 999983 for k in rng.ints(0, 999983, count)])


@dataclass
class _GradCase(Case):
    wrong: str = ""  # which gradient the given backward pass gets wrong ("" = none)


class _GradientCheck(Task):
    kind = "error"
    helper = "numerical_gradient"
    limits = (1e-6, 1e-3)
    forbidden = _AUTOGRAD
    hint_small = ("the loss must be L = sum(forward(x, weight, bias, stride, padding) * "
                  "grad_out), whose exact gradients are what backward returns for that "
                  "grad_out; compare each numerical gradient with the matching analytic one "
                  "(x with grad_x, weight with grad_weight, bias with grad_bias).")
    hint_large = ("compare all three gradients: {part} must be checked too, with the "
                  "numerical gradient of L with respect to the matching input.")

    def cases(self, hidden):
        rng = _Rng(3101 if not hidden else 3202)

        def case(label, wrong, x_shape, w_shape, s, p):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            Ho, Wo = _out(H, KH, _pair(s)[0], _pair(p)[0]), _out(W, KW, _pair(s)[1], _pair(p)[1])
            g, x = _uniform(rng, (N, F, Ho, Wo)), _uniform(rng, x_shape)
            w, b = _uniform(rng, w_shape), _uniform(rng, (F,))
            return _GradCase(label, (("forward", _conv2d_forward), ("backward", None), ("x", x),
                                     ("weight", w), ("bias", b), ("grad_out", g)),
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
        s, p = _pair(i["stride"]), _pair(i["padding"])
        g, x, w = i["grad_out"], i["x"], i["weight"]
        gx, gw, gb = _reference("conv2d_backward", g, x, w, stride=s, padding=p)[0]
        if case.wrong == "grad_x":
            gx = _reference("conv2d_backward", g, x, _ND_COPY(w[:, :, ::-1, ::-1]), stride=s,
                            padding=p)[0][0]
        elif case.wrong == "grad_weight":
            gw = _reference("conv2d_backward", _ND_COPY(g[-1:]), _ND_COPY(x[-1:]), w, stride=s,
                            padding=p)[0][1]
        elif case.wrong == "grad_bias":
            gb = gb / (g.shape[0] * g.shape[2] * g.shape[3])
        grads = (gx, gw, gb)

        def backward(grad_out, x, weight, stride=1, padding=0):
            return _TUPLE(_ND_COPY(a) for a in grads)

        args = _TUPLE((name, backward if name == "backward" else value) for name, value in case.args)
        return _GradCase(case.label, args, case.kwargs, case.wrong)

    def expected(self, case):
        """The true relative error of the given backward pass (0 for a correct one)."""
        i = case.inputs()
        s, p = _pair(i["stride"]), _pair(i["padding"])
        right = _reference("conv2d_backward", i["grad_out"], i["x"], i["weight"], stride=s,
                           padding=p)[0]
        given = i["backward"](i["grad_out"], i["x"], i["weight"], s, p)
        return max(_relative_error(a, b) for a, b in zip(given, right)), "exact gradients"


# --------------------------------------------------------------------------------------
# Public checks.
_TASKS = {
    "correlate1d": _Correlate1d("correlate1d"),
    "convolve1d": _Convolve1d("convolve1d"),
    "correlate2d": _Correlate2d("correlate2d"),
    "pad2d": _Pad2d("pad2d"),
    "output_size": _OutputSize("output_size"),
    "correlate2d_strided": _Strided("correlate2d_strided"),
    "correlate2d_general": _General("correlate2d_general"),
    "conv2d": _Conv2d("conv2d"),
    "max_pool2d": _MaxPool("max_pool2d"),
    "avg_pool2d": _AvgPool("avg_pool2d"),
    "num_conv_parameters": _NumParameters("num_conv_parameters"),
    "receptive_field": _ReceptiveField("receptive_field"),
    "im2col": _Im2col("im2col"),
    "conv2d_matmul": _Conv2dMatmul("conv2d_matmul"),
    "conv_matrix_1d": _ConvMatrix1d("conv_matrix_1d"),
    "conv_matrix_2d": _ConvMatrix2d("conv_matrix_2d"),
    "conv_transpose2d": _ConvTranspose2d("conv_transpose2d"),
    "conv2d_backward": _Conv2dBackward("conv2d_backward"),
    "max_pool2d_backward": _MaxPoolBackward("max_pool2d_backward"),
    "numerical_gradient": _NumericalGradient("numerical_gradient"),
    "gradient_check": _GradientCheck("gradient_check"),
}


def _make_check(task_name: str):
    def check(student_fn, hidden: bool = False) -> None:
        __tracebackhide__ = True
        _run(_TASKS[task_name], student_fn, hidden)

    check.__name__ = check.__qualname__ = f"check_{task_name}"
    check.__doc__ = (f"Check a student's ``{task_name}``: the visible cases, or all of them "
                     "with ``hidden=True``; raise AssertionError with the first failing case.")
    return check


check_correlate1d = _make_check("correlate1d")
check_convolve1d = _make_check("convolve1d")
check_correlate2d = _make_check("correlate2d")
check_pad2d = _make_check("pad2d")
check_output_size = _make_check("output_size")
check_correlate2d_strided = _make_check("correlate2d_strided")
check_correlate2d_general = _make_check("correlate2d_general")
check_conv2d = _make_check("conv2d")
check_max_pool2d = _make_check("max_pool2d")
check_avg_pool2d = _make_check("avg_pool2d")
check_num_conv_parameters = _make_check("num_conv_parameters")
check_receptive_field = _make_check("receptive_field")
check_im2col = _make_check("im2col")
check_conv2d_matmul = _make_check("conv2d_matmul")
check_conv_matrix_1d = _make_check("conv_matrix_1d")
check_conv_matrix_2d = _make_check("conv_matrix_2d")
check_conv_transpose2d = _make_check("conv_transpose2d")
check_conv2d_backward = _make_check("conv2d_backward")
check_max_pool2d_backward = _make_check("max_pool2d_backward")
check_numerical_gradient = _make_check("numerical_gradient")
check_gradient_check = _make_check("gradient_check")
