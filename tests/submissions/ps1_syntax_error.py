"""A syntax error in correlate1d; convolve1d, which calls it, fails too."""
ASSIGNMENT = "ps1"
CELLS = {"correlate1d": '''
def correlate1d(x, w)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0}
MESSAGES = ["SyntaxError", "NameError"]
