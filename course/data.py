"""Images and data sets the course uses, all shipped inside installed packages.

Nothing is downloaded: the photos come with scikit-image, the handwritten digits
with scikit-learn. Every loader returns plain NumPy arrays in the course's shape
vocabulary.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Digits", "camera", "cat", "digits", "logo", "to_gray", "to_tensor_layout"]


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
