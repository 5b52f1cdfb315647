"""Scorers reporting ranks (of the filters, the data, the patches) in model selection."""

from ._scorers import (
    RankScorer,
    data_stable_rank_scorer,
    filter_stable_rank_scorer,
    make_rank_scorer,
)

__all__ = ["RankScorer", "make_rank_scorer", "filter_stable_rank_scorer", "data_stable_rank_scorer"]
