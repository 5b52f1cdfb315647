"""Data sets: the synthetic models of the papers and loaders for MNIST and CIFAR-10."""

from ._loaders import (
    DataFileError,
    fetch_cifar10,
    fetch_mnist,
    get_data_home,
)

# Deprecated aliases (FutureWarning), removed in 0.3: importable, but not in __all__.
from ._loaders import load_cifar10 as load_cifar10
from ._loaders import load_mnist as load_mnist
from ._spiked import make_spiked
from ._synthetic import make_low_rank_patches

__all__ = [
    "make_low_rank_patches",
    "make_spiked",
    "fetch_mnist",
    "fetch_cifar10",
    "get_data_home",
    "DataFileError",
]
