"""Copies another student's answers: reads their submitted notebook and runs its code."""
ASSIGNMENT = "ps1"
ATTACK = "read another student's notebook"
CELLS = {"correlate2d_general": '''  # the last answer cell, after every other definition
import glob, json
FOUND = []
for path in glob.glob("{root}/submitted/*/ps1/ps1.ipynb") + glob.glob("{root}/autograded/*/ps1/ps1.ipynb"):
    FOUND.append(path)
print("found", FOUND)
_ = [exec("".join(c["source"]), globals())
     for p in sorted(__import__("glob").glob("{root}/submitted/ps1_honest*/ps1/ps1.ipynb"))[:1]
     for c in __import__("json").load(open(p))["cells"]
     if c["cell_type"] == "code" and "def " in "".join(c["source"])]
'''}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["`correlate2d_general` is not defined when the judge rebuilds your notebook",
            "Your function raised NotImplementedError"]
SIDE_EFFECTS = ["course_files_unchanged"]
LIMITS = []
BLANK_OTHERS = True
