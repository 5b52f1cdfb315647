"""The first-layer gradient of two-layer networks: its spectrum, its two rank-one terms, and
the gradient paper's experiments (tidy DataFrames) with their figures.

The names below are imported on first use (as those of :mod:`sklrank`), so that the command
line builds its parser without loading torch, scikit-learn or pandas.
"""

import importlib

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

__all__ = sorted(_LAZY_NAMES)


def __getattr__(name):
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module 'sklrank.gradients' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    globals()[name] = value  # cache: __getattr__ runs once per name
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
