"""BatchNorm2d normalises with the batch's statistics in evaluation mode too (the running
statistics are updated, but never used)."""
ASSIGNMENT = "ps5"
CELLS = {"batch_norm": '''
class BatchNorm2d(Layer):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.params["weight"] = np.ones(num_features)
        self.params["bias"] = np.zeros(num_features)
        self.buffers["running_mean"] = np.zeros(num_features)
        self.buffers["running_var"] = np.ones(num_features)

    def forward(self, x):
        gamma, beta = self.params["weight"], self.params["bias"]
        N, C, H, W = x.shape
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        if self.training:
            m = N * H * W
            b = self.buffers
            b["running_mean"] = (1 - self.momentum) * b["running_mean"] + self.momentum * mean
            b["running_var"] = ((1 - self.momentum) * b["running_var"]
                                + self.momentum * var * m / (m - 1))
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
        self.cache = (x_hat, inv_std)
        return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]

    def backward(self, grad_out):
        gamma = self.params["weight"]
        x_hat, inv_std = self.cache
        self.grads["weight"] = (grad_out * x_hat).sum(axis=(0, 2, 3))
        self.grads["bias"] = grad_out.sum(axis=(0, 2, 3))
        g = grad_out * gamma[None, :, None, None]
        mean_g = g.mean(axis=(0, 2, 3), keepdims=True)
        mean_gx = (g * x_hat).mean(axis=(0, 2, 3), keepdims=True)
        return (g - mean_g - x_hat * mean_gx) * inv_std[None, :, None, None]
'''}
EXPECT = {"test_batch_norm": 0, "batch_norm_answer": 0}
MESSAGES = ["in evaluation mode batch norm must use the running statistics"]
