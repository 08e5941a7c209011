"""Displays an output with 20 MB of metadata (the output cap counted only data), and
returns a 3 MB string from a graded function, which the verdict quotes."""
ASSIGNMENT = "ps1"
ATTACK = "output metadata and a returned value too large for the graded notebook"
CELLS = {"correlate1d": '''
display({{"text/plain": "a small output"}}, raw=True, metadata={{"filler": "m" * 20_000_000}})

def correlate1d(x, w):
    return "9" * 3_000_000
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0}
MESSAGES = ["output cut"]
SIDE_EFFECTS = ["feedback_small", "records_small", "honest_scores_kept"]
LIMITS = ["output"]
