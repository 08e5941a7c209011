"""Run a submission's notebook inside its sandbox and hand back only plain results.

The grader never talks to the student's kernel. :func:`run_notebook` starts a
sandbox (:mod:`.sandbox`) in which this module's :func:`main` (the *executor*)
starts a kernel and runs the notebook's code cells one by one with nbclient; it
streams back, for every cell, its outputs and how it ended, as :mod:`wire` messages
on a pipe. The grader reads that pipe with limits (size and time) and merges the
outputs into its own copy of the notebook, so a submission cannot change a cell's
source, metadata or grade through what it sends.

What the executor does for a cell, and what the grader adds:

* **ok / error**: the cell ran; its outputs are kept (at most ``output`` bytes per
  cell, the rest cut with a note).
* **timeout**: the cell ran past the time limit per cell; the kernel is stopped and a
  new one started, the cells before are run again (silently) and grading goes on.
* **died**: the kernel died (``os._exit``, a crash, the memory limit); likewise.
* **budget**: the submission's wall-clock budget ran out; the cell and all after it
  are not run.
* test cells the judge grades are not run at all; where such a cell judges values the
  notebook computed (a trained model), the executor exports those variables instead
  (:func:`wire.save_values`), and the judge reads them.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..harness import wire
from ..harness.protocol import exact_reader

__all__ = ["CellResult", "Job", "Run", "run_notebook"]

EXPORT_LIMIT = 64 * 1024 * 1024
HEADER_ALLOWANCE = 1 << 20  # bytes of a frame's header beyond its cell's output
_NOTE = "[output cut: this cell printed more than {limit} bytes; the rest was not kept]\n"


@dataclass
class Job:
    """What the executor runs: cells ``[(index, source)]`` and the cells to export at."""

    cells: list
    exports: dict = field(default_factory=dict)  # cell index -> [variable names]
    timeout: float = 60.0
    budget: float = 300.0
    output: int = 1_000_000
    kernel_name: str = "python3"
    extra_arguments: list = field(default_factory=list)
    rlimits: dict = field(default_factory=dict)
    python: list = field(default_factory=list)  # [(index, source)] to turn into plain Python

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "exports": {str(k): v for k, v in self.exports.items()}})

    @classmethod
    def from_json(cls, text: str) -> "Job":
        data = json.loads(text)
        data["exports"] = {int(k): v for k, v in data.get("exports", {}).items()}
        return cls(**data)


@dataclass
class CellResult:
    index: int
    status: str  # ok, error, timeout, died, budget
    outputs: list = field(default_factory=list)
    execution_count: int | None = None
    seconds: float = 0.0
    cut: bool = False


@dataclass
class Run:
    """Everything the grader learned from one notebook run."""

    cells: dict = field(default_factory=dict)  # index -> CellResult
    exports: dict = field(default_factory=dict)  # index -> {"values": {...}} or {"error": str}
    limits: list = field(default_factory=list)  # (limit name, cell index or None, text)
    language_info: dict | None = None
    seconds: float = 0.0
    ended: str = ""  # why the run ended early, if it did
    python: dict = field(default_factory=dict)  # index -> the cell's source as plain Python


# --------------------------------------------------------------------------------------
# Inside the sandbox
def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient with a cap on the bytes of output each cell keeps."""

        output_limit = 1_000_000

        def reset_cap(self):
            self.kept, self.cut = 0, False

        def output(self, outs, msg, display_id, cell_index):
            size = _size(msg.get("content", {}))
            if self.cut or self.kept + size > self.output_limit:
                if not self.cut:
                    self.cut = True
                    from nbformat.v4 import new_output

                    outs.append(new_output("stream", name="stdout",
                                           text=_NOTE.format(limit=self.output_limit)))
                return None
            self.kept += size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def _size(content: dict) -> int:
    """The characters an output takes: its text, data, metadata and traceback alike."""
    total = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        total += len(value) if isinstance(value, str) else len(json.dumps(value))
    if content.get("metadata"):
        total += len(json.dumps(content["metadata"]))
    total += sum(len(line) for line in content.get("traceback", []) or [])
    return total


async def _execute(job: Job, send) -> None:
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    start = time.monotonic()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": job.kernel_name, "display_name": job.kernel_name,
                                 "language": "python"}
    cells = {}
    for index, source in job.cells:
        cell = nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
        cells[index] = len(nb.cells) - 1
    client = _client_class()(nb, timeout=job.timeout, kernel_name=job.kernel_name,
                             allow_errors=True, record_timing=False, interrupt_on_timeout=False,
                             raise_on_iopub_timeout=False, iopub_timeout=5,
                             shutdown_kernel="immediate", extra_arguments=job.extra_arguments)
    client.output_limit = job.output

    def remaining() -> float:
        return job.budget - (time.monotonic() - start)

    async def start_kernel():
        client.km = client.create_kernel_manager()
        await client.async_start_new_kernel(cwd=os.getcwd())
        await client.async_start_new_kernel_client()
        reply = await client.async_wait_for_reply(await _ensure(client.kc.kernel_info()))
        return (reply or {}).get("content", {}).get("language_info")

    async def stop_kernel():
        try:
            await client._async_cleanup_kernel()
        except Exception:  # noqa: BLE001 - the kernel may be dead already
            client.km = client.kc = None

    async def run(position: int, index: int, timeout: float):
        cell = nb.cells[position]
        client.reset_cap()
        client.timeout = max(1, int(timeout))
        began = time.monotonic()
        try:
            await client.async_execute_cell(cell, position, execution_count=None)
            failed = any(o.get("output_type") == "error" for o in cell.outputs)
            status = "error" if failed else "ok"
        except CellTimeoutError:
            status = "timeout"
        except DeadKernelError:
            status = "died"
        return CellResult(index, status, list(cell.outputs), cell.get("execution_count"),
                          time.monotonic() - began, client.cut)

    async def export(index: int, names: list[str]) -> None:
        path = f"/tmp/.course-export-{index}"
        snippet = ("__import__('course.grading.harness.wire', fromlist=['save_values']).save_values("
                   "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}, " + repr(path) + ")")
        reply = None
        try:
            msg_id = await _ensure(client.kc.execute(snippet, silent=True, store_history=False))
            client.timeout = max(1, int(min(job.timeout, remaining())))
            reply = await client.async_wait_for_reply(msg_id)
        except Exception as error:  # noqa: BLE001 - reported as the export's failure
            await send({"export": index, "error": f"the kernel did not answer ({error})"})
            return
        content = (reply or {}).get("content", {})
        if content.get("status") != "ok":
            text = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            await send({"export": index, "error": text[:2000]})
            return
        try:
            size = os.path.getsize(path)
            if size > EXPORT_LIMIT:
                raise wire.WireError(f"the exported values take {size} bytes, over the limit "
                                     f"of {EXPORT_LIMIT}")
            with open(path, "rb") as f:
                values = wire.loads(f.read())
            os.remove(path)
            await send({"export": index, "values": values})
        except (OSError, wire.WireError) as error:
            await send({"export": index, "error": str(error)})

    for index, text in plain_python(job.python):
        await send({"python": index, "source": text})
    info = await start_kernel()
    await send({"language_info": info})
    done: list[int] = []  # positions that ran and may be replayed after a restart
    order = [index for index, _ in job.cells]
    exports_at = sorted(job.exports)
    for index in sorted(set(order) | set(exports_at)):
        if index in job.exports:
            if remaining() <= 0:
                await send({"export": index, "error": "the time budget was used up first"})
                continue
            await export(index, job.exports[index])
            continue
        position = cells[index]
        if remaining() <= 0.5:
            await send({"cell": CellResult(index, "budget").__dict__})
            continue
        limit = min(job.timeout, remaining())
        result = await run(position, index, limit)
        if result.status == "timeout" and limit < job.timeout:
            result.status = "budget"
        await send({"cell": result.__dict__})
        if result.status in ("ok", "error"):
            done.append(position)
            continue
        await stop_kernel()
        if remaining() <= 0.5:
            continue
        await start_kernel()
        for earlier in done:  # rebuild the state the next cells expect, silently
            if remaining() <= 0.5:
                break
            replay = await run(earlier, -1, min(job.timeout, remaining()))
            if replay.status in ("timeout", "died"):
                await stop_kernel()
                await start_kernel()
    await stop_kernel()


def plain_python(cells: list) -> list[tuple[int, str]]:
    """The cells' sources with IPython syntax (``%magic``, ``!shell``) as plain Python calls.

    The judge rebuilds the student's definitions from these. It is work on the
    student's source, so it runs here, in the sandbox, inside the submission's time
    budget; a cell IPython cannot transform is left as it is.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    out = []
    for index, source in cells:
        try:
            text = transform(source)
        except Exception:  # noqa: BLE001 - left as it is; the judged process reports it
            text = source
        out.append((index, text))
    return out


async def _ensure(value):
    return await value if asyncio.iscoroutine(value) else value


def skip_slow_imports() -> None:
    """Keep ``rfc3987_syntax`` out of this process: nbformat imports jsonschema, whose format
    checkers import it when it is installed (jupyter-events asks for
    jsonschema[format-nongpl]), and it builds about 40 Earley parsers at import, 0.9 s of
    every submission's start here (python-jsonschema/jsonschema#1428). No notebook schema
    checks an IRI: without it jsonschema skips those two formats and nothing else changes."""
    sys.modules.setdefault("rfc3987_syntax", None)


def _not_dumpable() -> None:
    """Keep the kernel out of this process: no ``/proc/<pid>/fd``, no ptrace.

    The kernel runs as the same user in the same sandbox; a process that is not
    dumpable has its ``/proc`` entries owned by root, so the kernel cannot open this
    process's channel to the grader (``/proc/<pid>/fd/N``) and write frames into it.
    Its children regain the flag when they exec, so this costs the kernel nothing.
    """
    import ctypes

    PR_SET_DUMPABLE = 4
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _working_folder_last() -> None:
    """Let the kernel import the student's own modules, but only after everything installed.

    The sandbox runs Python with ``PYTHONSAFEPATH`` (the working folder is never put
    first on ``sys.path``, where a submitted ``course/`` or ``numpy/`` folder would
    shadow the real one); an IPython start-up file appends it at the end instead.
    """
    startup = os.path.join(os.environ.get("IPYTHONDIR", "/tmp/home/.ipython"),
                           "profile_default", "startup")
    os.makedirs(startup, exist_ok=True)
    with open(os.path.join(startup, "00-course-working-folder.py"), "w") as f:
        f.write("import os as _os, sys as _sys\n_sys.path.append(_os.getcwd())\n"
                "del _os, _sys\n")


def main() -> None:
    """The executor: a job and a channel for wire messages, on the file descriptors in argv."""
    if os.environ.get("COURSE_SANDBOX"):
        _not_dumpable()
        _working_folder_last()
    orders, channel = int(sys.argv[1]), int(sys.argv[2])
    for fd in (orders, channel):
        os.set_inheritable(fd, False)  # the kernel, started from here, must not get them
    protocol = os.fdopen(channel, "wb", buffering=0)
    with os.fdopen(orders, "rb") as stream:
        job = Job.from_json(stream.read().decode())
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    from ..harness.launch import apply_rlimits

    apply_rlimits(job.rlimits)
    skip_slow_imports()
    lock = asyncio.Lock()

    async def send(message):
        async with lock:
            wire.write_message(protocol, message)

    try:
        asyncio.run(_execute(job, send))
    finally:
        wire.write_message(protocol, {"done": True})


# --------------------------------------------------------------------------------------
# The grader's side
def run_notebook(job: Job, sandbox, deadline: float, cwd: str | None = None) -> Run:
    """Run ``job`` in ``sandbox`` (a :class:`sandbox.Sandbox`, or None: no sandbox, in ``cwd``).

    ``deadline`` (a ``time.monotonic()`` value) stops everything, sandbox included.
    """
    run = Run()
    started = time.monotonic()
    # The channel to the grader is a pipe of its own, handed to the executor alone: the
    # sandbox's first process (bwrap, which the kernel may open through /proc/1/fd)
    # keeps only standard input, output and error, and those lead nowhere.
    # The job goes in through a pipe of its own too.
    channel, writer = os.pipe()
    orders, order_writer = os.pipe()
    # -P: the working folder (the submission's files) is not put first on sys.path
    argv = [sys.executable, "-P", "-m", "course.grading.runner.execute", str(orders), str(writer)]
    if sandbox is not None:
        job.rlimits = sandbox.inside_rlimits()
        command, options, cwd = sandbox.command(argv), sandbox.popen_options(), None
    else:
        command, options = argv, {"start_new_session": True}
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd=cwd, pass_fds=(orders, writer),
                                   **options)
    finally:
        os.close(writer)
        os.close(orders)
    running: int | None = None
    try:
        with os.fdopen(order_writer, "wb") as stream:
            stream.write(job.to_json().encode())
        read_exactly = exact_reader(channel, deadline)
        # a cell's outputs as JSON: at most `output` characters, each at most 12 bytes
        # escaped (a surrogate pair), plus their structure; exports add their arrays
        header_limit = 12 * job.output + HEADER_ALLOWANCE
        frame_limit = header_limit + EXPORT_LIMIT
        order = [index for index, _ in job.cells]
        events = sandbox.events() if sandbox else {}
        while True:
            pending = [i for i in order if i not in run.cells]
            running = pending[0] if pending else None
            try:
                message = wire.read_message(read_exactly, max_bytes=frame_limit,
                                            max_header=header_limit)
            except TimeoutError:
                run.ended = "budget"
                run.limits.append(("time budget", running, f"the submission used up its "
                                   f"time budget of {job.budget:g} s"))
                break
            except (EOFError, wire.WireError, OSError) as error:
                run.ended = f"the run ended early ({error})" if not isinstance(error, EOFError) \
                    else "the run ended early"
                break
            if not isinstance(message, dict):
                run.ended = "the executor sent something unexpected"
                break
            if message.get("done"):
                break
            if "python" in message:
                if type(message["python"]) is int and isinstance(message.get("source"), str):
                    run.python[message["python"]] = message["source"]
            elif "language_info" in message:
                run.language_info = message["language_info"]
            elif "cell" in message:
                result = _cell(message["cell"])
                if result is None:
                    run.ended = "the executor sent a malformed cell"
                    break
                now = sandbox.events() if sandbox else {}
                for name, label in (("memory", "memory"), ("processes", "processes")):
                    if now.get(name, 0) > events.get(name, 0):
                        run.limits.append((label, result.index, _LIMIT_TEXT[label]))
                events = now
                if any(o.get("output_type") == "error" and o.get("ename") == "MemoryError"
                       for o in result.outputs) and not any(
                        limit == "memory" and cell == result.index for limit, cell, _ in run.limits):
                    # no cgroup: RLIMIT_DATA makes an allocation fail instead of the OOM killer
                    run.limits.append(("memory", result.index, _LIMIT_TEXT["memory"]))
                if result.cut:
                    run.limits.append(("output", result.index, f"the cell printed more than "
                                       f"{job.output} bytes"))
                if result.status == "budget":
                    run.limits.append(("time budget", result.index, f"the submission used up "
                                       f"its time budget of {job.budget:g} s"))
                elif result.status == "timeout":
                    run.limits.append(("cell time", result.index, f"the cell ran longer than "
                                       f"{job.timeout:g} s"))
                run.cells[result.index] = result
            elif "export" in message:
                run.exports[message["export"]] = message
    finally:
        from .sandbox import kill_process_group

        kill_process_group(process)
        os.close(channel)
        if sandbox is not None:
            sandbox.kill()
    run.seconds = time.monotonic() - started
    if run.ended and running is not None and running not in run.cells:
        events = sandbox.events() if sandbox else {}
        if events.get("memory"):
            run.limits.append(("memory", running, _LIMIT_TEXT["memory"]))
    return run


_LIMIT_TEXT = {
    "memory": "the submission used more memory than its limit",
    "processes": "the submission started more processes than its limit",
}


def _cell(data) -> CellResult | None:
    if not isinstance(data, dict) or type(data.get("index")) is not int:
        return None
    status = data.get("status")
    if status not in ("ok", "error", "timeout", "died", "budget"):
        return None
    outputs = data.get("outputs") if isinstance(data.get("outputs"), list) else []
    count = data.get("execution_count")
    return CellResult(data["index"], status, [o for o in outputs if isinstance(o, dict)],
                      count if type(count) is int else None,
                      float(data.get("seconds") or 0.0) if isinstance(data.get("seconds"),
                                                                     (int, float)) else 0.0,
                      bool(data.get("cut")))


if __name__ == "__main__":
    main()
