"""correlate2d keeps the image's dtype: uint8 sums wrap around."""
ASSIGNMENT = "ps1"
CELLS = {"correlate2d": '''
def correlate2d(image, kernel):
    (H, W), (KH, KW) = image.shape, kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1), dtype=image.dtype)
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out
'''}
EXPECT = {"test_correlate2d": 0}
MESSAGES = ["integer overflow"]
