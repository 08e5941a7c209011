"""The harness is a package of its own: it imports with the standard library and NumPy alone.

The judged process has no course, no SciPy, no PyTorch (for ps1-ps3): what it runs must
not reach for them. Checked in a fresh interpreter that sees the harness package as a
top-level ``harness`` (as in the sandbox) and site-packages entries for NumPy only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from course.grading.harness import protocol
from course.grading.runner import judge

HARNESS = Path(judge.__file__).resolve().parent.parent / "harness"


def _isolated(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    shutil.copytree(HARNESS, tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    site.mkdir()
    for entry in judge.allowed_entries(("numpy",)):
        os.symlink(entry, site / os.path.basename(entry))
    program = (f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {str(site)!r}]\n" + code)
    return subprocess.run([os.path.realpath(sys.executable), "-I", "-S", "-B", "-c", program],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_every_harness_module_imports_with_numpy_alone(tmp_path):
    modules = sorted(p.stem for p in HARNESS.glob("*.py") if p.stem not in ("__init__", "probe"))
    done = _isolated(tmp_path, f"""
import importlib, json
for name in {modules!r}:
    importlib.import_module("harness." + name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
                        ("course", "scipy", "torch", "IPython", "matplotlib"))))
""")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert {"judged", "protocol", "wire", "catalogue", "guard", "launch"} <= set(modules)


def test_the_package_itself_imports_with_the_standard_library_alone(tmp_path):
    done = _isolated(tmp_path, "import harness, harness.launch; "
                               "print('numpy' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_judged_program_answers_a_call_through_the_shared_protocol(tmp_path):
    """The bootstrap the judge uses starts the server; a definition and a call round-trip."""
    from course.grading.harness import wire
    from course.grading.harness.judged import BOOTSTRAP

    shutil.copytree(HARNESS, tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    site.mkdir()
    for entry in judge.allowed_entries(("numpy",)):
        os.symlink(entry, site / os.path.basename(entry))
    process = subprocess.Popen(
        [os.path.realpath(sys.executable), "-I", "-S", "-B", "-c", BOOTSTRAP, str(tmp_path),
         json.dumps({"path": [str(site)], "preload": ["numpy"]})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    read = protocol.exact_reader(process.stdout.fileno())
    try:
        assert wire.read_message(read) == {"ready": True}
        source = "import numpy as np\ndef double(x):\n    return 2 * x\n"
        wire.write_message(process.stdin, {"op": "define", "cells": [[0, source]], "skip": []})
        process.stdin.flush()
        while "at" in (reply := wire.read_message(read)):
            pass
        assert reply == {"defined": ["double", "np"], "failed": []}
        request = {"op": "call", "task": "double", "function": "double",
                   "args": [wire.np.arange(3.0)], "kwargs": {}}
        wire.write_message(process.stdin, request)
        process.stdin.flush()
        reply = wire.read_message(read)
        assert reply["value"].tolist() == [0.0, 2.0, 4.0] and reply["counted"] == 0
        here = protocol.call({"double": lambda x: 2 * x}, request)  # the notebook's side
        assert set(reply) == set(here) == {"value", "args_after", "counted"}
    finally:
        process.kill()
        process.wait()
