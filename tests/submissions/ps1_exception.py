"""convolve1d raises: NumPy arrays have no reverse()."""
ASSIGNMENT = "ps1"
CELLS = {"convolve1d": '''
def convolve1d(x, w):
    w.reverse()
    return correlate1d(x, w)
'''}
EXPECT = {"test_convolve1d": 0}
MESSAGES = ["Your function raised AttributeError"]
