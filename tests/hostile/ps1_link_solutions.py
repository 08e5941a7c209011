"""Hands in, as the notebook, a symbolic link to the instructor's notebook in source/
(15/15 when the grader followed it)."""
import os
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "the submitted notebook is a link to the instructor's solutions"
BLANK = True
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["a symbolic link (links are never followed)",
            "graded as the blank assignment notebook"]
SIDE_EFFECTS = ["course_files_unchanged", "honest_scores_kept"]
LIMITS = []
REFUSED = ["ps1.ipynb: a symbolic link"]


def plant(folder: Path, fields: dict) -> None:
    (folder / "ps1.ipynb").unlink()
    os.symlink(os.path.join(fields["root"], "source", "ps1", "ps1.ipynb"), folder / "ps1.ipynb")
