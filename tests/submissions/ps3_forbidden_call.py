"""conv_transpose2d calls torch.nn.functional.conv_transpose2d."""
ASSIGNMENT = "ps3"
CELLS = {"conv_transpose2d": '''
import torch
import torch.nn.functional as F


def conv_transpose2d(x, weight, stride=1, padding=0, output_padding=0):
    out = F.conv_transpose2d(torch.tensor(x, dtype=torch.float64), torch.tensor(weight, dtype=torch.float64),
                             stride=stride, padding=padding, output_padding=output_padding)
    return out.numpy()
'''}
EXPECT = {"transpose_answer": 0, "test_conv_transpose2d": 0}
MESSAGES = ["`torch` is not available when your functions are graded: the judge's process has only NumPy"]
