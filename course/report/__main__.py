"""``python -m course.report ps1``: the class report, as ``course-admin report`` writes it."""
from __future__ import annotations

import argparse
import sys

from . import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.report",
                                     description="Write the class report of a graded assignment.")
    parser.add_argument("--root", default=".", help="course directory (default: the current one)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, args.root)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
