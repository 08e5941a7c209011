"""The release notebook, unanswered."""
ASSIGNMENT = "ps5"
BLANK = True
EXPECT = {"test_conv2d": 0, "test_relu": 0, "test_max_pool2d": 0, "test_flatten": 0,
          "test_linear": 0, "test_softmax_cross_entropy": 0, "test_batch_norm": 0,
          "test_sequential": 0, "test_sgd_momentum": 0, "test_initial_loss": 0,
          "test_gradient_check_network": 0, "test_overfit_small": 0,
          "test_trained_network": 0, "test_conv2d_naive": 0, "test_timing": 0,
          "batch_norm_answer": 0}
MESSAGES = ["Your code raised NotImplementedError", "Your function raised NotImplementedError",
            "`trained` and `history` could not be read", "`timing` could not be read"]
