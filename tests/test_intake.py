"""Taking in a submission folder (course/grading/intake.py): links, special files and
oversized or malformed notebooks are refused before anything reads them, and told.

Unit tests on real files (symlinks, hard links, a FIFO, a device node as root); the same
rules graded end to end through course-admin are in tests/test_hostile.py. Runtime: < 2 s.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from course.grading import intake

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "release" / "ps1"


def _notebook(cells=1) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1",
                                  "outputs": [], "execution_count": None}] * cells})


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "submitted" / "alice" / "ps1"
    path.mkdir(parents=True)
    (path / "ps1.ipynb").write_text(_notebook())
    return path


def _why(result: intake.Intake) -> dict[str, str]:
    return {r.path: r.why for r in result.refused}


def test_regular_files_and_folders_are_copied(folder, tmp_path):
    (folder / "data").mkdir()
    (folder / "data" / "weights.npy").write_bytes(b"\x93NUMPY")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    assert sorted(result.files) == ["data/weights.npy", "ps1.ipynb"]
    assert result.refused == [] and result.replaced == []
    assert (tmp_path / "staged" / "data" / "weights.npy").read_bytes() == b"\x93NUMPY"
    assert json.loads((tmp_path / "staged" / "ps1.ipynb").read_text())["cells"][0]["source"] == "x = 1"


def test_links_and_special_files_are_refused_and_never_opened(folder, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    secret.chmod(0o600)
    os.symlink(secret, folder / "notes.html")
    os.link(secret, folder / "hard.txt")
    os.mkfifo(folder / "pipe")  # reading it would block the grader
    os.mknod(folder / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.symlink("/", folder / "everything")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    why = _why(result)
    assert why["notes.html"].startswith("a symbolic link")
    assert why["everything"].startswith("a symbolic link")
    assert why["hard.txt"].startswith("a hard link")
    assert why["pipe"].startswith("a FIFO")
    assert why["null"] == "a device file"
    staged = sorted(p.name for p in (tmp_path / "staged").iterdir())
    assert staged == ["ps1.ipynb"]
    assert "SECRET" not in (tmp_path / "staged" / "ps1.ipynb").read_text()


def test_the_refusals_are_written_at_the_top_of_the_notebook(folder, tmp_path):
    os.symlink("/etc/passwd", folder / "x`<img src=x onerror=alert(1)>")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    nb = json.loads((tmp_path / "staged" / "ps1.ipynb").read_text())
    note = nb["cells"][0]
    assert note["cell_type"] == "markdown" and "Grader's note" in note["source"]
    assert "a symbolic link" in note["source"]
    assert "`x'<img" in note["source"]  # the name's backtick cannot close the code span
    assert len(nb["cells"]) == 2 and len(result.refused) == 1


def test_a_notebook_that_is_a_link_is_replaced_by_the_release(folder, tmp_path):
    (folder / "ps1.ipynb").unlink()
    os.symlink(ROOT / "source" / "ps1" / "ps1.ipynb", folder / "ps1.ipynb")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    assert result.replaced == ["ps1.ipynb"]
    nb = json.loads((tmp_path / "staged" / "ps1.ipynb").read_text())
    released = json.loads((RELEASE / "ps1.ipynb").read_text())
    assert nb["cells"][1:] == released["cells"]
    assert "graded as the blank assignment notebook" in nb["cells"][0]["source"]


@pytest.mark.parametrize("content, reason", [
    ("{" * 50_000 + "}" * 50_000, "not valid JSON"),
    ('{"cells": "none", "nbformat": 4}', "no list of cells"),
    (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 3}]}),
     "a cell's source is not text"),
    (json.dumps({"nbformat": 3, "cells": []}), "not in nbformat 4"),
    ("[" + "0," * 250_000 + "0]", "more than 200000 JSON elements"),
])
def test_a_malformed_notebook_is_refused_with_the_reason(folder, tmp_path, content, reason):
    (folder / "ps1.ipynb").write_text(content)
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    assert reason in _why(result)["ps1.ipynb"]
    assert result.replaced == ["ps1.ipynb"]


def test_sizes_counts_depth_and_names_are_bounded(folder, tmp_path):
    rules = intake.Rules(files=3, file_bytes=1000, total_bytes=1500, depth=2, cells=5)
    (folder / "big.bin").write_bytes(b"b" * 1001)
    (folder / "a.txt").write_bytes(b"a" * 900)
    (folder / "b.txt").write_bytes(b"b" * 900)
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "bad\x1bname").write_text("x")
    (folder / ".hidden").write_text("x")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE, rules)
    why = _why(result)
    assert why["big.bin"] == "over 0.000953674 MiB"
    assert why["b.txt"].startswith("the folder's files add up")
    assert why["deep/er"].startswith("a folder more than 2 levels deep")
    assert why["bad\\x1bname"].startswith("a name with control characters")
    assert why[".hidden"] == "a hidden file"
    assert "a.txt" in result.files


def test_too_many_cells(folder, tmp_path):
    (folder / "ps1.ipynb").write_text(_notebook(cells=6))
    result = intake.take_in(folder, tmp_path / "staged", RELEASE, intake.Rules(cells=5))
    assert "6 cells, over the limit of 5" in _why(result)["ps1.ipynb"]


def test_a_submission_folder_that_is_a_link_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "ps1.ipynb").write_text(_notebook())
    (tmp_path / "alice").mkdir()
    os.symlink(real, tmp_path / "alice" / "ps1")
    result = intake.take_in(tmp_path / "alice" / "ps1", tmp_path / "staged", RELEASE)
    assert _why(result)["."].startswith("the submission folder is a symbolic link")
    assert result.replaced == ["ps1.ipynb"] and result.files == []


def test_a_timestamp_that_is_not_a_time_is_refused(folder, tmp_path):
    (folder / "timestamp.txt").write_text("not a date")
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    assert _why(result)["timestamp.txt"] == "timestamp.txt does not hold a date and time"
    (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    again = intake.take_in(folder, tmp_path / "staged-2", RELEASE)
    assert "timestamp.txt" in again.files


def test_printable_escapes_control_and_bidi_characters():
    assert intake.printable("ok name.ipynb") == "ok name.ipynb"
    assert intake.printable("evil\x1b[2J") == "evil\\x1b[2J"
    assert intake.printable("a\u202egnp.exe") == "a\\u202egnp.exe"


def test_source_is_bounded_since_rendering_it_is_what_costs(folder, tmp_path):
    (folder / "ps1.ipynb").write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": "a = 1\n" * 40_000}]}))
    result = intake.take_in(folder, tmp_path / "staged", RELEASE)
    assert _why(result)["ps1.ipynb"] == ("the notebook's cells hold 240000 characters of "
                                         "source, over the limit of 200000")


def test_the_course_s_own_notebooks_pass_with_room_to_spare():
    for path in sorted(ROOT.glob("source/*/*.ipynb")) + sorted(ROOT.glob("release/*/*.ipynb")):
        assert intake.check_notebook(path.read_bytes(), intake.Rules(source_chars=100_000)) is None, path
