"""Part 1 of problem set 5: the layers as objects, stepped forward and backward against autograd."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .. import references as refs
from ..cases import Case, Mistake, pair, same
from ..ps2 import MaxPool2d as _Ps2MaxPool2d
from ..ps3 import Conv2dBackward as _Ps3Conv2dBackward
from ..ps3 import MaxPool2dBackward as _Ps3PoolBackward
from ..references import f64, out_size
from ..stateful import LayerCase, Step
from ..stateful import LayerTask as StatefulLayerTask
from .common import NumpyTask, _np, _t, _where, task


# --------------------------------------------------------------------------------------
# Part 1: the layers
class LayerTask(NumpyTask, StatefulLayerTask):
    """A layer of problem set 5: NumPy only in the judged process, expected values from
    PyTorch's autograd in float64 (see :mod:`..stateful` for how a layer is stepped)."""

    rtol = 1e-6
    atol = 1e-8

    def where(self) -> str:
        return _where()


def _layer_case(label, cls, args=(), kwargs=(), params=(), buffers=(), steps=()) -> LayerCase:
    return LayerCase(label, (), (), tuple(args), tuple(kwargs), tuple(params), tuple(buffers),
                     tuple(steps), cls)


def _train_step(x, g, n="") -> Step:
    return Step("train", ((f"x{n}", x),), ((f"grad_out{n}", g),))


def _autograd(fn, inputs: dict, grad_out):
    """``fn(**tensors)`` and the gradients of ``sum(out * grad_out)`` w.r.t. every input."""
    tensors = {k: _t(v, True) for k, v in inputs.items()}
    out = fn(**tensors)
    out.backward(_t(grad_out))
    return _np(out), {k: _np(t.grad) for k, t in tensors.items()}


# -- Conv2d --------------------------------------------------------------------------
@task("test_conv2d", function="Conv2d")
class Conv2dLayer(LayerTask):
    """The convolutional layer: forward with the student's im2col, backward with col2im."""

    def cases(self, rng, hidden):
        def case(label, x_shape, w_shape, stride=1, padding=0, steps=1, step=1.0):
            N, C, H, W = x_shape
            F, _, KH, KW = w_shape
            s, p = pair(stride), pair(padding)
            Ho, Wo = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
            kwargs = (("stride", stride), ("padding", padding))
            args = (C, F, KH if KH == KW else (KH, KW))
            runs = []
            for k in range(steps):
                n = N if k == 0 else max(1, N - 1)
                runs.append(_train_step(rng.array((n, C, H, W), step=step),
                                        rng.array((n, F, Ho, Wo), nonzero=True),
                                        k + 1 if steps > 1 else ""))
            return _layer_case(label, "Conv2d", args, kwargs,
                               (("weight", rng.array(w_shape, nonzero=True)),
                                ("bias", rng.array((F,), nonzero=True))), (), runs)

        cases = [
            case("one 4x4 image, one channel, two 3x3 filters", (1, 1, 4, 4), (2, 1, 3, 3)),
            case("batch of 2, 3 channels, 4 filters 3x3, padding 1", (2, 3, 4, 4), (4, 3, 3, 3),
                 padding=1),
        ]
        if hidden:
            cases += [
                case("stride 2, padding 1, batch of 3", (3, 2, 6, 7), (3, 2, 3, 3), 2, 1, step=0.5),
                case("3x2 kernels, stride (2, 1), padding (1, 0)", (2, 2, 5, 4), (3, 2, 3, 2),
                     (2, 1), (1, 0)),
                case("1x1 convolution mixing 4 channels into 2", (2, 4, 3, 3), (2, 4, 1, 1)),
                case("stride 3 larger than the 2x2 kernel (some pixels get no gradient)",
                     (2, 2, 7, 8), (3, 2, 2, 2), 3),
                case("3 channels and 3 filters (square: swapped axes would not crash)",
                     (2, 3, 5, 5), (3, 3, 3, 3), 1, 1),
                case("two steps with batches of 3 and 2 (nothing may be kept from the first)",
                     (3, 2, 5, 5), (2, 2, 3, 3), 1, 1, steps=2),
            ]
        return cases

    @staticmethod
    def _settings(case):
        i = dict(case.layer_kwargs)
        return pair(i["stride"]), pair(i["padding"])

    def expected_steps(self, case):
        torch = refs.torch()
        w, b = dict(case.params)["weight"], dict(case.params)["bias"]
        s, p = self._settings(case)
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            value, grads = _autograd(
                lambda x, weight, bias: torch.nn.functional.conv2d(x, weight, bias, s, p),
                {"x": x, "weight": w, "bias": b}, g)
            out.append({"out": value, "grad_x": grads["x"],
                        "grads": {"weight": grads["weight"], "bias": grads["bias"]}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        step = case.steps[index]
        w = dict(case.params)["weight"]
        N, C, H, W = step.forward[0][1].shape
        F, _, KH, KW = w.shape
        s, p = self._settings(case)
        if kind == "out":
            Ho, Wo = out_size(H, KH, s[0], p[0]), out_size(W, KW, s[1], p[1])
            return (f"(N, F, H_out, W_out) = ({N}, {F}, {Ho}, {Wo}) with "
                    f"H_out = (H + 2p - KH)//s + 1 = ({H} + 2*{p[0]} - {KH})//{s[0]} + 1")
        return {"grad_x": f"grad_x has the shape of x, {(N, C, H, W)}",
                "grads": f"the gradient has the shape of the parameter, "
                         f"{dict(case.params)[name].shape if name else ''}"}.get(kind, "")

    def _ps3_case(self, case, index):
        step = case.steps[index]
        s, p = self._settings(case)
        return Case("", (("grad_out", step.backward[0][1]), ("x", step.forward[0][1]),
                         ("weight", dict(case.params)["weight"])), (("stride", s), ("padding", p)))

    def mistakes(self, case, index, kind, name):
        from ..ps2 import conv2d_mistakes

        step = case.steps[index]
        s, p = self._settings(case)
        params = dict(case.params)
        if kind == "out":
            inputs = (("x", step.forward[0][1]), ("weight", params["weight"]),
                      ("bias", params["bias"]))
            return conv2d_mistakes(Case("", inputs, (("stride", s), ("padding", p))))
        backward = _Ps3Conv2dBackward.registered
        part = {"grad_x": 0, "weight": 1, "bias": 2}[name or kind]
        return backward.part_mistakes(self._ps3_case(case, index), part)


# -- ReLU ----------------------------------------------------------------------------
@task("test_relu", function="ReLU")
class ReLULayer(LayerTask):
    rtol = 0.0
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, steps=1):
            runs = [_train_step(rng.array(shape, -3, 3), rng.array(shape, nonzero=True),
                                k + 1 if steps > 1 else "") for k in range(steps)]
            return _layer_case(label, "ReLU", steps=runs)

        cases = [case("a 2x6 array with zeros and negative values", (2, 6)),
                 case("maps (2, 3, 3, 3)", (2, 3, 3, 3))]
        if hidden:
            cases += [case("one value", (1, 1)), case("a batch of 4, 5 features", (4, 5)),
                      case("two steps on different inputs (nothing kept from the first)",
                           (2, 2, 4, 4), steps=2)]
        return cases

    def expected_steps(self, case):
        torch = refs.torch()
        out = []
        for step in case.steps:
            value, grads = _autograd(lambda x: torch.relu(x), {"x": step.forward[0][1]},
                                     step.backward[0][1])
            out.append({"out": value, "grad_x": grads["x"], "grads": {}, "buffers": {}})
        return out

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        if kind == "out":
            return [Mistake("you returned the mask (x > 0) instead of max(x, 0).",
                            (x > 0).astype(np.float64)),
                    Mistake("negative values are kept: ReLU is max(x, 0).", np.abs(x))]
        return [
            Mistake("at x = 0 the gradient is passed on; ReLU's gradient is 1 where x > 0 and 0 "
                    "elsewhere (at 0 too, as PyTorch): use the mask x > 0, not x >= 0.",
                    g * (x >= 0)),
            Mistake("the mask is taken from grad_out (grad_out > 0); it must come from the "
                    "forward pass's input x (x > 0): remember it in forward.", g * (g > 0)),
            Mistake("the gradient is passed on unchanged: multiply it by the mask x > 0.", g),
            Mistake("you returned the mask itself; grad_x = grad_out * (x > 0).",
                    (x > 0).astype(np.float64)),
        ]


# -- MaxPool2d -----------------------------------------------------------------------
@task("test_max_pool2d", function="MaxPool2d")
class MaxPool2dLayer(LayerTask):
    rtol = 0.0
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, shape, k, s=None, low=-3, high=3, step=1.0, steps=1):
            kh, kw = pair(k)
            sh, sw = (kh, kw) if s is None else pair(s)
            N, C, H, W = shape
            runs = []
            for number in range(steps):
                n = N if number == 0 else max(1, N - 1)
                g = rng.array((n, C, out_size(H, kh, sh), out_size(W, kw, sw)), nonzero=True)
                runs.append(_train_step(rng.array((n, C, H, W), low, high, step=step), g,
                                        number + 1 if steps > 1 else ""))
            kwargs = (("stride", s),) if s is not None else ()
            return _layer_case(label, "MaxPool2d", (k,), kwargs, steps=runs)

        cases = [
            case("2x2 windows (stride = kernel size) on 2 images, 2 channels", (2, 2, 4, 4), 2,
                 low=-20, high=20),
            case("3x3 windows, stride 2 on a 5x5 map (windows overlap)", (1, 1, 5, 5), 3, 2, 0, 9),
        ]
        if hidden:
            cases += [
                case("2x2 windows, stride 1, values with ties", (2, 3, 5, 5), 2, 1, 0, 2),
                case("(3, 2) windows, stride (1, 2)", (1, 2, 6, 7), (3, 2), (1, 2)),
                case("3x3 windows on 7x8 maps: the remainder is dropped", (2, 1, 7, 8), 3,
                     low=-50, high=50),
                case("all values equal: the first maximum of each window takes the gradient",
                     (1, 1, 4, 4), 2, 1, 1, 1),
                case("two steps with batches of 3 and 2 (nothing kept from the first)",
                     (3, 2, 4, 6), 2, low=-40, high=40, steps=2),
            ]
        return cases

    @staticmethod
    def _settings(case):
        k = pair(case.layer_args[0])
        s = dict(case.layer_kwargs).get("stride")
        return k, (k if s is None else pair(s))

    def expected_steps(self, case):
        torch = refs.torch()
        k, s = self._settings(case)
        out = []
        for step in case.steps:
            value, grads = _autograd(lambda x: torch.nn.functional.max_pool2d(x, k, s),
                                     {"x": step.forward[0][1]}, step.backward[0][1])
            out.append({"out": value, "grad_x": grads["x"], "grads": {}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        k, s = self._settings(case)
        N, C, H, W = case.steps[index].forward[0][1].shape
        if kind == "out":
            return (f"(N, C, H_out, W_out) = ({N}, {C}, {out_size(H, k[0], s[0])}, "
                    f"{out_size(W, k[1], s[1])}), H_out = (H - kh)//sh + 1; the stride defaults "
                    "to the kernel size")
        return f"grad_x has the shape of x, {(N, C, H, W)}"

    def mistakes(self, case, index, kind, name):
        k, s = self._settings(case)
        step = case.steps[index]
        x = step.forward[0][1]
        if kind == "out":
            stride = dict(case.layer_kwargs).get("stride")
            return _Ps2MaxPool2d.registered.mistakes(
                Case("", (("x", x),), (("kernel_size", case.layer_args[0]), ("stride", stride),
                                       ("padding", 0))))
        return _Ps3PoolBackward.registered.mistakes(
            Case("", (("grad_out", step.backward[0][1]), ("x", x)),
                 (("kernel_size", k), ("stride", s))))


# -- Flatten -------------------------------------------------------------------------
@task("test_flatten", function="Flatten")
class FlattenLayer(LayerTask):
    rtol = 0.0
    atol = 0.0

    def cases(self, rng, hidden):
        def case(label, shapes):
            runs = []
            for number, shape in enumerate(shapes, start=1):
                n = shape[0]
                runs.append(_train_step(rng.array(shape), rng.array((n, int(np.prod(shape[1:])))),
                                        number if len(shapes) > 1 else ""))
            return _layer_case(label, "Flatten", steps=runs)

        # two visible cases: a channel-last flatten must be confirmed on a second shape
        cases = [case("maps (2, 3, 2, 2)", [(2, 3, 2, 2)]),
                 case("maps (3, 2, 3, 2)", [(3, 2, 3, 2)])]
        if hidden:
            cases += [case("one image (1, 2, 3, 4): keep the batch axis", [(1, 2, 3, 4)]),
                      case("batches of 4 and then 1 (the shape comes from each forward pass)",
                           [(4, 2, 2, 3), (1, 2, 2, 3)]),
                      case("one channel (3, 1, 4, 4)", [(3, 1, 4, 4)])]
        return cases

    def expected_steps(self, case):
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            out.append({"out": f64(x).reshape(x.shape[0], -1), "grad_x": f64(g).reshape(x.shape),
                        "grads": {}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        N, C, H, W = case.steps[index].forward[0][1].shape
        if kind == "out":
            return f"(N, C*H*W) = ({N}, {C * H * W}): one row per image"
        return f"grad_x has the shape of the forward pass's input, {(N, C, H, W)}"

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x = f64(step.forward[0][1])
        N = x.shape[0]
        if kind == "out":
            return [
                Mistake("the batch axis is flattened too: keep one row per image, "
                        "x.reshape(x.shape[0], -1).", shape=(x.size,)),
                Mistake("the values are flattened channel-last (H, W, C); flatten in PyTorch's "
                        "order (C, H, W): x.reshape(N, -1).",
                        x.transpose(0, 2, 3, 1).reshape(N, -1) if x.shape[1] > 1 else None),
            ]
        g = f64(step.backward[0][1])
        return [Mistake("grad_x must have the shape of the input x: reshape grad_out back "
                        "(remember x.shape in forward).", shape=g.shape)]


# -- Linear --------------------------------------------------------------------------
@task("test_linear", function="Linear")
class LinearLayer(LayerTask):
    def cases(self, rng, hidden):
        def case(label, n, d_in, d_out, steps=1):
            runs = [_train_step(rng.array((n if k == 0 else max(1, n - 1), d_in), step=0.5),
                                rng.array((n if k == 0 else max(1, n - 1), d_out), nonzero=True),
                                k + 1 if steps > 1 else "") for k in range(steps)]
            return _layer_case(label, "Linear", (d_in, d_out), (),
                               (("weight", rng.array((d_out, d_in), nonzero=True)),
                                ("bias", rng.array((d_out,), nonzero=True))), (), runs)

        cases = [case("2 examples, 3 features -> 2", 2, 3, 2),
                 case("a batch of 4, 5 features -> 3", 4, 5, 3)]
        if hidden:
            cases += [case("one example, 6 -> 4", 1, 6, 4),
                      case("square 4 -> 4 (a transposed weight would not crash)", 3, 4, 4),
                      case("10 -> 1", 5, 10, 1),
                      case("two steps with batches of 3 and 2 (nothing kept from the first)",
                           3, 4, 2, steps=2)]
        return cases

    def expected_steps(self, case):
        torch = refs.torch()
        params = dict(case.params)
        out = []
        for step in case.steps:
            value, grads = _autograd(torch.nn.functional.linear,
                                     {"input": step.forward[0][1], "weight": params["weight"],
                                      "bias": params["bias"]}, step.backward[0][1])
            out.append({"out": value, "grad_x": grads["input"],
                        "grads": {"weight": grads["weight"], "bias": grads["bias"]}, "buffers": {}})
        return out

    def shape_formula(self, case, index, kind, name):
        x = case.steps[index].forward[0][1]
        w = dict(case.params)["weight"]
        return {"out": f"(N, out_features) = ({x.shape[0]}, {w.shape[0]}): "
                       "out = x @ weight.T + bias",
                "grad_x": f"grad_x has the shape of x, {x.shape}",
                "grads": f"the gradient has the shape of the parameter "
                         f"{dict(case.params).get(name, np.zeros(0)).shape}"}[kind]

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        params = dict(case.params)
        w, b = params["weight"], params["bias"]
        N = x.shape[0]
        square = w.shape[0] == w.shape[1]
        if kind == "out":
            return [Mistake("the weight is not transposed: weight has shape (out_features, "
                            "in_features) as in PyTorch, so out = x @ weight.T + bias.",
                            x @ w + b if square else None, shape=None),
                    Mistake("the bias is missing.", x @ w.T)]
        if kind == "grad_x":
            return [Mistake("grad_x = grad_out @ weight (shape (N, in_features)); you used "
                            "weight.T.", g @ w.T if square else None)]
        if name == "weight":
            gw = g.T @ x
            return [
                Mistake("grad of `weight` has the shape (in_features, out_features): it must "
                        "have the shape of weight, grad_out.T @ x.", shape=gw.T.shape) if not square
                else Mistake("grad of `weight` is transposed: it is grad_out.T @ x, of weight's "
                             "shape (out_features, in_features).", gw.T),
                Mistake("the gradient of `weight` is averaged over the batch: the loss's mean is "
                        "already in grad_out, so a layer sums the per-example contributions "
                        "(no division by N).", gw / N if N > 1 else None),
                Mistake("the gradient of `weight` holds the last example's contribution only: "
                        "sum over the batch axis N (grad_out.T @ x does).",
                        np.outer(g[-1], x[-1]) if N > 1 else None),
                Mistake("the gradient of `weight` holds the first example's contribution only: "
                        "sum over the batch axis N (grad_out.T @ x does).",
                        np.outer(g[0], x[0]) if N > 1 else None),
                Mistake("the gradient of `weight` is not summed over the batch axis N: it has "
                        "the shape of weight.", shape=(N, *w.shape)),
            ]
        return [
            Mistake("the gradient of `bias` is not summed over the batch axis N: "
                    "grad_out.sum(axis=0), of shape (out_features,).", g if N > 1 else None,
                    shape=g.shape),
            Mistake("the gradient of `bias` is averaged over the batch; sum it "
                    "(grad_out.sum(axis=0)).", g.mean(axis=0) if N > 1 else None),
            Mistake("the gradient of `bias` holds the first example's only: sum over the batch "
                    "axis N.", g[0] if N > 1 else None),
            Mistake("the gradient of `bias` is summed over the wrong axis (the features); "
                    "sum over the batch axis 0.", g.sum(axis=1) if N == b.shape[0] else None,
                    shape=(N,)),
        ]


# -- SoftmaxCrossEntropy -------------------------------------------------------------
@task("test_softmax_cross_entropy", function="SoftmaxCrossEntropy")
class SoftmaxCrossEntropyLoss(LayerTask):
    rtol = 1e-9
    atol = 1e-12

    def cases(self, rng, hidden):
        def case(label, n, k, low=-3, high=3, step=0.5, shift=0.0, steps=1):
            runs = []
            for number in range(steps):
                m = n if number == 0 else max(1, n - 1)
                scores = rng.array((m, k), low, high, step=step) + shift
                labels = np.array(rng.ints(0, k - 1, m), dtype=np.int64)
                suffix = number + 1 if steps > 1 else ""
                runs.append(Step("train", ((f"scores{suffix}", scores), (f"y{suffix}", labels)),
                                 ()))
            return _layer_case(label, "SoftmaxCrossEntropy", steps=runs)

        cases = [case("3 examples, 4 classes", 3, 4), case("a batch of 5, 10 classes", 5, 10)]
        if hidden:
            cases += [
                case("scores around 1000 (exp(1000) overflows)", 3, 5, -40, 40, 1.0, 1000.0),
                case("scores around -1000 (exp(-1000) underflows to 0)", 2, 4, -20, 20, 1.0,
                     -1000.0),
                case("one example, 2 classes", 1, 2),
                case("scores of 50 to 150 (float64 overflows at exp(710))", 4, 3, 50, 150, 1.0),
                case("two steps with batches of 4 and 3 (nothing kept from the first)", 4, 6,
                     steps=2),
            ]
        return cases

    def expected_steps(self, case):
        torch = refs.torch()
        out = []
        for step in case.steps:
            scores, labels = step.forward[0][1], step.forward[1][1]
            s = _t(scores, True)
            loss = torch.nn.functional.cross_entropy(s, torch.as_tensor(labels, device=s.device))
            loss.backward()
            out.append({"out": float(loss.item()), "grad_x": _np(s.grad), "grads": {},
                        "buffers": {}})
        return out

    def nonfinite_hint(self, case):
        scores = np.concatenate([f64(step.forward[0][1]).ravel() for step in case.steps])
        if scores.max() > 709:
            what = (f"exp overflows for large scores (the largest here is {scores.max():g}; "
                    "float64's exp overflows above 709), so the softmax is inf/inf = nan")
        elif scores.max() < -700:
            what = (f"exp underflows to 0 for very negative scores (all are below "
                    f"{scores.max():g} here), so the softmax is 0/0 = nan and its log -inf")
        else:
            what = "a probability became 0 (log(0) = -inf) or exp overflowed"
        return (f"{what}. Subtract each row's largest score first, `scores - scores.max(axis=1, "
                "keepdims=True)`: the softmax does not change, the largest exponent becomes "
                "exp(0) = 1, and compute log p as shifted - log(sum(exp(shifted))).")

    def shape_formula(self, case, index, kind, name):
        scores = case.steps[index].forward[0][1]
        return f"the gradient has the shape of the scores, {scores.shape} = (N, K)"

    def mistakes(self, case, index, kind, name):
        step = case.steps[index]
        scores, labels = f64(step.forward[0][1]), step.forward[1][1]
        N, K = scores.shape
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        onehot = np.eye(K)[labels]
        loss = float(-log_p[np.arange(N), labels].mean())
        if kind == "out":
            return [Mistake("you returned the sum over the batch; the loss is the mean over the "
                            "N examples.", loss * N if N > 1 else None),
                    Mistake("the mean is taken over all N*K entries; average over the N "
                            "examples only.", loss / K)]
        grad = (p - onehot) / N
        return [
            Mistake("the gradient is not divided by N: the loss is the mean over the batch, so "
                    "d loss / d scores = (softmax - one_hot) / N.", grad * N if N > 1 else None),
            Mistake("the one-hot labels are not subtracted: d loss / d scores = (softmax - "
                    "one_hot(y)) / N.", p / N),
            Mistake("the sign is flipped: d loss / d scores = (softmax - one_hot(y)) / N.", -grad),
        ]


# -- BatchNorm2d ---------------------------------------------------------------------
def _bn_forward(x, gamma, beta, mean, var, eps):
    shape = (1, -1, 1, 1)
    return gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) \
        + beta.reshape(shape)


@task("test_batch_norm", function="BatchNorm2d")
class BatchNorm2dLayer(LayerTask):
    """Spatial batch normalisation, training and evaluation mode, with running statistics."""

    rtol = 1e-6
    atol = 1e-9

    def cases(self, rng, hidden):
        def case(label, shape, modes, eps=None, momentum=None, running=False, gamma=True):
            N, C, H, W = shape
            kwargs = tuple((k, v) for k, v in (("eps", eps), ("momentum", momentum))
                           if v is not None)
            params = (("weight", rng.uniform((C,), 0.5, 2.0) if gamma else np.ones(C)),
                      ("bias", rng.uniform((C,), -1.0, 1.0) if gamma else np.zeros(C)))
            buffers = (("running_mean", rng.uniform((C,), -1.0, 1.0) if running else np.zeros(C)),
                       ("running_var", rng.uniform((C,), 0.5, 2.0) if running else np.ones(C)))
            runs = []
            for number, mode in enumerate(modes, start=1):
                suffix = number if len(modes) > 1 else ""
                x = rng.uniform(shape, -2.0, 2.0) * rng.uniform((1, C, 1, 1), 0.5, 3.0) \
                    + rng.uniform((1, C, 1, 1), -2.0, 2.0)
                g = rng.uniform(shape)
                runs.append(Step(mode, ((f"x{suffix}", x),), ((f"grad_out{suffix}", g),)))
            return _layer_case(label, "BatchNorm2d", (C,), kwargs, params, buffers, runs)

        cases = [
            case("training mode: 2 images, 3 channels, 3x3 maps", (2, 3, 3, 3), ["train"],
                 gamma=False),
            case("two training steps, then evaluation mode (the running statistics)",
                 (4, 2, 3, 3), ["train", "train", "eval"]),
        ]
        if hidden:
            cases += [
                case("evaluation mode on the given running statistics", (3, 2, 2, 2), ["eval"],
                     running=True),
                case("eps=1e-3, momentum=0.3, running statistics not at 0 and 1", (3, 2, 3, 2),
                     ["train", "eval", "train"], eps=1e-3, momentum=0.3, running=True),
                case("one image (the statistics are over H and W)", (1, 3, 4, 4),
                     ["train", "eval"]),
                case("one channel, 5 images", (5, 1, 2, 3), ["train", "train", "eval", "eval"]),
            ]
        return cases

    def _settings(self, case):
        kwargs = dict(case.layer_kwargs)
        return kwargs.get("eps", 1e-5), kwargs.get("momentum", 0.1)

    def expected_steps(self, case):
        torch = refs.torch()
        eps, momentum = self._settings(case)
        params = dict(case.params)
        buffers = dict(case.buffers)
        running = [_t(buffers["running_mean"]), _t(buffers["running_var"])]
        out = []
        for step in case.steps:
            x, g = step.forward[0][1], step.backward[0][1]
            xt, wt, bt = _t(x, True), _t(params["weight"], True), _t(params["bias"], True)
            y = torch.nn.functional.batch_norm(xt, running[0], running[1], wt, bt,
                                               training=step.mode == "train", momentum=momentum,
                                               eps=eps)
            y.backward(_t(g))
            out.append({"out": _np(y), "grad_x": _np(xt.grad),
                        "grads": {"weight": _np(wt.grad), "bias": _np(bt.grad)},
                        "buffers": {"running_mean": _np(running[0]),
                                    "running_var": _np(running[1])}})
        return out

    def _running_before(self, case, index, variant: str = ""):
        """The running statistics before step ``index``, as a typical mistake updates them."""
        eps, momentum = self._settings(case)
        buffers = dict(case.buffers)
        mean, var = f64(buffers["running_mean"]), f64(buffers["running_var"])
        for step in case.steps[:index]:
            x = f64(step.forward[0][1])
            if step.mode != "train" and variant != "eval_updates":
                continue
            if variant == "frozen":
                continue
            m = x.size // x.shape[1]
            batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            if variant != "biased":
                batch_var = batch_var * m / max(m - 1, 1)
            if variant == "swapped":
                mean, var = momentum * mean + (1 - momentum) * batch_mean, \
                    momentum * var + (1 - momentum) * batch_var
            else:
                mean, var = (1 - momentum) * mean + momentum * batch_mean, \
                    (1 - momentum) * var + momentum * batch_var
        return mean, var

    def shape_formula(self, case, index, kind, name):
        x = case.steps[index].forward[0][1]
        if kind in ("grads", "buffers"):
            return f"one value per channel: ({x.shape[1]},)"
        return f"the shape of x, {x.shape}"

    def _step(self, case, index) -> SimpleNamespace:
        """The quantities of one step the mistakes are computed from."""
        eps, _ = self._settings(case)
        step = case.steps[index]
        x, g = f64(step.forward[0][1]), f64(step.backward[0][1])
        params = dict(case.params)
        N, C, H, W = x.shape
        return SimpleNamespace(
            eps=eps, x=x, g=g, gamma=f64(params["weight"]), beta=f64(params["bias"]),
            N=N, C=C, H=H, W=W, train=step.mode == "train",
            mean=x.mean(axis=(0, 2, 3)), var=x.var(axis=(0, 2, 3)), m=N * H * W,
            running=self._running_before(case, index))

    def mistakes(self, case, index, kind, name):
        """One method per part of the step: ``out``, ``buffers``, ``grad_x``, ``grads``."""
        return getattr(self, f"mistakes_{kind}")(case, index, name)

    def mistakes_out(self, case, index, name):
        v = self._step(case, index)
        x, gamma, beta, eps, N = v.x, v.gamma, v.beta, v.eps, v.N
        train, mean, var, m, running = v.train, v.mean, v.var, v.m, v.running
        found = []
        if not train:
            found += [
                Mistake("in evaluation mode batch norm must use the running statistics "
                        "(running_mean and running_var, gathered in training), not the "
                        "batch's: a prediction must not depend on the other images of the "
                        "batch.", _bn_forward(x, gamma, beta, mean, var, eps)),
                Mistake("eps is added outside the square root: divide by "
                        "sqrt(running_var + eps).",
                        gamma[None, :, None, None] * (x - running[0][None, :, None, None])
                        / (np.sqrt(running[1])[None, :, None, None] + eps)
                        + beta[None, :, None, None]),
            ]
            for variant, message in (
                    ("biased", "the running variance was updated with the biased batch "
                               "variance; PyTorch's uses the unbiased one (divide by "
                               "N*H*W - 1)."),
                    ("swapped", "the running statistics were updated with the weights "
                                "swapped: running = (1 - momentum) * running + momentum * "
                                "batch (PyTorch's convention, momentum=0.1)."),
                    ("frozen", "the running statistics are never updated in training mode: "
                               "running = (1 - momentum) * running + momentum * batch "
                               "statistic, after every training forward pass."),
                    ("eval_updates", "the running statistics are also updated in evaluation "
                                     "mode; only training-mode passes update them.")):
                rm, rv = self._running_before(case, index, variant)
                if not (same(rm, running[0]) and same(rv, running[1])):
                    found.append(Mistake(message, _bn_forward(x, gamma, beta, rm, rv, eps)))
            return found
        return [
            Mistake("in training mode batch norm normalises with the batch's own mean and "
                    "variance; you used the running statistics.",
                    _bn_forward(x, gamma, beta, running[0], running[1], eps)),
            Mistake("the statistics are computed per pixel (over the batch axis only); "
                    "spatial batch norm has one mean and variance per CHANNEL, over N, H and "
                    "W: x.mean(axis=(0, 2, 3)).",
                    gamma[None, :, None, None] * (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
                    + beta[None, :, None, None]),
            Mistake("the statistics are computed per image (over H and W only); batch norm "
                    "averages over the batch too: axes (0, 2, 3).",
                    gamma[None, :, None, None] * (x - x.mean((2, 3), keepdims=True))
                    / np.sqrt(x.var((2, 3), keepdims=True) + eps) + beta[None, :, None, None]
                    if N > 1 else None),
            Mistake("eps is added outside the square root: divide by sqrt(var + eps).",
                    gamma[None, :, None, None] * (x - mean[None, :, None, None])
                    / (np.sqrt(var)[None, :, None, None] + eps) + beta[None, :, None, None]),
            Mistake("the normalisation uses the unbiased variance; the batch is normalised "
                    "with the biased one (divide by N*H*W), the running variance is updated "
                    "with the unbiased one.",
                    _bn_forward(x, gamma, beta, mean, var * m / max(m - 1, 1), eps)),
            Mistake("weight and bias are swapped: out = weight * x_hat + bias.",
                    _bn_forward(x, beta, gamma, mean, var, eps)),
        ]

    def mistakes_buffers(self, case, index, name):
        found = []
        for variant, message in (
                ("biased", "the running variance is updated with the biased batch variance; "
                           "PyTorch's running_var uses the unbiased one, var * m / (m - 1) "
                           "with m = N*H*W."),
                ("swapped", "the momentum weights are swapped: PyTorch's convention is "
                            "running = (1 - momentum) * running + momentum * batch statistic "
                            "(momentum=0.1 keeps 90 % of the old value)."),
                ("frozen", "the running statistics are not updated in training mode: after "
                           "every training-mode forward pass, running = (1 - momentum) * "
                           "running + momentum * batch statistic."),
                ("eval_updates", "the running statistics are updated in evaluation mode too; "
                                 "only training-mode forward passes update them.")):
            rm, rv = self._running_before(case, index + 1, variant)
            found.append(Mistake(message, rm if name == "running_mean" else rv))
        return found

    def _normalised(self, v) -> tuple:
        """(1 / std, x_hat) with the statistics of the step's mode."""
        inv = 1.0 / np.sqrt((v.var if v.train else v.running[1]) + v.eps)
        center = (v.mean if v.train else v.running[0])[None, :, None, None]
        x_hat = (v.x - center) * inv[None, :, None, None]
        return inv, x_hat

    def mistakes_grad_x(self, case, index, name):
        v = self._step(case, index)
        inv, x_hat = self._normalised(v)
        x, g, gamma, eps, train, mean, var = v.x, v.g, v.gamma, v.eps, v.train, v.mean, v.var
        gh = g * gamma[None, :, None, None]
        constants = gh * inv[None, :, None, None]
        full = (gh - gh.mean((0, 2, 3), keepdims=True)
                - x_hat * (gh * x_hat).mean((0, 2, 3), keepdims=True)) \
            * inv[None, :, None, None]
        if train:
            return [Mistake("the backward pass treats the mean and the variance as constants "
                            "(grad_x = grad_out * weight / sqrt(var + eps)); in training mode "
                            "they depend on x: grad_x = weight / sqrt(var + eps) * (g - "
                            "mean(g) - x_hat * mean(g * x_hat)), the means over N, H, W.",
                            constants),
                    Mistake("the gradient is not multiplied by weight (gamma).",
                            full / gamma[None, :, None, None])]
        batch_inv = 1.0 / np.sqrt(var + eps)
        batch_hat = (x - mean[None, :, None, None]) * batch_inv[None, :, None, None]
        return [Mistake("in evaluation mode the statistics are constants (the running ones): "
                        "grad_x = grad_out * weight / sqrt(running_var + eps); you used the "
                        "training-mode formula with the batch's statistics.",
                        (gh - gh.mean((0, 2, 3), keepdims=True)
                         - batch_hat * (gh * batch_hat).mean((0, 2, 3), keepdims=True))
                        * batch_inv[None, :, None, None])]

    def mistakes_grads(self, case, index, name):
        v = self._step(case, index)
        _, x_hat = self._normalised(v)
        x, g, C, H, W = v.x, v.g, v.C, v.H, v.W
        if name == "weight":
            return [Mistake("the gradient of `weight` is not summed over N, H and W: "
                            "(grad_out * x_hat).sum(axis=(0, 2, 3)).", shape=(C, H, W)),
                    Mistake("the gradient of `weight` is not summed over the batch and the "
                            "positions: sum over axes (0, 2, 3).", shape=x.shape),
                    Mistake("the gradient of `weight` is averaged; sum it over N, H and W.",
                            (g * x_hat).mean((0, 2, 3)))]
        return [Mistake("the gradient of `bias` is not summed over N, H and W: "
                        "grad_out.sum(axis=(0, 2, 3)).", shape=(C, H, W)),
                Mistake("the gradient of `bias` is summed over the batch only; sum over N, H "
                        "and W.", shape=(C, H, W)),
                Mistake("the gradient of `bias` is averaged; sum it over N, H and W.",
                        g.mean((0, 2, 3)))]
