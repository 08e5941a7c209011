"""Hypothesis strategies shared by the operation tests: shapes and settings torch accepts."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

#: Max abs error allowed between course.ops and torch in float64.
TOL = 1e-10

sizes = st.integers(1, 4)
pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


def arrays(draw, shape, integer=False):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(0, 256, size=shape).astype(np.uint8)
    return rng.standard_normal(shape)


def max_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shape {a.shape} != torch's {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0
