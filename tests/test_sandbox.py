"""The sandbox (course/grading/runner/sandbox.py): what a sandboxed program can see and do.

Each test runs a short Python program inside a real bubblewrap sandbox and checks what
it was refused. Runtime: about 20 s.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from course.grading.runner import sandbox as sb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code: str, limits=sb.Limits(), view=None, files=(), timeout=60, **kwargs):
    """Run ``code`` with the environment's Python in a sandbox: (returncode, stdout, sandbox)."""
    box = sb.Sandbox(view or sb.View.environment(), limits, files=list(files), **kwargs)
    try:
        command = box.command([sys.executable, "-c", textwrap.dedent(code)])
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              **box.popen_options())
        return done.returncode, done.stdout, box.events()
    finally:
        box.close()


def test_sandbox_is_available_here():
    assert sb.unavailable() is None


def test_unprivileged_user_and_no_view_of_the_course():
    code, out, _ = run(f"""
        import os, json
        print(json.dumps({{"uid": os.getuid(), "gid": os.getgid(),
                          "root": sorted(os.listdir({ROOT!r})), "cwd": os.getcwd(),
                          "pid": os.getpid()}}))
    """)
    info = json.loads(out)
    assert code == 0 and info["uid"] == info["gid"] == sb.SANDBOX_UID
    assert set(info["root"]) <= {"course", ".venv"}  # no source/, no gradebook, no submitted/
    assert info["cwd"] == "/tmp/work" and info["pid"] < 10  # its own PID namespace


def test_the_environment_is_read_only():
    code, out, _ = run("""
        import course.grading.engine as engine, sys
        for path in (engine.__file__, sys.executable, "/usr/bin/env"):
            try:
                open(path, "a")
                print("WROTE", path)
            except OSError as error:
                print(error.errno)
    """)
    # EROFS, or ETXTBSY for the interpreter that is running
    assert code == 0 and "WROTE" not in out and set(out.split()) <= {"30", "26"}


def test_no_network_not_even_the_hosts_loopback():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.settimeout(3)
    try:
        code, out, _ = run(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("CONNECTED")
            except OSError as error:
                print(type(error).__name__)
            try:
                socket.create_connection(("93.184.216.34", 80), timeout=2)
                print("CONNECTED")
            except OSError as error:
                print(type(error).__name__)
        """)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert code == 0 and "CONNECTED" not in out


def test_submission_files_are_visible_read_only_and_writes_stay_inside(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("given")
    code, out, _ = run("""
        print(open("data.txt").read())
        try:
            open("data.txt", "w")
        except OSError as error:
            print("ro", error.errno)
        open("new.txt", "w").write("x")
        print(open("new.txt").read())
    """, files=[(str(data), "data.txt")])
    assert code == 0 and out.split() == ["given", "ro", "30", "x"]
    assert sorted(os.listdir(tmp_path)) == ["data.txt"]


def test_memory_limit_stops_the_program():
    code, _, events = run("x = bytearray(3 << 30)\nprint('allocated')",
                          limits=sb.Limits(memory=512 << 20))
    assert code != 0
    if events:  # a cgroup: the kernel's OOM killer; else RLIMIT_DATA: a MemoryError
        assert events.get("memory", 0) >= 1


def test_memory_limit_without_a_cgroup_is_an_rlimit(monkeypatch):
    monkeypatch.setenv("COURSE_SANDBOX_NO_CGROUP", "1")
    code, out, _ = run("""
        try:
            x = bytearray(3 << 30)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """, limits=sb.Limits(memory=512 << 20))
    assert code == 0 and out.strip() == "MemoryError"


def test_disk_limit():
    code, out, _ = run("""
        import os
        for folder in ("/tmp/work", "/tmp", "/dev/shm"):
            try:
                with open(os.path.join(folder, "big"), "wb") as f:
                    for _ in range(64):
                        f.write(b"z" * (1 << 20))
                print("WROTE 64 MiB")
            except OSError as error:
                print(error.errno)
    """, limits=sb.Limits(disk=8 << 20))
    assert "WROTE" not in out, out
    assert set(out.split()) <= {"27", "28"}  # EFBIG (the file limit) or ENOSPC (the tmpfs)


def test_process_limit_bounds_a_fork_loop():
    code, out, events = run("""
        import os, time
        children = 0
        for _ in range(1000):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
            except OSError:
                break
        print(children)
    """, limits=sb.Limits(processes=40), timeout=90)
    assert code == 0 and int(out) < 40
    if events:
        assert events.get("processes", 0) >= 1


def test_nothing_outlives_the_sandbox():
    marker = f"outlive-{os.getpid()}-{time.time_ns()}"
    code, _, _ = run(f"""
        import subprocess
        subprocess.Popen(["sleep", "300", "{marker}"], start_new_session=True)
        print("started")
    """)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert code == 0 and left == ""


def test_package_view_has_only_the_allowed_packages():
    from course.grading.runner.judge import allowed_entries

    entries = allowed_entries(("numpy",))
    assert sorted({os.path.basename(e).split("-")[0].split(".")[0] for e in entries}) == ["numpy"]
    view = sb.View.packages(list(entries), "/judge/site")
    code, out, _ = run("""
        import sys
        sys.path.append("/judge/site")
        import numpy
        for name in ("scipy", "torch", "course", "sklearn", "IPython"):
            try:
                __import__(name)
                print("IMPORTED", name)
            except ImportError:
                print("absent", name)
        print(numpy.ones(3).sum())
    """, view=view)
    assert code == 0, out
    assert "IMPORTED" not in out and out.split()[-1] == "3.0"


@pytest.mark.parametrize("field, value, message", [
    ("memory", 0, "`memory` must be a positive int"),
    ("processes", -1, "`processes` must be a positive int"),
    ("output", 2.5, "`output` must be a positive int"),
    ("budget", 0, "`budget` must be a positive number of seconds"),
    ("disk", True, "`disk` must be a positive int"),
])
def test_limits_are_checked(field, value, message):
    with pytest.raises(ValueError, match=message):
        sb.Limits(**{field: value})


def test_unavailable_says_why(monkeypatch):
    monkeypatch.setenv("COURSE_BWRAP", "/bin/false")
    sb.bwrap_path.cache_clear()
    sb.unavailable.cache_clear()
    try:
        reason = sb.unavailable()
    finally:
        monkeypatch.delenv("COURSE_BWRAP")
        sb.bwrap_path.cache_clear()
        sb.unavailable.cache_clear()
    assert reason and "namespaces" in reason


def test_one_disk_limit_covers_tmp_the_working_folder_and_dev_shm():
    code, out, _ = run("""
        import os
        total = 0
        for folder in ("/dev/shm", "/tmp", "/tmp/work"):
            try:
                with open(os.path.join(folder, "fill"), "wb") as f:
                    for _ in range(6):
                        f.write(b"z" * (1 << 20))
                        f.flush()
                        total += 1
            except OSError:
                pass
        print(total)
        try:
            open("/dev/planted", "w")
            print("wrote in /dev")
        except OSError:
            print("/dev is read-only")
    """, limits=sb.Limits(disk=8 << 20))
    written, dev = out.split("\n", 1)
    assert int(written) <= 8, out  # 6 + 6 + 6 MiB asked for, 8 MiB allowed in all
    assert dev.strip() == "/dev is read-only"
