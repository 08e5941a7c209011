"""Shortcut refusal while a student's function runs: a teaching aid, not a defence.

While the student's function runs, the functions a task does not allow (PyTorch's
convolutions and pooling, SciPy's convolutions and filters, ``numpy.convolve``,
``numpy.pad`` where padding is the exercise, the course's own operations, ...) are
replaced by stubs that raise :class:`ForbiddenCallError`, and a profile hook catches
the same functions called through a name imported earlier
(``from scipy.signal import correlate2d``).

This runs inside the student's process, so the student's own code can switch it off.
It exists so that an honest student who reaches for a library function hears at once,
in the notebook, that the exercise is to write it. The grade does not rely on it: the
judge runs the student's functions in a process where SciPy, PyTorch and the course's
reference code are not installed at all (see :mod:`course.grading.runner.judge`); within
NumPy, which that process must have, this guard is all there is.

Standard library only (NumPy is found in ``sys.modules``): the judged process loads
this module on its own.
"""
from __future__ import annotations

import sys

__all__ = ["ForbiddenCallError", "Guard", "DEFAULT_FORBIDDEN"]

_TORCH_WORDS = ("conv", "pool", "unfold", "fold", "im2col", "col2im")
_SCIPY = {
    "scipy.signal": ("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve",
                     "oaconvolve", "choose_conv_method", "sepfir2d"),
    "scipy.ndimage": ("convolve", "convolve1d", "correlate", "correlate1d", "uniform_filter",
                      "uniform_filter1d", "maximum_filter", "maximum_filter1d", "generic_filter",
                      "minimum_filter"),
}
_COURSE_PACKAGE = "course.ops."
"""Every module of the course's operations (the package and its submodules) is refused."""
DEFAULT_FORBIDDEN = (("numpy", "convolve"), ("numpy", "correlate"))
"""Refused in every NumPy task besides the libraries' convolutions (see :func:`targets`)."""
LAZY = ("scipy.signal", "scipy.ndimage")


class ForbiddenCallError(BaseException):
    """A refused function was called inside the student's function.

    Derived from ``BaseException`` so that ``except Exception`` in the student's code
    does not swallow it.
    """


def targets(extra=(), libraries: bool = True) -> list[tuple[object, str, str]]:
    """(module, attribute, display name) of every function to refuse.

    ``libraries``: the convolutions of PyTorch and SciPy and the course's operations
    (for the NumPy problem sets); ``extra``: more (module, attribute) pairs.
    """
    found = []

    def add(module_name, attr):
        module = sys.modules.get(module_name)
        if module is not None and callable(getattr(module, attr, None)):
            found.append((module, attr, f"{module_name}.{attr}"))

    if libraries:
        for module_name in ("torch", "torch.nn.functional", "torch._C._nn"):
            module = sys.modules.get(module_name)
            for attr in sorted(dir(module)) if module is not None else ():
                if not attr.startswith("__") and any(w in attr.lower() for w in _TORCH_WORDS):
                    add(module_name, attr)
        for module_name, attrs in _SCIPY.items():
            for attr in attrs:
                add(module_name, attr)
        course_modules = [name for name in sorted(sys.modules)
                          if name == _COURSE_PACKAGE[:-1] or name.startswith(_COURSE_PACKAGE)]
        for module_name in course_modules:
            module = sys.modules.get(module_name)
            for attr in sorted(vars(module)) if module is not None else ():
                value = getattr(module, attr)
                if not attr.startswith("_") and callable(value) \
                        and getattr(value, "__module__", "").startswith("course."):
                    add(module_name, attr)
        for pair in DEFAULT_FORBIDDEN:
            add(*pair)
    for module_name, attr in extra:
        if attr == "*":  # every public function and class the module defines
            module = sys.modules.get(module_name)
            for name in sorted(vars(module)) if module is not None else ():
                value = getattr(module, name)
                if not name.startswith("_") and callable(value) \
                        and getattr(value, "__module__", "") == module_name:
                    add(module_name, name)
        else:
            add(module_name, attr)
    return found


class Guard:
    """Refuse ``targets`` for the duration of a ``with`` block.

    Parameters
    ----------
    task : str
        Named in the message.
    targets : list of (module, attribute, display)
        From :func:`targets`.
    advice : str
        Said after "is not allowed in `task`:".
    """

    def __init__(self, task: str, targets, advice: str = "the exercise is to compute this "
                 "yourself with NumPy array operations."):
        self.task, self.targets, self.advice = task, list(targets), advice
        self.saved: list = []
        self.violation: str | None = None
        self.by_id: dict[int, str] = {}
        self.by_code: dict[int, str] = {}
        self.keep: list = []
        self.previous = None
        for module, attr, display in self.targets:
            self._index(getattr(module, attr), display)

    def _index(self, obj, display: str) -> None:
        self.keep.append(obj)
        self.by_id.setdefault(id(obj), display)
        if isinstance(obj, type):  # a class: its own methods, however it is reached
            for name, member in vars(obj).items():
                code = getattr(member, "__code__", None)
                if code is not None:
                    self.keep.append(code)
                    self.by_code.setdefault(id(code), f"{display}.{name}")
        for _ in range(5):
            if obj is None:
                break
            for candidate in (obj, getattr(obj, "_implementation", None)):
                code = getattr(candidate, "__code__", None)
                if code is not None:
                    self.keep.append(code)
                    self.by_code.setdefault(id(code), display)
            obj = getattr(obj, "__wrapped__", None)

    def message(self, display: str) -> str:
        return f"`{display}` is not allowed in `{self.task}`: {self.advice}"

    def _refuse(self, display: str):
        if self.violation is None:
            self.violation = display
        raise ForbiddenCallError(self.message(display))

    def _stub(self, display: str):
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
            original = getattr(module, attr)
            if isinstance(original, type):
                continue  # a class stays (isinstance needs it); its methods are caught by code
            try:
                setattr(module, attr, self._stub(display))
                self.saved.append((module, attr, original))
            except (AttributeError, TypeError):
                pass
        self.previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self.previous)
        for module, attr, original in reversed(self.saved):
            setattr(module, attr, original)
        self.saved.clear()
        return False


def guarded_call(task: str, fn, args, kwargs, extra=(), libraries=True, advice=None):
    """Call ``fn(*args, **kwargs)`` under a :class:`Guard`: (value, violation or None).

    A function that imports SciPy during the call (so that its functions were not
    guarded yet) is called a second time with them guarded. Exceptions other than
    :class:`ForbiddenCallError` propagate, with ``violation`` set on them.
    """
    lazy = [name for name in LAZY if name not in sys.modules]
    options = {} if advice is None else {"advice": advice}
    guard = Guard(task, targets(extra, libraries), **options)
    try:
        with guard:
            value = fn(*args, **kwargs)
        if any(name in sys.modules for name in lazy):
            guard = Guard(task, targets(extra, libraries), **options)
            with guard:
                value = fn(*args, **kwargs)
    except ForbiddenCallError:
        return None, guard.message(guard.violation or "?")
    except BaseException as error:
        if guard.violation is not None:
            return None, guard.message(guard.violation)
        raise error
    if guard.violation is not None:
        return None, guard.message(guard.violation)
    return value, None
