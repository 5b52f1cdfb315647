"""Data sets: the synthetic models of the papers and loaders for MNIST and CIFAR-10."""

from ._loaders import DataFileError, get_data_home, load_cifar10, load_mnist
from ._spiked import make_spiked
from ._synthetic import make_low_rank_patches

__all__ = [
    "make_low_rank_patches",
    "make_spiked",
    "load_mnist",
    "load_cifar10",
    "get_data_home",
    "DataFileError",
]
