"""The course server, end to end: a real JupyterHub, proxy, PAM logins and Unix accounts.

A semester's loop in Chromium, every step through the users' own browsers and servers:
the instructor releases ps1 from the formgrader (inside the hub's JupyterLab); two
students log in and fetch it in the Assignments tab; Ann answers correctly, validates
and submits; Bob's notebook tries to read Ann's work, the solutions, the gradebook and
the exchange, and to overwrite the released ps1, then he hands it in with a backdated
``timestamp.txt``; the instructor collects, autogrades from the formgrader (the sandbox
and the judge) and releases feedback; each student fetches theirs and sees the score.
Screenshots of every step go to artifacts/hub/ (gitignored).

Then the load: thirty students hand ps1 in at once, each as their own account through
the exchange, and one collect must take in every submission exactly once.
"""
from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import time
import types
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from dateutil.parser import parse as parse_time

import coursekit
from browserkit import CHROMIUM, CHROMIUM_FLAGS, require_browser
from hubkit import CourseHub, require_root

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "hub"
TEACHER, ANN, BOB = "cnnt-teacher", "cnnt-ann", "cnnt-bob"
LOAD = [f"cnnt-s{k:02d}" for k in range(1, 31)]

pytestmark = pytest.mark.slow

ATTACK = '''\
# Bob's cell: everything here must be refused.
import json, os, pathlib, urllib.request
EXCHANGE, TOKEN = os.environ["COURSE_EXCHANGE_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
results = {{}}
def attempt(name, action):
    try:
        results[name] = "DONE " + repr(action())[:200]
    except Exception as error:
        results[name] = f"refused {{type(error).__name__}}: {{str(error)[:160]}}"
def api(method, path, body=None, host=None, base=EXCHANGE + "api/"):
    headers = {{"Authorization": "token " + TOKEN, "Content-Type": "application/json"}}
    if host:
        headers["Host"] = host
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()[:200]
attempt("list everybody's submissions", lambda: api("GET", "submissions/ps1?all=1"))
attempt("read Ann's submission", lambda: api("GET", "submissions/ps1/{ann}/20300101T000000000000Z"))
attempt("overwrite the released ps1", lambda: api("PUT", "assignments/ps1?force=1",
        {{"files": [{{"path": "ps1.ipynb", "content": "e30="}}]}}))
attempt("withdraw ps1", lambda: api("DELETE", "assignments/ps1"))
attempt("write Ann's feedback", lambda: api("PUT", "feedback/ps1/{ann}/20300101T000000000000Z",
        {{"files": [{{"path": "ps1.html", "content": "e30="}}]}}))
attempt("list the hub's users", lambda: api("GET", "users", base="{hub}/hub/api/"))
attempt("Ann's server with Bob's token", lambda: api("GET", "contents/ps1",
        base="http://127.0.0.1:{port}/user/{ann}/api/", host="{ann}.localhost:{port}"))
attempt("list Ann's home", lambda: os.listdir("/home/{ann}"))
attempt("read Ann's notebook", lambda: open("/home/{ann}/ps1/ps1.ipynb").read())
attempt("list the exchange's folder", lambda: os.listdir("{exchange}"))
attempt("read the solutions", lambda: open("{course}/source/ps1/ps1.ipynb").read())
attempt("read the gradebook", lambda: open("{course}/gradebook.db", "rb").read(16))
attempt("list submitted/", lambda: os.listdir("{course}/submitted"))
attempt("overwrite release/ps1 in the course", lambda: open("{course}/release/ps1/ps1.ipynb", "a").write("x"))
pathlib.Path.home().joinpath("attack.json").write_text(json.dumps(results, indent=1))
print(json.dumps(results, indent=1))
'''
REFUSED_BY = {  # what refused each attempt
    "list everybody's submissions": "HTTP Error 403", "read Ann's submission": "HTTP Error 403",
    "overwrite the released ps1": "HTTP Error 403", "withdraw ps1": "HTTP Error 403",
    "write Ann's feedback": "HTTP Error 403", "list the hub's users": "HTTP Error 403",
    "Ann's server with Bob's token": "HTTP Error 403",
    "list Ann's home": "PermissionError", "read Ann's notebook": "PermissionError",
    "list the exchange's folder": "PermissionError", "read the solutions": "PermissionError",
    "read the gradebook": "PermissionError", "list submitted/": "PermissionError",
    "overwrite release/ps1 in the course": "PermissionError",
}


@pytest.fixture(scope="module")
def hub():
    require_root("the course server test")
    members = [(TEACHER, "Tess Teacher", "instructor"), (ANN, "Ann Able", "student"),
               (BOB, "Bob Baker", "student")]
    members += [(name, f"Student {name[-2:]}", "student") for name in LOAD]
    server = CourseHub(members)
    try:
        yield server.start()
    finally:
        server.stop()


def _exchange(hub, token, method, path, body=None):
    request = urllib.request.Request(hub.exchange_url + "api/" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _wait(what, condition, timeout=180.0, hub=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    log = hub.log_text()[-3000:] if hub else ""
    pytest.fail(f"timed out waiting for {what}\n{log}")


class Browser:
    """One person's browser: a Chromium context logged in to the hub as them."""

    def __init__(self, chromium, hub, username, shots):
        self.hub, self.username, self.shots = hub, username, shots
        self.context = chromium.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.server = f"http://{username}.localhost:{hub.port}/user/{username}/"

    def login(self) -> None:
        page = self.page
        page.goto(self.hub.url + "/hub/login")
        page.fill("#username_input", self.username)
        page.fill("#password_input", self.hub.passwords[self.username])
        page.click("#login_submit")
        page.wait_for_url("**/lab**", timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)

    def shot(self, name: str) -> None:
        self.shots.append(name)
        self.page.screenshot(path=str(ARTIFACTS / f"{len(self.shots):02d}-{name}.png"))

    def menu(self, *path: str) -> None:
        for item in path:
            self.page.locator(".lm-MenuBar-itemLabel, .lm-Menu-itemLabel", has_text=item).first.click()

    def put_file(self, path: str, content: dict | str) -> None:
        """Write a file through the Jupyter contents API, as this user in their browser."""
        model = ({"type": "notebook", "format": "json", "content": content}
                 if isinstance(content, dict) else {"type": "file", "format": "text", "content": content})
        # From the user's own JupyterLab page (its origin, its cookies, its XSRF token).
        status = self.page.evaluate("""async ([url, body]) => {
            const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='));
            const response = await fetch(url, {method: 'PUT', body, credentials: 'same-origin',
                headers: {'Content-Type': 'application/json',
                          'X-XSRFToken': xsrf ? decodeURIComponent(xsrf.slice(6)) : ''}});
            return response.status + ' ' + (await response.text()).slice(0, 300);
        }""", [self.server + "api/contents/" + path, json.dumps(model)])
        assert status.startswith("20"), f"{self.username} could not write {path}: {status}"

    def assignments(self):
        """The Assignments tab, refreshed."""
        page = self.page
        if not page.locator("#nbgrader-assignment-list").count():
            self.menu("Nbgrader", "Assignment List")
        panel = page.locator("#nbgrader-assignment-list")
        if not panel.is_visible():
            page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
        panel.locator("#refresh_assignments_list").click()
        page.wait_for_timeout(500)
        return panel

    def formgrader(self):
        if not self.page.locator("#formgrader-iframe iframe").count():
            self.menu("Nbgrader", "Formgrader")
        elif not self.page.locator("#formgrader-iframe").is_visible():
            self.page.locator(".lm-TabBar-tab", has_text="Formgrader").first.click()
        return self.page.frame_locator("#formgrader-iframe iframe")


def _close_modal(frame) -> None:
    close = frame.locator(".modal.in .modal-footer button, .modal.show .modal-footer button")
    try:
        close.first.click(timeout=20_000)
    except Exception:  # noqa: BLE001 - not every action shows a dialog
        pass


def _row(frame, name):
    return frame.locator("tr", has=frame.locator("td.name", has_text=name))


def test_a_semester_in_the_browser(hub, tmp_path):
    """Release, fetch, validate, submit, a hostile student, collect, grade, feedback."""
    require_browser("the course server test")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    tokens = hub.tokens([TEACHER, ANN, BOB])
    released_before = None
    started = time.time()
    shots: list[str] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
                                              headless=True)
        # 1. The instructor logs in and releases ps1 from the formgrader.
        teacher = Browser(chromium, hub, TEACHER, shots)
        teacher.login()
        grader = teacher.formgrader()
        _row(grader, "ps1").locator("td.release a").first.click(timeout=60_000)
        _close_modal(grader)
        released = _wait("ps1 released", lambda: _exchange(hub, tokens[TEACHER], "GET",
                                                             "assignments")["assignments"], hub=hub)
        assert [a["assignment_id"] for a in released] == ["ps1"]
        released_before = _exchange(hub, tokens[TEACHER], "GET", "assignments/ps1")["files"]
        teacher.shot("instructor-released-ps1")

        # 2. Ann and Bob log in and fetch ps1 in the Assignments tab.
        students = {}
        for name in (ANN, BOB):
            student = students[name] = Browser(chromium, hub, name, shots)
            student.login()
            panel = student.assignments()
            panel.locator("#released_assignments_list button", has_text="Fetch").first.click()
            _wait(f"{name} fetched ps1",
                  lambda name=name: Path(f"/home/{name}/ps1/ps1.ipynb").exists(), hub=hub)
            student.assignments()
            student.shot(f"{name}-fetched")

        # 3. Ann answers correctly (through her server), validates and submits.
        ann = students[ANN]
        correct = coursekit.submission(hub.course, types.SimpleNamespace(ASSIGNMENT="ps1"))
        ann.put_file("ps1/ps1.ipynb", json.loads(nbformat.writes(correct)))
        panel = ann.assignments()
        panel.locator("#fetched_assignments_list a", has_text="ps1").first.click()
        panel.locator("#fetched_assignments_list button", has_text="Validate").first.click()
        dialog = ann.page.locator(".jp-Dialog")
        dialog.wait_for(timeout=300_000)
        _wait("Ann's validation", lambda: "Success" in dialog.inner_text()
              or "failed" in dialog.inner_text().lower(), timeout=300)
        ann.shot("ann-validated")
        assert "Success" in dialog.inner_text(), dialog.inner_text()
        dialog.locator("button").last.click()
        panel.locator("#fetched_assignments_list button", has_text="Submit").first.click()
        _wait("Ann's submission", lambda: _exchange(hub, tokens[ANN], "GET",
                                                    "submissions/ps1")["submissions"], hub=hub)
        ann.assignments()
        ann.shot("ann-submitted")
        # ps1 is due now: Ann was on time, whatever Bob does next is late.
        from nbgrader.api import Gradebook

        due = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        time.sleep(1)
        with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gb:
            gb.update_or_create_assignment("ps1", duedate=due)

        # 4. Bob's hostile notebook: his cell runs in his own server, then he submits it
        #    with a timestamp.txt that says he handed it in in the year 2000.
        bob = students[BOB]
        notebook = nbformat.read(hub.course / "release" / "ps1" / "ps1.ipynb", as_version=4)
        attack = ATTACK.format(ann=ANN, hub=hub.url, port=hub.port, exchange=hub.state / "exchange",
                               course=hub.course)
        notebook.cells.insert(0, nbformat.v4.new_code_cell(attack))
        bob.put_file("ps1/ps1.ipynb", json.loads(nbformat.writes(notebook)))
        bob.put_file("ps1/timestamp.txt", "2000-01-01 00:00:00.000000 UTC")
        bob.page.goto(bob.server + "lab/tree/ps1/ps1.ipynb")
        bob.page.wait_for_selector(".jp-Notebook", timeout=120_000)
        bob.page.wait_for_function("document.body.innerText.includes('Kernel status: Idle') || "
                                   "document.body.innerHTML.includes('Kernel status: Idle')",
                                   timeout=120_000)
        bob.menu("Run", "Run All Cells")
        attack_file = Path(f"/home/{BOB}/attack.json")
        _wait("Bob's cell", attack_file.exists, timeout=240, hub=hub)
        bob.shot("bob-attacked")
        results = json.loads(attack_file.read_text())
        assert set(results) == set(REFUSED_BY), results
        for name, refusal in REFUSED_BY.items():
            assert results[name].startswith("refused") and refusal in results[name], (name, results[name])
        panel = bob.assignments()
        panel.locator("#fetched_assignments_list button", has_text="Submit").first.click()
        _wait("Bob's submission", lambda: _exchange(hub, tokens[BOB], "GET",
                                                    "submissions/ps1")["submissions"], hub=hub)
        bob.assignments()
        bob.shot("bob-submitted")

        # 5. The instructor collects, autogrades each submission and releases feedback.
        grader = teacher.formgrader()
        teacher.page.reload()
        teacher.page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        grader = teacher.formgrader()
        _row(grader, "ps1").locator("td.collect a").first.click(timeout=60_000)
        _close_modal(grader)
        submitted = hub.course / "submitted"
        _wait("the collect", lambda: sorted(p.name for p in submitted.iterdir()) == [ANN, BOB],
              hub=hub)
        collected_at = time.time()
        teacher.shot("instructor-collected")
        teacher.page.reload()
        teacher.page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        grader = teacher.formgrader()
        _row(grader, "ps1").locator("td.num-submissions a").first.click(timeout=60_000)
        for name in (ANN, BOB):
            row = grader.locator("tr", has=grader.locator("td", has_text=name))
            row.locator("td.autograde a").first.click(timeout=60_000)
            _wait(f"{name} autograded", lambda name=name: (hub.course / "autograded" / name / "ps1"
                                                           / "ps1.ipynb").exists(),
                  timeout=400, hub=hub)
            grader.locator(".modal.in").first.wait_for(timeout=400_000)
            teacher.shot(f"instructor-autograded-{name}")
            _close_modal(grader)
            _wait(f"{name}'s row", lambda row=row: "Please wait" not in row.inner_text(),
                  timeout=120)
        teacher.shot("instructor-autograded")
        grader.locator("a", has_text="Manage Assignments").first.click()
        _row(grader, "ps1").locator("td.generate-feedback a").first.click(timeout=60_000)
        _wait("the feedback", lambda: all((hub.course / "feedback" / n / "ps1" / "ps1.html").exists()
                                          for n in (ANN, BOB)), timeout=300, hub=hub)
        _close_modal(grader)
        _row(grader, "ps1").locator("td.release-feedback a").first.click(timeout=60_000)
        _wait("the feedback's release", lambda: all(
            _exchange(hub, tokens[n], "GET", "submissions/ps1")["submissions"][-1]["feedback"]
            for n in (ANN, BOB)), hub=hub)
        _close_modal(grader)
        teacher.shot("instructor-released-feedback")

        # 6. Each student fetches their feedback and sees their score.
        pages = {}
        for name, student in students.items():
            panel = student.assignments()
            panel.locator("#submitted_assignments_list button", has_text="Fetch Feedback").first.click()
            folder = Path(f"/home/{name}/ps1/feedback")
            page_path = _wait(f"{name}'s feedback",
                              lambda folder=folder: next(folder.glob("*/ps1.html"), None), hub=hub)
            student.assignments()
            student.shot(f"{name}-fetched-feedback")
            url = student.server + "files/ps1/feedback/" + urllib.parse.quote(page_path.parent.name) + "/ps1.html"
            student.page.goto(url)
            student.page.wait_for_selector("body", timeout=60_000)
            pages[name] = student.page.inner_text("body")
            student.shot(f"{name}-feedback-page")
        chromium.close()

    # The scores, in the gradebook and on each student's feedback page.
    from course import admin

    auto = sum(coursekit.points("ps1", autograded_only=True).values())
    scores = admin.scores(hub.course, "ps1")
    assert auto > 0 and scores[ANN][0] == pytest.approx(auto), scores
    assert scores[BOB][0] == 0, scores
    for name, expected in ((ANN, auto), (BOB, 0.0)):
        shown = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", pages[name])
        assert shown and float(shown.group(1)) == pytest.approx(expected), pages[name][:500]
    # Bob got nothing of Ann's work and changed nothing: the release is as it was, Ann's
    # submission is hers, and his feedback holds no line of her answers.
    assert _exchange(hub, tokens[TEACHER], "GET", "assignments/ps1")["files"] == released_before
    ann_nb = nbformat.read(hub.course / "submitted" / ANN / "ps1" / "ps1.ipynb", as_version=4)
    assert [c.source for c in ann_nb.cells] == [c.source for c in correct.cells]
    answers = [c.source for c in correct.cells if c.metadata.get("nbgrader", {}).get("solution")]
    bob_feedback = (hub.course / "feedback" / BOB / "ps1" / "ps1.html").read_text()
    assert not any(a.strip() and a.strip() in bob_feedback for a in answers)
    # Ann handed in before the due date, Bob after it (his backdated timestamp.txt was
    # not believed): the gradebook records him late.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gb:
        assert gb.find_submission("ps1", ANN).total_seconds_late == 0
        assert gb.find_submission("ps1", BOB).total_seconds_late > 0
    # Both submissions carry the server's stamp, not the students' clocks.
    for name in (ANN, BOB):
        stamp = (submitted / name / "ps1" / "timestamp.txt").read_text().strip()
        rows = _exchange(hub, tokens[name], "GET", "submissions/ps1")["submissions"]
        assert stamp == rows[-1]["timestamp"]
        moment = parse_time(stamp).timestamp()
        assert started - 5 <= moment <= collected_at + 5, (name, stamp)
    assert len(shots) >= 10


def test_thirty_students_hand_in_at_once(hub, tmp_path, record_property):
    """30 students submit ps1 at the same moment, each as their own account through the
    exchange (nbgrader submit, as in a terminal of their server); one collect then takes in
    every submission exactly once, each student's own."""
    tokens = hub.tokens([TEACHER, *LOAD])
    if not _exchange(hub, tokens[TEACHER], "GET", "assignments")["assignments"]:
        files = hub.run_as(TEACHER, ["nbgrader", "release_assignment", "ps1"], tokens[TEACHER],
                           cwd=str(hub.course), role="instructor", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        assert files.wait(timeout=300) == 0, files.stdout.read()
    # Each student fetches ps1 and signs their notebook.
    fetches = {name: hub.run_as(name, ["nbgrader", "fetch_assignment", "ps1"], tokens[name],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in LOAD}
    for name, process in fetches.items():
        assert process.wait(timeout=600) == 0, (name, process.stdout.read())
    for name in LOAD:
        signed = nbformat.read(f"/home/{name}/ps1/ps1.ipynb", as_version=4)
        signed.cells.insert(0, nbformat.v4.new_markdown_cell(f"handed in by {name}"))
        writer = subprocess.run(["runuser", "-u", name, "--", sys.executable, "-c",
                                 "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())",
                                 f"/home/{name}/ps1/ps1.ipynb"],
                                input=nbformat.writes(signed), text=True, timeout=120)
        assert writer.returncode == 0
    # All thirty at once.
    started = time.perf_counter()
    submits = {name: hub.run_as(name, ["nbgrader", "submit", "ps1"], tokens[name],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in LOAD}
    finished = {}
    for name, process in submits.items():
        assert process.wait(timeout=600) == 0, (name, process.stdout.read())
        finished[name] = time.perf_counter() - started
    submit_seconds = max(finished.values())
    rows = _exchange(hub, tokens[TEACHER], "GET", "submissions/ps1?all=1")["submissions"]
    load_rows = [r for r in rows if r["student_id"] in LOAD]
    assert sorted(r["student_id"] for r in load_rows) == sorted(LOAD)
    # One collect.
    started = time.perf_counter()
    collect = hub.run_as(TEACHER, ["nbgrader", "collect", "ps1", "--update"], tokens[TEACHER],
                         cwd=str(hub.course), role="instructor", stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    output = collect.stdout.read().decode()
    assert collect.wait(timeout=600) == 0, output
    collect_seconds = time.perf_counter() - started
    for name in LOAD:
        folder = hub.course / "submitted" / name / "ps1"
        notebook = nbformat.read(folder / "ps1.ipynb", as_version=4)
        signatures = [c.source for c in notebook.cells if c.source.startswith("handed in by")]
        assert signatures == [f"handed in by {name}"], (name, signatures)
        row = next(r for r in load_rows if r["student_id"] == name)
        assert (folder / "timestamp.txt").read_text().strip() == row["timestamp"]
        assert output.count(f"Collected {name} ps1") == 1, output
    stamps = [r["timestamp"] for r in load_rows]
    assert len(set(stamps)) == len(stamps)
    figures = {"students": len(LOAD), "submit_wall_s": round(submit_seconds, 2),
               "first_done_s": round(min(finished.values()), 2),
               "collect_wall_s": round(collect_seconds, 2),
               "stamp_spread_s": round(parse_time(max(stamps)).timestamp()
                                       - parse_time(min(stamps)).timestamp(), 3)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=1))
    record_property("load", figures)
    print("load:", figures)
