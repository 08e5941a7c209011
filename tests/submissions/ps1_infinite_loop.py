"""output_size never returns: the judge stops it at its time limit per call."""
ASSIGNMENT = "ps1"
CELLS = {"output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    size = 0
    while size != -1:
        size = (size + 1) % 7
    return size
'''}
EXPECT = {"test_output_size": 0}
MESSAGES = ["Your function did not return within 10 s"]
