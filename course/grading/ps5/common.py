"""Problem set 5's shared pieces: its bounds, its references' helpers, its task base."""
from __future__ import annotations

import numpy as np

from .. import references as refs
from ..engine import Task, problem_set

task = problem_set("ps5")


REQUIRED_ACCURACY = 0.95
"""Test accuracy the trained network must reach on ``data.mnist()``'s 1,000 test digits."""
INITIAL_LOSS_BAND = 0.1
"""``|initial loss - ln 10|`` must be below this for the freshly initialised network."""
GRADIENT_BOUND = 1e-6
"""A gradient check must report less than this for a network whose gradients are right."""
BROKEN_BOUND = 1e-3
"""... and more than this for one whose gradient of some parameter is wrong."""
OVERFIT_SIZE = 50
"""Training digits that ``overfit_small`` must fit to 100 %."""
NETWORK = (
    ("Conv2d", (1, 8, 5), {}), ("BatchNorm2d", (8,), {}), ("ReLU", (), {}), ("MaxPool2d", (2,), {}),
    ("Conv2d", (8, 16, 5), {}), ("BatchNorm2d", (16,), {}), ("ReLU", (), {}),
    ("MaxPool2d", (2,), {}), ("Flatten", (), {}), ("Linear", (400, 64), {}), ("ReLU", (), {}),
    ("Linear", (64, 10), {}),
)
"""The network of the problem set, layer by layer: (class, arguments, keyword arguments)."""
TIMING_INPUT = (8, 8, 16, 16)
TIMING_WEIGHT = (16, 8, 3, 3)
"""The timing task's input x and weight (padding 1)."""
TIMING_KEYS = ("naive_s", "im2col_s", "speedup", "x_shape", "weight_shape")
ADVICE = ("write the layers yourself with NumPy array operations (torch, SciPy and "
          "course.ops are not available when your code is graded).")
WHERE = "PyTorch float64 autograd"




def _t(array, grad: bool = False):
    torch = refs.torch()
    tensor = torch.as_tensor(np.asarray(array, dtype=np.float64), device=refs.device())
    return tensor.clone().requires_grad_(grad)


def _np(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def _where() -> str:
    return f"{WHERE} on {refs.device().type}"



class NumpyTask(Task):
    """A problem-set-5 task: NumPy only in the judged process; libraries refused."""

    allowed = ("numpy",)
    advice = ADVICE
