"""Generates the cases the grader will use from the seeds in the installed grading code,
computes their answers with course.ops outside any check, and looks them up."""
ASSIGNMENT = "ps1"
ATTACK = "precompute the hidden cases and answer from a table"
CELLS = {"correlate2d": '''
import zlib
import course.ops as _ops
from course.grading import ps1 as _ps1
from course.grading.cases import Rng as _Rng
_task = _ps1.Correlate2d.registered
TABLE = {{}}
for _seed in [zlib.crc32(b"correlate2d"), 303, 404, 0, 1, 2, 3]:
    for _case in _task.cases(_Rng(_seed), True):
        _i = _case.inputs()
        _key = (_i["image"].tobytes(), _i["kernel"].tobytes(), _i["image"].shape)
        TABLE[_key] = _ops.correlate2d(_i["image"].astype(float), _i["kernel"].astype(float))

def correlate2d(image, kernel):
    return TABLE[(image.tobytes(), kernel.tobytes(), image.shape)].copy()
'''}
EXPECT = {"test_correlate2d": 0}
MESSAGES = ["Your function raised KeyError"]
SIDE_EFFECTS = []
LIMITS = []
