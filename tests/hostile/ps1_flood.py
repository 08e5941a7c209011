"""Prints 60 MB in one cell (a 57 MiB graded notebook and feedback page without a cap)."""
ASSIGNMENT = "ps1"
ATTACK = "flood the graded notebook and the feedback with output"
CELLS = {"correlate1d": '''
print("x" * 60_000_000)
for _ in range(20):
    print("y" * 1_000_000)

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {}
MESSAGES = ["[output cut: this cell printed more than"]
SIDE_EFFECTS = ["feedback_small"]
LIMITS = ["output"]
