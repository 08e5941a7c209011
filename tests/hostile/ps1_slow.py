"""Makes every cell sleep just under the cell timeout, so that grading it takes many
times the budget of a submission."""
ASSIGNMENT = "ps1"
ATTACK = "take much longer than a submission may"
CELLS = {name: "import time\ntime.sleep({nap})\n" + body for name, body in {
    "correlate1d": "def correlate1d(x, w):\n    raise NotImplementedError()",
    "convolve1d": "def convolve1d(x, w):\n    raise NotImplementedError()",
    "correlate2d": "def correlate2d(image, kernel):\n    raise NotImplementedError()",
    "pad2d": "def pad2d(image, padding, mode='zeros'):\n    raise NotImplementedError()",
    "output_size": "_ = time.sleep({nap})\ndef output_size(n, k, s=1, p=0, d=1):\n    raise NotImplementedError()",
    "correlate2d_strided": "def correlate2d_strided(image, kernel, stride=1):\n    raise NotImplementedError()",
    "correlate2d_general": "def correlate2d_general(image, kernel, stride=1, padding=0, dilation=1, padding_mode='zeros'):\n    raise NotImplementedError()",
}.items()}
EXPECT = {"test_correlate1d": 0, "test_convolve1d": 0, "test_correlate2d": 0, "test_pad2d": 0,
          "test_output_size": 0, "test_correlate2d_strided": 0, "test_correlate2d_general": 0}
MESSAGES = ["time budget"]
SIDE_EFFECTS = ["within_budget"]
LIMITS = ["time budget"]
