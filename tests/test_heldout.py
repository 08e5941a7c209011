"""Held-out digits (course/grading/heldout.py): MNIST's IDX files in, a checked .npz out,
and clear errors for anything else. How the judge uses them: tests/test_grading_ps4.py.
Runtime: < 2 s.
"""
from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest

from course import data
from course.grading import heldout


def _write_idx(folder, x: np.ndarray, y: np.ndarray):
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(images, "wb") as f:
        f.write((2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in x.shape))
        f.write(x.tobytes())
    with gzip.open(labels, "wb") as f:
        f.write((2049).to_bytes(4, "big") + len(y).to_bytes(4, "big") + y.astype(np.uint8).tobytes())
    return images, labels


@pytest.fixture
def digits():
    found = data.mnist(28)
    return np.round(found.x_val[:50, 0] * 255).astype(np.uint8), found.y_val[:50]


def test_idx_files_become_the_digits_the_judge_reads(tmp_path, digits):
    x, y = digits
    images, labels = _write_idx(tmp_path, x, y)
    assert heldout.from_idx(images, labels, tmp_path / "out" / "digits.npz") == 50
    images32, labels32 = heldout.read(tmp_path / "out" / "digits.npz", 32)
    assert images32.shape == (50, 1, 32, 32) and images32.dtype == np.float32
    np.testing.assert_array_equal(np.round(images32[:, 0, 2:30, 2:30] * 255), x)
    assert images32[:, :, :2].max() == 0  # padded by 2 on every side, as data.mnist()
    np.testing.assert_array_equal(labels32, y)


def test_course_admin_heldout_writes_them_where_the_config_finds_them(tmp_path, digits):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text())
    images, labels = _write_idx(tmp_path, *digits)
    done = subprocess.run([sys.executable, "-m", "course.admin", "--root", str(tmp_path),
                           "heldout", str(images), str(labels)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "heldout" / "digits.npz").is_file()
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    assert config.JudgeTestCells.heldout == str(tmp_path / "heldout" / "digits.npz")


def test_no_file_means_the_public_split_and_says_so():
    heldout.use(None)
    found = heldout.test_digits(32, hidden=True)
    assert not found.heldout and found.where == "the 1,000 test digits of data.mnist()"
    assert found.x.shape == (1000, 1, 32, 32)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 28, 28), np.float32), "y": np.zeros(3, int)}, "must be uint8 images"),
    ({"x": np.zeros((3, 32, 32), np.uint8), "y": np.zeros(3, int)}, "shape (N, 28, 28)"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.full(3, 10)}, "one label 0-9 per image"),
    ({"x": np.zeros((3, 28, 28), np.uint8), "y": np.zeros(2, int)}, "one label 0-9 per image"),
    ({"images": np.zeros((3, 28, 28), np.uint8)}, "could not be read"),
])
def test_a_malformed_file_is_refused_with_what_was_expected(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        heldout.read(tmp_path / "bad.npz")


def test_a_file_that_is_not_idx_is_refused(tmp_path, digits):
    images, labels = _write_idx(tmp_path, *digits)
    with pytest.raises(ValueError, match="is not an MNIST IDX file"):
        heldout.from_idx(labels, images, tmp_path / "digits.npz")


def test_only_tasks_that_declare_it_read_the_heldout_digits_and_the_batch_ships_them_then():
    from course.batch.bundle import _uses_heldout
    from course.grading.engine import tasks

    declared = {name for name in ("ps1", "ps2", "ps3", "ps4", "ps5")
                if any(task.heldout for task in tasks(name).values())}
    assert declared == {"ps4", "ps5"}
    assert [name for name in ("ps1", "ps4", "ps5") if _uses_heldout(name)] == ["ps4", "ps5"]
    with pytest.raises(TypeError, match="declare `heldout = True`"):
        tasks("ps1")["test_correlate2d"].test_digits(32, hidden=True)
    assert tasks("ps4")["test_trained_model"].test_digits(32, hidden=False).x.shape[1:] == (
        1, 32, 32)
