"""Part 2 of problem set 5: the Sequential network, SGD with momentum, and the judge's copy of the network."""
from __future__ import annotations

import numpy as np

from .. import references as refs
from ..cases import Case, Mistake, fmt, same
from ..engine import ArraysResult, CaseTask
from ..procedures import ProcedureTask, ReplyResult, Setup
from ..references import f64
from .common import ADVICE, NETWORK, NumpyTask, _np, _t, task

# --------------------------------------------------------------------------------------
# Part 2: the network and the optimizer
PROBES = ({"name": "A", "scale": [1.5, -0.5, 2.0], "shift": [0.25, -1.0, 0.5], "counter": True},
          {"name": "B"},
          {"name": "C", "scale": [-1.0, 0.5, 3.0]})


def _probe_scale(spec) -> np.ndarray:
    """A probe multiplies by its scale; one without parameters doubles (as in the catalogue)."""
    if "scale" in spec:
        return np.array(spec["scale"], dtype=np.float64)
    return np.array(1.0 if "shift" in spec else 2.0)


def _probe_run(layers, x, g):
    """The probes' output, grad_x and gradients (``{"0.scale": ...}``) for input x."""
    values, inputs = f64(x), []
    for spec in layers:
        inputs.append(values)
        values = values * _probe_scale(spec) + np.array(spec.get("shift", 0.0))
    grads, grad = {}, f64(g)
    for index in reversed(range(len(layers))):
        spec = layers[index]
        if "scale" in spec:
            grads[f"{index}.scale"] = np.sum(grad * inputs[index], axis=0)
        if "shift" in spec:
            grads[f"{index}.shift"] = np.sum(grad, axis=0)
        grad = grad * _probe_scale(spec)
    return values, grad, grads


class RunsResult(ReplyResult):
    """A reply ``{"runs": [{"out": ..., "grad_x": ...}, ...]}``: part ``(run, name)``."""

    def part(self, value, part):
        runs = value.get("runs") if isinstance(value, dict) else None
        number, name = part
        if not isinstance(runs, list) or number >= len(runs) or not isinstance(runs[number], dict):
            return None
        return runs[number].get(name)


@task("test_sequential", function="Sequential")
class SequentialNetwork(NumpyTask, ProcedureTask):
    """The student's Sequential around the judge's probe layers (see the catalogue): one
    setup, a network built once and run through training and evaluation steps."""

    procedure = "numpy_sequential"
    result = RunsResult()

    def cases(self, rng, hidden):
        layers = [dict(p) for p in PROBES]
        if hidden:
            layers.append({"name": "D", "shift": [0.5, 0.5, -0.5]})
        n = 4 if hidden else 2
        runs = [{"mode": "train", "x": rng.array((n, 3), step=0.5),
                 "grad_out": rng.array((n, 3), nonzero=True)},
                {"mode": "eval", "x": rng.array((n, 3), step=0.5), "grad_out": None}]
        if hidden:
            runs.append({"mode": "train", "x": rng.array((1, 3), step=0.5),
                         "grad_out": rng.array((1, 3), nonzero=True)})
        label = (f"Sequential({', '.join('layer_' + spec['name'] for spec in layers)}) around "
                 "the judge's probe layers (out = x * scale + shift)")
        return [Setup(label, {"layers": layers, "runs": runs}, sum(r["x"].size for r in runs))]

    def expect(self, case):
        layers, runs = case.data()["layers"], []
        for run in case.data()["runs"]:
            back = run["grad_out"] if run["grad_out"] is not None else run["x"]
            out, grad_x, _ = _probe_run(layers, run["x"], back)
            runs.append({"out": out, "grad_x": grad_x})
        return {"runs": runs}, "the probe layers' arithmetic"

    def agrees(self, part, got, value):
        return same(got, value, 1e-12, 1e-12)

    def mistakes(self, case, part):
        number, kind = part
        layers, run = case.data()["layers"], case.data()["runs"][number]
        if kind == "out":
            return [Mistake("every layer received x: each layer's forward gets the previous "
                            "layer's output.", _probe_run(layers[-1:], run["x"], run["x"])[0])]
        return [Mistake("every layer's backward received grad_out: each gets the gradient "
                        "returned by the layer after it, from the last layer to the first.",
                        f64(run["grad_out"]) * np.array(layers[0].get("scale", 1.0)))]

    def judge_reply(self, case, reply, expected, where):
        layers, runs = case.data()["layers"], case.data()["runs"]
        log = reply.get("log", [])
        names = [spec["name"] for spec in layers]
        params = {f"{i}.{k}": np.array(spec[k], dtype=np.float64) for i, spec in enumerate(layers)
                  for k in ("scale", "shift") if k in spec}
        for number, (run, got) in enumerate(zip(runs, reply.get("runs", []))):
            problem = self._run(case, number, run, got, log, names, params, expected)
            if problem:
                what = f"run {number + 1}: net.{run['mode']}(); out = net.forward(x)" + (
                    "; grad_x = net.backward(grad_out)" if run["grad_out"] is not None else "")
                shown = f"  {what}\n  x = {fmt(run['x'])}" + (
                    f"\n  grad_out = {fmt(run['grad_out'])}" if run["grad_out"] is not None
                    else "")
                return f"{problem}\n{shown}"
        error = reply.get("error")
        if isinstance(error, dict):
            return f"Your code raised {error.get('text')}\n  (in {error.get('where')})"
        return None

    def _run(self, case, number, run, got, log, names, params, expected) -> str | None:
        """The first problem of one run of the network, or None."""
        calls = log[got.get("log_from", 0):got.get("log_to", len(log))]
        problem = self._calls(calls, names, run)
        if problem and "log_to" in got:
            return problem
        if "out" in got:
            problem = self._array(case, (number, "out"), "out = net.forward(x)", got["out"],
                                  expected["runs"][number]["out"])
            if problem:
                return problem
        if run["grad_out"] is not None and "grad_x" in got:
            problem = self._array(case, (number, "grad_x"), "grad_x = net.backward(grad_out)",
                                  got["grad_x"], expected["runs"][number]["grad_x"])
            if problem:
                return problem
        if "parameters" in got:
            problem = self._named("net.parameters()", got["parameters"], params)
            if problem:
                return problem
            missing = sorted(set(params) - set(got.get("shared", [])))
            if missing:
                return (f"net.parameters()[{missing[0]!r}] is a copy, not the layer's own "
                        "array: return the arrays of the layers' `params` themselves, so that "
                        "the optimizer's in-place update (w[...] = w_next) changes the network.")
        if run["grad_out"] is not None and "gradients" in got:
            grads = _probe_run(case.data()["layers"], run["x"], run["grad_out"])[2]
            problem = self._named("net.gradients()", got["gradients"], grads)
            if problem:
                return problem
        if "state_dict" in got:
            state = dict(params)
            runs = case.data()["runs"]
            counted = sum(1 for r in runs[:number + 1] if r["mode"] == "train")
            state["0.calls"] = np.array([float(counted)])
            problem = self._named("net.state_dict()", got["state_dict"], state, buffers=True)
            if problem:
                return problem
            if got.get("aliased"):
                return (f"net.state_dict() returned the layers' own arrays (the judge changed "
                        f"the returned {got['aliased'][0]!r}, and the layer's entry changed "
                        "too): return copies (`value.copy()`), a snapshot that later training "
                        "does not change.")
        return None

    def summary(self, cases):
        return ("calls in order and reverse order, modes, outputs, gradients, parameters() (the "
                "layers' own arrays), gradients() and state_dict() (copies, with buffers).")

    @staticmethod
    def _calls(calls, names, run) -> str | None:
        forward = [c for c in calls if c[0] == "forward"]
        backward = [c for c in calls if c[0] == "backward"]
        order = [c[1] for c in forward]
        if order != names:
            return (f"net.forward(x) called the layers' forward in the order {order}; expected "
                    f"{names}, each once, first to last.")
        mode = run["mode"] == "train"
        wrong = [c[1] for c in forward if c[2] != mode]
        if wrong:
            what = "net.train()" if mode else "net.eval()"
            return (f"after {what} layer {wrong[0]} ran with training={not mode}: "
                    f"{what} must set the mode of every layer (call each layer's "
                    f"{'train' if mode else 'eval'}()).")
        if run["grad_out"] is not None:
            back = [c[1] for c in backward]
            if back != names[::-1]:
                return (f"net.backward(grad_out) called the layers' backward in the order "
                        f"{back}; expected {names[::-1]}: from the last layer to the first.")
        return None

    def _array(self, case, part, what, got, expected) -> str | None:
        if isinstance(got, np.ndarray) and got.shape == expected.shape \
                and np.allclose(got, expected, rtol=1e-12, atol=1e-12):
            return None
        lines = [f"`{what}` is wrong:\n  expected:\n    {fmt(expected)}\n  got:\n    {fmt(got)}"]
        hint = "Did you forget the `return` statement?" if got is None else ""
        line = self.wrong(case, part, got, expected, hint)
        return "\n".join(lines + ([line] if line else []))

    @staticmethod
    def _named(what, got, expected, buffers=False) -> str | None:
        if not isinstance(got, dict):
            return f"`{what}` must return a dict (name -> array), got {type(got).__name__}."
        if set(got) != set(expected):
            hint = ("names are '<layer index>.<name>', for layer i's entry name, e.g. '0.scale' "
                    "for layers[0].params['scale']")
            if buffers:
                hint += "; the state dict holds every layer's params AND buffers"
            return (f"`{what}` has the keys {sorted(got)}; expected {sorted(expected)} ({hint}).")
        for key, value in expected.items():
            if not (isinstance(got[key], np.ndarray) and got[key].shape == value.shape
                    and np.allclose(got[key], value, rtol=1e-12, atol=1e-12)):
                return (f"`{what}[{key!r}]` is wrong:\n  expected:\n    {fmt(value)}\n  got:\n"
                        f"    {fmt(got[key])}")
        return None


@task("test_sgd_momentum")
class SGDMomentum(CaseTask):
    """One step of SGD with momentum, PyTorch's convention, against torch.optim.SGD."""

    allowed = ("numpy",)
    advice = ADVICE
    result = ArraysResult("w_next", "v_next")
    rtol = 1e-10
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, lr, momentum, zero=False):
            v = np.zeros(shape) if zero else rng.array(shape, step=0.25)
            return Case(label, (("w", rng.array(shape, step=0.5)),
                                ("dw", rng.array(shape, step=0.5, nonzero=True)), ("v", v)),
                        (("lr", lr), ("momentum", momentum)))

        cases = [case("the first step (v = 0), 5 weights", (5,), 0.1, 0.9, zero=True),
                 case("a later step: 3x4 weights with a velocity", (3, 4), 0.1, 0.9)]
        if hidden:
            cases += [case("a conv weight (2, 3, 2, 2), lr 0.05", (2, 3, 2, 2), 0.05, 0.9),
                      case("momentum 0: plain SGD", (4,), 0.5, 0.0),
                      case("momentum 0.5, lr 1", (2, 3), 1.0, 0.5),
                      case("momentum 0.99, lr 0.01", (6,), 0.01, 0.99)]
        return cases

    def expected(self, case):
        torch = refs.torch()
        i = case.inputs()
        w = torch.nn.Parameter(_t(i["w"]))
        w.grad = _t(i["dw"])
        optimizer = torch.optim.SGD([w], lr=i["lr"], momentum=i["momentum"])
        if i["momentum"]:
            optimizer.state[w]["momentum_buffer"] = _t(i["v"])
        optimizer.step()
        v_next = _np(optimizer.state[w]["momentum_buffer"]) if i["momentum"] \
            else f64(i["dw"]).copy()
        return (_np(w), v_next), f"torch.optim.SGD(momentum={i['momentum']}) on {refs.device().type}"

    def part_shape_formula(self, case, index):
        return f"the shape of w, {case.inputs()['w'].shape}"

    def part_mistakes(self, case, index):
        i = case.inputs()
        w, dw, v, lr, mu = f64(i["w"]), f64(i["dw"]), f64(i["v"]), i["lr"], i["momentum"]
        v_next = mu * v + dw
        if index == 1:
            return [
                Mistake("momentum is applied to the wrong term: it scales the previous "
                        "velocity, v_next = momentum * v + dw (you computed v + momentum * dw).",
                        v + mu * dw),
                Mistake("the velocity is damped: PyTorch's v_next = momentum * v + dw (no "
                        "(1 - momentum) factor on dw).", mu * v + (1 - mu) * dw),
                Mistake("you used the convention v_next = momentum * v - lr * dw; this problem "
                        "set uses PyTorch's: v_next = momentum * v + dw, w_next = w - lr * "
                        "v_next.", mu * v - lr * dw),
                Mistake("momentum is applied to the wrong term: it scales the velocity, not the "
                        "gradient (v_next = momentum * v + dw).", mu * (v + dw)),
            ]
        return [
            Mistake("the update uses the gradient, not the velocity: w_next = w - lr * v_next.",
                    w - lr * dw),
            Mistake("momentum is applied to the wrong term: it scales the previous velocity, "
                    "v_next = momentum * v + dw, then w_next = w - lr * v_next (you computed "
                    "v + momentum * dw).", w - lr * (v + mu * dw)),
            Mistake("the update uses the old velocity v; use the new one: w_next = w - lr * "
                    "v_next.", w - lr * v),
            Mistake("the velocity is damped: PyTorch's v_next = momentum * v + dw.",
                    w - lr * (mu * v + (1 - mu) * dw)),
            Mistake("you used the convention v_next = momentum * v - lr * dw, w_next = w + "
                    "v_next; this problem set uses PyTorch's: v_next = momentum * v + dw, "
                    "w_next = w - lr * v_next.", w + mu * v - lr * dw),
            Mistake("the sign is flipped: step against the gradient, w_next = w - lr * v_next.",
                    w + lr * v_next),
            Mistake("that is Nesterov's momentum (w - lr * (dw + momentum * v_next)); use the "
                    "plain one: w_next = w - lr * v_next.", w - lr * (dw + mu * v_next)),
        ]


# --------------------------------------------------------------------------------------
# The judge's copies of networks (PyTorch, float64)
def reference_network(layers=NETWORK):
    """An ``nn.Sequential`` of the PyTorch modules of the same names and arguments."""
    nn = refs.torch().nn
    modules = [getattr(nn, name)(*args, **kwargs) for name, args, kwargs in layers]
    return nn.Sequential(*modules).double().to(refs.device())


def state_keys(layers=NETWORK) -> dict:
    """``{"0.weight": shape, ...}``: the state dict entries of a network, buffers included."""
    net = reference_network(layers)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def network_from_state(state, layers=NETWORK):
    """The judge's copy of the network holding ``state`` (name -> array), or a message."""
    torch = refs.torch()
    if not isinstance(state, dict):
        return None, (f"expected a dict of arrays (net.state_dict()), got "
                      f"{type(state).__name__}.")
    keys = state_keys(layers)
    missing = [k for k in keys if k not in state]
    extra = [k for k in state if k not in keys]
    if missing or extra:
        lines = []
        if missing:
            lines.append(f"missing entries {missing[:6]}")
        if extra:
            lines.append(f"entries that the network does not have {extra[:6]}")
        buffers = [k for k in missing if "running" in k]
        hint = (" (a state dict holds the batch norm layers' running_mean and running_var "
                "too)" if buffers and len(buffers) == len(missing) else "")
        return None, (f"the state dict does not fit the network of part 2: {'; '.join(lines)}"
                      f"{hint}. Expected the keys {sorted(keys)}.")
    for key, shape in keys.items():
        value = state[key]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
            return None, f"state[{key!r}] is not an array of numbers."
        if tuple(value.shape) != shape:
            return None, (f"state[{key!r}] has shape {tuple(value.shape)}; the network of part 2 "
                          f"has {shape}.")
        if not np.isfinite(value).all():
            return None, f"state[{key!r}] holds values that are not finite (nan or inf)."
    net = reference_network(layers)
    own = net.state_dict()
    own.update({k: torch.as_tensor(np.asarray(v, dtype=np.float64), device=refs.device())
                for k, v in state.items()})
    net.load_state_dict(own)
    return net, None


def _scores(net, x, training: bool, batch=500):
    torch = refs.torch()
    net.train(training)
    with torch.no_grad():
        return torch.cat([net(_t(x[i:i + batch])) for i in range(0, len(x), batch)])


def _loss(net, x, y, training: bool) -> float:
    torch = refs.torch()
    scores = _scores(net, x, training, batch=len(x))
    return float(torch.nn.functional.cross_entropy(
        scores, torch.as_tensor(y, device=scores.device)).item())


def _reply_error(result, label: str) -> str | None:
    """The message for a network procedure's reply that says the student's code failed."""
    if not isinstance(result, dict):
        return "The judged process sent an unexpected reply."
    error = result.get("error")
    if isinstance(error, dict):
        where = str(error.get("where", ""))
        return f"Your code raised {error.get('text')}\n  (in {where}; {label})"
    return None


def _digits(rng, n: int, part: str = "train"):
    """n distinct digits of a split of data.mnist(), drawn from ``rng`` (float64, labels)."""
    digits = refs.mnist()
    x, y = getattr(digits, f"x_{part}"), getattr(digits, f"y_{part}")
    order = list(range(len(y)))
    for k in range(n):  # the first n steps of a Fisher-Yates shuffle
        j = k + rng.ints(0, len(y) - 1 - k, 1)[0]
        order[k], order[j] = order[j], order[k]
    picked = order[:n]
    return np.asarray(x[picked], dtype=np.float64), np.asarray(y[picked], dtype=np.int64)


def _architecture(result) -> str | None:
    classes = result.get("classes")
    wanted = [name for name, _, _ in NETWORK]
    if classes is not None and list(classes) != wanted:
        return (f"make_network() built the layers {classes}; the network of part 2 is "
                f"{wanted}.")
    return None


def made_network_data(seed: int, x, y) -> dict:
    """What the ``numpy_network`` procedure receives to run the student's function on
    ``np.random.seed(seed); make_network()`` with (x, y)."""
    return {"make": "make_network", "seed": seed, "mode": "train", "x": x, "y": y}


def made_network(result, label: str, state: str, what: str):
    """The judge's copy of the network ``make_network()`` built, from the procedure's reply:
    its ``state`` ("state_before" or "state_after"; ``what`` names it in a message).
    Returns (net, None), or (None, the message of what went wrong)."""
    problem = _reply_error(result, label)
    if problem:
        return None, problem
    problem = _architecture(result)
    net, problem = (None, problem) if problem else network_from_state(result.get(state))
    return (None, f"{what}: {problem}") if problem else (net, None)
