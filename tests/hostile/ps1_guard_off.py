"""Switches the call guard off (sys.setprofile(None), the stubs put back) and calls SciPy's
correlate2d: full marks while the guard lived in the same process as the grade."""
ASSIGNMENT = "ps1"
ATTACK = "switch off the shortcut guard and use scipy.signal.correlate2d"
CELLS = {"correlate2d": '''
import sys
from scipy.signal import correlate2d as _library

def correlate2d(image, kernel):
    sys.setprofile(None)
    import scipy.signal
    scipy.signal.correlate2d = _library
    return _library(np.asarray(image, dtype=np.float64), kernel, mode="valid")
'''}
EXPECT = {"test_correlate2d": 0}
MESSAGES = ["`scipy` is not available when your functions are graded"]
SIDE_EFFECTS = []
LIMITS = []
