"""The first-layer gradient of two-layer networks: its spectrum, its two rank-one terms, and
the gradient paper's experiments (tidy DataFrames) with their figures.

The names below are imported on first use (as those of :mod:`sklrank`), so that the command
line builds its parser without loading torch, scikit-learn or pandas.
"""

from .._lazy import attach as _attach

# public name -> private module that defines it
_LAZY_NAMES = {
    "GradientDecomposition": "sklrank.gradients._decomposition",
    "autograd_gradient": "sklrank.gradients._decomposition",
    "gradient_decomposition": "sklrank.gradients._decomposition",
    "penalty": "sklrank.gradients._decomposition",
    "plot_activation_study": "sklrank.gradients._plots",
    "plot_real_data_study": "sklrank.gradients._plots",
    "plot_regulariser_study": "sklrank.gradients._plots",
    "plot_spike_strength_study": "sklrank.gradients._plots",
    "plot_training_study": "sklrank.gradients._plots",
    "activation_study": "sklrank.gradients._studies",
    "real_data_study": "sklrank.gradients._studies",
    "regulariser_effects": "sklrank.gradients._studies",
    "regulariser_study": "sklrank.gradients._studies",
    "spike_strength_study": "sklrank.gradients._studies",
    "training_study": "sklrank.gradients._studies",
}

__getattr__, __dir__, __all__ = _attach(__name__, _LAZY_NAMES)
