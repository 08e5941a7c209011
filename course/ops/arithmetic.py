"""Convolution arithmetic: output sizes, receptive fields and parameter counts.

These are the formulas of the lectures written once; every operation in the
library computes its output shape through :func:`conv_output_size`, so the
numbers a student derives by hand, the shapes the operations return and the
grids the explorers draw cannot disagree.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral

__all__ = [
    "Layer",
    "LayerField",
    "conv_output_size",
    "num_parameters",
    "receptive_field",
    "same_padding",
]


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"`{name}` must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return int(value)


def conv_output_size(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    ceil_mode: bool = False,
    transposed: bool = False,
    output_padding: int = 0,
) -> int:
    """Size of a convolution's or pooling's output along one spatial axis.

    Parameters
    ----------
    input_size : int
        Size of the input along the axis (``H`` or ``W``).
    kernel_size, stride, padding, dilation : int
        As in ``torch.nn.Conv2d``; ``padding`` is added on both sides.
    ceil_mode : bool, keyword-only
        Round up instead of down, as pooling's ``ceil_mode``. A last window that
        would start in the right-hand padding is dropped, as PyTorch does.
    transposed : bool, keyword-only
        Size of a transposed convolution's output instead.
    output_padding : int, keyword-only
        Extra rows added on one side by a transposed convolution.

    Returns
    -------
    int
        ``floor((input_size + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``,
        or for ``transposed=True``
        ``(input_size - 1) stride - 2 padding + dilation (kernel_size - 1) + output_padding + 1``.

    Raises
    ------
    ValueError
        If a size is below its minimum, or the dilated kernel is larger than the
        padded input.

    Notes
    -----
    The dilated kernel covers ``dilation (kernel_size - 1) + 1`` input cells; after
    placing it at the first position the remaining cells allow one more output per
    ``stride`` cells. See notebook 03, "The convolutional layer".

    Examples
    --------
    AlexNet's first layer: 11x11 kernels with stride 4 on a 227x227 image.

    >>> conv_output_size(227, 11, stride=4)
    55
    >>> conv_output_size(5, 3, padding=1)
    5
    >>> conv_output_size(2, 2, transposed=True)
    3
    """
    input_size = _int(input_size, "input_size", 1)
    kernel_size = _int(kernel_size, "kernel_size", 1)
    stride = _int(stride, "stride", 1)
    padding = _int(padding, "padding", 0)
    dilation = _int(dilation, "dilation", 1)
    output_padding = _int(output_padding, "output_padding", 0)
    span = dilation * (kernel_size - 1) + 1
    if transposed:
        if output_padding >= max(stride, dilation):
            raise ValueError(
                f"`output_padding` must be smaller than `stride` or `dilation`, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
        size = (input_size - 1) * stride - 2 * padding + span + output_padding
        if size < 1:
            raise ValueError(
                f"`padding`={padding} removes the whole output of the transposed convolution "
                f"(it would have size {size})"
            )
        return size
    if output_padding:
        raise ValueError("`output_padding` only applies with transposed=True")
    room = input_size + 2 * padding - span
    # Floor division rounds towards -inf, as PyTorch's; ceil_mode adds stride - 1 first,
    # which lets one last window hang over the right-hand padding.
    size = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    # PyTorch: the last pooling window must start inside the input or the left padding.
    if ceil_mode and size > 1 and (size - 1) * stride >= input_size + padding:
        size -= 1
    if size < 1:
        raise ValueError(
            f"kernel of size {kernel_size} (covering {span} cells with dilation {dilation}) "
            f"is larger than the padded input of size {input_size + 2 * padding}"
        )
    return size


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that keeps the size at stride 1, as PyTorch's ``padding='same'``.

    An even total is split equally; an odd total puts the extra cell after.

    Examples
    --------
    >>> same_padding(3)
    (1, 1)
    >>> same_padding(4)
    (1, 2)
    """
    kernel_size = _int(kernel_size, "kernel_size", 1)
    dilation = _int(dilation, "dilation", 1)
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2


def num_parameters(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, ...] = 1,
    *,
    bias: bool = True,
    groups: int = 1,
) -> int:
    """Number of learnable parameters of a convolutional or dense layer.

    A dense layer ``nn.Linear(in_features, out_features)`` is a 1x1 convolution on
    a single pixel, so it is counted with the default ``kernel_size=1``.

    Parameters
    ----------
    in_channels, out_channels : int
        Input channels ``C`` (or input features) and filters ``F`` (or output features).
    kernel_size : int or tuple of int
        ``K`` for a square KxK kernel (as ``nn.Conv2d``), or one size per spatial
        axis: ``(K,)`` for ``nn.Conv1d``, ``(KD, KH, KW)`` for ``nn.Conv3d``.
    bias : bool, keyword-only
        Whether each filter has a bias.
    groups : int, keyword-only
        Grouped convolution: each filter sees ``C / groups`` channels.

    Returns
    -------
    int
        ``F * (C / groups) * prod(kernel_size) + (F if bias else 0)``.

    Examples
    --------
    Two 3x3 filters on an RGB image, without bias, and the MNIST dense network:

    >>> num_parameters(3, 2, 3, bias=False)
    54
    >>> num_parameters(784, 1000), num_parameters(1000, 10)
    (785000, 10010)
    """
    in_channels = _int(in_channels, "in_channels", 1)
    out_channels = _int(out_channels, "out_channels", 1)
    groups = _int(groups, "groups", 1)
    sizes = (kernel_size,) * 2 if isinstance(kernel_size, Integral) else tuple(kernel_size)
    if not sizes:
        raise ValueError("`kernel_size` must name at least one size, got ()")
    sizes = tuple(_int(k, "kernel_size", 1) for k in sizes)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"`groups`={groups} must divide in_channels={in_channels} and out_channels={out_channels}"
        )
    return out_channels * (in_channels // groups) * math.prod(sizes) + (out_channels if bias else 0)


@dataclass(frozen=True)
class Layer:
    """One layer of a stack, for :func:`receptive_field`: convolution or pooling alike."""

    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = "conv"


@dataclass(frozen=True)
class LayerField:
    """Receptive field of the units after one layer, in input pixels.

    ``size``: how many input pixels one unit sees; ``jump``: the distance in input
    pixels between neighbouring units; ``start``: the input coordinate of the
    centre of the first unit's field (negative when padding moves it outside).
    """

    layer: Layer
    size: int
    jump: int
    start: float

    def span(self, index: int) -> tuple[float, float]:
        """First and last input coordinate seen by unit ``index`` of this layer."""
        centre = self.start + index * self.jump
        half = (self.size - 1) / 2
        return centre - half, centre + half


def _as_layer(spec, position: int) -> Layer:
    if isinstance(spec, Layer):
        layer = spec
    elif isinstance(spec, Mapping):
        unknown = set(spec) - {"kernel_size", "stride", "padding", "dilation", "name"}
        if unknown or "kernel_size" not in spec:
            raise ValueError(
                f"`layers[{position}]` must have a kernel_size and only kernel_size, stride, "
                f"padding, dilation, name; got keys {sorted(spec)}"
            )
        layer = Layer(**spec)
    else:
        raise TypeError(f"`layers[{position}]` must be a Layer or a dict, got {type(spec).__name__}")
    for field, minimum in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        _int(getattr(layer, field), f"layers[{position}].{field}", minimum)
    return layer


def receptive_field(layers: Iterable[Layer | Mapping]) -> list[LayerField]:
    """Receptive field size, jump and start after each layer of a stack.

    Parameters
    ----------
    layers : iterable of Layer or dict
        Convolution and pooling layers in order, each with ``kernel_size`` and
        optionally ``stride``, ``padding``, ``dilation`` and ``name``.

    Returns
    -------
    list of LayerField
        One record per layer. With ``k' = dilation (kernel_size - 1) + 1``:
        ``size = size_prev + (k' - 1) jump_prev``, ``jump = jump_prev stride``,
        ``start = start_prev + ((k' - 1) / 2 - padding) jump_prev``, starting from a
        single input pixel (size 1, jump 1, start 0).

    Examples
    --------
    Three stacked 3x3 convolutions see 3, 5 and 7 pixels:

    >>> [f.size for f in receptive_field([Layer(3)] * 3)]
    [3, 5, 7]
    """
    size, jump, start = 1, 1, 0.0
    fields = []
    for position, spec in enumerate(layers):
        layer = _as_layer(spec, position)
        span = layer.dilation * (layer.kernel_size - 1) + 1
        size = size + (span - 1) * jump
        start = start + ((span - 1) / 2 - layer.padding) * jump
        jump = jump * layer.stride
        fields.append(LayerField(layer, size, jump, start))
    return fields

