"""Checks behind the auto-graded exercises (``source/ps1``, ``source/ps2``).

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
    "check_convolve1d",
    "check_correlate1d",
    "check_correlate2d",
    "check_correlate2d_general",
    "check_correlate2d_strided",
    "check_max_pool2d",
    "check_num_conv_parameters",
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
    if not _is_ndarray(value):
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
    # 5. inputs unchanged
    current = case.inputs()
    for name, before in saved:
        if not _same(current[name], before, 0.0, 0.0):
            return (f"Your function changed its input `{name}` in place; work on a copy "
                    f"(e.g. `{name} = {name}.copy()` or write into a new array).\n"
                    f"  `{name}` before the call:\n    {_fmt(before)}\n"
                    f"  after:\n    {_fmt(current[name])}")
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
