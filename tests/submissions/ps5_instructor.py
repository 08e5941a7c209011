"""The instructor's solutions (the written answer waits for a manual grade)."""
ASSIGNMENT = "ps5"
EXPECT = {"batch_norm_answer": 0}
MESSAGES = ["conv2d: all 8 cases (visible and on fresh inputs) passed",
            "batch_norm: all 6 cases (visible and on fresh inputs) passed",
            "sequential: all hidden checks passed", "initial_loss: all hidden checks passed",
            "gradient_check_network: all 6 hidden checks passed",
            "overfit_small: all hidden checks passed",
            "computed by the judge in evaluation mode on", "timing: im2col"]
