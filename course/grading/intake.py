"""Taking in a submission: a student's folder read as data, before anything else reads it.

Whatever arrives as a submission (a folder in ``submitted/``, filled by hand, by
nbgrader's exchange or from an LMS download) was made by the student. Before grading,
:func:`take_in` copies it into a staging folder that nbgrader then grades, and only
what is plain data gets there:

* **Only regular files and folders.** Symbolic links, hard links (a file with a second
  name, possibly outside the folder), device files, FIFOs and sockets are refused and
  never opened: nothing is read through a link with the grader's rights. Each file is
  opened with ``O_NOFOLLOW`` and checked again once open (still the same regular file
  with a single name), so swapping a file for a link while it is copied gains nothing.
* **Bounded.** At most :data:`Rules.files` files, :data:`Rules.file_bytes` per file,
  :data:`Rules.total_bytes` in all, :data:`Rules.depth` folders deep, names of printable
  characters; a notebook at most :data:`Rules.notebook_bytes` and
  :data:`Rules.notebook_items` JSON elements (counted before it is parsed),
  :data:`Rules.cells` cells and :data:`Rules.source_chars` characters of source (what
  costs most to render for the instructor), and shaped like a notebook.
* **Refusals are told.** What was refused, and why, is returned (the grading record,
  ``course-admin``'s summary) and written at the top of the student's notebook as a
  grader's note, so it shows in the feedback. A refused notebook is replaced by the
  assignment's released notebook under that note: it is graded (0 for every task),
  the batch goes on, and the student reads why.

The rules are the same wherever submissions enter; :func:`take_in` is the one door.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .harness import wire

__all__ = ["Intake", "Refused", "Rules", "check_notebook", "take_in"]


@dataclass(frozen=True)
class Rules:
    """What a submission folder may hold."""

    files: int = 200
    file_bytes: int = 32 * 1024 * 1024
    total_bytes: int = 64 * 1024 * 1024
    depth: int = 4
    name_chars: int = 120
    notebook_bytes: int = 16 * 1024 * 1024
    notebook_items: int = 200_000
    cells: int = 2_000
    source_chars: int = 200_000  # the course's largest notebook holds 50,000


@dataclass
class Refused:
    """One entry of the folder that was not taken in."""

    path: str  # relative to the submission folder, as printable text
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


@dataclass
class Intake:
    """What :func:`take_in` did with one submission folder."""

    files: list[str] = field(default_factory=list)  # relative paths copied
    refused: list[Refused] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # notebooks replaced by the release

    def to_json(self) -> dict:
        return {"files": self.files, "refused": [asdict(r) for r in self.refused],
                "replaced": self.replaced}


_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$")


def printable(name: str, limit: int = 120) -> str:
    """A student's file name as text that is safe to print or show (escaped, shortened)."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8", "backslashreplace")
    if not _PRINTABLE.match(text):
        text = ascii(text)[1:-1]
    return text if len(text) <= limit else text[:limit] + "..."


def _kind(mode: int) -> str | None:
    """Why an entry of this mode is refused, or None for a regular file or folder."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed)"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def check_notebook(data: bytes, rules: Rules = Rules()) -> str | None:
    """Why these bytes are not a notebook that may be graded, or None.

    The size and the number of JSON elements are checked before the JSON is parsed;
    then its shape (a dict with a list of cells, each a dict with a type and a source).
    """
    if len(data) > rules.notebook_bytes:
        return (f"the notebook is {len(data) / 2**20:.1f} MiB, over the limit of "
                f"{rules.notebook_bytes / 2**20:g} MiB")
    try:
        wire.check_header(data, rules.notebook_bytes, rules.notebook_items)
    except wire.WireError:
        return f"the notebook has more than {rules.notebook_items} JSON elements"
    try:
        nb = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "the notebook is not valid JSON"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "the file is not a Jupyter notebook (no list of cells)"
    if len(nb["cells"]) > rules.cells:
        return f"the notebook has {len(nb['cells'])} cells, over the limit of {rules.cells}"
    chars = 0
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return "a cell of the notebook is not a code, markdown or raw cell"
        source = cell.get("source", "")
        if not (isinstance(source, str) or (isinstance(source, list)
                                            and all(isinstance(s, str) for s in source))):
            return "a cell's source is not text"
        chars += len(source) if isinstance(source, str) else sum(len(s) for s in source)
    if chars > rules.source_chars:
        # rendering source (syntax highlighting) is the costly part of a feedback page or
        # a formgrader view: 300 KB of code took 40 s and 400 MiB to render
        return (f"the notebook's cells hold {chars} characters of source, over the limit of "
                f"{rules.source_chars}")
    if type(nb.get("nbformat")) is not int or nb["nbformat"] != 4:
        return "the notebook is not in nbformat 4"
    return None


def _check_timestamp(data: bytes) -> str | None:
    """Why nbgrader's ``timestamp.txt`` is unusable (nbgrader fails the submission on it)."""
    try:
        from nbgrader.utils import parse_utc

        if len(data) > 100:
            raise ValueError
        parse_utc(data.decode("ascii").strip())
    except Exception:  # noqa: BLE001 - whatever it holds, it is not a time
        return "timestamp.txt does not hold a date and time"
    return None


def _copy(source: Path, target: Path, limit: int, expected: os.stat_result) -> str | None:
    """Copy one regular file without following links; why not, or None."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(source, flags)
    except OSError as error:
        return f"could not be opened ({error.strerror})"
    try:
        now = os.fstat(fd)
        if (not stat.S_ISREG(now.st_mode) or now.st_nlink != 1 or now.st_ino != expected.st_ino
                or now.st_dev != expected.st_dev):
            return "changed while it was taken in"
        with os.fdopen(fd, "rb", closefd=False) as stream, open(target, "xb") as out:
            copied = 0
            while chunk := stream.read(1 << 20):
                copied += len(chunk)
                if copied > limit:
                    break
                out.write(chunk)
        if copied > limit:
            target.unlink()
            return f"over {limit / 2**20:g} MiB"
    finally:
        os.close(fd)
    return None


def _note(intake: Intake) -> str:
    lines = ["**Grader's note.** Some of what you handed in was not taken in for grading:", ""]
    for refused in intake.refused[:50]:
        path = refused.path.replace("`", "'")
        lines.append(f"- `{path}`: {refused.why}")
    if len(intake.refused) > 50:
        lines.append(f"- ... and {len(intake.refused) - 50} more")
    if intake.replaced:
        lines += ["", "A notebook that cannot be taken in is graded as the blank assignment "
                      "notebook, so every task of it scores 0. Hand in the notebook itself, as "
                      "JupyterLab saves it."]
    return "\n".join(lines)


def _with_note(data: bytes, note: str) -> bytes:
    nb = json.loads(data)
    cell = {"cell_type": "markdown", "metadata": {"course": {"intake_note": True}},
            "source": note}
    if isinstance(nb.get("cells"), list) and nb["cells"] and isinstance(nb["cells"][0], dict) \
            and "id" in nb["cells"][0]:
        cell["id"] = "grader-intake-note"
    nb["cells"].insert(0, cell)
    return json.dumps(nb, indent=1).encode()


def take_in(folder: str | os.PathLike, target: str | os.PathLike,
            release: str | os.PathLike | None = None, rules: Rules = Rules()) -> Intake:
    """Copy the submission ``folder`` into ``target`` (new), as data; what was refused.

    ``release`` is the assignment's released folder: a notebook of it that the student's
    folder lacks in a usable form is put in ``target`` as the stand-in, under the note.
    """
    folder, target = Path(folder), Path(target)
    intake = Intake()
    target.mkdir(parents=True)
    total = 0
    try:
        top = os.lstat(folder)
    except OSError:
        top = None
    if top is None or not stat.S_ISDIR(top.st_mode):
        why = _kind(top.st_mode) if top is not None else "missing"
        intake.refused.append(Refused(".", f"the submission folder is {why or 'not a folder'}"))
        entries = []
    else:
        entries = [(folder, Path("."), 0)]
    notebooks: dict[str, bytes] = {}
    while entries:
        here, relative, depth = entries.pop(0)
        try:
            names = sorted(os.listdir(here))
        except OSError as error:
            intake.refused.append(Refused(printable(str(relative)), f"could not be listed "
                                                                     f"({error.strerror})"))
            continue
        for name in names:
            rel = relative / name
            shown = printable(str(rel))
            path = here / name
            try:
                info = os.lstat(path)
            except OSError:
                intake.refused.append(Refused(shown, "vanished while it was taken in"))
                continue
            why = _kind(info.st_mode)
            if why is None and (len(name) > rules.name_chars or not _PRINTABLE.match(name)
                                or name.startswith(".")):
                why = ("a hidden file" if name.startswith(".") else
                       "a name with control characters or over "
                       f"{rules.name_chars} characters")
            if why is None and stat.S_ISDIR(info.st_mode):
                if depth + 1 >= rules.depth:
                    why = f"a folder more than {rules.depth} levels deep"
                else:
                    (target / rel).mkdir()
                    entries.append((path, rel, depth + 1))
                    continue
            if why is None and info.st_nlink != 1:
                why = "a hard link (a file with another name, perhaps outside the folder)"
            if why is None and len(intake.files) >= rules.files:
                why = f"more than {rules.files} files"
            if why is None and info.st_size > rules.file_bytes:
                why = f"over {rules.file_bytes / 2**20:g} MiB"
            if why is None and total + info.st_size > rules.total_bytes:
                why = f"the folder's files add up to over {rules.total_bytes / 2**20:g} MiB"
            if why is None:
                why = _copy(path, target / rel, rules.file_bytes, info)
            if why is None and depth == 0 and name == "timestamp.txt":
                why = _check_timestamp((target / rel).read_bytes())
                if why is not None:
                    (target / rel).unlink()
            if why is None and name.endswith(".ipynb"):
                data = (target / rel).read_bytes()
                why = check_notebook(data, rules)
                if why is not None:
                    (target / rel).unlink()
                elif depth == 0:
                    notebooks[name] = data
            if why is not None:
                intake.refused.append(Refused(shown, why))
                continue
            total += info.st_size
            intake.files.append(str(rel))
    if release is not None:
        for path in sorted(Path(release).glob("*.ipynb")):
            if path.name not in notebooks:
                notebooks[path.name] = path.read_bytes()
                intake.replaced.append(path.name)
                if not any(r.path == path.name for r in intake.refused):
                    intake.refused.append(Refused(path.name, "missing from the submission"))
    if intake.refused:
        note = _note(intake)
        for name, data in notebooks.items():
            (target / name).write_bytes(_with_note(data, note))
    else:
        for name in intake.replaced:
            (target / name).write_bytes(notebooks[name])
    return intake


def clear(folder: str | os.PathLike) -> None:
    """Remove a staging folder made by :func:`take_in`."""
    shutil.rmtree(folder, ignore_errors=True)
