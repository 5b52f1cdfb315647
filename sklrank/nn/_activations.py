"""The Huberized ReLU of Zhang, Gao, Zou and Cao (2025)."""

import inspect
from numbers import Real

import torch
from torch import nn

__all__ = ["HuberizedReLU", "huberized_relu", "huberized_relu_derivative"]


def _check_q_kappa(q, kappa):
    if isinstance(q, bool) or not isinstance(q, Real) or not q >= 1:
        raise ValueError(f"q must be a real number >= 1 (q=1 is the plain ReLU), got {q!r}.")
    if isinstance(kappa, bool) or not isinstance(kappa, Real) or not kappa > 0:
        raise ValueError(f"kappa must be a real number > 0, got {kappa!r}.")
    return float(q), float(kappa)


def huberized_relu(z, q=3.0, kappa=1.0):
    """Huberized ReLU: a polynomial start ``z^q`` joined C^1 to the identity at ``kappa``.

    ::

        sigma(z) = 0                           for z <= 0
                 = z^q / (q kappa^(q-1))       for 0 < z <= kappa
                 = z - (1 - 1/q) kappa         for z > kappa

    It is continuous with a continuous derivative (``sigma'(kappa) = 1``); ``q = 1`` is the
    plain ReLU.

    Parameters
    ----------
    z : torch.Tensor
        Pre-activations, any shape and floating dtype.
    q : float, default=3.0
        Power of the polynomial part, ``q >= 1``.
    kappa : float, default=1.0
        Threshold where the polynomial part meets the linear part, ``kappa > 0``.

    Returns
    -------
    sigma : torch.Tensor
        Same shape and dtype as ``z``.

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import huberized_relu
    >>> huberized_relu(torch.tensor([-1.0, 0.5, 2.0]), q=3, kappa=1.0)
    tensor([0.0000, 0.0417, 1.3333])
    """
    q, kappa = _check_q_kappa(q, kappa)
    return _huberized_relu(z, q, kappa)


def _huberized_relu(z, q, kappa):
    if q == 1.0:
        return torch.relu(z)
    return _HuberizedReLUFunction.apply(z, q, kappa)[0]


def _slope_of(t, q):
    """``t ** (q - 1)`` for ``t = clamp(z / kappa, 0, 1)``: the Huberized ReLU's slope."""
    if q == 2.0:
        return t
    if q == 3.0:
        return t * t  # the paper's q: a product, cheaper than pow
    return t.pow(q - 1.0)


def _slope(z, q, kappa):
    """``sigma'(z) = clamp(z / kappa, 0, 1) ** (q - 1)`` for ``q > 1``: 0 up to 0, the
    polynomial's slope on ``(0, kappa]``, 1 above; differentiable (for a Jacobian penalty).

    Its own derivative ``sigma''`` is 0 for ``z <= 0``, as the first derivative's is (the
    left branch, as for the ReLU): ``t ** (q - 1)`` has an infinite slope at ``t = 0`` for
    ``q < 2``, which ``clamp`` lets through at exactly ``z = 0`` (NaN in the weights'
    gradient for an all-zero input), so the power only ever sees positive ``z``.
    """
    positive = z > 0
    t = (z * (1.0 / kappa)).clamp(0.0, 1.0)
    t = torch.where(positive, t, torch.ones_like(t))
    return torch.where(positive, _slope_of(t, q), torch.zeros_like(t))


class _HuberizedReLUFunction(torch.autograd.Function):
    """The Huberized ReLU with its slope computed once in the forward pass.

    ``sigma(z) = (kappa / q) t^q + max(z - kappa, 0)`` with ``t = clamp(z / kappa, 0, 1)``
    (the three pieces in one expression), and the backward pass is one product with the
    saved slope: autograd through the piecewise definition takes about 25 elementwise
    operations a step, which dominate the training step of a small network. Under
    ``create_graph`` (a Jacobian penalty) the slope is recomputed with differentiable
    operations, so second derivatives stay exact. Works under ``torch.func.vmap``.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z, q, kappa):
        t = (z * (1.0 / kappa)).clamp(0.0, 1.0)
        slope = _slope_of(t, q)
        out = torch.addcmul((z - kappa).clamp(min=0.0), slope, t, value=kappa / q)
        return out, slope

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, q, kappa = inputs
        ctx.q, ctx.kappa = q, kappa
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(z, output[1])

    @staticmethod
    def backward(ctx, grad_out, grad_slope):
        z, slope = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: keep the slope's own derivative
            slope = _slope(z, ctx.q, ctx.kappa)
        return grad_out * slope, None, None


# torch's Function.apply binds the arguments to forward's signature at every call (for
# setup_context); inspect.signature reads a __signature__ set here instead of building it
# again from the code: 19 us less a call (measured on 2 CPU cores; a call took 66 us).
_HuberizedReLUFunction.forward.__signature__ = inspect.signature(_HuberizedReLUFunction.forward)


def huberized_relu_derivative(z, q=3.0, kappa=1.0):
    """Analytic derivative of :func:`huberized_relu`.

    ``sigma'(z) = 0`` for ``z <= 0``, ``(z / kappa)^(q-1)`` for ``0 < z <= kappa`` and ``1``
    above ``kappa``.

    Parameters
    ----------
    z : torch.Tensor
        Pre-activations.
    q : float, default=3.0
        Power of the polynomial part, ``q >= 1``.
    kappa : float, default=1.0
        Threshold, ``kappa > 0``.

    Returns
    -------
    dsigma : torch.Tensor
        Same shape and dtype as ``z``.

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import huberized_relu_derivative
    >>> huberized_relu_derivative(torch.tensor([-1.0, 0.5, 2.0]), q=3, kappa=1.0)
    tensor([0.0000, 0.2500, 1.0000])
    """
    q, kappa = _check_q_kappa(q, kappa)
    inner = (z.clamp(0.0, kappa) / kappa).pow(q - 1.0)
    inner = torch.where(z > 0, inner, torch.zeros_like(z))
    return torch.where(z > kappa, torch.ones_like(z), inner)


class HuberizedReLU(nn.Module):
    """Huberized ReLU activation as a torch module (see :func:`huberized_relu`).

    Parameters
    ----------
    q : float, default=3
        Power of the polynomial part, ``q >= 1`` (``q = 1`` is the plain ReLU).
    kappa : float, default=1.0
        Threshold where the polynomial part meets the linear part, ``kappa > 0``.

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import HuberizedReLU
    >>> HuberizedReLU(q=3, kappa=1.0)(torch.tensor([0.0, 1.0, 3.0]))
    tensor([0.0000, 0.3333, 2.3333])
    """

    def __init__(self, q=3, kappa=1.0):
        super().__init__()
        self.q, self.kappa = _check_q_kappa(q, kappa)

    def forward(self, z):
        return _huberized_relu(z, self.q, self.kappa)

    def extra_repr(self):
        return f"q={self.q:g}, kappa={self.kappa:g}"
