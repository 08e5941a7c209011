"""Ends its kernel with os._exit(1) in task 3, and the judged process with os._exit in
task 5's function: nbgrader alone then recorded 0 for every task."""
ASSIGNMENT = "ps1"
ATTACK = "kill the kernel, and the judged process, mid-grading"
CELLS = {"correlate2d": '''
def correlate2d(image, kernel):
    (H, W), (KH, KW) = image.shape, kernel.shape
    image = image.astype(np.float64)
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out

import os
os._exit(1)
''', "output_size": '''
import os

def output_size(n, k, s=1, p=0, d=1):
    os._exit(3)
'''}
EXPECT = {"test_output_size": 0}
MESSAGES = ["KernelDied", "Your function ended the judged process (exit code 3)",
            "correlate2d: all 7 cases (visible and on fresh inputs) passed"]
SIDE_EFFECTS = ["honest_scores_kept"]
LIMITS = []
