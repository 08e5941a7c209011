"""A real course server for the tests: ``python -m course.hub`` on a free port, as root.

:class:`CourseHub` makes a course folder (this repository's config and ps1, generated),
a roster, and starts the course server exactly as ``./dev.sh hub`` does, with its own
state folder and Unix accounts (prefixed ``cnnt-``); :meth:`CourseHub.stop` stops it and
removes the accounts and groups it made. It needs root (accounts, PAM, servers run as
each user): a test that uses it FAILS when not root, it never skips.
"""
from __future__ import annotations

import csv
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from browserkit import free_port
from course import admin
from course.hub.accounts import Accounts
from course.hub.roster import Roster

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "cnnt"


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root: it creates Unix accounts and runs each user's "
                    "server as that account, as a course server does")


class CourseHub:
    def __init__(self, members: list[tuple[str, str, str]], assignments=("ps1",)):
        self.members = members
        self.course = Path(tempfile.mkdtemp(prefix="cnnt-course-"))
        self.state = Path(tempfile.mkdtemp(prefix="cnnt-state-"))
        self.log_path = ROOT / "artifacts" / "hub" / "hub.log"  # the hub's, the servers', the exchange's
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", self.course)
        for assignment in assignments:
            shutil.copytree(ROOT / "source" / assignment, self.course / "source" / assignment)
        admin.release(self.course, list(assignments))
        self.roster_path = self.course.parent / (self.course.name + "-roster.csv")
        with self.roster_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["username", "name", "email", "role"])
            for username, name, role in members:
                writer.writerow([username, name, f"{username}@example.edu", role])
        self.roster = Roster.read(self.roster_path)
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        base = free_port()
        while any(_busy(base + k) for k in range(1, 4)):
            base = free_port()
        self.closed_before = {p: os.stat(p).st_mode for p in ("/root",) if os.path.isdir(p)}
        self.process = None
        self._base = base

    def start(self) -> "CourseHub":
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course.hub", "--roster", str(self.roster_path),
             "--course", str(self.course), "--state", str(self.state), "--url", self.url,
             "--course-id", COURSE_ID, "--open-folders", "--reset-passwords",
             # the hub's, the exchange's and the proxy API's ports: free ones
             "--ports", f"{self._base + 1},{self._base + 2},{self._base + 3}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                pytest.fail("the course server stopped:\n" + self.log_text()[-4000:])
            try:
                with urllib.request.urlopen(self.url + "/hub/api/", timeout=2) as response:
                    if response.status == 200 and self.exchange_up():
                        break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the course server did not answer in 2 minutes:\n" + self.log_text()[-4000:])
        with (self.state / "passwords.csv").open() as handle:
            self.passwords = {row["username"]: row["password"] for row in csv.DictReader(handle)}
        return self

    def exchange_up(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self._base + 2}/services/exchange/api/assignments",
                                   timeout=2)
        except urllib.error.HTTPError:
            return True  # it answers (401 without a token)
        except OSError:
            return False
        return True

    @property
    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self._base + 2}/services/exchange/"

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def tokens(self, usernames) -> dict[str, str]:
        """A hub API token for each user (as ``jupyterhub token`` makes them)."""
        code = (
            "import json, sys\n"
            "from jupyterhub import orm\n"
            "db = orm.new_session_factory(sys.argv[1])()\n"
            "out = {}\n"
            "for name in sys.argv[2:]:\n"
            "    user = orm.User.find(db, name)\n"
            "    out[name] = user.new_api_token(note='test', roles=['user'])\n"
            "db.commit()\n"
            "print(json.dumps(out))\n")
        done = subprocess.run([sys.executable, "-c", code,
                               f"sqlite:///{self.state / 'jupyterhub.sqlite'}", *usernames],
                              capture_output=True, text=True, timeout=120, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def run_as(self, username: str, argv, token: str, cwd: str | None = None,
               role: str = "student", **kwargs) -> subprocess.Popen:
        """``argv`` as ``username``, with the environment the hub gives that user's server."""
        home = pwd.getpwnam(username).pw_dir
        config = [ROOT / "hub" / "jupyter-config" / role, ROOT / "hub" / "jupyter-config" / "common"]
        env = {"HOME": home, "USER": username, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
               "COURSE_ID": COURSE_ID, "COURSE_EXCHANGE_URL": self.exchange_url,
               "JUPYTERHUB_API_TOKEN": token,
               "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, config))}
        return subprocess.Popen(["runuser", "-u", username, "--", "env", "-i",
                                 *(f"{k}={v}" for k, v in env.items()), *argv],
                                cwd=cwd or home, **kwargs)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        Accounts(COURSE_ID, self.state).remove(self.roster)
        for path, mode in self.closed_before.items():
            os.chmod(path, mode)
        for path in (self.course, self.state):
            shutil.rmtree(path, ignore_errors=True)
        self.roster_path.unlink(missing_ok=True)


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
