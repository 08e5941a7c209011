"""max_pool2d pools axes 1 and 2, as if the input were (N, H, W, C)."""
ASSIGNMENT = "ps2"
CELLS = {"max_pool2d": '''
def max_pool2d(x, kernel_size, stride=None, padding=0):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, H, W, C = x.shape
    xp = np.full((N, H + 2 * ph, W + 2 * pw, C), -np.inf)
    xp[:, ph:ph + H, pw:pw + W, :] = x
    H_out, W_out = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = np.zeros((N, H_out, W_out, C))
    for i in range(H_out):
        for j in range(W_out):
            out[:, i, j, :] = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :].max(axis=(1, 2))
    return out
'''}
EXPECT = {"highpass_answer": 0, "test_max_pool2d": 0}
MESSAGES = ["pooling over the wrong axes"]
