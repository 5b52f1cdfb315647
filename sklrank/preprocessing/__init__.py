"""Transformers for rank studies: rank-K approximation of images and background noise."""

from ._noise import BackgroundNoise
from ._pipeline import make_rank_pipeline
from ._rank_reducer import PCARankReducer

__all__ = ["PCARankReducer", "BackgroundNoise", "make_rank_pipeline"]
