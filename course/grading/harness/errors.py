"""A student's exception as the student should read it: its type, its text, and the line of
their own code it came from (not a line of NumPy's or the course's)."""
from __future__ import annotations

import os
import sys
import traceback


def _library(filename: str) -> bool:
    here = os.path.dirname(os.path.abspath(__file__))
    return (filename.startswith(here + os.sep) or "site-packages" in filename
            or "dist-packages" in filename or filename.startswith(sys.prefix + os.sep)
            or filename.startswith(sys.base_prefix + os.sep) or filename.startswith("<frozen"))


def student_line(error: BaseException) -> str:
    """'in `forward`, cell 3, line 12: x = self.fc1(x)' of the innermost student frame."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        name = frame.filename
        if name.startswith("<cell ") or not _library(os.path.abspath(name)):
            text = (frame.line or "").strip()
            where = name[1:-1] if name.startswith("<cell ") else "line"
            place = f"{where}, line {frame.lineno}" if where != "line" else f"line {frame.lineno}"
            return f"in `{frame.name}`, {place}" + (f": {text}" if text else "")
    return ""


def describe_error(error: BaseException) -> str:
    text = str(error)
    line = student_line(error)
    return f"{type(error).__name__}{': ' + text if text else ''}" + (f"\n  {line}" if line else "")
