"""The instructor's solutions (the written answer waits for a manual grade)."""
ASSIGNMENT = "ps3"
EXPECT = {"transpose_answer": 0}
MESSAGES = ["conv2d_backward: all 7 cases (visible and on fresh inputs) passed",
            "gradient_check: all 5 cases (visible and on fresh inputs) passed"]
