"""Hands in, as the notebook, a relative symbolic link to another student's notebook."""
import os
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "the submitted notebook is a link to another student's notebook"
BLANK = True
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["a symbolic link (links are never followed)"]
SIDE_EFFECTS = ["course_files_unchanged", "honest_scores_kept"]
LIMITS = []
REFUSED = ["ps1.ipynb: a symbolic link"]


def plant(folder: Path, fields: dict) -> None:
    (folder / "ps1.ipynb").unlink()
    os.symlink("../../ps1_honest/ps1/ps1.ipynb", folder / "ps1.ipynb")
