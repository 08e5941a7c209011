"""The course server's parts that need no hub: the roster and the exchange's store.

The service's web side (tokens, roles, what a student may ask) runs against a real
JupyterHub in tests/test_hub.py.
"""
from __future__ import annotations

import base64
import datetime
import os

import pytest

from course.hub.roster import Roster, RosterError
from course.hub.service import RULES, Store, StoreError, check_files

HEADER = "username,name,email,role\n"


def files(**named: bytes) -> list[dict]:
    return [{"path": path.replace("__", "/"), "content": base64.b64encode(data).decode()}
            for path, data in named.items()]


# --- the roster ---------------------------------------------------------------------------
def test_roster_reads_the_example():
    from course.hub.config import HUB_DIR

    roster = Roster.read(HUB_DIR / "roster.example.csv")
    assert [m.username for m in roster.instructors] == ["tess"]
    assert [m.username for m in roster.students] == ["ann", "bob", "chen"]
    ann = roster.students[0]
    assert (ann.first_name, ann.last_name, ann.email) == ("Ann", "Able", "ann@example.edu")
    assert roster.role("bob") == "student" and roster.role("eve") is None


@pytest.mark.parametrize("text, message", [
    ("user,name,mail,role\n", "line 1 must be the header"),
    (HEADER + "Ann,Ann,,student\nt,T,,instructor\n", "line 2, username 'Ann'"),
    (HEADER + "t,T,,instructor\nann,Ann,,student\nann,Ann B,,student\n", "line 4, username 'ann' is already on line 3"),
    (HEADER + "t,T,,instructor\nann,Ann,,teacher\n", "line 3, role 'teacher'"),
    (HEADER + "t,T,,instructor\nann,,,student\n", "line 3, name"),
    (HEADER + "t,T,,instructor\nann,Ann,not-an-address,student\n", "line 3, email 'not-an-address'"),
    (HEADER + "t,T,,instructor\nann,Ann,student\n", "line 3 has 3 columns"),
    (HEADER + "ann,Ann,,student\n", "no instructor"),
    (HEADER + "t,T,,instructor\n../x,X,,student\n", "line 3, username '../x'"),
])
def test_roster_errors_name_the_line_and_column(text, message):
    with pytest.raises(RosterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Roster.parse(text)


# --- the store ----------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = datetime.datetime(2026, 12, 5, 9, 0, 0, 123456, tzinfo=datetime.timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "exchange", clock=clock)
    store.clock_ = clock
    store.release("ps1", files(**{"ps1.ipynb": b"{}", "data__digits.npz": b"123"}), force=False)
    return store


def test_the_store_is_private(store):
    assert oct(os.stat(store.root).st_mode & 0o777) == "0o700"


def test_a_release_lists_its_notebooks_and_refuses_a_second_release(store):
    assert [a["assignment_id"] for a in store.released()] == ["ps1"]
    assert store.released()[0]["notebooks"] == ["ps1"]
    with pytest.raises(StoreError, match="already released") as error:
        store.release("ps1", files(**{"ps1.ipynb": b"[]"}), force=False)
    assert error.value.status == 409
    store.release("ps1", files(**{"ps1.ipynb": b"[]"}), force=True)
    assert store.released_files("ps1") == files(**{"ps1.ipynb": b"[]"})


def test_a_submission_is_stamped_with_the_store_clock(store):
    meta = store.submit("ann", "ps1", files(**{"ps1.ipynb": b"{\"a\": 1}",
                                               "timestamp.txt": b"2000-01-01 00:00:00 UTC"}))
    assert meta["timestamp"] == "2026-12-05 09:00:00.123456 UTC"
    assert meta["stamp"] == "20261205T090000123456Z"
    # Two at the same instant are both kept, in order.
    again = store.submit("ann", "ps1", files(**{"ps1.ipynb": b"{\"a\": 2}"}))
    assert again["stamp"] == "20261205T090000123456Z-1"
    rows = store.submissions("ps1", "ann")
    assert [r["stamp"] for r in rows] == [meta["stamp"], again["stamp"]]
    # The student's timestamp.txt is a file like any other: data, never the time.
    sent = store.submission_files("ann", "ps1", meta["stamp"])
    assert {f["path"] for f in sent} == {"ps1.ipynb", "timestamp.txt"}


def test_only_released_assignments_can_be_handed_in(store):
    with pytest.raises(StoreError, match="ps2 is not released") as error:
        store.submit("ann", "ps2", files(**{"ps2.ipynb": b"{}"}))
    assert error.value.status == 404


def test_students_submissions_are_kept_apart(store):
    store.submit("ann", "ps1", files(**{"ps1.ipynb": b"ann"}))
    store.clock_.now += datetime.timedelta(seconds=1)
    store.submit("bob", "ps1", files(**{"ps1.ipynb": b"bob"}))
    assert [r["student_id"] for r in store.submissions("ps1")] == ["ann", "bob"]
    assert [r["student_id"] for r in store.submissions("ps1", "bob")] == ["bob"]


@pytest.mark.parametrize("path", ["../x.ipynb", "/etc/passwd", "a//b", "./a", "a/../../b",
                                  "a\\b", "x\x00y", "a/b/c/d/e/f.txt", "n" * 121])
def test_paths_outside_a_plain_relative_folder_are_refused(path):
    with pytest.raises(StoreError, match="not a plain relative path") as error:
        check_files([{"path": path, "content": ""}])
    assert error.value.status == 400


def test_sizes_and_counts_are_bounded():
    with pytest.raises(StoreError, match="at most") as error:
        check_files([{"path": f"f{k}.txt", "content": ""} for k in range(RULES.files + 1)])
    assert error.value.status == 413
    with pytest.raises(StoreError, match="not base64"):
        check_files([{"path": "a.txt", "content": "%%%"}])
    with pytest.raises(StoreError, match="given twice"):
        check_files(files(**{"a.txt": b"1"}) * 2)
    with pytest.raises(StoreError, match="every entry needs"):
        check_files([{"path": "a.txt"}])


def test_bad_names_are_refused(store):
    for student, assignment in [("../ann", "ps1"), ("ann", "../ps1"), ("Ann", "ps1"), ("ann", "")]:
        with pytest.raises(StoreError, match="is not a valid name"):
            store.submit(student, assignment, files(**{"ps1.ipynb": b"{}"}))


def test_feedback_goes_to_one_submission_of_one_student(store):
    meta = store.submit("ann", "ps1", files(**{"ps1.ipynb": b"{}"}))
    with pytest.raises(StoreError, match="no submission"):
        store.give_feedback("bob", "ps1", meta["stamp"], files(**{"ps1.html": b"<p>"}))
    with pytest.raises(StoreError, match="feedback pages"):
        store.give_feedback("ann", "ps1", meta["stamp"], files(**{"notes.js": b"x"}))
    store.give_feedback("ann", "ps1", meta["stamp"], files(**{"ps1.html": b"<p>7/10</p>"}))
    assert store.feedback_files("ann", "ps1", meta["stamp"]) == files(**{"ps1.html": b"<p>7/10</p>"})
    assert store.submissions("ps1", "ann")[0]["feedback"] == ["ps1.html"]
    with pytest.raises(StoreError, match="no submission"):
        store.feedback_files("bob", "ps1", meta["stamp"])


def test_withdrawing_a_release(store):
    store.withdraw("ps1")
    assert store.released() == []
    with pytest.raises(StoreError, match="not released"):
        store.released_files("ps1")
