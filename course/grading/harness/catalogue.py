"""What the judge hands to student code besides arrays and numbers, named, never sent as code.

Some exercises take callables (``numerical_gradient(f, x)``, ``gradient_check(forward,
backward, ...)``) or PyTorch objects (``train_epoch(model, loader, optimizer, device)``).
Only data crosses the process boundary, so the judge names a callable of this
catalogue (a :class:`wire.Function`) and the judged process builds it from its own
copy of this module; for PyTorch exercises the judge names a *procedure* that builds
the model, loader and optimizer in the judged process, runs the student's code on
them and sends back what happened as data (the outputs, the parameters afterwards,
the layers a forward pass went through).

The judged process may hold a tampered copy of these objects: that can only change
what the student's own code returns, which the judge then compares with its own
computation. Nothing reported from here decides a grade on its own; it feeds the
judge's diagnoses.

NumPy and the standard library only, PyTorch inside the procedures that need it.
"""
from __future__ import annotations

from .errors import describe_error, student_line
from .functions import FUNCTIONS, build
from .numpy_procedures import NUMPY_PROCEDURES
from .torch_procedures import TORCH_PROCEDURES

__all__ = ["FUNCTIONS", "PROCEDURES", "build", "describe_error", "student_line"]

PROCEDURES = {**TORCH_PROCEDURES, **NUMPY_PROCEDURES}
"""Procedures by name: ``procedure(namespace, function, data) -> dict``, the one registry."""
