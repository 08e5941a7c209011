"""Reading what students type into an explorer's text boxes: matrices and layer stacks.

Every parser raises ``ValueError`` (``TypeError`` for a non-text value) with a
message that names the box and the row or line to fix; the explorers show it
instead of redrawing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

import course.ops as ops

__all__ = ["format_layers", "format_matrix", "format_number", "parse_layers", "parse_matrix"]


def format_number(value: float) -> str:
    """A number as the explorers show it: integers without a point, others with 3 significant digits, NaN empty.

    Examples
    --------
    >>> format_number(3.0), format_number(-0.125), format_number(float("nan"))
    ('3', '-0.125', '')
    """
    value = float(value)
    if np.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def parse_matrix(text: str, name: str = "values", *, ndim: int | None = None) -> np.ndarray:
    """Read numbers typed by a student: rows on lines (or separated by ``;``), values by spaces or commas.

    Parameters
    ----------
    text : str
        For example ``"1 0 -1\\n1 0 -1"`` or ``"1, 2; 2, 1"``; brackets are ignored.
    name : str
        What the numbers are, for the error message.
    ndim : {1, 2}, optional
        Require one row (returned as shape (L,)) or allow several (shape (H, W)).

    Returns
    -------
    ndarray, shape (H, W), or (L,) with ``ndim=1``
        int64 when every value is an integer, otherwise float64.

    Raises
    ------
    ValueError
        On an empty text, a word that is not a number, rows of different lengths,
        or several rows where one is required.

    Examples
    --------
    >>> parse_matrix("1 0 -1; 1 0 -1")
    array([[ 1,  0, -1],
           [ 1,  0, -1]])
    """
    if not isinstance(text, str):
        raise TypeError(f"`{name}` must be text, got {type(text).__name__}")
    if ndim not in (None, 1, 2):
        raise ValueError(f"`ndim` must be 1, 2 or None, got {ndim!r}")
    lines = [ln for ln in re.split(r"[;\n]", text.replace("[", " ").replace("]", " ")) if ln.strip()]
    if not lines:
        raise ValueError(f"`{name}` is empty: type numbers separated by spaces, one row per line")
    rows = []
    for number, line in enumerate(lines, start=1):
        row = []
        for word in re.split(r"[,\s]+", line.strip()):
            try:
                row.append(float(word))
            except ValueError:
                raise ValueError(
                    f"`{name}`, row {number}: {word!r} is not a number "
                    f"(type numbers separated by spaces, one row per line)"
                ) from None
        rows.append(row)
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise ValueError(f"`{name}`: rows have different lengths {lengths}; every row needs as many numbers")
    values = np.array(rows)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`{name}` must hold finite numbers")
    if np.all(values == np.round(values)):
        values = values.astype(np.int64)
    if ndim == 1:
        if values.shape[0] != 1:
            raise ValueError(f"`{name}` must be a single row in 1-D mode, got {values.shape[0]} rows")
        return values[0]
    return values


def format_matrix(values) -> str:
    """The text of a matrix as :func:`parse_matrix` reads it: one row per line, numbers separated by spaces.

    Parameters
    ----------
    values : array_like, shape (H, W) or (L,)

    Examples
    --------
    >>> print(format_matrix([[1, 0, -1], [0.5, 2, 3]]))
    1 0 -1
    0.5 2 3
    """
    rows = np.atleast_2d(np.asarray(values))
    return "\n".join(" ".join(format_number(v) for v in row) for row in rows)


def format_layers(layers: Iterable) -> str:
    """One line per layer, ``conv k=3 s=1 p=1 d=2``: the text the explorer lets students edit.

    Examples
    --------
    >>> print(format_layers([ops.Layer(3, padding=1), ops.Layer(2, 2, name="pool")]))
    conv k=3 s=1 p=1 d=1
    pool k=2 s=2 p=0 d=1
    """
    lines = []
    for layer in layers:
        if isinstance(layer, Mapping):
            layer = ops.Layer(**layer)
        lines.append(f"{layer.name} k={layer.kernel_size} s={layer.stride} p={layer.padding} d={layer.dilation}")
    return "\n".join(lines)


_KEYS = {"k": "kernel_size", "kernel": "kernel_size", "kernel_size": "kernel_size", "s": "stride",
         "stride": "stride", "p": "padding", "padding": "padding", "d": "dilation", "dilation": "dilation"}


def parse_layers(text: str) -> list:
    """Read layers written as by :func:`format_layers` (missing settings take the defaults).

    A line is a name (``conv``, ``pool``, ...) followed by ``key=value`` pairs with
    keys ``k``/``kernel``, ``s``/``stride``, ``p``/``padding``, ``d``/``dilation``; a
    bare number is the kernel size. Empty lines and ``#`` comments are skipped.

    Returns
    -------
    list of course.ops.Layer

    Raises
    ------
    ValueError
        Naming the line that cannot be read.
    TypeError
        If ``text`` is not a string.

    Examples
    --------
    >>> parse_layers("conv 3\\npool k=2 s=2")
    [Layer(kernel_size=3, stride=1, padding=0, dilation=1, name='conv'),
     Layer(kernel_size=2, stride=2, padding=0, dilation=1, name='pool')]
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be text, got {type(text).__name__}")
    layers = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        words = line.replace(",", " ").split()
        name, settings = "conv", {}
        for word in words:
            if "=" in word:
                key, _, value = word.partition("=")
                if key.strip().lower() not in _KEYS:
                    raise ValueError(f"layer line {number}: unknown setting {key!r} (use k, s, p, d)")
                target = _KEYS[key.strip().lower()]
            elif word.lstrip("-").isdigit():
                target, value = "kernel_size", word
            else:
                name = word
                continue
            try:
                settings[target] = int(value)
            except ValueError:
                raise ValueError(f"layer line {number}: {word!r} needs a whole number") from None
        if "kernel_size" not in settings:
            raise ValueError(f"layer line {number}: {line!r} has no kernel size (write e.g. 'conv k=3')")
        layers.append(ops.Layer(name=name, **settings))
    if not layers:
        raise ValueError("no layers: write one layer per line, e.g. 'conv k=3 s=1 p=0 d=1'")
    return layers
