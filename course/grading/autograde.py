"""Old name of :mod:`course.grading.runner.autograde`, kept as an alias.

nbgrader configurations name the preprocessors by dotted string
(``"course.grading.autograde.ExecuteInSandbox"``, ``...JudgeTestCells``); instructors' own
``nbgrader_config.py`` files written before the runner modules moved to
:mod:`course.grading.runner` still do. The names here are the new module's own objects
(the same classes, so ``c.Sandboxing`` and ``c.JudgeTestCells`` settings reach them), not
copies.
"""
from .runner.autograde import ExecuteInSandbox, JudgeTestCells, Sandboxing, record_path

__all__ = ["ExecuteInSandbox", "JudgeTestCells", "Sandboxing", "record_path"]
