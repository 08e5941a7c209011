"""Cells of IPython syntax with 2.2 million lines in all, each cell's source one JSON
string: turning them into Python took the grader's own process past the submission's
budget (30 s became 87 s). That work now happens in the sandbox, inside the budget."""
import json
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "make the grader's own work on the source outlast the budget"
BLANK = True
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["time budget"]
SIDE_EFFECTS = ["within_budget", "honest_scores_kept"]
LIMITS = ["time budget"]
COPIES, LINES = 44, 50_000


def plant(folder: Path, fields: dict) -> None:
    nb = json.loads((folder / "ps1.ipynb").read_text())
    for _ in range(COPIES):
        nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                            "execution_count": None, "source": "%time\n" + "a = 1\n" * LINES})
    (folder / "ps1.ipynb").write_text(json.dumps(nb))
