"""The first-layer gradient of two-layer networks: its spectrum, its two rank-one terms, and
the gradient paper's experiments (tidy DataFrames) with their figures."""

from ._decomposition import (
    GradientDecomposition,
    autograd_gradient,
    gradient_decomposition,
    penalty,
)
from ._plots import (
    plot_activation_study,
    plot_real_data_study,
    plot_regulariser_study,
    plot_spike_strength_study,
    plot_training_study,
)
from ._studies import (
    activation_study,
    real_data_study,
    regulariser_effects,
    regulariser_study,
    spike_strength_study,
    training_study,
)

__all__ = [
    "GradientDecomposition",
    "activation_study",
    "autograd_gradient",
    "gradient_decomposition",
    "penalty",
    "plot_activation_study",
    "plot_real_data_study",
    "plot_regulariser_study",
    "plot_spike_strength_study",
    "plot_training_study",
    "real_data_study",
    "regulariser_effects",
    "regulariser_study",
    "spike_strength_study",
    "training_study",
]
