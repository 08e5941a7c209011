"""The course's exchange: a JupyterHub service that holds released assignments,
submissions and feedback, and lets each person reach only what is theirs.

nbgrader's own exchange is a folder every account can write to: students can list or
read each other's submissions there (nbgrader #978), a submission's time is written by
the student's own process, and the folder must be shared by every server. This one is a
small web service instead, started by the hub (``hub/jupyterhub_config.py``) as a
dedicated account that alone can read its folder (mode 0700). Everybody reaches it over
HTTP with the API token of their own Jupyter server (``JUPYTERHUB_API_TOKEN``); the hub
says whose token it is, and the roster says what that person may do:

================================  ==============================  ===================
request                           what                            who
================================  ==============================  ===================
``GET api/assignments``           released assignments            everyone on the roster
``GET api/assignments/A``         the released files of A         everyone on the roster
``PUT api/assignments/A``         release A (``?force=1``)        instructors
``DELETE api/assignments/A``      withdraw A                      instructors
``POST api/submissions/A``        hand in A; the server stamps    everyone, as themselves
``GET api/submissions/A``         one's own submissions of A      everyone; instructors
                                  (``?all=1``: everybody's)       for ``all``
``GET api/submissions/A/S/T``     the files of S's submission T   instructors
``PUT api/feedback/A/S/T``        feedback on S's submission T    instructors
``GET api/feedback/A/T``          one's own feedback on T         everyone, as themselves
================================  ==============================  ===================

A submission is stamped with the service's clock when it arrives, and is stored under
that stamp: nothing the student sends sets its time. Files travel as base64 in JSON,
within :class:`course.grading.intake.Rules` (number, size, depth, names); the service
writes every file itself, into folders it creates, so nothing a student sends is a link
or a special file here. Every change is written to a private temporary folder and moved
into place in one ``rename``: a reader sees a submission whole or not at all.

The client side, nbgrader's exchange classes that talk to this service, is
:mod:`course.hub.exchange`. Run by the hub as
``python -m course.hub.service``; its settings come from the environment
(``COURSE_EXCHANGE_ROOT``, ``COURSE_ROSTER``, ``COURSE_ID`` and the hub's own
``JUPYTERHUB_*`` variables).
"""
from __future__ import annotations

import base64
import binascii
import datetime
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

from tornado import ioloop, web
from tornado.httpserver import HTTPServer

from course.grading.intake import Rules
from course.hub.roster import Roster

__all__ = ["Store", "StoreError", "make_app", "main"]

log = logging.getLogger("course.exchange")

ASSIGNMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STUDENT = re.compile(r"[a-z][a-z0-9_-]{0,31}")
STAMP = re.compile(r"\d{8}T\d{12}Z(-\d{1,3})?")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's default, parsed by dateutil
RULES = Rules()
# The largest request: every file at its limit, as base64 (4/3), with room for the JSON.
MAX_BODY = RULES.total_bytes * 4 // 3 + 1024 * 1024


class StoreError(Exception):
    """A request the store refuses: ``status`` is the HTTP status, the text says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _check_name(kind: str, value: str, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise StoreError(400, f"{kind} {value!r:.80} is not a valid name")
    return value


def check_files(files) -> list[tuple[str, bytes]]:
    """``[{"path": ..., "content": base64}]`` as ``(relative path, bytes)``, within the rules."""
    if not isinstance(files, list):
        raise StoreError(400, "files: expected a list of {path, content}")
    if len(files) > RULES.files:
        raise StoreError(413, f"files: {len(files)} files; at most {RULES.files}")
    out, total, seen = [], 0, set()
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
                or not isinstance(entry.get("content"), str):
            raise StoreError(400, "files: every entry needs a path and a base64 content")
        path = entry["path"]
        parts = path.split("/")
        if (len(parts) > RULES.depth + 1 or any(p in ("", ".", "..") for p in parts)
                or any(len(p) > RULES.name_chars or not p.isprintable() or "\\" in p
                       for p in parts)):
            raise StoreError(400, f"files: the path {path!r:.120} is not a plain relative path "
                                  f"(at most {RULES.depth} folders, printable names)")
        if path in seen:
            raise StoreError(400, f"files: {path!r:.120} is given twice")
        seen.add(path)
        try:
            data = base64.b64decode(entry["content"], validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(400, f"files: the content of {path!r:.120} is not base64") from None
        if len(data) > RULES.file_bytes:
            raise StoreError(413, f"files: {path!r:.120} has {len(data)} bytes; at most "
                                  f"{RULES.file_bytes}")
        total += len(data)
        if total > RULES.total_bytes:
            raise StoreError(413, f"files: more than {RULES.total_bytes} bytes in all")
        out.append((path, data))
    return out


def encode_files(folder: Path) -> list[dict]:
    """The files under ``folder`` (written by this service) as ``[{"path", "content"}]``."""
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != ".meta.json":
            files.append({"path": path.relative_to(folder).as_posix(),
                          "content": base64.b64encode(path.read_bytes()).decode("ascii")})
    return files


class Store:
    """The exchange's folder: ``released/A/``, ``submissions/S/A/T/``, ``feedback/S/A/T/``."""

    def __init__(self, root: str | Path, clock=None):
        self.root = Path(root)
        self.clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
        for name in ("released", "submissions", "feedback", "tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    # -- writing: a private folder, then one rename ------------------------------------
    def _stage(self, files: list[tuple[str, bytes]], meta: dict | None = None) -> Path:
        stage = self.root / "tmp" / uuid.uuid4().hex
        stage.mkdir(mode=0o700)
        for path, data in files:
            target = stage / path
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        if meta is not None:
            (stage / ".meta.json").write_text(json.dumps(meta))
        return stage

    def _replace(self, stage: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = None
        if target.exists():
            old = self.root / "tmp" / uuid.uuid4().hex
            os.rename(target, old)
        os.rename(stage, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # -- released assignments ------------------------------------------------------------
    def released(self) -> list[dict]:
        out = []
        for folder in sorted((self.root / "released").iterdir()):
            meta = json.loads((folder / ".meta.json").read_text())
            out.append(meta)
        return out

    def release(self, assignment: str, files, force: bool) -> dict:
        _check_name("assignment", assignment, ASSIGNMENT)
        files = check_files(files)
        if not any(p.endswith(".ipynb") and "/" not in p for p, _ in files):
            raise StoreError(400, f"release of {assignment}: no notebook at the top level")
        target = self.root / "released" / assignment
        if target.exists() and not force:
            raise StoreError(409, f"{assignment} is already released; release it again with "
                                  "force to replace it")
        meta = {"assignment_id": assignment, "released": self._now()[0],
                "notebooks": sorted(p[:-6] for p, _ in files
                                    if p.endswith(".ipynb") and "/" not in p)}
        self._replace(self._stage(files, meta), target)
        return meta

    def withdraw(self, assignment: str) -> None:
        target = self.root / "released" / _check_name("assignment", assignment, ASSIGNMENT)
        if not target.exists():
            raise StoreError(404, f"{assignment} is not released")
        old = self.root / "tmp" / uuid.uuid4().hex
        os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)

    def released_files(self, assignment: str) -> list[dict]:
        folder = self.root / "released" / _check_name("assignment", assignment, ASSIGNMENT)
        if not folder.is_dir():
            raise StoreError(404, f"{assignment} is not released")
        return encode_files(folder)

    # -- submissions ---------------------------------------------------------------------
    def _now(self) -> tuple[str, str]:
        now = self.clock().astimezone(datetime.timezone.utc)
        return now.strftime(TIMESTAMP_FORMAT), now.strftime("%Y%m%dT%H%M%S%fZ")

    def submit(self, student: str, assignment: str, files) -> dict:
        _check_name("student", student, STUDENT)
        _check_name("assignment", assignment, ASSIGNMENT)
        if not (self.root / "released" / assignment).is_dir():
            raise StoreError(404, f"{assignment} is not released: nothing to hand in")
        files = check_files(files)
        timestamp, stamp = self._now()
        size = sum(len(data) for _, data in files)
        meta = {"student_id": student, "assignment_id": assignment, "timestamp": timestamp,
                "stamp": stamp, "bytes": size,
                "notebooks": sorted(p[:-6] for p, _ in files if p.endswith(".ipynb") and "/" not in p)}
        stage = self._stage(files, meta)
        folder = self.root / "submissions" / student / assignment
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for suffix in [""] + [f"-{n}" for n in range(1, 1000)]:
            try:
                os.rename(stage, folder / (stamp + suffix))  # never replaces a folder with files
            except OSError:
                continue
            meta["stamp"] = stamp + suffix
            (folder / meta["stamp"] / ".meta.json").write_text(json.dumps(meta))
            return meta
        raise StoreError(503, "too many submissions at the same instant; try again")

    def submissions(self, assignment: str, student: str | None = None) -> list[dict]:
        """Every submission of ``assignment`` (by ``student``), oldest first per student."""
        _check_name("assignment", assignment, ASSIGNMENT)
        base = self.root / "submissions"
        students = [student] if student else sorted(p.name for p in base.iterdir())
        out = []
        for name in students:
            folder = base / _check_name("student", name, STUDENT) / assignment
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if not STAMP.fullmatch(entry.name):
                    continue
                meta = json.loads((entry / ".meta.json").read_text())
                feedback = self.root / "feedback" / name / assignment / entry.name
                meta["feedback"] = sorted(p.name for p in feedback.glob("*.html")) \
                    if feedback.is_dir() else []
                out.append(meta)
        return out

    def submission_files(self, student: str, assignment: str, stamp: str) -> list[dict]:
        folder = self._submission(student, assignment, stamp)
        return encode_files(folder)

    def _submission(self, student: str, assignment: str, stamp: str) -> Path:
        folder = (self.root / "submissions" / _check_name("student", student, STUDENT)
                  / _check_name("assignment", assignment, ASSIGNMENT)
                  / _check_name("submission", stamp, STAMP))
        if not folder.is_dir():
            raise StoreError(404, f"no submission {stamp} of {assignment} by {student}")
        return folder

    # -- feedback ------------------------------------------------------------------------
    def give_feedback(self, student: str, assignment: str, stamp: str, files) -> None:
        self._submission(student, assignment, stamp)
        files = check_files(files)
        if not files or any(not p.endswith(".html") or "/" in p for p, _ in files):
            raise StoreError(400, "feedback: expected the feedback pages (NAME.html) only")
        target = self.root / "feedback" / student / assignment / stamp
        self._replace(self._stage(files), target)

    def feedback_files(self, student: str, assignment: str, stamp: str) -> list[dict]:
        self._submission(student, assignment, stamp)
        folder = self.root / "feedback" / student / assignment / stamp
        return encode_files(folder) if folder.is_dir() else []


# ------------------------------------------------------------------------------------------
# The web service
class _Handler(web.RequestHandler):
    """Who is asking (from their hub token) and what the roster lets them do."""

    def initialize(self, store: Store, roster_path: Path, hub_auth, course_id: str):
        self.store, self.roster_path, self.hub_auth = store, roster_path, hub_auth
        self.course_id = course_id

    def check_xsrf_cookie(self):  # token-authenticated API: no cookies are used
        pass

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def roster(self) -> Roster:
        # Read on every request (it is small): a changed roster applies at once.
        return Roster.read(self.roster_path)

    async def prepare(self):
        match = re.fullmatch(r"(?:token|bearer)\s+(\S+)",
                             self.request.headers.get("Authorization", ""), re.IGNORECASE)
        if not match:
            raise web.HTTPError(401, "send the API token of your Jupyter server "
                                     "(Authorization: token ...)")
        model = await self.hub_auth.user_for_token(match.group(1), sync=False)
        if not model or model.get("kind", "user") != "user":
            raise web.HTTPError(403, "the hub does not know this token as a user's")
        self.username = model["name"]
        self.role = self.roster().role(self.username)
        if self.role is None:
            raise web.HTTPError(403, f"{self.username} is not on this course's roster")

    def require_instructor(self, what: str) -> None:
        if self.role != "instructor":
            log.warning("refused: %s (%s) tried to %s", self.username, self.role, what)
            raise web.HTTPError(403, f"only instructors may {what}")

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        return data

    def reply(self, value) -> None:
        self.finish(json.dumps(value))

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.finish(json.dumps({"error": message}))

    def _handle_request_exception(self, e):
        if isinstance(e, StoreError):
            self.send_error(e.status, exc_info=(type(e), web.HTTPError(e.status, str(e)), None))
            return
        super()._handle_request_exception(e)


class AssignmentsHandler(_Handler):
    def get(self):
        self.reply({"course_id": self.course_id, "assignments": self.store.released()})


class AssignmentHandler(_Handler):
    def get(self, assignment):
        self.reply({"assignment_id": assignment, "files": self.store.released_files(assignment)})

    def put(self, assignment):
        self.require_instructor("release assignments")
        meta = self.store.release(assignment, self.body().get("files"),
                                  force=self.get_argument("force", "0") == "1")
        log.info("%s released %s", self.username, assignment)
        self.reply(meta)

    def delete(self, assignment):
        self.require_instructor("withdraw assignments")
        self.store.withdraw(assignment)
        log.info("%s withdrew %s", self.username, assignment)
        self.reply({"assignment_id": assignment, "withdrawn": True})


class SubmissionsHandler(_Handler):
    def post(self, assignment):
        meta = self.store.submit(self.username, assignment, self.body().get("files"))
        log.info("%s handed in %s at %s (%d bytes)", self.username, assignment,
                 meta["timestamp"], meta["bytes"])
        self.reply(meta)

    def get(self, assignment):
        if self.get_argument("all", "0") == "1":
            self.require_instructor("list everybody's submissions")
            self.reply({"submissions": self.store.submissions(assignment)})
        else:
            self.reply({"submissions": self.store.submissions(assignment, self.username)})


class SubmissionHandler(_Handler):
    def get(self, assignment, student, stamp):
        self.require_instructor("read submissions")
        self.reply({"files": self.store.submission_files(student, assignment, stamp)})


class FeedbackHandler(_Handler):
    def put(self, assignment, student, stamp):
        self.require_instructor("give feedback")
        self.store.give_feedback(student, assignment, stamp, self.body().get("files"))
        log.info("%s gave feedback to %s on %s (%s)", self.username, student, assignment, stamp)
        self.reply({"student_id": student, "assignment_id": assignment, "stamp": stamp})


class OwnFeedbackHandler(_Handler):
    def get(self, assignment, stamp):
        self.reply({"files": self.store.feedback_files(self.username, assignment, stamp)})


def make_app(store: Store, roster_path: Path, hub_auth, course_id: str, prefix: str = "/"):
    settings = dict(store=store, roster_path=Path(roster_path), hub_auth=hub_auth,
                    course_id=course_id)
    name = r"([^/]+)"
    routes = [
        (r"api/assignments", AssignmentsHandler),
        (rf"api/assignments/{name}", AssignmentHandler),
        (rf"api/submissions/{name}", SubmissionsHandler),
        (rf"api/submissions/{name}/{name}/{name}", SubmissionHandler),
        (rf"api/feedback/{name}/{name}/{name}", FeedbackHandler),
        (rf"api/feedback/{name}/{name}", OwnFeedbackHandler),
    ]
    prefix = prefix.rstrip("/") + "/"
    return web.Application([(prefix + path, handler, settings) for path, handler in routes])


def main() -> None:  # pragma: no cover - run by the hub; tests/test_hub.py starts it so
    from urllib.parse import urlparse

    from jupyterhub.services.auth import HubAuth

    logging.basicConfig(level=logging.INFO, format="[exchange %(asctime)s] %(message)s")
    os.umask(0o077)
    store = Store(os.environ["COURSE_EXCHANGE_ROOT"])
    hub_auth = HubAuth(cache_max_age=60)
    app = make_app(store, Path(os.environ["COURSE_ROSTER"]), hub_auth,
                   os.environ.get("COURSE_ID", "course"),
                   os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    server = HTTPServer(app, max_body_size=MAX_BODY)
    server.listen(url.port, url.hostname)
    log.info("serving the exchange of %s from %s at %s", os.environ.get("COURSE_ID"),
             store.root, url.geturl())
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
