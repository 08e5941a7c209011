"""LeNet5 borrowed from course.models: refused wherever the model is graded."""
ASSIGNMENT = "ps4"
CELLS = {"lenet5": '''
class LeNet5(models.LeNet5):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__(num_classes=num_classes)
'''}
EXPECT = {"test_lenet5": 0, "test_trained_model": 0, "test_experiment": 0,
          "regularization_answer": 0}
MESSAGES = ["Forbidden: the model is (or contains) `course.models.LeNet5`",
            "`LeNet5` is not defined when the judge rebuilds your notebook",
            "No module named 'course'"]
