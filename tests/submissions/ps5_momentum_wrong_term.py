"""sgd_momentum applies the momentum to the gradient instead of the velocity:
v_next = v + momentum * dw, so the velocity never decays. The 20 full-batch steps of
overfit_small still fit 50 digits; the 480 steps of part 4 diverge."""
ASSIGNMENT = "ps5"
CELLS = {"sgd_momentum": '''
def sgd_momentum(w, dw, v, lr, momentum=0.9):
    v_next = v + momentum * dw
    return w - lr * v_next, v_next
'''}
EXPECT = {"test_sgd_momentum": 0, "test_trained_network": 0, "batch_norm_answer": 0}
MESSAGES = ["momentum is applied to the wrong term: it scales the previous velocity",
            "the training diverged"]
