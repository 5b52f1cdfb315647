"""skorch callbacks that record ranks and gradient spectra during training."""

from ._gradient_spectrum import GradientSpectrum
from ._print_log import PrintLog
from ._rank_history import RankHistory

__all__ = ["GradientSpectrum", "PrintLog", "RankHistory"]
