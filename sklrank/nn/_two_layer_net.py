"""The two-layer network of Sonthalia, Murray and Montufar (2025): f(x) = gamma_m a^T sigma(W x)."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from ._activations import HuberizedReLU, huberized_relu_derivative

__all__ = ["TwoLayerNet", "ACTIVATIONS", "SCALINGS"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "huberized")
SCALINGS = ("ntk", "mean_field")
_INITS = ("sphere", "spike")


def _make_activation(activation):
    if isinstance(activation, nn.Module):
        return activation, "custom"
    if activation == "relu":
        return nn.ReLU(), "relu"
    if activation == "tanh":
        return nn.Tanh(), "tanh"
    if activation == "sigmoid":
        return nn.Sigmoid(), "sigmoid"
    if activation == "huberized":
        return HuberizedReLU(), "huberized"
    raise ValueError(
        f"activation must be one of {ACTIVATIONS} or an elementwise torch.nn.Module, "
        f"got {activation!r}."
    )


class TwoLayerNet(nn.Module):
    """Two-layer network ``f(x) = gamma_m a^T sigma(W x)`` with a fixed sign outer layer.

    ``W`` (``m x d``, no bias) is the only trained parameter; ``a`` in ``{+1, -1}^m`` is a
    buffer drawn once (half +1, half -1, shuffled) and never trained. Read more in section B
    of ``docs/science.md``.

    Parameters
    ----------
    n_features : int
        Input dimension d.
    n_hidden : int
        Width m.
    scaling : {"ntk", "mean_field"}, default="ntk"
        ``gamma_m = 1/sqrt(m)`` (NTK) or ``1/m`` (mean field).
    activation : {"relu", "tanh", "sigmoid", "huberized"} or torch.nn.Module, default="relu"
        Elementwise activation. ``"huberized"`` is :class:`~sklrank.nn.HuberizedReLU` with
        q = 3, kappa = 1; pass ``HuberizedReLU(q=..., kappa=...)`` for other values. A custom
        module must act elementwise (its derivatives are taken with autograd).
    init : {"sphere", "spike"}, default="sphere"
        ``"sphere"``: rows of W uniform on the unit sphere. ``"spike"``: rows of
        ``W_S + spike_weight * 1 q^T`` normalised to unit norm, with W_S as for ``"sphere"``
        (the paper uses ``spike_weight = n^(-1/4)``).
    spike : array-like of shape (n_features,), default=None
        The direction q for ``init="spike"`` (normalised here).
    spike_weight : float, default=None
        Weight of q in ``init="spike"``; required for that init.
    random_state : int or None, default=None
        Seed of a private torch generator for W and a (the global torch RNG is untouched).

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_hidden, n_features)
        W, float32 whatever torch's default dtype (``.double()`` the module for float64
        inputs; ``a`` follows).
    a : torch.Tensor of shape (n_hidden,)
        The fixed outer weights (buffer).
    gamma : float
        The scaling ``gamma_m``.
    activation_name : str
        "relu", "tanh", "sigmoid", "huberized" or "custom".

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import TwoLayerNet
    >>> net = TwoLayerNet(5, 8, scaling="mean_field", activation="tanh", random_state=0)
    >>> net(torch.zeros(3, 5)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        n_features,
        n_hidden,
        scaling="ntk",
        activation="relu",
        init="sphere",
        spike=None,
        spike_weight=None,
        random_state=None,
    ):
        super().__init__()
        for name, value in (("n_features", n_features), ("n_hidden", n_hidden)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, Integral)
        ):
            raise ValueError(f"random_state must be an int or None, got {random_state!r}.")
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}.")
        self.n_features, self.n_hidden, self.scaling, self.init = (
            int(n_features),
            int(n_hidden),
            scaling,
            init,
        )
        self.gamma = 1.0 / math.sqrt(n_hidden) if scaling == "ntk" else 1.0 / n_hidden
        self.activation, self.activation_name = _make_activation(activation)

        gen = torch.Generator()
        gen.manual_seed(
            int(random_state)
            if random_state is not None
            else int(torch.randint(0, 2**31 - 1, ()).item())
        )
        W = torch.randn(n_hidden, n_features, generator=gen, dtype=torch.float64)
        W /= W.norm(dim=1, keepdim=True)
        if init == "spike":
            if spike is None:
                raise ValueError('init="spike" needs spike=q, the spike direction (n_features,).')
            if spike_weight is None or isinstance(spike_weight, bool) or not isinstance(
                spike_weight, Real
            ):
                raise ValueError(
                    'init="spike" needs a real spike_weight (the paper uses n_samples**-0.25).'
                )
            if isinstance(spike, torch.Tensor):  # any device: the module is built on the CPU
                spike = spike.detach().cpu()
            q = torch.as_tensor(np.asarray(spike, dtype=np.float64).ravel())
            if q.shape != (n_features,) or not bool(torch.isfinite(q).all()) or q.norm() == 0:
                raise ValueError(
                    f"spike must be a finite nonzero vector of shape ({n_features},), "
                    f"got shape {tuple(q.shape)}."
                )
            W = W + float(spike_weight) * (q / q.norm())[None, :]
            W /= W.norm(dim=1, keepdim=True)
        self.weight = nn.Parameter(W.to(torch.float32))
        signs = torch.ones(n_hidden, dtype=torch.float32)
        signs[n_hidden // 2 :] = -1.0
        self.register_buffer("a", signs[torch.randperm(n_hidden, generator=gen)])

    def forward(self, x):
        return self.gamma * (self.activation(x @ self.weight.T) @ self.a)

    def activation_derivatives(self, z, second=False):
        """sigma'(z) (and sigma''(z) if ``second``), elementwise, same dtype as ``z``.

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations.
        second : bool, default=False
            Also return the second derivative.

        Returns
        -------
        d1 : torch.Tensor
            ``sigma'(z)``, the shape of ``z``.
        d2 : torch.Tensor
            ``sigma''(z)``, only if ``second``.
        """
        name = self.activation_name
        if name == "relu":
            d1 = (z > 0).to(z.dtype)
            d2 = torch.zeros_like(z)
        elif name == "tanh":
            t = torch.tanh(z)
            d1 = 1 - t**2
            d2 = -2 * t * d1
        elif name == "sigmoid":
            s = torch.sigmoid(z)
            d1 = s * (1 - s)
            d2 = d1 * (1 - 2 * s)
        elif name == "huberized":
            qq, kappa = self.activation.q, self.activation.kappa
            d1 = huberized_relu_derivative(z, qq, kappa)
            inside = (z > 0) & (z <= kappa)
            # (q - 1)/kappa (z/kappa)^(q - 2) on (0, kappa]: unbounded near 0 for q < 2 (the
            # power is taken of positive z only); 0 elsewhere, and for q = 1 (the ReLU)
            t = torch.where(inside, z / kappa, torch.ones_like(z))
            d2 = torch.where(inside, (qq - 1) / kappa * t.pow(qq - 2.0), torch.zeros_like(z))
        else:  # custom elementwise module: autograd
            with torch.enable_grad():
                zz = z.detach().requires_grad_(True)
                out = self.activation(zz)
                (g1,) = torch.autograd.grad(out.sum(), zz, create_graph=second)
                if second:
                    if g1.requires_grad:
                        (g2,) = torch.autograd.grad(g1.sum(), zz)
                    else:
                        g2 = torch.zeros_like(z)
            d1 = g1.detach()
            d2 = g2.detach() if second else None
        return (d1, d2) if second else d1

    def extra_repr(self):
        return (
            f"n_features={self.n_features}, n_hidden={self.n_hidden}, scaling={self.scaling!r}, "
            f"activation={self.activation_name!r}, init={self.init!r}"
        )
