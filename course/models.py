"""PyTorch models of the lectures and one small training loop for them.

The networks are the ones the decks draw: a baseline conv-pool-flatten-dense
network (:class:`SimpleCNN`), LeNet-5 (:class:`LeNet5`) and the AlexNet of the
deck's PyTorch listing (:class:`AlexNet`). :func:`fit` trains any of them with
mini-batch SGD or Adam and returns a :class:`History` of losses and accuracies;
:func:`layer_outputs` and :func:`trace_shapes` let the notebooks look inside.

Everything here imports torch; the NumPy operations of the course live in
:mod:`course.ops`. See notebooks 05 (architectures), 06 (training) and 07 (what
CNNs learn).
"""
from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AlexNet",
    "History",
    "LeNet5",
    "SimpleCNN",
    "accuracy",
    "default_device",
    "fit",
    "layer_outputs",
    "predict",
    "random_shift",
    "seed_everything",
    "trace_shapes",
]


# ----------------------------------------------------------------------------- models


class SimpleCNN(nn.Module):
    """The baseline network of the lectures: (conv, ReLU, max-pool) twice, flatten, dense.

    Parameters
    ----------
    num_classes : int
        Number of output scores ``K``.
    in_channels : int
        Channels ``C`` of the input images.
    image_size : int
        Height and width of the (square) input; must be divisible by 4.
    channels : tuple of int
        Filters of the two convolutional layers.

    Notes
    -----
    Shapes for the 8x8 digits with the defaults: ``(N, 1, 8, 8)`` -> conv 3x3,
    padding 1 -> ``(N, 16, 8, 8)`` -> max-pool 2 -> ``(N, 16, 4, 4)`` -> conv ->
    ``(N, 32, 4, 4)`` -> max-pool -> ``(N, 32, 2, 2)`` -> flatten ``(N, 128)`` ->
    dense ``(N, 10)``. Parameters: ``16 (9 + 1) + 32 (16 * 9 + 1) + 10 (128 + 1) = 6090``.

    Examples
    --------
    >>> SimpleCNN()(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 8,
        channels: tuple[int, int] = (16, 32),
    ) -> None:
        super().__init__()
        _check_positive(num_classes, "num_classes")
        _check_positive(in_channels, "in_channels")
        _check_positive(image_size, "image_size")
        if image_size % 4:
            raise ValueError(f"`image_size` must be divisible by 4 (two 2x2 poolings), got {image_size}")
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c2 * (image_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, num_classes)`` of images ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.flatten(self.features(x)))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998), adapted to small inputs by resizing them to 32x32.

    Parameters
    ----------
    num_classes : int
        Number of output scores ``K`` (10 digits).
    in_channels : int
        Channels ``C`` of the input images.
    input_size : int
        Height and width of the images the network receives. Images smaller or
        larger than LeNet-5's 32x32 are resized to 32x32 (bilinear) by the first
        module, so every later layer keeps its original size.

    Notes
    -----
    *Why resize?* scikit-learn's digits are 8x8, LeNet-5 was designed for 32x32
    (MNIST's 28x28 digits padded by 2). Two 5x5 valid convolutions and two 2x2
    poolings shrink 32 -> 28 -> 14 -> 10 -> 5; on an 8x8 image the second
    convolution would not fit. Upsampling (rather than padding every layer) keeps
    the layer sizes and the 61,706 parameters of LeNet-5's usual modern form, so
    the numbers match textbooks and notebook 05's hand computation:

    ======  =================  ================  ======================
    layer   operation          output shape      parameters
    ======  =================  ================  ======================
    C1      conv 5x5, 6        (N, 6, 28, 28)    6 (25 + 1) = 156
    S2      max-pool 2         (N, 6, 14, 14)    0
    C3      conv 5x5, 16       (N, 16, 10, 10)   16 (6 * 25 + 1) = 2416
    S4      max-pool 2         (N, 16, 5, 5)     0
    C5      dense 400 -> 120   (N, 120)          120 (400 + 1) = 48120
    F6      dense 120 -> 84    (N, 84)           84 (120 + 1) = 10164
    output  dense 84 -> 10     (N, 10)           10 (84 + 1) = 850
    ======  =================  ================  ======================

    The original used scaled tanh units and trainable average-pooling
    ("subsampling"); this version uses ReLU and max-pooling, the modern default,
    which trains faster. The 1998 network had 60,000 trainable parameters: its
    C3 connected each of its 16 maps to only some of S2's six (1,516 parameters
    instead of 2,416), S2 and S4 had a trainable coefficient and bias per map
    (12 and 32), and its output layer held fixed RBF units, not a trained dense
    layer. The 84-dimensional output of F6 is the embedding that notebook 07
    uses for image search.

    Examples
    --------
    >>> LeNet5()(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> sum(p.numel() for p in LeNet5().parameters())
    61706
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 8) -> None:
        super().__init__()
        _check_positive(num_classes, "num_classes")
        _check_positive(in_channels, "in_channels")
        _check_positive(input_size, "input_size")
        self.input_size = input_size
        self.resize = (
            nn.Identity()
            if input_size == 32
            else nn.Upsample(size=(32, 32), mode="bilinear", align_corners=False)
        )
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),  # C1: 32 -> 28
            nn.ReLU(),
            nn.MaxPool2d(2),  # S2: 28 -> 14
            nn.Conv2d(6, 16, kernel_size=5),  # C3: 14 -> 10
            nn.ReLU(),
            nn.MaxPool2d(2),  # S4: 10 -> 5
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),  # C5
            nn.ReLU(),
            nn.Linear(120, 84),  # F6
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, num_classes)`` of images ``x`` of shape ``(N, C, H, W)``."""
        return self.classifier(self.flatten(self.features(self.resize(x))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 84-dimensional F6 activations ``(N, 84)``: the last hidden layer."""
        return self.classifier[:4](self.flatten(self.features(self.resize(x))))


class AlexNet(nn.Module):
    """AlexNet as in the lecture's PyTorch listing (torchvision's single-GPU variant).

    Parameters
    ----------
    num_classes : int
        Number of output scores.
    dropout : float
        Drop probability of the two dropout layers of the classifier.

    Notes
    -----
    The listing uses 64 filters of 11x11 with stride 4 and padding 2 in the first
    layer; the 2012 paper had 96 filters (split over two GPUs), no padding, and
    states 224x224 input images with 55x55 maps after the first layer. Without
    padding, 224 does not give 55: ``(224 - 11) / 4 + 1 = 54.25``; 227 is the
    size that makes the arithmetic exact, ``(227 - 11) / 4 + 1 = 55``. The
    listing gets 55 from 224 with its padding: ``floor((224 + 2*2 - 11) / 4) + 1 = 55``.
    Shapes for ``(N, 3, 224, 224)``: 64x55x55 -> pool 27 -> 192x27x27 -> pool 13
    -> 384x13x13 -> 256x13x13 -> 256x13x13 -> pool 6 -> adaptive average pool
    6x6 -> 9216 -> 4096 -> 4096 -> ``num_classes``. With 1000 classes it has
    61,100,840 parameters, 58.6 million of them in the dense layers.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        _check_positive(num_classes, "num_classes")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}")
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, num_classes)`` of images ``x`` of shape ``(N, 3, H, W)``."""
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# ----------------------------------------------------------------------------- looking inside


def trace_shapes(model: nn.Module, input_shape: Sequence[int]) -> list[tuple[str, str, tuple[int, ...]]]:
    """Run a zero input through ``model`` and record each leaf module's output shape.

    Parameters
    ----------
    model : nn.Module
    input_shape : sequence of int
        Shape of the dummy input, e.g. ``(1, 3, 224, 224)``.

    Returns
    -------
    list of (name, module repr, shape)
        One entry per leaf module in the order they ran, e.g.
        ``('features.0', 'Conv2d(3, 64, ...)', (1, 64, 55, 55))``.

    Examples
    --------
    >>> trace_shapes(SimpleCNN(), (1, 1, 8, 8))[0][2]
    (1, 16, 8, 8)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(int(s) for s in input_shape)
    records: list[tuple[str, str, tuple[int, ...]]] = []
    handles = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles.append(
                module.register_forward_hook(
                    lambda mod, inp, out, name=name: records.append((name, repr(mod), tuple(out.shape)))
                )
            )
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return records


def layer_outputs(
    model: nn.Module, x: torch.Tensor | np.ndarray, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Outputs of the named leaf modules of ``model`` for input ``x``, as NumPy arrays.

    Parameters
    ----------
    model : nn.Module
    x : tensor or ndarray, shape (N, C, H, W)
    names : sequence of str, optional
        Module names as in ``model.named_modules()``; default: every leaf module.

    Returns
    -------
    dict of str to ndarray
        In execution order; a module that runs twice keeps its last output.

    Examples
    --------
    >>> out = layer_outputs(SimpleCNN(), np.zeros((3, 1, 8, 8), np.float32))
    >>> out['features.2'].shape
    (3, 16, 4, 4)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    if names is None:
        names = [n for n, m in modules.items() if n and not list(m.children())]
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"`names` has modules that `model` lacks: {unknown}; it has {list(modules)[1:]}")
    outputs: dict[str, np.ndarray] = {}
    handles = [
        modules[n].register_forward_hook(
            lambda mod, inp, out, n=n: outputs.__setitem__(n, out.detach().cpu().numpy().copy())
        )
        for n in names
    ]
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(_as_tensor(x, "x").to(device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return outputs


# ----------------------------------------------------------------------------- training


@dataclass
class History:
    """What :func:`fit` measured after each epoch.

    ``train_loss``/``train_acc``: mean cross-entropy and accuracy over the epoch's
    mini-batches (with dropout and augmentation active); ``val_loss``/``val_acc``:
    on the validation pair given to :func:`fit`, in evaluation mode, at the end of
    the epoch; ``seconds``: wall time of each epoch. ``best_epoch`` is the
    (0-based) epoch with the lowest validation loss; ``stopped_early`` says
    whether the patience ran out. The test set is not seen during training:
    measure it once, at the end, with :func:`accuracy`.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)


def default_device() -> torch.device:
    """``cuda`` when a GPU is available, otherwise ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_shift(max_shift: int = 1) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """A data augmentation: shift each image by up to ``max_shift`` pixels, filling with zeros.

    Returns
    -------
    callable
        ``augment(x, generator) -> x_shifted`` for a batch ``x`` of shape (N, C, H, W).
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"`max_shift` must be an int >= 0, got {max_shift!r}")

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if max_shift == 0:
            return x
        m = max_shift
        padded = F.pad(x, (m, m, m, m))
        H, W = x.shape[-2:]
        shifts = torch.randint(0, 2 * m + 1, (x.shape[0], 2), generator=generator)
        out = torch.empty_like(x)
        # one slice per distinct shift (at most (2m + 1)^2), not one per image
        for dy in range(2 * m + 1):
            for dx in range(2 * m + 1):
                chosen = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                out[chosen] = padded[chosen, :, dy : dy + H, dx : dx + W]
        return out

    return augment


def fit(
    model: nn.Module,
    train: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
    val: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    optimizer: str = "adam",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    l1: float = 0.0,
    patience: int | None = None,
    schedule: str = "constant",
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train a classifier with mini-batch gradient descent on the cross-entropy loss.

    Parameters
    ----------
    model : nn.Module
        Maps images ``(N, C, H, W)`` to scores ``(N, K)``; trained in place.
    train, val : (x, y) pairs
        ``x`` of shape (N, C, H, W), ``y`` integer labels of shape (N,). ``val``,
        the validation split, is evaluated after every epoch (``History.val_loss``,
        ``History.val_acc``) and decides early stopping and ``best_epoch``; keep
        the test set out of it, to be measured once after training.
    epochs : int, keyword-only
        Maximum number of passes over ``train``.
    lr : float, keyword-only
        Learning rate.
    batch_size : int, keyword-only
        Mini-batch size (the last batch of an epoch may be smaller).
    optimizer : {'adam', 'sgd'}, keyword-only
        Adam, or SGD with ``momentum`` (0 gives plain mini-batch SGD).
    momentum : float, keyword-only
        Momentum of SGD.
    weight_decay : float, keyword-only
        L2 regularisation: the optimizer adds ``weight_decay * p`` to the gradient of
        every parameter ``p``, biases included, which is the gradient of the penalty
        ``(weight_decay / 2) * sum p**2`` added to the loss. With Adam that gradient
        is then rescaled per parameter like the rest (coupled L2, not AdamW's
        decoupled decay).
    l1 : float, keyword-only
        L1 penalty ``l1 * sum |w|`` over all weights (not biases), added to the loss.
    patience : int or None, keyword-only
        Early stopping: stop when the validation loss has not improved for
        ``patience`` epochs, and restore the weights of the best epoch.
    schedule : {'constant', 'cosine'}, keyword-only
        Keep the learning rate, or decay it along a half cosine to 0 over ``epochs``
        (large steps early, small steps to settle at the end).
    augment : callable, optional, keyword-only
        ``augment(x_batch, generator) -> x_batch`` applied to training batches
        (see :func:`random_shift`).
    device : str or torch.device, optional, keyword-only
        Default: ``'cuda'`` when available, else ``'cpu'``.
    seed : int, keyword-only
        Seeds the initial shuffle order and the augmentation; seed the model's
        initialisation yourself (:func:`seed_everything`) before building it.
    progress : bool, keyword-only
        Show a tqdm progress bar over epochs.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        If a setting is out of range or ``x`` and ``y`` disagree in length.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    x_train, y_train = _as_pair(train, "train")
    x_val, y_val = _as_pair(val, "val")
    _check_positive(epochs, "epochs")
    _check_positive(batch_size, "batch_size")
    if not lr > 0:
        raise ValueError(f"`lr` must be > 0, got {lr}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"`optimizer` must be 'adam' or 'sgd', got {optimizer!r}")
    if weight_decay < 0 or l1 < 0 or momentum < 0:
        raise ValueError(
            f"`weight_decay`, `l1` and `momentum` must be >= 0, got {weight_decay}, {l1}, {momentum}"
        )
    if patience is not None:
        _check_positive(patience, "patience")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"`schedule` must be 'constant' or 'cosine', got {schedule!r}")

    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    x_train, y_train = x_train.to(device), y_train.to(device)
    x_val, y_val = x_val.to(device), y_val.to(device)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if schedule == "cosine" else None
    generator = torch.Generator().manual_seed(seed)
    weights = [p for name, p in model.named_parameters() if not name.endswith("bias")]

    history = History(device=str(device))
    best_loss, best_state, waited = float("inf"), None, 0
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="epochs", unit="epoch")
    for epoch in epoch_iter:
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        total_loss, total_correct = 0.0, 0
        for first in range(0, len(order), batch_size):
            idx = order[first : first + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if augment is not None:
                xb = augment(xb.cpu(), generator).to(device)
            scores = model(xb)
            loss = F.cross_entropy(scores, yb)
            objective = loss + l1 * sum(w.abs().sum() for w in weights) if l1 else loss
            opt.zero_grad()
            objective.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            total_correct += (scores.argmax(1) == yb).sum().item()
        if scheduler is not None:
            scheduler.step()
        history.train_loss.append(total_loss / len(x_train))
        history.train_acc.append(total_correct / len(x_train))
        val_loss, val_acc = _evaluate(model, x_val, y_val, batch_size=1024)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        history.seconds.append(time.perf_counter() - start)
        if progress:
            epoch_iter.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{val_acc:.3f}")
        if val_loss < best_loss:
            best_loss, waited, history.best_epoch = val_loss, 0, epoch
            if patience is not None:
                best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                history.stopped_early = True
                break
    if progress:
        epoch_iter.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def predict(model: nn.Module, x: np.ndarray | torch.Tensor, *, batch_size: int = 1024) -> np.ndarray:
    """Predicted class (argmax of the scores) for each image, shape (N,), in evaluation mode."""
    device = next(model.parameters()).device
    x = _as_tensor(x, "x").to(device)
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).cpu().numpy()


def accuracy(model: nn.Module, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Share of images of ``x`` whose predicted class equals the label in ``y``."""
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    return float((predict(model, x) == y).mean())


# ----------------------------------------------------------------------------- helpers


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for first in range(0, len(x), batch_size):
            scores = model(x[first : first + batch_size])
            yb = y[first : first + batch_size]
            loss += F.cross_entropy(scores, yb, reduction="sum").item()
            correct += (scores.argmax(1) == yb).sum().item()
    return loss / len(x), correct / len(x)


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.float()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    raise TypeError(f"`{name}` must be a NumPy array or a torch tensor, got {type(x).__name__}")


def _as_pair(pair, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"`{name}` must be a pair (x, y), got {type(pair).__name__}")
    x = _as_tensor(pair[0], f"{name}[0]")
    y = pair[1]
    y = y.long() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y), dtype=torch.long)
    if x.ndim != 4:
        raise ValueError(f"`{name}[0]` must have shape (N, C, H, W), got {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"`{name}[1]` must hold one label per image: x has {len(x)} images, y has shape {tuple(y.shape)}"
        )
    if len(x) == 0:
        raise ValueError(f"`{name}` is empty")
    return x, y


def _check_positive(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1, got {value}")
