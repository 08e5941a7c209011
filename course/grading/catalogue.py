"""What the judge hands to student code besides arrays and numbers, named, never sent as code.

Some exercises take callables (``numerical_gradient(f, x)``, ``gradient_check(forward,
backward, ...)``) or PyTorch objects (``train_epoch(model, loader, optimizer, device)``).
Only data crosses the process boundary, so the judge names a callable of this
catalogue (a :class:`wire.Function`) and the judged process builds it from its own
copy of this module; for PyTorch exercises the judge names a *procedure* that builds
the model, loader and optimizer in the judged process, runs the student's code on
them and sends back what happened as data (the outputs, the parameters afterwards,
the layers a forward pass went through).

The judged process may hold a tampered copy of these objects: that can only change
what the student's own code returns, which the judge then compares with its own
computation. Nothing reported from here decides a grade on its own; it feeds the
judge's diagnoses.

NumPy and the standard library only, PyTorch inside the procedures that need it.
"""
from __future__ import annotations

import math
import os
import sys
import traceback

import numpy as np

try:  # loaded as a package module by the judge, as a plain module in the judged process
    from . import wire
except ImportError:  # pragma: no cover - the judged process
    import wire

__all__ = ["FUNCTIONS", "PROCEDURES", "build", "student_line"]


# --------------------------------------------------------------------------------------
# Functions of an array with exactly known gradients (numerical_gradient)
def _weights(count):
    return np.array([1.0 + (t % 3) * 0.5 for t in range(count)])


class ScalarFunction:
    """f(x) -> float for an ndarray x, with its exact gradient."""

    def __init__(self, text, value, gradient):
        self.text, self._value, self._gradient = text, value, gradient

    def __call__(self, x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"f expects an ndarray, got {type(x).__name__}")
        return float(self._value(np.asarray(x, dtype=np.float64).ravel()))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64).ravel()
        return np.asarray(self._gradient(v), dtype=np.float64).reshape(np.shape(x))

    def __repr__(self):
        return f"f(x) = {self.text}"


def _weighted_value(v):
    return float(np.sum(_weights(v.size) * v * v) + (v[0] * v[1] if v.size > 1 else 0.0))


def _weighted_gradient(v):
    g = 2 * _weights(v.size) * v
    if v.size > 1:
        g[0] += v[1]
        g[1] += v[0]
    return g


FUNCTIONS = {
    "squares": ScalarFunction("sum(x**2)", lambda v: np.sum(v * v), lambda v: 2 * v),
    "weighted": ScalarFunction("sum(w * x**2) + x[0]*x[1]  (w = 1, 1.5, 2, 1, ...)",
                               _weighted_value, _weighted_gradient),
    "cubes": ScalarFunction("sum(x**3) / 3", lambda v: np.sum(v ** 3) / 3, lambda v: v * v),
    "logcosh": ScalarFunction("sum(log(cosh(x)))", lambda v: np.sum(np.log(np.cosh(v))),
                              np.tanh),
}
"""Scalar functions by name."""


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """A NumPy conv2d handed to the student's gradient check (not a shortcut: it is given)."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    (sh, sw) = (stride, stride) if isinstance(stride, int) else tuple(stride)
    (ph, pw) = (padding, padding) if isinstance(padding, int) else tuple(padding)
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    windows = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.einsum("nchwij,fcij->nfhw", windows, weight)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


class Constant:
    """A backward pass that returns fixed gradients, whatever it is given."""

    def __init__(self, value):
        self.value = tuple(np.array(v, dtype=np.float64) for v in value)

    def __call__(self, *args, **kwargs):
        return tuple(v.copy() for v in self.value)


def build(spec: "wire.Function"):
    """The callable a :class:`wire.Function` names."""
    if spec.name in FUNCTIONS:
        return FUNCTIONS[spec.name]
    if spec.name == "conv2d_forward":
        return conv2d_forward
    if spec.name == "constant":
        return Constant(spec.arguments["value"])
    raise ValueError(f"no function {spec.name!r} in the catalogue")


def _library(filename: str) -> bool:
    here = os.path.dirname(os.path.abspath(__file__))
    return (filename.startswith(here + os.sep) or "site-packages" in filename
            or "dist-packages" in filename or filename.startswith(sys.prefix + os.sep)
            or filename.startswith(sys.base_prefix + os.sep) or filename.startswith("<frozen"))


def student_line(error: BaseException) -> str:
    """'in `forward`, cell 3, line 12: x = self.fc1(x)' of the innermost student frame."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        name = frame.filename
        if name.startswith("<cell ") or not _library(os.path.abspath(name)):
            text = (frame.line or "").strip()
            where = name[1:-1] if name.startswith("<cell ") else "line"
            place = f"{where}, line {frame.lineno}" if where != "line" else f"line {frame.lineno}"
            return f"in `{frame.name}`, {place}" + (f": {text}" if text else "")
    return ""


def describe_error(error: BaseException) -> str:
    text = str(error)
    line = student_line(error)
    return f"{type(error).__name__}{': ' + text if text else ''}" + (f"\n  {line}" if line else "")


# --------------------------------------------------------------------------------------
# PyTorch procedures (ps4)
def _torch():
    import torch

    return torch


def small_net():
    """The judge's small CNN with dropout: conv 3x3 (4) - ReLU - pool - dropout - dense."""
    torch = _torch()
    nn = torch.nn

    class SmallNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.flatten = nn.Flatten()
            self.dropout = nn.Dropout(0.5)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.dropout(self.flatten(self.pool(torch.relu(self.conv(x))))))

    return SmallNet()


class Loader:
    """Fixed mini-batches, usable like a DataLoader (``len``, ``.dataset``, ``.batch_size``)."""

    def __init__(self, x, y, batch_size):
        torch = _torch()
        self.dataset = torch.utils.data.TensorDataset(x, y)
        self.batch_size = batch_size
        self.batches = [(x[i:i + batch_size], y[i:i + batch_size])
                        for i in range(0, len(x), batch_size)]

    def __iter__(self):
        return iter([(xb.clone(), yb.clone()) for xb, yb in self.batches])

    def __len__(self):
        return len(self.batches)


def make_optimizer(kind: str, parameters):
    torch = _torch()
    if kind == "sgd":
        return torch.optim.SGD(parameters, lr=0.1, momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(parameters, lr=0.01)
    raise ValueError(f"unknown optimizer {kind!r}")


def load_state(model, state: list) -> None:
    torch = _torch()
    model.load_state_dict({name: torch.as_tensor(array) for name, array in state})


def parameters_of(model) -> list:
    return [(name, p.detach().cpu().numpy().copy()) for name, p in model.named_parameters()]


class Probe:
    """Forward pre-hook: the training mode and grad state of every call of a model."""

    def __init__(self, model):
        self.calls = []
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.calls.append([bool(module.training), bool(_torch().is_grad_enabled())])


def _kind(module) -> str:
    nn = _torch().nn
    for kind, cls in (("conv", nn.Conv2d), ("linear", nn.Linear), ("pool", nn.MaxPool2d),
                      ("pool", nn.AvgPool2d), ("softmax", nn.Softmax), ("softmax", nn.LogSoftmax),
                      ("dropout", nn.Dropout)):
        if isinstance(module, cls):
            return kind
    return "other"


def _record(name, module) -> dict:
    return {"name": name, "class": type(module).__name__, "kind": _kind(module),
            "input": None, "output": None, "training": bool(module.training),
            "parameters": int(sum(p.numel() for p in module.parameters())),
            "has_bias": getattr(module, "bias", 0) is not None,
            "padding": repr(getattr(module, "padding", None)),
            "in_features": getattr(module, "in_features", None)}


def _trace(model, x):
    """Forward ``x`` with hooks on every leaf module: (records, output, error text)."""
    torch = _torch()
    records, handles = [], []

    def pre(module, args, name):
        record = _record(name, module)
        if args and isinstance(args[0], torch.Tensor):
            record["input"] = list(args[0].shape)
        records.append((module, record))

    def post(module, args, output, name):
        for owner, record in reversed(records):
            if owner is module and record["output"] is None:
                if isinstance(output, torch.Tensor):
                    record["output"] = list(output.shape)
                break

    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles.append(module.register_forward_pre_hook(lambda m, a, name=name: pre(m, a, name)))
            handles.append(module.register_forward_hook(lambda m, a, o, name=name: post(m, a, o, name)))
    try:
        output, error = model(x), None
    except Exception as exc:  # noqa: BLE001 - reported to the judge
        output, error = None, describe_error(exc)
    finally:
        for handle in handles:
            handle.remove()
    return [record for _, record in records], output, error


def _load_by_shape(model, state: list) -> str | None:
    """Load arrays into the model's entries of the same shape (LeNet-5's are all distinct)."""
    torch = _torch()
    own = model.state_dict()
    by_shape = {}
    for name, tensor in own.items():
        by_shape.setdefault(tuple(tensor.shape), []).append(name)
    new = {}
    for _, array in state:
        names = by_shape.get(tuple(array.shape), [])
        if len(names) != 1:
            return (f"the model has {len(names)} entries of shape {tuple(array.shape)}; "
                    "LeNet-5 has exactly one")
        new[names[0]] = torch.as_tensor(array, dtype=own[names[0]].dtype)
    if set(new) != {k for k, v in own.items() if v.is_floating_point()}:
        return "the model's parameters are not those of LeNet-5"
    model.load_state_dict({**own, **new})
    return None


def _mro_names(cls) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in getattr(cls, "__mro__", ())]


def procedure_build_and_run(namespace: dict, function: str, data: dict) -> dict:
    """Build ``namespace[function](**kwargs)`` and run forward passes on it.

    ``data``: ``builds`` is a list of ``{"kwargs", "seed", "state" (optional), "runs"}``;
    each run is ``{"x": array, "mode": "eval"|"train", "seed": int|None, "trace": bool,
    "grad": bool}``. Returns what happened, as data.
    """
    torch = _torch()
    cls = namespace.get(function)
    info = {"is_class": isinstance(cls, type), "is_module": False, "is_instance": False,
            "mro": [], "builds": []}
    if cls is None:
        return {**info, "missing": True}
    info["is_instance"] = isinstance(cls, torch.nn.Module)
    if isinstance(cls, type):
        info["is_module"] = issubclass(cls, torch.nn.Module)
        info["mro"] = _mro_names(cls)
    if not info["is_module"]:
        return info
    for build in data["builds"]:
        torch.manual_seed(int(build.get("seed", 0)))
        result = {"error": None, "modules": [], "runs": []}
        info["builds"].append(result)
        try:
            model = cls(**build.get("kwargs", {}))
        except Exception as error:  # noqa: BLE001
            result["error"] = describe_error(error)
            continue
        if not isinstance(model, torch.nn.Module):
            result["error"] = f"it built a {type(model).__name__}, not an nn.Module"
            continue
        result["modules"] = [[name, *_mro_names(type(m))[:1], bool(list(m.parameters(recurse=False)))]
                             for name, m in model.named_modules()]
        result["total"] = int(sum(p.numel() for p in model.parameters()))
        if build.get("state") is not None:
            problem = _load_by_shape(model, build["state"])
            if problem:
                result["error"] = f"the judge could not load its weights: {problem}"
                continue
        for run in build.get("runs", []):
            model.train(run.get("mode") == "train")
            if run.get("seed") is not None:
                torch.manual_seed(int(run["seed"]))
            x = torch.as_tensor(run["x"], dtype=torch.float32)
            with torch.set_grad_enabled(bool(run.get("grad", False))):
                records, output, error = _trace(model, x)
            out = {"records": records if run.get("trace") else [], "error": error}
            if error is None:
                out["output"] = output.detach().cpu().numpy() if isinstance(output, torch.Tensor) \
                    else wire.Unsupported(type(output).__name__)
            result["runs"].append(out)
    return info


def _run_on_small_net(namespace: dict, function: str, data: dict, training: bool) -> dict:
    """Call the student's loop on the judge's small CNN: ``fn(model, loader, [optimizer,] device)``.

    The model is handed over in the other mode than the loop needs (evaluation mode to
    ``train_epoch``, training mode to ``evaluate``), as it is after the other function.
    """
    torch = _torch()
    fn = namespace[function]
    device = torch.device(data.get("device", "cpu"))
    model = small_net()
    load_state(model, data["state"])
    model.to(device)
    loader = Loader(torch.as_tensor(data["x"]).to(device), torch.as_tensor(data["y"]).to(device),
                    int(data["batch_size"]))
    extra = (make_optimizer(data["optimizer"], model.parameters()),) if training else ()
    model.train(not training)
    probe = Probe(model)
    torch.manual_seed(int(data["seed"]))
    try:
        value, error = fn(model, loader, *extra, device), None
    except Exception as exc:  # noqa: BLE001
        value, error = None, describe_error(exc)
    probe.handle.remove()
    return {"value": value, "error": error, "parameters": parameters_of(model), "calls": probe.calls}


def procedure_train_epoch(namespace: dict, function: str, data: dict) -> dict:
    """One call of the student's ``train_epoch`` on the judge's small CNN."""
    return _run_on_small_net(namespace, function, data, training=True)


def procedure_evaluate(namespace: dict, function: str, data: dict) -> dict:
    """One call of the student's ``evaluate`` on the judge's small CNN (handed over training)."""
    return _run_on_small_net(namespace, function, data, training=False)


PROCEDURES = {
    "build_and_run": procedure_build_and_run,
    "train_epoch": procedure_train_epoch,
    "evaluate": procedure_evaluate,
}
"""Procedures by name: ``procedure(namespace, function, data) -> dict``."""


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
