"""Running a notebook inside its sandbox (course/grading/runner/execute.py).

A kernel that dies or hangs costs only its cell; the budget stops the run; output is
capped; the variables a judged test cell needs are exported as plain data. Runtime:
about 40 s.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from course.grading.runner.execute import Job, run_notebook
from course.grading.runner.sandbox import Limits, Sandbox, View


def run(cells, *, limits=Limits(), exports=None, timeout=5, sandboxed=True, deadline=90):
    job = Job(cells=list(enumerate(cells)), exports=exports or {}, timeout=timeout,
              budget=limits.budget, output=limits.output)
    sandbox = Sandbox(View.environment(), limits) if sandboxed else None
    try:
        return run_notebook(job, sandbox, time.monotonic() + deadline, cwd="/tmp")
    finally:
        if sandbox is not None:
            sandbox.close()


def _text(result) -> str:
    return "".join(o.get("text", "") or o.get("evalue", "") for o in result.outputs)


@pytest.mark.parametrize("sandboxed", [True, False])
def test_a_dead_or_hung_kernel_costs_only_its_cell(sandboxed):
    found = run(["x = 41", "import os; os._exit(1)", "x += 1\nprint(x)",
                 "import time\nwhile True:\n    time.sleep(0.1)", "print('after', x)"],
                sandboxed=sandboxed)
    status = {i: r.status for i, r in found.cells.items()}
    assert status == {0: "ok", 1: "died", 2: "ok", 3: "timeout", 4: "ok"}
    assert _text(found.cells[2]) == "42\n"  # the cells before were run again after the death
    assert _text(found.cells[4]) == "after 42\n"  # and again after the timeout
    assert [limit for limit, _, _ in found.limits] == ["cell time"]


def test_the_budget_stops_the_run_and_says_where():
    found = run(["import time\ntime.sleep(3)", "time.sleep(3)", "print('never')"],
                limits=Limits(budget=5))
    assert found.cells[0].status == "ok"
    assert found.cells[1].status == "budget" and found.cells[2].status == "budget"
    assert ("time budget", 1) in [(limit, cell) for limit, cell, _ in found.limits]


def test_output_is_cut_at_the_limit_with_a_note():
    found = run(["print('x' * 100_000)\nprint('y' * 10)", "print('fine')"],
                limits=Limits(output=1000))
    text = _text(found.cells[0])
    assert len(text) < 2000 and "[output cut: this cell printed more than 1000 bytes" in text
    assert _text(found.cells[1]) == "fine\n"
    assert [(limit, cell) for limit, cell, _ in found.limits] == [("output", 0)]


def test_exports_are_plain_data_and_say_what_is_missing():
    found = run(["import numpy as np\nw = np.arange(3.0)\nclass A: pass\na = A()"],
                exports={1: ["w"], 2: ["nope"], 3: ["a"]})
    assert found.exports[1]["values"]["w"].tolist() == [0.0, 1.0, 2.0]
    assert found.exports[2]["error"] == "NameError: name 'nope' is not defined"
    assert type(found.exports[3]["values"]["a"]).__name__ == "Unsupported"


def test_memory_limit_without_a_cgroup_is_reported(monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX_NO_CGROUP", "1")
    found = run(["b = bytearray(3 << 30)", "print('still here')"], limits=Limits(memory=1 << 30))
    assert found.cells[0].status == "error"
    assert ("memory", 0) in [(limit, cell) for limit, cell, _ in found.limits]
    assert _text(found.cells[1]) == "still here\n"


def test_a_run_that_kills_its_own_sandbox_ends_cleanly():
    found = run(["print('one')", "import os, signal\nos.kill(-1, signal.SIGKILL)", "print('never')"])
    assert found.cells[0].status == "ok" and 2 not in found.cells
    assert found.ended.startswith("the run ended early")


def test_the_executor_skips_the_slow_iri_checker_and_still_validates_notebooks():
    """rfc3987_syntax costs every submission about a second at import; without it nbformat
    must still read, validate and reject notebooks as before."""
    script = (
        "import sys\n"
        "from course.grading.runner.execute import skip_slow_imports\n"
        "skip_slow_imports()\n"
        "import nbformat, jsonschema\n"
        "assert sys.modules['rfc3987_syntax'] is None\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "nb.cells[0]['cell_type'] = 'nonsense'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('rejected')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rejected"
