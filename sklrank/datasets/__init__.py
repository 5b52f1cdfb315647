"""Data sets: the synthetic models of the papers and loaders for MNIST and CIFAR-10."""

from ._synthetic import make_low_rank_patches

__all__ = ["make_low_rank_patches"]
