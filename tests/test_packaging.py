"""The install story: pyproject, environment.yml, the lock file, the README and CI agree."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the PyPI distributions whose names differ.
CONDA_NAMES = {"torch": "pytorch"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pyproject_requirements() -> dict[str, str]:
    project = _pyproject()["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    reqs = [Requirement(r) for r in project["dependencies"] + extras]
    return {CONDA_NAMES.get(r.name, r.name): str(r.specifier) for r in reqs}


def _environment_requirements() -> dict[str, str]:
    """conda packages, and the pip section's packages that conda-forge does not have."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    pip_section = [d for dep in env["dependencies"] if isinstance(dep, dict) for d in dep.get("pip", [])]
    for dep in env["dependencies"] + pip_section:
        if isinstance(dep, str) and not dep.startswith(("python=", "pip", "-e")):
            name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", dep).groups()
            found[name] = str(Requirement(f"x{spec}").specifier)
    return found


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_lock_pins_every_dependency_exactly_and_torch_to_the_cpu_build_version():
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower().replace("_", "-")] = spec.version
    assert pins["torch"] == "2.13.0"
    assert pins["nbgrader"] == "0.9.6"
    for name in _pyproject_requirements():
        name = {v: k for k, v in CONDA_NAMES.items()}.get(name, name)
        assert name.lower() in pins, f"{name} is a dependency but not pinned in requirements/lock.txt"
        assert Requirement(f"{name}{_pyproject_requirements()[CONDA_NAMES.get(name, name)]}").specifier.contains(
            pins[name.lower()]
        ), f"the pinned {name}=={pins[name.lower()]} is outside pyproject's range"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./dev.sh lab" in readme and "./dev.sh test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\./dev\.sh test\b", ci, re.M)


def test_console_script_is_declared():
    assert _pyproject()["project"]["scripts"]["course-admin"] == "course.admin:main"


@pytest.mark.slow
def test_dev_sh_lab_serves_the_course():
    """The README's first command: `./dev.sh lab` starts JupyterLab on the course (as root too,
    which Jupyter refuses unless told) and lists the lecture notebooks."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["./dev.sh", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.token=",
         "--ServerApp.password="],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks",
                                            timeout=2) as response:
                    listing = json.load(response)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGTERM)
                    pytest.fail("./dev.sh lab did not serve the course:\n" + proc.communicate()[0][-3000:])
                time.sleep(0.5)
        names = {item["name"] for item in listing["content"]}
        assert {"01_why_images.ipynb", "07_what_cnns_learn.ipynb", "README.md"} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=10) as response:
            assert response.status == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_every_module_of_the_package_imports():
    """A module left behind by a move (``from ._checks import ...``) fails here, not in a
    notebook three lectures later."""
    import importlib
    import pkgutil

    import course

    failed = {}
    for module in pkgutil.walk_packages(course.__path__, "course."):
        if module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failed[module.name] = repr(error)
    assert failed == {}


def test_old_autograde_path_gives_the_same_classes():
    """nbgrader configurations name the preprocessors by dotted string; instructors' own
    configs written before the runner modules moved to course.grading.runner still say
    course.grading.autograde, which must give the same classes, not copies."""
    from traitlets.utils.importstring import import_item

    import course.grading.autograde as old
    import course.grading.runner.autograde as new

    assert old.__all__ == new.__all__
    assert all(getattr(old, name) is getattr(new, name) for name in new.__all__)
    assert old.ExecuteInSandbox is new.ExecuteInSandbox
    assert old.JudgeTestCells is new.JudgeTestCells
    assert import_item("course.grading.autograde.ExecuteInSandbox") is new.ExecuteInSandbox
    assert import_item("course.grading.autograde.JudgeTestCells") is new.JudgeTestCells
