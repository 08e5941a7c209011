"""correlate2d_strided steps one cell too far."""
ASSIGNMENT = "ps1"
CELLS = {"correlate2d_strided": '''
def correlate2d_strided(image, kernel, stride=1):
    image = np.asarray(image, dtype=np.float64)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    (H, W), (KH, KW) = image.shape, kernel.shape
    rows = range(0, H - KH + 1, sh + 1)
    cols = range(0, W - KW + 1, sw + 1)
    return np.array([[np.sum(image[r:r + KH, c:c + KW] * kernel) for c in cols] for r in rows])
'''}
EXPECT = {"test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["the stride is off by one"]
