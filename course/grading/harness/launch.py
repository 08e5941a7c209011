"""Start a sandboxed program: join its cgroup, set its resource limits, then exec it.

Run by the grader as ``python -S -E -s launch.py CONFIG`` where CONFIG is JSON with
``procs`` (cgroup.procs files to write this process's id into), ``rlimits`` (name
-> value, e.g. ``{"DATA": 4294967296}``) and ``argv`` (the program, usually bwrap).
Joining the cgroup before the exec means every process the program starts is
counted from its first instruction; nothing races.

Inside a sandbox, :func:`apply_rlimits` is what a program of the course calls first
to set the limits that must be set within the user namespace (``RLIMIT_NPROC``).

Standard library only: it runs before anything of the course is importable.
"""
import json
import os
import resource
import sys


def apply_rlimits(limits: dict) -> None:
    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name}")
        _, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def main(config: dict) -> None:
    pid = str(os.getpid())
    for path in config.get("procs", []):
        with open(path, "w") as f:
            f.write(pid)
    apply_rlimits(config.get("rlimits", {}))
    argv = config["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
