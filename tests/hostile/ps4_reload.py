"""Blank answers behind checks replaced in the kernel (10/15 for ps4 when the checks ran
there)."""
ASSIGNMENT = "ps4"
BLANK = True
ATTACK = "replace the checks in the kernel"
CELLS = {"lenet5": '''
import importlib, types
from course.grading import engine, ps4
importlib.reload = lambda module: types.SimpleNamespace(**{{n: (lambda *a, **k: None) for n in ps4.__all__}})
engine.Task.check = classmethod(lambda cls, *a, **k: print("all checks passed"))

class LeNet5(nn.Module):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        raise NotImplementedError()
'''}
EXPECT = {"test_lenet5": 0, "test_train_epoch": 0, "test_evaluate": 0, "test_trained_model": 0,
          "test_early_stopping": 0, "test_experiment": 0, "regularization_answer": 0}
MESSAGES = ["Your code raised NotImplementedError"]
SIDE_EFFECTS = []
LIMITS = []
