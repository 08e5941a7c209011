"""Tests of course.explorers.controls: declarations check themselves and need no ipywidgets."""
from __future__ import annotations

import subprocess
import sys

import pytest

from course.explorers import controls as C


def test_declarations_import_no_widget_library():
    code = "import sys, course.explorers.controls; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_slider_checks_its_bounds():
    assert C.Slider("p", 0, 4).default is C.SIGNATURE
    with pytest.raises(ValueError, match="`lo` \\(5\\) must not exceed `hi` \\(4\\)"):
        C.Slider("p", 5, 4)
    with pytest.raises(TypeError, match="`hi` of slider 'p' must be an int"):
        C.Slider("p", 0, 4.5)
    with pytest.raises(TypeError, match="`step`"):
        C.Slider("p", 0, 4, step=True)
    with pytest.raises(TypeError, match="needs an int value"):
        C.Slider("p", 0, 4).check(1.5)
    C.Slider("p", 0, 4).check(2)


def test_choices_check_their_values():
    toggle = C.Toggle("mode", [("maximum", "max"), ("average", "avg")])
    assert C.options_values(toggle.options) == ["max", "avg"]
    toggle.check("max")
    with pytest.raises(ValueError, match="'min' is not one of \\['max', 'avg'\\]"):
        toggle.check("min")
    dropdown = C.Dropdown("k", [("?", None), ("3", 3)])
    dropdown.check(None)
    with pytest.raises(ValueError, match="4 is not one of"):
        dropdown.check(4)
    with pytest.raises(TypeError, match="all values or all \\(label, value\\) pairs"):
        C.Dropdown("k", ["?", ("3", 3)])
    with pytest.raises(TypeError, match="`options`"):
        C.Toggle("mode", [])


def test_layout_items():
    row = C.Row("a", C.Column("b", C.Note("<i>x</i>")), C.Grid(["c", "d"], 2))
    assert row.items[0] == "a" and isinstance(row.items[1], C.Column) and row.items[1].items[0] == "b"
    assert repr(C.Column("b")) == "Column('b',)"
    assert C.Play("step").interval == 700 and C.Jump("next", "step", 1).delta == 1
    assert all(isinstance(c, C.VALUE_CONTROLS) for c in (C.Checkbox("x"), C.Switch("y"), C.TextBox("t", ""),
                                                         C.Number("", 1.0)))
    assert not isinstance(C.Play("step"), C.VALUE_CONTROLS)
