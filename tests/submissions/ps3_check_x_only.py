"""gradient_check compares grad_x only: wrong weight or bias gradients go unnoticed."""
ASSIGNMENT = "ps3"
CELLS = {"gradient_check": '''
def gradient_check(forward, backward, x, weight, bias, grad_out, stride=1, padding=0):
    grad_x = backward(grad_out, x, weight, stride, padding)[0]
    numeric = numerical_gradient(lambda v: np.sum(forward(v, weight, bias, stride, padding) * grad_out), x)
    return float(np.max(np.abs(grad_x - numeric)) / max(np.max(np.abs(grad_x)), np.max(np.abs(numeric))))
'''}
EXPECT = {"transpose_answer": 0, "test_gradient_check": 0}
MESSAGES = ["compare all three gradients"]
