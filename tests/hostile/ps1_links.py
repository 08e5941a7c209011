"""Hands in links beside an honest notebook: a symbolic link and a hard link to a file
outside the course that only the instructor can read, a FIFO (which blocks whoever reads
it), and a link to the instructor's notebook as `notes.html`. The last answer cell reads
them from inside the sandbox and prints what it found."""
import os
from pathlib import Path

ASSIGNMENT = "ps1"
ATTACK = "links and special files in the submission folder, read with the grader's rights"
CELLS = {"output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1

import os
for name in ("secret.txt", "hard.txt", "notes.html"):
    try:
        print(name, open(name).read()[:200])
    except OSError as error:
        print(name, "unreadable:", type(error).__name__)
print("folder holds", sorted(os.listdir(".")))
'''}
EXPECT = {}
MESSAGES = ["was not taken in for grading", "a symbolic link (links are never followed)",
            "a hard link (a file with another name", "a FIFO (named pipe)"]
SIDE_EFFECTS = ["secret_not_handed_back", "course_files_unchanged", "honest_scores_kept"]
LIMITS = []
REFUSED = ["secret.txt: a symbolic link", "hard.txt: a hard link", "fifo: a FIFO"]


def plant(folder: Path, fields: dict) -> None:
    os.symlink(fields["secret"], folder / "secret.txt")
    os.link(fields["secret"], folder / "hard.txt")
    os.mkfifo(folder / "fifo")
    os.symlink(os.path.join(fields["root"], "source", "ps1", "ps1.ipynb"), folder / "notes.html")
