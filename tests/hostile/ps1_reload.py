"""Rebinds importlib.reload and the checks so that every test cell passes, with blank answers
(a blank ps1 got 15/15 this way when the checks ran in the student's kernel)."""
ASSIGNMENT = "ps1"
ATTACK = "replace the checks in the kernel"
CELLS = {"correlate1d": '''
import importlib, types
import course.grading
from course.grading import engine, ps1
fake = types.SimpleNamespace(**{{name: (lambda *a, **k: print("all cases passed"))
                                 for name in ps1.__all__}})
importlib.reload = lambda module: fake
for name in ps1.__all__:
    setattr(ps1, name, getattr(fake, name))
engine.Task.check = classmethod(lambda cls, *a, **k: print("all cases passed"))

def correlate1d(x, w):
    raise NotImplementedError()
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["Your function raised NotImplementedError"]
SIDE_EFFECTS = []
LIMITS = []
BLANK_OTHERS = True
