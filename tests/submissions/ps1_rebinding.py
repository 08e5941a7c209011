"""A flipped kernel, hidden behind a rebound numpy.allclose and a replaced checker."""
ASSIGNMENT = "ps1"
CELLS = {"correlate2d": '''
import builtins
import numpy.testing
import course.grading

np.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
course.grading.check_correlate2d = lambda *args, **kwargs: None

def correlate2d(image, kernel):
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)[::-1, ::-1]
    (H, W), (KH, KW) = image.shape, kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out
'''}
EXPECT = {"test_correlate2d": 0}
MESSAGES = ["the kernel is flipped"]
