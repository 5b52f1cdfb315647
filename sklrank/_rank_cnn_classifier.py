"""RankCNNClassifier: the two-layer Huberized-ReLU CNN as a skorch / scikit-learn classifier."""

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from skorch import NeuralNetClassifier

from ._base import (
    CLASSES_PARAM_DOC,
    SKORCH_PARAMS_DOC,
    _BaseNet,
    _ClassifierNet,
    default_callbacks,
)
from ._patches import _positive_ints, check_image_geometry
from ._rank import stable_rank
from .callbacks._rank_history import RankHistory, _plain, bank_stable_ranks, filter_matrix_of
from .nn._activations import HuberizedReLU
from .nn._two_layer_cnn import TwoLayerCNN

__all__ = ["RankCNNClassifier"]

# Patch norms above this are not of the unit scale the defaults are made for (a 28 x 28 tile
# of pixels in [0, 1] has a norm of about 9; of raw 0..255 pixels, about 2300).
_LARGEST_UNIT_PATCH_NORM = 100.0


class _NetRankHistory(RankHistory):
    """The default RankHistory: records every ``net.rank_every`` epochs, or not at all (None).

    Its own ``every`` stays None: ``callbacks__filter_rank__every`` set to another value
    than ``rank_every`` is refused rather than overridden without a word.
    """

    def __init__(self, every=None, defer="auto"):
        super().__init__(every=every, defer=defer)

    def initialize(self):
        if self.every is not None:
            super().initialize()
        return self

    def _interval(self, net):
        return net.rank_every

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.every is not None and self.every != net.rank_every:
            raise ValueError(
                f"callbacks__filter_rank__every={self.every!r} but rank_every="
                f"{net.rank_every!r}: the default rank recorder follows rank_every; set "
                f"rank_every={self.every!r} instead."
            )
        if net.rank_every != 1:
            self._check_monitors(net)
        if net.rank_every is not None:
            super().on_train_begin(net, X=X, y=y, **kwargs)

    def _check_monitors(self, net):
        """Refuse a callback (EarlyStopping, LRScheduler's ReduceLROnPlateau) that monitors a
        rank at every epoch while rank_every records it on some epochs only (skorch's
        callbacks failed at the first epoch without it: "Key ... was not found")."""
        keys = ("filter_stable_rank", "filter_bank_stable_ranks")
        callbacks = getattr(net, "callbacks_", ())
        if any(type(callback) is RankHistory and callback.every == 1
               for _, callback in callbacks):
            return  # the user's own recorder writes them every epoch
        for name, callback in callbacks:
            monitor = getattr(callback, "monitor", None)
            if isinstance(monitor, str) and monitor in keys:
                kind = type(callback).__name__
                what = kind if name == kind else f"{name!r} ({kind})"
                when = ("does not record it" if net.rank_every is None else
                        f"records it every {net.rank_every} epochs only")
                raise ValueError(
                    f"The callback {what} monitors {monitor!r} at every epoch, but "
                    f"rank_every={net.rank_every!r} {when}; set rank_every=1."
                )

    def on_epoch_end(self, net, **kwargs):
        if net.rank_every is not None:
            super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        if net.rank_every is not None:
            super().on_train_end(net, **kwargs)

    def _recorded_keys(self, net):
        return () if net.rank_every is None else super()._recorded_keys(net)


class RankCNNClassifier(_ClassifierNet, NeuralNetClassifier):
    __doc__ = (
        """Two-layer Huberized-ReLU CNN trained by full-batch gradient descent (Zhang et al. 2025).

    One bank of ``n_filters`` convolution filters per class; the logit of class ``c`` is the
    mean, over the bank's filters and over the patches, of ``sigma(<w, patch>)``; the second
    layer is fixed. For two classes the cross-entropy on the two logits is the paper's logistic
    loss on ``F_{+1} - F_{-1}``. Training defaults are the paper's: plain SGD on the whole
    training set (one step an epoch), no validation split. The stable rank of the filter
    matrix is recorded in ``history`` as training goes (see
    :class:`sklrank.callbacks.RankHistory`).

    Read more in section A of ``docs/science.md``.

    Parameters
    ----------
    module : torch.nn.Module class, default=sklrank.nn.TwoLayerCNN
        The network; it receives the geometry, ``n_classes`` and the parameters below as
        keyword arguments (``module__<name>`` parameters override them).
    input_shape : array-like of 3 ints or None, default=None
        ``(channels, height, width)`` of one flattened sample (a tuple, a list or an array
        of Python or numpy ints; fractional values such as 28.5 or 28.0, and bools, are
        refused at fit); None means ``(1, 1, n_features)``.
    kernel_size : int, array-like of 2 ints or None, default=None
        Filter size ``(kh, kw)``; None means the whole image.
    stride : int, array-like of 2 ints or None, default=None
        None means ``kernel_size`` (non-overlapping patches).
    padding : {"none", "circular"}, default="none"
        "circular" wraps the image around (pads right and bottom by ``k - 1``), exactly as
        :func:`sklrank.patch_matrix` does.
    n_filters : int, default=40
        Filters per class, ``m``. Many filters per class make the winner-take-all statistics
        regular (each signal direction is won by many filters).
    activation : {"huberized", "relu"}, torch.nn.Module or callable, default="huberized"
        The activation; "huberized" is :class:`sklrank.nn.HuberizedReLU` with ``q`` and
        ``kappa``.
    q : float, default=3
        Power of the Huberized ReLU, ``q >= 1`` (``q = 1`` is the plain ReLU).
    kappa : float, default=1.0
        Threshold of the Huberized ReLU, ``kappa > 0``.
    init_std : float, default=0.01
        Filter entries are initialised i.i.d. ``N(0, init_std^2)``; small against ``kappa``
        so that the filters spend their early training in the ``z^q`` regime
        (winner-take-all).
    lr : float, default=50.0
        Learning rate eta of gradient descent. The fixed second layer scales each filter's
        gradient by ``1 / (n_filters * n_patches)``, hence the large default: the step of one
        filter is about ``lr / (n_filters * n_patches)`` (0.31 with the defaults and 4
        patches). Scale it with ``n_filters``.
    max_epochs : int, default=300
        Number of epochs; with full-batch training one epoch is one gradient step.
    random_state : int, RandomState instance or None, default=None
        Seeds the filter initialisation (torch's CPU generator, seeded for it and restored
        after: the global torch state is left unchanged, also in other threads), the order
        of shuffled mini-batches (``iterator_train__shuffle=True``) and the validation part
        of a ``train_split=ValidSplit(fraction)`` without a ``random_state`` of its own. The
        same int gives the same filters and the same fitted model, bitwise on one machine
        with the same number of torch threads (another count may change the last bits:
        torch splits the convolution's sums over its threads).
    rank_every : int or None, default=1
        Record the filter stable rank in ``history`` every ``rank_every`` epochs (and at the
        last epoch); None records nothing during training (the fitted attributes are still
        set). As :class:`~sklrank.callbacks.RankHistory` with ``defer="auto"``: without
        ``verbose``, ``progress_bar`` or callbacks of your own, the rows get their ranks at
        the end of training (computed together, with no host synchronisation an epoch);
        otherwise at each recorded epoch, where a callback can read them. The recorder is
        the callback ``"filter_rank"``: ``callbacks__filter_rank__defer`` sets its
        ``defer``, and a ``callbacks__filter_rank__every`` other than ``rank_every`` is
        refused at fit.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Applied to the logits and the labels' indices in ``classes_`` (whatever the labels);
        a loss of your own goes here (see the user guide's :ref:`skorch_users`).
    optimizer : torch optimizer class, default=torch.optim.SGD
        Plain SGD: no momentum, no weight decay unless given as ``optimizer__*``.
    batch_size : int, default=-1
        -1 trains on the whole training set at once (full-batch gradient descent).
    train_split : callable or None, default=None
        No internal validation split.
    device : str or torch.device, default="cpu"
        Where the module and the data live during training.
    verbose : int, default=0
        0 is silent; 1 prints skorch's per-epoch table (``train_loss``, ``valid_loss`` and
        ``valid_acc`` with a ``train_split``, ``filter_stable_rank``, ``dur``), as skorch
        does.
    progress_bar : bool, default=False
        Show a tqdm progress bar per fit (one tick an epoch, with the loss and the filter
        stable rank), alone or beside the table.
"""
        + CLASSES_PARAM_DOC
        + SKORCH_PARAMS_DOC
        + """    **kwargs
        skorch's parameters of the parts, by prefix (``optimizer__momentum``,
        ``module__pooling``, ``iterator_train__*``, ``callbacks__<name>__*``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (any type), in the order of the logits and of the filter banks.
    n_features_in_ : int
        Number of features seen during fit.
    input_shape_ : tuple of 3 ints
        ``(C, H, W)`` of one sample.
    kernel_size_ : tuple of 2 ints
        ``(kh, kw)``.
    stride_ : tuple of 2 ints
        ``(sh, sw)``.
    filters_ : ndarray of shape (n_banks * n_filters, C * kh * kw)
        The trained filters, one flattened filter a row, the banks stacked in ``classes_``
        order (``n_banks = n_classes``, 2 for binary problems). Read-only.
    filter_stable_rank_ : float
        Stable rank of ``filters_``.
    filter_bank_stable_ranks_ : dict
        Class label -> stable rank of that class's bank of filters.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``dur``, ``valid_loss`` and ``valid_acc`` (with a
        ``train_split``) and (every ``rank_every`` epochs) ``filter_stable_rank`` and
        ``filter_bank_stable_ranks``.

    Notes
    -----
    The fitted attributes that describe the network (``filters_``, the ranks, the geometry)
    are read from the module as it is: they follow ``set_params`` (which re-initialises the
    module for ``module__*`` parameters, as in skorch), ``load_params`` and further training,
    and they exist as soon as the net is initialised, so ``initialize()`` followed by
    ``load_params(f_params=...)`` gives a usable estimator. ``classes_`` after
    ``initialize()`` are the ``classes`` parameter (sorted), else the indices ``0 .. k-1``.

    A fit that did not train is not a result: a diverged fit raises
    :class:`~sklrank.exceptions.TrainingDivergedError`, a dead network (every gradient zero)
    :class:`~sklrank.exceptions.TrainingFailedError`, and a training loss that never moved a
    :class:`~sklearn.exceptions.ConvergenceWarning`, each naming the likely cause measured
    from the data. The defaults expect inputs of unit scale (patch norms of order 1 to 10,
    e.g. pixels in [0, 1]): scale raw 0..255 pixels first.

    See Also
    --------
    sklrank.patch_matrix : the patches the filters see,
        ``patch_matrix(X, clf.input_shape_, clf.kernel_size_, clf.stride_, clf.padding)``.

    Examples
    --------
    >>> from sklrank import RankCNNClassifier
    >>> from sklrank.datasets import make_low_rank_patches
    >>> X, y = make_low_rank_patches(n_samples=100, random_state=0)
    >>> clf = RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64), max_epochs=50,
    ...                         random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.filters_.shape
    (80, 64)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """
    )

    _init_only_kwargs = ("init_std", "random_state")
    _parameter_constraints = {
        **_ClassifierNet._common_constraints,
        "input_shape": [None, tuple, list, np.ndarray],
        "kernel_size": [None, Interval(Integral, 1, None, closed="left"), tuple, list,
                        np.ndarray],
        "stride": [None, Interval(Integral, 1, None, closed="left"), tuple, list, np.ndarray],
        "padding": [StrOptions({"none", "circular"})],
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"huberized", "relu"}), callable],
        "q": [Interval(Real, 1, None, closed="left")],
        "kappa": [Interval(Real, 0, None, closed="neither")],
        "init_std": [Interval(Real, 0, None, closed="neither")],
        "rank_every": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        module=TwoLayerCNN,
        *,
        input_shape=None,
        kernel_size=None,
        stride=None,
        padding="none",
        n_filters=40,
        activation="huberized",
        q=3,
        kappa=1.0,
        init_std=0.01,
        lr=50.0,
        max_epochs=300,
        random_state=None,
        rank_every=1,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        batch_size=-1,
        train_split=None,
        device="cpu",
        verbose=0,
        progress_bar=False,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.input_shape = input_shape
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.n_filters = n_filters
        self.activation = activation
        self.q = q
        self.kappa = kappa
        self.init_std = init_std
        self.random_state = random_state
        self.rank_every = rank_every
        self.progress_bar = progress_bar

    @property
    def _default_callbacks(self):
        # The same list whatever the parameter values (get_params reads it, even with invalid
        # values set): the callbacks read rank_every / verbose / progress_bar at fit time.
        return default_callbacks(True, [("filter_rank", _NetRankHistory())])

    # ------------------------------------------------------------------ geometry
    def _geometry(self, n_features):
        """``(input_shape, kernel_size, stride)`` for samples of ``n_features`` features."""
        if self.input_shape is None:
            shape = (1, 1, n_features)
        else:
            shape = _positive_ints(self.input_shape, 3, "input_shape",
                                   "(channels, height, width)")
            if n_features is not None and int(np.prod(shape)) != n_features:
                raise ValueError(
                    f"input_shape={shape} describes {int(np.prod(shape))} features per sample "
                    f"but X has {n_features}; pass X with one flattened (channels, height, "
                    "width) image a row, or fix input_shape."
                )
        return check_image_geometry(shape, self.kernel_size, self.stride, self.padding)

    def _check_fit_X(self, X, reset):
        if reset:
            self._geometry(X.shape[1])  # raises for a geometry that does not fit X

    def _module_kwargs(self, seed):
        n_features = self.__dict__.get("n_features_in_")
        if n_features is None and self.input_shape is None:
            raise NotFittedError(
                f"{type(self).__name__} learns its geometry from X: call fit, or set "
                "input_shape (and classes) to initialize it before fitting."
            )
        input_shape, kernel_size, stride = self._geometry(n_features)
        if "classes_inferred_" in self.__dict__:
            n_classes = len(self.classes_inferred_)
        elif self.classes is not None and len(self.classes):
            n_classes = len(np.unique(np.asarray(self.classes)))
        else:
            n_classes = 2
        kwargs = {
            "input_shape": input_shape,
            "kernel_size": kernel_size,
            "stride": stride,
            "padding": self.padding,
            "n_classes": n_classes,
            "n_filters": self.n_filters,
            "activation": self._module_activation(),
            "q": self.q,
            "kappa": self.kappa,
            "init_std": self.init_std,
            "random_state": seed,
        }
        kwargs.update(self.get_params_for("module"))
        return kwargs

    def initialize_module(self):
        """Build the network with the fitted geometry, seeded by ``random_state``."""
        # the filters' cache is keyed by the module's id, which a new module may reuse
        self.__dict__.pop("_filter_summary_cache", None)
        super().initialize_module()
        if "n_features_in_" not in self.__dict__:
            self.n_features_in_ = int(np.prod(self.module_.input_shape))
        return self

    def _n_outputs(self):
        return self.module_.n_banks

    def _loss_change_bound(self, delta, X):
        """How much the cross-entropy can differ between filters that differ by ``delta``.

        Each logit is a mean over a bank's filters (and its patches) of a 1-Lipschitz
        activation of ``w . x_p``, so it moves by at most the bank's mean filter change times
        the largest patch norm (bounded by the largest sample norm; times the patch count for
        ``pooling="sum"``), and the
        cross-entropy of a sample by at most twice the largest logit change: a bound on the
        mean loss as well. None for other modules, activations or criteria. ``X``: the
        training inputs (or a tensor holding them), or their patches ``(n, P, D)``.
        """
        module, criterion = self.module_, self.criterion_
        activation = getattr(module, "activation", None)
        if (type(module) is not TwoLayerCNN or X is None or set(delta) != {"weight"}
                or type(criterion) is not torch.nn.CrossEntropyLoss
                or criterion.reduction != "mean"
                or type(self).get_loss is not _BaseNet.get_loss
                or not (type(activation) is torch.nn.ReLU
                        or (type(activation) is HuberizedReLU and activation.q >= 1))):
            return None
        step = delta["weight"].reshape(module.n_banks, module.n_filters, -1)
        step = float(step.to(torch.float64).norm(dim=2).mean(dim=1).max())
        patch = self._largest_patch_norm(X)
        factor = module.n_patches if module.pooling == "sum" else 1
        return 2.0 * step * patch * factor

    @staticmethod
    def _largest_patch_norm(X, rows=4096):
        """A bound on the norm of any patch the filters see in ``X``: the largest norm of a
        sample (a patch holds some of its pixels, each once), in row chunks, summed in
        float32 and raised by 0.1 % (far above its rounding). ``X`` of shape ``(n, P, D)``
        holds the samples' patches."""
        chunks = [
            torch.linalg.vector_norm(
                X[i:i + rows].detach().to(torch.float32).reshape(min(rows, len(X) - i), -1),
                dim=1).max()
            for i in range(0, len(X), rows)
        ]
        # (one read of the device for the whole of X, not one a chunk)
        return 1.001 * float(torch.stack(chunks).max()) if chunks else 0.0

    # ------------------------------------------------------------------ fitted state
    # Everything below is derived from the module as it is now, so it can never go stale
    # (after set_params re-initialises the module, load_params, or more training); the
    # values are cached until the module's weights change.
    @property
    def input_shape_(self):
        """``(C, H, W)`` of one sample."""
        return self._fitted_module().input_shape

    @property
    def kernel_size_(self):
        """``(kh, kw)``."""
        return self._fitted_module().kernel_size

    @property
    def stride_(self):
        """``(sh, sw)``."""
        return self._fitted_module().stride

    @property
    def filters_(self):
        """The filters, one flattened filter a row, banks stacked in ``classes_`` order."""
        return self._filter_summary()["filters"]

    @property
    def filter_stable_rank_(self):
        """Stable rank of ``filters_``."""
        return self._filter_summary()["stable_rank"]

    @property
    def filter_bank_stable_ranks_(self):
        """Class label -> stable rank of that class's bank of filters."""
        return dict(self._filter_summary()["bank_stable_ranks"])

    def _fitted_module(self):
        self._check_not_failed()
        if not self._is_initialized():
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: call 'fit' (or "
                "'initialize' and 'load_params') first."
            )
        return self.module_

    def _filter_summary(self):
        weight = self._fitted_module().weight
        key = (id(self.module_), weight.data_ptr(), weight._version)
        cached = self.__dict__.get("_filter_summary_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        filters = filter_matrix_of(self.module_)
        if not bool(torch.isfinite(filters).all()):
            raise ValueError("The filters hold NaN or infinity: the network diverged.")
        array = filters.numpy().copy()
        array.flags.writeable = False  # a cached value: mutate a copy
        ranks = bank_stable_ranks(filters, self.module_.n_banks)
        labels = self.classes_ if len(self.classes_) == len(ranks) else range(len(ranks))
        summary = {
            "filters": array,
            "stable_rank": stable_rank(filters),
            "bank_stable_ranks": {_plain(c): r for c, r in zip(labels, ranks)},
        }
        self._filter_summary_cache = (key, summary)
        return summary

    # ------------------------------------------------------------------ failures
    def _scale_report(self, X, failure):
        from ._patches import patch_matrix

        lr, kappa, q, init_std = self.lr, self.kappa, self.q, self.init_std
        if X is None:
            return f"Likely causes: lr={lr:g}, the input scale, kappa={kappa:g}."
        module = self.module_
        patches = patch_matrix(X, module.input_shape, module.kernel_size, module.stride,
                               module.padding)
        norm = float(np.sqrt(np.mean(np.sum(patches**2, axis=1))))
        scale = f"root-mean-square patch norm {norm:.3g}, largest |X| {np.abs(X).max():.3g}"
        if failure == "diverged_at_start":
            if norm > _LARGEST_UNIT_PATCH_NORM:
                return (
                    f"Likely cause: the input scale ({scale}) overflows the forward pass in "
                    "float32: scale X to unit scale (e.g. pixels / 255, or StandardScaler)."
                )
            return (
                f"Likely cause: the activation or the module gives non-finite outputs on these "
                f"inputs ({scale}); check activation, q and kappa."
            )
        if failure in ("diverged", "died"):
            # (a schedule that raised the step was reported as "lr=1 is too large")
            scheduled = not math.isclose(self._last_step_lr(), lr, rel_tol=1e-6)
            used = (f"; the learning-rate schedule set the step to {self._last_step_lr():g} at "
                    "the end" if scheduled else "")
            if norm > _LARGEST_UNIT_PATCH_NORM:
                return (
                    f"Likely cause: the input scale ({scale}; the defaults expect inputs of "
                    "unit scale, e.g. pixels in [0, 1], patch norms of order 1 to 10): scale X "
                    f"(e.g. pixels / 255, or StandardScaler), or lower lr (now {lr:g}{used}) "
                    "by the square of the scale."
                )
            return (
                f"Likely cause: {self._lr_text()} is too large for inputs of this scale "
                f"({scale}): lower {'lr or the schedule' if scheduled else 'lr'}."
            )
        pre_activation = init_std * norm
        slope = min(1.0, pre_activation / kappa) ** (q - 1)
        if slope < 1e-4:  # the paper's defaults start near 1e-3 (a slow, winner-take-all start)
            return (
                f"Likely cause: the initial pre-activations (init_std * patch norm = "
                f"{pre_activation:.3g}; {scale}) are tiny against kappa={kappa:g}, where the "
                f"Huberized ReLU's slope is (z / kappa)^(q - 1) = {slope:.2g}: the gradients "
                "vanish. Scale X up to unit scale, raise init_std or lr, or lower kappa."
            )
        return (
            f"Likely cause: too few epochs or too small a step ({scale}; lr={lr:g}, "
            f"max_epochs={self.max_epochs}); raise lr or max_epochs."
        )

    # ------------------------------------------------------------------ diagnostics
    def filter_alignment(self, basis):
        """Each filter's best-aligned basis vector: the largest ``|cos|`` and its index.

        Parameters
        ----------
        basis : array-like of shape (n_basis, C * kh * kw)
            Reference directions (e.g. the signal basis of
            :func:`sklrank.datasets.make_low_rank_patches`), one a row; norms do not matter.

        Returns
        -------
        alignment : pandas.DataFrame
            One row per filter with columns ``filter`` (row of ``filters_``), ``bank`` (the
            class label of its bank), ``best_basis_index`` and ``max_abs_cos``.

        Examples
        --------
        >>> from sklrank import RankCNNClassifier
        >>> from sklrank.datasets import make_low_rank_patches
        >>> X, y, basis, _ = make_low_rank_patches(n_samples=100, random_state=0,
        ...                                        return_basis=True)
        >>> clf = RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64), max_epochs=20,
        ...                         random_state=0).fit(X, y)
        >>> clf.filter_alignment(basis).columns.tolist()
        ['filter', 'bank', 'best_basis_index', 'max_abs_cos']
        """
        self.check_is_fitted()
        if isinstance(basis, torch.Tensor):  # any device
            basis = basis.detach().cpu()
        basis = np.asarray(basis, dtype=np.float64)
        if basis.ndim == 1:
            basis = basis[None, :]
        dim = self.filters_.shape[1]
        if basis.ndim != 2 or basis.shape[1] != dim or basis.shape[0] == 0:
            raise ValueError(
                f"basis must have shape (n_basis, {dim}) (one flattened filter-sized vector a "
                f"row), got {basis.shape}."
            )
        if not np.isfinite(basis).all():
            raise ValueError("basis contains NaN or infinity.")
        norms = np.linalg.norm(basis, axis=1)
        if (norms == 0).any():
            raise ValueError("basis has a zero row; every basis vector needs a direction.")
        filters = self.filters_.astype(np.float64)
        f_norms = np.linalg.norm(filters, axis=1)
        cos = (filters @ basis.T) / np.maximum(f_norms, np.finfo(float).tiny)[:, None]
        cos /= norms[None, :]
        abs_cos = np.abs(cos)
        best = abs_cos.argmax(axis=1)
        m = self.filters_.shape[0] // len(self.classes_)
        return pd.DataFrame(
            {
                "filter": np.arange(len(filters)),
                "bank": np.repeat(self.classes_, m),
                "best_basis_index": best,
                "max_abs_cos": abs_cos[np.arange(len(filters)), best],
            }
        )
