"""The lecture notebooks: stored clean, structured as the course promises, and executable.

The structural tests are fast. ``test_notebook_executes`` runs every notebook top to
bottom in a fresh ``python3`` kernel with the working directory ``notebooks/`` (all
seven take about two minutes on two CPU cores; the per-notebook timings are printed
with ``pytest -s``).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("0[0-9]_*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# Explorers the lectures animate, and the notebook that must show each one.
EXPLORERS = {
    "02": ["widgets.conv_stepper()"],
    "03": ["widgets.kernel_explorer()", "widgets.conv_arithmetic_explorer()", "widgets.pooling_explorer()",
           "widgets.name_the_operation()"],
    "04": ["widgets.conv_matrix_viewer()", "widgets.receptive_field_explorer()"],
    "07": ["widgets.feature_map_viewer("],
}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def source(nb, cell_type: str) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == cell_type)


def test_there_are_seven_numbered_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"0{i}_" for i in range(1, 8)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_kernelspec(path):
    assert dict(read(path).metadata.kernelspec) == KERNELSPEC


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = read(path)
    text, code = source(nb, "markdown"), source(nb, "code")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {path.name[:2]} ·")
    checks = re.findall(r"<details><summary>Answer</summary>(.+?)</details>", text, flags=re.S)
    assert len(checks) >= 2, f"{path.name}: expected at least two self-checks with folded answers"
    assert all(answer.strip() for answer in checks)
    assert "## Further reading" in text
    assert "## Summary" in text
    assert "plt." in code, f"{path.name} draws no figure"
    minutes = int(re.search(r"About (\d+) minutes", nb.cells[0].source).group(1))
    assert 20 <= minutes <= 40


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_uses_the_course_library(path):
    code = source(read(path), "code")
    assert "from course import" in code
    if path.name[:2] not in ("06", "07"):          # 06 and 07 work in PyTorch only
        assert "import course.ops as ops" in code
    for call in EXPLORERS.get(path.name[:2], []):
        assert call in code, f"{path.name} should show {call}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_explorer_is_preceded_by_a_prediction_prompt(path):
    """Before each interactive explorer the reader is asked to predict, then to move the control."""
    cells = read(path).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and cell.source.lstrip().startswith("widgets."):
            before = cells[index - 1]
            assert before.cell_type == "markdown" and before.source.startswith("**Predict first"), (
                f"{path.name} cell {index} ({cell.source.strip()}) has no 'Predict first' prompt before it")


# Checks run in the notebook's own kernel after its last cell (not stored in the notebook):
# `Out` holds the value of every cell, so they look at the explorers the notebook showed.
AFTER_RUN = {
    "03": """
from matplotlib.figure import Figure
from course.widgets import Explorer
frames = [v for v in Out.values() if isinstance(v, Figure) and "Which operation" in v.get_suptitle()]
assert len(frames) == 2, len(frames)
for fig in frames:  # the lecture's frames do not give their answers away
    words = " ".join([fig.get_suptitle()] + [t.get_text() for t in fig.texts]).lower()
    assert not [w for w in ("pooling", "convolution", "stride 2", "padding 0", "padding 1", "kernel 3") if w in words]
quiz = [v for v in Out.values() if isinstance(v, Explorer) and v.name == "name-the-operation"]
assert len(quiz) == 1 and quiz[0].error is None and "verdict" not in quiz[0].result
""",
    "05": """
# the numbers the text states about the segmentation network and batch normalisation
net_iou, threshold_iou = mask_iou(predicted, y_test), mask_iou(x_test[:, 0] > best, y_test)
assert abs(net_iou - 0.87) < 0.015 and abs(threshold_iou - 0.73) < 0.015, (net_iou, threshold_iou)
assert mask_iou(canvas_mask, canvas.image > 0.5) > 0.8
assert (evals[0] - evals[1]).abs().max().item() == 0 and (trains[0] - trains[1]).abs().max().item() > 0.05
""",
    "06": """
# the numbers and the reading of the curves that the text states
assert abs(test_accuracy - 0.979) <= 0.003, test_accuracy
if history.device == "cpu":
    assert seconds < 60, f"training LeNet-5 took {seconds:.0f} s; the notebook promises under a minute"
assert history.train_loss[0] > history.test_loss[0] and history.train_acc[0] < history.test_acc[0]
assert abs(history.train_loss[0] - 1.30) < 0.05 and abs(history.test_loss[0] - 0.45) < 0.05
assert 10 <= crossing <= 20, crossing
assert history.train_loss[-1] < 0.01 and abs(history.test_loss[-1] - 0.02) < 0.01
assert history.train_acc[-1] > history.test_acc[-1] and abs(history.test_acc[-1] - 0.99) < 0.01
assert history.test_acc[2] > 0.95
base, shifts = results["no remedy"], results["augmentation (shifts <= 2)"]
assert base.best_epoch + 1 == 11 and base.test_loss[-1] > min(base.test_loss) + 0.1
assert abs(base.test_acc[-1] - 0.82) < 0.01 and base.train_acc[-1] == 1.0
for name in ("L2 (weight decay 1e-2)", "L1 (3e-4)"):
    assert results[name].test_loss[-1] < base.test_loss[-1] - 0.05 and abs(results[name].test_acc[-1] - base.test_acc[-1]) < 0.03
assert abs(results["dropout 0.5"].test_loss[-1] - base.test_loss[-1]) < 0.02
assert shifts.test_acc[-1] > base.test_acc[-1] + 0.04 and shifts.test_loss[-1] == min(r.test_loss[-1] for r in results.values())
assert guesses[0] == 6 and guesses[1] == 9 and guesses[3] == 2 and guesses[4] != 2, guesses   # a half turn makes a 9
""",
    "07": """
from course.widgets import Explorer
viewers = [v for v in Out.values() if isinstance(v, Explorer) and v.name == "feature-maps"]
assert len(viewers) == 1, len(viewers)
shown = viewers[0].result["filters"]
# the explorer shows the LeNet-5 this notebook trained, not an untrained network
assert np.array_equal(shown, lenet.features[0].weight.detach().cpu().numpy())
assert history.test_acc[-1] > 0.9, history.test_acc[-1]
models.seed_everything(0)  # the weights the notebook's LeNet-5 started from, before training
untrained = models.LeNet5().features[0].weight.detach().numpy()
assert shown.shape == untrained.shape and not np.allclose(shown, untrained, atol=1e-3)
# the numbers the text states: linear probes, detection
assert abs(probe_trained["input"] - 0.81) < 0.01 and probe_trained["F6 + ReLU"] == max(probe_trained.values())
assert min(probe_trained[k] for k in ("S4 pool", "F6 + ReLU")) >= 0.97 and abs(probe_random["S4 pool"] - 0.93) < 0.01
assert probe_random["F6 + ReLU"] < probe_random["C5 + ReLU"] < probe_random["S4 pool"] and abs(probe_random["F6 + ReLU"] - 0.77) < 0.01
sliding, proposals = evaluate(sliding_detect, test_canvases), evaluate(proposal_detect, test_canvases)
assert min(sliding[:2]) > 0.9 and proposals[0] > sliding[0] and proposals[1] < sliding[1] and proposals[1] > 0.85
assert proposals[2] < sliding[2] / 50
for c in test_canvases:   # every digit gets a proposal
    assert detection.box_iou(c.boxes, detection.propose_regions(c.image)).max(axis=1).min() >= 0.5
""",
}


def test_readme_lists_every_notebook():
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"({path.name})" in readme


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, monkeypatch):
    from nbclient import NotebookClient

    # the kernel inherits the environment: make `import course` work without an install
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # OpenMP threads that wait by spinning slow torch down five- to tenfold when other work
    # shares the cores (measured on the course's 2-core machines); sleeping ones do not
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    nb = read(path)
    check = AFTER_RUN.get(path.name[:2])
    if check:
        nb.cells.append(nbformat.v4.new_code_cell(check))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    assert elapsed < 300, f"{path.name} took {elapsed:.0f} s; the notebooks share a 10-minute budget"
