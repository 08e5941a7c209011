"""nbgrader's side: the preprocessors that run a submission in its sandbox and judge it.

``nbgrader_config.py`` puts them at the head of ``Autograde.autograde_preprocessors``
in place of nbgrader's ``Execute``, so that ``course-admin autograde`` (both backends)
and a plain ``nbgrader autograde`` grade the same way:

:class:`ExecuteInSandbox`
    Runs the notebook's code cells in a sandbox (:mod:`.execute`, :mod:`.sandbox`),
    skipping the test cells the judge grades, and merges the outputs into nbgrader's
    copy of the notebook; notes on the cells where a limit was hit.
:class:`JudgeTestCells`
    Grades each registered test cell with the judge (:mod:`.judge`) on inputs drawn
    from a fresh seed, writes the verdict as that cell's output (which nbgrader's
    ``SaveAutoGrades`` turns into points), and records the seed, the verdicts and the
    limits hit in ``grading_records/<assignment>/<student>/<notebook>.json``.

Both read their settings from :class:`Sandboxing` (``c.Sandboxing.memory = ...`` in
``nbgrader_config.py``, or ``course-admin autograde --memory ...``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Configurable

from .. import heldout
from ..engine import tasks
from .sandbox import Limits, Sandbox, View, unavailable

__all__ = ["ExecuteInSandbox", "JudgeTestCells", "Sandboxing", "record_path"]

NOTEBOOK_OUTPUTS = 8  # a notebook keeps at most this many cells' worth of output in all
MAX_OUTPUTS = 1000  # outputs kept per cell
NOTE_ALLOWANCE = 4096  # characters beyond a cell's cap: the executor's own note that it cut
MESSAGE = 4000  # characters of a verdict's message kept (it may quote a student's value)


class Sandboxing(Configurable):
    """Where and within which limits a submission's code runs."""

    sandbox = Bool(True, help="Run every submission's code in a bubblewrap sandbox. False "
                              "(course-admin --no-sandbox) runs it as nbgrader does, with the "
                              "grader's rights.").tag(config=True)
    memory = Integer(Limits.memory, help="Bytes of memory per submission.").tag(config=True)
    budget = Float(Limits.budget, help="Seconds of wall-clock time per submission (notebook "
                                       "and judge together).").tag(config=True)
    processes = Integer(Limits.processes, help="Processes per submission.").tag(config=True)
    output = Integer(Limits.output, help="Bytes of output kept per cell.").tag(config=True)
    disk = Integer(Limits.disk, help="Bytes a submission may write.").tag(config=True)
    gpu = Bool(True, help="Let submissions use NVIDIA GPUs when the machine has any.").tag(config=True)
    replay = Bool(False, help="Judge with the seed recorded at the last grading instead of a "
                              "fresh one (to reproduce a grade).").tag(config=True)
    records = Unicode("", help="Folder of the grading records (default: grading_records/ in "
                               "the course directory).").tag(config=True)

    def limits(self) -> Limits:
        return Limits(memory=self.memory, budget=self.budget, processes=self.processes,
                      output=self.output, disk=self.disk)

    def use_gpu(self) -> bool:
        return self.gpu and any(name.startswith("nvidia") for name in _dev())


def _dev() -> list[str]:
    try:
        return os.listdir("/dev")
    except OSError:
        return []


def _judged_cells(assignment: str) -> dict:
    return tasks(assignment) if assignment else {}


class ExecuteInSandbox(Execute):
    """nbgrader's ``Execute``, with the notebook run in a sandbox (see :mod:`.execute`)."""

    def preprocess(self, nb: NotebookNode, resources: dict):
        from .execute import Job, run_notebook
        from .judge import rebuilt_cells

        settings = Sandboxing(parent=self)
        limits = settings.limits()
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        registered = _judged_cells(assignment)
        start = time.monotonic()
        state = resources.setdefault("course", {})
        state.update(deadline=start + limits.budget, limits=[], exports={},
                     sandboxed=settings.sandbox)
        if settings.sandbox:
            reason = unavailable()
            if reason:
                raise RuntimeError(f"cannot grade in a sandbox: {reason}. Grade without one "
                                   "with course-admin autograde --no-sandbox (or "
                                   "--Sandboxing.sandbox=False) on a machine you trust.")
        cells, exports, ids = [], {}, {}
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            task = registered.get(meta.get("grade_id"))
            if task is not None:
                ids[index] = task.cell
                if task.values:
                    exports[index] = list(task.values)
                continue
            if cell.source.strip():
                cells.append((index, cell.source))
        # the notebook's kernelspec is the student's to write: every submission runs in
        # the course's own Python kernel
        job = Job(cells=cells, exports=exports, timeout=float(self.timeout or 60),
                  budget=limits.budget, output=limits.output, kernel_name="python3",
                  extra_arguments=list(self.extra_arguments),
                  python=rebuilt_cells(nb, set(registered)) if registered else [])
        folder = resources.get("metadata", {}).get("path") or os.getcwd()
        files = _plain_entries(folder)
        sandbox = Sandbox(View.environment(), limits, files=files, gpu=settings.use_gpu()) \
            if settings.sandbox else None
        try:
            run = run_notebook(job, sandbox, start + limits.budget + 15, cwd=folder)
        finally:
            if sandbox is not None:
                sandbox.close()
        if run.language_info:
            nb.metadata["language_info"] = run.language_info
        notes = {}
        kept = limits.output * NOTEBOOK_OUTPUTS  # characters of output the notebook may keep
        state_limits = list(run.limits)
        for limit, index, text in run.limits:
            notes.setdefault(index, []).append((limit, text))
        for index, _ in cells:
            cell = nb.cells[index]
            result = run.cells.get(index)
            if result is None:
                cell.outputs = [_note("NotRun", "this cell was not run: " + (
                    "the submission used up its time budget" if run.ended == "budget"
                    else "the notebook's run ended before it"))]
                continue
            budget = _Budget(limits.output + NOTE_ALLOWANCE, kept)
            cell.outputs, cut = _clean_outputs(result.outputs, budget)
            kept = budget.notebook
            if cut and not result.cut:
                if kept <= 0:
                    text = (f"output cut: the notebook's outputs reached "
                            f"{limits.output * NOTEBOOK_OUTPUTS} characters")
                else:
                    text = f"output cut: this cell's outputs took more than {limits.output} characters"
                cell.outputs.append(_note("LimitExceeded", text))
                state_limits.append(("output", index, text))
            cell.execution_count = result.execution_count
            if result.status == "died":
                cell.outputs.append(_note("KernelDied", "the kernel died while running this "
                                          "cell; it was restarted, the cells before were run "
                                          "again and grading went on."))
            for limit, text in notes.get(index, []):
                if limit == "output":
                    continue  # the executor's note is in the outputs already
                cell.outputs.append(_note("LimitExceeded", f"{limit} limit: {text}."))
        for index, cell_id in ids.items():
            export = run.exports.get(index)
            if export is not None:
                state["exports"][cell_id] = export
        state["limits"] = [{"limit": limit, "cell": index, "text": text}
                           for limit, index, text in state_limits]
        state["ended"] = run.ended
        state["python"] = run.python
        state["notebook_seconds"] = run.seconds
        return nb, resources


def _plain_entries(folder: str) -> list[tuple[str, str]]:
    """(path, name) of the folder's regular files and folders, the notebooks excepted.

    ``course-admin`` takes every submission in through :mod:`..intake` first; this is
    the second wall for a plain ``nbgrader autograde``: a link, a file with a second
    name or a special file is never shown to the sandbox (a bind mount follows links
    with the grader's rights).
    """
    import stat

    entries = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".ipynb") or name.startswith("."):
            continue
        path = os.path.join(folder, name)
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1):
            entries.append((path, name))
    return entries


def _note(name: str, text: str) -> NotebookNode:
    return new_output("error", ename=name, evalue=text, traceback=[f"{name}: {text}"])


def _text(value, limit: int) -> str:
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    return value[:limit] if isinstance(value, str) else ""


def _json_size(value) -> int:
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return -1  # not JSON: never kept


class _Budget:
    """Characters of output still to keep: for one cell, and for the whole notebook."""

    def __init__(self, cell: int, notebook: int):
        self.cell, self.notebook = cell, notebook

    @property
    def left(self) -> int:
        return max(0, min(self.cell, self.notebook))

    def take(self, size: int) -> bool:
        if size < 0 or size > self.left:
            return False
        self.cell -= size
        self.notebook -= size
        return True


def _clean_outputs(outputs: list, budget: _Budget) -> tuple[list, bool]:
    """Outputs from the sandbox, rebuilt field by field as nbformat outputs, capped in size.

    Everything counts against the budget: text, every data entry, metadata, error
    messages and tracebacks. Returns the outputs and whether anything was cut.
    """
    clean, cut = [], False
    for out in outputs[:MAX_OUTPUTS]:
        kind = out.get("output_type")
        if kind == "stream":
            name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
            text = out.get("text", "")
            kept = _text(text, budget.left)
            cut |= len(kept) < len(_text(text, 1 << 62))
            budget.take(len(kept))
            node = new_output("stream", name=name, text=kept)
        elif kind in ("display_data", "execute_result"):
            data = {}
            raw = out.get("data") if isinstance(out.get("data"), dict) else {}
            for mime, value in raw.items():
                if not isinstance(mime, str) or len(mime) > 200:
                    cut = True
                    continue
                if isinstance(value, (dict, list)) and mime.endswith("json"):
                    if budget.take(_json_size(value)):
                        data[mime] = value
                    else:
                        cut = True
                    continue
                text = _text(value, 1 << 62)
                if budget.take(len(text)):
                    data[mime] = text
                else:
                    cut = True
            metadata = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
            if metadata and not budget.take(_json_size(metadata)):
                metadata, cut = {}, True
            if kind == "execute_result":
                count = out.get("execution_count")
                node = new_output("execute_result", data=data, metadata=metadata,
                                  execution_count=count if type(count) is int else None)
            else:
                node = new_output("display_data", data=data, metadata=metadata)
        elif kind == "error":
            ename = _text(out.get("ename", ""), min(200, budget.left))
            budget.take(len(ename))
            evalue = _text(out.get("evalue", ""), min(2000, budget.left))
            budget.take(len(evalue))
            trace = []
            for line in [line for line in out.get("traceback", []) if isinstance(line, str)][:200]:
                line = line[:min(2000, budget.left)]
                if not line or not budget.take(len(line)):
                    break
                trace.append(line)
            node = new_output("error", ename=ename, evalue=evalue, traceback=trace)
        else:
            continue
        clean.append(node)
    cut |= len(outputs) > MAX_OUTPUTS
    return clean, cut


def record_path(root: str | os.PathLike, assignment: str, student: str, notebook: str,
                records: str = "") -> Path:
    """Where the judge's record of one graded notebook is kept."""
    base = Path(records) if records else Path(root) / "grading_records"
    return base / assignment / student / f"{notebook}.json"


def _shorten(message: str) -> str:
    """A verdict's message as it is shown and recorded: it may quote a student's value."""
    message = str(message)
    if len(message) <= MESSAGE:
        return message
    return message[:MESSAGE] + f"\n[... {len(message) - MESSAGE} more characters not shown]"


class JudgeTestCells(NbGraderPreprocessor):
    """Write the judge's verdict into every registered test cell (see :mod:`.judge`)."""

    call_timeout = Float(30.0, help="Seconds one call of a student's function may take while "
                                    "it is judged.").tag(config=True)
    heldout = Unicode("", help="An .npz of digits no student has (x: (N, 28, 28) uint8, y: "
                               "labels), on which trained networks are scored; empty: the "
                               "public test split (see course.grading.heldout).").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict):
        from nbgrader.coursedir import CourseDirectory

        from .judge import judge_notebook

        info = resources.get("nbgrader", {})
        assignment = info.get("assignment", "")
        registered = _judged_cells(assignment)
        if not registered:
            return nb, resources
        settings = Sandboxing(parent=self)
        state = resources.get("course", {})
        root = CourseDirectory(config=self.config).root
        path = record_path(root, assignment, info.get("student", "student"),
                           info.get("notebook", assignment), settings.records)
        seed = None
        if settings.replay and path.is_file():
            seed = int(json.loads(path.read_text())["seed"], 16)
        if seed is None:
            seed = int.from_bytes(os.urandom(16), "big")
        started = time.monotonic()
        deadline = state.get("deadline", started + settings.budget)
        if self.heldout:
            heldout.read(self.heldout)  # a broken file is the instructor's to fix: fail loudly
        heldout.use(self.heldout)
        verdicts = judge_notebook(
            nb, assignment, seed, exports=state.get("exports", {}), limits=settings.limits(),
            sandboxed=state.get("sandboxed", settings.sandbox), call_timeout=self.call_timeout,
            deadline=deadline, gpu=settings.use_gpu(), python=state.get("python"))
        verdicts = {cell_id: dataclasses.replace(v, message=_shorten(v.message))
                    for cell_id, v in verdicts.items()}
        for cell in nb.cells:
            cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            verdict = verdicts.get(cell_id)
            if verdict is None or cell.cell_type != "code":
                continue
            if verdict.passed:
                cell.outputs = [new_output("stream", name="stdout", text=verdict.message + "\n")]
            else:
                cell.outputs = [new_output("error", ename="AssertionError", evalue=verdict.message,
                                           traceback=[f"AssertionError: {verdict.message}"])]
            cell.execution_count = None
        record = {
            "assignment": assignment, "student": info.get("student"),
            "notebook": info.get("notebook"), "seed": f"{seed:032x}",
            "graded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sandboxed": bool(state.get("sandboxed", settings.sandbox)),
            "heldout_digits": self.heldout or None,
            "limits": state.get("limits", []), "ended": state.get("ended", ""),
            "seconds": {"notebook": round(state.get("notebook_seconds", 0.0), 3),
                        "judge": round(time.monotonic() - started, 3)},
            "verdicts": {cell_id: {"passed": v.passed, "message": v.message, "case": v.case,
                                   "mistake": v.mistake}
                         for cell_id, v in verdicts.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
        return nb, resources
