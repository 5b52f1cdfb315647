"""The first-layer gradient of a two-layer network and its split into two rank-one terms.

Section B of ``docs/science.md`` (Sonthalia, Murray and Montufar 2025). For the loss
``L(W) = (1/n) sum_i l(f(x_i), y_i) + R(W)`` the gradient with respect to the input weights,
written ``d x m`` (``G = (dL/dW)^T``), is

``G = gamma_m X^T [(r a^T) o D] + G_reg``,  r_i = dL_data/df(x_i),  D = sigma'(X W^T).

With ``X = X_B + zeta z q^T``, ``mu`` the column mean of D and ``D_perp = D - 1 mu^T``:

* ``S1 = gamma_m X_B^T r (a o mu)^T``                           (along the residue X_B^T r)
* ``S2 = gamma_m zeta q [(z^T r)(a o mu)^T + ((z o r)^T D_perp) diag(a)]``   (along q)
* ``E  = G - S1 - S2 = gamma_m X_B^T [(r a^T) o D_perp] + G_reg``.

Regularisers (the paper's Proposition 2.1 adds ``lambda grad R`` to G): their gradient
``G_reg`` is part of G and hence of E, so ``S1 + S2 + E == G`` always holds and G equals
autograd's gradient of the whole loss; S1 and S2 are the data-term pieces. A regulariser moves
S1 or S2 through r and D, i.e. through the weights that training with it reaches; its direct
share is reported as ``reg_norm`` and, projected on the two directions, in
``residue_component`` / ``spike_component`` (``||u^T G||`` and ``||q^T G||``).
Input noise ``x + N`` enters through the noisy inputs: the noise is part of the bulk,
``X_B = X + N - zeta z q^T``.

Every computation here runs in float64 on the CPU, whatever the network's device and dtype: a
CUDA-trained network (or CUDA tensors as X, y, spike) is copied to the host first. The
gradient is exact in float64; the copy costs one transfer of W per call.
"""

import copy
import dataclasses
import math
from numbers import Real

import numpy as np
import torch

__all__ = ["GradientDecomposition", "gradient_decomposition", "autograd_gradient", "penalty"]

_LOSSES = ("mse", "logistic")


@dataclasses.dataclass
class GradientDecomposition:
    """Result of :func:`gradient_decomposition` (built by it, not by hand).

    Parameters
    ----------
    singular_values : ndarray of shape (min(d, m),)
        Singular values of G (the full gradient, regularisers included), descending. They
        come from the eigenvalues of a Gram matrix: accurate to about ``1e-8 * s_1`` in
        absolute terms, so the values of G's null space (the data term has rank at most n,
        less than ``min(d, m)`` when ``n < min(d, m)``) read up to about ``1e-8 * s_1``,
        not 0: count a numerical rank with a tolerance above ``1e-7 * s_1``.
    s1_norm, s2_norm : float
        Spectral norms of S1 and S2 (both rank one).
    e_norm : float
        ``||E||_2`` (E includes the regulariser gradient).
    g_norm : float
        ``||G||_2``.
    e_ratio : float
        ``||E||_2 / ||G||_2``.
    reg_norm : float
        ``||G_reg||_2``, the regulariser part of G (0 without regularisers).
    cos_residue : ndarray of shape (2,)
        ``|cos|`` of G's top two left singular vectors with the residue direction X_B^T r.
        The second is 0 when G has rank one (its second singular value is below ``1e-7``
        times the first, where the second singular vector is undefined).
    cos_spike : ndarray of shape (2,)
        ``|cos|`` of G's top two left singular vectors with q (the second 0 as above).
    residue_in_top2, spike_in_top2 : float
        Norm of the projection of the unit residue direction (of q) on the span of G's top
        two left singular vectors: 1 when the direction lies in that plane, even if the two
        singular vectors mix it with the other direction.
    residue_component, spike_component : float
        ``||u^T G||`` and ``||q^T G||`` with ``u`` the unit residue direction.
    stable_rank : float
        Stable rank of G.
    fro_norm : float
        ``||G||_F``.
    top2_share : float
        ``(s_1^2 + s_2^2) / ||G||_F^2``.
    top1_share : float
        ``s_1^2 / ||G||_F^2``.
    loss : float
        The loss (data term plus regularisers) at which G was taken.
    spike_estimated : bool
        True when q was not given and was estimated as the top principal direction of X
        (then ``zeta z = X q`` and ``X_B = X - X q q^T`` are estimates too).
    n_samples, n_features, n_hidden : int
        The setting: samples n and features d of X, hidden units m of the network.
    scaling, activation, loss_name : str
        The network's scaling (``"ntk"`` or ``"mean_field"``) and activation, and the loss
        (``"mse"`` or ``"logistic"``).
    weight_decay, input_noise, jacobian_penalty : float
        The regulariser strengths of the loss G is the gradient of (0 when absent).
    q, residue_direction : ndarray of shape (d,)
        The unit spike direction used and the unit residue direction.
    autograd_max_abs_error : float or None
        ``max |G - G_autograd| / max |G_autograd|`` when ``check_autograd=True``.
    G, S1, S2, E, G_reg : ndarray of shape (d, m) or None
        The matrices, only with ``return_matrices=True``.

    Examples
    --------
    >>> from sklrank.datasets import make_spiked
    >>> from sklrank.nn import TwoLayerNet
    >>> from sklrank.gradients import gradient_decomposition
    >>> X, y, spike = make_spiked(60, 30, nu=0.1, random_state=0, return_spike=True)
    >>> res = gradient_decomposition(TwoLayerNet(30, 40, random_state=0), X, y, spike=spike)
    >>> frame = res.to_frame()
    >>> len(frame), bool(frame.loc[0, "s1_norm"] > frame.loc[0, "s2_norm"])
    (1, True)
    """

    singular_values: np.ndarray
    s1_norm: float
    s2_norm: float
    e_norm: float
    g_norm: float
    e_ratio: float
    reg_norm: float
    cos_residue: np.ndarray
    cos_spike: np.ndarray
    residue_in_top2: float
    spike_in_top2: float
    residue_component: float
    spike_component: float
    stable_rank: float
    fro_norm: float
    top2_share: float
    top1_share: float
    loss: float
    spike_estimated: bool
    n_samples: int
    n_features: int
    n_hidden: int
    scaling: str
    activation: str
    loss_name: str
    weight_decay: float
    input_noise: float
    jacobian_penalty: float
    q: np.ndarray
    residue_direction: np.ndarray
    autograd_max_abs_error: float | None = None
    G: np.ndarray | None = None
    S1: np.ndarray | None = None
    S2: np.ndarray | None = None
    E: np.ndarray | None = None
    G_reg: np.ndarray | None = None

    def summary(self):
        """The scalar results, a dict: what :class:`~sklrank.callbacks.GradientSpectrum` records.

        Returns
        -------
        summary : dict
            Scalar name -> value: ``sv1`` to ``sv3`` (the top singular values), the norms,
            the ``|cos|`` of the top two singular vectors (``cos_residue_1``, ...), the
            shares and the stable rank, the loss and ``spike_estimated``.
        """
        s = self.singular_values
        return {
            "sv1": float(s[0]),
            "sv2": float(s[1]) if len(s) > 1 else 0.0,
            "sv3": float(s[2]) if len(s) > 2 else 0.0,
            "s1_norm": self.s1_norm,
            "s2_norm": self.s2_norm,
            "e_norm": self.e_norm,
            "g_norm": self.g_norm,
            "e_ratio": self.e_ratio,
            "reg_norm": self.reg_norm,
            "cos_residue_1": float(self.cos_residue[0]),
            "cos_residue_2": float(self.cos_residue[1]),
            "cos_spike_1": float(self.cos_spike[0]),
            "cos_spike_2": float(self.cos_spike[1]),
            "residue_in_top2": self.residue_in_top2,
            "spike_in_top2": self.spike_in_top2,
            "residue_component": self.residue_component,
            "spike_component": self.spike_component,
            "stable_rank": self.stable_rank,
            "fro_norm": self.fro_norm,
            "top1_share": self.top1_share,
            "top2_share": self.top2_share,
            "loss": self.loss,
            "spike_estimated": self.spike_estimated,
        }

    def to_frame(self):
        """One-row :class:`pandas.DataFrame` of the summary plus the setting.

        Returns
        -------
        frame : pandas.DataFrame
            One row: the columns of :meth:`summary`, then ``n_samples``, ``n_features``,
            ``n_hidden``, ``scaling``, ``activation``, ``loss_name`` and the regulariser
            strengths. Concatenate the frames of several decompositions for a sweep.
        """
        import pandas as pd

        row = self.summary()
        row.update(
            n_samples=self.n_samples,
            n_features=self.n_features,
            n_hidden=self.n_hidden,
            scaling=self.scaling,
            activation=self.activation,
            loss_name=self.loss_name,
            weight_decay=self.weight_decay,
            input_noise=self.input_noise,
            jacobian_penalty=self.jacobian_penalty,
        )
        return pd.DataFrame([row])

    def spectrum_frame(self):
        """Singular values of G, one a row (columns ``index``, ``singular_value``).

        Returns
        -------
        frame : pandas.DataFrame
            One row a singular value, in descending order: ``index`` (1 for the largest)
            and ``singular_value``.
        """
        import pandas as pd

        return pd.DataFrame(
            {"index": np.arange(1, len(self.singular_values) + 1),
             "singular_value": self.singular_values}
        )


def _float_array(value, name):
    """``value`` as a float64 ndarray: torch tensors from any device, real dtypes only."""
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu").numpy()
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        raise TypeError(f"{name} is a sparse matrix; pass a dense array ({name}.toarray()).")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold real numbers, got dtype {array.dtype}; convert it (class labels "
            "go to a classifier, or encode them as numbers)."
        )
    return array.astype(np.float64)


def _check_finite(array, name, fix):
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity; {fix}.")


def _check_strength(name, value):
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite real number >= 0, got {value!r}.")
    return float(value)


def _check_loss(loss):
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}.")
    return loss


def _uncompiled(module):
    """The network of a module wrapped by torch.compile (skorch's ``compile=True``), which
    shares its parameters; anything else as it is."""
    return getattr(module, "_orig_mod", module)


def _check_module(module, name="module"):
    from ..nn import TwoLayerNet

    module = _uncompiled(module)
    if not isinstance(module, TwoLayerNet):
        raise TypeError(
            f"{name} must be a sklrank.nn.TwoLayerNet (f(x) = gamma a^T sigma(W x)), got "
            f"{type(module).__name__}; the decomposition is defined for that network only."
        )
    return module


def _host_copy(module):
    """A float64 CPU copy of the network (the original, on any device, is left alone)."""
    return copy.deepcopy(module).to("cpu", torch.float64)


def _resolve(estimator_or_module, loss, weight_decay, input_noise, jacobian_penalty):
    """module, loss name, regulariser values, y-encoder from an estimator or a module."""
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError

    if isinstance(estimator_or_module, torch.nn.Module):
        module = _check_module(estimator_or_module, "estimator_or_module")
        defaults, encode, default_loss = {}, None, "mse"
    else:
        est = estimator_or_module
        if hasattr(est, "steps") and hasattr(est, "named_steps"):  # a Pipeline
            raise TypeError(
                "estimator_or_module is a Pipeline; pass its network and the data as the "
                "network sees it: gradient_decomposition(pipe[-1], pipe[:-1].transform(X), y, "
                "...), with a spike (and bulk) of that transformed data, or spike=None to "
                "estimate q from it."
            )
        if not hasattr(est, "get_params") or not hasattr(est, "module"):
            raise TypeError(
                "estimator_or_module must be a sklrank.nn.TwoLayerNet or a fitted "
                f"TwoLayerNetRegressor / TwoLayerNetClassifier, got {type(est).__name__}."
            )
        module = getattr(est, "module_", None)
        if module is None:
            raise NotFittedError(
                f"this {type(est).__name__} is not fitted: call fit (or initialize) before "
                "taking its gradient."
            )
        check_not_failed = getattr(est, "_check_not_failed", None)
        if check_not_failed is not None:  # the network of a fit that failed is no result
            check_not_failed()
        module = _check_module(module, "the estimator's module_")
        defaults = {
            name: getattr(est, name, 0.0)
            for name in ("weight_decay", "input_noise", "jacobian_penalty")
        }
        if is_classifier(est):
            default_loss = "logistic"
            classes = np.asarray(est.classes_)
            if len(classes) != 2:
                raise ValueError(
                    f"the classifier has {len(classes)} classes; the logistic-loss gradient "
                    "needs exactly 2."
                )

            def encode(y):
                """Class labels -> 0/1, as the classifier trains on them."""
                if isinstance(y, torch.Tensor):
                    y = y.detach().cpu().numpy()
                codes = est._encode_target(y, fix="pass the labels the classifier was fitted on")
                return codes.astype(np.float64)
        else:
            default_loss, encode = "mse", None
    loss = _check_loss(default_loss if loss is None else loss)
    values = {}
    for name, value in (
        ("weight_decay", weight_decay),
        ("input_noise", input_noise),
        ("jacobian_penalty", jacobian_penalty),
    ):
        values[name] = _check_strength(name, defaults.get(name, 0.0) if value is None else value)
    return module, loss, values, encode


def _targets(y, n, loss, encode):
    if encode is not None:
        y = encode(y)
    y = _float_array(y, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.shape != (n,):
        raise ValueError(
            f"y must have shape ({n},) to match X, got shape {y.shape}; pass one target a sample."
        )
    _check_finite(y, "y", "remove those samples")
    if loss == "logistic" and not np.all((y == 0) | (y == 1)):
        raise ValueError(
            "for the logistic loss y must be 0/1 (class index of the +1 logit) when a module "
            f"is given, got values {np.unique(y)[:5]}; encode the labels, or pass a fitted "
            "classifier."
        )
    return torch.from_numpy(y)


def _data_loss_and_residual(f, y, loss):
    n = len(f)
    if loss == "mse":
        value = torch.mean((f - y) ** 2)
        r = 2.0 * (f - y) / n
    else:  # logistic on f with y in {0, 1}: softplus(f) - y f
        value = torch.mean(torch.nn.functional.softplus(f) - y * f)
        r = (torch.sigmoid(f) - y) / n
    return value, r


def _check_X(X, module):
    X = _float_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.shape[1] != module.n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but the network expects n_features="
            f"{module.n_features}; pass data of the dimension the network was built for."
        )
    if X.shape[0] < 2:
        raise ValueError(
            f"X needs at least 2 samples (mu is a mean over samples), got {X.shape[0]}; "
            "pass the data the network is trained on (the gradient is a sum over samples)."
        )
    _check_finite(X, "X", "remove or impute those entries")
    return X


def _check_noise(noise, X, input_noise, random_state):
    if noise is not None:
        noise = _float_array(noise, "noise")
        if noise.shape != X.shape:
            raise ValueError(
                f"noise must have the shape of X {X.shape}, got {noise.shape}; pass the noise "
                "matrix that is added to X (already scaled by the noise std)."
            )
        _check_finite(noise, "noise", "pass a finite noise matrix")
    elif input_noise > 0:
        noise = input_noise * _rng(random_state).standard_normal(X.shape)
    return noise


def _rng(random_state):
    try:
        if isinstance(random_state, bool | np.bool_):  # (numpy takes True for the seed 1)
            raise TypeError
        return np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise ValueError(
            "random_state must be None, a non-negative int or a numpy Generator, got "
            f"{random_state!r}."
        ) from None


def autograd_gradient(
    module,
    X,
    y,
    *,
    loss="mse",
    weight_decay=0.0,
    jacobian_penalty=0.0,
    noise=None,
):
    """Gradient ``(dL/dW)^T`` (d x m) of the regularised loss by torch autograd, in float64.

    ``L = data loss(f(X + noise), y) + weight_decay/2 ||W||_F^2
    + (jacobian_penalty/n) sum_i ||grad_x f(x_i + noise_i)||^2``. The reference that
    :func:`gradient_decomposition` is checked against. Computed on a float64 CPU copy of the
    network, whatever its device.

    Parameters
    ----------
    module : sklrank.nn.TwoLayerNet
        The network, at the weights where the gradient is taken (any device).
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        The inputs: finite real numbers, ``n_features`` the network's input size.
    y : array-like or torch.Tensor of shape (n_samples,)
        Targets; 0/1 for ``loss="logistic"``.
    loss : {"mse", "logistic"}, default="mse"
        The data loss: mean squared error, or the logistic loss of the output as a logit.
    weight_decay, jacobian_penalty : float, default=0.0
        Finite and >= 0.
    noise : array-like of shape (n_samples, n_features), default=None
        Input noise added to X (already scaled).

    Returns
    -------
    G : ndarray of shape (n_features, n_hidden)
        The transposed gradient of the loss with respect to the first-layer weights, float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank.nn import TwoLayerNet
    >>> from sklrank.gradients import autograd_gradient
    >>> net = TwoLayerNet(4, 6, random_state=0)
    >>> autograd_gradient(net, np.ones((3, 4)), np.zeros(3)).shape
    (4, 6)
    """
    module = _check_module(module)
    loss = _check_loss(loss)
    weight_decay = _check_strength("weight_decay", weight_decay)
    jacobian_penalty = _check_strength("jacobian_penalty", jacobian_penalty)
    X = _check_X(X, module)
    y = _targets(y, len(X), loss, None)
    noise = _check_noise(noise, X, 0.0, None)
    net = _host_copy(module)
    Xt = torch.from_numpy(X if noise is None else X + noise)
    with torch.enable_grad():
        Xt = Xt.requires_grad_(jacobian_penalty > 0)
        f = net(Xt)
        value, _ = _data_loss_and_residual(f, y, loss)
        value = value + penalty(net, Xt, f, weight_decay, jacobian_penalty)
        (grad,) = torch.autograd.grad(value, net.weight)
    return grad.T.detach().numpy()


def penalty(module, x, f, weight_decay=0.0, jacobian_penalty=0.0):
    """Regulariser terms ``wd/2 ||W||_F^2 + (lambda_J/n) sum_i ||grad_x f(x_i)||^2`` (torch).

    ``x`` must require grad (and ``f = module(x)``) when ``jacobian_penalty > 0``; the
    Jacobian is built with ``create_graph=True`` so that the penalty can be differentiated.
    The result lives on the module's device.

    Parameters
    ----------
    module : sklrank.nn.TwoLayerNet
        The network whose weights ``W`` the weight decay acts on.
    x : torch.Tensor of shape (n_samples, n_features)
        The inputs; with ``jacobian_penalty > 0`` a tensor that requires grad.
    f : torch.Tensor of shape (n_samples,)
        The network's output ``module(x)``, computed after ``x.requires_grad_(True)``.
    weight_decay, jacobian_penalty : float, default=0.0
        Finite and >= 0.

    Returns
    -------
    value : torch.Tensor (scalar)
        The sum of the two terms, differentiable with respect to the weights.

    Examples
    --------
    >>> import torch
    >>> from sklrank.nn import TwoLayerNet
    >>> from sklrank.gradients import penalty
    >>> net = TwoLayerNet(3, 4, random_state=0)
    >>> x = torch.ones(2, 3, requires_grad=True)
    >>> penalty(net, x, net(x), weight_decay=2.0).item()  # rows of W have unit norm
    4.0
    """
    # called at every training step: only cheap checks, no device synchronisation
    weight_decay = _check_strength("weight_decay", weight_decay)
    jacobian_penalty = _check_strength("jacobian_penalty", jacobian_penalty)
    weight = module.weight
    value = torch.zeros((), dtype=weight.dtype, device=weight.device)
    if weight_decay > 0:
        value = value + 0.5 * weight_decay * weight.pow(2).sum()
    if jacobian_penalty > 0:
        if not (isinstance(x, torch.Tensor) and isinstance(f, torch.Tensor)):
            raise TypeError(
                "x and f must be torch tensors (f = module(x)) for the Jacobian penalty."
            )
        if not x.requires_grad or f.shape != x.shape[:1]:
            raise ValueError(
                "the Jacobian penalty needs x with requires_grad=True and f = module(x) of shape "
                f"(n_samples,); got x.requires_grad={x.requires_grad}, x of shape "
                f"{tuple(x.shape)} and f of shape {tuple(f.shape)}. Call "
                "x.requires_grad_(True) before f = module(x)."
            )
        # f_i depends on x_i only, so the gradient of sum_i f_i gives every grad_x f(x_i).
        (jac,) = torch.autograd.grad(f.sum(), x, create_graph=True)
        value = value + jacobian_penalty * jac.pow(2).sum() / x.shape[0]
    return value


def _norm(v):
    """Euclidean norm without overflow or underflow (scaled by the largest entry)."""
    scale = float(v.abs().max()) if v.numel() else 0.0
    return scale * float((v / scale).norm()) if scale > 0 else 0.0


class _ZeroGradientError(ValueError):
    """G is exactly zero: nothing to decompose. ``units_dead``: the residuals are not zero,
    so the activations' derivatives are (a network that died, e.g. after too large a step)."""

    def __init__(self, message, units_dead):
        super().__init__(message)
        self.units_dead = units_dead


# A second singular value below this fraction of the first is zero to the accuracy of the
# Gram route (about 1e-8): its singular vector is undefined.
_UNDEFINED_DIRECTION_RTOL = 1e-7


def _spectrum(G):
    """All singular values of G (descending) and its top two left singular vectors.

    Through the Gram matrix of the smaller side (one symmetric eigendecomposition): several
    times faster than a dense SVD at the paper's size. G is scaled to a largest entry of 1
    first, so that the Gram matrix neither overflows nor underflows at any input scale.
    Singular values below about ``1e-8 * s_max`` lose relative accuracy this way, which none
    of the summaries feels; the second vector of a G of rank one (``s_2 <= 1e-7 s_1``) is
    undefined and returned as zero. Returns the vectors and the singular values divided by
    ``scale`` (so ``s * scale`` are those of G), and ``scale``.
    """
    scale = float(G.abs().max())
    Gs = G / scale
    d, m = Gs.shape
    if d <= m:
        evals, evecs = torch.linalg.eigh(Gs @ Gs.T)
        evals, evecs = evals.flip(0), evecs.flip(1)
        s = evals.clamp(min=0).sqrt()
        U = evecs[:, :2].clone()
    else:
        evals, evecs = torch.linalg.eigh(Gs.T @ Gs)
        evals, evecs = evals.flip(0), evecs.flip(1)
        s = evals.clamp(min=0).sqrt()
        # G v_i / s_i, normalised by its own norm: s_i from the Gram matrix is only accurate
        # to ~1e-8 s_1, which would leave a small s_i's vector far from unit length
        U = Gs @ evecs[:, :2]
        U = U / U.norm(dim=0).clamp(min=torch.finfo(G.dtype).tiny)
    if len(s) > 1 and s[1] <= _UNDEFINED_DIRECTION_RTOL * s[0]:
        U[:, 1] = 0.0
    return U, s, scale


def _spectral_norm(A):
    """Largest singular value by Lanczos (scipy svds), dense SVD for small matrices."""
    import scipy.sparse.linalg

    scale = float(A.abs().max())
    if scale == 0:
        return 0.0
    A = A / scale
    if min(A.shape) <= 50:
        return scale * float(torch.linalg.matrix_norm(A, ord=2))
    # products through torch (its thread setting), not numpy's BLAS pool, which can stall
    # on a loaded machine
    operator = scipy.sparse.linalg.LinearOperator(
        A.shape, dtype=np.float64,
        matvec=lambda v: (A @ torch.from_numpy(np.ascontiguousarray(v).ravel())).numpy(),
        rmatvec=lambda v: (A.T @ torch.from_numpy(np.ascontiguousarray(v).ravel())).numpy(),
    )
    top = scipy.sparse.linalg.svds(operator, k=1, return_singular_vectors=False, random_state=0)
    return scale * float(top[0])


def _estimate_spike(X):
    # Top principal direction of the centred data; projections use the uncentred data so
    # that X = X_B + (X q) q^T holds exactly. From the Gram matrix of the smaller side (one
    # symmetric eigensolve), scaled first so that it cannot overflow.
    Xc = X - X.mean(axis=0)
    scale = np.max(np.abs(Xc))
    if not scale > 0:
        raise ValueError(
            "X has no variance (every row is the same), so its top principal direction, the "
            "estimated spike, is undefined; pass spike= (the direction q)."
        )
    Xc = torch.from_numpy(Xc / scale)
    if Xc.shape[0] < Xc.shape[1]:
        u = torch.linalg.eigh(Xc @ Xc.T)[1][:, -1]
        q = Xc.T @ u
    else:
        q = torch.linalg.eigh(Xc.T @ Xc)[1][:, -1]
    return (q / q.norm()).numpy()


def _spike_parts(spike, bulk, X):
    """Unit q, ``zeta z`` (n,) and whether q was estimated, from the ``spike`` argument."""
    n, d = X.shape
    zz = None
    if spike is None:
        q, estimated = _estimate_spike(X), True
    elif hasattr(spike, "q"):
        q, estimated = _float_array(spike.q, "spike.q"), False
        if hasattr(spike, "z") and hasattr(spike, "zeta"):
            z = _float_array(spike.z, "spike.z")
            zeta = _float_array(spike.zeta, "spike.zeta")
            if z.shape != (n,) or zeta.shape != ():
                raise ValueError(
                    f"spike.z has shape {z.shape} and spike.zeta shape {zeta.shape}, but X has "
                    f"{n} samples: pass the spike Bunch that goes with X (from the same "
                    "make_spiked call)."
                )
            zz = float(zeta) * z
            _check_finite(zz, "spike.zeta * spike.z", "pass the Bunch make_spiked returned")
    else:
        q, estimated = _float_array(spike, "spike"), False
    if q.shape != (d,) or not np.all(np.isfinite(q)) or not np.linalg.norm(q) > 0:
        raise ValueError(
            f"spike must be a finite nonzero vector of shape ({d},) (or make_spiked's Bunch), "
            f"got shape {q.shape}; pass the spike direction q of the data X."
        )
    q = q / np.linalg.norm(q)
    if zz is None:
        if bulk is not None:
            bulk = _float_array(bulk, "bulk")
            if bulk.shape != X.shape:
                raise ValueError(f"bulk must have the shape of X {X.shape}, got {bulk.shape}.")
            _check_finite(bulk, "bulk", "pass the finite bulk X_B that goes with X")
            zz = (X - bulk) @ q
        else:
            zz = X @ q
    return q, zz, estimated


def gradient_decomposition(
    estimator_or_module,
    X,
    y,
    spike=None,
    bulk=None,
    *,
    loss=None,
    weight_decay=None,
    input_noise=None,
    jacobian_penalty=None,
    noise=None,
    random_state=None,
    return_matrices=False,
    check_autograd=False,
):
    """Split the first-layer gradient G into the residue term S1, the spike term S2 and E.

    See the module docstring and section B of ``docs/science.md`` for the formulas. All
    computations are in float64 on the CPU whatever the network's dtype and device (a
    CUDA-trained network is copied to the host; CUDA tensors are accepted for X, y, spike,
    bulk and noise). The ratios (shares, cosines, stable rank) do not depend on the scale of
    the data: G is rescaled before its spectrum is taken.

    Parameters
    ----------
    estimator_or_module : TwoLayerNetRegressor, TwoLayerNetClassifier or sklrank.nn.TwoLayerNet
        A fitted estimator (its loss and regularisers are used) or a bare module.
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Data at which the gradient is taken (the training data for the training gradient);
        finite, at least 2 samples.
    y : array-like of shape (n_samples,)
        Targets (class labels for a classifier; 0/1 for a bare module with the logistic loss).
    spike : array-like of shape (n_features,), Bunch or None, default=None
        The spike direction q, or the Bunch returned by ``make_spiked(..., return_spike=True)``
        (then ``zeta * z`` comes from it and is exact). None: q is estimated as the top
        principal direction of X and the result says ``spike_estimated=True``.
    bulk : array-like of shape (n_samples, n_features), default=None
        The bulk X_B, used (when the spike Bunch does not give z) to get ``zeta z = (X - X_B) q``;
        otherwise ``zeta z = X q``. The bulk actually used is ``X_B = X - zeta z q^T``.
    loss : {"mse", "logistic"} or None, default=None
        None: the estimator's loss ("mse" for a bare module).
    weight_decay, input_noise, jacobian_penalty : float or None, default=None
        Regulariser strengths (finite, >= 0); None takes the estimator's (0 for a bare module).
    noise : array-like of shape (n_samples, n_features), default=None
        The input noise to add to X (already scaled). None with ``input_noise > 0``: drawn
        from ``random_state`` (pass it explicitly to reproduce a given draw).
    random_state : int, numpy Generator or None, default=None
        Seed for the noise draw.
    return_matrices : bool, default=False
        Keep G, S1, S2, E and G_reg (each d x m) in the result.
    check_autograd : bool, default=False
        Also compute G with autograd and store the relative max error.

    Returns
    -------
    result : GradientDecomposition
        The spectrum of G, the norms of S1, S2 and E, the alignments of G's top singular
        vectors with the residue direction and with q, and the setting;
        :meth:`GradientDecomposition.to_frame` gives them as a one-row DataFrame.

    Raises
    ------
    TypeError
        ``estimator_or_module`` is not a TwoLayerNet or an estimator built on one (a Pipeline:
        pass its last step and the data transformed by the steps before it).
    sklearn.exceptions.NotFittedError
        The estimator is not fitted (a ValueError too).
    ValueError
        Bad inputs (shape, NaN, a spike of the wrong length, ...), weights that are not finite
        (a diverged network), or a gradient that overflows float64 at this input scale.

    Examples
    --------
    >>> from sklrank.datasets import make_spiked
    >>> from sklrank.nn import TwoLayerNet
    >>> from sklrank.gradients import gradient_decomposition
    >>> X, y, spike = make_spiked(60, 30, nu=0.1, random_state=0, return_spike=True)
    >>> net = TwoLayerNet(30, 40, activation="tanh", random_state=0)
    >>> res = gradient_decomposition(net, X, y, spike=spike)
    >>> res.singular_values.shape, res.spike_estimated
    ((30,), False)
    """
    module, loss, reg, encode = _resolve(
        estimator_or_module, loss, weight_decay, input_noise, jacobian_penalty
    )
    X = _check_X(X, module)
    n, d = X.shape
    yt = _targets(y, n, loss, encode)
    noise = _check_noise(noise, X, reg["input_noise"], random_state)
    Xin = X + noise if noise is not None else X
    q, zz, spike_estimated = _spike_parts(spike, bulk, X)
    # the noise belongs to the bulk
    X_B = Xin - np.outer(zz, q)

    net = _host_copy(module)
    Xt = torch.from_numpy(Xin)
    XBt = torch.from_numpy(X_B)
    qt = torch.from_numpy(q)
    zzt = torch.from_numpy(zz)
    W = net.weight.detach()
    a = net.a.detach()
    if not bool(torch.isfinite(W).all()):
        raise ValueError(
            "the network's weights W contain NaN or infinity (did its training diverge?); "
            "refit it with a smaller lr."
        )
    gamma = net.gamma
    lam, lam_j = reg["weight_decay"], reg["jacobian_penalty"]

    with torch.no_grad():
        Z = Xt @ W.T
        D, D2 = net.activation_derivatives(Z, second=True)
        f = gamma * (net.activation(Z) @ a)
        if not bool(torch.isfinite(f).all()):
            raise ValueError(
                f"the network output overflows float64 on X (max |X| = {np.abs(X).max():.3g}): "
                "rescale X, e.g. with sklearn.preprocessing.StandardScaler."
            )
        data_loss, r = _data_loss_and_residual(f, yt, loss)
        M = (r[:, None] * a[None, :]) * D
        G_data = gamma * (Xt.T @ M)
        mu = D.mean(dim=0)
        Dp = D - mu
        amu = a * mu
        res_vec = XBt.T @ r
        S1 = gamma * torch.outer(res_vec, amu)
        s2_row = (zzt @ r) * amu + ((zzt * r) @ Dp) * a
        S2 = gamma * torch.outer(qt, s2_row)

        G_reg = torch.zeros_like(G_data)
        reg_value = 0.0
        if lam > 0:
            G_reg = G_reg + lam * W.T
            reg_value += 0.5 * lam * float(W.pow(2).sum())
        if lam_j > 0:
            V = D * a  # rows v_i = a o sigma'(W x_i)
            Gm = gamma * (V @ W)  # rows grad_x f(x_i)
            reg_value += lam_j * float(Gm.pow(2).sum()) / n
            G_reg = G_reg + (2 * gamma * lam_j / n) * (Gm.T @ V + Xt.T @ (D2 * a * (Gm @ W.T)))
        G = G_data + G_reg
        E = G - S1 - S2
        # E = G - S1 - S2: a NaN or infinity in any of the four shows in E
        if not bool(torch.isfinite(E).all()):
            raise ValueError(
                f"the gradient overflows float64 at this scale of X (max |X| = "
                f"{np.abs(X).max():.3g}) and y (max |y| = {float(yt.abs().max()):.3g}); "
                "rescale them, e.g. with sklearn.preprocessing.StandardScaler."
            )
        if not float(G.abs().max()) > 0:
            raise _ZeroGradientError(
                "the gradient G is exactly zero (every residual is zero, or sigma'(W x) = 0 "
                "everywhere: every unit inactive or saturated, e.g. tanh at a huge input "
                "scale): there is nothing to split.",
                units_dead=bool(r.abs().max() > 0),
            )

        U, s_rel, scale = _spectrum(G)
        e_norm = _spectral_norm(E)
        reg_norm = _spectral_norm(G_reg) if (lam > 0 or lam_j > 0) else 0.0
        res_norm = _norm(res_vec)
        u = res_vec / res_norm if res_norm > 0 else torch.zeros_like(res_vec)
        k = min(2, U.shape[1])
        cos_res = (U[:, :k].T @ u).abs().numpy()
        cos_spk = (U[:, :k].T @ qt).abs().numpy()
        if k < 2:
            cos_res, cos_spk = np.append(cos_res, 0.0), np.append(cos_spk, 0.0)
        s_rel = s_rel.numpy()
        # shares from the scaled values (s_rel = s / scale): no overflow for any scale of G
        fro2_rel = float(np.sum(s_rel**2))
        s = s_rel * scale
        g_norm = float(s[0])
        result = GradientDecomposition(
            singular_values=s,
            s1_norm=gamma * res_norm * _norm(amu),
            s2_norm=gamma * _norm(s2_row),
            e_norm=e_norm,
            g_norm=g_norm,
            e_ratio=e_norm / g_norm,
            reg_norm=reg_norm,
            cos_residue=cos_res,
            cos_spike=cos_spk,
            residue_in_top2=float(np.linalg.norm(cos_res)),
            spike_in_top2=float(np.linalg.norm(cos_spk)),
            residue_component=_norm(u @ G),
            spike_component=_norm(qt @ G),
            # same definition as sklrank.stable_rank, from the singular values already at hand
            stable_rank=fro2_rel / float(s_rel[0]) ** 2,
            fro_norm=scale * math.sqrt(fro2_rel),
            top2_share=float(np.sum(s_rel[:2] ** 2)) / fro2_rel,
            top1_share=float(s_rel[0] ** 2) / fro2_rel,
            loss=float(data_loss) + reg_value,
            spike_estimated=spike_estimated,
            n_samples=n,
            n_features=d,
            n_hidden=module.n_hidden,
            scaling=module.scaling,
            activation=module.activation_name,
            loss_name=loss,
            weight_decay=lam,
            input_noise=reg["input_noise"],
            jacobian_penalty=lam_j,
            q=q,
            residue_direction=u.numpy(),
        )
    if return_matrices:
        result.G, result.S1, result.S2, result.E, result.G_reg = (
            t.numpy() for t in (G, S1, S2, E, G_reg)
        )
    if check_autograd:
        G_auto = autograd_gradient(
            module,
            X,
            yt.numpy(),
            loss=loss,
            weight_decay=lam,
            jacobian_penalty=lam_j,
            noise=noise,
        )
        scale = np.max(np.abs(G_auto))
        result.autograd_max_abs_error = float(np.max(np.abs(G.numpy() - G_auto)) / scale)
    return result
