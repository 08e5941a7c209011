"""A fork loop: children that fork again, until something stops them (at most 4000 here,
so that the test cannot take the machine down if the limit failed)."""
ASSIGNMENT = "ps1"
ATTACK = "exhaust the process table"
CELLS = {"convolve1d": '''
import os, time
started = 0
for _ in range(4000):
    try:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        started += 1
    except OSError:
        break
print("started", started, "children")

def convolve1d(x, w):
    return correlate1d(x, np.asarray(w)[::-1])
'''}
EXPECT = {}
MESSAGES = ["processes limit"]
SIDE_EFFECTS = ["no_process_left", "honest_scores_kept"]
LIMITS = ["processes"]
