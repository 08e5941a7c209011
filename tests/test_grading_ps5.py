"""Unit tests of course/grading/ps5.py: the ps5 tasks and their diagnoses, as a student sees
them in the notebook (the judge runs the same tasks when grading: tests/test_nbgrader.py).

The correct implementations are the instructor solutions of source/ps5, executed here;
each wrong one is a typical mistake, made by redefining one method or function in a copy of
that namespace. Runtime: about 40 s on 2 cores.
"""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

from course import data
from course.grading import ps5 as checks
from course.grading.cases import Rng
from course.grading.harness import numpy_procedures
from coursekit import ROOT, grade_id, instructor_namespace

SOLUTIONS = ("setup", "im2col", "conv2d", "relu", "max_pool2d", "flatten", "linear",
             "softmax_cross_entropy", "batch_norm", "sequential", "make_network", "sgd_momentum",
             "train_epoch", "initial_loss", "gradient_check_network", "overfit_small",
             "conv2d_naive")


def _solutions() -> dict:
    # the set-up cell calls np.set_printoptions: keep it from changing how the library's
    # doctests, collected after this module, print arrays
    with np.printoptions():
        return instructor_namespace(
            "ps5", lambda cell: grade_id(cell) in SOLUTIONS or "def random_shift" in cell.source,
            prelude="", namespace={"__name__": "ps5_notebook"})


PS5 = _solutions()


def variant(source: str, *rebound: str) -> dict:
    """A copy of the instructor's namespace with ``source`` run in it; the functions named in
    ``rebound`` see the copy's names (so that they call the redefined ones)."""
    namespace = dict(PS5)
    exec(source, namespace)  # noqa: S102 - our own test code
    for name in rebound:
        fn = PS5[name]
        namespace[name] = types.FunctionType(fn.__code__, namespace, fn.__name__,
                                             fn.__defaults__, fn.__closure__)
    return namespace


def _fails(check, *args, hidden=True) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, hidden=hidden)
    return str(info.value)


LAYER_CHECKS = [("conv2d", "Conv2d"), ("relu", "ReLU"), ("max_pool2d", "MaxPool2d"),
                ("flatten", "Flatten"), ("linear", "Linear"),
                ("softmax_cross_entropy", "SoftmaxCrossEntropy"), ("batch_norm", "BatchNorm2d"),
                ("sequential", "Sequential"), ("sgd_momentum", "sgd_momentum"),
                ("initial_loss", "initial_loss"),
                ("gradient_check_network", "gradient_check_network"),
                ("conv2d_naive", "conv2d_naive")]


# --- the specification -------------------------------------------------------------------
def test_network_spec_is_the_notebooks_table():
    np.random.seed(0)
    net = PS5["make_network"]()
    assert [type(layer).__name__ for layer in net.layers] == [n for n, _, _ in checks.NETWORK]
    assert sum(w.size for w in net.parameters().values()) == 29786
    reference = checks.reference_network()
    assert sum(p.numel() for p in reference.parameters()) == 29786
    assert {k: v.shape for k, v in net.state_dict().items()} == checks.state_keys()
    assert net.forward(np.zeros((2, 1, 32, 32))).shape == (2, 10)
    assert np.std(net.layers[-1].params["weight"]) < 0.02  # the small last layer


def test_every_test_cell_has_a_task_and_points_add_up():
    import nbformat

    nb = nbformat.read(ROOT / "source" / "ps5" / "ps5.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    from course.grading.engine import tasks as registered

    assert set(registered("ps5")) == {g for g in graded if g.startswith("test_")}
    assert sum(graded.values()) == 34 and graded["batch_norm_answer"] == 3


# --- instructor solutions pass -----------------------------------------------------------
@pytest.mark.parametrize("hidden", [False, True])
def test_instructor_solutions_pass(hidden, capsys):
    for name, obj in LAYER_CHECKS:
        getattr(checks, f"check_{name}")(PS5[obj], hidden=hidden)
    out = capsys.readouterr().out
    which = "cases (visible and on fresh inputs)" if hidden else "visible cases"
    assert f"conv2d: all {8 if hidden else 2} {which} passed against PyTorch float64" in out
    assert f"batch_norm: all {6 if hidden else 2} {which} passed" in out
    assert "sequential: all" in out and "initial_loss: all" in out
    assert f"gradient_check_network: all {6 if hidden else 2}" in out


def test_instructor_overfit_small_passes(capsys):
    checks.check_overfit_small(PS5["overfit_small"], hidden=True)
    out = capsys.readouterr().out
    assert "overfit_small: all hidden checks passed: 100 % of the 50 digits" in out


# --- part 1: the layers ------------------------------------------------------------------
CONV = PS5["Conv2d"]


def test_conv_backward_with_the_last_image_only_is_named():
    ns = variant('''
class Conv2d(Conv2d):
    def backward(self, grad_out):
        x_shape, cols = self.cache
        weight = self.params["weight"]
        N, F = grad_out.shape[:2]
        g = grad_out.reshape(N, F, -1)
        for n in range(N):
            grad_w = g[n] @ cols[n].T
        self.grads["weight"] = grad_w.reshape(weight.shape)
        self.grads["bias"] = g.sum(axis=(0, 2))
        return col2im(weight.reshape(F, -1).T @ g, x_shape, self.kernel_size, self.stride,
                      self.padding)
''')
    message = _fails(checks.check_conv2d, ns["Conv2d"], hidden=False)
    assert "In `layer.grads['weight'] after backward`" in message
    assert "it holds the last image's contribution only" in message


def test_conv_forward_with_a_flipped_kernel_is_named():
    ns = variant('''
class Conv2d(Conv2d):
    def forward(self, x):
        saved = self.params["weight"]
        self.params["weight"] = saved[:, :, ::-1, ::-1]
        try:
            return super().forward(x)
        finally:
            self.params["weight"] = saved
''')
    assert "the kernel is flipped" in _fails(checks.check_conv2d, ns["Conv2d"], hidden=False)


def test_a_layer_that_keeps_the_first_batch_size_fails_the_two_step_case():
    ns = variant('''
class Flatten(Flatten):
    def forward(self, x):
        if not hasattr(self, "x_shape"):
            self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)
''')
    message = _fails(checks.check_flatten, ns["Flatten"])
    assert "batches of 4 and then 1" in message and "Your code raised ValueError" in message
    assert "step 2 of 2, training mode" in message


def test_relu_mask_at_zero_and_in_place_changes_are_named():
    ns = variant('''
class ReLU(ReLU):
    def forward(self, x):
        self.mask = x >= 0
        return x * self.mask
''')
    assert "not x >= 0" in _fails(checks.check_relu, ns["ReLU"], hidden=False)
    ns = variant('''
class ReLU(ReLU):
    def forward(self, x):
        self.mask = x > 0
        x[~self.mask] = 0
        return x
''')
    assert "changed its input `x` in place" in _fails(checks.check_relu, ns["ReLU"], hidden=False)


def test_max_pool_backward_that_assigns_is_named():
    ns = variant('''
class MaxPool2d(MaxPool2d):
    def backward(self, grad_out):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        N, C, H, W = self.x_shape
        grad = np.zeros(self.x_shape)
        first = self.first.reshape(N, C, grad_out.shape[2], grad_out.shape[3])
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                a, b = first[:, :, i, j] // kw, first[:, :, i, j] % kw
                for n in range(N):
                    for c in range(C):
                        grad[n, c, i * sh + a[n, c], j * sw + b[n, c]] = grad_out[n, c, i, j]
        return grad
''')
    message = _fails(checks.check_max_pool2d, ns["MaxPool2d"], hidden=False)
    assert "the gradient is assigned" in message and "accumulate with `+=`" in message


def test_flatten_that_loses_the_batch_axis_is_named():
    ns = variant('''
class Flatten(Flatten):
    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(-1)
''')
    message = _fails(checks.check_flatten, ns["Flatten"], hidden=False)
    assert "the batch axis is flattened too" in message


# a typical mistake: the bias gradient averaged over the batch instead of summed
LINEAR_BIAS_MEAN = '''
class Linear(Linear):
    def backward(self, grad_out):
        grad_x = super().backward(grad_out)
        self.grads["bias"] = grad_out.mean(axis=0)
        return grad_x
'''


def test_linear_mistakes_are_named():
    ns = variant(LINEAR_BIAS_MEAN)
    message = _fails(checks.check_linear, ns["Linear"], hidden=False)
    assert "the gradient of `bias` is averaged over the batch" in message
    ns = variant('''
class Linear(Linear):
    def backward(self, grad_out):
        grad_x = super().backward(grad_out)
        self.grads["weight"] = np.outer(grad_out[-1], self.x[-1])
        return grad_x
''')
    assert "holds the last example's contribution only: sum over the batch axis N" in _fails(
        checks.check_linear, ns["Linear"], hidden=False)


def test_a_layer_without_super_init_or_that_updates_its_parameters_is_told():
    ns = variant('''
class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask
    def backward(self, grad_out):
        return grad_out * self.mask
''')
    checks.check_relu(ns["ReLU"], hidden=True)  # no params needed: a plain class works
    ns = variant('''
class Linear(Linear):
    def __init__(self, in_features, out_features, weight_scale=None):
        self.training = True
''')
    message = _fails(checks.check_linear, ns["Linear"], hidden=False)
    assert "the layer has no dict `params`" in message
    ns = variant('''
class Linear(Linear):
    def backward(self, grad_out):
        grad_x = super().backward(grad_out)
        self.params["weight"] -= 0.1 * self.grads["weight"]
        return grad_x
''')
    message = _fails(checks.check_linear, ns["Linear"], hidden=False)
    assert "the optimizer updates the parameters" in message


def test_softmax_overflow_and_missing_division_are_named():
    ns = variant('''
class SoftmaxCrossEntropy(SoftmaxCrossEntropy):
    def forward(self, scores, y):
        e = np.exp(scores)
        self.p, self.y = e / e.sum(axis=1, keepdims=True), y
        return float(-np.log(self.p[np.arange(len(y)), y]).mean())
''')
    check = checks.check_softmax_cross_entropy
    checks.check_softmax_cross_entropy(ns["SoftmaxCrossEntropy"], hidden=False)  # small scores
    with np.errstate(all="ignore"):
        message = _fails(check, ns["SoftmaxCrossEntropy"])
    assert "scores around -1000" in message and "exp underflows to 0" in message
    assert "Subtract each row's largest score first" in message
    ns = variant('''
class SoftmaxCrossEntropy(SoftmaxCrossEntropy):
    def backward(self):
        return super().backward() * len(self.y)
''')
    message = _fails(check, ns["SoftmaxCrossEntropy"], hidden=False)
    assert "the gradient is not divided by N" in message


BN_FORWARD = '''
class BatchNorm2d(BatchNorm2d):
    def forward(self, x):
        gamma, beta = self.params["weight"], self.params["bias"]
        N, C, H, W = x.shape
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        m = N * H * W
        b = self.buffers
        if self.training:
            {update}
        {choose}
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
        self.cache = (x_hat, inv_std, self.training)
        return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
'''
PYTORCH_UPDATE = ('b["running_mean"] = 0.9 * b["running_mean"] + 0.1 * mean; '
                  'b["running_var"] = 0.9 * b["running_var"] + 0.1 * var * m / (m - 1)')
RUNNING = 'mean, var = (mean, var) if self.training else (b["running_mean"], b["running_var"])'


@pytest.mark.parametrize("update, choose, expected", [
    (PYTORCH_UPDATE, "pass", "in evaluation mode batch norm must use the running statistics"),
    ('b["running_mean"] = 0.9 * b["running_mean"] + 0.1 * mean; '
     'b["running_var"] = 0.9 * b["running_var"] + 0.1 * var', RUNNING,
     "the running variance is updated with the biased batch variance"),
    ('b["running_mean"] = 0.1 * b["running_mean"] + 0.9 * mean; '
     'b["running_var"] = 0.1 * b["running_var"] + 0.9 * var * m / (m - 1)', RUNNING,
     "the momentum weights are swapped"),
    ("pass", RUNNING, "the running statistics are not updated in training mode"),
])
def test_batch_norm_statistics_mistakes_are_named(update, choose, expected):
    ns = variant(BN_FORWARD.format(update=update, choose=choose))
    assert expected in _fails(checks.check_batch_norm, ns["BatchNorm2d"], hidden=False)


def test_batch_norm_backward_with_constant_statistics_is_named():
    ns = variant('''
class BatchNorm2d(BatchNorm2d):
    def backward(self, grad_out):
        x_hat, inv_std, training = self.cache
        self.grads["weight"] = (grad_out * x_hat).sum(axis=(0, 2, 3))
        self.grads["bias"] = grad_out.sum(axis=(0, 2, 3))
        return grad_out * (self.params["weight"] * inv_std)[None, :, None, None]
''')
    message = _fails(checks.check_batch_norm, ns["BatchNorm2d"], hidden=False)
    assert "In `grad_x = layer.backward(...)` (step 1 of 1, training mode" in message
    assert "treats the mean and the variance as constants" in message


def test_batch_norm_statistics_per_pixel_are_named():
    ns = variant(BN_FORWARD.format(update=PYTORCH_UPDATE, choose=RUNNING).replace(
        "mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))",
        "mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))\n"
        "        if self.training:\n"
        "            out = (x - x.mean(0)) / np.sqrt(x.var(0) + self.eps)\n"
        "            self.cache = (out, None, True)\n"
        "            return gamma[None, :, None, None] * out + beta[None, :, None, None]"))
    assert "one mean and variance per CHANNEL" in _fails(checks.check_batch_norm, ns["BatchNorm2d"],
                                                          hidden=False)


# --- part 2: Sequential and the optimizer ------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ('''
class Sequential(Sequential):
    def backward(self, grad_out):
        for layer in self.layers:
            grad_out = layer.backward(grad_out)
        return grad_out
''', "from the last layer to the first"),
    ('''
class Sequential(Sequential):
    def parameters(self):
        return {k: v.copy() for k, v in super().parameters().items()}
''', "is a copy, not the layer's own array"),
    ('''
class Sequential(Sequential):
    def state_dict(self):
        return {f"{i}.{n}": v for i, l in enumerate(self.layers)
                for n, v in {**l.params, **l.buffers}.items()}
''', "returned the layers' own arrays"),
    ('''
class Sequential(Sequential):
    def state_dict(self):
        return {k: v.copy() for k, v in self.parameters().items()}
''', "the state dict holds every layer's params AND buffers"),
    ('''
class Sequential(Sequential):
    def eval(self):
        self.training = False
        return self
''', "after net.eval() layer A ran with training=True"),
    ('''
class Sequential(Sequential):
    def backward(self, grad_out):
        for layer in reversed(self.layers):
            out = layer.backward(grad_out)
        return out
''', "every layer's backward received grad_out"),
])
def test_sequential_mistakes_are_named(source, expected):
    ns = variant(source)
    assert expected in _fails(checks.check_sequential, ns["Sequential"], hidden=False)


@pytest.mark.parametrize("body, expected", [
    ("v_next = v + momentum * dw\n    return w - lr * v_next, v_next",
     "momentum is applied to the wrong term: it scales the previous velocity"),
    ("v_next = momentum * v + dw\n    return w - lr * dw, v_next",
     "the update uses the gradient, not the velocity"),
    ("v_next = momentum * v - lr * dw\n    return w + v_next, v_next",
     "you used the convention v_next = momentum * v - lr * dw"),
    ("v_next = momentum * v + (1 - momentum) * dw\n    return w - lr * v_next, v_next",
     "the velocity is damped"),
    ("v += dw\n    w -= lr * v\n    return w, v", "changed its input `w` in place"),
])
def test_momentum_mistakes_are_named(body, expected):
    ns = variant(f"def sgd_momentum(w, dw, v, lr, momentum=0.9):\n    {body}\n")
    assert expected in _fails(checks.check_sgd_momentum, ns["sgd_momentum"], hidden=False)


# --- part 3: the sanity checks -----------------------------------------------------------
def test_initial_loss_mistakes_are_named():
    ns = variant("def initial_loss(net, criterion, x, y):\n"
                 "    return criterion.forward(net.forward(x), y) * len(y)\n")
    message = _fails(checks.check_initial_loss, ns["initial_loss"], hidden=False)
    assert "you returned the sum over the batch" in message
    ns = variant('''
def make_network():
    return Sequential(Conv2d(1, 8, 5), BatchNorm2d(8), ReLU(), MaxPool2d(2), Conv2d(8, 16, 5),
                      BatchNorm2d(16), ReLU(), MaxPool2d(2), Flatten(), Linear(400, 64), ReLU(),
                      Linear(64, 10))
''', "initial_loss")
    message = _fails(checks.check_initial_loss, ns["initial_loss"], hidden=False)
    assert "the initial loss of your freshly initialised network is" in message
    assert "standard deviation 0.01" in message
    ns = variant('''
def make_network():
    return Sequential(Conv2d(1, 8, 5), ReLU(), MaxPool2d(2), Conv2d(8, 16, 5), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(400, 64), ReLU(),
                      Linear(64, 10, weight_scale=0.01))
''', "initial_loss")
    message = _fails(checks.check_initial_loss, ns["initial_loss"], hidden=False)
    assert "make_network() built the layers" in message
    ns = variant('''
def initial_loss(net, criterion, x, y):
    return overfit_small(net, criterion, x, y, steps=1)[0]
''')
    assert "initial_loss changed the network's parameter" in _fails(
        checks.check_initial_loss, ns["initial_loss"], hidden=False)


GRADIENT_CHECK = checks.check_gradient_check_network


def test_a_per_array_relative_error_fails_on_the_bias_before_batch_norm():
    source = '''
def gradient_check_network(net, criterion, x, y, eps=1e-5):
    criterion.forward(net.forward(x), y)
    net.backward(criterion.backward())
    analytic = {name: g.copy() for name, g in net.gradients().items()}
    worst = 0.0
    for name, w in {PARAMS}.items():
        numeric = np.zeros_like(w)
        for k in np.ndindex(w.shape):
            old = w[k]
            w[k] = old + eps
            plus = criterion.forward(net.forward(x), y)
            w[k] = old - eps
            minus = criterion.forward(net.forward(x), y)
            {RESTORE}
            numeric[k] = (plus - minus) / (2 * eps)
        a = analytic[name]
        scale = max(np.max(np.abs(a)), np.max(np.abs(numeric)))
        worst = max(worst, np.max(np.abs(a - numeric)) / scale if scale > 0 else 0.0)
    return float(worst)
'''
    ns = variant(source.replace("{PARAMS}", "net.parameters()").replace("{RESTORE}", "w[k] = old"))
    message = _fails(GRADIENT_CHECK, ns["gradient_check_network"], hidden=False)
    assert "for a network whose gradients are right" in message
    assert "a conv bias before batch norm has gradient 0" in message
    # checking the last layer only misses a wrong first layer
    last = "dict(list(net.parameters().items())[-2:])"
    ns = variant(source.replace("{PARAMS}", last).replace("{RESTORE}", "w[k] = old"))
    message = _fails(GRADIENT_CHECK, ns["gradient_check_network"], hidden=False)
    assert "Your check reports only" in message and "the gradient of 0.weight is wrong" in message
    # entries that are not put back
    ns = variant(source.replace("{PARAMS}", "net.parameters()").replace("{RESTORE}", "pass"))
    assert "put every nudged entry back" in _fails(checks.check_gradient_check_network,
                                                    ns["gradient_check_network"], hidden=False)


def test_the_gradient_check_says_when_the_students_own_layers_are_wrong():
    ns = variant(LINEAR_BIAS_MEAN, "gradient_check_network")
    message = _fails(GRADIENT_CHECK, ns["gradient_check_network"], hidden=False)
    assert "Your network's own backward pass is wrong: the gradient of '5.bias'" in message
    assert "so it noticed" in message


def test_the_judges_gradient_check_networks_have_no_kink_near_a_nudge():
    task = checks.GradientCheckNetwork.registered
    for key in checks.TINY_NETWORKS:
        for seed in (1, 2):
            layers, state, x, y, exact = task._draw(Rng(seed), key)
            numeric = task._numerical(layers, state, x, y)
            assert checks.network_error(exact, numeric) < 1e-8


def test_overfit_small_mistakes_are_named():
    ns = variant("def overfit_small(net, criterion, x, y):\n"
                 "    return [criterion.forward(net.forward(x), y)] * 30\n")
    message = _fails(checks.check_overfit_small, ns["overfit_small"], hidden=False)
    assert "The parameters did not change" in message
    ns = variant('''
def overfit_small(net, criterion, x, y):
    velocities = {name: np.zeros_like(w) for name, w in net.parameters().items()}
    return [train_epoch(net, criterion, x, y, velocities, 0.005, batch_size=len(x))
            for _ in range(3)]
''')
    assert "train longer, or with a larger learning rate" in _fails(
        checks.check_overfit_small, ns["overfit_small"], hidden=False)


# --- part 4: the trained network (synthetic states; the trained one is graded end to end) ---
def _state(seed=0):
    np.random.seed(seed)
    return PS5["make_network"]().state_dict()


def test_trained_network_problems_are_told():
    state = _state()
    message = _fails(checks.check_trained_network, state, [2.3, 2.2])
    assert "classifies" in message and "at least 0.95 is required" in message
    message = _fails(checks.check_trained_network, state, [2.3, float("nan")])
    assert "the training diverged" in message
    no_buffers = {k: v for k, v in state.items() if "running" not in k}
    message = _fails(checks.check_trained_network, no_buffers, [])
    assert "running_mean and running_var too" in message
    wrong = dict(state, **{"9.weight": np.zeros((64, 399))})
    message = _fails(checks.check_trained_network, wrong, [])
    assert "state['9.weight'] has shape (64, 399)" in message


def test_a_trained_state_passes_and_bad_running_statistics_are_told(capsys):
    """A network trained by the judge's own PyTorch copy (fast), handed over as arrays."""
    import torch

    digits = data.mnist()
    torch.manual_seed(0)
    net = checks.reference_network().float().cpu()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=6)
    x, y = torch.as_tensor(digits.x_train), torch.as_tensor(digits.y_train)
    for _ in range(6):
        order = torch.randperm(len(x))
        for i in range(0, len(x), 50):
            batch = order[i:i + 50]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x[batch]), y[batch]).backward()
            optimizer.step()
        scheduler.step()
    state = {k: v.detach().double().numpy() for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    checks.check_trained_network(state, [1.0, 0.2, 0.1])
    assert "computed by the judge in evaluation mode" in capsys.readouterr().out
    stale = dict(state, **{k: (np.zeros_like(v) if "mean" in k else np.ones_like(v))
                           for k, v in state.items() if "running" in k})
    message = _fails(checks.check_trained_network, stale, [1.0, 0.2, 0.1])
    assert "your running_mean and running_var are not the statistics" in message


# --- part 5: timing ----------------------------------------------------------------------
def _timing(**changes):
    timing = {"naive_s": 0.2, "im2col_s": 0.001, "speedup": 200.0, "x_shape": (8, 8, 16, 16),
              "weight_shape": (16, 8, 3, 3)}
    timing.update(changes)
    return timing


def test_timing_is_judged_for_what_can_be(capsys):
    checks.check_timing(_timing())
    assert "im2col 200 times faster" in capsys.readouterr().out
    assert "but you recorded 5" in _fails(checks.check_timing, _timing(speedup=5.0))
    assert "was not faster than the loops" in _fails(
        checks.check_timing, _timing(naive_s=0.001, im2col_s=0.002, speedup=0.5))
    assert "time the stated input" in _fails(checks.check_timing, _timing(x_shape=(1, 8, 16, 16)))
    assert "has no entry 'im2col_s'" in _fails(checks.check_timing, {"naive_s": 1.0})
    message = _fails(checks.check_timing, _timing(naive_s=float("nan")))
    assert "expected a positive number" in message


def test_conv2d_naive_gets_ps2s_diagnoses():
    ns = variant('''
def conv2d_naive(x, weight, bias=None, stride=1, padding=0):
    return PS5_conv(x, weight, None, stride, padding)
''')
    ns["PS5_conv"] = PS5["conv2d_naive"]
    message = _fails(checks.check_conv2d_naive, ns["conv2d_naive"], hidden=False)
    assert "the bias is missing" in message


# --- the catalogue's NumPy procedures ------------------------------------------------------
def test_procedures_find_the_students_classes_through_the_functions_globals():
    scope = numpy_procedures._scope({"initial_loss": PS5["initial_loss"]}, "initial_loss")
    assert scope["Sequential"] is PS5["Sequential"] and scope["make_network"] is PS5["make_network"]
    scope = numpy_procedures._scope({"Conv2d": CONV}, "Conv2d")
    assert scope["im2col"] is PS5["im2col"]


def test_network_procedure_reports_the_failing_step():
    ns = variant("def make_network():\n    raise ValueError('not yet')\n", "initial_loss")
    result = numpy_procedures.procedure_numpy_network(
        {"initial_loss": ns["initial_loss"]}, "initial_loss",
        {"make": "make_network", "seed": 0, "x": np.zeros((2, 1, 32, 32)), "y": np.zeros(2, int)})
    assert result["error"]["where"] == "build: make_network()"
    assert "ValueError: not yet" in result["error"]["text"]
    assert math.isfinite(checks.INITIAL_LOSS_BAND)
