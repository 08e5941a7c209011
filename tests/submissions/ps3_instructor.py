"""The instructor's solutions (the written answer waits for a manual grade)."""
ASSIGNMENT = "ps3"
EXPECT = {"transpose_answer": 0}
MESSAGES = ["conv2d_backward: all 7 hidden cases passed", "gradient_check: all 5 hidden cases passed"]
