"""Allocates and fills 6 GiB in the kernel and in the judge's rebuild of the notebook."""
ASSIGNMENT = "ps1"
ATTACK = "use more memory than the machine can spare"
CELLS = {"convolve1d": '''
hog = bytearray(6 << 30)  # zero-filled: every page is touched

def convolve1d(x, w):
    return correlate1d(x, np.asarray(w)[::-1])
'''}
EXPECT = {}
MESSAGES = ["memory limit", "KernelDied"]
SIDE_EFFECTS = ["honest_scores_kept"]
LIMITS = ["memory"]
