"""The judge (course/grading/runner/judge.py, harness/judged.py): verdicts computed outside the
submission.

Small notebooks with ps1's test cells are judged directly (no nbgrader): what the judged
process rebuilds from the cells, what it refuses, how it survives a function that hangs
or ends it, and that the cases come from the seed. Runtime: about 40 s.
"""
from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

from course.grading.engine import tasks
from course.grading.runner import judge
from coursekit import ROOT

RIGHT = {
    "correlate1d": """
def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
""",
    "convolve1d": "def convolve1d(x, w):\n    return correlate1d(x, np.asarray(w)[::-1])",
    "output_size": "def output_size(n, k, s=1, p=0, d=1):\n    return (n + 2 * p - d * (k - 1) - 1) // s + 1",
}
ONLY = {"test_correlate1d", "test_convolve1d", "test_output_size"}


def notebook(**sources) -> nbformat.NotebookNode:
    """A ps1-like notebook: a setup cell, then one solution cell and one test cell per task."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import numpy as np\nimport course.ops as ops"))
    for name, source in {**RIGHT, **sources}.items():
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade_id": name, "solution": True, "grade": False}}))
        nb.cells.append(nbformat.v4.new_code_cell(f"ps1.check_{name}({name})", metadata={
            "nbgrader": {"grade_id": f"test_{name}", "grade": True, "solution": False,
                         "points": 1}}))
    return nb


def verdicts(nb, seed=1, **options):
    registered = tasks("ps1")
    options.setdefault("call_timeout", 10)
    found = judge.judge_notebook(nb, "ps1", seed, **options)
    return {cell: v for cell, v in found.items() if cell in ONLY and cell in registered}


def test_right_answers_pass_in_the_sandbox_and_without():
    for sandboxed in (True, False):
        found = verdicts(notebook(), sandboxed=sandboxed)
        assert all(v.passed for v in found.values()), found
        assert "correlate1d: all 6 cases (visible and on fresh inputs) passed against PyTorch" \
            in found["test_correlate1d"].message


def test_only_definitions_are_rebuilt():
    nb = notebook(correlate1d=RIGHT["correlate1d"] + """
print("a demonstration")
for i in range(10 ** 12):
    pass
raise SystemExit("a statement the judge must not run")
""")
    assert verdicts(nb)["test_correlate1d"].passed


def test_a_statement_that_ends_the_process_is_skipped_and_reported():
    nb = notebook(correlate1d="import os\n_ = os._exit(5)\n" + RIGHT["correlate1d"])
    found = verdicts(nb)
    assert found["test_correlate1d"].passed and found["test_output_size"].passed


def test_a_missing_function_is_explained_with_the_failing_statement():
    nb = notebook(correlate1d="import scipy.signal\ndef correlate1d(x, w)\n    return x")
    message = verdicts(nb)["test_correlate1d"].message
    assert "`correlate1d` is not defined when the judge rebuilds your notebook" in message
    assert "SyntaxError" in message
    assert "`convolve1d`" not in message


def test_forbidden_libraries_are_absent():
    nb = notebook(correlate1d="""
import scipy.signal
def correlate1d(x, w):
    return scipy.signal.correlate(x, w, mode="valid")
""")
    message = verdicts(nb)["test_correlate1d"].message
    assert "`scipy` is not available when your functions are graded: the judge's process " \
           "has only NumPy" in message
    nb = notebook(correlate1d="""
def correlate1d(x, w):
    return ops.correlate2d(x[None], w[None])[0]
""")
    message = verdicts(nb)["test_correlate1d"].message
    assert "NameError: name 'ops' is not defined" in message
    assert "`course` is not available" in message


def test_a_function_that_hangs_costs_only_its_task():
    nb = notebook(output_size="def output_size(n, k, s=1, p=0, d=1):\n    while True:\n        pass")
    found = verdicts(nb, call_timeout=3)
    assert "did not return within 3 s" in found["test_output_size"].message
    assert found["test_correlate1d"].passed and found["test_convolve1d"].passed


def test_a_function_that_ends_the_judged_process_costs_only_its_task():
    nb = notebook(correlate1d="import os\ndef correlate1d(x, w):\n    os._exit(9)")
    found = verdicts(nb)
    assert "Your function ended the judged process (exit code 9)" in found["test_correlate1d"].message
    assert found["test_output_size"].passed


def test_what_is_not_plain_data_does_not_cross():
    nb = notebook(correlate1d="def correlate1d(x, w):\n    return {1, 2}",
                  output_size="def output_size(n, k, s=1, p=0, d=1):\n    return lambda: 3")
    found = verdicts(nb)
    assert "Return a NumPy ndarray, got set" in found["test_correlate1d"].message
    assert "Return an int, got function" in found["test_output_size"].message


def test_the_cases_come_from_the_seed():
    # the output reversed: right on the lecture's symmetric example, wrong on random signals
    wrong = notebook(correlate1d=RIGHT["correlate1d"].replace("return np.array(", "return np.flip(")
                     .replace("+ 1)])", "+ 1)]))"))
    one = verdicts(wrong, seed=11)["test_correlate1d"].message
    assert verdicts(wrong, seed=11)["test_correlate1d"].message == one
    assert verdicts(wrong, seed=12)["test_correlate1d"].message != one


def test_shortcuts_within_numpy_are_refused_by_the_guard():
    nb = notebook(correlate1d="def correlate1d(x, w):\n    return np.correlate(x, w, 'valid')")
    message = verdicts(nb)["test_correlate1d"].message
    assert "Forbidden call: `numpy.correlate` is not allowed in `correlate1d`" in message


def test_values_a_notebook_could_not_export_fail_with_the_reason():
    nb = nbformat.read(str(ROOT / "source" / "ps4" / "ps4.ipynb"), as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in
                ("test_trained_model",)]
    found = judge.judge_notebook(nb, "ps4", 1, exports={
        "test_trained_model": {"error": "NameError: name 'model' is not defined"}})
    message = found["test_trained_model"].message
    assert "`model` could not be read from your notebook" in message
    assert "NameError: name 'model' is not defined" in message


@pytest.mark.parametrize("source, kind", [
    ("import numpy as np\nx = 1", "defined"),
    ("print(1)", "skipped"),
])
def test_definition_filter(source, kind):
    import ast

    from course.grading.harness import judged

    statements = ast.parse(source).body
    assert any(judged._is_definition(s) for s in statements) == (kind == "defined")


def test_student_cells_leave_out_test_cells_and_use_the_sandbox_s_plain_python():
    from course.grading.runner.execute import plain_python

    nb = notebook(correlate1d="%matplotlib inline\n" + RIGHT["correlate1d"])
    raw = judge.student_cells(nb, {"test_correlate1d"})
    assert not any("check_correlate1d" in source for _, source in raw)
    # the judge's own process never transforms the student's source ...
    assert any(source.startswith("%matplotlib") for _, source in raw)
    assert not any("get_ipython" in source for _, source in raw)
    # ... the executor does, in the sandbox, and the judge takes what it made
    python = dict(plain_python(judge.rebuilt_cells(nb, {"test_correlate1d"})))
    cells = judge.student_cells(nb, {"test_correlate1d"}, python)
    assert any(re.search(r"get_ipython\(\)\.run_line_magic", source) for _, source in cells)


def test_functions_handed_to_student_code_carry_nothing_but_their_values():
    """numerical_gradient gets f: nothing reachable from it (attributes, closure, its
    module's globals) computes the exact gradient that the task asks for."""
    from course.grading.harness import catalogue, wire

    x = np.arange(1.0, 7.0).reshape(2, 3)
    exact = {"squares": 2 * x, "cubes": x * x, "logcosh": np.tanh(x)}
    for name, gradient in exact.items():
        f = catalogue.build(wire.Function(name))
        assert not [a for a in dir(f) if "grad" in a.lower()]
        reachable = [c.cell_contents for c in f.__closure__ or ()] + list(f.__globals__.values())
        reachable += [c.cell_contents for r in reachable if callable(r)
                      for c in getattr(r, "__closure__", None) or ()]
        for candidate in reachable:
            if not callable(candidate) or isinstance(candidate, type):
                continue
            for argument in (x, x.ravel()):
                try:
                    value = np.asarray(candidate(argument), dtype=np.float64)
                except Exception:  # noqa: BLE001 - most of them take other arguments
                    continue
                assert not (value.shape == gradient.shape and np.allclose(value, gradient)) and \
                    not (value.size == gradient.size and np.allclose(value.ravel(), gradient.ravel())), \
                    (name, candidate)
    backward = catalogue.build(wire.Function("constant", {"value": [x]}))
    assert not [a for a in vars(backward) if not a.startswith("__")]
