"""Tests of course.explorers.widget: Explorer, and build() from declarations, on a toy view."""
from __future__ import annotations

import ipywidgets as W
import pytest

from course.explorers import controls as C
from course.explorers.conv_step import conv_stepper
from course.explorers.render import View
from course.explorers.widget import Explorer, build, set_range


def _power(base: int = 2, exponent: int = 3, *, negate: bool = False, mode: str = "int") -> dict:
    if base == 0 and exponent < 0:
        raise ValueError("`base` 0 has no negative powers")
    value = -(base**exponent) if negate else base**exponent
    return {"value": value, "mode": mode, "error": "odd" if mode == "warn" else None}


class _PowerView(View):
    """The value as the title."""

    function = staticmethod(_power)
    figsize = (2, 1)

    def __init__(self):
        super().__init__()
        self.title = self.figure.suptitle("")
        self.draws = 0

    def draw(self, result):
        self.draws += 1
        self.title.set_text(str(result["value"]))


def _controls(**extra):
    return {"base": C.Slider("base", 0, 5), "exponent": C.Slider("exponent", -2, 9), "negate": C.Checkbox("negate"),
            "mode": C.Toggle("mode", ["int", "warn"]), **extra}


def test_explorer_structure():
    w = conv_stepper()
    assert isinstance(w, W.VBox) and isinstance(w, Explorer)
    assert w.image in w.children and w.message in w.children
    assert "explorer-conv-stepper" in w._dom_classes and "course-explorer" in w._dom_classes
    assert "control-step" in w.controls["step"]._dom_classes
    assert bytes(w.image.value).startswith(b"\x89PNG") and w.error is None
    for key, control in w.controls.items():
        if hasattr(control, "description") and not isinstance(control, W.Button):
            assert control.description, f"control {key} has no label"


def test_defaults_come_from_the_signature_and_values_reach_the_function():
    view = _PowerView()
    w = build("power", view, _controls(), [C.Row("base", "exponent"), C.Row("negate", "mode")])
    c = w.controls
    assert (c["base"].value, c["exponent"].value, c["negate"].value, c["mode"].value) == (2, 3, False, "int")
    assert isinstance(c["base"], W.IntSlider) and isinstance(c["mode"], W.ToggleButtons)
    assert w.result == _power() and view.title.get_text() == "8"
    c["exponent"].value = 5
    c["negate"].value = True
    assert w.result == _power(2, 5, negate=True) and view.title.get_text() == "-32"
    assert w.figure is view.figure and w.view is view
    assert isinstance(w.children[0], W.HBox) and w.children[0].children == (c["base"], c["exponent"])


def test_declared_defaults_win_and_bad_declarations_are_refused():
    w = build("power", _PowerView(), _controls(base=C.Slider("base", 0, 5, default=4)), [])
    assert w.result["value"] == 64
    with pytest.raises(TypeError, match="control 'bas' is not a parameter of _power\\(\\)"):
        build("power", _PowerView(), {"bas": C.Slider("base", 0, 5, default=1)}, [])
    with pytest.raises(TypeError, match="control 'size' has no default"):
        build("power", _PowerView(), {"size": C.Slider("size", 0, 5)}, [], arguments=lambda v: {})
    with pytest.raises(ValueError, match="'cube' is not one of"):
        build("power", _PowerView(), {"mode": C.Toggle("mode", ["int"], default="cube")}, [])


def test_arguments_map_controls_that_are_not_parameters():
    controls = {"text": C.TextBox("base", "3"), "exponent": C.Slider("exponent", 0, 4)}
    w = build("power", _PowerView(), controls, ["text", "exponent"], arguments=lambda v: {"base": int(v["text"])})
    assert w.result["value"] == 27
    w.controls["text"].value = "2"
    assert w.result["value"] == 8
    w.controls["text"].value = "two"  # the ValueError of int() is shown, the figure stays
    before = w.image.value
    assert "invalid literal" in w.error and "invalid literal" in w.message.value and w.image.value == before


def test_errors_are_shown_and_cleared():
    view = _PowerView()
    w = build("power", view, _controls(), [])
    with w.hold():
        w.controls["base"].value, w.controls["exponent"].value = 0, -1
    w.refresh()
    assert w.error == "`base` 0 has no negative powers" and "no negative powers" in w.message.value
    w.controls["exponent"].value = 2
    assert w.error is None and w.message.value == "" and w.result["value"] == 0
    draws = view.draws
    w.controls["mode"].value = "warn"  # an "error" in the result is shown, and the figure redrawn
    assert w.error == "odd" and "odd" in w.message.value and view.draws == draws + 1


def test_ranges_are_set_before_each_draw():
    view = _PowerView()
    w = build("power", view, _controls(play=C.Play("exponent")), [],
              ranges=lambda kw: {"exponent": (0, 2 * kw["base"])})
    c = w.controls
    assert (c["exponent"].min, c["exponent"].max) == (0, 4) and (c["play"].min, c["play"].max) == (0, 4)
    c["exponent"].value = 4
    c["base"].value = 1  # exponent 4 no longer fits: clamped to 2 before the draw
    assert c["exponent"].value == 2 and w.result["value"] == 1 and c["play"].max == 2
    c["play"].value = 1  # the play control drives its slider
    assert c["exponent"].value == 1


def test_reactions_set_controls_together_and_redraw_once():
    view = _PowerView()
    presets = {"cube of 3": {"base": 3, "exponent": 3}, "big": {"base": 5, "exponent": 9}}
    controls = _controls(preset=C.Dropdown("preset", ["custom", *presets], default="custom"))
    w = build("power", view, controls, [], reactions={"preset": lambda values, new: presets.get(new)})
    draws = view.draws
    w.controls["preset"].value = "cube of 3"
    assert w.result["value"] == 27 and view.draws == draws + 1
    w.controls["preset"].value = "custom"  # the reaction returns None: nothing to redraw
    assert view.draws == draws + 1
    with w.hold():  # a reaction only answers a change by hand
        w.controls["preset"].value = "big"
    assert w.controls["base"].value == 3


def test_jump_buttons_wrap_around_and_the_side_table_follows():
    w = build("power", _PowerView(), _controls(more=C.Jump("+", "exponent", 1), less=C.Jump("-", "exponent", -1)),
              ["more", "less"], side=lambda result: f"<b>{result['value']}</b>")
    c = w.controls
    assert w.table.value == "<b>8</b>" and w.table in w.children[-1].children
    c["exponent"].value = 9
    c["more"].click()
    assert c["exponent"].value == -2  # past the end: the first value
    c["less"].click()
    assert c["exponent"].value == 9 and w.table.value == "<b>512</b>"


def test_set_range_keeps_the_value_inside():
    slider = W.IntSlider(value=5, min=0, max=8)
    set_range(slider, 10, 12)
    assert (slider.min, slider.max, slider.value) == (10, 12, 10)
    set_range(slider, 0, 3)
    assert (slider.min, slider.max, slider.value) == (0, 3, 3)
    set_range(slider, 2, 1)  # an empty range becomes the single value lo
    assert (slider.min, slider.max) == (2, 2)
