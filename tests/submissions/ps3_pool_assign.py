"""max_pool2d_backward assigns the gradient where windows overlap instead of adding it."""
ASSIGNMENT = "ps3"
CELLS = {"max_pool2d_backward": '''
def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
    grad_out = np.asarray(grad_out, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        stride = (kh, kw)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    N, C, H, W = x.shape
    grad_x = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(grad_out.shape[2]):
                for j in range(grad_out.shape[3]):
                    window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    grad_x[n, c, i * sh + a, j * sw + b] = grad_out[n, c, i, j]
    return grad_x
'''}
EXPECT = {"transpose_answer": 0, "test_max_pool2d_backward": 0}
MESSAGES = ["the gradient is assigned (`grad[...] = g`) where windows overlap"]
