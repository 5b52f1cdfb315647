"""PyTorch modules: the networks and activations of the papers."""

__all__ = []
