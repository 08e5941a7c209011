"""correlate1d calls numpy.correlate (convolve1d, which uses it, fails too)."""
ASSIGNMENT = "ps1"
CELLS = {"correlate1d": '''
def correlate1d(x, w):
    return np.correlate(np.asarray(x, dtype=float), np.asarray(w, dtype=float), mode="valid")
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0}
MESSAGES = ["`numpy.correlate` is not allowed in `correlate1d`"]
