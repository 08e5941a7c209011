"""Shared test set-up: keep Jupyter, IPython and matplotlib out of $HOME."""
from __future__ import annotations

import os
import tempfile

import matplotlib

matplotlib.use("Agg")

# Set before any test starts a kernel, nbgrader or JupyterLab: these tools write
# config and runtime files into $HOME on first run, which a test must not touch.
_HOME = tempfile.mkdtemp(prefix="course-test-home-")
for _var, _sub in {
    "JUPYTER_CONFIG_DIR": "jupyter-config",
    "JUPYTER_DATA_DIR": "jupyter-data",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ.setdefault(_var, os.path.join(_HOME, _sub))
    os.makedirs(os.environ[_var], exist_ok=True)
# Jupyter must still find the kernelspec and the widget extension of this environment.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
