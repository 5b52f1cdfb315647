"""Experiments of the papers, runnable in one call: the noise sweep, the same sweep across
training-set sizes, and their figures.

The names below are imported on first use (as those of :mod:`sklrank`), so that the command
line builds its parser from the defaults without loading torch, scikit-learn or pandas.
"""

from .._lazy import attach as _attach

# public name -> private module that defines it
_LAZY_NAMES = {
    "noise_sweep": "sklrank.experiments._sweep",
    "sample_size_study": "sklrank.experiments._sweep",
    "plot_noise_sweep": "sklrank.experiments._plot",
    "plot_sample_size_study": "sklrank.experiments._plot",
    "SYNTHETIC_DEFAULTS": "sklrank.experiments._defaults",
    "IMAGE_DEFAULTS": "sklrank.experiments._defaults",
    "CLASSIFIER_DEFAULTS": "sklrank.experiments._defaults",
    "IMAGE_CLASSIFIER_DEFAULTS": "sklrank.experiments._defaults",
    "SAMPLE_SIZE_DEFAULTS": "sklrank.experiments._defaults",
}

__getattr__, __dir__, __all__ = _attach(__name__, _LAZY_NAMES)
