"""course.detection: boxes, IoU, non-maximum suppression, windows, proposals and the digit canvas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course import detection
from course.ops import conv_output_size


def random_boxes(rng, count, limit=30, largest=12):
    x0, y0 = rng.integers(0, limit, count), rng.integers(0, limit, count)
    w, h = rng.integers(0, largest, count), rng.integers(0, largest, count)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def pixel_iou(a, b, size=64):
    """IoU by counting pixels: box (x0, y0, x1, y1) covers image[y0:y1, x0:x1]."""
    masks = []
    for x0, y0, x1, y1 in (a, b):
        mask = np.zeros((size, size), bool)
        mask[y0:y1, x0:x1] = True
        masks.append(mask)
    union = (masks[0] | masks[1]).sum()
    return (masks[0] & masks[1]).sum() / union if union else 0.0


# ----------------------------------------------------------------------------- box_iou
def test_box_iou_counts_pixels():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 20), random_boxes(rng, 15)
    iou = detection.box_iou(a, b)
    assert iou.shape == (20, 15)
    expected = np.array([[pixel_iou(p, q) for q in b] for p in a])
    np.testing.assert_allclose(iou, expected, atol=1e-12)


def test_box_iou_of_known_pairs():
    iou = detection.box_iou([[0, 0, 2, 2]], [[0, 0, 2, 2], [1, 0, 3, 2], [2, 0, 4, 2], [5, 5, 6, 6], [3, 3, 3, 3]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0, 0.0, 0.0]])   # same, half-shifted, touching, apart, empty


def test_box_iou_of_boxes_apart_diagonally_is_zero():
    # both overlaps are negative; their product must not count as an intersection
    assert detection.box_iou([[0, 0, 2, 2]], [[5, 5, 9, 9]])[0, 0] == 0.0


def test_box_iou_is_symmetric_and_accepts_one_box():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 6), random_boxes(rng, 4)
    np.testing.assert_allclose(detection.box_iou(a, b), detection.box_iou(b, a).T)
    assert detection.box_iou(a[0], b).shape == (1, 4)


@pytest.mark.parametrize("boxes, error, words", [
    (np.zeros((3, 3)), ValueError, "`boxes_a` must have shape (K, 4)"),
    ([[2, 0, 1, 1]], ValueError, "`boxes_a` box 0 has x1 < x0"),
    ([[0, 0, np.inf, 1]], ValueError, "`boxes_a` must hold finite"),
    ("box", TypeError, "`boxes_a` must be an array"),
])
def test_box_iou_refuses_bad_boxes(boxes, error, words):
    with pytest.raises(error) as info:
        detection.box_iou(boxes, [[0, 0, 1, 1]])
    assert words in str(info.value)


# ----------------------------------------------------------------------------- nms
def test_nms_keeps_the_best_of_each_cluster():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 20, 31, 30], [2, 0, 12, 10]]
    np.testing.assert_array_equal(detection.nms(boxes, [0.7, 0.8, 0.6, 0.9, 0.5], 0.5), [3, 1])


def test_nms_only_kept_boxes_suppress():
    # 0 overlaps 1 and 1 overlaps 2; 1 is removed by 0, so it cannot remove 2
    boxes = [[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]]
    np.testing.assert_array_equal(detection.nms(boxes, [0.9, 0.8, 0.7], 0.1), [0, 2])


def test_nms_keeps_a_box_whose_iou_equals_the_threshold():
    np.testing.assert_array_equal(detection.nms([[0, 0, 4, 2], [0, 0, 2, 2]], [0.9, 0.8], 0.5), [0, 1])


def test_nms_properties_on_random_boxes():
    rng = np.random.default_rng(2)
    for _ in range(20):
        boxes = random_boxes(rng, 25, limit=20, largest=10) + np.array([0, 0, 1, 1])
        scores = rng.random(25)
        threshold = rng.uniform(0.1, 0.7)
        keep = detection.nms(boxes, scores, threshold)
        assert keep.dtype == np.int64 and len(set(keep.tolist())) == len(keep)
        assert np.all(np.diff(scores[keep]) <= 0)                      # best first
        iou = detection.box_iou(boxes, boxes)
        kept = iou[np.ix_(keep, keep)] - np.eye(len(keep))
        assert np.all(kept <= threshold)                               # no two kept boxes overlap too much
        for j in set(range(25)) - set(keep.tolist()):                  # every removed box was removed by a better kept one
            assert any(iou[i, j] > threshold and scores[i] >= scores[j] for i in keep)


def test_nms_limits():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11]]
    np.testing.assert_array_equal(detection.nms(boxes, [0.1, 0.2], 1.0), [1, 0])   # nothing overlaps by more than 1
    assert detection.nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def test_nms_refuses_bad_arguments():
    with pytest.raises(ValueError, match="`scores` must hold one score per box"):
        detection.nms([[0, 0, 1, 1]], [0.5, 0.4])
    with pytest.raises(ValueError, match="`iou_threshold` must be in"):
        detection.nms([[0, 0, 1, 1]], [0.5], 1.5)


# ----------------------------------------------------------------------------- windows
@pytest.mark.parametrize("height, width, size, stride", [(96, 96, 32, 4), (80, 50, 32, 7), (10, 10, 10, 3), (9, 20, 4, 1)])
def test_sliding_windows_follow_the_output_size_formula(height, width, size, stride):
    windows = detection.sliding_windows(height, width, size, stride)
    rows, cols = conv_output_size(height, size, stride), conv_output_size(width, size, stride)
    assert windows.shape == (rows * cols, 4) and windows.dtype == np.int64
    assert np.all(windows[:, 2] - windows[:, 0] == size) and np.all(windows[:, 3] - windows[:, 1] == size)
    assert windows[:, [0, 1]].min() == 0 and windows[:, 2].max() <= width and windows[:, 3].max() <= height
    if cols > 1:
        assert windows[1, 0] - windows[0, 0] == stride and windows[1, 1] == 0


def test_sliding_windows_refuse_bad_sizes():
    with pytest.raises(ValueError, match="`size` \\(40\\) must fit"):
        detection.sliding_windows(32, 64, 40, 4)
    with pytest.raises(ValueError, match="`stride` must be >= 1"):
        detection.sliding_windows(32, 32, 8, 0)
    with pytest.raises(TypeError, match="`height` must be an int"):
        detection.sliding_windows(32.0, 32, 8, 1)


def test_crop_and_resize_copies_whole_pixel_boxes_exactly():
    image = np.random.default_rng(3).random((20, 30))
    crops = detection.crop_and_resize(image, [[4, 2, 12, 10], [0, 0, 8, 8]], 8)
    assert crops.shape == (2, 1, 8, 8) and crops.dtype == np.float32
    np.testing.assert_allclose(crops[0, 0], image[2:10, 4:12], rtol=1e-6)
    np.testing.assert_allclose(crops[1, 0], image[:8, :8], rtol=1e-6)


def test_crop_and_resize_matches_torch_bilinear_when_shrinking():
    image = np.random.default_rng(4).random((16, 24))
    crops = detection.crop_and_resize(image, [[0, 0, 24, 16]], 8)            # 24 x 16 -> 8 x 8
    expected = torch.nn.functional.interpolate(torch.tensor(image)[None, None], size=(8, 8), mode="bilinear",
                                               align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(crops[0, 0], expected, rtol=1e-5, atol=1e-6)


def test_crop_and_resize_reads_zero_outside_the_image():
    crops = detection.crop_and_resize(np.ones((4, 4)), [[-4, 0, 4, 8]], 8)
    np.testing.assert_allclose(crops[0, 0, :4, :4], 0.0)
    np.testing.assert_allclose(crops[0, 0, :4, 4:], 1.0)


def test_crop_and_resize_refuses_a_colour_image():
    with pytest.raises(ValueError, match="`image` must have 2 dimensions"):
        detection.crop_and_resize(np.zeros((4, 4, 3)), [[0, 0, 2, 2]], 2)


# ----------------------------------------------------------------------------- proposals and labels
def test_propose_regions_finds_each_blob_and_ignores_specks():
    image = np.zeros((40, 60))
    image[5:15, 5:12] = 1.0                       # a blob 10 tall, 7 wide
    image[20:30, 40:44] = 1.0                     # a second blob
    image[22:30, 46:48] = 1.0                     # ... with a broken-off stroke 2 pixels away: joined by `grow`
    image[35, 20] = 1.0                           # a speck
    boxes = detection.propose_regions(image, scale=1.4, min_pixels=5)
    assert boxes.shape == (2, 4)
    np.testing.assert_array_equal(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])       # squares
    np.testing.assert_array_equal(boxes[0], [1, 3, 15, 17])   # 14 x 14 around the blob's centre (8.5, 9.5)
    x0, y0, x1, y1 = boxes[1]
    assert x0 <= 40 and x1 >= 48 and y0 <= 20 and y1 >= 30
    assert len(detection.propose_regions(image, grow=0, scale=1.4, min_pixels=5)) == 3     # not joined


def test_propose_regions_on_a_blank_image():
    assert detection.propose_regions(np.zeros((10, 10))).shape == (0, 4)


def test_label_windows_as_rcnn():
    windows = [[0, 0, 10, 10], [1, 0, 11, 10], [4, 0, 14, 10], [30, 30, 40, 40]]
    labels = detection.label_windows(windows, [[0, 0, 10, 10]], [7], positive=0.7, negative=0.3, background=10)
    # IoU 1, 0.82, 0.43 (ambiguous), 0
    np.testing.assert_array_equal(labels, [7, 7, -2, 10])
    np.testing.assert_array_equal(detection.label_windows(windows, np.zeros((0, 4)), []), [-1] * 4)
    with pytest.raises(ValueError, match="need 0 <= `negative` <= `positive`"):
        detection.label_windows(windows, [[0, 0, 1, 1]], [1], positive=0.2, negative=0.5)
    with pytest.raises(ValueError, match="`true_labels` must hold one label per box"):
        detection.label_windows(windows, [[0, 0, 1, 1]], [1, 2])


# ----------------------------------------------------------------------------- the canvas
def test_digit_canvas_places_tiles_without_overlap():
    rng = np.random.default_rng(5)
    tiles = rng.random((20, 1, 32, 32)).astype(np.float32)
    labels = np.arange(20) % 10
    canvas = detection.digit_canvas(tiles, labels, height=96, width=128, count=4, seed=7)
    assert canvas.image.shape == (96, 128) and canvas.image.dtype == np.float32
    assert canvas.boxes.shape == (4, 4) and canvas.labels.shape == (4,)
    iou = detection.box_iou(canvas.boxes, canvas.boxes) - np.eye(4)
    assert iou.max() == 0
    for (x0, y0, x1, y1), label in zip(canvas.boxes, canvas.labels):
        assert x1 - x0 == 32 and y1 - y0 == 32
        patch = canvas.image[y0:y1, x0:x1]
        matches = [i for i in range(20) if np.array_equal(patch, tiles[i, 0])]
        assert matches and labels[matches[0]] == label
    outside = np.ones((96, 128), bool)
    for x0, y0, x1, y1 in canvas.boxes:
        outside[y0:y1, x0:x1] = False
    assert canvas.image[outside].max() == 0


def test_digit_canvas_is_reproducible_and_noise_is_clipped():
    tiles = np.ones((3, 8, 8))
    a = detection.digit_canvas(tiles, [0, 1, 2], height=30, width=30, count=2, seed=1, noise=0.5)
    b = detection.digit_canvas(tiles, [0, 1, 2], height=30, width=30, count=2, seed=1, noise=0.5)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert 0 <= a.image.min() and a.image.max() <= 1


def test_digit_canvas_refuses_impossible_requests():
    with pytest.raises(ValueError, match="could not place 5 tiles of 32 x 32 on a 64 x 64 canvas"):
        detection.digit_canvas(np.zeros((5, 32, 32)), np.arange(5), height=64, width=64, count=5)
    with pytest.raises(ValueError, match="`labels` must hold one label per image"):
        detection.digit_canvas(np.zeros((5, 8, 8)), np.arange(4), height=16, width=16, count=1)
    with pytest.raises(ValueError, match="`height` must be >= 32"):
        detection.digit_canvas(np.zeros((5, 32, 32)), np.arange(5), height=20, width=64, count=1)
    with pytest.raises(ValueError, match="`images` must have one channel"):
        detection.digit_canvas(np.zeros((5, 3, 8, 8)), np.arange(5), height=16, width=16, count=1)


def test_propose_regions_refuses_a_shrinking_scale():
    with pytest.raises(ValueError, match="`scale` must be a number >= 1"):
        detection.propose_regions(np.zeros((5, 5)), scale=0.5)
