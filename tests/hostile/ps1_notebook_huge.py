"""Hands in a 24 MB notebook (a markdown cell of filler): a grading worker grew to 3.2 GiB
decoding one."""
import json
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "a notebook file too large to parse safely"
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["over the limit of 16 MiB", "graded as the blank assignment notebook"]
SIDE_EFFECTS = ["honest_scores_kept", "grader_memory_bounded", "feedback_small"]
LIMITS = []
REFUSED = ["ps1.ipynb: the notebook is 2"]


def plant(folder: Path, fields: dict) -> None:
    nb = json.loads((folder / "ps1.ipynb").read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "z" * 24_000_000})
    (folder / "ps1.ipynb").write_text(json.dumps(nb))
