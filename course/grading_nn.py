"""Checks behind the PyTorch exercises of problem set 4 (``source/ps4``).

Each test cell obtains a fresh copy of the checks and calls one of them::

    importlib.reload(course.grading)
    checks = importlib.reload(course.grading_nn)
    checks.check_lenet5(LeNet5)                    # visible part
    checks.check_lenet5(LeNet5, hidden=True)       # hidden part (more cases)

=========================  ===========================================================
check                      what it runs
=========================  ===========================================================
:func:`check_lenet5`       builds the student's class, traces a forward pass with hooks
                           on every leaf module and compares each layer with the
                           LeNet-5 specification (:data:`SPEC`): shapes, parameters
                           (61,706 in all), logits rather than probabilities
:func:`check_train_epoch`  one epoch of the student's loop on a small seeded subset of
                           the digits against the grader's own loop (same model, same
                           batches, same dropout masks): parameters and mean loss
:func:`check_evaluate`     the accuracy the student's function returns against the
                           grader's count; evaluation mode and ``torch.no_grad``
:func:`check_trained_model`  the grader's own accuracy of the trained ``model`` on the
                           held-out test split, on the device the model is on
                           (required: :data:`REQUIRED_ACCURACY`)
:func:`check_early_stopping` a pure function, through :mod:`course.grading`'s engine
:func:`check_experiment`   the structure of the regularization results and that the
                           early-stopped model holds the weights of its best epoch
=========================  ===========================================================

Determinism and tolerances
--------------------------
The training loop is compared on the CPU in float32: the grader's reference loop and
the student's run the same operations on the same batches with the same dropout
masks (``torch.manual_seed`` before each), so on one machine they agree to the last
bit; the stated tolerance (``|got - expected| <= 1e-5 + 1e-4 |expected|`` for every
parameter and for the loss) only absorbs a different but equivalent way of writing
the loss. Every typical mistake (no ``zero_grad``, no ``model.train()``, a softmax
before the loss, a sum instead of a mean) moves the parameters or the loss by more
than 1e-2. When a GPU is present the hidden part runs one case on it as well, against
the reference loop on the same device. Accuracies are counts of correct predictions,
compared with a margin (0.95 required; the instructor's model reaches about 0.97 on
the CPU and on CUDA).

Budget
------
Grading one ps4 submission (kernel start, the torch import, the student's training of
about 2 s of CPU and every check) takes about 15 s of one core; ``course-admin autograde
ps4 --jobs 2`` on 2 cores grades about one submission every 8-10 s, so a class of 300
takes under an hour (target: at most 30 s per submission, 75 minutes for 300).
``python benchmarks/bench_grading.py --assignment ps4`` measures it.

Tampering
---------
As in :mod:`course.grading` (whose machinery this module uses): the checks are
re-executed by the test cell; every verdict is computed from tensors converted to
Python numbers; the built-ins, the torch functions and classes the checks use
(``F.cross_entropy`` of the reference loss, ``nn.Module``, the optimizers, ...), the
module-level hooks of ``torch.nn`` and the digit data (by a fingerprint) are verified
before a check and after every call of student code, and so are this module's own
functions, so that student code that runs during a check cannot rebind them.
``numpy.allclose`` and friends take no part in a verdict. Calls into
``course.models`` (its LeNet5, SimpleCNN, fit, ...) and torchvision are refused
while student code runs.
"""
from __future__ import annotations

import os
import sys
import traceback

import torch
from torch import nn

import course.grading as _g

__all__ = [
    "REQUIRED_ACCURACY",
    "SPEC",
    "check_early_stopping",
    "check_evaluate",
    "check_experiment",
    "check_lenet5",
    "check_train_epoch",
    "check_trained_model",
]

REQUIRED_ACCURACY = 0.95
"""Test accuracy the trained LeNet-5 must reach on ``data.digits()``'s held-out split."""

NUM_PARAMETERS = 61706
"""Parameters of LeNet-5 with 10 classes."""

SPEC = (
    # name, kind, output shape per image, parameters, what it is
    ("C1", "conv", (6, 28, 28), 156, "Conv2d(1, 6, kernel_size=5) on the 32x32 input"),
    ("S2", "pool", (6, 14, 14), 0, "MaxPool2d(2)"),
    ("C3", "conv", (16, 10, 10), 2416, "Conv2d(6, 16, kernel_size=5)"),
    ("S4", "pool", (16, 5, 5), 0, "MaxPool2d(2)"),
    ("C5", "linear", (120,), 48120, "Linear(400, 120) on the flattened 16*5*5 maps"),
    ("F6", "linear", (84,), 10164, "Linear(120, 84)"),
    ("output", "linear", (10,), 850, "Linear(84, 10)"),
)
"""LeNet-5 for the 8x8 digits resized to 32x32: (layer, kind, output shape, parameters, module)."""

VALIDATION = 300
"""Part 4: the first VALIDATION training images are the validation split ..."""
SMALL_TRAIN = (300, 500)
"""... and training images 300 to 499 the small training set on which overfitting shows."""
EXPERIMENT_KEYS = ("baseline", "dropout", "weight_decay", "augmentation", "early_stopping")

_RTOL, _ATOL = 1e-4, 1e-5
# Fingerprints of data.digits() (train x, train y, test x, test y): a notebook that
# replaces the data loader cannot make the grader evaluate on easier data.
_DIGITS_FINGERPRINT = (666067189628826629, 1518307978166221074, 2156420787965476617,
                       1745673839726632846)
_MODULE_FILE = os.path.abspath(__file__)
_COURSE_DIR = os.path.dirname(_MODULE_FILE)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_TYPE, _FUNCTION, _BUILTIN_FN = _g._TYPE, _g._FUNCTION, _g._BUILTIN_FN
_INT, _FLOAT, _BOOL, _STR = _g._INT, _g._FLOAT, _g._BOOL, _g._STR
_LIST, _TUPLE, _DICT = _g._LIST, _g._TUPLE, _g._DICT
_FORBIDDEN_PACKAGES = ("course.", "torchvision")


# --------------------------------------------------------------------------------------
# The environment: built-ins, torch objects, this module and course.grading.
_TORCH_OBJECTS = (
    "torch.manual_seed", "torch.no_grad", "torch.is_grad_enabled", "torch.tensor",
    "torch.from_numpy", "torch.cat", "torch.device", "torch.Tensor", "torch.cuda.is_available",
    "torch.nn.Module", "torch.nn.Conv2d", "torch.nn.Linear", "torch.nn.MaxPool2d",
    "torch.nn.AvgPool2d", "torch.nn.Dropout", "torch.nn.Flatten", "torch.nn.ReLU",
    "torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.Upsample",
    "torch.nn.functional.cross_entropy", "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax", "torch.nn.functional.relu",
    "torch.nn.functional.max_pool2d", "torch.nn.functional.dropout",
    "torch.optim.Optimizer", "torch.optim.SGD", "torch.optim.Adam",
    "torch.utils.data.TensorDataset",
)
# a genuine class dict entry whose C name differs from its key
_ALIASES = {("Tensor", "__torch_dispatch__")}


def _resolve(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        parent, _, child = module_name.rpartition(".")
        module = getattr(sys.modules.get(parent), child, None)
    return getattr(module, attr, None), attr


def _in_torch(code) -> bool:
    return os.path.abspath(code.co_filename).startswith(_TORCH_DIR + os.sep)


def _genuine(obj, name: str, owner: str = "") -> bool:
    """A torch object: C code with its own name, or Python code from torch's folder."""
    kind = _TYPE(obj)
    if kind is _BUILTIN_FN:
        return obj.__name__ == name or (owner, name) in _ALIASES
    if kind is _FUNCTION:
        wrapped = getattr(obj, "__wrapped__", None)  # e.g. typing_extensions.deprecated
        return _in_torch(obj.__code__) or (_TYPE(wrapped) is _FUNCTION
                                           and _in_torch(wrapped.__code__))
    if isinstance(obj, (staticmethod, classmethod)):
        return _genuine(obj.__func__, name, owner)
    if isinstance(obj, type):
        if not (obj.__module__ or "").startswith("torch"):
            return False
        for key, value in vars(obj).items():
            if _TYPE(value) in (_FUNCTION, _BUILTIN_FN, staticmethod, classmethod) \
                    and not _genuine(value, key, obj.__name__):
                return False
        return True
    return not (_g._FLAGS.__get__(kind) & _g._HEAPTYPE)  # a C object such as a descriptor


def _verify_torch() -> None:
    for dotted in _TORCH_OBJECTS:
        obj, attr = _resolve(dotted)
        if obj is None or not _genuine(obj, attr):
            _g._tampered(f"`{dotted}`")
    hooks = sys.modules["torch.nn.modules.module"]
    for name in dir(hooks):
        if name.startswith("_global_") and name.endswith("hooks") and len(getattr(hooks, name)):
            _g._tampered(f"torch.nn's global module hooks (`{name}`)")
    for probe in ("_len_torch_function_stack", "_len_torch_dispatch_stack"):
        count = getattr(torch._C, probe, None)
        if count is not None and count():
            _g._tampered("torch's dispatch with a mode (`__torch_function__`/`__torch_dispatch__`)")


def _functions(namespace) -> list:
    """(owner, name, object, code, defaults) of every function a namespace holds."""
    found = []
    for key, value in list(namespace.items()):
        if _TYPE(value) is _FUNCTION:
            found.append((namespace, key, value, value.__code__, value.__defaults__))
        elif isinstance(value, type) and value.__module__ in (__name__, "course.grading"):
            for attr, member in list(vars(value).items()):
                if _TYPE(member) is _FUNCTION:
                    found.append((vars(value), attr, member, member.__code__, member.__defaults__))
    return found


_MORE_BUILTINS = ("iter", "issubclass", "round", "globals", "vars", "dir", "hasattr")


def _verify_builtins() -> None:
    """course.grading's list of built-ins, the few more used here, and the torch objects."""
    _g._verify_builtins()
    table = _g._builtins_module.__dict__
    for name in _MORE_BUILTINS:
        obj = table.get(name)
        if not (_TYPE(obj) is _BUILTIN_FN and obj.__self__ is _g._builtins_module
                and obj.__name__ == name):
            _g._tampered(f"Python's built-in `{name}`")
    _verify_torch()


class _Env:
    """Verify before a check; verify again after each call of student code."""

    def __init__(self):
        if os.path.dirname(os.path.abspath(getattr(_g, "__file__", ""))) != _COURSE_DIR:
            raise _g.GraderEnvironmentError("`course.grading` is not the course's own module")
        _verify_builtins()
        self.globals = [(g, _DICT(g)) for g in (globals(), vars(_g))]
        self.functions = _functions(globals()) + _functions(vars(_g))

    def verify(self) -> None:
        _verify_builtins()
        for namespace, saved in self.globals:
            for key, value in saved.items():
                if namespace.get(key) is not value:
                    _g._tampered(f"the grader's `{key}`")
        for namespace, key, value, code, defaults in self.functions:
            if namespace.get(key) is not value or value.__code__ is not code \
                    or value.__defaults__ is not defaults:
                _g._tampered(f"the grader's `{key}`")


# --------------------------------------------------------------------------------------
# Forbidden while student code runs: course.models and torchvision.
class _ModelsGuard(_g._Guard):
    """:class:`course.grading._Guard` with other targets: the course's own models and
    training helpers, so that ``LeNet5`` cannot borrow ``course.models.LeNet5``."""

    def __init__(self, task_name: str):  # noqa: D107 - the parent's targets are not wanted
        self.task_name = task_name
        self.targets = []
        self.saved = []
        self.violation = None
        self.by_id = {}
        self.by_code = {}
        self.keep = []
        self.previous_profile = None
        models = sys.modules.get("course.models")
        if models is None:
            return
        for attr in sorted(vars(models)):
            value = getattr(models, attr)
            display = f"course.models.{attr}"
            if _TYPE(value) is _FUNCTION and value.__module__ == "course.models":
                self.targets.append((models, attr, display))
                self._index(value, display)
            elif isinstance(value, type) and value.__module__ == "course.models":
                for name, member in vars(value).items():
                    if _TYPE(member) is _FUNCTION:
                        self._index(member, f"{display}.{name}")

    def _refuse(self, display: str):
        if self.violation is None:
            self.violation = display
        raise _g.ForbiddenCallError(
            f"`{display}` is not allowed in `{self.task_name}`: the exercise is to write the "
            "network and the loop yourself with torch.nn (course.models and torchvision are "
            "off limits in this problem set)."
        )


def _student_line(error: BaseException) -> str:
    """'line 12: x = self.fc1(x)' of the innermost frame outside torch and the course."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        filename = os.path.abspath(frame.filename)
        if not filename.startswith((_TORCH_DIR + os.sep, _COURSE_DIR + os.sep)):
            text = (frame.line or "").strip()
            return f"\n  in `{frame.name}`, line {frame.lineno}: {text}" if text else ""
    return ""


def _call(env: _Env, task: str, fn, *args, **kwargs):
    """Run student code under the guard; return (value, None) or (None, message)."""
    guard = _ModelsGuard(task)
    error_text = None
    try:
        with guard:
            value = fn(*args, **kwargs)
    except _g.ForbiddenCallError as error:
        value, error_text = None, f"Forbidden call: {error}"
    except _g.GraderEnvironmentError:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the student
        value = None
        text = _STR(error)
        error_text = (f"Your code raised {_TYPE(error).__name__}{': ' + text if text else ''}"
                      f"{_student_line(error)}")
        if guard.violation is not None:
            error_text = (f"Forbidden call: `{guard.violation}` is not allowed in `{task}`: "
                          "write it yourself with torch.nn.")
    env.verify()
    if error_text is None and guard.violation is not None:
        error_text = (f"Forbidden call: `{guard.violation}` is not allowed in `{task}`: write "
                      "it yourself with torch.nn.")
    return value, error_text


def _fail(task: str, hidden: bool, label: str, problem: str):
    which = "hidden" if hidden else "visible"
    raise AssertionError(f"{task}: {which} check failed -- {label}.\n{problem}")


def _foreign(obj) -> str | None:
    """The forbidden package a class or module object comes from, or None."""
    classes = obj.__mro__ if isinstance(obj, type) else _TYPE(obj).__mro__
    for cls in classes:
        module = cls.__module__ or ""
        if module.startswith(_FORBIDDEN_PACKAGES):
            return f"{module}.{cls.__qualname__}"
    return None


def _check_composition(model) -> str | None:
    for name, module in model.named_modules():
        where = _foreign(module)
        if where is not None:
            what = f"its submodule `{name}`" if name else "the model itself"
            return (f"Forbidden: {what} is (or derives from) `{where}`. Build LeNet-5 yourself "
                    "from torch.nn layers; course.models and torchvision are off limits here.")
    return None


# --------------------------------------------------------------------------------------
# Data.
def _fingerprint(tensor) -> int:
    h = 0
    for v in tensor.reshape(-1).tolist():
        h = (h * 1000003 + _INT(round(v * 16))) % ((1 << 61) - 1)
    return h


_DATA: dict = {}


def _digits():
    """(x_train, y_train, x_test, y_test) as CPU tensors, verified against the fingerprint."""
    if "digits" not in _DATA:
        from course import data

        split = data.digits()
        tensors = _TUPLE(torch.tensor(part.tolist()) for part in split)
        prints = _TUPLE(_fingerprint(t) for t in tensors)
        if prints != _DIGITS_FINGERPRINT or tensors[0].dtype != torch.float32:
            _g._tampered("the digit data (`course.data.digits` returned other images)")
        _DATA["digits"] = tensors
    return _DATA["digits"]


def _seeded_images(n: int, seed: int):
    """n images (n, 1, 8, 8) of the digits' value range from a pure-Python generator."""
    rng = _g._Rng(seed)
    return torch.tensor(rng.ints(0, 16, n * 64), dtype=torch.float32).reshape(n, 1, 8, 8) / 16


# --------------------------------------------------------------------------------------
# Part 1: the network.
_KINDS = (("conv", "Conv2d"), ("linear", "Linear"), ("pool", "MaxPool2d"), ("pool", "AvgPool2d"),
          ("softmax", "Softmax"), ("softmax", "LogSoftmax"), ("dropout", "Dropout"))


def _kind(module) -> str:
    for kind, cls in _KINDS:
        if isinstance(module, getattr(nn, cls)):
            return kind
    return "other"


class _Record:
    def __init__(self, name, module):
        self.name, self.module, self.kind = name, module, _kind(module)
        self.input = None
        self.output = None
        self.training = module.training
        self.grad = torch.is_grad_enabled()


def _trace(env, task, model, x):
    """Forward ``x`` with hooks on every leaf module: (records, output, error message)."""
    records: list[_Record] = []
    handles = []

    def pre(module, args, name):
        record = _Record(name, module)
        if args and isinstance(args[0], torch.Tensor):
            record.input = _TUPLE(args[0].shape)
        records.append(record)

    def post(module, args, output, name):
        for record in reversed(records):
            if record.module is module and record.output is None:
                if isinstance(output, torch.Tensor):
                    record.output = _TUPLE(output.shape)
                break

    for name, module in model.named_modules():
        if name and not _LIST(module.children()):
            handles.append(module.register_forward_pre_hook(
                lambda m, a, name=name: pre(m, a, name)))
            handles.append(module.register_forward_hook(
                lambda m, a, o, name=name: post(m, a, o, name)))
    try:
        output, error = _call(env, task, model, x)
    finally:
        for handle in handles:
            handle.remove()
    return records, output, error


def _shape(spec_shape, n):
    return (n, *spec_shape)


def _spatial(shape):
    return f"{shape[-2]}x{shape[-1]}" if shape is not None and len(shape) == 4 else str(shape)


def _table(records, n) -> str:
    lines = ["  layer   module                      input -> output          parameters"]
    for r in records:
        if r.kind in ("conv", "linear", "pool"):
            params = sum(p.numel() for p in r.module.parameters())
            lines.append(f"  {r.name:<7.7} {_TYPE(r.module).__name__:<27} {r.input} -> {r.output}"
                         f"  {params}")
    return "\n".join(lines)


def _diagnose_layers(records, n, num_classes=10, complete=True) -> str | None:
    """The first layer that departs from SPEC, said in the student's terms.

    ``complete=False`` (the forward pass raised): layers that did not run yet are not
    reported missing.
    """
    convs = [r for r in records if r.kind == "conv"]
    linears = [r for r in records if r.kind == "linear"]
    pools = [r for r in records if r.kind == "pool"]
    spec_out = {name: _shape(shape, n) for name, _, shape, _, _ in SPEC}
    spec_out["output"] = (n, num_classes)
    if complete and not convs:
        return "no nn.Conv2d layer ran: LeNet-5 starts with two convolutional layers (C1, C3)."
    if not convs:
        return None
    c1 = convs[0]
    if c1.input is not None and c1.input[1:] != (1, 32, 32):
        side = c1.input[-1] if len(c1.input) == 4 else None
        if side == 8:
            return ("C1 receives the 8x8 digits as they are: resize them to LeNet-5's 32x32 "
                    "input first (e.g. nn.Upsample(size=(32, 32), mode='bilinear') as the first "
                    "module); two 5x5 convolutions and two poolings do not fit in 8x8.")
        if side == 28:
            return ("wrong padding of the input: C1 receives 28x28 images, but LeNet-5's input "
                    "is 32x32 (MNIST's 28x28 digits were padded by 2 on every side); resize the "
                    "8x8 digits to 32x32, so that C1 gives 28x28 maps.")
        return f"C1 should receive (N, 1, 32, 32), got {c1.input}."
    if c1.output is not None and c1.output != spec_out["C1"]:
        padding = getattr(c1.module, "padding", None)
        if c1.output[-2:] == (32, 32):
            return (f"wrong padding in C1 (padding={padding}): C1 is a valid 5x5 convolution "
                    "(padding=0) that turns the 32x32 input into 28x28 maps; padding=2 keeps "
                    "32x32.")
        return (f"C1 gives {c1.output}, expected {spec_out['C1']}: "
                "nn.Conv2d(1, 6, kernel_size=5), no padding, stride 1.")
    if complete and len(convs) < 2:
        return "only one nn.Conv2d ran: LeNet-5 has two convolutional layers (C1 and C3)."
    c3 = convs[1]
    if c3.input is not None and c3.input != spec_out["S2"]:
        if c3.input == spec_out["C1"]:
            return ("the pooling layer S2 is missing: C3 receives C1's 28x28 maps; LeNet-5 "
                    "halves them with a 2x2 max-pooling (nn.MaxPool2d(2)) after C1 and again "
                    "after C3.")
        return f"C3 should receive S2's output {spec_out['S2']}, got {c3.input}."
    if c3.output is not None and c3.output != spec_out["C3"]:
        return (f"C3 gives {c3.output}, expected {spec_out['C3']}: nn.Conv2d(6, 16, "
                "kernel_size=5), no padding.")
    if len(convs) > 2:
        return f"{len(convs)} convolutional layers ran; LeNet-5 has two (C1 and C3)."
    if complete and not linears:
        return "no nn.Linear layer ran: LeNet-5 ends with three dense layers (C5, F6, output)."
    c5 = linears[0]
    if c5.input is not None and c5.input != (n, 400):
        size = 1
        for s in c5.input[1:]:
            size *= s
        in_features = getattr(c5.module, "in_features", "?")
        if len(c5.input) == 4 and c5.input[1:] == spec_out["S4"][1:]:
            return ("the maps are not flattened: C5 receives (N, 16, 5, 5); flatten them to "
                    "(N, 400) first with torch.flatten(x, 1) or nn.Flatten().")
        if c5.input[0] != n:
            return (f"the flatten mixes up the batch: C5 receives {c5.input} for a batch of {n}; "
                    "keep the batch axis with x.flatten(1) or x.view(x.size(0), -1).")
        if len(c5.input) == 2 and c5.input[1] == 16 * 10 * 10:
            return ("the pooling layer S4 is missing: after C3 the 16 maps are 10x10 (1600 "
                    "values); a 2x2 max-pooling makes them 5x5 (16*5*5 = 400).")
        return (f"flatten size mismatch: C5 = nn.Linear({in_features}, ...) receives {size} "
                f"values per image (shape {c5.input}); after S4 the maps are 16x5x5 = 400 "
                "values, so C5 is nn.Linear(400, 120).")
    in_features = getattr(c5.module, "in_features", 400)
    if c5.input == (n, 400) and in_features != 400:
        return (f"flatten size mismatch: C5 = nn.Linear({in_features}, ...) receives 400 "
                "values per image (the 16x5x5 maps of S4); C5 is nn.Linear(400, 120).")
    if complete and pools and len(pools) != 2:
        return f"{len(pools)} pooling layers ran; LeNet-5 has two (S2 and S4)."
    for record, name in zip(linears, ("C5", "F6", "output")):
        if record.output is not None and record.output != spec_out[name]:
            return f"{name} gives {record.output}, expected {spec_out[name]}."
    if complete and len(linears) != 3:
        return f"{len(linears)} dense layers ran; LeNet-5 has three (C5, F6, output)."
    return None


def _diagnose_parameters(model, records, num_classes=10) -> str | None:
    layers = [r for r in records if r.kind in ("conv", "linear")]
    specs = [s for s in SPEC if s[1] != "pool"]
    for record, (name, _, _, count, what) in zip(layers, specs):
        if name == "output":
            count = num_classes * 85
        got = sum(p.numel() for p in record.module.parameters())
        if got != count:
            if getattr(record.module, "bias", 0) is None:
                return (f"{name} has no bias ({got} parameters instead of {count}): every "
                        "layer of LeNet-5 has one bias per output channel or unit (bias=True, "
                        "the default).")
            return f"{name} has {got} parameters, expected {count} ({what})."
    total = sum(p.numel() for p in model.parameters())
    expected = NUM_PARAMETERS - 850 + num_classes * 85
    if total != expected:
        used = {id(r.module) for r in layers}
        extra = [name for name, m in model.named_modules()
                 if id(m) not in used and _LIST(m.parameters(recurse=False))]
        return (f"the model has {total} parameters, LeNet-5 has {expected}; modules with "
                f"parameters that are not among the layers of the specification: {extra}.")
    return None


def _probabilities(output) -> str | None:
    rows = output.detach().double().cpu().tolist()
    if all(all(v >= 0 for v in row) and abs(sum(row) - 1) < 1e-4 for row in rows):
        return ("forward returns probabilities (each row is >= 0 and sums to 1): remove the "
                "softmax and return the raw scores (logits). F.cross_entropy applies "
                "log-softmax itself; a softmax before it squashes the gradients and training "
                "stalls.")
    if all(all(v <= 0 for v in row) and abs(sum(2.718281828459045 ** v for v in row) - 1) < 1e-4
           for row in rows):
        return ("forward returns log-probabilities (log_softmax): return the raw scores "
                "(logits); F.cross_entropy applies log-softmax itself.")
    return None


def _build(env, task, cls, hidden, seed=0, **kwargs):
    torch.manual_seed(seed)
    model, error = _call(env, task, cls, **kwargs)
    if error:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        _fail(task, hidden, f"building LeNet5({args})", error)
    if not isinstance(model, nn.Module):
        _fail(task, hidden, "building the model", "LeNet5(...) did not give an nn.Module.")
    problem = _check_composition(model)
    if problem:
        _fail(task, hidden, "what the model is made of", problem)
    return model


def _forward_checks(env, task, hidden, model, n, seed, num_classes=10) -> list:
    model.eval()
    x = _seeded_images(n, seed)
    records, output, error = _trace(env, task, model, x)
    label = f"a forward pass of a batch of shape ({n}, 1, 8, 8)"
    if error:
        diagnosis = _diagnose_layers(records, n, num_classes, complete=False)
        lines = [error]
        if diagnosis:
            lines.append(f"Likely mistake: {diagnosis}")
        lines.append("Layers that ran before the error:\n" + _table(records, n))
        _fail(task, hidden, label, "\n".join(lines))
    if not isinstance(output, torch.Tensor):
        hint = " Did you forget `return`?" if output is None else ""
        _fail(task, hidden, label, f"forward must return a tensor, got "
                                    f"{_TYPE(output).__name__}.{hint}")
    diagnosis = _diagnose_layers(records, n, num_classes)
    if diagnosis is None and _TUPLE(output.shape) != (n, num_classes):
        diagnosis = (f"the output has shape {_TUPLE(output.shape)}; expected ({n}, {num_classes}): "
                     "one score per class for every image of the batch.")
    if diagnosis:
        _fail(task, hidden, label, f"Likely mistake: {diagnosis}\nYour layers:\n"
                                   f"{_table(records, n)}")
    softmax = [r for r in records if r.kind == "softmax"]
    problem = _probabilities(output)
    if problem is None and softmax:
        problem = f"a {_TYPE(softmax[0].module).__name__} module runs in forward; return logits."
    if problem:
        _fail(task, hidden, label, f"Likely mistake: {problem}")
    problem = _diagnose_parameters(model, records, num_classes)
    if problem:
        _fail(task, hidden, "the parameters of each layer",
              f"Likely mistake: {problem}\nYour layers:\n{_table(records, n)}")
    return records


def check_lenet5(cls, hidden: bool = False) -> None:
    """Check the student's LeNet-5 class against :data:`SPEC`.

    Visible: the class, a forward pass of 4 images (every layer's shape), the parameters
    of each layer (61,706 in all) and logits. Hidden besides: batches of 1 and 7,
    images that do not influence each other, ``num_classes=3`` and ``dropout=0.5``.
    Raises AssertionError with the first problem found.
    """
    __tracebackhide__ = True
    env = _Env()
    task = "LeNet5"
    if isinstance(cls, nn.Module):
        _fail(task, hidden, "the argument", "Pass the class itself (`LeNet5`), not a model.")
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        _fail(task, hidden, "the class", f"`LeNet5` must be a class derived from nn.Module, got "
                                         f"{cls!r}.")
    where = _foreign(cls)
    if where is not None:
        _fail(task, hidden, "the class", f"Forbidden: `LeNet5` is (or derives from) `{where}`. "
              "Write the class yourself, derived from nn.Module only.")
    model = _build(env, task, cls, hidden)
    records = _forward_checks(env, task, hidden, model, 4, 41)
    if hidden:
        for n, seed in ((1, 42), (7, 43)):
            _forward_checks(env, task, hidden, model, n, seed)
        x = _seeded_images(5, 44)
        with torch.no_grad():
            together, error = _call(env, task, model, x)
            alone = [_call(env, task, model, x[i:i + 1])[0] for i in range(5)]
        if error is None and all(isinstance(a, torch.Tensor) for a in alone):
            got, single = together.double().tolist(), torch.cat(alone).double().tolist()
            scale = 1 + max(abs(v) for row in single for v in row)
            if any(abs(a - b) > 1e-4 * scale for r1, r2 in zip(got, single) for a, b in zip(r1, r2)):
                _fail(task, hidden, "a batch of 5 against the same images one at a time",
                      "Likely mistake: the images of a batch influence each other's scores; "
                      "flatten each image separately with x.flatten(1) (keep axis 0).")
        small = _build(env, task, cls, hidden, seed=1, num_classes=3)
        _forward_checks(env, task, hidden, small, 3, 45, num_classes=3)
        dropped = _build(env, task, cls, hidden, seed=2, dropout=0.5)
        _forward_checks(env, task, hidden, dropped, 4, 46)
        x = _seeded_images(8, 47)
        dropped.train()
        with torch.no_grad():
            torch.manual_seed(3)
            a, _ = _call(env, task, dropped, x)
            torch.manual_seed(4)
            b, _ = _call(env, task, dropped, x)
            dropped.eval()
            c, _ = _call(env, task, dropped, x)
            d, _ = _call(env, task, dropped, x)
        if a.tolist() == b.tolist():
            _fail(task, hidden, "LeNet5(dropout=0.5) in training mode",
                  "two forward passes in training mode gave the same scores: the `dropout` "
                  "argument has no effect. Add nn.Dropout(dropout) before the dense layers "
                  "(C5, F6, output).")
        if c.tolist() != d.tolist():
            _fail(task, hidden, "LeNet5(dropout=0.5) in evaluation mode",
                  "two forward passes in evaluation mode differ: use nn.Dropout modules (they "
                  "switch off in model.eval()), not F.dropout(x, p) with training=True.")
    n = 4
    table = "\n".join(f"  {name:<7} {(n, *shape)!s:<18} {params:>6}" for name, _, shape, params, _
                      in SPEC)
    print(f"LeNet5: all {'hidden' if hidden else 'visible'} checks passed: every layer as "
          f"specified, {NUM_PARAMETERS:,} parameters, logits.")
    if not hidden:
        print("  layer   output (N=4)       params\n" + table)
    del records


# --------------------------------------------------------------------------------------
# Part 2: the training loop and the evaluation.
class _Net(nn.Module):
    """The grader's small CNN with dropout: conv 3x3 (4) - ReLU - pool - dropout - dense."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.dropout(self.flatten(self.pool(torch.relu(self.conv(x))))))


class _Loader:
    """Fixed mini-batches, usable like a DataLoader (``len``, ``.dataset``, ``.batch_size``)."""

    def __init__(self, x, y, batch_size):
        self.dataset = torch.utils.data.TensorDataset(x, y)
        self.batch_size = batch_size
        self.batches = [(x[i:i + batch_size], y[i:i + batch_size])
                        for i in range(0, len(x), batch_size)]

    def __iter__(self):
        return iter([(xb.clone(), yb.clone()) for xb, yb in self.batches])

    def __len__(self):
        return len(self.batches)


class _Setup:
    """One case: data, model seed, optimizer and device."""

    def __init__(self, label, first, count, batch_size, optimizer, seed, device="cpu"):
        self.label, self.first, self.count = label, first, count
        self.batch_size, self.optimizer, self.seed = batch_size, optimizer, seed
        self.device = torch.device(device)

    def loader(self):
        x, y = _digits()[:2]
        part = slice(self.first, self.first + self.count)
        return _Loader(x[part].to(self.device), y[part].to(self.device), self.batch_size)

    def model(self, state=None):
        torch.manual_seed(self.seed)
        model = _Net().to(self.device)
        if state is not None:
            model.load_state_dict(state)
        return model

    def optimizer_for(self, model):
        if self.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return torch.optim.Adam(model.parameters(), lr=0.01)


def _reference_epoch(setup, state, *, zero_grad=True, train=True, softmax=False, step=True):
    """The grader's loop (and its typical wrong variants): (parameters, [(loss, n), ...])."""
    F = torch.nn.functional
    model = setup.model(state)
    optimizer = setup.optimizer_for(model)
    model.train(train)
    torch.manual_seed(setup.seed + 1)
    losses = []
    for xb, yb in setup.loader():
        scores = model(xb)
        if softmax:
            scores = F.softmax(scores, dim=1)
        loss = F.cross_entropy(scores, yb)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        losses.append((loss.item(), len(yb)))
    return _parameters(model), losses


def _parameters(model) -> list:
    return [(name, p.detach().double().cpu().reshape(-1).tolist())
            for name, p in model.named_parameters()]


def _close(a: float, b: float, rtol=_RTOL, atol=_ATOL) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def _params_differ(got, expected):
    """None when every parameter is close, else (name, index, got, expected)."""
    for (name, g), (_, e) in zip(got, expected):
        for i in range(len(e)):
            if not _close(g[i], e[i]):
                return name, i, g[i], e[i]
    return None


def _is_number(value) -> bool:
    kind = _TYPE(value)
    return kind in (_INT, _FLOAT) or (kind is not _BOOL and (_FLOAT in kind.__mro__
                                                             or _INT in kind.__mro__))


class _Probe:
    """Forward pre-hook on the grader's model: mode and grad state of each call."""

    def __init__(self, model):
        self.calls = []
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls.append((module.training, torch.is_grad_enabled()))


def _train_setups(hidden):
    setups = [_Setup("one epoch of SGD with momentum, 4 batches of 16 images", 0, 64, 16,
                     "sgd", 11)]
    if hidden:
        setups += [
            _Setup("one epoch of Adam, batches of 32, 32 and 6 images", 100, 70, 32, "adam", 12),
            _Setup("one epoch of SGD with momentum, 5 batches of 20", 200, 100, 20, "sgd", 13),
        ]
        if torch.cuda.is_available():
            setups.append(_Setup("one epoch of SGD on the GPU (device='cuda')", 0, 64, 16,
                                 "sgd", 14, "cuda"))
    return setups


def check_train_epoch(train_epoch, hidden: bool = False) -> None:
    """Check ``train_epoch(model, loader, optimizer, device) -> mean loss``.

    One epoch on a seeded subset of the digits, with the grader's small CNN (which has
    dropout) handed over in evaluation mode, against the grader's own loop: the same
    batches, the same dropout masks. The parameters after the epoch and the returned
    mean loss (over examples) must agree within rtol 1e-4, atol 1e-5.
    """
    __tracebackhide__ = True
    env = _Env()
    task = "train_epoch"
    if not callable(train_epoch):
        _fail(task, hidden, "the argument", "`train_epoch` must be a function.")
    setups = _train_setups(hidden)
    for setup in setups:
        state = {k: v.clone() for k, v in setup.model().state_dict().items()}
        expected, losses = _reference_epoch(setup, state)
        model = setup.model(state)
        optimizer = setup.optimizer_for(model)
        model.eval()  # as after an evaluation: the loop must switch training mode on itself
        probe = _Probe(model)
        torch.manual_seed(setup.seed + 1)
        value, error = _call(env, task, train_epoch, model, setup.loader(), optimizer,
                             setup.device)
        probe.handle.remove()
        label = f"{setup.label} ({setup.count} images, device {setup.device.type})"
        if error:
            _fail(task, hidden, label, error)
        batches = len(losses)
        if len(probe.calls) != batches:
            _fail(task, hidden, label, f"the model was called {len(probe.calls)} times for "
                  f"{batches} batches: call it once per batch of the loader, nothing else.")
        if not all(training for training, _ in probe.calls):
            _fail(task, hidden, label, "Likely mistake: model.train() is missing. The check "
                  "passes the model in evaluation mode (as it is after evaluate()); without "
                  "model.train() at the start of the epoch dropout stays off while training.")
        got = _parameters(model)
        difference = _params_differ(got, expected)
        if difference is not None:
            name, index, g, e = difference
            lines = [f"After the epoch your parameters differ from the reference loop's: "
                     f"`{name}`[{index}] = {g:.6g}, expected {e:.6g} (tolerance "
                     f"|got - expected| <= {_ATOL:g} + {_RTOL:g} * |expected|)."]
            variants = (
                ("optimizer.zero_grad() is missing: the gradients of all batches add up, so "
                 "every step uses the sum of the gradients so far. Call optimizer.zero_grad() "
                 "before loss.backward() in every batch.", {"zero_grad": False}),
                ("the loss is computed on softmax outputs: F.cross_entropy (and "
                 "nn.CrossEntropyLoss) expects the raw scores (logits) and applies "
                 "log-softmax itself.", {"softmax": True}),
                ("the parameters did not change: call loss.backward() and then "
                 "optimizer.step() (the optimizer passed as argument) for every batch.",
                 {"step": False}),
            )
            for message, options in variants:
                other, _ = _reference_epoch(setup, state, **options)
                if _params_differ(got, other) is None:
                    lines.append(f"Likely mistake: {message}")
                    break
            else:
                lines.append("Check that you use the optimizer passed as argument (not a new "
                             "one), call the model once per batch on the batch as given, "
                             "F.cross_entropy(scores, y), loss.backward() and optimizer.step().")
            _fail(task, hidden, label, "\n".join(lines))
        mean = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
        if isinstance(value, torch.Tensor):
            _fail(task, hidden, label, f"Return a Python float (loss.item()), got a tensor "
                  f"{value!r}: accumulating tensors keeps every batch's graph in memory.")
        if not _is_number(value):
            hint = " Did you forget `return`?" if value is None else ""
            _fail(task, hidden, label, f"Return the mean loss as a float, got "
                                       f"{_TYPE(value).__name__}.{hint}")
        got_value = _FLOAT(value)
        if not _close(got_value, mean):
            candidates = (
                (sum(loss for loss, _ in losses), "you returned the sum of the batch losses; "
                 "return the mean over the examples of the epoch."),
                (sum(loss * n for loss, n in losses), "you returned the sum over all examples; "
                 "divide by the number of examples."),
                (sum(loss for loss, _ in losses) / batches, "you averaged the batch means; the "
                 "last batch is smaller, so weight each batch's mean loss by its size "
                 "(loss.item() * len(y)) and divide by the number of examples."),
                (losses[-1][0], "you returned the last batch's loss; return the mean over the "
                 "whole epoch."),
            )
            lines = [f"Wrong return value: expected the mean loss {mean:.6g} over the "
                     f"{setup.count} examples, got {got_value:.6g}."]
            for candidate, message in candidates:
                if _close(got_value, candidate) and not _close(candidate, mean):
                    lines.append(f"Likely mistake: {message}")
                    break
            _fail(task, hidden, label, "\n".join(lines))
    where = ", ".join(sorted({s.device.type for s in setups}))
    print(f"{task}: all {len(setups)} {'hidden' if hidden else 'visible'} cases passed "
          f"(parameters and mean loss equal the reference loop's on {where}, float32, "
          f"rtol {_RTOL:g}).")


def _eval_setups(hidden):
    setups = [_Setup("64 images in 4 batches of 16", 300, 64, 16, "sgd", 21)]
    if hidden:
        setups += [_Setup("90 images in batches of 32, 32 and 26", 400, 90, 32, "sgd", 22),
                   _Setup("100 images in batches of 40, 40 and 20", 600, 100, 40, "adam", 23)]
        if torch.cuda.is_available():
            setups.append(_Setup("90 images on the GPU", 400, 90, 32, "sgd", 24, "cuda"))
    return setups


def check_evaluate(evaluate, hidden: bool = False) -> None:
    """Check ``evaluate(model, loader, device) -> accuracy`` (a float in [0, 1]).

    The grader's small CNN, after one epoch of training, handed over in training mode;
    the result must equal the grader's count of correct predictions divided by the
    number of images (within 1e-9). Evaluating with gradients on is noted, not failed.
    """
    __tracebackhide__ = True
    env = _Env()
    task = "evaluate"
    if not callable(evaluate):
        _fail(task, hidden, "the argument", "`evaluate` must be a function.")
    notes = []
    setups = _eval_setups(hidden)
    for setup in setups:
        state = {k: v.clone() for k, v in setup.model().state_dict().items()}
        trained = setup.model(state)
        optimizer = setup.optimizer_for(trained)
        torch.manual_seed(setup.seed)
        F = torch.nn.functional
        trained.train()
        for xb, yb in _Setup("", 0, 300, 30, "sgd", 0, setup.device.type).loader():
            optimizer.zero_grad()
            F.cross_entropy(trained(xb), yb).backward()
            optimizer.step()
        trained.eval()
        correct, per_batch = 0, []
        with torch.no_grad():
            for xb, yb in setup.loader():
                hits = (trained(xb).argmax(1) == yb).sum().item()
                correct += hits
                per_batch.append((hits, len(yb)))
        expected = correct / setup.count
        before = _parameters(trained)
        trained.train()  # as after training: evaluate must switch to evaluation mode itself
        probe = _Probe(trained)
        torch.manual_seed(setup.seed + 5)
        value, error = _call(env, task, evaluate, trained, setup.loader(), setup.device)
        probe.handle.remove()
        label = f"{setup.label} (device {setup.device.type})"
        if error:
            _fail(task, hidden, label, error)
        if not probe.calls:
            _fail(task, hidden, label, "the model was never called.")
        if any(training for training, _ in probe.calls):
            _fail(task, hidden, label, "Likely mistake: model.eval() is missing. The check "
                  "passes the model in training mode (as it is after train_epoch); dropout "
                  "then drops units at random while evaluating.")
        if _params_differ(_parameters(trained), before) is not None:
            _fail(task, hidden, label, "evaluate changed the model's parameters: it must not "
                  "train (no backward, no optimizer step).")
        if isinstance(value, torch.Tensor) or not _is_number(value):
            hint = " (use .item())" if isinstance(value, torch.Tensor) else ""
            _fail(task, hidden, label, f"Return the accuracy as a float, got "
                                       f"{_TYPE(value).__name__}{hint}.")
        got = _FLOAT(value)
        if abs(got - expected) > 1e-9:
            candidates = (
                (correct, "you returned the number of correct predictions; divide by the "
                 "number of images."),
                (100 * expected, "you returned a percentage; return a fraction in [0, 1]."),
                (sum(h / n for h, n in per_batch) / len(per_batch), "you averaged the "
                 "batch accuracies; the last batch is smaller: count the correct predictions "
                 "over all batches and divide by the number of images."),
                (per_batch[-1][0] / per_batch[-1][1], "you returned the last batch's "
                 "accuracy; count over the whole loader."),
                (1 - expected, "you returned the error rate; return the accuracy."),
            )
            lines = [f"Wrong accuracy: expected {expected:.6g} ({correct} of {setup.count} "
                     f"images), got {got:.6g}."]
            for candidate, message in candidates:
                if abs(got - candidate) <= 1e-9 and abs(candidate - expected) > 1e-9:
                    lines.append(f"Likely mistake: {message}")
                    break
            _fail(task, hidden, label, "\n".join(lines))
        if any(grad for _, grad in probe.calls):
            notes.append("Note (no points lost): the model ran with gradients on; wrap the "
                         "evaluation in `with torch.no_grad():` to save memory and time.")
    print(f"{task}: all {len(setups)} {'hidden' if hidden else 'visible'} cases passed.")
    for note in notes[:1]:
        print(note)


# --------------------------------------------------------------------------------------
# Part 3: the trained model.
def _model_device(model):
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def _predictions(env, task, hidden, model, x, batch_size=512) -> list:
    device, dtype = _model_device(model)
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            scores, error = _call(env, task, model, x[i:i + batch_size].to(device=device,
                                                                             dtype=dtype))
            if error:
                _fail(task, hidden, "evaluating your model", error)
            if not isinstance(scores, torch.Tensor) or _TUPLE(scores.shape)[:1] != (
                    len(x[i:i + batch_size]),) or scores.ndim != 2:
                _fail(task, hidden, "evaluating your model", "the model must return scores of "
                      "shape (N, 10).")
            out += scores.argmax(1).cpu().tolist()
    return out


def _check_is_lenet(task, hidden, model):
    if not isinstance(model, nn.Module):
        _fail(task, hidden, "the model", f"expected a trained nn.Module, got "
                                         f"{_TYPE(model).__name__}.")
    problem = _check_composition(model)
    if problem:
        _fail(task, hidden, "what the model is made of", problem)
    total = sum(p.numel() for p in model.parameters())
    if total != NUM_PARAMETERS:
        _fail(task, hidden, "the model", f"the model has {total:,} parameters; train your "
              f"LeNet5 of part 1 ({NUM_PARAMETERS:,} parameters).")


def check_trained_model(model, hidden: bool = False) -> None:
    """Check that the trained ``model`` reaches :data:`REQUIRED_ACCURACY` on the test split.

    The grader computes the accuracy itself, in evaluation mode, on the device the
    model is on. Hidden besides: the same accuracy when the test images are predicted
    one at a time (the model's answer must not depend on the batch).
    """
    __tracebackhide__ = True
    env = _Env()
    task = "trained model"
    _check_is_lenet(task, hidden, model)
    _, _, x_test, y_test = _digits()
    labels = y_test.tolist()
    predicted = _predictions(env, task, hidden, model, x_test)
    correct = sum(1 for p, y in zip(predicted, labels) if p == y)
    accuracy = correct / len(labels)
    device = _model_device(model)[0]
    if accuracy < REQUIRED_ACCURACY:
        _fail(task, hidden, "accuracy on the held-out test split",
              f"your model classifies {correct} of {len(labels)} test images correctly "
              f"(accuracy {accuracy:.4f}, on {device.type}); at least {REQUIRED_ACCURACY} is "
              "required. Train longer or with a larger learning rate (e.g. Adam, lr=3e-3, "
              "10 epochs, batches of 32), and check that the loss goes down.")
    if hidden:
        one_by_one = []
        for i in range(40):
            one_by_one += _predictions(env, task, hidden, model, x_test[i:i + 1])
        if one_by_one != predicted[:40]:
            _fail(task, hidden, "predicting 40 test images one at a time",
                  "the predictions depend on the batch: flatten each image separately "
                  "(x.flatten(1)) and evaluate in model.eval() mode.")
    print(f"{task}: test accuracy {accuracy:.4f} ({correct} of {len(labels)}, computed by the "
          f"grader on {device.type}) >= {REQUIRED_ACCURACY}. Passed.")


# --------------------------------------------------------------------------------------
# Part 4: early stopping and the regularization experiment.
def _early_stopping(val_losses, patience, *, reset=True, strict=True, patience_shift=0,
                    return_stop=False, one_based=False):
    best, best_epoch, waited, stop = None, 0, 0, len(val_losses) - 1
    for epoch, loss in enumerate(val_losses):
        improved = best is None or (loss < best if strict else loss <= best)
        if improved:
            best, best_epoch = loss, epoch
            if reset:
                waited = 0
        else:
            waited += 1
            if waited >= patience + patience_shift:
                stop = epoch
                break
    if return_stop:
        return stop
    return best_epoch + (1 if one_based else 0)


class _EarlyStopping(_g.Task):
    kind = "int"

    def cases(self, hidden):
        lecture = [0.9, 0.7, 0.6, 0.65, 0.62, 0.7, 0.5]
        cases = [
            self._case(lecture, 2),
            self._case(lecture, 5),
            self._case([1.0, 0.8, 0.7, 0.65, 0.6], 1),
        ]
        if hidden:
            for losses, patience in (
                ([1.0, 1.1, 0.9, 1.0, 0.8], 2),  # the counter must restart after a new best
                ([0.5, 0.6, 0.7, 0.8], 2),  # no improvement at all: epoch 0
                ([0.8, 0.7, 0.7, 0.75, 0.76, 0.5], 2),  # an equal loss is no improvement
                ([1.0, 1.1, 1.2, 0.9, 1.3, 1.4, 1.5, 0.1], 2),  # stop after exactly 2
                ([0.8, 0.7, 0.7, 0.6], 3),
                ([2.0], 3),
                (lecture, 3),
                (lecture, 4),
                ([1.0, 0.9, 0.95, 0.97, 0.85, 0.99, 0.98, 0.97, 0.96, 0.5], 3),
                ([3.0, 2.0, 1.5, 1.2, 1.1, 1.05, 1.04, 1.06, 1.03, 1.08, 1.09], 2),
            ):
                cases.append(self._case(losses, patience))
        return cases

    @staticmethod
    def _case(losses, patience):
        return _g.Case(f"val_losses={losses}, patience={patience}",
                       (("val_losses", _LIST(losses)), ("patience", patience)))

    def expected(self, case):
        i = case.inputs()
        return _early_stopping(_LIST(i["val_losses"]), i["patience"]), ""

    def shape_formula(self, case):
        return ("an epoch improves when its loss is strictly lower than the best so far; "
                "stop after `patience` epochs in a row without improvement; return the best "
                "epoch seen (0-based)")

    def mistakes(self, case):
        i = case.inputs()
        losses, patience = _LIST(i["val_losses"]), i["patience"]
        best_overall = min(range(len(losses)), key=lambda k: (losses[k], k))
        return [
            _g.Mistake("the patience is ignored: you returned the best epoch of the whole "
                       "list; training stops (and nothing later counts) once `patience` "
                       "epochs in a row bring no improvement.", best_overall),
            _g.Mistake("you returned the epoch at which training stops; return the best "
                       "epoch, whose weights are restored.",
                       _early_stopping(losses, patience, return_stop=True)),
            _g.Mistake("the counter of epochs without improvement is not reset to 0 when the "
                       "loss improves.", _early_stopping(losses, patience, reset=False)),
            _g.Mistake("an equal loss counts as an improvement; only a strictly lower loss "
                       "does (and the earlier epoch is kept).",
                       _early_stopping(losses, patience, strict=False)),
            _g.Mistake("off by one: you stop after patience + 1 epochs without improvement.",
                       _early_stopping(losses, patience, patience_shift=1)),
            _g.Mistake("off by one: you stop after patience - 1 epochs without improvement.",
                       _early_stopping(losses, patience, patience_shift=-1)),
            _g.Mistake("epochs are numbered from 0 (the first epoch is epoch 0).",
                       _early_stopping(losses, patience, one_based=True)),
        ]


_EARLY_STOPPING = _EarlyStopping("early_stopping")


def check_early_stopping(early_stopping, hidden: bool = False) -> None:
    """Check ``early_stopping(val_losses, patience) -> best epoch`` (a pure function)."""
    __tracebackhide__ = True
    env = _Env()
    _g._run(_EARLY_STOPPING, early_stopping, hidden)
    env.verify()


def _validation():
    x, y = _digits()[:2]
    return x[:VALIDATION], y[:VALIDATION]


def check_experiment(results, es_model, hidden: bool = False) -> None:
    """Check the regularization results and the early-stopped model.

    ``results[name]`` for every name of :data:`EXPERIMENT_KEYS` is a dict with
    ``"train_acc"`` and ``"val_acc"`` (floats in [0, 1]); ``results["early_stopping"]``
    also holds ``"val_losses"`` (one per epoch run), ``"patience"`` and ``"best_epoch"``.
    The grader recomputes the best epoch from the recorded losses, checks that training
    stopped when the patience ran out, and computes the validation loss of ``es_model``
    (the restored model) itself: it must equal the recorded loss of the best epoch
    (rtol 1e-3). Hidden besides: ``es_model``'s validation accuracy equals the recorded
    ``val_acc`` (within one image).
    """
    __tracebackhide__ = True
    env = _Env()
    task = "experiment"
    if not isinstance(results, _DICT):
        _fail(task, hidden, "`results`", f"`results` must be a dict, got "
                                         f"{_TYPE(results).__name__}.")
    for key in EXPERIMENT_KEYS:
        if key not in results:
            _fail(task, hidden, "`results`", f"`results` has no entry {key!r}; expected the "
                  f"keys {list(EXPERIMENT_KEYS)}.")
        entry = results[key]
        if not isinstance(entry, _DICT):
            _fail(task, hidden, f"results[{key!r}]", f"expected a dict, got "
                                                     f"{_TYPE(entry).__name__}.")
        for field in ("train_acc", "val_acc"):
            value = entry.get(field)
            if isinstance(value, torch.Tensor) or not _is_number(value) or not 0 <= value <= 1:
                _fail(task, hidden, f"results[{key!r}][{field!r}]",
                      f"expected an accuracy, a float in [0, 1], got {value!r}.")
    es = results["early_stopping"]
    losses, patience, best = es.get("val_losses"), es.get("patience"), es.get("best_epoch")
    if not isinstance(losses, (_LIST, _TUPLE)) or len(losses) < 2 \
            or not all(_is_number(v) and not isinstance(v, torch.Tensor) for v in losses):
        _fail(task, hidden, "results['early_stopping']['val_losses']",
              "expected a list of floats, the validation loss after every epoch run.")
    losses = [_FLOAT(v) for v in losses]
    if _TYPE(patience) is not _INT or patience < 1:
        _fail(task, hidden, "results['early_stopping']['patience']",
              f"expected an int >= 1, got {patience!r}.")
    if _TYPE(best) is not _INT:
        _fail(task, hidden, "results['early_stopping']['best_epoch']",
              f"expected an int, got {best!r}.")
    expected_best = _early_stopping(losses, patience)
    stop = _early_stopping(losses, patience, return_stop=True)
    if best != expected_best:
        _fail(task, hidden, "the best epoch", f"you recorded best_epoch={best}, but your "
              f"validation losses give epoch {expected_best} (loss {losses[expected_best]:.4g}) "
              f"with patience {patience}.")
    if stop < len(losses) - 1:
        _fail(task, hidden, "when training stopped", f"training went on after the patience ran "
              f"out: after epoch {stop} the loss had not improved for {patience} epochs, but "
              f"{len(losses)} epochs were recorded.")
    _check_is_lenet(task, hidden, es_model)
    x_val, y_val = _validation()
    device, dtype = _model_device(es_model)
    es_model.eval()
    with torch.no_grad():
        scores, error = _call(env, task, es_model, x_val.to(device=device, dtype=dtype))
    if error:
        _fail(task, hidden, "evaluating es_model", error)
    loss = torch.nn.functional.cross_entropy(scores.double().cpu(), y_val).item()
    target = losses[best]
    if not _close(loss, target, 1e-3, 1e-4):
        lines = [f"es_model's validation loss is {loss:.6g} (computed by the grader on the "
                 f"first {VALIDATION} training images), but the recorded loss of the best "
                 f"epoch {best} is {target:.6g}."]
        if _close(loss, losses[-1], 1e-3, 1e-4):
            lines.append("Likely mistake: the weights of the last epoch were kept. Save the "
                         "best weights when the loss improves (best = copy.deepcopy("
                         "model.state_dict())) and restore them at the end "
                         "(model.load_state_dict(best)).")
        _fail(task, hidden, "the restored model", "\n".join(lines))
    if hidden:
        predicted = scores.argmax(1).cpu().tolist()
        accuracy = sum(1 for p, y in zip(predicted, y_val.tolist()) if p == y) / VALIDATION
        if abs(accuracy - es["val_acc"]) > 1.5 / VALIDATION:
            _fail(task, hidden, "results['early_stopping']['val_acc']",
                  f"es_model's validation accuracy is {accuracy:.4f}, but you recorded "
                  f"{es['val_acc']:.4f}: record the accuracy of the restored model.")
    print(f"{task}: all {'hidden' if hidden else 'visible'} checks passed (best epoch {best}, "
          f"restored model's validation loss {loss:.4f}).")
