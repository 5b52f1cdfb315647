"""GradientSpectrum: record the first-layer gradient's S1/S2 split in the skorch history."""

import copy
from numbers import Integral

import numpy as np
import torch
from skorch.callbacks import Callback

from .._params import _PublicParams
from ..exceptions import TrainingDivergedError, TrainingFailedError
from ..gradients._decomposition import _uncompiled, _ZeroGradientError

__all__ = ["GradientSpectrum"]


def _to_numpy(a):
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return None if a is None else np.asarray(a)


def _split_rows(dataset):
    """The rows of the fit's data that ``dataset`` holds: the indices of a (nested)
    ``torch.utils.data.Subset``, as a split makes, composed; None for the whole data."""
    from torch.utils.data import Subset

    rows = None
    while isinstance(dataset, Subset):
        indices = np.asarray(dataset.indices)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    return rows


def _positive_int(value):
    return not isinstance(value, bool) and isinstance(value, Integral) and value >= 1


class GradientSpectrum(_PublicParams, Callback):
    """Record :func:`sklrank.gradients.gradient_decomposition`'s summary during training.

    For a :class:`~sklrank.TwoLayerNetRegressor` or :class:`~sklrank.TwoLayerNetClassifier`
    (on any device: the decomposition runs in float64 on the CPU). After every ``every``-th
    epoch, or after each epoch listed in ``epochs``, the first-layer gradient is decomposed
    at the current weights and the scalars of
    :meth:`~sklrank.gradients.GradientDecomposition.summary` are written into the history row
    under ``prefix + name`` (e.g. ``grad_s1_norm``,
    ``grad_s2_norm``, ``grad_sv1``, ``grad_cos_spike_1``); other epochs get no entry. The
    decomposition at the initial weights is kept in ``initial_``.

    Parameters
    ----------
    X, y : array-like, default=None
        Data at which the gradient is taken (labels as given to the classifier). None: the
        rows the current fit trains on (without the validation rows of a ``train_split``);
        a fit with ``sample_weight`` then needs them given (the decomposition is of the
        unweighted loss).
    every : int, default=1
        Record every ``every`` epochs.
        With ``every > 1`` on a plain skorch net with ``verbose=1``, pass
        ``callbacks__print_log=sklrank.callbacks.PrintLog()``: skorch's own table moves a
        line's numbers under the wrong headers when a key is recorded on some epochs only
        (sklrank's estimators use that table by default).
    spike : array-like of shape (n_features,), Bunch or None, default=None
        Spike direction q or the Bunch of :func:`sklrank.datasets.make_spiked`; None
        estimates q as the top principal direction of X.
    bulk : array-like, default=None
        The bulk X_B, see :func:`~sklrank.gradients.gradient_decomposition`.
    prefix : str, default="grad\\_"
        Prefix of the history keys.
    random_state : int, default=0
        Seed of the input-noise draw when the net has ``input_noise > 0`` (and
        ``regularised=True``).
    epochs : sequence of int or None, default=None
        Record after exactly these epochs (counted as in ``net.history``, from 1) instead of
        every ``every`` epochs, e.g. ``np.geomspace(1, 500, 12).astype(int)`` for a
        logarithmic grid. Leave ``every`` at 1 when you pass it.
    regularised : bool, default=True
        True: the gradient of the training loss (data term plus the net's weight decay and
        Jacobian penalty, at one input-noise draw when ``input_noise > 0``). False: the
        gradient of the data loss alone at the clean inputs (what the regularisers did to
        the weights, without their own gradient).

    Attributes
    ----------
    initial_ : GradientDecomposition
        The decomposition at the weights the fit starts from (before its first step).

    Raises
    ------
    FloatingPointError
        During fit, when the weights are no longer finite (training diverged).

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
                 random_state=0, epochs=None, regularised=True):
        self.X = X
        self.y = y
        self.every = every
        self.spike = spike
        self.bulk = bulk
        self.prefix = prefix
        self.random_state = random_state
        self.epochs = epochs
        self.regularised = regularised

    def initialize(self):
        if not _positive_int(self.every):
            raise ValueError(f"every must be a positive integer, got {self.every!r}.")
        if self.epochs is not None:
            epochs = list(np.atleast_1d(np.asarray(self.epochs, dtype=object)))
            if not epochs or not all(_positive_int(e) for e in epochs):
                raise ValueError(
                    "epochs must be a non-empty sequence of positive integers (epoch numbers "
                    f"as in net.history, from 1), got {self.epochs!r}."
                )
            if self.every != 1:
                raise ValueError("pass every or epochs to GradientSpectrum, not both.")
            self.epochs_ = frozenset(int(e) for e in epochs)
        else:
            self.epochs_ = None
        if not isinstance(self.prefix, str):
            raise TypeError(f"prefix must be a str, got {type(self.prefix).__name__}.")
        if not isinstance(self.regularised, bool | np.bool_):
            raise TypeError(f"regularised must be True or False, got {self.regularised!r}.")
        if (self.X is None) != (self.y is None):
            raise ValueError("pass both X and y to GradientSpectrum, or neither (training data).")
        return self

    def _decompose(self, net):
        from ..gradients import gradient_decomposition

        regs = {}
        if not self.regularised:
            regs = {"weight_decay": 0.0, "input_noise": 0.0, "jacobian_penalty": 0.0}
        if self.X is not None:
            return gradient_decomposition(
                net, self.X, self.y, spike=self.spike, bulk=self.bulk,
                random_state=self.random_state, **regs,
            )
        # the training data, with the classifier's labels encoded (0/1) in on_train_begin
        regs = {
            name: regs.get(name, getattr(net, name, 0.0))
            for name in ("weight_decay", "input_noise", "jacobian_penalty")
        }
        return gradient_decomposition(
            net.module_, self.X_fit_, self.y_fit_,
            spike=self.__dict__.get("_spike_fit", self.spike), bulk=self.bulk,
            loss=net._gradient_loss,
            random_state=self.random_state, **regs,
        )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        from ..nn import TwoLayerNet

        module = _uncompiled(getattr(net, "module_", None))
        if not isinstance(module, TwoLayerNet):
            raise TypeError(
                "GradientSpectrum records the gradient of a sklrank.nn.TwoLayerNet; use it "
                "with TwoLayerNetRegressor or TwoLayerNetClassifier, not with a net whose "
                f"module_ is a {type(module).__name__}."
            )
        if self.X is None:
            if X is None or y is None:
                raise ValueError("GradientSpectrum needs X and y: pass them, or fit with y.")
            if isinstance(X, dict) and "sample_weight" in X:
                raise ValueError(
                    "GradientSpectrum decomposes the gradient of the unweighted loss, but this "
                    "fit has sample_weight; pass the rows to decompose as "
                    "GradientSpectrum(X=..., y=...), or fit without sample_weight."
                )
            self._set_fit_data(net, X, y)
            if net.train_split is not None:
                # the rows the net trains on are known at the first epoch, after the split
                self._initial_pending = True
                return
        self.initial_ = self._decompose(net)

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        """With a ``train_split``, decompose at the initial weights on the training rows.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net being trained.
        dataset_train : torch.utils.data.Dataset, default=None
            The rows it trains on (after the split).
        **kwargs : dict
            Other skorch callback arguments (ignored).
        """
        self._initial_from(net, dataset_train)

    def _initial_from(self, net, dataset_train):
        """The initial decomposition, on the training rows of the split, once a fit."""
        if self.__dict__.pop("_initial_pending", False):
            # the training rows of the split (not the validation rows), at the initial weights
            rows = _split_rows(dataset_train)
            if rows is not None:
                self.X_fit_, self.y_fit_ = self.X_fit_[rows], self.y_fit_[rows]
                if hasattr(self.spike, "z"):
                    # a make_spiked Bunch holds one z a sample: those of the training rows
                    self._spike_fit = copy.copy(self.spike)
                    self._spike_fit.z = np.asarray(self.spike.z)[rows]
            self.initial_ = self._decompose(net)

    def _set_fit_data(self, net, X, y):
        self.X_fit_ = _to_numpy(X).astype(np.float64)
        y = _to_numpy(y).reshape(len(self.X_fit_), -1)[:, 0]
        # the targets as the decomposition takes them (a label's index in classes_)
        self.y_fit_ = net._encode_target(y)

    def _records(self, epoch):
        if self.epochs_ is not None:
            return epoch in self.epochs_
        return epoch % self.every == 0

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if not self._records(epoch):
            return
        if not bool(torch.isfinite(net.module_.weight.detach()).all()):
            raise TrainingDivergedError(
                f"training diverged: the weights hold NaN or infinity after epoch {epoch}; "
                f"lower lr (now {getattr(net, 'lr', '?')}) or the regularisers."
            )
        try:
            result = self._decompose(net)
        except _ZeroGradientError as exc:
            if not exc.units_dead:
                raise
            raise TrainingFailedError(
                f"training failed: the network died (every unit is inactive or saturated on "
                f"every sample after epoch {epoch}, so the gradient is exactly zero and there "
                f"is nothing to decompose); lower lr (now {getattr(net, 'lr', '?')}) or scale "
                "X down."
            ) from exc
        for key, value in result.summary().items():
            net.history.record(self.prefix + key, value)

    def _recorded_keys(self, net):
        """The history keys this callback writes (on the recorded epochs only), for
        sklrank.callbacks.PrintLog's header."""
        initial = getattr(self, "initial_", None)
        return () if initial is None else tuple(self.prefix + key for key in initial.summary())

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.__dict__.get("_initial_pending") and X is not None:
            # no epoch ran (max_epochs=0): the training rows of the net's split of X
            self._initial_from(net, net.get_split_datasets(X, y)[0])
        self.__dict__.pop("_initial_pending", None)
        self.__dict__.pop("X_fit_", None)
        self.__dict__.pop("y_fit_", None)
        self.__dict__.pop("_spike_fit", None)

    def _on_train_error(self, net):
        """Training raised: the copy of the training data is released as at its end."""
        self.on_train_end(net)
