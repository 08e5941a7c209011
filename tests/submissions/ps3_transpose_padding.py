"""conv_transpose2d returns the full result: the padding is never cropped."""
ASSIGNMENT = "ps3"
CELLS = {"conv_transpose2d": '''
def conv_transpose2d(x, weight, stride=1, padding=0, output_padding=0):
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    oh, ow = (output_padding, output_padding) if isinstance(output_padding, int) else output_padding
    N, C, H, W = x.shape
    _, F, KH, KW = weight.shape
    full = np.zeros((N, F, (H - 1) * sh + KH + oh, (W - 1) * sw + KW + ow))
    for i in range(H):
        for j in range(W):
            full[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW] += np.einsum(
                "nc,cfab->nfab", x[:, :, i, j], weight)
    return full
'''}
EXPECT = {"transpose_answer": 0, "test_conv_transpose2d": 0}
MESSAGES = ["the padding is not cropped"]
