"""``course-admin autograde --cluster``: grading on a real Dask scheduler and its workers.

A ``dask scheduler`` bound to 127.0.0.1 and two ``dask worker`` processes
(``--nworkers 1 --nthreads 1``, each in its own session so that it can be killed
whole) run as subprocesses of this environment's ``dask``; the coordinator is
``course-admin`` itself, run as an instructor runs it. ps1 submissions of
tests/submissions/ are graded: the same scores as a local batch; a worker killed with
SIGKILL while it grades (every submission still graded, once); a coordinator stopped
and run again (only the rest graded; ``--force`` grades all); a hostile notebook that
probes the scheduler, the workers and their files from inside its sandbox; workers
refused for another course package or for having no sandbox; a TLS scheduler. Runtime:
about 2 minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
import pytest

from course import admin
from course.batch import bundle, coursedir
from coursekit import ROOT, Listener, load_patches, make_course, points, submission, submit

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
GRADING = ["--Execute.timeout=20", "--JudgeTestCells.call_timeout=10"]
PATCHES = load_patches(ROOT / "tests" / "submissions", ("ps1",))
TYPICAL = ("ps1_instructor", "ps1_blank", "ps1_ceil", "ps1_flipped_kernel", "ps1_padding_mode")


class DaskCluster:
    """A scheduler on 127.0.0.1 and named workers, each a ``dask`` subprocess in its session."""

    def __init__(self, folder: Path, tls: dict[str, str] | None = None):
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes: dict[str, subprocess.Popen] = {}
        self.addresses: dict[str, str] = {}
        # --tls-ca-file, --tls-cert, --tls-key for the scheduler and every worker
        self.tls = [arg for name, path in (tls or {}).items() for arg in (f"--{name}", path)]
        protocol = ["--protocol", "tls"] if tls else []
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", *protocol,
                                  *self.tls, "--scheduler-file", str(self.file), "--no-dashboard"])
        deadline = time.monotonic() + 60
        while not (self.file.is_file() and self.file.stat().st_size):
            assert time.monotonic() < deadline, self.log("scheduler")
            time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        from distributed import Client
        from distributed.security import Security

        security = Security(tls_ca_file=tls["tls-ca-file"], tls_client_cert=tls["tls-cert"],
                            tls_client_key=tls["tls-key"], require_encryption=True) \
            if tls else None
        self.client = Client(scheduler_file=str(self.file), set_as_default=False, timeout=60,
                             security=security)

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> None:
        log = open(self.folder / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen([str(DASK), *args], stdout=log, stderr=log,
                                                env=env, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()[-3000:]

    def add_worker(self, name: str, env: dict | None = None) -> str:
        """Start a worker called ``name``; its address once the scheduler knows it."""
        local = self.folder / "workers" / name
        local.mkdir(parents=True)
        self._spawn(name, ["worker", "--scheduler-file", str(self.file), "--name", name, *self.tls,
                           "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                           "--no-dashboard", "--local-directory", str(local)], env)
        deadline = time.monotonic() + 90
        while True:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
            found = [a for a, w in workers.items() if w.get("name") == name]
            if found:
                self.addresses[name] = found[0]
                return found[0]
            assert self.processes[name].poll() is None and time.monotonic() < deadline, \
                self.log(name)
            time.sleep(0.3)

    def kill(self, name: str) -> None:
        """SIGKILL to the worker's whole session: nanny, worker, grading process, kernels."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def alive(self) -> dict[str, str]:
        """{name: address} of the workers the scheduler knows now."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {w.get("name"): a for a, w in workers.items()}

    def close(self) -> None:
        self.client.close()
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dask = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        dask.add_worker("one")
        dask.add_worker("two")
        yield dask
    finally:
        dask.close()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A course with ps1 released (copied for every test)."""
    return make_course(tmp_path_factory.mktemp("released"), ("ps1",))


# Late work: ps1 due 2026-10-01 21:59 UTC, 10% off per started day late.
LATE_POLICY = """
c.LatePolicy.due_dates = {"ps1": "2026-10-01 23:59 Europe/Berlin"}
c.LatePolicy.rule = "percent_per_day"
c.LatePolicy.percent_per_day = 10.0
"""
STAMPS = {"ps1_instructor": "2026-10-01 20:00:00 UTC",  # on time
          "ps1_ceil": "2026-10-03 00:59:00 UTC"}  # 1 day 3 hours late: 2 days, 20% off


def _course(released: Path, folder: Path, students=TYPICAL, late: bool = False,
            **extra) -> Path:
    """A copy of the released course with these submissions (and the late-work policy)."""
    course = folder / "course"
    shutil.copytree(released, course)
    for student in students:
        path = submit(course, student, submission(course, PATCHES[student]), "ps1")
        if late and student in STAMPS:
            (path.parent / "timestamp.txt").write_text(STAMPS[student])
    for student, patch in extra.items():
        submit(course, student, submission(course, patch), "ps1")
    if late:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(LATE_POLICY)
    return course


def _penalties(course: Path) -> dict[str, float]:
    settings = coursedir.Settings.load(course)
    with coursedir.gradebook(settings.db_url) as gb:
        return {s.student.id: float(s.late_submission_penalty)
                for s in gb.find_assignment("ps1").submissions}


def _command(course: Path, cluster: DaskCluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "course.admin", "--root", str(course), "autograde", "ps1",
            "--scheduler-file", str(cluster.file), "--no-progress", "--wait", "60", *args,
            "--", *GRADING]


def _on_cluster(course: Path, cluster: DaskCluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(course, cluster, *args), capture_output=True, text=True,
                          timeout=900)


def _expected(student: str) -> dict[str, float]:
    return {gid: PATCHES[student].EXPECT.get(gid, full) for gid, full in points("ps1").items()}


def _rows(output: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"^(ps1_\w+)\s+\d.*$", output, re.M)}


def _graded_note(course: Path, student: str) -> dict:
    return json.loads((course / "grading_records" / "ps1" / student / "_graded.json").read_text())


def _rows_in_gradebook(course: Path) -> dict[str, tuple[int, int]]:
    """{student: (submissions of ps1, grades of ps1)} counted in the gradebook's tables."""
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "SELECT s.student_id, COUNT(DISTINCT s.id), COUNT(g.id) FROM submitted_assignment s "
            "JOIN assignment a ON a.id = s.assignment_id "
            "LEFT JOIN submitted_notebook n ON n.assignment_id = s.id "
            "LEFT JOIN grade g ON g.notebook_id = n.id "
            "WHERE a.name = 'ps1' GROUP BY s.student_id").fetchall()
    return {student: (count, grades) for student, count, grades in rows}


# --- the same grades as on this machine ----------------------------------------------------------
def test_the_cluster_gives_the_scores_of_a_local_batch(cluster, released, tmp_path):
    local = _course(released, tmp_path / "local", late=True)
    remote = _course(released, tmp_path / "remote", late=True)
    done = subprocess.run([sys.executable, "-m", "course.admin", "--root", str(local), "autograde",
                           "ps1", "--jobs", "2", "--no-progress", "--", *GRADING],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _on_cluster(remote, cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout
    assert set(_rows(done.stdout)) == set(TYPICAL)
    here, there = admin.scores(local, "ps1"), admin.scores(remote, "ps1")
    assert here == there
    # the late-work policy: the same penalties, from the timestamps that travelled
    assert _penalties(local) == _penalties(remote)
    assert _penalties(remote)["ps1_ceil"] == pytest.approx(0.2 * there["ps1_ceil"][0])
    assert _penalties(remote)["ps1_instructor"] == 0.0
    for student in TYPICAL:
        assert there[student][2] == _expected(student), student
        # what the coordinator wrote: the graded notebook, the judge's record, the note
        assert (remote / "autograded" / student / "ps1" / "ps1.ipynb").is_file()
        record = json.loads((remote / "grading_records" / "ps1" / student / "ps1.json").read_text())
        assert record["sandboxed"] is True and record["student"] == student
        assert _graded_note(remote, student)["worker"] in cluster.addresses.values()
    assert "admitted (sandbox works)" in done.stderr
    kept = list((cluster.folder / "workers").rglob("course-grading-*"))
    assert not kept, "a worker kept a submission"
    # the coordinator's course is complete: feedback is generated from it as usual
    admin.feedback("ps1", remote)
    for student in TYPICAL:
        assert (remote / "feedback" / student / "ps1" / "ps1.html").is_file(), student
    late_page = (remote / "feedback" / "ps1_ceil" / "ps1" / "ps1.html").read_text()
    assert "Late work" in late_page and "20%" in late_page and "2.6" in late_page


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission
def test_only_the_assignment_and_one_student_go_to_a_worker(released, tmp_path):
    """The pack's gradebook holds the assignment's cells and no student; the worker adds one."""
    course = _course(released, tmp_path, students=("ps1_instructor", "ps1_blank"))
    settings = coursedir.Settings.load(course)
    with coursedir.gradebook(settings.db_url, settings.course_id) as gb:
        gb.add_assignment("ps2")  # another assignment, and students, in the instructor's book
        for student in ("ps1_instructor", "ps1_blank"):
            gb.add_student(student)
            gb.add_submission("ps1", student)
    pack = bundle.pack_assignment(settings, "ps1", ("--Execute.timeout=20",
                                                    "--CourseDirectory.root=/elsewhere"),
                                  expected="x", packages=(), sandbox=True, timeout=None,
                                  retries=5)
    assert not any(name.endswith(".ipynb") for name in pack.source)  # no solutions
    assert pack.extra == ("--Execute.timeout=20",)
    assert pack.config == (course / "nbgrader_config.py").read_bytes()
    item = bundle.pack_submission(settings, "ps1", "ps1_blank",
                                  course / "submitted" / "ps1_blank" / "ps1", "x", False)
    assert set(item.files) == {"ps1.ipynb"} and item.records == {}
    root = tmp_path / "worker-course"
    root.mkdir()
    bundle.build(pack, item, root)
    with coursedir.gradebook(f"sqlite:///{root / 'gradebook.db'}", settings.course_id) as gb:
        assert [a.name for a in gb.assignments] == ["ps1"]
        assert [s.id for s in gb.students] == ["ps1_blank"]
        assert gb.find_assignment("ps1").num_submissions == 0
        cells = {c.name for n in gb.find_assignment("ps1").notebooks for c in n.grade_cells}
    assert cells == set(points("ps1"))


# --- a worker dies while it grades --------------------------------------------------------------
def _grading_sandbox(pid: int) -> bool:
    """Whether the process ``pid`` has a bubblewrap sandbox among its descendants."""
    try:
        children = psutil.Process(pid).children(recursive=True)
        return any(child.name() == "bwrap" for child in children)
    except psutil.Error:
        return False


def test_a_worker_killed_while_it_grades_costs_nothing(cluster, released, tmp_path):
    course = _course(released, tmp_path)
    victim = cluster.add_worker("victim")
    coordinator = subprocess.Popen(_command(course, cluster), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    pid = cluster.processes["victim"].pid
    while not _grading_sandbox(pid):
        if coordinator.poll() is not None or time.monotonic() > deadline:
            coordinator.kill()
            pytest.fail("the victim got no task:\n" + "".join(coordinator.communicate()))
        time.sleep(0.2)
    grading = [key for key in cluster.client.processing(workers=[victim])[victim]]
    cluster.kill("victim")
    out, err = coordinator.communicate(timeout=900)
    assert coordinator.returncode == 0, out + err
    assert "FAILED" not in out, out + err
    assert sorted(_rows(out)) == sorted(TYPICAL)  # each once in the summary
    for student in TYPICAL:
        assert admin.scores(course, "ps1")[student][2] == _expected(student), student
    assert _rows_in_gradebook(course) == {s: (1, len(points("ps1"))) for s in TYPICAL}
    killed = [s for s in TYPICAL if any(key.endswith(f"-{s}") for key in grading)]
    assert killed, grading
    for student in killed:  # graded again, by a worker that lived
        assert _graded_note(course, student)["worker"] not in ("", victim)
    assert set(cluster.alive()) >= {"one", "two"}


# --- the coordinator stops, and is run again ------------------------------------------------------
def test_a_stopped_coordinator_resumes_and_force_grades_all(cluster, released, tmp_path):
    course = _course(released, tmp_path)
    coordinator = subprocess.Popen(_command(course, cluster), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    notes = course / "grading_records" / "ps1"
    deadline = time.monotonic() + 600
    while len(list(notes.glob("*/_graded.json"))) < 2:
        if coordinator.poll() is not None or time.monotonic() > deadline:
            coordinator.kill()
            pytest.fail("the batch ended or stalled early:\n" + "".join(coordinator.communicate()))
        time.sleep(0.2)
    coordinator.send_signal(signal.SIGINT)  # Ctrl-C
    coordinator.communicate(timeout=120)
    first = {p.parent.name: p.read_text() for p in notes.glob("*/_graded.json")}
    rest = set(TYPICAL) - set(first)
    assert len(first) >= 2 and rest, first

    done = _on_cluster(course, cluster)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(done.stdout)
    assert {s for s, row in rows.items() if "skipped" in row} == set(first)
    assert {s for s, row in rows.items() if "skipped" not in row} == rest
    for student in first:  # not graded again: the note is the first run's
        assert _graded_note(course, student) == json.loads(first[student])
    for student in TYPICAL:
        assert admin.scores(course, "ps1")[student][2] == _expected(student), student

    before = {s: (notes / s / "_graded.json").stat().st_mtime_ns for s in TYPICAL}
    done = _on_cluster(course, cluster, "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped" not in done.stdout and set(_rows(done.stdout)) == set(TYPICAL)
    assert all((notes / s / "_graded.json").stat().st_mtime_ns > before[s] for s in TYPICAL)
    assert _rows_in_gradebook(course) == {s: (1, len(points("ps1"))) for s in TYPICAL}


# --- a hostile submission on a worker -------------------------------------------------------------


PROBE = '''
import glob, os, socket
for name, port in {ports!r}:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        print("PROBE", name, "connected")
    except OSError as error:
        print("PROBE", name, "failed:", type(error).__name__)
for path in {paths!r}:
    try:
        got = os.listdir(path) if os.path.isdir(path) else open(path).read(80)
        print("PROBE read", path, "got:", got)
    except OSError as error:
        print("PROBE read", path, "failed:", type(error).__name__)
found = glob.glob("/tmp/course-grading-*") + glob.glob("/tmp/**/gradebook.db", recursive=True)
print("PROBE temporary courses:", found)

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''


def test_a_hostile_submission_cannot_reach_the_scheduler_the_workers_or_their_files(
        cluster, released, tmp_path):
    listener = Listener()
    workers = cluster.client.scheduler_info(n_workers=-1)["workers"]
    ports = [("scheduler", int(cluster.address.rsplit(":", 1)[1])), ("listener", listener.port)]
    for address, info in sorted(workers.items()):
        ports.append((f"worker {info['name']}", int(address.rsplit(":", 1)[1])))
        ports.append((f"nanny {info['name']}", int(info["nanny"].rsplit(":", 1)[1])))
    paths = [str(cluster.file), str(cluster.folder / "workers"), str(released / "gradebook.db"),
             str(ROOT / "source" / "ps1" / "ps1.ipynb")]
    probe = types.SimpleNamespace(ASSIGNMENT="ps1", CELLS={
        "correlate1d": PROBE.format(ports=ports, paths=paths)})
    course = _course(released, tmp_path, students=("ps1_instructor",), ps1_probe=probe)
    try:
        done = _on_cluster(course, cluster)
    finally:
        listener.close()
    assert done.returncode == 0, done.stdout + done.stderr
    nb = json.loads((course / "autograded" / "ps1_probe" / "ps1" / "ps1.ipynb").read_text())
    text = "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                   for c in nb["cells"] for o in c.get("outputs", []) if "text" in o)
    for name, _ in ports:
        assert f"PROBE {name} failed: ConnectionRefusedError" in text, text
    assert "connected" not in text
    for path in paths:
        assert f"PROBE read {path} failed: FileNotFoundError" in text, text
    assert "PROBE temporary courses: []" in text
    assert listener.connections == []
    # it scores as an honest submission, and the cluster is unharmed
    full = sum(points("ps1", autograded_only=True).values())
    assert admin.scores(course, "ps1")["ps1_probe"][0] == full
    assert {n for n in cluster.alive() if n in ("one", "two")} == {"one", "two"}
    assert all(p.poll() is None for p in cluster.processes.values())


# --- workers that must not grade ---------------------------------------------------------------
def test_workers_with_another_course_or_no_sandbox_are_refused(cluster, released, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ROOT / "course", other / "course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "course" / "grading" / "ps1.py", "a") as changed:
        changed.write("\n# edited on this worker only\n")
    changed = cluster.add_worker("changed", env=dict(os.environ, PYTHONPATH=str(other)))
    unsandboxed = cluster.add_worker("unsandboxed", env=dict(os.environ, COURSE_BWRAP="/bin/false"))
    course = _course(released, tmp_path, students=("ps1_instructor", "ps1_ceil"))
    try:
        done = _on_cluster(course, cluster)
    finally:
        cluster.kill("changed")
        cluster.kill("unsandboxed")
    assert done.returncode == 0, done.stdout + done.stderr
    refusals = {line.split(" ")[2]: line for line in done.stderr.splitlines() if "refused:" in line}
    assert "course package files differ: course/grading/ps1.py" in refusals[changed]
    assert "cannot sandbox" in refusals[unsandboxed] and "--no-sandbox" in refusals[unsandboxed]
    for student in ("ps1_instructor", "ps1_ceil"):
        assert _graded_note(course, student)["worker"] not in (changed, unsandboxed)
        assert admin.scores(course, "ps1")[student][2] == _expected(student)


# --- a cluster reached over TLS -----------------------------------------------------------------
def _certificate(folder: Path) -> dict[str, str]:
    """A key and a self-signed certificate (its own authority), as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "course-grading")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    return {"tls-ca-file": str(folder / "cert.pem"), "tls-cert": str(folder / "cert.pem"),
            "tls-key": str(folder / "key.pem")}


def test_a_tls_cluster_grades_and_refuses_a_coordinator_without_its_certificate(released,
                                                                                  tmp_path):
    tls = _certificate(tmp_path)
    secure = DaskCluster(tmp_path, tls)
    try:
        secure.add_worker("tls-worker")
        assert secure.address.startswith("tls://127.0.0.1:")
        course = _course(released, tmp_path, students=("ps1_instructor",))
        base = [sys.executable, "-m", "course.admin", "--root", str(course), "autograde", "ps1",
                "--cluster", secure.address, "--no-progress", "--wait", "10"]
        done = subprocess.run(base, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0
        assert "TLS" in done.stderr and "--tls-ca-file" in done.stderr, done.stderr
        certificate = [arg for name, path in tls.items() for arg in (f"--{name}", path)]
        done = subprocess.run([*base, *certificate, "--", *GRADING], capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert admin.scores(course, "ps1")["ps1_instructor"][2] == _expected("ps1_instructor")
        assert _graded_note(course, "ps1_instructor")["worker"].startswith("tls://")
    finally:
        secure.close()
