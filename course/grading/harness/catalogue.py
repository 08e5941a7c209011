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

from . import wire

__all__ = ["FUNCTIONS", "PROCEDURES", "build", "student_line"]


# --------------------------------------------------------------------------------------
# Functions of an array (numerical_gradient). Only their values live here: the judged
# process holds this module, and whatever is reachable from what it hands to student code
# (a function's closure, its module's globals) must not include the answer. The exact
# gradients are the judge's (ps3.GRADIENTS).
def _weights(count):
    return np.array([1.0 + (t % 3) * 0.5 for t in range(count)])


def _weighted_value(v):
    return float(np.sum(_weights(v.size) * v * v) + (v[0] * v[1] if v.size > 1 else 0.0))


FUNCTIONS = {
    "squares": ("sum(x**2)", lambda v: np.sum(v * v)),
    "weighted": ("sum(w * x**2) + x[0]*x[1]  (w = 1, 1.5, 2, 1, ...)", _weighted_value),
    "cubes": ("sum(x**3) / 3", lambda v: np.sum(v ** 3) / 3),
    "logcosh": ("sum(log(cosh(x)))", lambda v: np.sum(np.log(np.cosh(v)))),
}
"""Scalar functions by name: (formula, value of the flattened float64 array)."""


def scalar_function(name: str):
    """f(x) -> float for an ndarray x: a plain function, with nothing attached."""
    formula, value = FUNCTIONS[name]

    def f(x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"f expects an ndarray, got {type(x).__name__}")
        return float(value(np.asarray(x, dtype=np.float64).ravel()))

    f.__doc__ = f"f(x) = {formula}"
    return f


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


def constant(value):
    """A backward pass that returns fixed gradients, whatever it is given."""
    value = tuple(np.array(v, dtype=np.float64) for v in value)

    def backward(*args, **kwargs):
        return tuple(v.copy() for v in value)

    return backward


def build(spec: "wire.Function"):
    """The callable a :class:`wire.Function` names: a plain function, nothing attached."""
    if spec.name in FUNCTIONS:
        return scalar_function(spec.name)
    if spec.name == "conv2d_forward":
        return conv2d_forward
    if spec.name == "constant":
        return constant(spec.arguments["value"])
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


# ======================================================================================
# NumPy procedures (ps5): the student's own layers, networks and sanity checks
#
# Problem set 5 has students write layers as objects (``forward``, ``backward``, dicts
# ``params``, ``grads`` and ``buffers``, a ``training`` flag), a ``Sequential`` that chains
# them, and functions that train and check a network. Objects do not cross the process
# boundary: these procedures build them here from the student's classes, with arguments
# and arrays the judge chose, run them, and send back what came out as arrays. NumPy only.
def _scope(namespace: dict, function: str) -> dict:
    """The names the student's code sees: ``namespace``, else the globals of ``function``.

    In the judged process ``namespace`` is the rebuilt notebook; in the student's kernel
    (``check_x(fn)``) it holds only the object passed, whose globals are the notebook's.
    """
    obj = namespace.get(function)
    found = getattr(obj, "__globals__", None)
    if found is None and isinstance(obj, type):  # a class: the globals of its methods
        found = next((member.__globals__ for klass in obj.__mro__
                      for member in vars(klass).values()
                      if isinstance(getattr(member, "__globals__", None), dict)), None)
    scope = dict(found) if isinstance(found, dict) else {}
    scope.update(namespace)
    return scope


class _StudentError(Exception):
    """A step of a procedure failed in the student's code: ``where`` says which step."""

    def __init__(self, where: str, error: BaseException | str):
        text = error if isinstance(error, str) else describe_error(error)
        super().__init__(text)
        self.where, self.text = where, text


def _arrays(mapping, what: str) -> dict:
    """Copies of a dict of arrays (``layer.params``, ``.grads``, ``.buffers``) as plain data."""
    if not isinstance(mapping, dict):
        raise _StudentError(what, f"`{what}` is a {type(mapping).__name__}, not a dict")
    out = {}
    for key, value in dict.items(mapping):
        out[str(key)] = np.array(value, copy=True) if isinstance(value, np.ndarray) \
            else (np.array(value, dtype=np.float64) if is_number(value) else value)
    return out


def _set_mode(obj, training: bool) -> None:
    method = getattr(obj, "train" if training else "eval", None)
    if callable(method):
        method()
    else:
        obj.training = training


def _load(layer, kind: str, arrays: dict, where: str) -> None:
    """Put the judge's arrays into ``layer.<kind>`` (in place where shape and dtype fit)."""
    mapping = getattr(layer, kind, None)
    if arrays and not isinstance(mapping, dict):
        raise _StudentError(where, f"the layer has no dict `{kind}` (the Layer base class "
                                   f"creates `self.{kind} = {{}}`; call super().__init__())")
    if not arrays:
        return
    for name, array in arrays.items():
        if name not in mapping:
            raise _StudentError(where, f"`{kind}` has no entry {name!r}; it has "
                                       f"{sorted(map(str, mapping))}")
        own = mapping[name]
        if not isinstance(own, np.ndarray) or own.shape != array.shape:
            shape = own.shape if isinstance(own, np.ndarray) else type(own).__name__
            raise _StudentError(where, f"`{kind}[{name!r}]` has shape {shape}, expected "
                                       f"{array.shape}")
        if own.dtype == array.dtype and own.flags.writeable:
            own[...] = array
        else:
            mapping[name] = np.array(array, copy=True)


def procedure_numpy_layer(namespace: dict, function: str, data: dict) -> dict:
    """Build the student's layer class ``function`` and run forward and backward steps.

    ``data``: ``args``, ``kwargs`` (the constructor's), ``params``, ``buffers`` (arrays put
    into the layer), ``steps``: ``[{"mode": "train"|"eval", "forward": [arrays],
    "backward": [arrays] | None}]``. Returns ``{"steps": [{"out", "grad_x", "grads",
    "params", "buffers", "inputs_after"}], "error": None | {"where", "text"}}``; a loss
    layer's ``backward`` takes no argument.
    """
    cls = namespace.get(function)
    result = {"steps": [], "error": None}
    try:
        if not callable(cls):
            raise _StudentError("build", f"`{function}` is a {type(cls).__name__}, not a class")
        try:
            layer = cls(*data.get("args", []), **data.get("kwargs", {}))
        except Exception as error:  # noqa: BLE001 - the student's constructor
            raise _StudentError("build", error) from None
        _load(layer, "params", data.get("params", {}), "build")
        _load(layer, "buffers", data.get("buffers", {}), "build")
        for number, step in enumerate(data["steps"], start=1):
            record = {}
            result["steps"].append(record)
            training = step.get("mode", "train") == "train"
            _set_mode(layer, training)
            try:
                record["out"] = layer.forward(*step["forward"])
            except Exception as error:  # noqa: BLE001
                raise _StudentError(f"step {number}: forward", error) from None
            if isinstance(record["out"], np.ndarray):
                record["out"] = np.array(record["out"], copy=True)
            if step.get("backward") is not None:
                try:
                    record["grad_x"] = layer.backward(*step["backward"])
                except Exception as error:  # noqa: BLE001
                    raise _StudentError(f"step {number}: backward", error) from None
                if isinstance(record["grad_x"], np.ndarray):
                    record["grad_x"] = np.array(record["grad_x"], copy=True)
                record["grads"] = _arrays(getattr(layer, "grads", {}), "grads")
            record["params"] = _arrays(getattr(layer, "params", {}), "params")
            record["buffers"] = _arrays(getattr(layer, "buffers", {}), "buffers")
            record["inputs_after"] = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None
                                      for a in list(step["forward"]) + list(step.get("backward") or [])]
    except _StudentError as error:
        result["error"] = {"where": error.where, "text": error.text}
    return result


class ProbeLayer:
    """A layer of the judge's for testing the student's ``Sequential``: y = x * scale + shift.

    It logs every call (``forward``/``backward``, its name, its training flag) in a list
    shared by the probes of one network. ``params`` holds ``scale`` and ``shift`` (or none),
    ``buffers`` a ``calls`` counter that training-mode forward passes increase.
    """

    def __init__(self, name, log, scale=None, shift=None, counter=False):
        self.name, self.log, self.training = name, log, True
        self.params, self.grads, self.buffers = {}, {}, {}
        if scale is not None:
            self.params["scale"] = np.array(scale, dtype=np.float64)
        if shift is not None:
            self.params["shift"] = np.array(shift, dtype=np.float64)
        if counter:
            self.buffers["calls"] = np.zeros(1)
        self.factor = 1.0 if scale is not None or shift is not None else 2.0

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def _scale(self):
        return self.params.get("scale", self.factor)

    def forward(self, x):
        self.log.append(["forward", self.name, bool(self.training)])
        if not isinstance(x, np.ndarray):
            raise TypeError(f"probe layer {self.name} received {type(x).__name__}, not an "
                            "ndarray: pass each layer's output on to the next")
        self.x = x
        if "calls" in self.buffers and self.training:
            self.buffers["calls"] = self.buffers["calls"] + 1
        return x * self._scale() + self.params.get("shift", 0.0)

    def backward(self, grad_out):
        self.log.append(["backward", self.name, bool(self.training)])
        if not isinstance(grad_out, np.ndarray):
            raise TypeError(f"probe layer {self.name} received {type(grad_out).__name__} in "
                            "backward, not an ndarray: pass each layer's grad_x on")
        if "scale" in self.params:
            self.grads["scale"] = np.sum(grad_out * self.x, axis=0)
        if "shift" in self.params:
            self.grads["shift"] = np.sum(grad_out, axis=0)
        return grad_out * self._scale()


def procedure_numpy_sequential(namespace: dict, function: str, data: dict) -> dict:
    """The student's ``Sequential`` around the judge's probe layers.

    ``data``: ``layers``: ``[{"name", "scale", "shift", "counter"}]``; ``runs``: ``[{"mode",
    "x", "grad_out"}]``. Returns the call log, and for every run the output, ``grad_x``,
    ``parameters()``, ``gradients()`` and ``state_dict()``, which parameters are the layers'
    own arrays (``shared``), and which layer entries changed when the judge changed the
    returned state dict's arrays (``aliased``: a state dict must be a copy).
    """
    cls = namespace.get(function)
    log: list = []
    probes = [ProbeLayer(spec["name"], log, spec.get("scale"), spec.get("shift"),
                         bool(spec.get("counter"))) for spec in data["layers"]]
    result = {"runs": [], "error": None, "log": log}

    def entries():
        return {f"{i}.{k}": v for i, probe in enumerate(probes)
                for k, v in {**probe.params, **probe.buffers}.items()}

    try:
        if not callable(cls):
            raise _StudentError("build", f"`{function}` is a {type(cls).__name__}, not a class")
        try:
            net = cls(*probes)
        except Exception as error:  # noqa: BLE001
            raise _StudentError("build: Sequential(*layers)", error) from None
        own = {f"{i}.{k}": v for i, probe in enumerate(probes) for k, v in probe.params.items()}
        for number, run in enumerate(data["runs"], start=1):
            record = {"log_from": len(log)}
            result["runs"].append(record)
            mode = "train" if run.get("mode", "train") == "train" else "eval"
            try:
                getattr(net, mode)()
            except Exception as error:  # noqa: BLE001
                raise _StudentError(f"run {number}: net.{mode}()", error) from None
            try:
                record["out"] = net.forward(run["x"])
            except Exception as error:  # noqa: BLE001
                raise _StudentError(f"run {number}: net.forward(x)", error) from None
            if run.get("grad_out") is not None:
                try:
                    record["grad_x"] = net.backward(run["grad_out"])
                except Exception as error:  # noqa: BLE001
                    raise _StudentError(f"run {number}: net.backward(grad_out)", error) from None
            record["log_to"] = len(log)
            for method in ("parameters", "gradients", "state_dict"):
                try:
                    value = getattr(net, method)()
                except Exception as error:  # noqa: BLE001
                    raise _StudentError(f"run {number}: net.{method}()", error) from None
                record[method] = _arrays(value, f"net.{method}()")
                if method == "parameters":
                    record["shared"] = sorted(
                        key for key, array in value.items() if key in own and array is own[key])
                if method == "state_dict":
                    saved = {k: np.array(v, copy=True) for k, v in entries().items()}
                    for array in value.values():  # a snapshot: changing it changes nothing
                        if isinstance(array, np.ndarray) and array.dtype.kind == "f" \
                                and array.flags.writeable:
                            array += 1000.0
                    now = entries()
                    record["aliased"] = sorted(k for k in saved
                                               if not np.array_equal(now[k], saved[k]))
                    for k, array in now.items():  # undo, in place: the arrays stay the layers'
                        array[...] = saved[k]
    except _StudentError as error:
        result["error"] = {"where": error.where, "text": error.text}
    return result


def _layers_of(net, where: str) -> list:
    layers = getattr(net, "layers", None)
    if not isinstance(layers, (list, tuple)):
        raise _StudentError(where, "the network keeps no list `self.layers` (Sequential "
                                   "stores its layers in `self.layers`, in order)")
    return list(layers)


def network_state(net, where: str = "state") -> dict:
    """``{"<index>.<name>": array}`` of every layer's params and buffers (copies)."""
    state = {}
    for index, layer in enumerate(_layers_of(net, where)):
        for kind in ("params", "buffers"):
            mapping = getattr(layer, kind, {})
            if isinstance(mapping, dict):
                for name, value in mapping.items():
                    if isinstance(value, np.ndarray):
                        state[f"{index}.{name}"] = np.array(value, copy=True)
    return state


def load_network_state(net, state: dict, where: str = "load") -> None:
    """Put ``{"<index>.<name>": array}`` into the layers' ``params`` or ``buffers``."""
    layers = _layers_of(net, where)
    for key, array in state.items():
        index, name = key.split(".", 1)
        if int(index) >= len(layers):
            raise _StudentError(where, f"the network has {len(layers)} layers; the judge's "
                                       f"state has an entry for layer {index}")
        layer = layers[int(index)]
        for kind in ("params", "buffers"):
            mapping = getattr(layer, kind, None)
            if isinstance(mapping, dict) and name in mapping:
                _load(layer, kind, {name: array}, where)
                break
        else:
            raise _StudentError(where, f"layer {index} ({type(layer).__name__}) has no "
                                       f"parameter or buffer {name!r}")


def _break(layer, what: str, factor: float) -> None:
    """Make one gradient of ``layer`` wrong by ``factor`` (for the student's gradient check)."""
    original = layer.backward

    def broken(grad_out):
        grad_x = original(grad_out)
        if what == "grad_x":
            return grad_x * factor
        layer.grads[what] = layer.grads[what] * factor
        return grad_x

    layer.backward = broken


def procedure_numpy_network(namespace: dict, function: str, data: dict) -> dict:
    """Build a network from the student's classes, run the student's ``function`` on it.

    ``data``: either ``layers`` (``[[class, args, kwargs], ...]``, wrapped in the student's
    ``Sequential``) and ``state`` (arrays to load), or ``make`` (the name of the student's
    builder, called after ``np.random.seed(seed)``); ``criterion`` (the loss class);
    ``mode`` ("train"/"eval", set before the call); ``breaks`` (``[[layer, what, factor]]``);
    ``x``, ``y``, ``kwargs`` of the call; ``analytic``: also run one forward and backward
    pass in training mode (after restoring the state) and return the gradients.

    Returns ``value``, ``seconds``, ``state_before``, ``state_after``, ``grads`` and the
    class names of the layers; ``error`` names the step that failed.
    """
    import time

    scope = _scope(namespace, function)
    result = {"error": None}
    try:
        if data.get("make"):
            make = scope.get(data["make"])
            if not callable(make):
                raise _StudentError("build", f"`{data['make']}` is not defined")
            np.random.seed(int(data.get("seed", 0)))
            try:
                net = make()
            except Exception as error:  # noqa: BLE001
                raise _StudentError(f"build: {data['make']}()", error) from None
        else:
            container = scope.get("Sequential")
            if not callable(container):
                raise _StudentError("build", "`Sequential` is not defined")
            layers = []
            for name, args, kwargs in data["layers"]:
                cls = scope.get(name)
                if not callable(cls):
                    raise _StudentError("build", f"`{name}` is not defined")
                try:
                    layers.append(cls(*args, **kwargs))
                except Exception as error:  # noqa: BLE001
                    raise _StudentError(f"build: {name}(*{args!r}, **{kwargs!r})", error) from None
            try:
                net = container(*layers)
            except Exception as error:  # noqa: BLE001
                raise _StudentError("build: Sequential(*layers)", error) from None
        result["classes"] = [type(layer).__name__ for layer in _layers_of(net, "build")]
        if data.get("state") is not None:
            load_network_state(net, data["state"])
        try:
            criterion = scope[data.get("criterion", "SoftmaxCrossEntropy")]()
        except Exception as error:  # noqa: BLE001
            raise _StudentError("build: the criterion", error) from None
        for index, what, factor in data.get("breaks", []):
            _break(_layers_of(net, "break")[index], what, factor)
        _set_mode(net, data.get("mode", "train") == "train")
        result["state_before"] = network_state(net)
        fn = namespace.get(function)
        start = time.perf_counter()
        try:
            result["value"] = fn(net, criterion, data["x"], data["y"], **data.get("kwargs", {}))
        except Exception as error:  # noqa: BLE001
            raise _StudentError(f"{function}(net, criterion, x, y)", error) from None
        result["seconds"] = time.perf_counter() - start
        result["state_after"] = network_state(net)
        if data.get("analytic"):
            load_network_state(net, result["state_before"], "restore")
            _set_mode(net, True)
            try:
                loss = criterion.forward(net.forward(data["x"]), data["y"])
                net.backward(criterion.backward())
            except Exception as error:  # noqa: BLE001
                raise _StudentError("the network's forward and backward pass", error) from None
            result["loss"] = loss
            grads = {}
            for index, layer in enumerate(_layers_of(net, "grads")):
                for name, value in _arrays(getattr(layer, "grads", {}), "grads").items():
                    grads[f"{index}.{name}"] = value
            result["grads"] = grads
    except _StudentError as error:
        result["error"] = {"where": error.where, "text": error.text}
    return result


PROCEDURES.update({
    "numpy_layer": procedure_numpy_layer,
    "numpy_sequential": procedure_numpy_sequential,
    "numpy_network": procedure_numpy_network,
})
