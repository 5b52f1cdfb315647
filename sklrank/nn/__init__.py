"""PyTorch modules: the networks and activations of the papers."""

from ._activations import HuberizedReLU, huberized_relu, huberized_relu_derivative
from ._two_layer_cnn import TwoLayerCNN
from ._two_layer_net import TwoLayerNet

__all__ = [
    "HuberizedReLU",
    "TwoLayerCNN",
    "TwoLayerNet",
    "huberized_relu",
    "huberized_relu_derivative",
]
