"""RankCNNClassifier: the two-layer Huberized-ReLU CNN as a skorch / scikit-learn classifier."""

import contextlib
import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EpochTimer
from skorch.dataset import Dataset
from torch.utils.data import DataLoader

from ._patches import check_image_geometry
from ._rank import stable_rank
from .callbacks._progress import EpochProgressBar
from .callbacks._rank_history import RankHistory, _plain, bank_stable_ranks, filter_matrix_of
from .nn._cnn import TwoLayerCNN

__all__ = ["RankCNNClassifier"]


class _FullBatch:
    """An iterable that yields the whole training set as one batch, every epoch.

    Replaces a DataLoader for full-batch gradient descent: the tensors are already on the
    device, so there is nothing to index, collate or copy per epoch.
    """

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        yield self.X, self.y

    def __len__(self):
        return 1


class _TrainLoss(Callback):
    """Record ``train_loss``: the epoch's batch losses averaged, weighted by batch size.

    What skorch's ``PassthroughScoring("train_loss")`` records, at a fraction of its cost per
    epoch (which counts when one epoch is one full-batch gradient step).
    """

    def on_epoch_end(self, net, **kwargs):
        batches = [b for b in net.history[-1]["batches"] if "train_loss" in b]
        if not batches:
            return
        if len(batches) == 1:
            loss = batches[0]["train_loss"]
        else:
            sizes = [b.get("train_batch_size", 1) for b in batches]
            loss = sum(b["train_loss"] * n for b, n in zip(batches, sizes)) / sum(sizes)
        net.history.record("train_loss", loss)


class _NetRankHistory(RankHistory):
    """The default RankHistory: records every ``net.rank_every`` epochs, or not at all (None)."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.every = net.rank_every

    def on_epoch_end(self, net, **kwargs):
        if self.every is not None:
            super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        if self.every is not None:
            super().on_train_end(net, **kwargs)


@contextlib.contextmanager
def _seeded(seed):
    """Run the block with torch's CPU generator seeded, restoring the global state after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _geometry_error(input_shape, n_features):
    return ValueError(
        f"input_shape={tuple(input_shape)} describes {int(np.prod(input_shape))} features per "
        f"sample but X has {n_features}; pass X with one flattened (channels, height, width) "
        "image a row, or fix input_shape."
    )


class RankCNNClassifier(NeuralNetClassifier):
    """Two-layer Huberized-ReLU CNN trained by full-batch gradient descent (Zhang et al. 2025).

    One bank of ``n_filters`` convolution filters per class; the logit of class ``c`` is the
    mean, over the bank's filters and over the patches, of ``sigma(<w, patch>)``; the second
    layer is fixed. For two classes the cross-entropy on the two logits is the paper's logistic
    loss on ``F_{+1} - F_{-1}``. Training defaults are the paper's: plain SGD on the whole
    training set (one step an epoch), no validation split. The stable rank of the filter
    matrix is recorded in ``history`` as training goes (see :class:`sklrank.callbacks.
    RankHistory`).

    Read more in section A of ``docs/science.md``.

    Parameters
    ----------
    module : torch.nn.Module class, default=:class:`sklrank.nn.TwoLayerCNN`
        The network; it receives the geometry, ``n_classes`` and the parameters below as
        keyword arguments (``module__<name>`` parameters override them).
    input_shape : tuple of 3 ints or None, default=None
        ``(channels, height, width)`` of one flattened sample; None means ``(1, 1,
        n_features)``.
    kernel_size : int, pair of ints or None, default=None
        Filter size ``(kh, kw)``; None means the whole image.
    stride : int, pair of ints or None, default=None
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
        Seeds the filter initialisation (a local torch generator; the global torch state is
        left unchanged). The same int gives the same filters and, with full-batch training,
        the same fitted model.
    rank_every : int or None, default=1
        Record the filter stable rank in ``history`` every ``rank_every`` epochs (and at the
        last epoch); None records nothing during training (the fitted attributes are still
        set).
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Applied to the logits.
    optimizer : torch optimizer class, default=torch.optim.SGD
        Plain SGD: no momentum, no weight decay unless given as ``optimizer__*``.
    batch_size : int, default=-1
        -1 trains on the whole training set at once (full-batch gradient descent).
    train_split : callable or None, default=None
        No internal validation split.
    device : str or torch.device, default="cpu"
        Where the module and the data live during training.
    verbose : int, default=0
        0 is silent; 1 or more shows a tqdm progress bar for each fit.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` parameter (``callbacks``,
        ``optimizer__momentum``, ``module__pooling``, ...).

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
        order (``n_banks = n_classes``, 2 for binary problems).
    filter_stable_rank_ : float
        Stable rank of ``filters_``.
    filter_bank_stable_ranks_ : dict
        Class label -> stable rank of that class's bank of filters.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``dur`` and (every ``rank_every`` epochs)
        ``filter_stable_rank`` and ``filter_bank_stable_ranks``.

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

    _parameter_constraints = {
        "input_shape": [None, tuple, list],
        "kernel_size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "stride": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "padding": [StrOptions({"none", "circular"})],
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"huberized", "relu"}), callable],
        "q": [Interval(Real, 1, None, closed="left")],
        "kappa": [Interval(Real, 0, None, closed="neither")],
        "init_std": [Interval(Real, 0, None, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "rank_every": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Options(Integral, {-1}), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
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

    # ------------------------------------------------------------------ callbacks
    @property
    def _default_callbacks(self):
        # The same list whatever the parameter values (get_params reads it, even with invalid
        # values set): the rank and progress callbacks read rank_every / verbose at fit time.
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", _TrainLoss()),
            ("filter_rank", _NetRankHistory()),
            ("progress", EpochProgressBar()),
        ]

    @property
    def classes_(self):
        # skorch's property returns the `classes` parameter as given (unsorted); the logits and
        # the filter banks follow the sorted labels set at fit time.
        try:
            return self.classes_inferred_
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before it is fitted."
            ) from None

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_" as a parameter, which would include
        # its private bookkeeping (_params_to_validate, ...); __init__ rebuilds those itself.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        # sklearn's BaseEstimator._validate_params is shadowed by skorch's method of the same
        # name (which checks unexpected kwargs), so the constraints are checked here directly.
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )

    def _resolve_geometry(self, n_features):
        """input_shape_, kernel_size_, stride_ for samples of ``n_features`` features."""
        input_shape = (1, 1, n_features) if self.input_shape is None else self.input_shape
        try:
            shape = tuple(int(v) for v in input_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"input_shape must be (channels, height, width), got {input_shape!r}."
            ) from None
        if len(shape) == 3 and min(shape) >= 1 and int(np.prod(shape)) != n_features:
            raise _geometry_error(shape, n_features)
        return check_image_geometry(shape, self.kernel_size, self.stride, self.padding)

    def _validate_X(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype=np.float32, ensure_all_finite=True)
        return np.ascontiguousarray(X)

    def _prepare_fit_data(self, X, y, reset):
        """Validate X and y, set the fitted geometry and classes; tensors on the device."""
        X, y = validate_data(
            self, X, y, reset=reset, dtype=np.float32, ensure_all_finite=True,
        )
        X = np.ascontiguousarray(X)
        check_classification_targets(y)
        if reset:
            if self.classes is not None and len(self.classes):
                classes = np.unique(np.asarray(self.classes))
            else:
                classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in y; got "
                    f"one class only, {classes.tolist()}. Pass y with two or more classes."
                )
            self.classes_inferred_ = classes
            self.input_shape_, self.kernel_size_, self.stride_ = self._resolve_geometry(
                X.shape[1]
            )
        classes = self.classes_
        y_enc = np.searchsorted(classes, y)
        unseen = (y_enc >= len(classes)) | (classes[np.minimum(y_enc, len(classes) - 1)] != y)
        if unseen.any():
            raise ValueError(
                f"y holds labels {np.unique(y[unseen]).tolist()} that are not among the "
                f"classes {classes.tolist()}; list them in `classes` or refit from scratch."
            )
        device = self.device if self.device is not None else "cpu"
        X_t = torch.from_numpy(X).to(device)
        y_t = torch.from_numpy(y_enc.astype(np.int64)).to(device)
        return X_t, y_t

    def check_data(self, X, y=None):
        # Data were validated (and labels encoded) before skorch's fit loop sees them.
        pass

    # ------------------------------------------------------------------ skorch hooks
    def _module_kwargs(self):
        if hasattr(self, "input_shape_"):
            input_shape, kernel_size, stride = self.input_shape_, self.kernel_size_, self.stride_
            n_classes = len(self.classes_)
        else:
            if self.input_shape is None:
                raise NotFittedError(
                    f"{type(self).__name__} learns its geometry from X: call fit, or set "
                    "input_shape (and classes) to initialize it before fitting."
                )
            input_shape, kernel_size, stride = check_image_geometry(
                self.input_shape, self.kernel_size, self.stride, self.padding
            )
            n_classes = len(self.classes) if self.classes is not None else 2
        kwargs = {
            "input_shape": input_shape,
            "kernel_size": kernel_size,
            "stride": stride,
            "padding": self.padding,
            "n_classes": n_classes,
            "n_filters": self.n_filters,
            "activation": self.activation,
            "q": self.q,
            "kappa": self.kappa,
            "init_std": self.init_std,
        }
        kwargs.update(self.get_params_for("module"))
        return kwargs

    def _init_seed(self):
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def initialize_module(self):
        """Build the network with the fitted geometry, seeded by ``random_state``."""
        with _seeded(self._init_seed()):
            self.module_ = self.initialized_instance(self.module, self._module_kwargs())
        return self

    def get_iterator(self, dataset, training=False):
        """Full-batch training yields the device tensors themselves, without a DataLoader."""
        if (
            training
            and isinstance(dataset, Dataset)
            and isinstance(dataset.X, torch.Tensor)
            and isinstance(dataset.y, torch.Tensor)
            and self.iterator_train is DataLoader
            and not self.get_params_for("iterator_train")
            and (self.batch_size == -1 or self.batch_size >= len(dataset))
        ):
            return _FullBatch(dataset.X, dataset.y)
        return super().get_iterator(dataset, training=training)

    def on_epoch_end(self, net, **kwargs):
        """Raise as soon as the training loss stops being finite."""
        super().on_epoch_end(net, **kwargs)
        row = self.history[-1]
        for batch in row["batches"]:
            loss = batch.get("train_loss")
            if loss is not None and not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at epoch {row['epoch']}: the training loss is {loss}; "
                    f"lower lr (now {self.lr:g})."
                )

    # ------------------------------------------------------------------ fit
    def _is_fitted(self):
        return hasattr(self, "filters_") and getattr(self, "initialized_", False)

    def fit(self, X, y, **fit_params):
        """Initialise the network and train it with full-batch gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images (one ``input_shape`` image a row); float64 is cast to float32.
        y : array-like of shape (n_samples,)
            Class labels of any type, at least two classes.
        **fit_params : dict
            Passed on to skorch (and to the module's forward).

        Returns
        -------
        self : RankCNNClassifier

        Raises
        ------
        ValueError
            Naming the parameter, for invalid hyper-parameters (``q < 1``, ``kappa <= 0``,
            ``lr <= 0``, ...), NaN or infinite X, X inconsistent with ``input_shape``, a
            kernel larger than the image, or a single class in y.
        FloatingPointError
            When the training loss or the filters stop being finite ("training diverged at
            epoch k; lower lr").
        """
        self._check_params()
        warm = self.warm_start and self._is_fitted()
        X_t, y_t = self._prepare_fit_data(X, y, reset=not warm)
        if not warm:
            self.initialize()
        return self._train(X_t, y_t, "fit", fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising a fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : ignored
            The classes are fixed at the first fit (or by the ``classes`` parameter).
        **fit_params : dict

        Returns
        -------
        self : RankCNNClassifier
        """
        self._check_params()
        fitted = self._is_fitted()
        X_t, y_t = self._prepare_fit_data(X, y, reset=not fitted)
        if not fitted:
            self.initialize()
        return self._train(X_t, y_t, "partial_fit", fit_params)

    def _train(self, X_t, y_t, routing_method, fit_params):
        super(NeuralNetClassifier, self).partial_fit(
            X_t, y_t, _routing_method=routing_method, **fit_params
        )
        filters = filter_matrix_of(self.module_)
        if not bool(torch.isfinite(filters).all()):
            raise FloatingPointError(
                f"training diverged: the filters hold NaN or infinity after {len(self.history)} "
                f"epochs; lower lr (now {self.lr:g})."
            )
        self.filters_ = filters.numpy().copy()
        self.filter_stable_rank_ = stable_rank(filters)
        ranks = bank_stable_ranks(filters, len(self.classes_))
        self.filter_bank_stable_ranks_ = {_plain(c): r for c, r in zip(self.classes_, ranks)}
        return self

    # ------------------------------------------------------------------ predict
    def check_is_fitted(self, attributes=None, *args, **kwargs):
        """Raise :class:`sklearn.exceptions.NotFittedError` unless ``fit`` has run."""
        if attributes is None and not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        super().check_is_fitted(attributes, *args, **kwargs)

    def _logits(self, X):
        self.check_is_fitted()
        X = self._validate_X(X, reset=False)
        device = self.device if self.device is not None else "cpu"
        X_t = torch.from_numpy(X)
        chunk = len(X) if self.batch_size == -1 else max(self.batch_size, 1)
        self.module_.eval()
        with torch.no_grad():
            out = [
                self.module_(X_t[i : i + chunk].to(device)) for i in range(0, len(X), chunk)
            ]
        return torch.cat(out) if out else torch.empty(0, len(self.classes_))

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order.
        """
        logits = self._logits(X)
        return self._get_predict_nonlinearity()(logits).cpu().numpy()

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        index = self._logits(X).argmax(dim=1).cpu().numpy()
        return self.classes_[index]

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
