"""Old name of :mod:`course.grading.runner.autograde`, kept as an alias.

nbgrader configurations name the preprocessors by dotted string
(``"course.grading.autograde.ExecuteInSandbox"``, ``...JudgeTestCells``, and
``c.Sandboxing`` settings); instructors' own ``nbgrader_config.py`` files written before
the runner modules moved to :mod:`course.grading.runner` still do. Importing this name
gives the very same module object as the new one (same classes, same traitlets
configurables), not a copy.
"""
import importlib
import sys

sys.modules[__name__] = importlib.import_module("course.grading.runner.autograde")
