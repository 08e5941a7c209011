"""An LMS's download, read as hostile input.

A download holds whatever the students uploaded, named by the students. :func:`read`
turns it into a list of plain :class:`Entry` objects (a name and bytes) and refuses the
whole archive, naming the entry, when any entry is:

- a path that leaves the folder: absolute, with ``..``, a drive letter or a backslash;
- anything but a regular file or folder: a symbolic link, a device, a FIFO;
- named with bytes that are not UTF-8 (or unprintable characters);
- a zip bomb: more than :data:`Caps.entries` entries, an entry over
  :data:`Caps.entry_bytes`, more than :data:`Caps.total_bytes` in all, or an entry that
  expands more than :data:`Caps.ratio` times (sizes are checked as declared and again
  while reading, so a header that lies gains nothing);
- a zip inside a zip more deeply than LMSs make them: a download may be wrapped once (a
  zip whose only entry is the LMS's zip); a zip a student uploaded is kept as a file,
  never opened.

Nothing is written anywhere: :func:`read` works in memory, within the caps. Whatever
the collector writes later goes through :func:`course.grading.intake.take_in`.
"""
from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

__all__ = ["ArchiveError", "Caps", "Entry", "read"]


class ArchiveError(ValueError):
    """The archive is refused as a whole; the message names the entry."""


@dataclass(frozen=True)
class Caps:
    entries: int = 5_000
    entry_bytes: int = 64 * 1024 * 1024
    total_bytes: int = 1024 * 1024 * 1024
    ratio: int = 200           # uncompressed / compressed, per entry over 1 MiB
    wrappers: int = 1          # zips around the LMS's own zip


@dataclass(frozen=True)
class Entry:
    name: str                  # the path inside the archive, "/"-separated
    data: bytes
    modified: datetime | None  # the entry's time stamp (naive, as stored)

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name

    @property
    def folder(self) -> str:
        parent = str(PurePosixPath(self.name).parent)
        return "" if parent == "." else parent


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The entry's name as stored (zipfile decodes it as cp437 unless flagged UTF-8)."""
    if info.flag_bits & 0x800:
        return info.filename.encode("utf-8")
    return info.orig_filename.encode("cp437")


def _check_name(info: zipfile.ZipInfo) -> str:
    raw = _raw_name(info)
    shown = raw.decode("utf-8", "backslashreplace")[:200]
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(f"entry {shown!r}: its name is not valid UTF-8") from None
    if not name or not all(ch.isprintable() for ch in name):
        raise ArchiveError(f"entry {shown!r}: its name has unprintable characters")
    path = PurePosixPath(name)
    if (name.startswith("/") or "\\" in name or ".." in path.parts
            or (len(name) > 1 and name[1] == ":")):
        raise ArchiveError(f"entry {shown!r}: the path leaves the folder (absolute, '..', "
                           "a drive or a backslash)")
    return name


def _check_kind(info: zipfile.ZipInfo, name: str) -> None:
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # made on Unix: the mode says what it is
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"entry {name!r}: a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"entry {name!r}: not a regular file or folder (a device, "
                               "FIFO or socket)")


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, caps: Caps,
                 left: int) -> bytes:
    limit = min(caps.entry_bytes, left)
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        which = "entry" if limit == caps.entry_bytes else "archive"
        raise ArchiveError(f"entry {name!r}: expands past the {which}'s limit "
                           f"({limit} bytes): a zip bomb?")
    if len(data) > 1024 * 1024 and len(data) > caps.ratio * max(info.compress_size, 1):
        raise ArchiveError(f"entry {name!r}: expands {len(data) // max(info.compress_size, 1)} "
                           f"times (at most {caps.ratio}): a zip bomb?")
    return data


def _entries(data: bytes, caps: Caps, where: str) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(f"{where}: not a zip archive ({error})") from None
    except UnicodeDecodeError:
        raise ArchiveError(f"{where}: an entry's name is flagged UTF-8 but is not valid "
                           "UTF-8") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > caps.entries:
            raise ArchiveError(f"{where}: {len(infos)} entries; at most {caps.entries}")
        declared, checked = 0, []
        for info in infos:
            name = _check_name(info)
            _check_kind(info, name)
            checked.append((info, name))
            declared += info.file_size
            if info.file_size > caps.entry_bytes:
                raise ArchiveError(f"entry {name!r}: {info.file_size} bytes; at most "
                                   f"{caps.entry_bytes}")
        if declared > caps.total_bytes:
            raise ArchiveError(f"{where}: {declared} bytes in all; at most {caps.total_bytes}")
        entries, total = [], 0
        for info, name in checked:
            if info.is_dir():
                continue
            content = _read_capped(archive, info, name, caps, caps.total_bytes - total)
            total += len(content)
            try:
                modified = datetime(*info.date_time)
            except ValueError:
                modified = None
            entries.append(Entry(name.rstrip("/"), content, modified))
        return entries


def read(path: str | Path, caps: Caps = Caps()) -> list[Entry]:
    """The entries of the LMS download at ``path``, or :class:`ArchiveError`."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ArchiveError(f"--from: cannot read {path} ({error.strerror})") from None
    if size > caps.total_bytes:
        raise ArchiveError(f"--from: {path} has {size} bytes; at most {caps.total_bytes}")
    entries = _entries(path.read_bytes(), caps, str(path))
    wrappers = 0
    # A download wrapped in a zip (the only entry is the LMS's zip): unwrap, once.
    while len(entries) == 1 and entries[0].name.lower().endswith(".zip"):
        wrappers += 1
        if wrappers > caps.wrappers:
            raise ArchiveError(f"entry {entries[0].name!r}: a zip inside a zip inside the "
                               "download; LMSs nest at most once")
        entries = _entries(entries[0].data, caps, entries[0].name)
    return entries
