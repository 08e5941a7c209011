"""The digits a trained network is scored on when it is graded: ones no submission had.

The course's 5,000 MNIST digits ship inside a package every student installs, so its
test split is public: a notebook can train on those 1,000 digits (and on mislabelled
others, to spoil what it learns) and still pass an accuracy bound measured on them. A
held-out set closes that: digits the instructor provides, which no student has, kept in
the course directory (``heldout/digits.npz``, never committed), where the sandbox cannot
read them. ``nbgrader_config.py`` points the judge at that file when it exists
(``c.JudgeTestCells.heldout``), and the trained-model tasks of ps4 and ps5 score the
notebook's weights on it, in the judge's own process.

Without such a file the judge scores on the public test split, as the notebook's own
visible check does, and its verdict and the grading record say so.

The file is an ``.npz`` with ``x``, uint8 images (N, 28, 28) with ink high as MNIST's,
and ``y``, labels 0-9 (N,). :func:`from_idx` makes it from MNIST's own test files
(``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``: 10,000 digits that are not
among the course's), ``course-admin heldout IMAGES LABELS``.
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TestDigits", "from_idx", "read", "test_digits", "use"]

_PATH = ""  # the instructor's held-out file, set by JudgeTestCells (use())
MAX_DIGITS = 100_000


@dataclass(frozen=True)
class TestDigits:
    """Images (N, 1, size, size) float32 in [0, 1], labels (N,) int64, and what they are."""

    x: np.ndarray
    y: np.ndarray
    where: str
    heldout: bool


def use(path: str | os.PathLike | None) -> None:
    """Score graded trained networks on the digits in ``path`` (None or "": the public split)."""
    global _PATH
    _PATH = str(path or "")


def test_digits(size: int = 32, hidden: bool = True) -> TestDigits:
    """The digits to score a trained network on: held-out ones when grading and provided."""
    if hidden and _PATH:
        x, y = read(_PATH, size)
        return TestDigits(x, y, f"{len(y):,} held-out digits that no submission has", True)
    from course import data

    digits = data.mnist(size)
    return TestDigits(digits.x_test, digits.y_test, "the 1,000 test digits of data.mnist()",
                      False)


def read(path: str | os.PathLike, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The held-out file's images as (N, 1, size, size) float32 in [0, 1], and labels."""
    stat = os.stat(path) if os.path.exists(path) else None
    return _read(str(path), size, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


@functools.lru_cache(maxsize=4)
def _read(path: str, size: int, mtime: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in (28, 32):
        raise ValueError(f"`size` must be 28 or 32, got {size!r}")
    try:
        with np.load(path, allow_pickle=False) as found:
            x, y = found["x"], found["y"]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"the held-out digits file {path} could not be read: it must be an "
                         f".npz with `x` (N, 28, 28) uint8 and `y` (N,) labels ({error})") from None
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"`x` of {path} must be uint8 images of shape (N, 28, 28), got "
                         f"{x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) \
            or len(y) == 0 or y.min() < 0 or y.max() > 9 or len(y) > MAX_DIGITS:
        raise ValueError(f"`y` of {path} must hold one label 0-9 per image (1 to {MAX_DIGITS})")
    images = x.astype(np.float32) / 255.0
    pad = (size - 28) // 2
    if pad:
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    return images[:, None], y.astype(np.int64)


def _idx(path: Path, magic: int, dims: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        data = stream.read(64 * 1024 * 1024)
    if len(data) < 4 + 4 * dims or int.from_bytes(data[:4], "big") != magic:
        raise ValueError(f"{path} is not an MNIST IDX file of {dims} dimension(s)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {body.size} bytes of data for a shape {shape}")
    return body.reshape(shape)


def from_idx(images: str | os.PathLike, labels: str | os.PathLike,
             to: str | os.PathLike) -> int:
    """Write MNIST's IDX image and label files (gzipped or not) as a held-out ``.npz``."""
    x = _idx(Path(images), 2051, 3)
    y = _idx(Path(labels), 2049, 1)
    if x.shape[1:] != (28, 28) or len(x) != len(y):
        raise ValueError(f"expected (N, 28, 28) images and N labels, got {x.shape} and {y.shape}")
    target = Path(to)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, x=x, y=y.astype(np.int64))
    read(target)  # the file the judge will read is valid
    return len(y)
