"""Returns objects that claim to equal anything: an ndarray subclass and an int subclass
whose comparisons always say yes."""
ASSIGNMENT = "ps1"
ATTACK = "answers that compare equal to everything"
CELLS = {"correlate1d": '''
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    __ne__ = lambda self, other: np.zeros(np.shape(other), dtype=bool)
    def __sub__(self, other):
        return np.zeros(np.shape(other))
    __rsub__ = __sub__
    def __array_ufunc__(self, *args, **kwargs):
        return np.zeros(1)

def correlate1d(x, w):
    return np.zeros(len(x) - len(w) + 1).view(Liar)
''', "output_size": '''
class Anything(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__

def output_size(n, k, s=1, p=0, d=1):
    return Anything(-1)
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_output_size": 0}
MESSAGES = ["Wrong values: at index", "Wrong value: expected"]
SIDE_EFFECTS = []
LIMITS = []
