"""im2col orders its rows (kernel row, kernel column, channel); conv2d_matmul, which uses it
with weight.reshape(F, -1), fails too."""
ASSIGNMENT = "ps3"
CELLS = {"im2col": '''
def im2col(x, kernel_size, stride=1, padding=0):
    x = np.asarray(x, dtype=np.float64)
    KH, KW = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, C, H, W = x.shape
    H_out, W_out = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    cols = np.zeros((N, C * KH * KW, H_out * W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]  # (N, C, KH, KW)
            cols[:, :, i * W_out + j] = window.transpose(0, 2, 3, 1).reshape(N, -1)
    return cols
'''}
EXPECT = {"transpose_answer": 0, "test_im2col": 0, "test_conv2d_matmul": 0}
MESSAGES = ["the rows are in channel-last order",
            "the rows of your column matrix and the flattened weight are in different orders"]
