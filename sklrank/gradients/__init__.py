"""The first-layer gradient of two-layer networks: its spectrum and its two rank-one terms."""

from ._decomposition import (
    GradientDecomposition,
    autograd_gradient,
    gradient_decomposition,
    penalty,
)

__all__ = ["GradientDecomposition", "autograd_gradient", "gradient_decomposition", "penalty"]
