"""Hands in folders named like the packages the grader imports (course, numpy, IPython,
ipykernel, nbclient, jupyter_client, zmq, nbformat, traitlets, tornado), each of which
announces itself and fakes an executor; the last answer cell says where its imports came
from."""
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "shadow the grader's code with the submission's own folders"
CELLS = {"output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1

import numpy, IPython, course.grading.harness.wire
print("numpy from", numpy.__file__)
print("course from", course.grading.harness.wire.__file__)
'''}
EXPECT = {}
MESSAGES = ["numpy from /", "course from /"]
SIDE_EFFECTS = ["not_shadowed", "course_files_unchanged", "honest_scores_kept"]
LIMITS = []
PACKAGES = ("course", "numpy", "IPython", "ipykernel", "nbclient", "jupyter_client", "zmq",
            "nbformat", "traitlets", "tornado")
SHADOW = '''print("SHADOWED {name}")
import os, sys, struct
os.write(1, b"SHADOWED")
'''
EXECUTOR = '''import os, sys, json, struct
print("SHADOWED executor")
os._exit(0)
'''


def plant(folder: Path, fields: dict) -> None:
    for name in PACKAGES:
        package = folder / name
        package.mkdir()
        (package / "__init__.py").write_text(SHADOW.format(name=name))
    (folder / "course" / "grading").mkdir()
    (folder / "course" / "grading" / "__init__.py").write_text(SHADOW.format(name="course.grading"))
    (folder / "course" / "grading" / "runner").mkdir()
    (folder / "course" / "grading" / "runner" / "__init__.py").write_text(
        SHADOW.format(name="course.grading.runner"))
    for module in ("runner/execute", "wire", "launch", "judged"):
        (folder / "course" / "grading" / f"{module}.py").write_text(EXECUTOR)
    (folder / "sitecustomize.py").write_text(SHADOW.format(name="sitecustomize"))
