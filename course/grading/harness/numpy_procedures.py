"""NumPy procedures (ps5): the student's own layers, networks and sanity checks, built and
run in the judged process with the judge's arguments and arrays; what came out is sent
back as arrays. NumPy only.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import describe_error


# ======================================================================================
# NumPy procedures (ps5): the student's own layers, networks and sanity checks
#
# Problem set 5 has students write layers as objects (``forward``, ``backward``, dicts
# ``params``, ``grads`` and ``buffers``, a ``training`` flag), a ``Sequential`` that chains
# them, and functions that train and check a network. Objects do not cross the process
# boundary: these procedures build them here from the student's classes, with arguments
# and arrays the judge chose, run them, and send back what came out as arrays. NumPy only.
def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


def _attempt(where: str, call, /, *args, **kwargs):
    """``call(*args, **kwargs)``, a call of the student's code: an exception it raises
    becomes a :class:`_StudentError` that says at which step (``where``). ``call`` may be
    ``(obj, "method")``: the method is looked up inside, as a missing one is the student's
    error too."""
    try:
        if isinstance(call, tuple):
            call = getattr(*call)
        return call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the student's code may raise anything
        raise _StudentError(where, error) from None


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
        layer = _attempt("build", cls, *data.get("args", []), **data.get("kwargs", {}))
        _load(layer, "params", data.get("params", {}), "build")
        _load(layer, "buffers", data.get("buffers", {}), "build")
        for number, step in enumerate(data["steps"], start=1):
            record = {}
            result["steps"].append(record)
            training = step.get("mode", "train") == "train"
            _set_mode(layer, training)
            record["out"] = _attempt(f"step {number}: forward", (layer, "forward"), *step["forward"])
            if isinstance(record["out"], np.ndarray):
                record["out"] = np.array(record["out"], copy=True)
            if step.get("backward") is not None:
                record["grad_x"] = _attempt(f"step {number}: backward", (layer, "backward"),
                                            *step["backward"])
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
        net = _attempt("build: Sequential(*layers)", cls, *probes)
        own = {f"{i}.{k}": v for i, probe in enumerate(probes) for k, v in probe.params.items()}
        for number, run in enumerate(data["runs"], start=1):
            record = {"log_from": len(log)}
            result["runs"].append(record)
            mode = "train" if run.get("mode", "train") == "train" else "eval"
            _attempt(f"run {number}: net.{mode}()", (net, mode))
            record["out"] = _attempt(f"run {number}: net.forward(x)", (net, "forward"), run["x"])
            if run.get("grad_out") is not None:
                record["grad_x"] = _attempt(f"run {number}: net.backward(grad_out)", (net, "backward"),
                                            run["grad_out"])
            record["log_to"] = len(log)
            for method in ("parameters", "gradients", "state_dict"):
                value = _attempt(f"run {number}: net.{method}()", (net, method))
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
            net = _attempt(f"build: {data['make']}()", make)
        else:
            container = scope.get("Sequential")
            if not callable(container):
                raise _StudentError("build", "`Sequential` is not defined")
            layers = []
            for name, args, kwargs in data["layers"]:
                cls = scope.get(name)
                if not callable(cls):
                    raise _StudentError("build", f"`{name}` is not defined")
                layers.append(_attempt(f"build: {name}(*{args!r}, **{kwargs!r})", cls, *args, **kwargs))
            net = _attempt("build: Sequential(*layers)", container, *layers)
        result["classes"] = [type(layer).__name__ for layer in _layers_of(net, "build")]
        if data.get("state") is not None:
            load_network_state(net, data["state"])
        criterion = _attempt("build: the criterion",
                             lambda: scope[data.get("criterion", "SoftmaxCrossEntropy")]())
        for index, what, factor in data.get("breaks", []):
            _break(_layers_of(net, "break")[index], what, factor)
        _set_mode(net, data.get("mode", "train") == "train")
        result["state_before"] = network_state(net)
        fn = namespace.get(function)
        start = time.perf_counter()
        result["value"] = _attempt(f"{function}(net, criterion, x, y)", fn, net, criterion,
                                   data["x"], data["y"], **data.get("kwargs", {}))
        result["seconds"] = time.perf_counter() - start
        result["state_after"] = network_state(net)
        if data.get("analytic"):
            load_network_state(net, result["state_before"], "restore")
            _set_mode(net, True)
            def forward_backward():
                loss = criterion.forward(net.forward(data["x"]), data["y"])
                net.backward(criterion.backward())
                return loss

            loss = _attempt("the network's forward and backward pass", forward_backward)
            result["loss"] = loss
            grads = {}
            for index, layer in enumerate(_layers_of(net, "grads")):
                for name, value in _arrays(getattr(layer, "grads", {}), "grads").items():
                    grads[f"{index}.{name}"] = value
            result["grads"] = grads
    except _StudentError as error:
        result["error"] = {"where": error.where, "text": error.text}
    return result


NUMPY_PROCEDURES = {
    "numpy_layer": procedure_numpy_layer,
    "numpy_sequential": procedure_numpy_sequential,
    "numpy_network": procedure_numpy_network,
}
