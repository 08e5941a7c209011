"""The instructor's solutions (the written analysis waits for a manual grade)."""
ASSIGNMENT = "ps4"
EXPECT = {"regularization_answer": 0}
MESSAGES = ["LeNet5: all hidden checks passed", "train_epoch: all", "evaluate: all",
            "computed by the grader on", "early_stopping: all 13 hidden cases passed",
            "experiment: all hidden checks passed"]
