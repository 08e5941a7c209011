"""avg_pool2d slides its windows one cell at a time when stride is None."""
ASSIGNMENT = "ps2"
CELLS = {"avg_pool2d": '''
def avg_pool2d(x, kernel_size, stride=None, padding=0):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (1, 1) if stride is None else (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    H_out, W_out = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].mean(axis=(2, 3))
    return out
'''}
EXPECT = {"highpass_answer": 0, "test_avg_pool2d": 0}
MESSAGES = ["the windows overlap"]
