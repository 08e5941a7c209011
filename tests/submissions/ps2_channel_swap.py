"""conv2d reads weight as (C, F, KH, KW)."""
ASSIGNMENT = "ps2"
CELLS = {"conv2d": '''
def conv2d(x, weight, bias=None, stride=1, padding=0):
    x = np.asarray(x, dtype=np.float64)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    H_out, W_out = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
                    out[n, f, i, j] = sum(np.sum(window[c] * weight[c, f]) for c in range(C))
            if bias is not None:
                out[n, f] += bias[f]
    return out
'''}
EXPECT = {"highpass_answer": 0, "test_conv2d": 0}
MESSAGES = ["the channel and filter axes are swapped"]
