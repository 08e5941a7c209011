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
# LeNet-5 of 1998, and the transposed convolution as a convolution of the dilated input
assert c3_1998 == 1_516 and lenet_1998 == 60_000
assert np.array_equal(via_dilation[0, 0], ops.conv_transpose2d(small[None, None], k22[None, None], stride=2)[0, 0])
assert np.allclose(weight_grad_by_dilation, grad_w)
# the losses made for segmentation, on the notebook's own predictions
assert abs(digit_share - 0.104) < 0.002 and abs(pixel_loss.mean().item() - 0.035) < 0.005, (digit_share, pixel_loss.mean())
assert abs(class_loss[0] - 0.02) < 0.005 and abs(class_loss[1] - 0.18) < 0.02 and class_loss[1] > 5 * class_loss[0], class_loss
assert abs(weighted_loss - np.mean(class_loss)) < 1e-4 and abs(weighted_loss - 0.10) < 0.01, weighted_loss
assert abs(soft_dice - 0.90) < 0.015 and abs(soft_iou - 0.815) < 0.02 and soft_dice < hard_dice, (soft_dice, soft_iou)
assert abs(hard_iou - net_iou) < 1e-5 and abs(hard_dice - 2 * hard_iou / (1 + hard_iou)) < 1e-6
""",
    "04": """
# the message-passing maze: the layer at which a cell lights up is its breadth-first distance
assert np.array_equal(distance, bfs) and distance.max() == 32 and distance[0, 0] == 32 and start[0] + start[1] == 8
""",
    "06": """
# the numbers and the reading of the curves that the text states
assert abs(test_accuracy - 0.979) <= 0.003, test_accuracy
if history.device == "cpu":
    assert seconds < 60, f"training LeNet-5 took {seconds:.0f} s; the notebook promises under a minute"
assert history.train_loss[0] > history.val_loss[0] and history.train_acc[0] < history.val_acc[0]
assert abs(history.train_loss[0] - 1.30) < 0.05 and abs(history.val_loss[0] - 0.45) < 0.05
assert 10 <= crossing <= 20, crossing
assert history.train_loss[-1] < 0.01 and abs(history.val_loss[-1] - 0.02) < 0.01
assert history.train_acc[-1] > history.val_acc[-1] and abs(history.val_acc[-1] - 0.99) < 0.01
assert history.val_acc[2] > 0.95
base, shifts = results["no remedy"], results["augmentation (shifts <= 2)"]
assert base.best_epoch + 1 == 11 and base.val_loss[-1] > min(base.val_loss) + 0.1
assert abs(base.val_acc[-1] - 0.82) < 0.01 and base.train_acc[-1] == 1.0
for name in ("L2 (weight decay 1e-2)", "L1 (3e-4)"):
    assert results[name].val_loss[-1] < base.val_loss[-1] - 0.05 and abs(results[name].val_acc[-1] - base.val_acc[-1]) < 0.03
assert abs(results["dropout 0.5"].val_loss[-1] - base.val_loss[-1]) < 0.02
assert shifts.val_acc[-1] > base.val_acc[-1] + 0.04 and shifts.val_loss[-1] == min(r.val_loss[-1] for r in results.values())
# cross-entropy's details, backpropagation by hand, weight decay
assert not mistakes.requires_grad and abs(f_grid[expected_loss.argmin()] - q) < 1e-9 and bool(np.all(ce_bits >= zero_one))
assert f_20.item() == 1.0 and xor_losses[0] == xor_losses[1] < 1e-4 and abs(xor_losses[2] - 5.00) < 0.005, xor_losses
assert abs(bp_loss - 0.4555) < 1e-4 and abs(delta2[0] + 0.3659) < 1e-4 and abs(bp_loss_after - 0.3424) < 1e-4
assert abs(f_out[0] - 0.634) < 5e-4 and all(np.allclose(params[n].grad.numpy(), g) for n, g in bp_grads.items())
for opt in ("SGD", "Adam"):
    assert decay_gaps[opt, "(lam/2) sum w^2, all parameters"] < 1e-7, decay_gaps
    assert min(decay_gaps[opt, "(lam/2) sum w^2, weights only"], decay_gaps[opt, "lam sum w^2, all parameters"]) > 1e-5, decay_gaps
assert guesses[0] == 6 and guesses[1] == 9 and guesses[3] == 2 and guesses[4] != 2, guesses   # a half turn makes a 9
""",
    "07": """
from course.widgets import Explorer
viewers = [v for v in Out.values() if isinstance(v, Explorer) and v.name == "feature-maps"]
assert len(viewers) == 1, len(viewers)
shown = viewers[0].result["filters"]
# the explorer shows the LeNet-5 this notebook trained, not an untrained network
assert np.array_equal(shown, lenet.features[0].weight.detach().cpu().numpy())
assert history.val_acc[-1] > 0.9, history.val_acc[-1]
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
# CNNs as builders of invariants: a shift matters less at every stage of the trained LeNet-5
for dx, ratios in invariance.items():
    values = list(ratios.values())
    assert all(a > b for a, b in zip(values, values[1:])), (dx, values)
assert abs(invariance[2]["input"] - 0.82) < 0.01 and abs(invariance[2]["F6 + ReLU"] - 0.23) < 0.04, invariance[2]
assert abs(invariance[3]["F6 + ReLU"] - 0.35) < 0.05
names = list(invariance_stages)   # the two largest drops, as the text says: at S4 and at C5
assert sorted(names[1:], key=lambda n: invariance[2][names[names.index(n) - 1]] - invariance[2][n])[-2:] in (
    ["S4 pool", "C5 + ReLU"], ["C5 + ReLU", "S4 pool"]), invariance[2]
assert invariance_random["S4 pool"] < invariance_random["input"] - 0.1 and abs(invariance_random["F6 + ReLU"] - 0.67) < 0.03, invariance_random
assert invariance_random["F6 + ReLU"] > invariance_random["S4 pool"] - 0.02 and invariance_random["F6 + ReLU"] > invariance[2]["F6 + ReLU"] + 0.3
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
