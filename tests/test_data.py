"""The data loaders (course/data.py): shipped images and the real MNIST digits."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from course import data


def test_mnist_split_is_fixed_stratified_and_disjoint():
    digits = data.mnist()
    parts = [(digits.x_train, digits.y_train), (digits.x_val, digits.y_val),
             (digits.x_test, digits.y_test)]
    for (x, y), n in zip(parts, (3000, 1000, 1000)):
        assert x.shape == (n, 1, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
        assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10
        assert 0.0 <= x.min() and x.max() == 1.0
    keys = [{hashlib.sha1(image.tobytes()).hexdigest() for image in x} for x, _ in parts]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 5000  # nothing twice
    again = data.mnist()
    assert all(np.array_equal(a, b) for a, b in zip(digits, again))


def test_mnist_is_padded_to_lenet5s_32x32_input():
    padded, plain = data.mnist(32), data.mnist(28)
    assert plain.x_train.shape == (3000, 1, 28, 28)
    np.testing.assert_array_equal(padded.x_test[:, :, 2:30, 2:30], plain.x_test)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not padded.x_train[:, 0][:, border].any()
    assert (plain.y_train == padded.y_train).all()


def test_mnist_digits_are_real_handwriting():
    x = data.mnist(28).x_train[:, 0]
    ink = (x > 0.5).mean(axis=(1, 2))
    assert 0.05 < ink.mean() < 0.3  # strokes on a blank page, not noise or blank images
    assert len({image.tobytes() for image in x}) == 3000


def test_mnist_size_is_checked():
    with pytest.raises(ValueError, match="`size` must be 28 or 32, got 30"):
        data.mnist(30)
