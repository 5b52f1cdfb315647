"""Experiments of the papers, runnable in one call: the noise sweep, the same sweep across
training-set sizes, and their figures."""

from ._plot import plot_noise_sweep, plot_sample_size_study
from ._sweep import (
    CLASSIFIER_DEFAULTS,
    IMAGE_CLASSIFIER_DEFAULTS,
    IMAGE_DEFAULTS,
    SAMPLE_SIZE_DEFAULTS,
    SYNTHETIC_DEFAULTS,
    noise_sweep,
    sample_size_study,
)

__all__ = [
    "noise_sweep",
    "sample_size_study",
    "plot_noise_sweep",
    "plot_sample_size_study",
    "SYNTHETIC_DEFAULTS",
    "IMAGE_DEFAULTS",
    "CLASSIFIER_DEFAULTS",
    "IMAGE_CLASSIFIER_DEFAULTS",
    "SAMPLE_SIZE_DEFAULTS",
]
