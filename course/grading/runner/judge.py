"""The judge: grades computed in the grader's process, from calls it makes across a boundary.

For every graded test cell of a problem set, the judge (in the trusted grading
process) draws the task's inputs from a seed the submission cannot read or predict
(fresh per submission from ``os.urandom``, and recorded so that the grade can be
reproduced), sends them to the *judged process*, which holds the student's functions
and nothing else, and compares what comes back with the PyTorch reference, computed
here. The verdict (passed, or the failing case with expected, got and the diagnosis)
becomes that test cell's output, which nbgrader grades.

The judged process (:mod:`..harness.judged`) runs in its own sandbox whose Python sees the
standard library and the packages the task allows, no more: NumPy for problem sets 1
to 3, NumPy and PyTorch for problem set 4. SciPy, the course's own operations and
models, and everything else installed are not there to be called; they are absent, not
guarded. It rebuilds the notebook's definitions (imports, functions, classes,
assignments to names) from the submitted cells and answers calls with plain data
(:mod:`..harness.wire`). If it dies, hangs or sends garbage, the call fails, that task fails
with the reason, and a fresh judged process serves the next task.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cases import Rng
from ..engine import Outcome, Task, Verdict, outcome, tasks
from ..harness import wire
from ..harness.judged import BOOTSTRAP
from ..harness.protocol import exact_reader
from .sandbox import Limits, Sandbox, View, kill_process_group

__all__ = ["JudgedProcess", "RemoteTarget", "allowed_entries", "judge_notebook", "rebuilt_cells",
           "student_cells"]

REPLY_BYTES = 64 * 1024 * 1024  # the largest reply of the judged process (arrays included)
REPLY_HEADER = 4 * 1024 * 1024  # ... and of its JSON part, checked before it is parsed
_HARNESS = Path(__file__).resolve().parent.parent / "harness"
_INSIDE = "/judge"


# --------------------------------------------------------------------------------------
# What the judged process may import
@functools.lru_cache(maxsize=None)
def allowed_entries(allowed: tuple[str, ...], gpu: bool = False) -> tuple[str, ...]:
    """Top-level entries of site-packages that ``import`` of ``allowed`` needs.

    Found by importing them in a fresh interpreter and collecting the files of every
    module it loaded and every shared library it mapped; with the distributions'
    metadata folders (some packages read their own version at import).
    """
    import site
    import sysconfig

    roots = sorted({os.path.realpath(p) for p in site.getsitepackages() +
                    [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]},
                   key=len, reverse=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(roots)
    done = subprocess.run([os.path.realpath(sys.executable), "-S", "-P", str(_HARNESS / "probe.py"),
                           json.dumps(list(allowed)), json.dumps(gpu)],
                          capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"importing {allowed} failed: {done.stderr[-2000:]}")
    found = json.loads(done.stdout)
    entries = set()
    for path in found["files"]:
        real = os.path.realpath(path)
        for root in roots:
            if real.startswith(root + os.sep):
                entries.add(os.path.join(root, os.path.relpath(real, root).split(os.sep)[0]))
                break
    top = {os.path.basename(e).split(".")[0] for e in entries}
    wanted = {d for name, ds in found["dists"].items() if name in top for d in ds}
    for root in roots:
        for entry in os.listdir(root):
            if entry.endswith(".dist-info") and _dist_name(entry) in {_norm(w) for w in wanted}:
                entries.add(os.path.join(root, entry))
    entries = {e for e in entries if not os.path.basename(e).startswith(("course", "__editable__"))}
    return tuple(sorted(entries))


def _harness_files() -> list[Path]:
    """The modules of :mod:`..harness` the judged process imports (the probe stays out)."""
    return sorted(p for p in _HARNESS.glob("*.py") if p.name != "probe.py")


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _dist_name(entry: str) -> str:
    return _norm(entry[:-len(".dist-info")].rsplit("-", 1)[0])


# --------------------------------------------------------------------------------------
# The notebook's code, as the judged process gets it
def rebuilt_cells(nb, judged_cells: set[str]) -> list[tuple[int, str]]:
    """(index, source) of the code cells the judged process rebuilds: every code cell but
    the graded test cells (the instructor's code)."""
    cells = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade_id") in judged_cells:
            continue
        if meta.get("grade") and not meta.get("solution"):
            continue  # any other test cell: instructor code, not the student's definitions
        cells.append((index, cell.source))
    return cells


def student_cells(nb, judged_cells: set[str], python: dict | None = None) -> list[tuple[int, str]]:
    """(index, Python source) of every code cell the judged process rebuilds.

    IPython syntax (``%magic``, ``!shell``) must become plain Python calls, which the
    judged process does not run. That transformation is work on the student's source,
    so it is done inside the sandbox, within the submission's budget, by the executor
    (:mod:`.execute`); ``python`` maps a cell's index to what it made. A cell it did not
    transform (the run ended first) is sent as it is, and a line of IPython syntax in it
    is a syntax error that the judged process reports.
    """
    python = python or {}
    out = []
    for index, source in rebuilt_cells(nb, judged_cells):
        text = python.get(index)
        out.append((index, text if isinstance(text, str) else source))
    return out


# --------------------------------------------------------------------------------------
# The judged process
class JudgedFailure(Exception):
    """The judged process died, hung or sent something that is not a reply."""


class JudgedProcess:
    """One judged process: started in a sandbox, fed the definitions, then called.

    Parameters
    ----------
    allowed : tuple of str
        Top-level packages it may import.
    cells : list of (index, source)
        The notebook's code (see :func:`student_cells`).
    limits : Limits
        Its memory, processes and disk (the budget is the caller's deadline).
    sandboxed : bool
        False runs it as a plain process (``--no-sandbox``): the same program, nothing
        isolated; other packages are not on its path but could be found.
    call_timeout : float
        Seconds one call may take.
    """

    def __init__(self, allowed, cells, limits: Limits, sandboxed: bool = True,
                 call_timeout: float = 30.0, deadline: float | None = None, gpu: bool = False):
        self.allowed, self.cells, self.limits = tuple(allowed), cells, limits
        self.sandboxed, self.call_timeout = sandboxed, call_timeout
        self.deadline = deadline if deadline is not None else time.monotonic() + limits.budget
        self.gpu = gpu
        self.process: subprocess.Popen | None = None
        self.sandbox: Sandbox | None = None
        self.staging: str | None = None
        self.skip: set[tuple[int, int]] = set()
        self.definitions: dict = {"defined": [], "failed": []}
        self.restarts = 0
        self.ended: str = ""  # why the last process ended, for the message of the next failure

    # starting -------------------------------------------------------------------------
    def _command(self) -> tuple[list[str], dict]:
        entries = allowed_entries(self.allowed, self.gpu)
        python = os.path.realpath(sys.executable)
        if self.sandboxed:
            files = [(str(path), f"{_INSIDE}/harness/{path.name}") for path in _harness_files()]
            view = View.packages(list(entries), f"{_INSIDE}/site", files)
            self.sandbox = Sandbox(view, self.limits, workdir="/tmp", gpu=self.gpu)
            config = {"path": [f"{_INSIDE}/site"], "rlimits": self.sandbox.inside_rlimits(),
                      "preload": list(self.allowed), "threads": _threads()}
            argv = [python, "-I", "-S", "-B", "-c", BOOTSTRAP, _INSIDE, json.dumps(config)]
            return self.sandbox.command(argv), self.sandbox.popen_options()
        self.staging = tempfile.mkdtemp(prefix="course-judged-")
        site = os.path.join(self.staging, "site")
        os.mkdir(site)
        os.mkdir(os.path.join(self.staging, "harness"))
        for path in _harness_files():
            shutil.copy(path, os.path.join(self.staging, "harness", path.name))
        for entry in entries:
            os.symlink(entry, os.path.join(site, os.path.basename(entry)))
        config = {"path": [site], "preload": list(self.allowed), "threads": _threads()}
        argv = [python, "-I", "-S", "-B", "-c", BOOTSTRAP, self.staging, json.dumps(config)]
        return argv, {"start_new_session": True, "cwd": self.staging}

    def start(self) -> None:
        command, options = self._command()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, **options)
        ready = self._receive(min(120.0, self._left()))
        if ready != {"ready": True}:
            raise JudgedFailure("the judged process did not start")
        self._define()

    def _define(self) -> None:
        """Send the definitions; a statement that ends the process is skipped next time."""
        while True:
            self._send({"op": "define", "cells": self.cells, "skip": sorted(self.skip)})
            at = None
            try:
                while True:
                    reply = self._receive(min(self.call_timeout * 2, self._left()))
                    if isinstance(reply, dict) and "at" in reply:
                        at = tuple(reply["at"])
                        continue
                    break
            except JudgedFailure:
                if at is None or self.restarts >= 5 or self._left() <= 1:
                    raise
                self.skip.add(at)
                self.definitions.setdefault("ended", []).append(
                    {"cell": at[0], "statement": at[1], "why": self.ended})
                self._restart_process()
                continue
            if not isinstance(reply, dict) or "defined" not in reply:
                raise JudgedFailure("the judged process sent no definitions")
            reply["ended"] = self.definitions.get("ended", [])
            self.definitions = reply
            return

    def _restart_process(self) -> None:
        self.stop()
        self.restarts += 1
        command, options = self._command()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, **options)
        if self._receive(min(120.0, self._left())) != {"ready": True}:
            raise JudgedFailure("the judged process did not start")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            kill_process_group(self.process)
            self.process = None
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    # talking ----------------------------------------------------------------------------
    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _send(self, value) -> None:
        try:
            wire.write_message(self.process.stdin, value)
        except (BrokenPipeError, OSError):
            raise JudgedFailure(self._why_ended()) from None

    def _receive(self, timeout: float):
        read_exactly = exact_reader(self.process.stdout.fileno(),
                                    time.monotonic() + max(0.0, timeout))
        try:
            return wire.read_message(read_exactly, REPLY_BYTES, REPLY_HEADER)
        except TimeoutError:
            self.ended = "timeout"
            self.stop()
            raise JudgedFailure("timeout") from None
        except EOFError:
            raise JudgedFailure(self._why_ended()) from None
        except wire.WireError as error:
            self.ended = f"garbage ({error})"
            self.stop()
            raise JudgedFailure(f"the judged process sent something that is not plain data "
                                f"({error})") from None

    def _why_ended(self) -> str:
        code = self.process.wait(timeout=10) if self.process is not None else None
        events = self.sandbox.events() if self.sandbox is not None else {}
        if events.get("memory"):
            why = f"memory limit of {self.limits.memory / 2**30:g} GiB"
        elif code is not None and code < 0:
            why = f"signal {-code}"
        else:
            why = f"exit code {code}"
        self.ended = why
        self.stop()
        return why

    def request(self, message: dict):
        """One request and its reply; restarts first if an earlier request ended the process."""
        if not self.alive():
            self._restart()
        self._send(message)
        return self._receive(min(self.call_timeout, self._left()))

    def _restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()


def _threads() -> int:
    try:
        return int(os.environ.get("OMP_NUM_THREADS", "1"))
    except ValueError:
        return 1


@dataclass
class RemoteTarget:
    """A target (see :mod:`..engine`) in a judged process, plus values a notebook exported."""

    process: JudgedProcess | None
    exports: dict = field(default_factory=dict)  # name -> value, or {"error": ...}
    where = "by the judge"

    def _outcome(self, reply, function: str, task: Task | None = None) -> Outcome:
        found = outcome(reply, task, function)
        if found.kind == "raised":
            found.error += self._absent(reply)
        elif found.kind == "missing" and isinstance(reply, dict) and "missing" in reply:
            found.error = self._missing(function)
        return found

    def _absent(self, reply: dict) -> str:
        """Why a name is undefined when its import failed in the judged process."""
        text = str(reply.get("raised", ""))
        match = re.match(r"NameError: name '(\w+)' is not defined", text)
        if reply.get("type") == "ModuleNotFoundError":
            name = re.search(r"No module named '([\w.]+)'", text)
            module = name.group(1) if name else "that module"
        elif match and self.process is not None:
            failures = [f for f in self.process.definitions.get("failed", [])
                        if match.group(1) in f.get("names", [])
                        and "ModuleNotFoundError" in str(f.get("error"))]
            if not failures:
                return ""
            module = re.search(r"No module named '([\w.]+)'", failures[0]["error"])
            module = module.group(1) if module else match.group(1)
        else:
            return ""
        allowed = " and ".join({"numpy": "NumPy", "torch": "PyTorch"}.get(a, a)
                               for a in (self.process.allowed if self.process else ("numpy",)))
        return (f"\n`{module}` is not available when your functions are graded: the judge's "
                f"process has only {allowed}, so write this with {allowed} alone.")

    def _missing(self, function: str) -> str:
        lines = [f"`{function}` is not defined when the judge rebuilds your notebook. The judge "
                 "runs your notebook's imports, functions, classes and assignments in a fresh "
                 "process that has only the libraries this problem set allows."]
        if self.process is None:
            return lines[0]
        pattern = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(function)}\b", re.M)
        home = [index for index, source in self.process.cells if pattern.search(source)]
        definitions = self.process.definitions
        failures = [f for f in definitions.get("failed", []) if f.get("cell") in home]
        imports = [f for f in definitions.get("failed", []) if f not in failures
                   and "ModuleNotFoundError" in str(f.get("error"))]
        if not home:
            lines.append(f"No code cell defines `{function}`: write it where the task says, and "
                         "keep its name.")
        for failure in failures[:3] + imports[:2]:
            lines.append(f"  cell {failure.get('cell')}, line {failure.get('line')}: "
                         f"{failure.get('error')}")
        for ended in definitions.get("ended", []):
            lines.append(f"  cell {ended.get('cell')}: a statement ended the process "
                         f"({ended.get('why')}); it was skipped")
        return "\n".join(lines)

    def _failed(self, error: JudgedFailure) -> Outcome:
        why = str(error)
        if why == "timeout":
            return Outcome("failed", error=f"Your function did not return within "
                                           f"{self.process.call_timeout:g} s (the limit per "
                                           "call), or the submission's time budget ran out.")
        return Outcome("failed", error=f"Your function ended the judged process ({why}).")

    def call(self, task: Task, function: str, args: list, kwargs: dict,
             count: str | None = None) -> Outcome:
        message = {"op": "call", "task": task.name, "function": function, "args": list(args),
                   "kwargs": dict(kwargs), "guard": [list(p) for p in task.forbidden],
                   "libraries": task.libraries, "advice": task.advice, "count": count}
        try:
            return self._outcome(self.process.request(message), function, task)
        except JudgedFailure as error:
            return self._failed(error)

    def procedure(self, task: Task, name: str, function: str, data: dict) -> Outcome:
        message = {"op": "procedure", "task": task.name, "name": name, "function": function,
                   "data": data, "guard": [list(p) for p in task.forbidden],
                   "libraries": task.libraries, "advice": task.advice}
        try:
            return self._outcome(self.process.request(message), function, task)
        except JudgedFailure as error:
            return self._failed(error)

    def values(self, names: tuple[str, ...]) -> dict:
        if "error" in self.exports:
            raise LookupError(self.exports["error"])
        values = self.exports.get("values", {})
        if not isinstance(values, dict) or not all(n in values for n in names):
            raise LookupError("the notebook's values were not exported")
        return {name: values[name] for name in names}


# --------------------------------------------------------------------------------------
def judge_notebook(nb, assignment: str, seed: int, *, exports: dict | None = None,
                   limits: Limits = Limits(), sandboxed: bool = True, call_timeout: float = 30.0,
                   deadline: float | None = None, gpu: bool = False,
                   python: dict | None = None) -> dict[str, Verdict]:
    """The verdict of every test cell of ``assignment`` the judge grades, by grade id.

    ``exports`` maps a grade id to what the executor exported for that cell; ``python``
    a cell's index to its source as plain Python (see :func:`student_cells`).
    """
    registered = tasks(assignment)
    cells = student_cells(nb, set(registered), python)
    deadline = deadline if deadline is not None else time.monotonic() + limits.budget
    processes: dict[tuple, JudgedProcess] = {}
    order = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    verdicts = {}
    root = Rng(seed)
    try:
        for cell_id in sorted(registered, key=lambda c: order.index(c) if c in order else 1 << 30):
            task = registered[cell_id]
            if time.monotonic() >= deadline:
                verdicts[cell_id] = Verdict(False, f"{task.name}: not judged: the submission used "
                                                   f"up its time budget of {limits.budget:g} s.")
                continue
            process = None
            if not task.values:
                key = task.allowed
                if key not in processes:
                    processes[key] = JudgedProcess(key, cells, limits, sandboxed, call_timeout,
                                                   deadline, gpu and "torch" in key)
                process = processes[key]
            try:
                if process is not None and not process.alive():
                    process.start()
                target = RemoteTarget(process, (exports or {}).get(cell_id, {}))
                verdicts[cell_id] = task.judge(target, root.child(task.name), hidden=True)
            except JudgedFailure as error:
                verdicts[cell_id] = Verdict(False, f"{task.name}: the judge could not run your "
                                                   f"code: {error}.")
            except Exception as error:  # noqa: BLE001 - one task fails, never the submission
                # A reply the task's checks could not make sense of (whatever the judged
                # process sent). The process may be in any state: the next task gets a
                # fresh one.
                if process is not None:
                    process.stop()
                verdicts[cell_id] = Verdict(False, f"{task.name}: the judge could not make sense "
                                                   f"of what your code returned "
                                                   f"({type(error).__name__}: {str(error)[:300]}).")
    finally:
        for process in processes.values():
            process.stop()
    return verdicts
