"""PyTorch procedures (ps4): the judge names one; it builds the model, the loader and the
optimizer in the judged process, runs the student's code on them and sends back what
happened as data (the outputs, the parameters afterwards, the layers a forward pass went
through). PyTorch is imported inside, when a procedure runs.
"""
from __future__ import annotations

from . import wire
from .errors import describe_error


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


TORCH_PROCEDURES = {
    "build_and_run": procedure_build_and_run,
    "train_epoch": procedure_train_epoch,
    "evaluate": procedure_evaluate,
}
"""Procedures by name: ``procedure(namespace, function, data) -> dict``."""
