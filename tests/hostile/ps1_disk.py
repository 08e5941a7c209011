"""Fills the disk: writes far more than the working folder may hold, in the working folder
and /tmp, from the kernel and from the judge's rebuild of the notebook."""
ASSIGNMENT = "ps1"
ATTACK = "fill the disk"
CELLS = {"correlate1d": '''
import os
block = b"z" * (1 << 20)
for folder in (".", "/tmp", os.path.expanduser("~")):
    try:
        with open(os.path.join(folder, "filler.bin"), "wb") as f:
            for _ in range(2048):
                f.write(block)
    except OSError as error:
        print("refused:", folder, error)
_ = [open(f"/tmp/fill-{{i}}.bin", "wb").write(b"z" * (64 << 20)) for i in range(32)]

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {}
MESSAGES = []
SIDE_EFFECTS = ["no_large_files", "course_files_unchanged"]
LIMITS = []
