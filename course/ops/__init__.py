"""The course's operations in one namespace: ``import course.ops as ops``.

NumPy implementations with PyTorch's names, argument names and semantics, each
as a vectorized default and a ``*_naive`` loop that reads like the lecture
formula. The modules behind them hold one concept each:

==================  ==========================================================
:mod:`.padding`     ``pad`` with constant, reflect, replicate, circular modes
:mod:`.conv`        ``conv1d``, ``conv2d``, ``correlate2d``, ``convolve2d``, ``conv2d_backward``
:mod:`.pooling`     ``max_pool2d``, ``avg_pool2d`` and their backward passes
:mod:`.transposed`  ``conv_transpose2d``
:mod:`.im2col`      ``im2col``, ``col2im``: the sliding windows under all of them
:mod:`.matrix`      ``conv_matrix``: a convolution as a sparse matrix
:mod:`.arithmetic`  ``conv_output_size``, ``receptive_field``, ``num_parameters``
==================  ==========================================================
"""
from .arithmetic import (
    Layer,
    LayerField,
    conv_output_size,
    num_parameters,
    receptive_field,
    same_padding,
)
from .conv import (
    ConvGrads,
    conv1d,
    conv1d_naive,
    conv2d,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_naive,
    convolve2d,
    correlate2d,
)
from .im2col import col2im, im2col
from .matrix import conv_matrix
from .padding import pad, pad_naive
from .pooling import (
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_backward_naive,
    avg_pool2d_naive,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_backward_naive,
    max_pool2d_naive,
)
from .transposed import conv_transpose2d, conv_transpose2d_naive

__all__ = [
    "ConvGrads", "Layer", "LayerField",
    "avg_pool2d", "avg_pool2d_backward", "avg_pool2d_backward_naive", "avg_pool2d_naive",
    "col2im", "conv1d", "conv1d_naive", "conv2d", "conv2d_backward", "conv2d_backward_naive",
    "conv2d_naive", "conv_matrix", "conv_output_size", "conv_transpose2d", "conv_transpose2d_naive",
    "convolve2d", "correlate2d", "im2col",
    "max_pool2d", "max_pool2d_backward", "max_pool2d_backward_naive", "max_pool2d_naive",
    "num_parameters", "pad", "pad_naive", "receptive_field", "same_padding",
]
