"""JupyterHub's configuration for the course server: start it with ``./dev.sh hub``.

Everything is in course/hub/config.py; the settings (course folder, roster, state
folder, URL) come from ``python -m course.hub``, which starts JupyterHub with this file.
"""
from course.hub.config import Settings, configure

configure(get_config(), Settings.from_env())  # noqa: F821 - provided by traitlets
