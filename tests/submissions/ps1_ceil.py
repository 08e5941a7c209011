"""output_size rounds up."""
ASSIGNMENT = "ps1"
CELLS = {"output_size": '''
import math

def output_size(n, k, s=1, p=0, d=1):
    return math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1
'''}
EXPECT = {"test_output_size": 0}
MESSAGES = ["you rounded up"]
