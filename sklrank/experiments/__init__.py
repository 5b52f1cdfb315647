"""Experiments of the papers, runnable in one call: the noise sweep, the same sweep across
training-set sizes, and their figures.

The names below are imported on first use (as those of :mod:`sklrank`), so that the command
line builds its parser from the defaults without loading torch, scikit-learn or pandas.
"""

import importlib

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

__all__ = list(_LAZY_NAMES)


def __getattr__(name):
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module 'sklrank.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    globals()[name] = value  # cache: __getattr__ runs once per name
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
