"""correlate2d_general forgets the padding."""
ASSIGNMENT = "ps1"
CELLS = {"correlate2d_general": '''
def correlate2d_general(image, kernel, stride=1, padding=0, dilation=1, padding_mode="zeros"):
    kernel = np.asarray(kernel, dtype=np.float64)
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    KH, KW = kernel.shape
    dilated = np.zeros((dh * (KH - 1) + 1, dw * (KW - 1) + 1))
    dilated[::dh, ::dw] = kernel
    return correlate2d_strided(image, dilated, stride)
'''}
EXPECT = {"test_correlate2d_general": 0}
MESSAGES = ["Likely mistake: the padding is missing"]
