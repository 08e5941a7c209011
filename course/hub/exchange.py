"""nbgrader's exchange, through the course's exchange service (:mod:`course.hub.service`).

These classes replace nbgrader's folder-based exchange (``nbgrader.exchange.default``)
one for one, so the student's Assignments tab, the instructor's formgrader and the
``nbgrader`` commands work unchanged; they are chosen in the course server's
``nbgrader_config.py`` (``hub/jupyter-config/nbgrader_config.py``)::

    c.ExchangeFactory.exchange = "course.hub.exchange.Exchange"
    c.ExchangeFactory.submit = "course.hub.exchange.ExchangeSubmit"
    ...

Each request carries the token of the person's own Jupyter server
(``JUPYTERHUB_API_TOKEN``), which the service checks with the hub; what a person may do
is decided there, never here. The service's address is ``$COURSE_EXCHANGE_URL``.

Collecting goes through :func:`course.grading.intake.take_in`: a submission arrives in
``submitted/`` as the intake left it (plain files within the rules, refusals noted in
the notebook), with ``timestamp.txt`` holding the time the service stamped.
"""
from __future__ import annotations

import base64
import datetime
import glob
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dateutil.parser import parse as parse_time
from nbgrader.exchange import abc
from nbgrader.exchange.abc.exchange import ExchangeError
from nbgrader.utils import ignore_patterns
from traitlets import Unicode, default

__all__ = ["Exchange", "ExchangeCollect", "ExchangeFetchAssignment", "ExchangeFetchFeedback",
           "ExchangeList", "ExchangeReleaseAssignment", "ExchangeReleaseFeedback",
           "ExchangeSubmit", "config"]

CLASSES = {
    "exchange": "Exchange", "fetch_assignment": "ExchangeFetchAssignment",
    "fetch_feedback": "ExchangeFetchFeedback", "release_assignment": "ExchangeReleaseAssignment",
    "release_feedback": "ExchangeReleaseFeedback", "list": "ExchangeList",
    "submit": "ExchangeSubmit", "collect": "ExchangeCollect",
}


def config(c) -> None:
    """Point nbgrader's ExchangeFactory of config ``c`` at these classes."""
    for trait, name in CLASSES.items():
        setattr(c.ExchangeFactory, trait, f"{__name__}.{name}")


def _instant(timestamp: str):
    """A timestamp as a naive UTC datetime (nbgrader may rewrite its text, never its time)."""
    moment = parse_time(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


class Exchange(abc.Exchange):
    """The service's address and token, and the requests every exchange action makes."""

    url = Unicode(help="The exchange service's URL ($COURSE_EXCHANGE_URL).").tag(config=True)
    token = Unicode(help="The API token ($JUPYTERHUB_API_TOKEN).").tag(config=True)
    timeout = 120.0

    @default("url")
    def _url_default(self):
        return os.environ.get("COURSE_EXCHANGE_URL", "")

    @default("token")
    def _token_default(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def request(self, method: str, path: str, body: dict | None = None, **query) -> dict:
        if not self.url or not self.token:
            self.fail("The course's exchange is not configured here (COURSE_EXCHANGE_URL and "
                      "JUPYTERHUB_API_TOKEN): use it from your server on the course hub.")
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in path.split("/"))
        url = self.url.rstrip("/") + "/api/" + quoted
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error") or error.reason
            except ValueError:
                message = error.reason
            self.fail(f"The exchange refused: {message} (HTTP {error.code})")
        except (urllib.error.URLError, OSError) as error:
            self.fail(f"The exchange at {self.url} cannot be reached ({error}); ask your "
                      "instructor whether the course server is running.")

    # -- files -----------------------------------------------------------------------------
    def read_folder(self, folder: str) -> list[dict]:
        """The files of ``folder`` as the service takes them, minus ignored and large ones."""
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)
        files = []
        for dirpath, dirnames, filenames in os.walk(folder):
            skipped = ignore(dirpath, dirnames + filenames)
            dirnames[:] = [d for d in dirnames if d not in skipped
                           and not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if name in skipped or os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as handle:
                    content = base64.b64encode(handle.read()).decode("ascii")
                files.append({"path": os.path.relpath(path, folder).replace(os.sep, "/"),
                              "content": content})
        return files

    @staticmethod
    def write_folder(folder: str, files: list[dict]) -> None:
        """Write the service's ``files`` into ``folder`` (paths checked again here)."""
        root = Path(folder).resolve()
        for entry in files:
            target = (root / entry["path"]).resolve()
            if root not in target.parents:
                raise ExchangeError(f"the exchange sent a path outside the folder: {entry['path']!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(entry["content"]))

    def assignment_path(self, assignment: str) -> str:
        parts = [self.assignment_dir]
        if self.path_includes_course:
            parts.append(self.coursedir.course_id)
        return os.path.join(*parts, assignment)

    path_includes_course = False  # the course server has one course

    def init_src(self):
        pass

    def init_dest(self):
        pass

    def copy_files(self):
        pass


class ExchangeList(abc.ExchangeList, Exchange):
    """Released assignments, one's own submissions (``cached``) or everybody's (``inbound``)."""

    def list_files(self):
        course = self.request("GET", "assignments")
        course_id = course["course_id"]
        wanted = self.coursedir.assignment_id or None
        released = [a for a in course["assignments"] if wanted in (None, a["assignment_id"])]
        if not (self.inbound or self.cached):
            out = []
            for info in released:
                folder = self.assignment_path(info["assignment_id"])
                fetched = os.path.isdir(folder)
                notebooks = ([{"notebook_id": Path(p).stem, "path": os.path.abspath(p)}
                              for p in sorted(glob.glob(os.path.join(folder, "*.ipynb")))]
                             if fetched else
                             [{"notebook_id": n, "path": f"{info['assignment_id']}/{n}.ipynb"}
                              for n in info["notebooks"]])
                out.append({"course_id": course_id, "assignment_id": info["assignment_id"],
                            "status": "fetched" if fetched else "released",
                            "path": os.path.abspath(folder) if fetched else info["assignment_id"],
                            "notebooks": notebooks})
                self.log.info("%s %s%s", course_id, info["assignment_id"],
                              " (already downloaded)" if fetched else "")
            return out
        groups: dict[tuple, list] = {}
        for info in released:
            rows = self.request("GET", f"submissions/{info['assignment_id']}",
                                **({"all": "1"} if self.inbound else {}))["submissions"]
            for row in rows:
                groups.setdefault((row["student_id"], row["assignment_id"]), []).append(
                    self._submission(course_id, row))
        out = []
        for (student, assignment), submissions in sorted(groups.items()):
            submissions.sort(key=lambda s: s["timestamp"])
            out.append({"course_id": course_id, "student_id": student, "assignment_id": assignment,
                        "status": "submitted", "submissions": submissions})
            for s in submissions:
                self.log.info("%s %s %s %s", course_id, student, assignment, s["timestamp"])
        return out

    def _submission(self, course_id: str, row: dict) -> dict:
        local = os.path.join(self.assignment_path(row["assignment_id"]), "feedback",
                             row["timestamp"])
        notebooks = []
        for name in row["notebooks"]:
            page = os.path.join(local, f"{name}.html")
            notebooks.append({
                "notebook_id": name, "path": f"{row['assignment_id']}/{name}.ipynb",
                "has_local_feedback": os.path.isfile(page),
                "has_exchange_feedback": f"{name}.html" in row["feedback"],
                "local_feedback_path": page if os.path.isfile(page) else None,
                "feedback_updated": False})
        has_local = bool(notebooks) and all(n["has_local_feedback"] for n in notebooks)
        return {"course_id": course_id, "student_id": row["student_id"],
                "assignment_id": row["assignment_id"], "timestamp": row["timestamp"],
                "status": "submitted", "path": row["stamp"], "notebooks": notebooks,
                "has_local_feedback": has_local,
                "has_exchange_feedback": bool(notebooks) and all(
                    n["has_exchange_feedback"] for n in notebooks),
                "feedback_updated": False,
                "local_feedback_path": os.path.abspath(local) if has_local else None}

    def remove_files(self):
        if self.inbound or self.cached:
            self.fail("Submissions are kept by the exchange; only a released assignment can "
                      "be removed (nbgrader list --remove ASSIGNMENT).")
        listed = self.list_files()
        for info in listed:
            self.request("DELETE", f"assignments/{info['assignment_id']}")
            info["status"] = "removed"
        return listed


class ExchangeReleaseAssignment(abc.ExchangeReleaseAssignment, Exchange):
    def copy_files(self):
        assignment = self.coursedir.assignment_id
        folder = self.coursedir.format_path(self.coursedir.release_directory, ".", assignment)
        if not os.path.isdir(folder):
            self.fail(f"Assignment not found: {folder} (generate it first)")
        meta = self.request("PUT", f"assignments/{assignment}",
                            {"files": self.read_folder(folder)},
                            **({"force": "1"} if self.force else {}))
        self.log.info("Released %s (%s)", assignment, ", ".join(meta["notebooks"]))


class ExchangeFetchAssignment(abc.ExchangeFetchAssignment, Exchange):
    def copy_files(self):
        assignment = self.coursedir.assignment_id
        dest = self.assignment_path(assignment)
        files = self.request("GET", f"assignments/{assignment}")["files"]
        if os.path.isdir(dest):
            if not self.replace_missing_files:
                self.fail(f"You already have a copy of {assignment} at {dest}; rename or delete "
                          "it to fetch it again.")
            files = [f for f in files if not os.path.exists(os.path.join(dest, f["path"]))]
        os.makedirs(dest, exist_ok=True)
        self.write_folder(dest, files)
        self.log.info("Fetched %s into %s", assignment, dest)


class ExchangeSubmit(abc.ExchangeSubmit, Exchange):
    def copy_files(self):
        assignment = self.coursedir.assignment_id
        folder = self.assignment_path(assignment)
        if not os.path.isdir(folder):
            self.fail(f"Assignment not found: {folder}")
        files = self.read_folder(folder)
        released = self.request("GET", "assignments")["assignments"]
        expected = next((a["notebooks"] for a in released if a["assignment_id"] == assignment), [])
        present = {Path(f["path"]).stem for f in files
                   if f["path"].endswith(".ipynb") and "/" not in f["path"]}
        missing = sorted(set(expected) - present)
        if missing:
            message = f"Notebooks missing from your submission: {', '.join(missing)}"
            if self.strict:
                self.fail(message)
            self.log.warning(message)
        meta = self.request("POST", f"submissions/{assignment}", {"files": files})
        self.timestamp = meta["timestamp"]
        self.log.info("Submitted as: %s %s %s", meta["student_id"], assignment, meta["timestamp"])


class ExchangeFetchFeedback(abc.ExchangeFetchFeedback, Exchange):
    def copy_files(self):
        assignment = self.coursedir.assignment_id
        rows = self.request("GET", f"submissions/{assignment}")["submissions"]
        fetched = 0
        for row in rows:
            if not row["feedback"]:
                continue
            files = self.request("GET", f"feedback/{assignment}/{row['stamp']}")["files"]
            dest = os.path.join(self.assignment_path(assignment), "feedback", row["timestamp"])
            os.makedirs(dest, exist_ok=True)
            self.write_folder(dest, files)
            fetched += len(files)
            self.log.info("Fetched feedback on your submission of %s", row["timestamp"])
        if not fetched:
            self.log.warning("No feedback on %s yet", assignment)


class ExchangeCollect(abc.ExchangeCollect, Exchange):
    """Each student's latest submission (or last before the due date), through the intake."""

    def copy_files(self):
        from nbgrader.api import Gradebook, MissingEntry

        from course.grading import intake

        assignment = self.coursedir.assignment_id
        rows = self.request("GET", f"submissions/{assignment}", all="1")["submissions"]
        duedate = None
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                duedate = gb.find_assignment(assignment).duedate
            except MissingEntry:
                pass
        latest: dict[str, dict] = {}
        for row in sorted(rows, key=lambda r: r["stamp"]):
            if (self.before_duedate and duedate is not None and row["student_id"] in latest
                    and _instant(row["timestamp"]) > duedate):
                continue
            latest[row["student_id"]] = row
        if not latest:
            self.log.warning("No submissions of %s to collect", assignment)
        release = self.coursedir.format_path(self.coursedir.release_directory, ".", assignment)
        self.collected = []
        for student, row in sorted(latest.items()):
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student,
                                                   assignment))
            if dest.is_dir():
                existing = self.coursedir.get_existing_timestamp(str(dest))
                new = _instant(row["timestamp"])
                if not (self.update and (existing is None or new > existing)):
                    self.log.info("Already collected: %s %s (use --update for a newer one)",
                                  student, assignment)
                    continue
            files = self.request("GET", f"submissions/{assignment}/{student}/{row['stamp']}")
            with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
                received, staged = Path(tmp, "received"), Path(tmp, "staged")
                received.mkdir()
                self.write_folder(str(received), files["files"])
                received.joinpath("timestamp.txt").write_text(row["timestamp"])
                done = intake.take_in(received, staged,
                                      Path(release) if os.path.isdir(release) else None)
                Path(staged, "timestamp.txt").write_text(row["timestamp"])
                if dest.is_dir():
                    shutil.rmtree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(staged, dest)
            for refused in done.refused:
                self.log.warning("%s %s: %s", student, assignment, refused)
            self.collected.append(student)
            self.log.info("Collected %s %s (handed in %s)", student, assignment, row["timestamp"])


class ExchangeReleaseFeedback(abc.ExchangeReleaseFeedback, Exchange):
    def copy_files(self):
        assignment = self.coursedir.assignment_id
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        rows = self.request("GET", f"submissions/{assignment}", all="1")["submissions"]
        stamps = {(r["student_id"], _instant(r["timestamp"])): r["stamp"] for r in rows}
        pattern = self.coursedir.format_path(self.coursedir.feedback_directory, "*", assignment)
        for folder in sorted(glob.glob(pattern)):
            student = Path(folder).parent.name
            if student in exclude or (self.coursedir.student_id not in ("*", "", student)):
                continue
            pages = sorted(glob.glob(os.path.join(folder, "*.html")))
            stamp_file = os.path.join(folder, "timestamp.txt")
            if not pages or not os.path.isfile(stamp_file):
                continue
            timestamp = open(stamp_file).read().strip()
            stamp = stamps.get((student, _instant(timestamp)))
            if stamp is None:
                self.log.warning("No submission of %s by %s at %s in the exchange: feedback not "
                                 "released", assignment, student, timestamp)
                continue
            files = []
            for page in pages:
                with open(page, "rb") as handle:
                    files.append({"path": os.path.basename(page),
                                  "content": base64.b64encode(handle.read()).decode("ascii")})
            self.request("PUT", f"feedback/{assignment}/{student}/{stamp}", {"files": files})
            self.log.info("Released feedback to %s on %s (%s)", student, assignment, timestamp)
