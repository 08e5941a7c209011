"""Declarations of an explorer's controls and layout, as plain data (no ipywidgets here).

An explorer lists its controls once, keyed by the name of the compute function's
parameter each one sets::

    controls = {
        "padding": Slider("padding p", 0, 4),      # default: conv_arithmetic's padding=0
        "transposed": Checkbox("transposed convolution"),
        "step": Slider("step", 0, 8),
        "play": Play("step", interval=700),       # drives the step slider
    }

:func:`course.explorers.widget.build` turns the declarations into ipywidgets, reads
their values into keyword arguments of the view's compute function and redraws on
every change. A control's default is the default of the parameter of the same name
unless the declaration gives one; controls that are not parameters (a preset, a
"1-D / 2-D" switch, text that must be parsed) are mapped by the explorer's
``arguments`` function or handled by a ``reaction``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SIGNATURE",
    "VALUE_CONTROLS",
    "Checkbox",
    "Column",
    "Dropdown",
    "Grid",
    "Jump",
    "Note",
    "Number",
    "Play",
    "Row",
    "Slider",
    "Switch",
    "TextBox",
    "Toggle",
    "options_values",
]


class _FromSignature:
    def __repr__(self) -> str:
        return "SIGNATURE"


#: Default of a control: take the default of the compute function's parameter of the same name.
SIGNATURE: Any = _FromSignature()


def options_values(options) -> list:
    """The values of a Toggle's or Dropdown's options (an option is a value or a (label, value) pair)."""
    return [o[1] if isinstance(o, tuple) else o for o in options]


def _check_options(label: str, options) -> None:
    # ipywidgets reads a list that mixes values and (label, value) pairs as labels only
    pairs = [isinstance(o, tuple) for o in options]
    if not options or (any(pairs) and not all(pairs)):
        raise TypeError(f"{label!r}: `options` must be all values or all (label, value) pairs, got {options!r}")


@dataclass
class Slider:
    """An integer slider from ``lo`` to ``hi`` (``continuous``: redraw while dragging)."""

    label: str
    lo: int
    hi: int
    default: Any = SIGNATURE
    step: int = 1
    continuous: bool = True
    width: str = "260px"

    def __post_init__(self) -> None:
        for name in ("lo", "hi", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{name}` of slider {self.label!r} must be an int, got {value!r}")
        if self.lo > self.hi:
            raise ValueError(f"slider {self.label!r}: `lo` ({self.lo}) must not exceed `hi` ({self.hi})")

    def check(self, value: Any) -> None:
        """Raise TypeError if ``value`` cannot be the slider's value."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"slider {self.label!r} needs an int value, got {value!r}")


@dataclass
class Toggle:
    """Toggle buttons, one per option; an option is a value or a (label, value) pair."""

    label: str
    options: Sequence
    default: Any = SIGNATURE
    button_width: str = "60px"
    tooltips: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check_options(self.label, list(self.options))

    def check(self, value: Any) -> None:
        """Raise ValueError if ``value`` is not one of the options."""
        if value not in options_values(self.options):
            raise ValueError(f"{self.label!r}: {value!r} is not one of {options_values(self.options)}")


@dataclass
class Dropdown:
    """A drop-down list; an option is a value or a (label, value) pair."""

    label: str
    options: Sequence
    default: Any = SIGNATURE
    width: str | None = None

    __post_init__ = Toggle.__post_init__
    check = Toggle.check


@dataclass
class Checkbox:
    """A check box for a bool."""

    label: str
    default: Any = SIGNATURE


@dataclass
class Switch:
    """A button that stays pressed (True) until pressed again, e.g. "Check" in a quiz."""

    label: str
    default: Any = False
    tooltip: str = ""


@dataclass
class TextBox:
    """A multi-line text box, applied when it loses focus."""

    label: str
    default: str
    width: str = "210px"
    height: str = "120px"


@dataclass
class Number:
    """A box for one float (no label beside it when ``label`` is empty)."""

    label: str
    default: float
    width: str = "72px"


#: The controls that hold a value (the others only act on them or lay them out).
VALUE_CONTROLS = (Slider, Toggle, Dropdown, Checkbox, Switch, TextBox, Number)


@dataclass
class Play:
    """A play button that moves the slider ``drives`` through its range, one step per ``interval`` ms."""

    drives: str
    interval: int = 700


@dataclass
class Jump:
    """A button that moves the slider ``drives`` by ``delta``, wrapping around at the ends."""

    label: str
    drives: str
    delta: int


@dataclass
class Note:
    """A line of HTML in the layout (help text)."""

    html: str


class Row:
    """Items (control names, Notes, Rows, Columns, Grids) side by side."""

    def __init__(self, *items) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.items!r}"


class Column(Row):
    """Items one under the other."""


@dataclass
class Grid:
    """The controls ``names`` in a grid of ``columns`` columns, row by row (the cells of a kernel)."""

    names: Sequence[str]
    columns: int
    cell_width: str = "76px"
