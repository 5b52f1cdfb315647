"""GradientSpectrum: record the first-layer gradient's S1/S2 split in the skorch history."""

from numbers import Integral

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["GradientSpectrum"]


def _to_numpy(a):
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return None if a is None else np.asarray(a)


class GradientSpectrum(Callback):
    """Record :func:`sklrank.gradients.gradient_decomposition`'s summary every ``every`` epochs.

    For a :class:`~sklrank.TwoLayerNetRegressor` or :class:`~sklrank.TwoLayerNetClassifier`.
    After every ``every``-th epoch the gradient of the training loss (data term plus the net's
    regularisers) is decomposed at the current weights and the scalars of
    :meth:`GradientDecomposition.summary` are written into the history row under
    ``prefix + name`` (e.g. ``grad_s1_norm``, ``grad_s2_norm``, ``grad_sv1``,
    ``grad_cos_spike_1``); epochs in between get no entry. The decomposition at the initial
    weights is kept in ``initial_``.

    Parameters
    ----------
    X, y : array-like, default=None
        Data at which the gradient is taken (labels as given to the classifier). None: the
        training data of the current fit.
    every : int, default=1
        Record every ``every`` epochs.
    spike : array-like of shape (n_features,), Bunch or None, default=None
        Spike direction q or the Bunch of :func:`sklrank.datasets.make_spiked`; None
        estimates q as the top principal direction of X.
    bulk : array-like, default=None
        The bulk X_B, see :func:`~sklrank.gradients.gradient_decomposition`.
    prefix : str, default="grad_"
        Prefix of the history keys.
    random_state : int, default=0
        Seed of the input-noise draw when the net has ``input_noise > 0``.

    Attributes
    ----------
    initial_ : GradientDecomposition
        The decomposition at the initial weights (before the first step).

    Examples
    --------
    >>> from sklrank import TwoLayerNetRegressor
    >>> from sklrank.callbacks import GradientSpectrum
    >>> from sklrank.datasets import make_spiked
    >>> X, y, spike = make_spiked(60, 30, nu=0.3, random_state=0, return_spike=True)
    >>> reg = TwoLayerNetRegressor(n_hidden=20, lr=0.01, max_epochs=4, random_state=0,
    ...                            callbacks=[GradientSpectrum(every=2, spike=spike)])
    >>> reg = reg.fit(X, y)
    >>> [round(v, 3) > 0 for v in reg.history[:, "grad_s1_norm"]]
    [True, True]
    """

    def __init__(self, X=None, y=None, every=1, spike=None, bulk=None, prefix="grad_",
                 random_state=0):
        self.X = X
        self.y = y
        self.every = every
        self.spike = spike
        self.bulk = bulk
        self.prefix = prefix
        self.random_state = random_state

    def initialize(self):
        if isinstance(self.every, bool) or not isinstance(self.every, Integral) or self.every < 1:
            raise ValueError(f"every must be a positive integer, got {self.every!r}.")
        if (self.X is None) != (self.y is None):
            raise ValueError("pass both X and y to GradientSpectrum, or neither (training data).")
        return self

    def _decompose(self, net):
        from ..gradients import gradient_decomposition

        if self.X is not None:
            return gradient_decomposition(
                net, self.X, self.y, spike=self.spike, bulk=self.bulk,
                random_state=self.random_state,
            )
        # the training tensors: y is already encoded (0/1 for the classifier)
        return gradient_decomposition(
            net.module_, self.X_fit_, self.y_fit_, spike=self.spike, bulk=self.bulk,
            loss=getattr(net, "_gradient_loss", "mse"),
            weight_decay=getattr(net, "weight_decay", 0.0),
            input_noise=getattr(net, "input_noise", 0.0),
            jacobian_penalty=getattr(net, "jacobian_penalty", 0.0),
            random_state=self.random_state,
        )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.X is None:
            if X is None or y is None:
                raise ValueError("GradientSpectrum needs X and y: pass them, or fit with y.")
            self.X_fit_ = _to_numpy(X).astype(np.float64)
            self.y_fit_ = _to_numpy(y).reshape(len(self.X_fit_), -1)[:, 0]
        self.initial_ = self._decompose(net)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every:
            return
        for key, value in self._decompose(net).summary().items():
            net.history.record(self.prefix + key, value)

    def on_train_end(self, net, **kwargs):
        self.__dict__.pop("X_fit_", None)
        self.__dict__.pop("y_fit_", None)
