"""PyTorch references for tests and graders: the same call, run by torch in float64.

``reference("conv2d", x, weight, stride=2)`` runs ``torch.nn.functional.conv2d``
on the arrays converted to float64 tensors, on the GPU when there is one (with
TF32 off, so a float64 answer is exact to float64 rounding), and returns NumPy
arrays together with the device that computed them. Arguments and results follow
:mod:`course.ops`, so a test can compare ``ops.X(*args)`` with
``reference("X", *args)`` for every operation.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = ["OPERATIONS", "Reference", "device", "reference"]


class Reference(NamedTuple):
    """A reference result: NumPy array(s) and the torch device that computed them."""

    value: Any  # ndarray, or a tuple of ndarrays for backward passes and indices
    device: str


def device():
    """The device references run on: CUDA when available, else the CPU.

    Also turns TF32 off for cuDNN and matmul: on Ampere and newer GPUs cuDNN may
    otherwise compute float32 convolutions with 10 mantissa bits.
    """
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensor(value, dev, grad: bool = False):
    import torch

    if value is None:
        return None
    t = torch.as_tensor(np.asarray(value, dtype=np.float64), device=dev)
    return t.requires_grad_(grad)


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _conv(F, spatial: int):
    conv = F.conv1d if spatial == 1 else F.conv2d

    def run(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        import torch

        if padding_mode == "zeros":
            return conv(x, weight, bias, stride, padding, dilation, groups)
        # nn.Conv1d/Conv2d with another padding mode pads first, then convolves unpadded.
        module = (torch.nn.Conv1d if spatial == 1 else torch.nn.Conv2d)(
            weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=stride,
            padding=padding, dilation=dilation, groups=groups, bias=bias is not None,
            padding_mode=padding_mode, device=weight.device, dtype=weight.dtype,
        )
        with torch.no_grad():
            module.weight.copy_(weight)
            if bias is not None:
                module.bias.copy_(bias)
        return module(x)

    return run


def _single(F, flip: bool):
    def run(image, kernel, mode="valid"):
        k = kernel.flip((0, 1)) if flip else kernel
        KH, KW = k.shape
        if mode == "full":
            padding = (KH - 1, KW - 1)
        elif mode == "same":
            padding = "same"
        else:
            padding = 0
        return F.conv2d(image[None, None], k[None, None], padding=padding)[0, 0]

    return run


def _conv2d_backward(F):
    def run(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
        x, weight = x.requires_grad_(), weight.requires_grad_()
        bias = weight.new_zeros(weight.shape[0]).requires_grad_()
        F.conv2d(x, weight, bias, stride, padding, dilation, groups).backward(grad_out)
        return x.grad, weight.grad, bias.grad

    return run


def _pool_backward(pool):
    def run(grad_out, x, *args, **kwargs):
        x = x.requires_grad_()
        pool(x, *args, **kwargs).backward(grad_out)
        return x.grad

    return run


def _operations() -> dict[str, Callable]:
    import torch.nn.functional as F

    return {
        "pad": lambda x, pad, mode="constant", value=0.0: F.pad(x, tuple(pad), mode=mode, value=value if mode == "constant" else None),
        "conv1d": _conv(F, 1),
        "conv2d": _conv(F, 2),
        "correlate2d": _single(F, flip=False),
        "convolve2d": _single(F, flip=True),
        "conv_transpose2d": F.conv_transpose2d,
        "max_pool2d": F.max_pool2d,
        "avg_pool2d": F.avg_pool2d,
        "conv2d_backward": _conv2d_backward(F),
        "max_pool2d_backward": _pool_backward(F.max_pool2d),
        "avg_pool2d_backward": _pool_backward(F.avg_pool2d),
    }


#: Names of the operations :func:`reference` can run.
OPERATIONS = (
    "pad", "conv1d", "conv2d", "correlate2d", "convolve2d", "conv_transpose2d",
    "max_pool2d", "avg_pool2d", "conv2d_backward", "max_pool2d_backward", "avg_pool2d_backward",
)


def reference(name: str, *args: Any, **kwargs: Any) -> Reference:
    """Run the torch counterpart of ``course.ops.<name>`` in float64; return NumPy and the device.

    Parameters
    ----------
    name : str
        One of :data:`OPERATIONS`.
    *args, **kwargs
        The arguments of ``course.ops.<name>``; arrays (positional, and ``bias``)
        become float64 tensors on :func:`device`.

    Returns
    -------
    Reference
        ``value``: an ndarray, or a tuple of them (backward passes give
        ``(grad_x, grad_weight, grad_bias)``; ``return_indices`` gives ``(out, indices)``);
        ``device``: 'cuda' or 'cpu'.

    Examples
    --------
    >>> r = reference("conv1d", np.array([[[1, 2, 3, 4]]]), np.array([[[1, -1]]]))
    >>> r.value
    array([[[-1., -1., -1.]]])
    """
    if name not in OPERATIONS:
        raise ValueError(f"`name` must be one of {OPERATIONS}, got {name!r}")
    import torch

    dev = device()
    tensors = [_tensor(a, dev) if isinstance(a, (np.ndarray, list)) else a for a in args]
    if "bias" in kwargs:
        kwargs["bias"] = _tensor(kwargs["bias"], dev)
    with torch.no_grad() if not name.endswith("backward") else torch.enable_grad():
        out = _operations()[name](*tensors, **kwargs)
    value = tuple(_numpy(t) for t in out) if isinstance(out, tuple) else _numpy(out)
    return Reference(value, dev.type)
