"""pad2d fills 'replicate' padding with zeros."""
ASSIGNMENT = "ps1"
CELLS = {"pad2d": '''
def pad2d(image, padding, mode="zeros"):
    image = np.asarray(image, dtype=np.float64)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    H, W = image.shape
    if mode == "reflect":
        rows = np.abs(np.arange(-ph, H + ph))
        rows = np.where(rows > H - 1, 2 * (H - 1) - rows, rows)
        cols = np.abs(np.arange(-pw, W + pw))
        cols = np.where(cols > W - 1, 2 * (W - 1) - cols, cols)
        return image[rows[:, None], cols[None, :]]
    out = np.zeros((H + 2 * ph, W + 2 * pw))
    out[ph:ph + H, pw:pw + W] = image
    return out
'''}
EXPECT = {"test_pad2d": 0, "test_correlate2d_general": 0}
MESSAGES = ["you used zero padding instead of replicate padding"]
