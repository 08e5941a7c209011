"""Unit tests of course/grading/ps4.py: the ps4 tasks and their diagnoses, as a student
sees them in the notebook (the judge runs the same tasks when grading: tests/test_judge.py).

The correct implementations are the instructor solutions of source/ps4, executed here;
each wrong one is a typical mistake. Runtime: about 40 s on 2 cores.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course import data, models
from course.grading import ps4 as checks
from coursekit import instructor_namespace

PRELUDE = """
import copy, time
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from course import data, models
"""


def _solutions() -> dict:
    return instructor_namespace("ps4", ("lenet5", "train_epoch", "evaluate", "early_stopping"),
                                prelude=PRELUDE)


PS4 = _solutions()
LeNet5, train_epoch, evaluate = PS4["LeNet5"], PS4["train_epoch"], PS4["evaluate"]
early_stopping = PS4["early_stopping"]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fails(check, *args, hidden=True) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, hidden=hidden)
    return str(info.value)


# --- the specification -------------------------------------------------------------------
def test_spec_matches_the_course_lenet5_layer_by_layer():
    reference = models.LeNet5(input_size=32)  # the padded MNIST digits of ps4
    assert sum(p.numel() for p in reference.parameters()) == checks.NUM_PARAMETERS == 61706
    assert sum(row[3] for row in checks.SPEC) == 61706
    traced = {name: shape for name, _, shape in models.trace_shapes(reference, (3, 1, 32, 32))}
    ours = [traced[n] for n in ("features.0", "features.2", "features.3", "features.5",
                                "classifier.0", "classifier.2", "classifier.4")]
    assert ours == [(3, *row[2]) for row in checks.SPEC]
    layers = [m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [sum(p.numel() for p in m.parameters()) for m in layers] == [
        row[3] for row in checks.SPEC if row[1] != "pool"]


# --- instructor solutions pass -----------------------------------------------------------
@pytest.mark.parametrize("hidden", [False, True])
def test_instructor_solutions_pass(hidden, capsys):
    checks.check_lenet5(LeNet5, hidden=hidden)
    checks.check_train_epoch(train_epoch, hidden=hidden)
    checks.check_evaluate(evaluate, hidden=hidden)
    checks.check_early_stopping(early_stopping, hidden=hidden)
    out = capsys.readouterr().out
    which = "hidden" if hidden else "visible"
    assert f"LeNet5: all {which} checks passed" in out
    assert f"train_epoch: all {3 if hidden else 1} {which}" in out
    assert f"evaluate: all {3 if hidden else 1} {which}" in out
    assert (f"early_stopping: all {17 if hidden else 3} "
            f"{'cases (visible and on fresh inputs)' if hidden else 'visible cases'} passed") in out
    assert "Note" not in out


# --- part 1: the network -----------------------------------------------------------------
class Base(nn.Module):
    """The instructor's layers; subclasses override one thing."""

    crop, c1_padding, bias, flatten_features, head = 0, 0, True, 400, None

    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=self.c1_padding, bias=self.bias)
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Linear(self.flatten_features, 120)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, num_classes)
        self.drop = nn.Dropout(dropout)

    def input(self, x):
        return x[..., self.crop:x.shape[-2] - self.crop, self.crop:x.shape[-1] - self.crop]

    def features(self, x):
        return self.s4(F.relu(self.c3(self.s2(F.relu(self.c1(self.input(x)))))))

    def flat(self, x):
        return torch.flatten(x, 1)

    def forward(self, x):
        x = self.flat(self.features(x))
        x = F.relu(self.f6(self.drop(F.relu(self.c5(self.drop(x))))))
        return self.out(self.drop(x))


class NoS2(Base):
    def features(self, x):
        return self.s4(F.relu(self.c3(F.relu(self.c1(self.input(x))))))


class NoS4(Base):
    def features(self, x):
        return F.relu(self.c3(self.s2(F.relu(self.c1(self.input(x))))))


class To28(Base):
    crop = 2  # MNIST's own 28x28, the padding cut off


class Padded(Base):
    c1_padding = 2


class FlattenMismatch(Base):
    flatten_features = 256


class NoFlatten(Base):
    def flat(self, x):
        return x


class MixesBatch(Base):
    def flat(self, x):
        return x.permute(1, 2, 3, 0).reshape(x.shape[0], -1)  # right shape, mixed images


class Softmax(Base):
    def forward(self, x):
        return F.softmax(super().forward(x), dim=1)


class LogSoftmax(Base):
    def forward(self, x):
        return F.log_softmax(super().forward(x), dim=1)


class NoBias(Base):
    bias = False


class Extra(Base):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__(num_classes, dropout)
        self.unused = nn.Linear(10, 10)


class FixedClasses(Base):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__(10, dropout)


class NoDropout(Base):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__(num_classes, 0.0)


class FunctionalDropout(Base):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__(num_classes, 0.0)
        self.p = dropout

    def forward(self, x):
        x = self.flat(self.features(x))
        return self.out(F.relu(self.f6(F.relu(self.c5(F.dropout(x, self.p, training=True))))))


class Raises(Base):
    def forward(self, x):
        return self.fc5(x)


class Subclass(models.LeNet5):
    pass


class Wraps(nn.Module):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        self.net = models.LeNet5(num_classes)

    def forward(self, x):
        return self.net(x)


class BorrowsForward(nn.Module):
    """Own layers under the course model's names, the course's forward: refused when run."""

    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                                        nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return models.LeNet5.forward(self, x)


@pytest.mark.parametrize("cls, hidden, phrase", [
    (NoS2, False, "the pooling layer S2 is missing"),
    (NoS4, False, "the pooling layer S4 is missing"),
    (To28, False, "wrong padding of the input: C1 receives 28x28 images, but LeNet-5's input is 32x32"),
    (Padded, False, "wrong padding in C1 (padding=(2, 2))"),
    (FlattenMismatch, False, "flatten size mismatch: C5 = nn.Linear(256, ...) receives 400"),
    (NoFlatten, False, "the maps are not flattened"),
    (Softmax, False, "forward returns probabilities"),
    (LogSoftmax, False, "forward returns log-probabilities"),
    (NoBias, False, "C1 has no bias (150 parameters instead of 156)"),
    (Extra, False, "modules with parameters that are not among the layers"),
    (Raises, False, "Your code raised AttributeError"),
    (Subclass, False, "Forbidden: `LeNet5` is (or derives from) `course.models.LeNet5`"),
    (Wraps, False, "Forbidden call: `course.models.LeNet5.__init__`"),
    (BorrowsForward, False, "Forbidden call: `course.models.LeNet5.forward`"),
    (MixesBatch, True, "the images of a batch influence each other"),
    (FixedClasses, True, "expected (3, 3)"),
    (NoDropout, True, "the `dropout` argument has no effect"),
    (FunctionalDropout, True, "two forward passes in evaluation mode differ"),
])
def test_each_network_mistake_is_diagnosed(cls, hidden, phrase):
    message = _fails(checks.check_lenet5, cls, hidden=hidden)
    assert phrase in message
    if not hidden:  # the visible check already catches it, on the same first case
        hidden_message = _fails(checks.check_lenet5, cls, hidden=True)
        assert message.split("\n", 1)[1] == hidden_message.split("\n", 1)[1]
        assert message.startswith("lenet5: case 1 of 1") and hidden_message.startswith(
            "lenet5: case 1 of 4")


def test_hidden_only_mistakes_pass_the_visible_check():
    for cls in (MixesBatch, FixedClasses, NoDropout, FunctionalDropout):
        checks.check_lenet5(cls)


def test_the_class_not_an_instance():
    assert "Pass the class itself" in _fails(checks.check_lenet5, LeNet5())
    assert "derived from nn.Module" in _fails(checks.check_lenet5, dict)


def test_an_error_shows_the_layers_that_ran_and_the_students_line():
    message = _fails(checks.check_lenet5, NoS2)
    assert "mat1 and mat2 shapes cannot be multiplied" in message
    assert "(4, 6, 28, 28) -> (4, 16, 24, 24)" in message
    message = _fails(checks.check_lenet5, Raises)
    assert "in `forward`" in message and "return self.fc5(x)" in message
    assert "no nn.Linear layer ran" not in message  # the forward did not get that far


# --- part 2: the loop and the evaluation ---------------------------------------------------
def no_zero_grad(model, loader, optimizer, device):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(y), count + len(y)
    return total / count


def _loop(model, loader, optimizer, device, *, train=True, softmax=False, step=True,
          result="mean"):
    model.train(train) if train else None
    losses = []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        scores = model(x)
        loss = F.cross_entropy(F.softmax(scores, 1) if softmax else scores, y)
        loss.backward()
        if step:
            optimizer.step()
        losses.append((loss, len(y)))
    if result == "sum":
        return sum(loss.item() for loss, _ in losses)
    if result == "mean of means":
        return sum(loss.item() for loss, _ in losses) / len(losses)
    if result == "last":
        return losses[-1][0].item()
    if result == "tensor":
        return sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
    return sum(loss.item() * n for loss, n in losses) / sum(n for _, n in losses)


def new_optimizer(model, loader, optimizer, device):
    return train_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.01), device)


def extra_randomness(model, loader, optimizer, device):
    torch.rand(3)  # consumes the generator that the dropout masks come from
    return train_epoch(model, loader, optimizer, device)


def via_fit(model, loader, optimizer, device):
    x, y = loader.dataset.tensors
    models.fit(model, (x, y), (x, y), epochs=1, lr=0.1, batch_size=16, progress=False)
    return 0.0


@pytest.mark.parametrize("fn, hidden, phrase", [
    (no_zero_grad, False, "optimizer.zero_grad() is missing"),
    (lambda *a: _loop(*a, train=False), False, "model.train() is missing"),
    (lambda *a: _loop(*a, softmax=True), False, "the loss is computed on softmax outputs"),
    (lambda *a: _loop(*a, step=False), False, "the parameters did not change"),
    (lambda *a: _loop(*a, result="sum"), False, "the sum of the batch losses"),
    (lambda *a: _loop(*a, result="last"), False, "the last batch's loss"),
    (lambda *a: _loop(*a, result="tensor"), False, "Return a Python float (loss.item())"),
    (lambda *a: None, False, "the model was called 0 times for 4 batches"),
    (new_optimizer, False, "use the optimizer passed as argument"),
    (extra_randomness, False, "your parameters differ from the judge's loop's"),
    (via_fit, False, "Forbidden call: `course.models.fit`"),
    (lambda *a: _loop(*a, result="mean of means"), True, "you averaged the batch means"),
])
def test_each_loop_mistake_is_diagnosed(fn, hidden, phrase):
    assert phrase in _fails(checks.check_train_epoch, fn, hidden=hidden)


def _sum_here_other_there(model, loader, optimizer, device):
    """Wrong on every setup, but only on the 4-batch one as a typical mistake (the sum)."""
    total = _loop(model, loader, optimizer, device, result="sum")
    return total if len(loader) == 4 else total + 0.125


def _no_zero_grad_here_softmax_there(model, loader, optimizer, device):
    if len(loader) == 4:
        return no_zero_grad(model, loader, optimizer, device)
    return _loop(model, loader, optimizer, device, softmax=True)


@pytest.mark.parametrize("impostor, faithful, named", [
    (_sum_here_other_there, lambda *a: _loop(*a, result="sum"),
     "you returned the sum of the batch losses"),
    (_no_zero_grad_here_softmax_there, no_zero_grad, "optimizer.zero_grad() is missing"),
])
def test_a_loop_mistake_is_named_only_when_it_explains_every_setup(impostor, faithful, named):
    """The engine's diagnosis: the first setup alone would name the mistake; the others
    contradict it, so the impostor gets the case and no name, the faithful loop the name."""
    message = _fails(checks.check_train_epoch, impostor, hidden=True)
    assert "case 1 of 3" in message and named not in message
    assert "No typical mistake" in message
    assert f"Likely mistake: {named}" in _fails(checks.check_train_epoch, faithful, hidden=True)


def test_mean_of_batch_means_passes_when_the_batches_are_equal():
    checks.check_train_epoch(lambda *a: _loop(*a, result="mean of means"))


def test_a_loop_with_nn_crossentropyloss_and_float_casts_passes():
    def other_style(model, loader, optimizer, device):
        criterion = nn.CrossEntropyLoss(reduction="sum")
        model.train()
        total, count = 0.0, 0
        for x, y in loader:
            x, y = x.float().to(device), y.long().to(device)
            loss = criterion(model(x), y) / len(y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        return total / len(loader.dataset)

    checks.check_train_epoch(other_style, hidden=True)


def _eval(model, loader, device, *, eval_mode=True, no_grad=True, result="accuracy"):
    if eval_mode:
        model.eval()
    hits = []
    with torch.set_grad_enabled(not no_grad):
        for x, y in loader:
            hits.append(((model(x.to(device)).argmax(1) == y.to(device)).sum().item(), len(y)))
    correct, total = sum(h for h, _ in hits), sum(n for _, n in hits)
    return {"accuracy": correct / total, "count": correct, "percent": 100 * correct / total,
            "mean of batches": sum(h / n for h, n in hits) / len(hits),
            "tensor": torch.tensor(correct / total)}[result]


def trains(model, loader, device):
    model.eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return _eval(model, loader, device)


@pytest.mark.parametrize("fn, hidden, phrase", [
    (lambda *a: _eval(*a, eval_mode=False), False, "model.eval() is missing"),
    (lambda *a: _eval(*a, result="count"), False, "the number of correct predictions"),
    (lambda *a: _eval(*a, result="percent"), False, "a percentage"),
    (lambda *a: _eval(*a, result="tensor"), False, "(use .item())"),
    (trains, False, "evaluate changed the model's parameters"),
    (lambda *a: _eval(*a, result="mean of batches"), True, "you averaged the batch accuracies"),
])
def test_each_evaluation_mistake_is_diagnosed(fn, hidden, phrase):
    assert phrase in _fails(checks.check_evaluate, fn, hidden=hidden)


def test_evaluation_with_gradients_passes_with_a_note(capsys):
    checks.check_evaluate(lambda *a: _eval(*a, no_grad=False), hidden=True)
    assert "Note (no points lost)" in capsys.readouterr().out


# --- part 3: the trained model -------------------------------------------------------------
def _trained(epochs=3):
    digits = data.mnist()
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                         shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        train_epoch(model, loader, optimizer, "cpu")
    return model


def test_trained_model_passes_and_untrained_fails(one_thread, capsys):
    model = _trained(epochs=8)
    checks.check_trained_model(model, hidden=True)
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    digits = data.mnist()
    assert accuracy == pytest.approx(models.accuracy(model, digits.x_test, digits.y_test),
                                     abs=1e-4)
    assert accuracy >= 0.95
    torch.manual_seed(0)
    message = _fails(checks.check_trained_model, LeNet5(), hidden=False)
    assert "at least 0.95 is required" in message


def test_trained_model_must_be_a_students_lenet():
    assert "course.models.LeNet5" in _fails(checks.check_trained_model, models.LeNet5(input_size=32))
    small = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    assert "the model has 650 parameters; train your LeNet5" in _fails(
        checks.check_trained_model, small)
    assert "Forbidden: the model is (or contains) `course.models.SimpleCNN`" in \
        _fails(checks.check_trained_model, models.SimpleCNN())
    assert "expected a trained nn.Module" in _fails(checks.check_trained_model, "model")


# --- part 4: early stopping and the experiment ------------------------------------------
def _stopping(reset=True, strict=True, shift=0, stop=False, one_based=False, ignore=False):
    def fn(val_losses, patience):
        if ignore:
            return int(np.argmin(val_losses))
        return checks.early_stopping_reference(list(val_losses), patience, reset=reset, strict=strict,
                                      patience_shift=shift, return_stop=stop,
                                      one_based=one_based)
    return fn


@pytest.mark.parametrize("fn, phrase", [
    (_stopping(ignore=True), "the patience is ignored"),
    (_stopping(stop=True), "the epoch at which training stops"),
    (_stopping(reset=False), "not reset to 0"),
    (_stopping(strict=False), "an equal loss counts as an improvement"),
    (_stopping(shift=1), "patience + 1"),
    (_stopping(shift=-1), "patience - 1"),
    (_stopping(one_based=True), "numbered from 0"),
])
def test_each_early_stopping_mistake_is_diagnosed(fn, phrase):
    assert phrase in _fails(checks.check_early_stopping, fn)


def test_early_stopping_worked_example():
    losses = [0.9, 0.7, 0.6, 0.65, 0.62, 0.7, 0.5]
    assert [early_stopping(losses, p) for p in (2, 3, 5)] == [2, 2, 6]
    assert [checks.early_stopping_reference(losses, p) for p in (2, 3, 5)] == [2, 2, 6]


def _experiment(model, *, shift_best=0, extra_epochs=0, last=False):
    """Results (three seeds) whose seed-0 best epoch holds exactly `model`'s validation loss."""
    digits = data.mnist()
    x_val, y_val = torch.from_numpy(digits.x_val[:500]), torch.from_numpy(digits.y_val[:500])
    model.eval()
    with torch.no_grad():
        scores = model(x_val)
    loss = F.cross_entropy(scores.double(), y_val).item()
    acc = (scores.argmax(1) == y_val).double().mean().item()
    losses = [loss + 0.5, loss, loss + 0.1, loss + 0.2, loss + 0.3] + [loss + 0.4] * extra_epochs
    if last:
        losses = [loss + 0.5, loss - 0.1, loss + 0.1, loss + 0.2, loss]
    entry = {"train_acc": 1.0, "val_acc": acc}
    results = {key: [dict(entry, val_losses=losses) for _ in range(3)]
               for key in checks.EXPERIMENT_KEYS}
    for run in results["early_stopping"]:
        run.update(patience=3, best_epoch=1 + shift_best)
    return results


def test_experiment_passes_and_each_mistake_is_diagnosed():
    torch.manual_seed(0)
    model = LeNet5()
    checks.check_experiment(_experiment(model), model, hidden=True)
    numpy_ints = _experiment(model)  # np.argmin gives a NumPy integer: as good as an int
    for run in numpy_ints["early_stopping"]:
        run.update(patience=np.int64(3), best_epoch=np.int64(1))
    checks.check_experiment(numpy_ints, model, hidden=True)
    assert "you recorded best_epoch=2, but your validation losses give epoch 1" in _fails(
        checks.check_experiment, _experiment(model, shift_best=1), model)
    assert "training went on after the patience ran out" in _fails(
        checks.check_experiment, _experiment(model, extra_epochs=2), model)
    assert "the weights of the last epoch were kept" in _fails(
        checks.check_experiment, _experiment(model, last=True), model)
    broken = _experiment(model)
    del broken["dropout"]
    assert "`results` has no entry 'dropout'" in _fails(checks.check_experiment, broken, model)
    broken = _experiment(model)
    broken["baseline"][1]["val_acc"] = 91.0
    assert "a float in [0, 1], got 91.0" in _fails(checks.check_experiment, broken, model)
    broken = _experiment(model)
    first = broken["early_stopping"][0]
    first["val_acc"] = 0.0 if first["val_acc"] > 0.5 else 1
    checks.check_experiment(broken, model)  # the recorded accuracy is a hidden check
    assert "record the accuracy of the restored model" in _fails(
        checks.check_experiment, broken, model)
    assert "course.models.LeNet5" in _fails(checks.check_experiment, _experiment(model),
                                            models.LeNet5(input_size=32))
    broken = _experiment(model)
    broken["weight_decay"] = broken["weight_decay"][:1]
    assert "expected a list of 3 results, one per seed" in _fails(checks.check_experiment, broken,
                                                                   model)


def test_copy_module_kept(one_thread):
    # early stopping in the notebook relies on deepcopy of a state_dict being independent
    model = LeNet5()
    saved = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.c1.weight.add_(1)
    assert not torch.equal(saved["c1.weight"], model.c1.weight)


# --- the trained model is scored on digits no submission had ------------------------------
def _uint8(x: np.ndarray) -> np.ndarray:
    """data.mnist()'s padded float digits back to MNIST's 28x28 uint8."""
    return np.round(x[:, 0, 2:30, 2:30] * 255).astype(np.uint8)


@pytest.fixture
def heldout_file(tmp_path):
    """Held-out digits for the test: the validation split, which the attacker never trains on."""
    from course.grading import heldout

    digits = data.mnist()
    path = tmp_path / "digits.npz"
    np.savez(path, x=_uint8(digits.x_val), y=digits.y_val)
    heldout.use(path)
    yield path
    heldout.use(None)


def test_a_model_trained_on_the_public_test_digits_fails_on_held_out_ones(one_thread, capsys,
                                                                           heldout_file):
    """The attack of issue 18: train on the public test split and on 500 deliberately
    mislabelled training digits (to spoil what the model learns), score well on that split."""
    from course.grading import heldout

    digits = data.mnist()
    x = torch.from_numpy(np.concatenate([digits.x_test, digits.x_train[:500]]))
    y = torch.from_numpy(np.concatenate([digits.y_test, (digits.y_train[:500] + 1) % 10]))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                         shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20):  # 0.962 on the public test split, 0.681 on the validation split
        train_epoch(model, loader, optimizer, "cpu")
    # the visible check (the notebook's, on the public split) is fooled ...
    checks.check_trained_model(model, hidden=False)
    assert "test accuracy" in capsys.readouterr().out
    # ... the judge, scoring on digits the model never saw, is not
    message = _fails(checks.check_trained_model, model, hidden=True)
    assert "on 1,000 held-out digits that no submission has" in message
    assert "at least 0.95 is required" in message
    heldout.use(None)
    checks.check_trained_model(model, hidden=True)  # without them: the public split again


def test_an_honest_model_passes_on_held_out_digits(one_thread, capsys, heldout_file):
    checks.check_trained_model(_trained(epochs=8), hidden=True)
    assert "1,000 held-out digits that no submission has" in capsys.readouterr().out
