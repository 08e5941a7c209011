"""The instructor's solutions (the written analysis waits for a manual grade)."""
ASSIGNMENT = "ps4"
EXPECT = {"regularization_answer": 0}
MESSAGES = ["LeNet5: all hidden checks passed", "train_epoch: all", "evaluate: all",
            "computed by the judge on", "early_stopping: all 17 cases (visible and on fresh inputs) passed",
            "experiment: all hidden checks passed"]
