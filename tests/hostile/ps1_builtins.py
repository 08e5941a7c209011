"""Rebinds built-ins the checks relied on (abs, round, min, sorted, all, any) in the kernel
and in the judge's rebuild of the notebook, around a flipped kernel."""
ASSIGNMENT = "ps1"
ATTACK = "rebind built-ins"
CELLS = {"correlate2d": '''
import builtins
for _name, _value in {{"abs": lambda v: 0, "round": lambda v, n=None: 0, "min": lambda *a, **k: 0,
                       "sorted": lambda v, **k: list(v), "all": lambda v: True,
                       "any": lambda v: False}}.items():
    setattr(builtins, _name, _value)
_ = setattr(builtins, "abs", lambda v: 0), setattr(builtins, "all", lambda v: True)

def correlate2d(image, kernel):
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)[::-1, ::-1]
    (H, W), (KH, KW) = image.shape, kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out
'''}
EXPECT = {"test_correlate2d": 0}
MESSAGES = ["the kernel is flipped"]
SIDE_EFFECTS = []
LIMITS = ["cell time"]
