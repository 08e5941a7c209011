"""The release notebook, unanswered."""
ASSIGNMENT = "ps1"
BLANK = True
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["Your function raised NotImplementedError"]
