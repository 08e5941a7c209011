"""Leaves processes running after grading: a child in its own session, a double-forked
daemon, and one started from the judge's rebuild of the notebook."""
ASSIGNMENT = "ps1"
ATTACK = "leave processes behind"
CELLS = {"correlate1d": '''
import os, subprocess
subprocess.Popen(["sleep", "600", "{marker}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "600", "{marker}"])
    os._exit(0)
_ = __import__("subprocess").Popen(["sleep", "600", "{marker}"], start_new_session=True)

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {}
MESSAGES = []
SIDE_EFFECTS = ["no_process_left"]
LIMITS = []
