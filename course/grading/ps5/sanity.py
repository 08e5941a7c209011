"""Part 3 of problem set 5: the sanity checks of training (initial loss, a gradient check of the network, overfitting 50 digits)."""
from __future__ import annotations

import math

import numpy as np

from .. import references as refs
from ..cases import Mistake, fmt, pair
from ..engine import as_float
from ..procedures import ProcedureTask, Setup
from ..references import f64
from .common import (
    BROKEN_BOUND,
    GRADIENT_BOUND,
    INITIAL_LOSS_BAND,
    OVERFIT_SIZE,
    NumpyTask,
    _np,
    _t,
    task,
)
from .network import (
    _digits,
    _loss,
    _reply_error,
    _scores,
    made_network,
    made_network_data,
    network_from_state,
    reference_network,
)


# --------------------------------------------------------------------------------------
# Part 3: the sanity checks
@task("test_initial_loss")
class InitialLoss(NumpyTask, ProcedureTask):
    """``initial_loss`` on the student's freshly initialised ``make_network()``: one setup
    per seed; the judge recomputes the loss from the weights the student's network has."""

    procedure = "numpy_network"

    def cases(self, rng, hidden):
        runs = [(0, 20)] + ([(rng.ints(1, 10**6, 1)[0], 32)] if hidden else [])
        setups = []
        for seed, n in runs:
            x, y = _digits(rng, n)
            setups.append(Setup(f"np.random.seed({seed}); net = make_network(); initial_loss("
                                f"net, criterion, x, y) on {n} training digits",
                                made_network_data(seed, x, y), n))
        return setups

    def expect(self, case):
        return {}, "the judge's loss of your network's weights"  # it needs the reply: below

    def agrees(self, part, got, value):
        got, value = as_float(got), as_float(value)
        return got is not None and value is not None and abs(got - value) <= 1e-6 * abs(value)

    def mistakes(self, case, part):
        train = getattr(case, "train", None)  # the judge's loss, once the reply gave the weights
        return [] if train is None else [
            Mistake("you returned the sum over the batch; the loss is the mean.",
                    case.count * train)]

    def judge_reply(self, case, reply, expected, where):
        net, problem = made_network(reply, case.label, "state_before",
                                    "The network make_network() built")
        if problem:
            return problem
        value = as_float(reply.get("value"))
        if value is None:
            return f"Return the loss as one float, got {fmt(reply.get('value'))}."
        x, y = case.data()["x"], case.data()["y"]
        train = case.train = _loss(net, x, y, True)
        evaluation = _loss(net, x, y, False)
        if not any(abs(value - e) <= 1e-6 * abs(e) + 1e-9 for e in (train, evaluation)):
            lines = [f"initial_loss returned {value:.8g}; the judge's loss of the same weights "
                     f"is {train:.8g} (training mode; {evaluation:.8g} in evaluation mode)."]
            if not math.isfinite(value):
                lines.append("Your loss is not finite: see the softmax task.")
            else:
                lines.append(self.wrong(
                    case, "value", value, train,
                    "Run one forward pass of the network and your criterion on (x, y); if the "
                    "layers' tasks pass, compare your loss with criterion.forward("
                    "net.forward(x), y)."))
            return "\n".join(lines)
        before, after = reply.get("state_before", {}), reply.get("state_after", {})
        changed = [k for k in before if "running" not in k and not (
            isinstance(after.get(k), np.ndarray) and np.array_equal(after[k], before[k]))]
        if changed:
            return (f"initial_loss changed the network's parameter {changed[0]!r}: a sanity "
                    "check only measures; train nothing here.")
        if abs(train - math.log(10)) >= INITIAL_LOSS_BAND:
            return (f"the initial loss of your freshly initialised network is {train:.4f} "
                    f"(computed by the judge from your weights); with small weights it is "
                    f"within {INITIAL_LOSS_BAND} of ln 10 = {math.log(10):.4f}, the loss of "
                    "uniform predictions over 10 classes. Initialise the last Linear layer's "
                    "weights with standard deviation 0.01 (make_network, part 2): its scores "
                    "then start near 0.")
        case.value = value
        return None

    def summary(self, cases):
        return (f"loss {cases[-1].value:.4f} of the freshly initialised network, the judge's "
                f"too, within {INITIAL_LOSS_BAND} of ln 10 = {math.log(10):.4f}.")


TINY_NETWORKS = {
    "A": ((("Conv2d", (1, 2, 3), {"padding": 1}), ("BatchNorm2d", (2,), {}), ("ReLU", (), {}),
           ("MaxPool2d", (2,), {}), ("Flatten", (), {}), ("Linear", (32, 3), {})),
          (4, 1, 8, 8), 3),
    "B": ((("Conv2d", (2, 3, 3), {"stride": 2, "padding": 1}), ("ReLU", (), {}),
           ("Flatten", (), {}), ("Linear", (27, 4), {}), ("ReLU", (), {}), ("Linear", (4, 3), {})),
          (3, 2, 5, 5), 3),
}
"""The small networks the gradient check is run on: (layers, input shape, classes)."""


def _relative_error(a, b) -> float:
    a, b = f64(a).ravel(), f64(b).ravel()
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale if scale > 0 else 0.0


def network_error(a: dict, b: dict) -> float:
    """The relative error of two sets of gradients taken as one long vector (part 3b)."""
    names = sorted(a)
    return _relative_error(np.concatenate([f64(a[k]).ravel() for k in names]),
                           np.concatenate([f64(b[k]).ravel() for k in names]))


def _describe_layers(layers) -> str:
    def one(name, args, kwargs):
        text = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{name}({', '.join(text)})"

    return "Sequential(" + ", ".join(one(*layer) for layer in layers) + ")"


@task("test_gradient_check_network")
class GradientCheckNetwork(NumpyTask, ProcedureTask):
    """The student's whole-network gradient check on small networks of their own layers:
    one setup per network (right, or with one part of its backward pass broken)."""

    procedure = "numpy_network"

    eps = 1e-5

    def _draw(self, rng, key, broken=()):
        """Weights and a batch for network ``key`` with no kink of ReLU or max pooling within
        eps of any nudge (checked with the judge's own central differences), on which each of
        the ``broken`` backward passes is clearly wrong."""
        layers, shape, classes = TINY_NETWORKS[key]
        for _ in range(50):
            net = reference_network(layers)
            state = {}
            for name, value in net.state_dict().items():
                if name.endswith("num_batches_tracked"):
                    continue
                if name.endswith("running_var"):
                    state[name] = np.ones(value.shape)
                elif name.endswith("running_mean"):
                    state[name] = np.zeros(value.shape)
                elif name.endswith("weight") and value.ndim == 1:  # batch norm's gamma
                    state[name] = rng.uniform(tuple(value.shape), 0.5, 1.5)
                else:
                    state[name] = rng.uniform(tuple(value.shape), -1.0, 1.0)
            x = rng.uniform(shape)
            y = np.array(rng.ints(0, classes - 1, shape[0]), dtype=np.int64)
            net, _ = network_from_state(state, layers)
            if not self.kink_free(net, x):
                continue
            exact = self._gradients(net, x, y)
            if all(network_error(exact, self._given(layers, state, x, y, breaks))
                   > 10 * BROKEN_BOUND for breaks in broken):
                return layers, state, x, y, exact
        raise RuntimeError("no kink-free case found")  # pragma: no cover - 50 tries

    @staticmethod
    def kink_free(net, x, margin: float = 1e-3) -> bool:
        """No ReLU input within ``margin`` of 0 and no max-pooling window whose two largest
        values are within ``margin`` (unless both are a ReLU's exact 0s, which nudges of 1e-5
        keep): then no central difference with eps = 1e-5 crosses a kink."""
        torch = refs.torch()
        seen = []

        def record(module, args):
            seen.append((module, args[0].detach()))

        handles = [m.register_forward_pre_hook(record) for m in net
                   if isinstance(m, (torch.nn.ReLU, torch.nn.MaxPool2d))]
        net.train()
        with torch.no_grad():
            net(_t(x))
        for handle in handles:
            handle.remove()
        for module, value in seen:
            if isinstance(module, torch.nn.ReLU):
                if float(value.abs().min()) < margin:
                    return False
                continue
            k, s = pair(module.kernel_size), pair(module.stride)
            windows = value.unfold(2, k[0], s[0]).unfold(3, k[1], s[1]).flatten(-2)
            top = windows.topk(2, dim=-1).values
            close = (top[..., 0] - top[..., 1] < margin) & (top[..., 0] > 0)
            if bool(close.any()):
                return False
        return True

    @staticmethod
    def _gradients(net, x, y) -> dict:
        torch = refs.torch()
        net.train()
        net.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(_t(x)), torch.as_tensor(y, device=refs.device()))
        loss.backward()
        return {k: _np(p.grad) for k, p in net.named_parameters()}

    def _numerical(self, layers, state, x, y) -> dict:
        torch = refs.torch()
        net, _ = network_from_state(state, layers)
        net.train()
        xt, yt = _t(x), torch.as_tensor(y, device=refs.device())
        out = {}
        with torch.no_grad():
            for name, p in net.named_parameters():
                grad = torch.zeros_like(p)
                flat, gflat = p.view(-1), grad.view(-1)
                for k in range(flat.numel()):
                    old = flat[k].item()
                    flat[k] = old + self.eps
                    plus = torch.nn.functional.cross_entropy(net(xt), yt).item()
                    flat[k] = old - self.eps
                    minus = torch.nn.functional.cross_entropy(net(xt), yt).item()
                    flat[k] = old
                    gflat[k] = (plus - minus) / (2 * self.eps)
                out[name] = _np(grad)
        return out

    def cases(self, rng, hidden):
        plans = [("A", (), "a correct network"),
                 ("A", ((0, "weight", 1.5),), "a network whose first layer's weight gradient is "
                                               "1.5 times too large")]
        if hidden:
            plans += [("B", (), "a correct network with a stride-2 convolution"),
                      ("A", ((1, "weight", 0.5),), "a network whose batch norm weight gradient "
                                                    "is halved"),
                      ("A", ((2, "grad_x", 1.5),), "a network whose ReLU passes back 1.5 times "
                                                    "its gradient (only the layers before it "
                                                    "are wrong)"),
                      ("B", ((5, "bias", 0.8),), "a network whose last bias gradient is 20 % "
                                                  "too small")]
        setups = []
        for index, (key, breaks, what) in enumerate(plans):
            layers, state, x, y, exact = self._draw(rng.child(f"{key}{index}"), key,
                                                    [breaks] if breaks else [])
            setup = Setup(f"{what}: {_describe_layers(layers)} with the judge's weights, x of "
                          f"shape {x.shape}, y = {y.tolist()}",
                          {"layers": [list(layer) for layer in layers], "state": state,
                           "mode": "train", "breaks": [list(b) for b in breaks], "x": x, "y": y,
                           "analytic": True},
                          index)  # the plans' order: a right network first
            setup.exact = exact
            setups.append(setup)
        return setups

    def expect(self, case):
        return {}, "PyTorch's autograd"

    def judge_reply(self, case, reply, expected, where):
        data = case.data()
        layers = [tuple(layer) for layer in data["layers"]]
        state, x, y, exact = data["state"], data["x"], data["y"], case.exact
        breaks = [tuple(b) for b in data["breaks"]]
        problem = _reply_error(reply, case.label)
        if problem:
            return problem
        value = as_float(reply.get("value"))
        if value is None:
            return f"Return one float (the largest relative error), got {fmt(reply.get('value'))}."
        if not (math.isfinite(value) and value >= 0):
            return (f"A relative error is a finite number >= 0, got {value!r} (a division by "
                    "zero? guard the denominator).")
        grads = reply.get("grads", {})
        given = self._given(layers, state, x, y, breaks) if breaks else exact
        own = self._own_backward(grads, given, exact)
        if own:
            noticed = ("your check reported {:.3g}, so it noticed" if value > BROKEN_BOUND
                       else "your check reported only {:.3g}, so it missed it").format(value)
            return f"{own} ({noticed}.)"
        true_error = network_error(given, exact)
        after = reply.get("state_after", {})
        moved = [k for k in state if "running" not in k and not (
            isinstance(after.get(k), np.ndarray) and np.allclose(after[k], state[k],
                                                                 rtol=0, atol=1e-12))]
        if moved:
            return (f"after your check, the network's {moved[0]!r} differs from before: put "
                    "every nudged entry back to its saved value.")
        if not breaks and not value < GRADIENT_BOUND:
            return (f"Your check reports {value:.3g} for a network whose gradients are right "
                    f"(they agree with PyTorch's autograd to {true_error:.1g}); it should be "
                    f"below {GRADIENT_BOUND:g}.\nLikely mistake: compare, for every parameter "
                    "array, net.gradients()[name] from ONE forward and backward pass with the "
                    "central differences (L(w + eps) - L(w - eps)) / (2 eps) of the loss "
                    "criterion.forward(net.forward(x), y), eps = 1e-5, in float64; err = "
                    "max|a - n| / max(max|a|, max|n|) over all the network's gradients at once "
                    "(a conv bias before batch norm has gradient 0: an error of its own would "
                    "compare rounding noise with rounding noise).")
        if breaks and not value > BROKEN_BOUND:
            part = breaks[0][1]
            where = ("the gradients of the layers BEFORE layer " f"{breaks[0][0]}"
                     if part == "grad_x" else f"the gradient of {breaks[0][0]}.{part}")
            return (f"Your check reports only {value:.3g} for a network whose {where} is wrong "
                    f"(its true relative error is {true_error:.3g}); it should be above "
                    f"{BROKEN_BOUND:g}.\nLikely mistake: check every parameter array of every "
                    "layer (net.parameters()), every entry, against the analytic gradient "
                    "(net.gradients()) of the same forward and backward pass.")
        case.value = value
        return None

    counted = True

    def summary(self, cases):
        return (f"below {GRADIENT_BOUND:g} for the right networks, above {BROKEN_BOUND:g} for "
                f"the broken ones (you reported {', '.join(f'{c.value:.2g}' for c in cases)}).")

    def _given(self, layers, state, x, y, breaks) -> dict:
        """The gradients that a backward pass with ``breaks`` computes (autograd, with hooks)."""
        net, _ = network_from_state(state, layers)
        handles = []
        for index, part, factor in breaks:
            if part == "grad_x":
                handles.append(net[index].register_full_backward_hook(
                    lambda module, grad_in, grad_out, factor=factor:
                    tuple(None if g is None else g * factor for g in grad_in)))
        grads = self._gradients(net, x, y)
        for handle in handles:
            handle.remove()
        for index, part, factor in breaks:
            if part != "grad_x":
                grads[f"{index}.{part}"] = grads[f"{index}.{part}"] * factor
        return grads

    @staticmethod
    def _own_backward(grads, given, exact) -> str | None:
        """Whether the student's own layers compute the gradients they should."""
        if not isinstance(grads, dict) or set(grads) != set(exact):
            return (f"after one forward and backward pass, the layers' grads are "
                    f"{sorted(grads) if isinstance(grads, dict) else grads}; expected "
                    f"{sorted(exact)}")
        scale = max(float(np.max(np.abs(v))) for v in exact.values())
        for name in exact:
            got = grads[name]
            if not isinstance(got, np.ndarray) or got.shape != exact[name].shape:
                return f"the gradient of {name!r} has shape {getattr(got, 'shape', None)}"
            worst = float(np.max(np.abs(f64(got) - given[name]), initial=0.0))
            if worst > 1e-6 * scale:
                return (f"Your network's own backward pass is wrong: the gradient of {name!r} "
                        f"differs from PyTorch's autograd by up to {worst:.3g} (the largest "
                        f"gradient of the network is {scale:.3g}). Fix that layer first (its "
                        "task above names the mistake)")
        return None


@task("test_overfit_small")
class OverfitSmall(NumpyTask, ProcedureTask):
    """``overfit_small`` trains a fresh network on 50 digits; the judge counts what it fits."""

    procedure = "numpy_network"

    def cases(self, rng, hidden):
        digits = refs.mnist()
        runs = [(0, np.asarray(digits.x_train[:OVERFIT_SIZE], dtype=np.float64),
                 digits.y_train[:OVERFIT_SIZE].astype(np.int64), "the first 50 training digits")]
        if hidden:
            x, y = _digits(rng, OVERFIT_SIZE)
            runs.append((rng.ints(1, 10**6, 1)[0], x, y, "50 training digits drawn afresh"))
        return [Setup(f"np.random.seed({seed}); net = make_network(); overfit_small(net, "
                      f"criterion, x, y) on {which}", made_network_data(int(seed), x, y), len(y))
                for seed, x, y, which in runs]

    def expect(self, case):
        return {}, "the judge's count of the digits your trained weights fit"

    def judge_reply(self, case, reply, expected, where):
        net, problem = made_network(reply, case.label, "state_after",
                                    "The network after overfit_small")
        if problem:
            return problem
        losses = reply.get("value")
        if not isinstance(losses, (list, tuple)) or not losses or not all(
                as_float(v) is not None for v in losses):
            return f"Return the list of losses, one float per step, got {fmt(losses)}."
        losses = [as_float(v) for v in losses]
        x, y = case.data()["x"], case.data()["y"]
        predicted = _np(_scores(net, x, True).argmax(1))
        accuracy = float(np.mean(predicted == y))
        if accuracy < 1.0:
            before = reply.get("state_before", {})
            unchanged = all(np.array_equal(before[k], reply["state_after"].get(k))
                            for k in before if "running" not in k)
            lines = [f"after overfit_small, your network classifies {int(accuracy * len(y))} "
                     f"of the {len(y)} digits it trained on correctly (computed by the judge "
                     "from the weights, in training mode); all 50 are required."]
            if unchanged:
                lines.append("The parameters did not change: update them in place "
                             "(w[...] = w_next) for every array of net.parameters().")
            elif not all(math.isfinite(v) for v in losses) or losses[-1] > losses[0]:
                lines.append(f"Your losses went from {losses[0]:.4g} to {losses[-1]:.4g}: the "
                             "training diverged (a learning rate too large for momentum "
                             "0.9, or a wrong update: see the momentum task).")
            else:
                lines.append(f"Your losses went from {losses[0]:.4g} to {losses[-1]:.4g} in "
                             f"{len(losses)} steps: train longer, or with a larger learning "
                             "rate (full-batch steps on the 50 digits).")
            return "\n".join(lines)
        case.losses, case.seconds = losses, as_float(reply.get("seconds")) or 0.0
        return None

    def summary(self, cases):
        losses = cases[-1].losses
        return (f"100 % of the {OVERFIT_SIZE} digits fitted, computed by the judge (your "
                f"losses: {losses[0]:.3f} -> {losses[-1]:.2g}; "
                f"{max(c.seconds for c in cases):.1f} s).")
