"""Problem set 5, a convolutional network from your own layers: ``source/ps5``'s tasks.

Students write layers as objects (``forward``, ``backward``, dicts ``params``, ``grads``
and ``buffers``), a ``Sequential`` that chains them, an SGD-with-momentum update, the
sanity checks of training (initial loss, a gradient check of the whole network,
overfitting 50 digits) and train the network on real MNIST digits. The judged process
has NumPy only; every expected value is computed here, in the judge's process, with
PyTorch's autograd in float64 (:func:`course.ops.pytorch.device`: CUDA with TF32 off when
there is a GPU).

==============================  ==========================================================
task                            how the judge decides
==============================  ==========================================================
``test_conv2d`` ...             a procedure builds the student's layer class in the judged
``test_batch_norm``             process with the judge's constructor arguments, parameters
                                and buffers, runs forward and backward steps (training and
                                evaluation mode) on fresh inputs and returns the outputs,
                                the input gradients, ``grads`` and ``buffers`` (batch
                                norm's running statistics), compared with PyTorch
``test_sequential``             the student's ``Sequential`` around the judge's probe
                                layers: the order of the calls, the modes, the chained
                                values, ``parameters()`` (the layers' own arrays),
                                ``gradients()``, ``state_dict()`` (copies, with buffers)
``test_sgd_momentum``           a pure function, through the case engine, against
                                ``torch.optim.SGD(momentum=...)``
``test_initial_loss``           the student's ``make_network()`` as it initialises itself:
                                the loss ``initial_loss`` returns must be the judge's loss
                                of the same weights and within :data:`INITIAL_LOSS_BAND`
                                of ln 10
``test_gradient_check_network`` small networks of the student's layers with the judge's
                                weights, some with one gradient made wrong: the check must
                                report less than :data:`GRADIENT_BOUND` for a right one and
                                more than :data:`BROKEN_BOUND` for a broken one (the true
                                errors come from autograd); the student's own backward
                                pass must be right
``test_overfit_small``          ``overfit_small`` on a fresh ``make_network()`` and 50
                                training digits: the judge computes the trained weights'
                                accuracy on them itself (100 % required)
``test_trained_network``        the notebook's ``trained`` state dict (and its ``history`` of
                                losses), exported from the kernel as arrays, evaluated in
                                the judge's PyTorch copy of the architecture on the
                                held-out test split of ``data.mnist()``: at least
                                :data:`REQUIRED_ACCURACY`
``test_conv2d_naive``           ps2's conv2d cases and diagnoses
``test_timing``                 the exported timings: consistent, a speed-up above 1, on
                                the stated input (timings cannot be trusted, so that is
                                what is graded)
==============================  ==========================================================
"""
from __future__ import annotations

from .common import (
                     BROKEN_BOUND,
                     GRADIENT_BOUND,
                     INITIAL_LOSS_BAND,
                     NETWORK,
                     OVERFIT_SIZE,
                     REQUIRED_ACCURACY,
                     TIMING_INPUT,
                     TIMING_WEIGHT,
)
from .layers import (
                     BatchNorm2dLayer,
                     Conv2dLayer,
                     FlattenLayer,
                     LinearLayer,
                     MaxPool2dLayer,
                     ReLULayer,
                     SoftmaxCrossEntropyLoss,
)
from .network import (
                     SequentialNetwork,
                     SGDMomentum,
                     network_from_state,
                     reference_network,
                     state_keys,
)
from .sanity import (
                     TINY_NETWORKS,
                     GradientCheckNetwork,
                     InitialLoss,
                     OverfitSmall,
                     network_error,
)
from .training import Conv2dNaive, Timing, TrainedNetwork

__all__ = ["BROKEN_BOUND", "GRADIENT_BOUND", "INITIAL_LOSS_BAND", "NETWORK", "OVERFIT_SIZE",
           "REQUIRED_ACCURACY", "TIMING_INPUT", "TIMING_WEIGHT", "check_batch_norm",
           "check_conv2d", "check_conv2d_naive", "check_flatten", "check_gradient_check_network",
           "check_initial_loss", "check_linear", "check_max_pool2d", "check_overfit_small",
           "check_relu", "check_sequential", "check_sgd_momentum", "check_softmax_cross_entropy",
           "check_timing", "check_trained_network", "network_error", "network_from_state",
           "reference_network", "state_keys", "TINY_NETWORKS"]

check_conv2d = Conv2dLayer.check
check_relu = ReLULayer.check
check_max_pool2d = MaxPool2dLayer.check
check_flatten = FlattenLayer.check
check_linear = LinearLayer.check
check_softmax_cross_entropy = SoftmaxCrossEntropyLoss.check
check_batch_norm = BatchNorm2dLayer.check
check_sequential = SequentialNetwork.check
check_sgd_momentum = SGDMomentum.check
check_initial_loss = InitialLoss.check
check_gradient_check_network = GradientCheckNetwork.check
check_overfit_small = OverfitSmall.check
check_trained_network = TrainedNetwork.check
check_conv2d_naive = Conv2dNaive.check
check_timing = Timing.check
