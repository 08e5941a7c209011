"""Tests for course.models: layer shapes and parameter counts against hand computation,
the training helper's behaviour, and that a short training run beats chance."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import course.ops as ops
from course import data, models


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def digits():
    return data.digits()


# ----------------------------------------------------------------------------- shapes and parameters


def test_simple_cnn_shapes_and_parameters():
    model = models.SimpleCNN()
    shapes = {name: shape for name, _, shape in models.trace_shapes(model, (2, 1, 8, 8))}
    assert shapes["features.0"] == (2, 16, 8, 8)
    assert shapes["features.2"] == (2, 16, 4, 4)
    assert shapes["features.5"] == (2, 32, 2, 2)
    assert shapes["flatten"] == (2, 128)
    assert shapes["classifier"] == (2, 10)
    by_hand = ops.num_parameters(1, 16, 3) + ops.num_parameters(16, 32, 3) + ops.num_parameters(128, 10)
    assert count(model) == by_hand == 6090


def test_simple_cnn_other_sizes():
    model = models.SimpleCNN(num_classes=3, in_channels=3, image_size=16)
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 3)


def test_lenet5_shapes_follow_the_output_size_formula():
    shapes = {name: shape for name, _, shape in models.trace_shapes(models.LeNet5(), (1, 1, 8, 8))}
    c1 = ops.conv_output_size(32, 5)
    s2 = ops.conv_output_size(c1, 2, stride=2)
    c3 = ops.conv_output_size(s2, 5)
    s4 = ops.conv_output_size(c3, 2, stride=2)
    assert (c1, s2, c3, s4) == (28, 14, 10, 5)
    assert shapes["resize"] == (1, 1, 32, 32)
    assert shapes["features.0"] == (1, 6, c1, c1)
    assert shapes["features.2"] == (1, 6, s2, s2)
    assert shapes["features.3"] == (1, 16, c3, c3)
    assert shapes["features.5"] == (1, 16, s4, s4)
    assert shapes["classifier.0"] == (1, 120)
    assert shapes["classifier.2"] == (1, 84)
    assert shapes["classifier.4"] == (1, 10)


def test_lenet5_parameter_count_is_the_classic_61706():
    by_hand = (
        ops.num_parameters(1, 6, 5)
        + ops.num_parameters(6, 16, 5)
        + ops.num_parameters(16 * 5 * 5, 120)
        + ops.num_parameters(120, 84)
        + ops.num_parameters(84, 10)
    )
    assert by_hand == 61706
    assert count(models.LeNet5()) == by_hand


def test_lenet5_accepts_32x32_without_resizing():
    model = models.LeNet5(input_size=32)
    assert isinstance(model.resize, nn.Identity)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert model.embed(torch.zeros(2, 1, 32, 32)).shape == (2, 84)


def test_alexnet_shapes_match_the_lecture():
    shapes = [shape for _, _, shape in models.trace_shapes(models.AlexNet(), (1, 3, 224, 224))]
    assert shapes[0] == (1, 64, 55, 55)            # floor((224 + 4 - 11) / 4) + 1
    assert (1, 256, 6, 6) in shapes
    assert shapes[-1] == (1, 1000)
    assert ops.conv_output_size(224, 11, stride=4, padding=2) == 55
    assert ops.conv_output_size(227, 11, stride=4) == 55


def test_alexnet_parameter_count_by_hand():
    model = models.AlexNet()
    convs = [(3, 64, 11), (64, 192, 5), (192, 384, 3), (384, 256, 3), (256, 256, 3)]
    dense = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    by_hand = sum(ops.num_parameters(c, f, k) for c, f, k in convs) + sum(ops.num_parameters(i, o) for i, o in dense)
    assert count(model) == by_hand == 61_100_840
    assert count(models.AlexNet(num_classes=10)) == by_hand - ops.num_parameters(4096, 1000) + ops.num_parameters(4096, 10)


@pytest.mark.parametrize(
    "factory, message",
    [
        (lambda: models.SimpleCNN(image_size=10), "image_size"),
        (lambda: models.SimpleCNN(num_classes=0), "num_classes"),
        (lambda: models.LeNet5(in_channels=0), "in_channels"),
        (lambda: models.AlexNet(dropout=1.0), "dropout"),
    ],
)
def test_model_settings_are_checked(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_model_type_is_checked():
    with pytest.raises(TypeError, match="num_classes"):
        models.LeNet5(num_classes=2.5)


# ----------------------------------------------------------------------------- looking inside


def test_layer_outputs_match_a_manual_forward_pass():
    torch.manual_seed(0)
    model = models.SimpleCNN().eval()
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    out = models.layer_outputs(model, x, ["features.2", "classifier"])
    assert list(out) == ["features.2", "classifier"]
    with torch.no_grad():
        expected = model.features[:3](torch.from_numpy(x)).numpy()
        scores = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out["features.2"], expected, rtol=1e-6)
    np.testing.assert_allclose(out["classifier"], scores, rtol=1e-6)


def test_layer_outputs_rejects_unknown_names():
    with pytest.raises(ValueError, match="nonexistent"):
        models.layer_outputs(models.SimpleCNN(), np.zeros((1, 1, 8, 8), np.float32), ["nonexistent"])


def test_trace_shapes_restores_training_mode():
    model = models.AlexNet()
    model.train()
    models.trace_shapes(model, (1, 3, 64, 64))
    assert model.training


def test_random_shift_moves_content_and_keeps_shape():
    x = torch.zeros(50, 1, 8, 8)
    x[:, :, 4, 4] = 1.0
    shifted = models.random_shift(1)(x, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 1)                 # nothing lost: centre pixel stays inside
    positions = {tuple(torch.nonzero(img[0])[0].tolist()) for img in shifted}
    assert positions <= {(r, c) for r in (3, 4, 5) for c in (3, 4, 5)}
    assert len(positions) > 1
    with pytest.raises(ValueError, match="max_shift"):
        models.random_shift(-1)


# ----------------------------------------------------------------------------- training


def test_short_training_run_beats_chance(digits):
    models.seed_everything(0)
    model = models.SimpleCNN()
    history = models.fit(model, (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                         epochs=2, lr=3e-3, batch_size=32, device="cpu", progress=False)
    assert history.epochs == 2
    assert history.val_acc[-1] > 0.5                      # chance is 0.1
    assert history.train_loss[-1] < history.train_loss[0] < np.log(10) + 0.1
    assert models.accuracy(model, digits.x_test, digits.y_test) == pytest.approx(history.val_acc[-1])
    assert len(history.seconds) == 2 and history.device == "cpu"


def test_fit_is_reproducible_with_a_seed(digits):
    runs = []
    for _ in range(2):
        models.seed_everything(1)
        model = models.SimpleCNN()
        runs.append(models.fit(model, (digits.x_train[:200], digits.y_train[:200]),
                               (digits.x_test[:100], digits.y_test[:100]),
                               epochs=2, lr=1e-3, batch_size=50, optimizer="sgd", device="cpu",
                               seed=3, progress=False, augment=models.random_shift(1)))
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].val_acc == runs[1].val_acc


def test_lenet5_reaches_97_percent_on_the_digits(digits):
    """The claim of notebook 06: >= 97 % test accuracy, seeded, in seconds on a CPU."""
    models.seed_everything(0)
    model = models.LeNet5()
    history = models.fit(model, (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                         epochs=30, lr=2e-3, batch_size=32, schedule="cosine",
                         augment=models.random_shift(1), device="cpu", seed=0, progress=False)
    assert history.val_acc[-1] >= 0.97
    assert sum(history.seconds) < 120


def test_early_stopping_restores_the_best_weights(digits):
    models.seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    val = (digits.x_train[100:300], digits.y_train[100:300])
    history = models.fit(model, (digits.x_train[:100], digits.y_train[:100]), val,
                         epochs=300, lr=3e-3, batch_size=20, patience=3, device="cpu", progress=False)
    assert history.stopped_early
    assert history.epochs == history.best_epoch + 1 + 3
    restored_loss = nn.functional.cross_entropy(
        model(torch.tensor(val[0])), torch.tensor(val[1])).item()
    assert restored_loss == pytest.approx(min(history.val_loss), rel=1e-4)


def test_l1_penalty_shrinks_weights(digits):
    norms = {}
    for l1 in (0.0, 1e-3):
        models.seed_everything(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        models.fit(model, (digits.x_train[:300], digits.y_train[:300]), (digits.x_test, digits.y_test),
                   epochs=20, lr=1e-2, batch_size=50, l1=l1, device="cpu", progress=False)
        norms[l1] = model[1].weight.abs().sum().item()
    assert norms[1e-3] < 0.8 * norms[0.0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_weight_decay_is_the_gradient_of_half_lambda_times_the_squared_parameters(digits, optimizer):
    """What notebook 06 states: weight_decay=lam adds lam * p to every gradient, biases included,
    which is one step on the loss plus (lam / 2) * sum p**2 over all parameters."""
    lam, x, y = 0.1, digits.x_train[:40], digits.y_train[:40]
    models.seed_everything(0)
    decayed = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    penalised = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    penalised.load_state_dict(decayed.state_dict())
    # one epoch of one full batch: the shuffle order does not change the mean loss
    models.fit(decayed, (x, y), (x, y), epochs=1, lr=0.05, batch_size=len(x), optimizer=optimizer,
               momentum=0.0, weight_decay=lam, device="cpu", progress=False)
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = make(penalised.parameters(), lr=0.05)
    loss = nn.functional.cross_entropy(penalised(torch.tensor(x)), torch.tensor(y))
    (loss + lam / 2 * sum((p ** 2).sum() for p in penalised.parameters())).backward()
    opt.step()
    for (name, a), b in zip(decayed.named_parameters(), penalised.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    # the biases decay too: without their share of the penalty the steps differ
    models.seed_everything(0)
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    opt = make(fresh.parameters(), lr=0.05)
    loss = nn.functional.cross_entropy(fresh(torch.tensor(x)), torch.tensor(y))
    (loss + lam / 2 * sum((p ** 2).sum() for n, p in fresh.named_parameters() if "bias" not in n)).backward()
    opt.step()
    assert not torch.allclose(fresh[1].bias, decayed[1].bias, rtol=1e-5, atol=1e-6)


def test_history_and_progress_bar_name_the_validation_split(digits, capsys):
    """fit's second pair is the validation split: History says val_*, so does the bar."""
    import dataclasses
    import inspect

    assert list(inspect.signature(models.fit).parameters)[:3] == ["model", "train", "val"]
    fields = {f.name for f in dataclasses.fields(models.History)}
    assert {"val_loss", "val_acc"} <= fields and not {"test_loss", "test_acc"} & fields
    models.fit(models.SimpleCNN(), (digits.x_train[:20], digits.y_train[:20]),
               (digits.x_train[20:40], digits.y_train[20:40]), epochs=1, lr=1e-3, batch_size=10,
               device="cpu", progress=True)
    bar = capsys.readouterr().err
    assert "val_acc=" in bar and "test" not in bar


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(optimizer="rmsprop"), ValueError, "optimizer"),
        (dict(weight_decay=-1.0), ValueError, "weight_decay"),
        (dict(patience=0), ValueError, "patience"),
        (dict(schedule="step"), ValueError, "schedule"),
    ],
)
def test_fit_checks_its_settings(digits, kwargs, error, message):
    settings = dict(epochs=1, lr=1e-3, batch_size=32, progress=False) | kwargs
    with pytest.raises(error, match=message):
        models.fit(models.SimpleCNN(), (digits.x_train[:10], digits.y_train[:10]),
                   (digits.x_test[:10], digits.y_test[:10]), **settings)


def test_fit_checks_its_data(digits):
    with pytest.raises(ValueError, match="one label per image"):
        models.fit(models.SimpleCNN(), (digits.x_train[:10], digits.y_train[:9]),
                   (digits.x_test, digits.y_test), epochs=1, lr=1e-3, batch_size=4, progress=False)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        models.fit(models.SimpleCNN(), (digits.x_train[:10, 0], digits.y_train[:10]),
                   (digits.x_test, digits.y_test), epochs=1, lr=1e-3, batch_size=4, progress=False)
    with pytest.raises(TypeError, match="pair"):
        models.fit(models.SimpleCNN(), digits.x_train, (digits.x_test, digits.y_test),
                   epochs=1, lr=1e-3, batch_size=4, progress=False)
    with pytest.raises(TypeError, match="model"):
        models.fit("lenet", (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                   epochs=1, lr=1e-3, batch_size=4, progress=False)
