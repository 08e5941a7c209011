"""conv2d_backward assigns grad_weight per image (`=`), so only the last image counts."""
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
    grad_xp = np.zeros_like(xp)
    for n in range(N):
        grad_weight = np.zeros_like(weight)
        for i in range(H_out):
            for j in range(W_out):
                rows, cols = slice(i * sh, i * sh + KH), slice(j * sw, j * sw + KW)
                g = grad_out[n, :, i, j]
                grad_xp[n, :, rows, cols] += np.tensordot(g, weight, axes=(0, 0))
                grad_weight += g[:, None, None, None] * xp[n, None, :, rows, cols]
    return grad_xp[:, :, ph:ph + H, pw:pw + W], grad_weight, grad_out.sum(axis=(0, 2, 3))
'''}
EXPECT = {"transpose_answer": 0, "test_conv2d_backward": 0}
MESSAGES = ["grad_weight is not summed over the batch"]
