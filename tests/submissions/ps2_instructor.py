"""The instructor's solutions (the written answer waits for a manual grade)."""
ASSIGNMENT = "ps2"
EXPECT = {"highpass_answer": 0}
MESSAGES = ["conv2d: all 10 cases (visible and on fresh inputs) passed"]
