"""The call protocol: how a check calls a student's function, the same on both sides.

A request is plain data (``{"task", "function", "args", "kwargs", "guard",
"libraries", "advice", "count"}`` for a call, ``{"task", "name", "function", "data",
...}`` for a procedure); :func:`call` and :func:`procedure` answer it from a
namespace of the student's definitions with a plain-data reply:

``{"value": ..., "args_after": [...], "counted": n}``
    the function returned (``args_after``: the ndarray arguments after the call, to
    see whether it changed its inputs; ``counted``: calls of the ``count`` helper);
``{"raised": text, "type": name, "counted": n}``, ``{"forbidden": text, "counted": n}``
    it raised, or called a refused shortcut (see :mod:`.guard`);
``{"missing": text}``, ``{"missing_helper": name}``
    no such function, or no such helper to count.

The student's kernel (``engine.LocalTarget``, the visible checks) and the judged
process (:mod:`.judged`, grading) both answer through these two functions, so a check
in the notebook and the grade see the same thing.
"""
from __future__ import annotations

import os
import select
import time

from . import catalogue, guard
from .errors import describe_error
from .functions import build

__all__ = ["call", "exact_reader", "procedure"]

RAISED_CHARS = 4000  # the longest description of a student's exception in a reply


def _decoded(values) -> list:
    """Arguments as the student's function receives them: functions rebuilt by name."""
    from . import wire

    return [build(v) if isinstance(v, wire.Function) else v for v in values]


def call(namespace: dict, request: dict) -> dict:
    """Call ``namespace[request["function"]]`` under the guard; the reply as plain data."""
    import numpy as np

    name = request["function"]
    fn = namespace.get(name)
    if fn is None:
        return {"missing": f"`{name}` is not defined"}
    if not callable(fn):
        return {"missing": f"`{name}` is a {type(fn).__name__}, not a function"}
    args = _decoded(request.get("args", []))
    raw = request.get("kwargs", {})
    kwargs = dict(zip(raw.keys(), _decoded(raw.values())))
    # the helper is counted where the function looks it up: its own module's globals
    home = getattr(fn, "__globals__", None)
    home = home if isinstance(home, dict) else namespace
    helper, counted = request.get("count"), [0]
    original = home.get(helper) if helper else None
    if helper and not callable(original):
        return {"missing_helper": helper}
    if helper:
        def counting(*a, **k):
            counted[0] += 1
            return original(*a, **k)

        home[helper] = counting
    try:
        value, refused = guard.guarded_call(
            request.get("task", name), fn, args, kwargs,
            extra=[tuple(p) for p in request.get("guard", [])],
            libraries=request.get("libraries", True), advice=request.get("advice"))
    except BaseException as error:  # noqa: BLE001 - the student's exception is data
        return {"raised": describe_error(error)[:RAISED_CHARS],
                "type": type(error).__name__, "counted": counted[0]}
    finally:
        if helper:
            home[helper] = original
    if refused is not None:
        return {"forbidden": refused, "counted": counted[0]}
    after = [a for a in args if isinstance(a, np.ndarray)]
    return {"value": value, "args_after": after, "counted": counted[0]}


def procedure(namespace: dict, request: dict) -> dict:
    """Run the catalogue's procedure ``request["name"]`` on a student's definition."""
    function = request["function"]
    if function not in namespace:
        return {"missing": f"`{function}` is not defined"}
    try:
        result, refused = guard.guarded_call(
            request.get("task", function), catalogue.PROCEDURES[request["name"]],
            (namespace, function, request["data"]), {},
            extra=[tuple(p) for p in request.get("guard", [])],
            libraries=request.get("libraries", True), advice=request.get("advice"))
    except BaseException as error:  # noqa: BLE001 - the student's exception is data
        return {"raised": describe_error(error)[:RAISED_CHARS],
                "type": type(error).__name__}
    if refused is not None:
        return {"forbidden": refused}
    return {"result": result}


def exact_reader(fd: int, deadline: float | None = None):
    """``read_exactly(n)`` on a pipe: n bytes, ``EOFError`` at its end, ``TimeoutError`` when
    ``deadline`` (a ``time.monotonic()`` value) passes first."""
    def read_exactly(n: int) -> bytes:
        chunks, left = [], n
        while left:
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                    raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return read_exactly
