"""Cells of IPython syntax with 2.2 million lines in all (13 MB, each cell's source one JSON
string). Turning them into Python took the grader's own process past the submission's
budget (30 s became 87 s), and rendering them for the instructor took a feedback run to
14 GB: a notebook holds at most 200,000 characters of source (the course's largest holds
50,000)."""
import json
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "source too large to transform or render"
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["characters of source, over the limit of 200000",
            "graded as the blank assignment notebook"]
SIDE_EFFECTS = ["within_budget", "honest_scores_kept", "feedback_small", "grader_memory_bounded"]
LIMITS = []
REFUSED = ["ps1.ipynb: the notebook's cells hold"]
COPIES, LINES = 44, 50_000


def plant(folder: Path, fields: dict) -> None:
    nb = json.loads((folder / "ps1.ipynb").read_text())
    for _ in range(COPIES):
        nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                            "execution_count": None, "source": "%time\n" + "a = 1\n" * LINES})
    (folder / "ps1.ipynb").write_text(json.dumps(nb))
