"""Tests of course.widgets: the explorers keep their names and signatures, and each one is an Explorer.

What each explorer does is tested in tests/test_explorers_<name>.py (controls set in code,
compared with direct calls of its compute function).
"""
from __future__ import annotations

import inspect
import os
import subprocess
import sys

import ipywidgets as W
import numpy as np
import pytest
import torch

from course import data, widgets

# The public explorers and their signatures: notebooks call them, and a static-book hook may wrap them.
SIGNATURES = {
    "conv_stepper": "(x=None, kernel=None)",
    "conv_arithmetic_explorer": "()",
    "kernel_explorer": "(image=None)",
    "pooling_explorer": "(x=None)",
    "receptive_field_explorer": "(layers=None)",
    "conv_matrix_viewer": "()",
    "feature_map_viewer": "(model, image)",
    "name_the_operation": "(puzzles: 'dict[str, Puzzle] | None' = None)",
}


def test_widgets_module_does_not_import_torch():
    code = "import sys, course.widgets, course.viz; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"MPLBACKEND": "Agg", **os.environ})
    assert out.stdout.strip() == "False"


def test_public_names_and_signatures():
    assert set(widgets.__all__) == {"Explorer", *SIGNATURES}
    for name, signature in SIGNATURES.items():
        assert str(inspect.signature(getattr(widgets, name))) == signature, name
    from course.explorers.widget import Explorer

    assert widgets.Explorer is Explorer


def _small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())


@pytest.mark.parametrize("name,args,css", [
    ("conv_stepper", (), "conv-stepper"),
    ("conv_arithmetic_explorer", (), "conv-arithmetic"),
    ("kernel_explorer", (data.camera()[:40, :40],), "kernel"),
    ("pooling_explorer", (), "pooling"),
    ("receptive_field_explorer", (), "receptive-field"),
    ("conv_matrix_viewer", (), "conv-matrix"),
    ("feature_map_viewer", (_small_model(), np.zeros((8, 8))), "feature-maps"),
    ("name_the_operation", (), "name-the-operation"),
])
def test_every_explorer_is_an_explorer_with_its_css_class_and_a_figure(name, args, css):
    w = getattr(widgets, name)(*args)
    assert isinstance(w, widgets.Explorer) and isinstance(w, W.VBox)
    assert f"explorer-{css}" in w._dom_classes and w.error is None
    image = bytes(w.image.value)
    assert image.startswith(b"\x89PNG" if w.image_format == "png" else b"\xff\xd8")
    assert w.result and all(f"control-{key}" in control._dom_classes for key, control in w.controls.items())
