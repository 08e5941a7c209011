"""grad_x correlates the zero-padded grad_out with the kernel as it is (not flipped)."""
ASSIGNMENT = "ps3"
CELLS = {"conv2d_backward": '''
def conv2d_backward(grad_out, x, weight, stride=1, padding=0):
    grad_out = np.asarray(grad_out, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = x.shape
    F, _, KH, KW = weight.shape
    _, _, H_out, W_out = grad_out.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    grad_weight = np.zeros_like(weight)
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
            grad_weight += np.tensordot(grad_out[:, :, i, j], window, axes=(0, 0))
    # spread grad_out with zeros between the values, pad by K - 1 and correlate with weight
    spread = np.zeros((N, F, (H_out - 1) * sh + 1, (W_out - 1) * sw + 1))
    spread[:, :, ::sh, ::sw] = grad_out
    big = np.zeros((N, F, spread.shape[2] + 2 * (KH - 1), spread.shape[3] + 2 * (KW - 1)))
    big[:, :, KH - 1:KH - 1 + spread.shape[2], KW - 1:KW - 1 + spread.shape[3]] = spread
    grad_xp = np.zeros_like(xp)
    for r in range(big.shape[2] - KH + 1):
        for c in range(big.shape[3] - KW + 1):
            grad_xp[:, :, r, c] = np.tensordot(big[:, :, r:r + KH, c:c + KW], weight,
                                               axes=([1, 2, 3], [0, 2, 3]))
    return grad_xp[:, :, ph:ph + H, pw:pw + W], grad_weight, grad_out.sum(axis=(0, 2, 3))
'''}
EXPECT = {"transpose_answer": 0, "test_conv2d_backward": 0}
MESSAGES = ["grad_x uses the kernel without flipping it"]
