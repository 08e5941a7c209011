"""correlate2d_general puts d empty cells between the taps instead of d - 1."""
ASSIGNMENT = "ps1"
CELLS = {"correlate2d_general": '''
def correlate2d_general(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    kernel = np.asarray(kernel, dtype=np.float64)
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    KH, KW = kernel.shape
    dilated = np.zeros(((dh + 1) * (KH - 1) + 1, (dw + 1) * (KW - 1) + 1))
    dilated[::dh + 1, ::dw + 1] = kernel
    return correlate2d_strided(pad2d(image, padding, padding_mode), dilated, stride)
'''}
EXPECT = {"test_correlate2d_general": 0}
MESSAGES = ["the dilation is off by one"]
