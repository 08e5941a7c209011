"""The instructor's solutions, with a test cell deleted and a harmless warning."""
ASSIGNMENT = "ps1"
CELLS = {
    "correlate2d_strided": '''
import warnings

def correlate2d_strided(image, kernel, stride=1):
    """Correct, but warns: a warning on stderr must not cost points."""
    warnings.warn("this loop is slow", RuntimeWarning)
    image = np.asarray(image, dtype=np.float64)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    (H, W), (KH, KW) = image.shape, kernel.shape
    out = np.zeros(((H - KH) // sh + 1, (W - KW) // sw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i * sh:i * sh + KH, j * sw:j * sw + KW] * kernel)
    return out
''',
}
DELETE = ["test_output_size"]  # put back from the gradebook (add_missing_cells)
EXPECT = {}
MESSAGES = ["correlate2d_general: all 8 cases (visible and on fresh inputs) passed"]
