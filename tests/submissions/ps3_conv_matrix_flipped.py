"""Both convolution matrices hold the flipped kernel (a true convolution)."""
ASSIGNMENT = "ps3"
CELLS = {"conv_matrix_1d": '''
def conv_matrix_1d(L, kernel):
    kernel = np.asarray(kernel, dtype=np.float64)
    K = kernel.shape[0]
    M = np.zeros((L - K + 1, L))
    for i in range(L - K + 1):
        M[i, i:i + K] = kernel[::-1]
    return M
''', "conv_matrix_2d": '''
def conv_matrix_2d(input_shape, kernel):
    kernel = np.asarray(kernel, dtype=np.float64)[::-1, ::-1]
    H, W = input_shape
    KH, KW = kernel.shape
    H_out, W_out = H - KH + 1, W - KW + 1
    M = np.zeros((H_out * W_out, H * W))
    for i in range(H_out):
        for j in range(W_out):
            image = np.zeros((H, W))
            image[i:i + KH, j:j + KW] = kernel
            M[i * W_out + j] = image.ravel()
    return M
'''}
EXPECT = {"transpose_answer": 0, "test_conv_matrix_1d": 0, "test_conv_matrix_2d": 0}
MESSAGES = ["the kernel is flipped"]
