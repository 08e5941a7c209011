"""gradient_check_network takes problem set 3's relative error per parameter array: the bias of
the convolution before batch norm has a true gradient of 0, so its error compares rounding
noise with rounding noise and the check reports about 1 for a right network."""
ASSIGNMENT = "ps5"
CELLS = {"gradient_check_network": '''
def gradient_check_network(net, criterion, x, y, eps=1e-5):
    criterion.forward(net.forward(x), y)
    net.backward(criterion.backward())
    analytic = {name: g.copy() for name, g in net.gradients().items()}
    worst = 0.0
    for name, w in net.parameters().items():
        numeric = np.zeros_like(w)
        for k in np.ndindex(w.shape):
            old = w[k]
            w[k] = old + eps
            plus = criterion.forward(net.forward(x), y)
            w[k] = old - eps
            minus = criterion.forward(net.forward(x), y)
            w[k] = old
            numeric[k] = (plus - minus) / (2 * eps)
        a = analytic[name]
        scale = max(np.max(np.abs(a)), np.max(np.abs(numeric)))
        worst = max(worst, np.max(np.abs(a - numeric)) / scale if scale > 0 else 0.0)
    return float(worst)
'''}
EXPECT = {"test_gradient_check_network": 0, "batch_norm_answer": 0}
MESSAGES = ["for a network whose gradients are right",
            "a conv bias before batch norm has gradient 0"]
