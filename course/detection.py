"""Object detection on digits: a canvas to search, boxes, IoU, non-maximum suppression, windows.

Detection answers *what* is in an image and *where*: a list of boxes, each with a class
and a score. The oldest recipe, which notebook 07 follows, turns a classifier into a
detector:

1. place candidate windows on the image, either every position of a sliding window
   (:func:`sliding_windows`) or a few *region proposals* guessed from the image itself
   (:func:`propose_regions`, the idea of R-CNN's selective search);
2. cut each window out and resize it to the classifier's input (:func:`crop_and_resize`);
3. classify every window, with one extra class for "background";
4. keep the confident windows and remove the duplicates around each object with
   non-maximum suppression (:func:`nms`), which compares boxes by their intersection
   over union (:func:`box_iou`).

:func:`digit_canvas` makes the test images: real MNIST digits placed at random,
non-overlapping places on a larger blank canvas, with their true boxes and labels.
:func:`label_windows` gives windows training labels in the way of R-CNN (the class of
the object they overlap well, background when they overlap little; see its Notes).

Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x`` the column and ``y`` the row, with
``x0, y0`` included and ``x1, y1`` excluded, as in the slice ``image[y0:y1, x0:x1]``:
a box's width is ``x1 - x0``. Everything here is NumPy; the classifier is any callable.
"""
from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from .ops._checks import as_array

__all__ = ["Canvas", "box_iou", "crop_and_resize", "digit_canvas", "label_windows", "nms",
           "propose_regions", "sliding_windows"]


def _boxes(value, name: str) -> np.ndarray:
    """``value`` as a float64 array of shape (K, 4) with x0 <= x1 and y0 <= y1."""
    boxes = as_array(value, name, (1, 2)).astype(np.float64)
    if boxes.ndim == 1:
        if boxes.shape != (4,):
            raise ValueError(f"`{name}` must have shape (K, 4) or (4,), got {boxes.shape}")
        boxes = boxes[None]
    if boxes.shape[1] != 4:
        raise ValueError(f"`{name}` must have shape (K, 4): (x0, y0, x1, y1) per box, got {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"`{name}` must hold finite coordinates")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        bad = int(np.argmax((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])))
        raise ValueError(f"`{name}` box {bad} has x1 < x0 or y1 < y0: {boxes[bad].tolist()}; "
                         "boxes are (x0, y0, x1, y1)")
    return boxes


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every box of ``boxes_a`` with every box of ``boxes_b``.

    Parameters
    ----------
    boxes_a : array_like, shape (N, 4)
        Boxes ``(x0, y0, x1, y1)``, corners ``x0, y0`` included and ``x1, y1`` excluded.
    boxes_b : array_like, shape (M, 4)

    Returns
    -------
    ndarray, shape (N, M)
        ``area(a & b) / area(a | b)`` in [0, 1]; 0 for boxes that do not overlap (or
        touch only along an edge) and for two empty boxes.

    Raises
    ------
    ValueError
        If a box is not four finite numbers with ``x0 <= x1`` and ``y0 <= y1``.

    Notes
    -----
    The overlap along x is ``min(x1_a, x1_b) - max(x0_a, x0_b)``, negative when the boxes
    are apart; it must be clipped at 0 before it is multiplied with the overlap along y
    (two negative overlaps would make a positive "area"). The union counts the
    intersection once: ``area_a + area_b - intersection``. Notebook 07 uses it to match
    detections with the true boxes and in :func:`nms`.

    Examples
    --------
    >>> box_iou([[0, 0, 2, 2]], [[1, 0, 3, 2], [5, 5, 6, 6]])
    array([[0.33333333, 0.        ]])
    """
    a, b = _boxes(boxes_a, "boxes_a"), _boxes(boxes_b, "boxes_b")
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold: float = 0.5) -> np.ndarray:
    """Non-maximum suppression: keep the best box of every group of overlapping boxes.

    Parameters
    ----------
    boxes : array_like, shape (K, 4)
        Candidate boxes ``(x0, y0, x1, y1)``.
    scores : array_like, shape (K,)
        Confidence of each box.
    iou_threshold : float
        A box is removed when its IoU with a box kept before it is *larger* than this.

    Returns
    -------
    ndarray of int64, shape (K_kept,)
        Indices into ``boxes`` of the kept boxes, highest score first (ties: the lower
        index first).

    Raises
    ------
    ValueError
        If ``scores`` does not have one value per box or ``iou_threshold`` is not in [0, 1].

    Notes
    -----
    Greedy, as in R-CNN and most detectors since: take the highest-scoring box left,
    keep it, delete every remaining box that overlaps it by more than the threshold,
    repeat. A sliding-window classifier fires on many shifted windows around each
    object; this leaves one per object.

    Examples
    --------
    >>> nms([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.9, 0.8, 0.7])
    array([0, 2])
    """
    boxes = _boxes(boxes, "boxes") if len(np.asarray(boxes)) else np.zeros((0, 4))
    scores = as_array(scores, "scores", (1,)).astype(np.float64)
    if scores.shape != (len(boxes),):
        raise ValueError(f"`scores` must hold one score per box: {len(boxes)} boxes, scores of shape {scores.shape}")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"`iou_threshold` must be in [0, 1], got {iou_threshold}")
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        best, order = order[0], order[1:]
        keep.append(int(best))
        if len(order):
            order = order[box_iou(boxes[best], boxes[order])[0] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def sliding_windows(height: int, width: int, size: int, stride: int) -> np.ndarray:
    """Every position of a ``size`` x ``size`` window moved by ``stride`` over an image.

    Parameters
    ----------
    height, width : int
        Size of the image.
    size : int
        Side of the square window (the classifier's input size).
    stride : int
        Step between neighbouring windows, in pixels.

    Returns
    -------
    ndarray of int64, shape (rows * cols, 4)
        Boxes ``(x0, y0, x1, y1)`` row by row, with ``rows = (height - size) // stride + 1``
        and ``cols = (width - size) // stride + 1``: the output-size formula of a
        convolution with kernel ``size`` and this stride (notebook 03).

    Examples
    --------
    >>> sliding_windows(4, 6, size=4, stride=2)
    array([[0, 0, 4, 4],
           [2, 0, 6, 4]])
    """
    height, width = _positive_int(height, "height"), _positive_int(width, "width")
    size, stride = _positive_int(size, "size"), _positive_int(stride, "stride")
    if size > min(height, width):
        raise ValueError(f"`size` ({size}) must fit in the image ({height} x {width})")
    ys = np.arange(0, height - size + 1, stride)
    xs = np.arange(0, width - size + 1, stride)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    y0, x0 = y0.ravel(), x0.ravel()
    return np.stack([x0, y0, x0 + size, y0 + size], axis=1).astype(np.int64)


def crop_and_resize(image, boxes, size: int) -> np.ndarray:
    """Cut boxes out of an image and resize each to ``size`` x ``size`` (bilinear).

    Parameters
    ----------
    image : array_like, shape (H, W)
        A grey image.
    boxes : array_like, shape (K, 4)
        Boxes ``(x0, y0, x1, y1)``; parts outside the image read as 0.
    size : int
        Side of the output crops (the classifier's input size).

    Returns
    -------
    ndarray of float32, shape (K, 1, size, size)
        The crops in the layer layout ``(N, C, H, W)``, ready for a classifier. A box
        that is already ``size`` x ``size`` on whole pixels is copied exactly.

    Notes
    -----
    R-CNN "warps" every region proposal, whatever its shape, to the fixed input of its
    CNN in the same way. The sample positions are the pixel centres of the output grid
    mapped into the box (PyTorch's ``align_corners=False``).

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> crop_and_resize(image, [[1, 1, 3, 3]], 2)[0, 0]
    array([[ 5.,  6.],
           [ 9., 10.]], dtype=float32)
    """
    image = as_array(image, "image", (2,)).astype(np.float64)
    boxes = _boxes(boxes, "boxes") if len(np.asarray(boxes)) else np.zeros((0, 4))
    size = _positive_int(size, "size")
    H, W = image.shape
    padded = np.pad(image, 1)   # reads outside the image give 0
    out = np.empty((len(boxes), 1, size, size), dtype=np.float32)
    centres = (np.arange(size) + 0.5) / size
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        # pixel i covers [i, i + 1): its centre is at i + 0.5
        ys = np.clip(y0 + centres * (y1 - y0) - 0.5, -1, H) + 1
        xs = np.clip(x0 + centres * (x1 - x0) - 0.5, -1, W) + 1
        r0 = np.floor(ys).astype(int).clip(0, H)
        c0 = np.floor(xs).astype(int).clip(0, W)
        fy, fx = (ys - r0)[:, None], (xs - c0)[None, :]
        r1, c1 = (r0 + 1).clip(0, H + 1), (c0 + 1).clip(0, W + 1)
        top = padded[r0][:, c0] * (1 - fx) + padded[r0][:, c1] * fx
        bottom = padded[r1][:, c0] * (1 - fx) + padded[r1][:, c1] * fx
        out[k, 0] = top * (1 - fy) + bottom * fy
    return out


def propose_regions(image, *, threshold: float = 0.3, grow: int = 2, min_pixels: int = 20,
                    scale: float = 1.6) -> np.ndarray:
    """Region proposals: square boxes around the connected blobs of bright pixels.

    Parameters
    ----------
    image : array_like, shape (H, W)
        A grey image, objects bright on a dark background (values in [0, 1]).
    threshold : float, keyword-only
        Pixels above it are "ink".
    grow : int, keyword-only
        The ink mask is grown by this many pixels before the blobs are found, so that the
        broken strokes of one digit join into one blob.
    min_pixels : int, keyword-only
        Blobs with fewer ink pixels are ignored (specks of noise).
    scale : float, keyword-only
        Each blob's bounding box is made square, centred on the box, with a side of the
        larger side times ``scale``: MNIST digits fill about 20 of their 32 pixels, so 1.6
        frames a digit the way the classifier saw its training digits.

    Returns
    -------
    ndarray of int64, shape (K, 4)
        Boxes ``(x0, y0, x1, y1)``, one per blob, in the order the blobs are met reading
        the image row by row; they may reach outside the image.

    Notes
    -----
    R-CNN (Girshick et al., 2014) classifies about 2,000 proposals per image found by
    *selective search*, which merges neighbouring regions of similar colour and texture
    bottom-up, instead of every position and size of a sliding window. On a dark canvas
    with bright digits a blob of connected ink is a good enough guess for a region.

    Examples
    --------
    >>> canvas = np.zeros((20, 30))
    >>> canvas[5:10, 4:8] = 1.0
    >>> propose_regions(canvas, scale=1.4, min_pixels=5)
    array([[ 2,  4,  9, 11]])
    """
    image = as_array(image, "image", (2,)).astype(np.float64)
    grow = _positive_int(grow, "grow", 0)
    min_pixels = _positive_int(min_pixels, "min_pixels")
    if not (np.isfinite(scale) and scale >= 1):
        raise ValueError(f"`scale` must be a number >= 1, got {scale}")
    ink = image > threshold
    grown = ink.copy()
    for _ in range(grow):   # a 3x3 maximum filter, once per pixel of growth
        padded = np.pad(grown, 1)
        grown = np.zeros_like(grown)
        for dy in range(3):
            for dx in range(3):
                grown |= padded[dy:dy + ink.shape[0], dx:dx + ink.shape[1]]
    labels = np.zeros(ink.shape, dtype=np.int64)
    boxes = []
    H, W = ink.shape
    for start in zip(*np.nonzero(grown)):
        if labels[start]:
            continue
        label = len(boxes) + 1
        labels[start] = label
        queue, members = deque([start]), []
        while queue:   # breadth-first search over the 8 neighbours
            r, c = queue.popleft()
            members.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < H and 0 <= cc < W and grown[rr, cc] and not labels[rr, cc]:
                        labels[rr, cc] = label
                        queue.append((rr, cc))
        rows, cols = np.array(members).T
        mine = ink[rows, cols]
        boxes.append(None)
        if mine.sum() < min_pixels:
            continue
        rows, cols = rows[mine], cols[mine]
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        side = int(np.ceil(max(y1 - y0, x1 - x0) * scale))
        cy2, cx2 = y0 + y1, x0 + x1           # twice the centre, to stay in integers
        top, left = (cy2 - side) // 2, (cx2 - side) // 2
        boxes[-1] = (left, top, left + side, top + side)
    found = [b for b in boxes if b is not None]
    return np.array(found, dtype=np.int64).reshape(-1, 4)


def label_windows(windows, true_boxes, true_labels, *, positive: float = 0.5,
                  negative: float = 0.3, background: int = -1, ignore: int = -2) -> np.ndarray:
    """Training labels for windows: the class of the object a window overlaps well, or background.

    Parameters
    ----------
    windows : array_like, shape (K, 4)
        Candidate boxes (sliding windows or proposals).
    true_boxes : array_like, shape (M, 4)
        The objects' boxes.
    true_labels : array_like, shape (M,)
        Their classes.
    positive : float, keyword-only
        A window whose best IoU with an object is at least this gets that object's class.
    negative : float, keyword-only
        A window whose best IoU is below this is ``background``.
    background, ignore : int, keyword-only
        The labels of background windows and of the ambiguous ones in between (left out of
        training).

    Returns
    -------
    ndarray of int64, shape (K,)

    Notes
    -----
    The two thresholds mix two of R-CNN's rules: its fine-tuning counts a proposal as
    positive from IoU 0.5, and its per-class SVMs take proposals below IoU 0.3 as
    negatives (those in between are left out). Faster R-CNN's region-proposal network uses
    0.7 and 0.3. Windows that show only part of a digit become background or are left out,
    so the classifier learns to fire on well-centred digits only.

    Examples
    --------
    >>> label_windows([[0, 0, 4, 4], [1, 0, 5, 4], [8, 8, 12, 12]], [[0, 0, 4, 4]], [7], background=10)
    array([ 7,  7, 10])
    """
    windows = _boxes(windows, "windows")
    true_boxes = _boxes(true_boxes, "true_boxes") if len(np.asarray(true_boxes)) else np.zeros((0, 4))
    true_labels = np.asarray(true_labels, dtype=np.int64).reshape(-1)
    if true_labels.shape != (len(true_boxes),):
        raise ValueError(f"`true_labels` must hold one label per box: {len(true_boxes)} boxes, "
                         f"labels of shape {true_labels.shape}")
    if not 0.0 <= negative <= positive <= 1.0:
        raise ValueError(f"need 0 <= `negative` <= `positive` <= 1, got negative={negative}, positive={positive}")
    out = np.full(len(windows), ignore, dtype=np.int64)
    if not len(true_boxes):
        out[:] = background
        return out
    iou = box_iou(windows, true_boxes)
    best, which = iou.max(axis=1), iou.argmax(axis=1)
    out[best < negative] = background
    out[best >= positive] = true_labels[which[best >= positive]]
    return out


class Canvas(NamedTuple):
    """A canvas with digits placed on it.

    ``image``: shape (H, W) float32 in [0, 1]; ``boxes``: shape (K, 4) int64, the tile
    ``(x0, y0, x1, y1)`` of each placed digit; ``labels``: shape (K,) int64.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def digit_canvas(images, labels, *, height: int = 96, width: int = 96, count: int = 3,
                 seed: int = 0, noise: float = 0.0) -> Canvas:
    """Place ``count`` digits, drawn at random from ``images``, on a blank canvas.

    Parameters
    ----------
    images : array_like, shape (N, 1, S, S) or (N, S, S)
        Digit tiles (``data.mnist().x_test``: 32 x 32, the digit in the middle 28 x 28).
    labels : array_like, shape (N,)
        Their classes.
    height, width : int, keyword-only
        Size of the canvas.
    count : int, keyword-only
        Number of digits; their tiles do not overlap.
    seed : int, keyword-only
        Seed of the choice of digits and places: the same seed gives the same canvas.
    noise : float, keyword-only
        Standard deviation of Gaussian noise added to the canvas (then clipped to [0, 1]).

    Returns
    -------
    Canvas
        The image, the tiles' boxes (the ground truth a detector should find, at the
        tile's size S) and the labels.

    Raises
    ------
    ValueError
        If the digits cannot be placed without overlap after many tries.

    Examples
    --------
    >>> tiles = np.zeros((5, 1, 8, 8)); tiles[:, :, 2:6, 2:6] = 1
    >>> canvas = digit_canvas(tiles, np.arange(5), height=20, width=30, count=2)
    >>> canvas.image.shape, canvas.boxes.shape, float(canvas.image.max())
    ((20, 30), (2, 4), 1.0)
    """
    tiles = as_array(images, "images", (3, 4)).astype(np.float32)
    if tiles.ndim == 4:
        if tiles.shape[1] != 1:
            raise ValueError(f"`images` must have one channel, got shape {tiles.shape}")
        tiles = tiles[:, 0]
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape != (len(tiles),):
        raise ValueError(f"`labels` must hold one label per image: {len(tiles)} images, labels {labels.shape}")
    S = tiles.shape[1]
    if tiles.shape[2] != S:
        raise ValueError(f"`images` must be square tiles, got shape {tiles.shape}")
    height, width = _positive_int(height, "height", S), _positive_int(width, "width", S)
    count = _positive_int(count, "count", 0)
    if noise < 0:
        raise ValueError(f"`noise` must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(200):            # start again when the first tiles leave no room
        boxes = []
        for _ in range(50 * count):
            if len(boxes) == count:
                break
            y, x = int(rng.integers(0, height - S + 1)), int(rng.integers(0, width - S + 1))
            box = (x, y, x + S, y + S)
            if not boxes or box_iou([box], boxes).max() == 0:
                boxes.append(box)
        if len(boxes) == count:
            break
    if len(boxes) < count:
        raise ValueError(f"could not place {count} tiles of {S} x {S} on a {height} x {width} canvas; "
                         "make it larger or `count` smaller")
    chosen = rng.choice(len(tiles), size=count, replace=len(tiles) < count)
    image = np.zeros((height, width), dtype=np.float32)
    for (x0, y0, x1, y1), index in zip(boxes, chosen):
        image[y0:y1, x0:x1] = np.maximum(image[y0:y1, x0:x1], tiles[index])
    if noise:
        image = np.clip(image + rng.normal(0, noise, image.shape).astype(np.float32), 0, 1)
    return Canvas(image, np.array(boxes, dtype=np.int64).reshape(-1, 4), labels[chosen])
