"""course.augment: crops, flips, rotations, rescaling, colour changes and noise on images in [0, 1]."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course import augment, data


@pytest.fixture(scope="module")
def cat():
    return data.cat()[::4, ::4] / 255.0          # (75, 113, 3)


def rng(seed=0):
    return np.random.default_rng(seed)


def test_hflip_reverses_the_columns_and_leaves_the_input(cat):
    before = cat.copy()
    flipped = augment.hflip(cat)
    np.testing.assert_array_equal(flipped, cat[:, ::-1])
    np.testing.assert_array_equal(augment.hflip(flipped), cat)
    np.testing.assert_array_equal(cat, before)
    np.testing.assert_array_equal(augment.vflip(cat), cat[::-1])


def test_crop_and_random_crop(cat):
    np.testing.assert_array_equal(augment.crop(cat, 3, 5, 10, 20), cat[3:13, 5:25])
    part = augment.random_crop(cat, 40, 60, rng(1))
    assert part.shape == (40, 60, 3)
    again = augment.random_crop(cat, 40, 60, rng(1))
    np.testing.assert_array_equal(part, again)
    # the crop is a piece of the image
    H, W = 40, 60
    found = [(top, left) for top in range(cat.shape[0] - H + 1)
             for left in range(cat.shape[1] - W + 1)
             if np.array_equal(cat[top:top + H, left:left + W], part)]
    assert found


@pytest.mark.parametrize("args, error, words", [
    ((0, 0, 100, 10), ValueError, "`height` must be >= 1 and <= 75"),
    ((70, 0, 10, 10), ValueError, "`top` must be in [0, 65]"),
    ((0, -1, 10, 10), ValueError, "`left` must be in [0, 103]"),
    ((0, 0, True, 10), TypeError, "`height` must be an int"),
])
def test_crop_refuses_what_does_not_fit(cat, args, error, words):
    with pytest.raises(error) as info:
        augment.crop(cat, *args)
    assert words in str(info.value)


def test_rotate_by_quarter_turns_is_exact():
    x = np.random.default_rng(2).random((9, 9, 3))
    np.testing.assert_allclose(augment.rotate(x, 90), np.rot90(x), atol=1e-12)
    np.testing.assert_allclose(augment.rotate(x, 180), np.rot90(x, 2), atol=1e-12)
    np.testing.assert_allclose(augment.rotate(x, -90), np.rot90(x, -1), atol=1e-12)
    np.testing.assert_allclose(augment.rotate(x, 0), x)
    np.testing.assert_allclose(augment.rotate(x[..., 0], 360), x[..., 0], atol=1e-9)


def test_rotate_fills_the_corners_and_keeps_the_centre():
    x = np.ones((21, 21))
    turned = augment.rotate(x, 45, fill=0.25)
    assert turned.shape == x.shape
    assert turned[0, 0] == 0.25 and turned[10, 10] == 1.0


def test_rotate_matches_torch_grid_sample():
    # the same inverse map as an affine grid (align_corners=True: pixel centres at -1 ... 1), zeros outside
    x = np.random.default_rng(3).random((15, 15))
    angle = 30
    t = np.radians(angle)
    theta = torch.tensor([[[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0]]])   # (x, y) -> source
    grid = torch.nn.functional.affine_grid(theta, (1, 1, 15, 15), align_corners=True)
    expected = torch.nn.functional.grid_sample(torch.tensor(x)[None, None], grid, mode="bilinear",
                                               padding_mode="zeros", align_corners=True)[0, 0].numpy()
    np.testing.assert_allclose(augment.rotate(x, angle), expected, atol=1e-9)


def test_rescale():
    x = np.random.default_rng(4).random((11, 11, 3))
    np.testing.assert_allclose(augment.rescale(x, 1.0), x)
    zoomed = augment.rescale(x, 2.0)
    np.testing.assert_allclose(zoomed[5, 5], x[5, 5])                     # the centre stays
    np.testing.assert_allclose(zoomed[3, 5], x[4, 5])                     # two pixels out come from one pixel out
    np.testing.assert_allclose(zoomed[4, 5], (x[4, 5] + x[5, 5]) / 2)     # one pixel out: halfway
    shrunk = augment.rescale(np.ones((8, 8)), 0.5, fill=0.0)
    assert shrunk[0, 0] == 0 and shrunk[4, 4] == 1
    with pytest.raises(ValueError, match="`factor` must be > 0"):
        augment.rescale(x, 0)


def test_brightness_and_contrast(cat):
    assert augment.adjust_brightness(cat, 2.0).min() == 1.0
    np.testing.assert_allclose(augment.adjust_brightness(cat, 0.0), cat)
    np.testing.assert_allclose(augment.adjust_contrast(cat, 1.0), cat)
    flat = augment.adjust_contrast(cat, 0.0)
    np.testing.assert_allclose(flat, np.full_like(cat, flat[0, 0, 0]))
    grey = np.array([[0.2, 0.6]])
    np.testing.assert_allclose(augment.adjust_contrast(grey, 2.0), [[0.0, 0.8]])
    with pytest.raises(ValueError, match="`factor` must be a finite number >= 0"):
        augment.adjust_contrast(cat, -1)


def test_saturation(cat):
    np.testing.assert_allclose(augment.adjust_saturation(cat, 1.0), cat)
    grey = augment.adjust_saturation(cat, 0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 1])
    np.testing.assert_allclose(grey[..., 0], data.to_gray(cat))


def test_hue_keeps_brightness_and_turns_full_circle(cat):
    np.testing.assert_allclose(augment.shift_hue(cat, 0), cat, atol=1e-9)
    np.testing.assert_allclose(augment.shift_hue(cat, 360), cat, atol=1e-9)
    mid = np.full((1, 1, 3), 0.5) + np.array([0.1, -0.05, -0.05])     # a colour well inside the gamut
    turned = augment.shift_hue(mid, 120)
    assert not np.allclose(turned, mid)
    np.testing.assert_allclose(data.to_gray(turned), data.to_gray(mid), atol=1e-9)
    np.testing.assert_allclose(augment.shift_hue(augment.shift_hue(mid, 50), -50), mid, atol=1e-9)


@pytest.mark.parametrize("change", [lambda x: augment.adjust_saturation(x, 0.5), lambda x: augment.shift_hue(x, 10)])
def test_colour_changes_need_rgb(change):
    with pytest.raises(ValueError, match="`image` must be an RGB image"):
        change(np.zeros((4, 4)))


def test_noise_is_reproducible_and_clipped(cat):
    a, b = augment.add_noise(cat, 0.3, rng(5)), augment.add_noise(cat, 0.3, rng(5))
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and not np.allclose(a, cat)
    np.testing.assert_allclose(augment.add_noise(cat, 0.0, rng()), cat)


def test_random_augment(cat):
    out = augment.random_augment(cat, rng(6))
    assert out.shape == cat.shape and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, augment.random_augment(cat, rng(6)))
    digit = data.mnist().x_test[0, 0]
    plain = augment.random_augment(digit, rng(7), flip=False, max_degrees=0, crop_fraction=1.0)
    np.testing.assert_allclose(plain, digit, atol=1e-6)          # nothing asked for, nothing done
    with pytest.raises(ValueError, match="`crop_fraction` must be in"):
        augment.random_augment(cat, rng(), crop_fraction=0)


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="`image` must have shape"):
        augment.hflip(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="`image` must have 2 or 3 dimensions"):
        augment.hflip(np.zeros(4))
