"""The release notebook, unanswered."""
ASSIGNMENT = "ps2"
BLANK = True
EXPECT = {"test_conv2d": 0, "test_max_pool2d": 0, "test_avg_pool2d": 0,
          "test_num_conv_parameters": 0, "test_receptive_field": 0, "highpass_answer": 0}
MESSAGES = ["Your function raised NotImplementedError"]
