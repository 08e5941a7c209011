"""Problem set 4, building and training a CNN: the tasks behind ``source/ps4``'s test cells.

=========================  ===========================================================
task                       how the judge decides
=========================  ===========================================================
``test_lenet5``            builds the student's class in the judged process and runs
                           forward passes with hooks on every leaf module (the layers'
                           shapes and parameters feed the diagnoses); then loads the
                           judge's own random weights into it and compares its scores
                           on fresh images with the judge's LeNet-5 holding the same
                           weights
``test_train_epoch``       one epoch of the student's loop on the judge's small CNN
                           (with dropout) against the judge's own loop: same weights,
                           same batches of fresh digits, same dropout masks; the
                           parameters afterwards and the mean loss
``test_evaluate``          the accuracy the student's function returns against the
                           judge's count (evaluation mode: dropout off)
``test_trained_model``     the notebook's trained ``model``, exported from the kernel as
                           arrays, evaluated in the judge's own LeNet-5 on the held-out
                           test split: at least :data:`REQUIRED_ACCURACY`
``test_early_stopping``    a pure function, through the case engine
``test_experiment``        the exported regularization results and the early-stopped
                           model: the best epoch recomputed from the recorded losses, and
                           the restored weights' validation loss computed by the judge
=========================  ===========================================================

``test_train_epoch`` and ``test_evaluate`` are procedure tasks (:mod:`.procedures`): each
case is a :class:`Batches` setup, and a typical mistake of the parameters or of the returned
value is named only when it explains every setup. ``test_early_stopping`` is a case task.

The judged process has NumPy and PyTorch, not the course: ``course.models`` (its
``LeNet5``, ``fit``, ...) and torchvision are not there. Training runs on the CPU in
float32 on both sides with the same seeds, so the two loops agree to rounding; the
stated tolerance (``|got - expected| <= 1e-5 + 1e-4 |expected|``) absorbs equivalent
ways of writing the loss. Every typical mistake (no ``zero_grad``, no ``model.train()``,
a softmax before the loss, a sum instead of a mean) moves the parameters or the loss by
more than 1e-2. When the judge has a GPU the trained model is evaluated on it.
"""
from __future__ import annotations

import math

import numpy as np

from . import references as refs
from .cases import Case, Mistake
from .engine import (
    CaseTask,
    IntResult,
    Task,
    ValuesTask,
    Verdict,
    as_float,
    as_int,
    kind_name,
    name_among,
    note,
    problem_set,
)
from .harness import torch_procedures, wire
from .procedures import ProcedureTask, Setup, memo

task = problem_set("ps4")

__all__ = ["EXPERIMENT_KEYS", "NUM_PARAMETERS", "REQUIRED_ACCURACY", "SPEC", "check_early_stopping",
           "check_evaluate", "check_experiment", "check_lenet5", "check_train_epoch",
           "check_trained_model"]

REQUIRED_ACCURACY = 0.95
"""Test accuracy the trained LeNet-5 must reach on ``data.mnist()``'s 1,000 test digits."""

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
"""LeNet-5 on the padded 32x32 MNIST digits: (layer, kind, output shape, parameters, module)."""

VALIDATION = 500
"""Part 4: the first VALIDATION digits of ``data.mnist()``'s validation split."""
SEEDS = 3
"""Part 4: every configuration is trained with this many seeds."""
EXPERIMENT_KEYS = ("baseline", "dropout", "weight_decay", "augmentation", "early_stopping")
RTOL, ATOL = 1e-4, 1e-5
ADVICE = ("write the network and the loop yourself with torch.nn (course.models and "
          "torchvision are off limits in this problem set).")


class TorchTask(Task):
    """A problem-set-4 task: PyTorch allowed, the course's models and torchvision refused."""

    allowed = ("numpy", "torch")
    libraries = False
    forbidden = (("course.models", "*"), ("torchvision", "*"))
    advice = ADVICE





def close(a: float, b: float, rtol=RTOL, atol=ATOL) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def _images(rng, n: int) -> np.ndarray:
    """n real digits (n, 1, 32, 32) drawn from the training split."""
    x = refs.mnist().x_train
    return x[np.array(rng.ints(0, len(x) - 1, n))].copy()


def reference_lenet(num_classes: int = 10):
    """The judge's own LeNet-5 of the specification."""
    nn = refs.torch().nn
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))


def lenet_from(module: wire.Module, num_classes: int = 10):
    """The judge's LeNet-5 holding the weights of an exported model, or a message."""
    if not isinstance(module, wire.Module):
        return None, f"expected a trained nn.Module, got {kind_name(module)}."
    where = _forbidden_base(module.classes)
    if where:
        return None, (f"Forbidden: the model is (or contains) `{where}`. Train your LeNet5 of "
                      "part 1, built from torch.nn layers; course.models and torchvision are off "
                      "limits here.")
    total = sum(int(np.prod(a.shape)) for name, a in module.state if name in module.parameters)
    if total != NUM_PARAMETERS - 850 + num_classes * 85:
        return None, (f"the model has {total:,} parameters; train your LeNet5 of part 1 "
                      f"({NUM_PARAMETERS:,} parameters).")
    net = reference_lenet(num_classes)
    floats = [(n, a) for n, a in module.state if n in module.parameters]
    problem = torch_procedures._load_by_shape(net, floats)
    if problem:
        return None, f"its weights do not fit LeNet-5: {problem}."
    return net.eval(), None



# --------------------------------------------------------------------------------------
# Part 1: the network
def _shape(spec_shape, n):
    return (n, *spec_shape)


def _table(records) -> str:
    lines = ["  layer   module                      input -> output          parameters"]
    for r in records:
        if r["kind"] in ("conv", "linear", "pool"):
            lines.append(f"  {r['name']:<7.7} {r['class']:<27} {_tuple(r['input'])} -> "
                         f"{_tuple(r['output'])}  {r['parameters']}")
    return "\n".join(lines)


def _tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def diagnose_layers(records, n, num_classes=10, complete=True) -> str | None:
    """The first layer that departs from SPEC, said in the student's terms.

    ``complete=False`` (the forward pass raised): layers that did not run yet are not
    reported missing.
    """
    for r in records:
        r["input"], r["output"] = _tuple(r["input"]), _tuple(r["output"])
    convs = [r for r in records if r["kind"] == "conv"]
    linears = [r for r in records if r["kind"] == "linear"]
    pools = [r for r in records if r["kind"] == "pool"]
    spec_out = {name: _shape(shape, n) for name, _, shape, _, _ in SPEC}
    spec_out["output"] = (n, num_classes)
    if complete and not convs:
        return "no nn.Conv2d layer ran: LeNet-5 starts with two convolutional layers (C1, C3)."
    if not convs:
        return None
    c1 = convs[0]
    if c1["input"] is not None and c1["input"][1:] != (1, 32, 32):
        side = c1["input"][-1] if len(c1["input"]) == 4 else None
        if side == 28:
            return ("wrong padding of the input: C1 receives 28x28 images, but LeNet-5's input "
                    "is 32x32 (data.mnist() pads MNIST's 28x28 digits by 2 on every side, so "
                    "that C1 gives 28x28 maps); do not crop or resize them.")
        return f"C1 should receive (N, 1, 32, 32), got {c1['input']}."
    if c1["output"] is not None and c1["output"] != spec_out["C1"]:
        if c1["output"][-2:] == (32, 32):
            return (f"wrong padding in C1 (padding={c1['padding']}): C1 is a valid 5x5 "
                    "convolution (padding=0) that turns the 32x32 input into 28x28 maps; "
                    "padding=2 keeps 32x32.")
        return (f"C1 gives {c1['output']}, expected {spec_out['C1']}: "
                "nn.Conv2d(1, 6, kernel_size=5), no padding, stride 1.")
    if complete and len(convs) < 2:
        return "only one nn.Conv2d ran: LeNet-5 has two convolutional layers (C1 and C3)."
    if len(convs) < 2:
        return None
    c3 = convs[1]
    if c3["input"] is not None and c3["input"] != spec_out["S2"]:
        if c3["input"] == spec_out["C1"]:
            return ("the pooling layer S2 is missing: C3 receives C1's 28x28 maps; LeNet-5 "
                    "halves them with a 2x2 max-pooling (nn.MaxPool2d(2)) after C1 and again "
                    "after C3.")
        return f"C3 should receive S2's output {spec_out['S2']}, got {c3['input']}."
    if c3["output"] is not None and c3["output"] != spec_out["C3"]:
        return (f"C3 gives {c3['output']}, expected {spec_out['C3']}: nn.Conv2d(6, 16, "
                "kernel_size=5), no padding.")
    if len(convs) > 2:
        return f"{len(convs)} convolutional layers ran; LeNet-5 has two (C1 and C3)."
    if complete and not linears:
        return "no nn.Linear layer ran: LeNet-5 ends with three dense layers (C5, F6, output)."
    if not linears:
        return None
    c5 = linears[0]
    in_features = c5["in_features"] if c5["in_features"] is not None else "?"
    if c5["input"] is not None and c5["input"] != (n, 400):
        size = int(np.prod(c5["input"][1:]))
        if len(c5["input"]) == 4 and c5["input"][1:] == spec_out["S4"][1:]:
            return ("the maps are not flattened: C5 receives (N, 16, 5, 5); flatten them to "
                    "(N, 400) first with torch.flatten(x, 1) or nn.Flatten().")
        if c5["input"][0] != n:
            return (f"the flatten mixes up the batch: C5 receives {c5['input']} for a batch of "
                    f"{n}; keep the batch axis with x.flatten(1) or x.view(x.size(0), -1).")
        if len(c5["input"]) == 2 and c5["input"][1] == 16 * 10 * 10:
            return ("the pooling layer S4 is missing: after C3 the 16 maps are 10x10 (1600 "
                    "values); a 2x2 max-pooling makes them 5x5 (16*5*5 = 400).")
        return (f"flatten size mismatch: C5 = nn.Linear({in_features}, ...) receives {size} "
                f"values per image (shape {c5['input']}); after S4 the maps are 16x5x5 = 400 "
                "values, so C5 is nn.Linear(400, 120).")
    if c5["input"] == (n, 400) and c5["in_features"] not in (None, 400):
        return (f"flatten size mismatch: C5 = nn.Linear({in_features}, ...) receives 400 "
                "values per image (the 16x5x5 maps of S4); C5 is nn.Linear(400, 120).")
    if complete and pools and len(pools) != 2:
        return f"{len(pools)} pooling layers ran; LeNet-5 has two (S2 and S4)."
    for record, name in zip(linears, ("C5", "F6", "output")):
        if record["output"] is not None and record["output"] != spec_out[name]:
            return f"{name} gives {record['output']}, expected {spec_out[name]}."
    if complete and len(linears) != 3:
        return f"{len(linears)} dense layers ran; LeNet-5 has three (C5, F6, output)."
    return None


def diagnose_parameters(build, records, num_classes=10) -> str | None:
    layers = [r for r in records if r["kind"] in ("conv", "linear")]
    specs = [s for s in SPEC if s[1] != "pool"]
    for record, (name, _, _, count, what) in zip(layers, specs):
        if name == "output":
            count = num_classes * 85
        if record["parameters"] != count:
            if not record["has_bias"]:
                return (f"{name} has no bias ({record['parameters']} parameters instead of "
                        f"{count}): every layer of LeNet-5 has one bias per output channel or "
                        "unit (bias=True, the default).")
            return f"{name} has {record['parameters']} parameters, expected {count} ({what})."
    total = build.get("total", 0)
    expected = NUM_PARAMETERS - 850 + num_classes * 85
    if total != expected:
        used = {r["name"] for r in layers}
        extra = [name for name, _, has in build.get("modules", []) if has and name not in used
                 and name]
        return (f"the model has {total} parameters, LeNet-5 has {expected}; modules with "
                f"parameters that are not among the layers of the specification: {extra}.")
    return None


def probabilities(output: np.ndarray) -> str | None:
    rows = np.asarray(output, dtype=np.float64)
    if rows.ndim == 2 and np.all(rows >= 0) and np.allclose(rows.sum(1), 1, atol=1e-4):
        return ("forward returns probabilities (each row is >= 0 and sums to 1): remove the "
                "softmax and return the raw scores (logits). F.cross_entropy applies "
                "log-softmax itself; a softmax before it squashes the gradients and training "
                "stalls.")
    if rows.ndim == 2 and np.all(rows <= 0) and np.allclose(np.exp(rows).sum(1), 1, atol=1e-4):
        return ("forward returns log-probabilities (log_softmax): return the raw scores "
                "(logits); F.cross_entropy applies log-softmax itself.")
    return None


def _forbidden_base(mro: list[str]) -> str | None:
    for name in mro:
        if name.startswith(("course.", "torchvision")):
            return name
    return None


@task("test_lenet5", function="LeNet5")
class LeNet5(TorchTask, ProcedureTask):
    """The student's LeNet-5 class against :data:`SPEC`, then against the judge's copy: one
    setup per way of building it, in this order (``LeNet5()`` traced on batches, with the
    batch-of-5 check when hidden; ``num_classes=3``; ``dropout=0.5``; with the judge's
    weights), each built and run by the ``build_and_run`` procedure."""

    procedure = "build_and_run"

    def cases(self, rng, hidden):
        main = [{"x": _images(rng, 4), "mode": "eval", "trace": True}]
        builds = [{"kwargs": {}, "seed": 0, "n": 4, "classes": 10, "runs": main,
                   "label": "LeNet5() on a batch of 4 digits"}]
        torch = refs.torch()
        weights_rng = rng.child("weights")
        torch.manual_seed(weights_rng.ints(0, 2**31, 1)[0])
        reference = reference_lenet(10).eval()
        probe = _images(rng, 6)
        with torch.no_grad():
            expected = reference(torch.as_tensor(probe)).numpy()
        state = [(n, p.detach().numpy().copy()) for n, p in reference.named_parameters()]
        if hidden:
            builds[0]["label"] = ("LeNet5() on batches of 4, 1, 7 and 5 digits (and those 5 one "
                                  "at a time)")
            builds.append({"kwargs": {}, "seed": 0, "label": "LeNet5() with the judge's weights",
                           "state": state, "runs": [{"x": probe, "mode": "eval"}],
                           "expected": expected})
            main += [{"x": _images(rng, 1), "mode": "eval", "trace": True},
                     {"x": _images(rng, 7), "mode": "eval", "trace": True}]
            together = _images(rng, 5)
            main.append({"x": together, "mode": "eval"})
            builds[0]["together"] = True  # runs 4 to 9: the batch of 5, then one at a time
            main += [{"x": together[i:i + 1], "mode": "eval"} for i in range(5)]
            builds.append({"kwargs": {"num_classes": 3}, "seed": 1, "label": "LeNet5(num_classes=3)",
                           "n": 3, "classes": 3,
                           "runs": [{"x": _images(rng, 3), "mode": "eval", "trace": True}]})
            x = _images(rng, 8)
            builds.append({"kwargs": {"dropout": 0.5}, "seed": 2,
                           "label": "LeNet5(dropout=0.5) in training and evaluation mode",
                           "n": 4, "classes": 10,
                           "runs": [{"x": _images(rng, 4), "mode": "eval", "trace": True},
                                    {"x": x, "mode": "train", "seed": 3},
                                    {"x": x, "mode": "train", "seed": 4},
                                    {"x": x, "mode": "eval"}, {"x": x, "mode": "eval"}]})
        setups = []  # the judge's weights last: a network must first be right on its own
        for position, spec in enumerate(sorted(builds, key=lambda spec: "state" in spec)):
            data = {"builds": [{k: v for k, v in spec.items()
                                if k in ("kwargs", "seed", "state", "runs")}]}
            setup = Setup(spec["label"], data, position)  # in this order: LeNet5() first
            setup.spec = spec
            setups.append(setup)
        return setups

    def expect(self, case):
        return {}, "LeNet-5's specification and the judge's LeNet-5"

    def refused(self, target, case, outcome):
        if outcome.kind == "forbidden":  # say what the class derives from, if that is why
            inspected = target.procedure(self, self.procedure, self.function, {"builds": []})
            where = _forbidden_base(inspected.value.get("mro", [])) if inspected.ok else None
            if where:
                return (f"Forbidden: `LeNet5` is (or derives from) `{where}`. Write the class "
                        "yourself, derived from nn.Module only.")
        return outcome.message()

    def judge_reply(self, case, reply, expected, where):
        problem = self._class(reply)
        if problem:
            return problem
        spec, build = case.spec, reply["builds"][0]
        if build.get("error") and "state" not in spec:
            return f"Your code raised {build['error']}"
        for name, cls, _ in build.get("modules", []):
            if str(cls).startswith(("course.", "torchvision")):
                what = f"its submodule `{name}`" if name else "the model itself"
                return (f"Forbidden: {what} is (or derives from) `{cls}`. Build LeNet-5 yourself "
                        "from torch.nn layers; course.models and torchvision are off limits here.")
        if "state" in spec:
            return self._judge_weights(build, spec["expected"])
        for run, result in zip(spec["runs"], build["runs"]):
            if run.get("trace"):
                problem = self._forward(run, result, build, spec["classes"])
                if problem:
                    return f"A forward pass on a batch of shape {tuple(run['x'].shape)}:\n{problem}"
        if spec["kwargs"].get("dropout"):
            return self._dropout(build["runs"])
        if spec.get("together"):
            return self._batch_independent(build["runs"])
        return None

    @staticmethod
    def _class(info) -> str | None:
        """What is wrong with the object passed, before any build."""
        if info.get("missing"):
            return "`LeNet5` is not defined."
        if info.get("is_instance"):
            return "Pass the class itself (`LeNet5`), not a model."
        if not info.get("is_module"):
            return "`LeNet5` must be a class derived from nn.Module."
        where = _forbidden_base(info.get("mro", []))
        if where:
            return (f"Forbidden: `LeNet5` is (or derives from) `{where}`. Write the class "
                    "yourself, derived from nn.Module only.")
        return None

    def passed(self, cases, hidden, where):
        which = "hidden" if hidden else "visible"
        message = (f"LeNet5: all {which} checks passed: every layer as specified, "
                   f"{NUM_PARAMETERS:,} parameters, logits, and the same scores as the judge's "
                   "LeNet-5 with the same weights.")
        if not hidden:
            table = "\n".join(f"  {name:<7} {(4, *shape)!s:<18} {params:>6}"
                              for name, _, shape, params, _ in SPEC)
            message += "\n  layer   output (N=4)       params\n" + table
        return message

    @staticmethod
    def _judge_weights(judged, expected) -> str | None:
        """The student's network with the judge's weights against the judge's LeNet-5."""
        if judged.get("error"):
            return f"{judged['error'][0].upper()}{judged['error'][1:]}."
        got = judged["runs"][0].get("output")
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return (f"the scores have shape {getattr(got, 'shape', None)}, expected "
                    f"{expected.shape}.")
        scale = 1 + float(np.max(np.abs(expected)))
        if not np.all(np.abs(got.astype(np.float64) - expected) <= 1e-4 * scale):
            return ("with the judge's random weights loaded into your layers, your network's "
                    "scores differ from LeNet-5's with the same weights. Check the order of the "
                    "layers, ReLU after C1, C3, C5 and F6 (not after the output), max-pooling "
                    "(not average), and that the 32x32 input is used as it is.\n  expected:\n    "
                    f"{np.array2string(expected[:2], precision=4)}\n  got:\n    "
                    f"{np.array2string(got[:2], precision=4)}")
        return None

    def _forward(self, run, result, build, classes) -> str | None:
        n = run["x"].shape[0]
        records = result.get("records", [])
        if result.get("error"):
            diagnosis = diagnose_layers(records, n, classes, complete=False)
            lines = [f"Your code raised {result['error']}"]
            if diagnosis:
                lines.append(f"Likely mistake: {diagnosis}")
            lines.append("Layers that ran before the error:\n" + _table(records))
            return "\n".join(lines)
        output = result.get("output")
        if not isinstance(output, np.ndarray):
            hint = " Did you forget `return`?" if output is None else ""
            return f"forward must return a tensor, got {kind_name(output)}.{hint}"
        diagnosis = diagnose_layers(records, n, classes)
        if diagnosis is None and output.shape != (n, classes):
            diagnosis = (f"the output has shape {output.shape}; expected ({n}, {classes}): one "
                         "score per class for every image of the batch.")
        if diagnosis:
            return f"Likely mistake: {diagnosis}\nYour layers:\n{_table(records)}"
        softmax = [r for r in records if r["kind"] == "softmax"]
        problem = probabilities(output)
        if problem is None and softmax:
            problem = f"a {softmax[0]['class']} module runs in forward; return logits."
        if problem:
            return f"Likely mistake: {problem}"
        problem = diagnose_parameters(build, records, classes)
        if problem:
            return f"Likely mistake: {problem}\nYour layers:\n{_table(records)}"
        return None

    @staticmethod
    def _batch_independent(runs) -> str | None:
        """A batch of 5 against the same images one at a time (the hidden runs 4 to 9)."""
        together, alone = runs[3], runs[4:9]
        if together.get("output") is not None and all(a.get("output") is not None for a in alone):
            single = np.concatenate([a["output"] for a in alone])
            got = together["output"]
            scale = 1 + float(np.max(np.abs(single)))
            if got.shape != single.shape or np.any(np.abs(got - single) > 1e-4 * scale):
                return ("A batch of 5 against the same images one at a time:\nLikely mistake: "
                        "the images of a batch influence each other's scores; flatten each "
                        "image separately with x.flatten(1) (keep axis 0).")
        return None

    @staticmethod
    def _dropout(runs) -> str | None:
        a, b, c, d = (r.get("output") for r in runs[1:5])
        if all(isinstance(v, np.ndarray) for v in (a, b)) and np.array_equal(a, b):
            return ("two forward passes in training mode gave the same scores: the `dropout` "
                    "argument has no effect. Add nn.Dropout(dropout) before the dense layers "
                    "(C5, F6, output).")
        if all(isinstance(v, np.ndarray) for v in (c, d)) and not np.array_equal(c, d):
            return ("two forward passes in evaluation mode differ: use nn.Dropout modules "
                    "(they switch off in model.eval()), not F.dropout(x, p) with training=True.")
        return None


# --------------------------------------------------------------------------------------
# Part 2: the training loop and the evaluation
class Batches(Setup):
    """One case of part 2: fresh digits, the small CNN's initial weights, optimizer and seed."""

    def __init__(self, rng, label, count, batch_size, optimizer, device="cpu"):
        x, y = refs.digits()[:2]
        self.index = np.array(sorted(rng.ints(0, len(x) - 1, count)))
        self.x, self.y = x[self.index], y[self.index]
        self.batch_size, self.optimizer, self.device = batch_size, optimizer, device
        self.seed = rng.ints(0, 2**31, 1)[0]
        torch = refs.torch()
        torch.manual_seed(self.seed)
        self.state = [(n, t.detach().numpy().copy())
                      for n, t in torch_procedures.small_net().state_dict().items()]
        super().__init__(f"{label} ({count} images, device {device})", {}, count)

    def data(self) -> dict:
        return {"state": self.state, "optimizer": self.optimizer, "x": self.x, "y": self.y,
                "batch_size": self.batch_size, "seed": self.seed + 1, "device": self.device}

    def model(self):
        model = torch_procedures.small_net()
        torch_procedures.load_state(model, self.state)
        return model.to(self.device)

    def loader(self):
        torch = refs.torch()
        return torch_procedures.Loader(torch.as_tensor(self.x).to(self.device),
                                       torch.as_tensor(self.y).to(self.device), self.batch_size)


def reference_epoch(setup: Batches, *, zero_grad=True, train=True, softmax=False, step=True):
    """The judge's loop (and its typical wrong variants): (parameters, [(loss, n), ...])."""
    torch = refs.torch()
    F = torch.nn.functional
    model = setup.model()
    optimizer = torch_procedures.make_optimizer(setup.optimizer, model.parameters())
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
    return torch_procedures.parameters_of(model), losses


def params_differ(got, expected):
    """None when every parameter is close, else (name, index, got, expected)."""
    if not isinstance(got, list) or len(got) != len(expected):
        return ("the parameters", 0, float("nan"), float("nan"))
    for pair, (name, e) in zip(got, expected):
        g = pair[1] if isinstance(pair, (list, tuple)) and len(pair) == 2 else None
        if not isinstance(g, np.ndarray) or g.shape != e.shape:
            return (name, 0, float("nan"), float("nan"))
        bad = ~(np.abs(g.astype(np.float64) - e) <= ATOL + RTOL * np.abs(e))
        if bad.any():
            i = int(np.argmax(bad.ravel()))
            return name, i, float(g.ravel()[i]), float(e.ravel()[i])
    return None


def _number(value):
    return None if isinstance(value, wire.Tensor) else as_float(value)


class LoopTask(TorchTask, ProcedureTask):
    """A part-2 task: the student's loop run by a catalogue procedure on the judge's small
    CNN, one :class:`Batches` per case; the parts are ``"parameters"`` afterwards and the
    returned ``"value"``."""

    def agrees(self, part, got, value):
        if part == "parameters":
            return params_differ(got, value) is None
        got, value = _number(got), _number(value)
        return got is not None and value is not None and self.close(got, value)

    def close(self, got: float, value: float) -> bool:
        raise NotImplementedError

    counted = True

    def summary(self, cases):
        return self.expected(cases[-1])[1] + "."

    @staticmethod
    def raised(reply: dict) -> str | None:
        return f"Your code raised {reply['error']}" if reply.get("error") else None


@task("test_train_epoch")
class TrainEpoch(LoopTask):
    """``train_epoch(model, loader, optimizer, device) -> mean loss``, against the judge's loop."""

    procedure = "train_epoch"
    VARIANTS = (
        ("optimizer.zero_grad() is missing: the gradients of all batches add up, so every step "
         "uses the sum of the gradients so far. Call optimizer.zero_grad() before "
         "loss.backward() in every batch.", {"zero_grad": False}),
        ("model.train() is missing. The model is handed over in evaluation mode (as it is "
         "after evaluate()); without model.train() at the start of the epoch dropout stays off "
         "while training.", {"train": False}),
        ("the loss is computed on softmax outputs: F.cross_entropy (and nn.CrossEntropyLoss) "
         "expects the raw scores (logits) and applies log-softmax itself.", {"softmax": True}),
        ("the parameters did not change: call loss.backward() and then optimizer.step() (the "
         "optimizer passed as argument) for every batch.", {"step": False}),
    )
    """The wrong loops a student typically writes: (what they did, the reference's options)."""

    def cases(self, rng, hidden):
        setups = [Batches(rng, "one epoch of SGD with momentum, 4 batches of 16 images", 64, 16,
                          "sgd")]
        if hidden:
            setups += [Batches(rng, "one epoch of Adam, batches of 32, 32 and 6 images", 70, 32,
                               "adam"),
                       Batches(rng, "one epoch of SGD with momentum, 5 batches of 20", 100, 20,
                               "sgd")]
        return setups

    def expect(self, case):
        parameters, losses = reference_epoch(case)
        mean = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
        case.losses = losses
        return ({"parameters": parameters, "value": mean},
                f"parameters and mean loss equal the judge's loop's, float32, rtol {RTOL:g}")

    def close(self, got, value):
        return close(got, value)

    def mistakes(self, case, part):
        self.expected(case)  # computes case.losses
        losses = case.losses
        if part == "parameters":
            return memo(case, "parameters", lambda: [
                Mistake(message, reference_epoch(case, **options)[0])
                for message, options in self.VARIANTS])
        return [
            Mistake("you returned the sum of the batch losses; return the mean over the "
                    "examples of the epoch.", sum(loss for loss, _ in losses)),
            Mistake("you returned the sum over all examples; divide by the number of examples.",
                    sum(loss * n for loss, n in losses)),
            Mistake("you averaged the batch means; the last batch is smaller, so weight each "
                    "batch's mean loss by its size (loss.item() * len(y)) and divide by the "
                    "number of examples.", sum(loss for loss, _ in losses) / len(losses)),
            Mistake("you returned the last batch's loss; return the mean over the whole epoch.",
                    losses[-1][0]),
        ]

    def judge_reply(self, case, reply, expected, where):
        problem = self.raised(reply)
        if problem:
            return problem
        batches = len(case.losses)
        difference = params_differ(reply.get("parameters"), expected["parameters"])
        calls = reply.get("calls") or []
        if difference is not None and isinstance(calls, list) and len(calls) != batches:
            return (f"the model was called {len(calls)} times for {batches} batches: call it "
                    "once per batch of the loader, nothing else.")
        if difference is not None:
            name, index, g, e = difference
            return "\n".join([
                f"After the epoch your parameters differ from the judge's loop's: `{name}`"
                f"[{index}] = {g:.6g}, expected {e:.6g} (tolerance |got - expected| <= {ATOL:g} + "
                f"{RTOL:g} * |expected|).",
                self.wrong(case, "parameters", reply.get("parameters"), expected["parameters"],
                           "No typical mistake matches. Check that you use the optimizer passed "
                           "as argument (not a new one), call the model once per batch on the "
                           "batch as given, F.cross_entropy(scores, y), loss.backward() and "
                           "optimizer.step().")])
        value = reply.get("value")
        if isinstance(value, wire.Tensor):
            return ("Return a Python float (loss.item()), got a tensor: accumulating tensors "
                    "keeps every batch's graph in memory.")
        got = _number(value)
        if got is None:
            hint = " Did you forget `return`?" if value is None else ""
            return f"Return the mean loss as a float, got {kind_name(value)}.{hint}"
        if not close(got, expected["value"]):
            return "\n".join([
                f"Wrong return value: expected the mean loss {expected['value']:.6g} over the "
                f"{case.count} examples, got {got:.6g}.",
                self.wrong(case, "value", value, expected["value"],
                           "No typical mistake gives this value.")])
        return None


@task("test_evaluate")
class Evaluate(LoopTask):
    """``evaluate(model, loader, device) -> accuracy`` against the judge's count."""

    procedure = "evaluate"

    def cases(self, rng, hidden):
        setups = [Batches(rng, "64 images in 4 batches of 16", 64, 16, "sgd")]
        if hidden:
            setups += [Batches(rng, "90 images in batches of 32, 32 and 26", 90, 32, "sgd"),
                       Batches(rng, "100 images in batches of 40, 40 and 20", 100, 40, "adam")]
        for setup in setups:  # trained a little, so that its predictions are not all alike
            setup.state = self._trained(setup)
        return setups

    @staticmethod
    def _trained(setup: Batches) -> list:
        torch = refs.torch()
        trained = setup.model()
        optimizer = torch_procedures.make_optimizer(setup.optimizer, trained.parameters())
        x, y = refs.digits()[:2]
        torch.manual_seed(setup.seed)
        trained.train()
        for start in range(0, 300, 30):
            optimizer.zero_grad()
            scores = trained(torch.as_tensor(x[start:start + 30]))
            torch.nn.functional.cross_entropy(scores, torch.as_tensor(y[start:start + 30])).backward()
            optimizer.step()
        return [(n, t.detach().numpy().copy()) for n, t in trained.state_dict().items()]

    def expect(self, case):
        torch = refs.torch()
        model = case.model().eval()
        correct, per_batch = 0, []
        with torch.no_grad():
            for xb, yb in case.loader():
                hits = int((model(xb).argmax(1) == yb).sum())
                correct += hits
                per_batch.append((hits, len(yb)))
        model.train()
        torch.manual_seed(case.seed + 1)
        with torch.no_grad():
            dropped = sum(int((model(xb).argmax(1) == yb).sum())
                          for xb, yb in case.loader()) / case.count
        case.counts = correct, per_batch, dropped
        return ({"value": correct / case.count,
                 "parameters": torch_procedures.parameters_of(model)},
                "the judge's count, dropout off")

    def close(self, got, value):
        return abs(got - value) <= 1e-9

    def mistakes(self, case, part):
        if part != "value":
            return []
        expected = self.expected(case)[0]["value"]
        correct, per_batch, dropped = case.counts
        return [
            Mistake("model.eval() is missing. The model is handed over in training mode (as it "
                    "is after train_epoch); dropout then drops units at random while "
                    "evaluating.", dropped),
            Mistake("you returned the number of correct predictions; divide by the number of "
                    "images.", correct),
            Mistake("you returned a percentage; return a fraction in [0, 1].", 100 * expected),
            Mistake("you averaged the batch accuracies; the last batch is smaller: count the "
                    "correct predictions over all batches and divide by the number of images.",
                    sum(h / n for h, n in per_batch) / len(per_batch)),
            Mistake("you returned the last batch's accuracy; count over the whole loader.",
                    per_batch[-1][0] / per_batch[-1][1]),
            Mistake("you returned the error rate; return the accuracy.", 1 - expected),
        ]

    def judge_reply(self, case, reply, expected, where):
        problem = self.raised(reply)
        if problem:
            return problem
        if params_differ(reply.get("parameters"), expected["parameters"]) is not None:
            return ("evaluate changed the model's parameters: it must not train (no backward, "
                    "no optimizer step).")
        value = reply.get("value")
        got = _number(value)
        if got is None:
            hint = " (use .item())" if isinstance(value, wire.Tensor) else ""
            return f"Return the accuracy as a float, got {kind_name(value)}{hint}."
        if not self.close(got, expected["value"]):
            correct = case.counts[0]
            return "\n".join([
                f"Wrong accuracy: expected {expected['value']:.6g} ({correct} of {case.count} "
                f"images), got {got:.6g}.",
                self.wrong(case, "value", value, expected["value"],
                           "No typical mistake gives this value.")])
        calls = reply.get("calls") or []
        if isinstance(calls, list) and any(isinstance(c, list) and len(c) == 2 and c[1]
                                           for c in calls):
            note("Note (no points lost): the model ran with gradients on; wrap the evaluation "
                 "in `with torch.no_grad():` to save memory and time.")
        return None


# --------------------------------------------------------------------------------------
# Part 3: the trained model
def _evaluate_lenet(net, x, y, batch_size=512):
    torch = refs.torch()
    dev = refs.device()
    net = net.to(dev)
    correct, scores = 0, []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            s = net(torch.as_tensor(x[i:i + batch_size]).to(dev))
            scores.append(s.double().cpu())
            correct += int((s.argmax(1).cpu() == torch.as_tensor(y[i:i + batch_size])).sum())
    return correct, torch.cat(scores), dev.type


@task("test_trained_model", values=("model",))
class TrainedModel(TorchTask, ValuesTask):
    """The notebook's trained ``model``, evaluated by the judge on the held-out test split."""

    what = "the trained model"
    heldout = True

    def judge_values(self, values, rng, hidden):
        model = values["model"]
        net, problem = lenet_from(model)
        if problem:
            return self.fail(hidden, "the model", problem)
        digits = self.test_digits(32, hidden)
        correct, _, device = _evaluate_lenet(net, digits.x, digits.y)
        accuracy = correct / len(digits.y)
        if accuracy < REQUIRED_ACCURACY:
            return self.fail(hidden, "accuracy on the held-out test split", (
                f"your model classifies {correct} of {len(digits.y)} test images correctly "
                f"(accuracy {accuracy:.4f} on {digits.where}, computed by the judge on "
                f"{device}); at least {REQUIRED_ACCURACY} is required. Train longer or with a "
                "larger learning rate (e.g. Adam, lr=3e-3, 12 epochs, batches of 32), and check "
                "that the loss goes down."))
        return Verdict(True, f"trained model: test accuracy {accuracy:.4f} ({correct} of "
                             f"{len(digits.y)}: {digits.where}, computed by the judge on "
                             f"{device}) >= {REQUIRED_ACCURACY}. Passed.")


# --------------------------------------------------------------------------------------
# Part 4: early stopping and the regularization experiment
def early_stopping_reference(val_losses, patience, *, reset=True, strict=True, patience_shift=0,
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


@task("test_early_stopping")
class EarlyStopping(CaseTask):
    result = IntResult()
    allowed = TorchTask.allowed
    libraries = False
    forbidden = TorchTask.forbidden
    advice = ADVICE

    def cases(self, rng, hidden):
        lecture = [0.9, 0.7, 0.6, 0.65, 0.62, 0.7, 0.5]
        cases = [self._case(lecture, 2), self._case(lecture, 5),
                 self._case([1.0, 0.8, 0.7, 0.65, 0.6], 1)]
        if hidden:
            fixed = [
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
            ]
            for _ in range(4):  # fresh curves: noisy and falling, with ties
                n = rng.ints(4, 14, 1)[0]
                losses = [round(1.0 / (1 + 0.3 * t) + v / 20, 2)
                          for t, v in enumerate(rng.ints(0, 4, n))]
                fixed.append((losses, rng.ints(1, 4, 1)[0]))
            cases += [self._case(losses, patience) for losses, patience in fixed]
        return cases

    @staticmethod
    def _case(losses, patience):
        return Case(f"val_losses={losses}, patience={patience}",
                    (("val_losses", list(losses)), ("patience", patience)))

    def expected(self, case):
        i = case.inputs()
        return early_stopping_reference(list(i["val_losses"]), i["patience"]), ""

    def shape_formula(self, case):
        return ("an epoch improves when its loss is strictly lower than the best so far; "
                "stop after `patience` epochs in a row without improvement; return the best "
                "epoch seen (0-based)")

    def mistakes(self, case):
        i = case.inputs()
        losses, patience = list(i["val_losses"]), i["patience"]
        best_overall = min(range(len(losses)), key=lambda k: (losses[k], k))
        return [
            Mistake("the patience is ignored: you returned the best epoch of the whole list; "
                    "training stops (and nothing later counts) once `patience` epochs in a row "
                    "bring no improvement.", best_overall),
            Mistake("you returned the epoch at which training stops; return the best epoch, "
                    "whose weights are restored.",
                    early_stopping_reference(losses, patience, return_stop=True)),
            Mistake("the counter of epochs without improvement is not reset to 0 when the "
                    "loss improves.", early_stopping_reference(losses, patience, reset=False)),
            Mistake("an equal loss counts as an improvement; only a strictly lower loss does "
                    "(and the earlier epoch is kept).",
                    early_stopping_reference(losses, patience, strict=False)),
            Mistake("off by one: you stop after patience + 1 epochs without improvement.",
                    early_stopping_reference(losses, patience, patience_shift=1)),
            Mistake("off by one: you stop after patience - 1 epochs without improvement.",
                    early_stopping_reference(losses, patience, patience_shift=-1)),
            Mistake("epochs are numbered from 0 (the first epoch is epoch 0).",
                    early_stopping_reference(losses, patience, one_based=True)),
        ]


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


@task("test_experiment", values=("results", "es_model"))
class Experiment(TorchTask, ValuesTask):
    """The regularization results (three seeds each) and the early-stopped model."""

    what = "`results` and `es_model`"

    def judge_values(self, values, rng, hidden):
        results, es_model = values["results"], values["es_model"]
        problem = self._structure(results)
        if problem:
            return self.fail(hidden, *problem)
        for seed, es in enumerate(results["early_stopping"]):
            problem = self._stopping(es, seed)
            if problem:
                return self.fail(hidden, *problem)
        es = results["early_stopping"][0]
        losses, best = [float(v) for v in es["val_losses"]], es["best_epoch"]
        net, problem = lenet_from(es_model)
        if problem:
            return self.fail(hidden, "es_model", problem)
        torch = refs.torch()
        digits = refs.mnist()
        x, y = digits.x_val[:VALIDATION], digits.y_val[:VALIDATION]
        _, scores, device = _evaluate_lenet(net, x, y)
        labels = torch.as_tensor(y)
        loss = torch.nn.functional.cross_entropy(scores, labels).item()
        # a network whose forward ends in a softmax (marked down in part 1) recorded the loss
        # of its probabilities: judge the restoring, not that mistake again
        squashed = torch.nn.functional.cross_entropy(scores.softmax(1), labels).item()
        target_loss = losses[best]
        if close(squashed, target_loss, 1e-3, 1e-4) and not close(loss, target_loss, 1e-3, 1e-4):
            loss = squashed
        if not close(loss, target_loss, 1e-3, 1e-4):
            lines = [f"es_model's validation loss is {loss:.6g} (computed by the judge on the "
                     f"first {VALIDATION} validation digits), but the recorded loss of the best "
                     f"epoch {best} of seed 0 is {target_loss:.6g}."]
            kept = Mistake("the weights of the last epoch were kept. Save the best weights "
                           "when the loss improves (best = copy.deepcopy(model.state_dict())) "
                           "and restore them at the end (model.load_state_dict(best)).",
                           losses[-1])
            lines.append(name_among(loss, [kept], target_loss,
                                    lambda a, b: close(a, b, 1e-3, 1e-4), ""))
            return self.fail(hidden, "the restored model", "\n".join(filter(None, lines)))
        accuracy = float(np.mean(scores.argmax(1).numpy() == y))
        if hidden and abs(accuracy - float(es["val_acc"])) > 1.5 / VALIDATION:
            return self.fail(hidden, "results['early_stopping'][0]['val_acc']",
                             f"es_model's validation accuracy is {accuracy:.4f}, but you recorded "
                             f"{float(es['val_acc']):.4f}: record the accuracy of the restored model.")
        which = "hidden" if hidden else "visible"
        return Verdict(True, f"{self.name}: all {which} checks passed ({SEEDS} seeds per "
                             f"configuration; seed 0's best epoch {best}, its restored model's "
                             f"validation loss {loss:.4f}, computed by the judge).")

    @staticmethod
    def _structure(results):
        if not isinstance(results, dict):
            return "`results`", f"`results` must be a dict, got {kind_name(results)}."
        for key in EXPERIMENT_KEYS:
            if key not in results:
                return "`results`", (f"`results` has no entry {key!r}; expected the keys "
                                     f"{list(EXPERIMENT_KEYS)}.")
            runs = results[key]
            if not isinstance(runs, (list, tuple)) or len(runs) != SEEDS:
                return f"results[{key!r}]", (f"expected a list of {SEEDS} results, one per seed "
                                             f"of SEEDS, got {kind_name(runs)}"
                                             + (f" of length {len(runs)}" if isinstance(runs, (list, tuple)) else "") + ".")
            for seed, entry in enumerate(runs):
                if not isinstance(entry, dict):
                    return f"results[{key!r}][{seed}]", f"expected a dict, got {kind_name(entry)}."
                for field in ("train_acc", "val_acc"):
                    value = entry.get(field)
                    if not _is_number(value) or not 0 <= value <= 1:
                        return (f"results[{key!r}][{seed}][{field!r}]",
                                f"expected an accuracy, a float in [0, 1], got {value!r}.")
        return None

    @staticmethod
    def _stopping(es, seed):
        where = f"results['early_stopping'][{seed}]"
        losses, patience, best = es.get("val_losses"), es.get("patience"), es.get("best_epoch")
        if not isinstance(losses, (list, tuple)) or len(losses) < 2 \
                or not all(_is_number(v) and math.isfinite(float(v)) for v in losses):
            return (f"{where}['val_losses']",
                    "expected a list of floats, the validation loss after every epoch run.")
        losses = [float(v) for v in losses]
        # a NumPy integer is as good as a Python int (np.argmin gives one)
        patience, best = as_int(es.get("patience")), as_int(es.get("best_epoch"))
        if patience is None or patience < 1:
            return f"{where}['patience']", f"expected an int >= 1, got {es.get('patience')!r}."
        if best is None:
            return f"{where}['best_epoch']", f"expected an int, got {es.get('best_epoch')!r}."
        expected_best = early_stopping_reference(losses, patience)
        stop = early_stopping_reference(losses, patience, return_stop=True)
        if best != expected_best:
            return (f"the best epoch of seed {seed}", f"you recorded best_epoch={best}, but your "
                    f"validation losses give epoch {expected_best} (loss "
                    f"{losses[expected_best]:.4g}) with patience {patience}.")
        if stop < len(losses) - 1:
            return (f"when training stopped (seed {seed})", f"training went on after the "
                    f"patience ran out: after epoch {stop} the loss had not improved for "
                    f"{patience} epochs, but {len(losses)} epochs were recorded.")
        return None


check_lenet5 = LeNet5.check
check_train_epoch = TrainEpoch.check
check_evaluate = Evaluate.check
check_trained_model = TrainedModel.check
check_early_stopping = EarlyStopping.check
check_experiment = Experiment.check
