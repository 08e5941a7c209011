"""Data augmentation for images: crop, flip, rotate, rescale, colour changes and noise.

Augmentation trains a network on randomly changed copies of its images, "virtually"
more examples (correlated ones: less than as many new images). Which changes are
allowed depends on the data: a cat flipped left to right is still a cat, a flipped 2
is no digit, and a 6 rotated by 180 degrees is a 9. Notebook 06 shows each change
on the cat photo and trains LeNet-5 with random shifts (:func:`course.models.random_shift`).

Every function takes an image of shape ``(H, W, C)`` (``C = 3`` for RGB) or ``(H, W)``
with values in [0, 1] (divide a uint8 photo by 255), returns a new float64 array and
leaves its input unchanged; the geometric ones keep the number of channels, the colour
ones need RGB. Randomness comes only from the ``rng`` argument of :func:`random_crop`,
:func:`add_noise` and :func:`random_augment` (a ``numpy.random.Generator``), so a seed
reproduces a gallery.
"""
from __future__ import annotations

import math

import numpy as np

from .ops._checks import as_array

__all__ = ["add_noise", "adjust_brightness", "adjust_contrast", "adjust_saturation", "crop",
           "hflip", "random_augment", "random_crop", "rescale", "rotate", "shift_hue", "vflip"]

_LUMA = np.array([0.299, 0.587, 0.114])   # ITU-R BT.601, as course.data.to_gray


def _image(image, name: str = "image") -> np.ndarray:
    image = as_array(image, name, (2, 3)).astype(np.float64)
    if image.ndim == 3 and image.shape[2] not in (1, 3):
        raise ValueError(f"`{name}` must have shape (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    return image


def _rgb(image, name: str = "image") -> np.ndarray:
    image = _image(image, name)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"`{name}` must be an RGB image of shape (H, W, 3) for a colour change, got {image.shape}")
    return image


def _factor(value, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value}")
    return value


def _size(value, name: str, limit: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < 1 or (limit is not None and value > limit):
        bound = f" and <= {limit}" if limit is not None else ""
        raise ValueError(f"`{name}` must be >= 1{bound}, got {value}")
    return int(value)


def hflip(image) -> np.ndarray:
    """Mirror left to right (reverse the columns, axis 1).

    Examples
    --------
    >>> hflip(np.array([[0.0, 0.5, 1.0]]))
    array([[1. , 0.5, 0. ]])
    """
    return _image(image)[:, ::-1].copy()


def vflip(image) -> np.ndarray:
    """Mirror top to bottom (reverse the rows, axis 0): rarely a sensible augmentation for photos."""
    return _image(image)[::-1].copy()


def crop(image, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The ``height`` x ``width`` part of the image whose top-left pixel is ``(top, left)``.

    Examples
    --------
    >>> crop(np.arange(16.0).reshape(4, 4), 1, 2, 2, 2)
    array([[ 6.,  7.],
           [10., 11.]])
    """
    image = _image(image)
    H, W = image.shape[:2]
    height, width = _size(height, "height", H), _size(width, "width", W)
    for value, name, limit in ((top, "top", H - height), (left, "left", W - width)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an int, got {value!r}")
        if not 0 <= value <= limit:
            raise ValueError(f"`{name}` must be in [0, {limit}] for a {height} x {width} crop of a "
                             f"{H} x {W} image, got {value}")
    return image[top:top + height, left:left + width].copy()


def random_crop(image, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A ``height`` x ``width`` crop at a random place (uniform over all places that fit)."""
    image = _image(image)
    H, W = image.shape[:2]
    height, width = _size(height, "height", H), _size(width, "width", W)
    top, left = int(rng.integers(0, H - height + 1)), int(rng.integers(0, W - width + 1))
    return crop(image, top, left, height, width)


def _sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float) -> np.ndarray:
    """Bilinear samples of ``image`` at fractional pixel-centre coordinates (``fill`` outside)."""
    H, W = image.shape[:2]
    flat = image.reshape(H, W, -1)
    padded = np.pad(flat, ((1, 1), (1, 1), (0, 0)), constant_values=fill)
    r, c = rows + 1, cols + 1           # coordinates in the padded image
    outside = (r < 0) | (r > H + 1) | (c < 0) | (c > W + 1)
    r, c = np.clip(r, 0, H + 1), np.clip(c, 0, W + 1)
    r0, c0 = np.minimum(np.floor(r).astype(int), H), np.minimum(np.floor(c).astype(int), W)
    fr, fc = (r - r0)[..., None], (c - c0)[..., None]
    out = (padded[r0, c0] * (1 - fr) * (1 - fc) + padded[r0, c0 + 1] * (1 - fr) * fc
           + padded[r0 + 1, c0] * fr * (1 - fc) + padded[r0 + 1, c0 + 1] * fr * fc)
    out[outside] = fill
    return out.reshape(rows.shape + image.shape[2:])


def rotate(image, degrees: float, *, fill: float = 0.0) -> np.ndarray:
    """Rotate about the centre by ``degrees`` counter-clockwise, keeping the size.

    Corners that come from outside the image are ``fill``; values are interpolated
    bilinearly. A multiple of 90 degrees on a square image moves pixels exactly
    (``rotate(x, 90)`` equals ``np.rot90(x)``).

    Examples
    --------
    >>> x = np.arange(9.0).reshape(3, 3)
    >>> np.allclose(rotate(x, 90), np.rot90(x))
    True
    """
    image = _image(image)
    H, W = image.shape[:2]
    theta = math.radians(float(degrees))
    cy, cx = (H - 1) / 2, (W - 1) / 2
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    # inverse map: where does each output pixel come from? (y grows downwards)
    dy, dx = rows - cy, cols - cx
    src_rows = cy + dy * math.cos(theta) + dx * math.sin(theta)
    src_cols = cx - dy * math.sin(theta) + dx * math.cos(theta)
    return _sample(image, np.round(src_rows, 9), np.round(src_cols, 9), fill)


def rescale(image, factor: float, *, fill: float = 0.0) -> np.ndarray:
    """Zoom about the centre by ``factor`` (> 1 enlarges and cuts the border, < 1 shrinks
    and surrounds with ``fill``), keeping the size.

    Examples
    --------
    >>> rescale(np.ones((4, 4)), 0.5)[:, 0]
    array([0., 0., 0., 0.])
    """
    image = _image(image)
    factor = _factor(factor, "factor")
    if factor == 0:
        raise ValueError("`factor` must be > 0")
    H, W = image.shape[:2]
    cy, cx = (H - 1) / 2, (W - 1) / 2
    rows, cols = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    return _sample(image, cy + (rows - cy) / factor, cx + (cols - cx) / factor, fill)


def adjust_brightness(image, delta: float) -> np.ndarray:
    """Add ``delta`` to every value (clipped to [0, 1]).

    Examples
    --------
    >>> adjust_brightness(np.array([[0.2, 0.9]]), 0.2)
    array([[0.4, 1. ]])
    """
    return np.clip(_image(image) + float(delta), 0.0, 1.0)


def adjust_contrast(image, factor: float) -> np.ndarray:
    """Scale the distance of every value from the image's mean grey level by ``factor``
    (0: a uniform grey image, 1: unchanged), clipped to [0, 1].

    Examples
    --------
    >>> adjust_contrast(np.array([[0.25, 0.75]]), 0.5)
    array([[0.375, 0.625]])
    """
    image = _image(image)
    factor = _factor(factor, "factor")
    grey = image @ _LUMA if image.ndim == 3 and image.shape[2] == 3 else image
    return np.clip(grey.mean() + factor * (image - grey.mean()), 0.0, 1.0)


def adjust_saturation(image, factor: float) -> np.ndarray:
    """Blend each pixel with its own grey value: 0 gives a grey image, 1 the input, > 1
    more vivid colours (clipped to [0, 1]).

    Examples
    --------
    >>> adjust_saturation(np.array([[[1.0, 0.0, 0.0]]]), 0.0).round(3)
    array([[[0.299, 0.299, 0.299]]])
    """
    image = _rgb(image)
    factor = _factor(factor, "factor")
    grey = (image @ _LUMA)[..., None]
    return np.clip(grey + factor * (image - grey), 0.0, 1.0)


def shift_hue(image, degrees: float) -> np.ndarray:
    """Turn every colour around the colour wheel by ``degrees``, keeping its brightness.

    The pixel is written in the YIQ colour space (a brightness Y and two colour axes I,
    Q); the hue is the angle of (I, Q), so the shift is a rotation in that plane.
    Results are clipped to [0, 1].

    Examples
    --------
    >>> grey = np.full((1, 1, 3), 0.5)
    >>> np.allclose(shift_hue(grey, 120), grey)      # grey has no hue to shift
    True
    """
    image = _rgb(image)
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    theta = math.radians(float(degrees))
    turn = np.array([[1, 0, 0], [0, math.cos(theta), -math.sin(theta)], [0, math.sin(theta), math.cos(theta)]])
    matrix = np.linalg.inv(to_yiq) @ turn @ to_yiq
    return np.clip(image @ matrix.T, 0.0, 1.0)


def add_noise(image, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``std`` to every value (clipped to [0, 1])."""
    image = _image(image)
    std = _factor(std, "std")
    return np.clip(image + rng.normal(0.0, std, image.shape), 0.0, 1.0)


def random_augment(image, rng: np.random.Generator, *, flip: bool = True, max_degrees: float = 15.0,
                   crop_fraction: float = 0.85, colour: bool = True) -> np.ndarray:
    """One random augmented copy: a random crop (resized back to full size), a flip with
    probability 1/2, a small rotation and, for RGB images, small colour changes.

    Parameters
    ----------
    image : array_like, shape (H, W, C) or (H, W)
        Values in [0, 1].
    rng : numpy.random.Generator
        The source of randomness.
    flip : bool, keyword-only
        Allow the left-right mirror (not for digits or text).
    max_degrees : float, keyword-only
        Rotations are uniform in ``[-max_degrees, max_degrees]``.
    crop_fraction : float, keyword-only
        The crop's side is at least this share of the image's side.
    colour : bool, keyword-only
        Jitter brightness, contrast, saturation and hue (RGB images only).

    Returns
    -------
    ndarray of float64, the shape of ``image``
    """
    image = _image(image)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"`crop_fraction` must be in (0, 1], got {crop_fraction}")
    H, W = image.shape[:2]
    share = rng.uniform(crop_fraction, 1.0)
    h, w = max(1, int(round(H * share))), max(1, int(round(W * share)))
    part = random_crop(image, h, w, rng)
    # back to the full size: sample the crop on the full grid
    rows = (np.arange(H) + 0.5) * h / H - 0.5
    cols = (np.arange(W) + 0.5) * w / W - 0.5
    out = _sample(part, *np.meshgrid(rows, cols, indexing="ij"), fill=0.0)
    if flip and rng.random() < 0.5:
        out = hflip(out)
    if max_degrees:
        out = rotate(out, rng.uniform(-max_degrees, max_degrees))
    if colour and out.ndim == 3 and out.shape[2] == 3:
        out = adjust_brightness(out, rng.uniform(-0.1, 0.1))
        out = adjust_contrast(out, rng.uniform(0.8, 1.2))
        out = adjust_saturation(out, rng.uniform(0.7, 1.3))
        out = shift_hue(out, rng.uniform(-20, 20))
    return out
