"""Conv2d.backward is written for one image and looped over the batch with `=`: grads["weight"]
keeps the last image's contribution only (the batch axis is not summed)."""
ASSIGNMENT = "ps5"
CELLS = {"conv2d": '''
class Conv2d(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 weight_scale=None):
        super().__init__()
        self.kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) \\
            else tuple(kernel_size)
        self.stride, self.padding = stride, padding
        KH, KW = self.kernel_size
        if weight_scale is None:
            weight_scale = np.sqrt(2.0 / (in_channels * KH * KW))
        self.params["weight"] = np.random.randn(out_channels, in_channels, KH, KW) * weight_scale
        self.params["bias"] = np.zeros(out_channels)

    def forward(self, x):
        weight, bias = self.params["weight"], self.params["bias"]
        F, C, KH, KW = weight.shape
        N, _, H, W = x.shape
        sh, sw = (self.stride, self.stride) if isinstance(self.stride, int) else self.stride
        ph, pw = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
        H_out, W_out = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
        cols = im2col(x, self.kernel_size, self.stride, self.padding)
        self.cache = (x.shape, cols)
        return (weight.reshape(F, -1) @ cols + bias[:, None]).reshape(N, F, H_out, W_out)

    def backward(self, grad_out):
        weight = self.params["weight"]
        F = weight.shape[0]
        N = grad_out.shape[0]
        x_shape, cols = self.cache
        g = grad_out.reshape(N, F, -1)
        for n in range(N):  # one image at a time, as derived for a single image
            grad_w = g[n] @ cols[n].T
        self.grads["weight"] = grad_w.reshape(weight.shape)
        self.grads["bias"] = g.sum(axis=(0, 2))
        return col2im(weight.reshape(F, -1).T @ g, x_shape, self.kernel_size, self.stride,
                      self.padding)
'''}
EXPECT = {"test_conv2d": 0, "test_gradient_check_network": 0, "batch_norm_answer": 0}
MESSAGES = ["grad_weight is not summed over the batch: it holds the last image's contribution",
            "Your network's own backward pass is wrong: the gradient of '0.weight'"]
