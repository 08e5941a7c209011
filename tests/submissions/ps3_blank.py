"""The release notebook, unanswered."""
ASSIGNMENT = "ps3"
BLANK = True
EXPECT = {"test_im2col": 0, "test_conv2d_matmul": 0, "test_conv_matrix_1d": 0,
          "test_conv_matrix_2d": 0, "transpose_answer": 0, "test_conv_transpose2d": 0,
          "test_conv2d_backward": 0, "test_max_pool2d_backward": 0,
          "test_numerical_gradient": 0, "test_gradient_check": 0}
MESSAGES = ["Your function raised NotImplementedError"]
