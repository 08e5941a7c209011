"""conv2d_backward lets torch.autograd differentiate a loop-built convolution."""
ASSIGNMENT = "ps3"
CELLS = {"conv2d_backward": '''
import torch


def conv2d_backward(grad_out, x, weight, stride=1, padding=0):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(wt.shape[0], dtype=torch.float64, requires_grad=True)
    g = torch.tensor(grad_out, dtype=torch.float64)
    xp = torch.zeros(xt.shape[0], xt.shape[1], xt.shape[2] + 2 * ph, xt.shape[3] + 2 * pw, dtype=torch.float64)
    xp[:, :, ph:ph + xt.shape[2], pw:pw + xt.shape[3]] = xt
    KH, KW = wt.shape[2:]
    loss = 0
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            window = xp[:, :, i * sh:i * sh + KH, j * sw:j * sw + KW]
            out = torch.einsum("ncab,fcab->nf", window, wt) + bt
            loss = loss + (out * g[:, :, i, j]).sum()
    gx, gw, gb = torch.autograd.grad(loss, (xt, wt, bt))
    return gx.numpy(), gw.numpy(), gb.numpy()
'''}
EXPECT = {"transpose_answer": 0, "test_conv2d_backward": 0}
MESSAGES = ["`torch` is not available when your functions are graded: the judge's process has only NumPy"]
