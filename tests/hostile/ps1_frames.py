"""Student functions write frames straight onto the judged process's channel to the judge
(its file descriptors are the student's own): a 200 MB length, a 3.9 MB header of empty
lists, bytes that are not a frame, and JSON nested 100,000 deep. Each must fail its own
task only."""
ASSIGNMENT = "ps1"
ATTACK = "malformed and oversized frames on the judge's pipe"
_WRITE = '''
import os as _os, struct as _struct

def _send(payload):
    for fd in range(3, 32):
        try:
            _os.write(fd, payload)
        except OSError:
            pass
'''
CELLS = {
    "correlate1d": _WRITE + '''
def correlate1d(x, w):
    _send(_struct.pack(">Q", 200_000_000))
    import time
    time.sleep(60)
''',
    "correlate2d": '''
def correlate2d(image, kernel):
    header = b"[" + b"[]," * 1_300_000 + b"[]]"
    frame = _struct.pack(">QQ", len(header), 0) + header
    _send(_struct.pack(">Q", len(frame)) + frame)
    import time
    time.sleep(60)
''',
    "pad2d": '''
def pad2d(image, padding, mode="zeros"):
    junk = b"this is not a message of the wire format, just bytes"
    _send(_struct.pack(">Q", len(junk)) + junk)
    import time
    time.sleep(60)
''',
    "output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    header = b"[" * 100_000 + b"]" * 100_000
    frame = _struct.pack(">QQ", len(header), 0) + header
    _send(_struct.pack(">Q", len(frame)) + frame)
    import time
    time.sleep(60)
'''}
# convolve1d calls correlate1d, and correlate2d_general pad2d; correlate2d_strided is honest
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_general": 0}
MESSAGES = ["not plain data"]
SIDE_EFFECTS = ["honest_scores_kept", "grader_memory_bounded", "within_budget"]
LIMITS = []
