"""numerical_gradient uses the forward difference; gradient_check, which calls it on a loss
that is linear in each argument, still passes."""
ASSIGNMENT = "ps3"
CELLS = {"numerical_gradient": '''
def numerical_gradient(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    base = f(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + eps
        grad[index] = (f(x) - base) / eps
        x[index] = old
    return grad
'''}
EXPECT = {"transpose_answer": 0, "test_numerical_gradient": 0}
MESSAGES = ["forward difference (f(x + eps) - f(x)) / eps"]
