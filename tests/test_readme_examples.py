"""The README's "Adding an exercise" examples run: a case task and a stateful task, each
checked against a right and a wrong implementation, with the mistake named."""
from __future__ import annotations

import re

import numpy as np
import pytest

from course.grading import engine, stateful
from course.grading.cases import Case, Mistake
from course.grading.engine import ArrayResult, CaseTask
from course.grading.references import conv2d_1ch, correlate_reference
from coursekit import ROOT

SECTION = re.compile(r"^### Adding an exercise\n(.*?)^## ", re.S | re.M)
CODE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


@pytest.fixture(scope="module")
def examples() -> dict:
    """The section's code blocks run as one module, its tasks registered under a name of
    their own (the README says ``problem_set("ps1")``; ps1's real tasks stay as they are)."""
    section = SECTION.search((ROOT / "README.md").read_text()).group(1)
    blocks = CODE.findall(section)
    assert len(blocks) == 2, "the section shows a case task and a stateful task"
    namespace = {"np": np, "Case": Case, "Mistake": Mistake, "CaseTask": CaseTask,
                 "ArrayResult": ArrayResult, "LayerTask": stateful.LayerTask,
                 "LayerCase": stateful.LayerCase, "Step": stateful.Step,
                 "correlate_reference": correlate_reference, "conv2d_1ch": conv2d_1ch,
                 "problem_set": lambda assignment: engine.problem_set("readme-example")}
    for block in blocks:
        exec(block, namespace)  # noqa: S102 - the README's own code
    return namespace


def box_blur(image, k):
    image = np.asarray(image, dtype=np.float64)
    H, W = image.shape
    out = np.zeros((H - k + 1, W - k + 1))
    for i in range(H - k + 1):
        for j in range(W - k + 1):
            out[i, j] = image[i:i + k, j:j + k].mean()
    return out


def box_sum(image, k):
    return box_blur(image, k) * k * k


class LeakyReLU:
    def __init__(self, slope):
        self.slope, self.params, self.grads, self.buffers = slope, {}, {}, {}

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.slope * x)

    def backward(self, grad_out):
        return np.where(self.x > 0, grad_out, self.slope * grad_out)


class ReLU(LeakyReLU):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0.0)


def test_the_case_task_example_passes_a_right_function_and_names_a_mistake(examples, capsys):
    examples["check_box_blur"](box_blur, hidden=True)
    assert "box_blur: all 3 cases" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Likely mistake: the box is not normalised"):
        examples["check_box_blur"](box_sum)


def test_the_stateful_example_passes_a_right_layer_and_names_a_mistake(examples, capsys):
    examples["check_leaky_relu"](LeakyReLU, hidden=True)
    assert "leaky_relu: all 3 cases" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Likely mistake: that is ReLU"):
        examples["check_leaky_relu"](ReLU)
    assert set(engine.tasks("readme-example")) == {"test_box_blur", "test_leaky_relu"}
