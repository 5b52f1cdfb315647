"""skorch callbacks that record ranks and gradient spectra during training."""

__all__ = []
