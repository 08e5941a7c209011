"""Hands in a 2 MB notebook made of 400,000 tiny JSON elements (empty cells' lists of
lines): small on disk, millions of objects once parsed."""
import json
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "a notebook of very many small JSON elements"
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["JSON elements", "graded as the blank assignment notebook"]
SIDE_EFFECTS = ["honest_scores_kept", "grader_memory_bounded"]
LIMITS = []
REFUSED = ["ps1.ipynb: the notebook has more than"]


def plant(folder: Path, fields: dict) -> None:
    nb = json.loads((folder / "ps1.ipynb").read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["x"] * 400_000})
    (folder / "ps1.ipynb").write_text(json.dumps(nb))
