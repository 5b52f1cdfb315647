"""Experiments of the papers, runnable in one call: the noise sweep and its figure."""

from ._plot import plot_noise_sweep
from ._sweep import (
    CLASSIFIER_DEFAULTS,
    IMAGE_CLASSIFIER_DEFAULTS,
    IMAGE_DEFAULTS,
    SYNTHETIC_DEFAULTS,
    noise_sweep,
)

__all__ = [
    "noise_sweep",
    "plot_noise_sweep",
    "SYNTHETIC_DEFAULTS",
    "IMAGE_DEFAULTS",
    "CLASSIFIER_DEFAULTS",
    "IMAGE_CLASSIFIER_DEFAULTS",
]
