"""The private base of sklrank's skorch estimators.

:class:`~sklrank.RankCNNClassifier`, :class:`~sklrank.TwoLayerNetRegressor` and
:class:`~sklrank.TwoLayerNetClassifier` share what lives here: parameter validation, the
``random_state`` seeding skorch lacks, data validated once and kept on the device, full-batch
iteration without a DataLoader, sample weights, label encoding, the default callbacks of
skorch (with validation scores when ``train_split`` is set), and the checks that a fit which
did not train is never reported as a result.
"""

import contextlib
import contextvars
import copy
import inspect
import math
import threading
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight
from skorch import NeuralNet
from skorch.callbacks import EpochScoring, EpochTimer, ParamMapper, PassthroughScoring
from skorch.dataset import Dataset, ValidSplit, unpack_data
from skorch.helper import SliceDataset
from skorch.history import History
from skorch.utils import is_dataset, to_numpy
from torch.utils.data import DataLoader, Subset

from ._device import check_device
from ._interrupts import stop_requested
from ._params import _PublicParams, validate_parameter_constraints
from ._validation import validate_data
from .callbacks._print_log import PrintLog
from .callbacks._progress import EpochProgressBar
from .callbacks._rank_history import _restore_label_keys
from .exceptions import TrainingDivergedError, TrainingFailedError

# A fit whose training loss changed by less than this fraction of its first value learned
# nothing (the loss of an untrained network is log(n_classes) or the variance of y).
_UNMOVED_LOSS_RTOL = 1e-3
# A training loss that ends this many times above its first value diverged, finite or not
# (gradient descent with too large a step grows it geometrically, e.g. to 1e37)
_DIVERGED_LOSS_GROWTH = 1e3
# A fit from new weights whose training loss ends this many times above its first value (but
# below the divergence's growth) did not train: the step overshoots (it may still settle with
# more epochs: a two-layer regressor just above its stable step ended 300 times above its
# start after 10 epochs, below it after 30)
_RISEN_LOSS_GROWTH = 1.1
# A call that continues a fit (``partial_fit``, a ``warm_start`` refit) whose training loss
# ends this many times above the loss it began with made the network worse, e.g. a stream
# switched to too large a step (0.77 -> 160 in a call, R^2 = -88: below the divergence's
# growth, and the 10 % of a new fit is within a stream's noise). A call's steps lower the loss
# of its own data: healthy streams (two-layer nets and the CNN, full batch and mini-batches of
# 8, input noise 0.5, fresh or repeated data, 100 calls of 1 or 5 epochs each, near and far
# from their optimum) ended a call at most 1.11 times the loss it began with.
_STREAM_LOSS_GROWTH = 2.0
# Rows of X used to describe the input scale in a failure message.
_SCALE_SAMPLE_ROWS = 2048

# Where a fit's ConvergenceWarning goes when a caller records it (a sweep's row) instead of
# having it shown: a context variable, one per thread, because Python's warning filters
# (``warnings.catch_warnings``) are one per process and not safe in threads.
_RECORDED_CONVERGENCE = contextvars.ContextVar("sklrank_recorded_convergence", default=None)


@contextlib.contextmanager
def recorded_convergence_warnings():
    """Record the ConvergenceWarnings of the fits in this thread instead of issuing them.

    Yields the list the :class:`~sklearn.exceptions.ConvergenceWarning` instances are
    appended to. Safe in threads: other threads' fits still issue theirs.
    """
    caught = []
    token = _RECORDED_CONVERGENCE.set(caught)
    try:
        yield caught
    finally:
        _RECORDED_CONVERGENCE.reset(token)


def issue_convergence_warning(warning, stacklevel):
    """Issue ``warning``, or record it where :func:`recorded_convergence_warnings` is on."""
    caught = _RECORDED_CONVERGENCE.get()
    if caught is None:
        warnings.warn(warning, stacklevel=stacklevel + 1)
    else:
        caught.append(warning)


def warn_untrained(messages, what, stacklevel):
    """One ConvergenceWarning for the fits whose own was recorded (their rows say which).

    ``messages`` holds one string a fit, "" for a fit that trained (a results frame's column
    ``training_warning``); ``what`` names the fits ("sweep points", "training runs");
    ``stacklevel`` goes to :func:`warnings.warn` as it is (1 is this function).
    """
    messages = list(messages)
    marked = [message for message in messages if message]
    if marked:
        warnings.warn(
            f"{len(marked)} of the {len(messages)} {what} did not train (their fit issued a "
            "ConvergenceWarning); the column training_warning holds each message, e.g.: "
            f"{marked[0]}",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


def did_not_train(frame):
    """Boolean Series over ``frame``'s rows: the rows of fits that did not train.

    A row did not train when its column ``training_warning`` holds a message (the
    ConvergenceWarning of a loss that never moved or rose). Read back from a CSV, the empty
    messages are NaN (and a column of no message at all is float): those rows trained. A
    frame without the column (a study that trains nothing) has no such row.
    """
    import pandas as pd

    if "training_warning" not in frame:
        return pd.Series(False, index=frame.index)
    messages = frame["training_warning"]
    # (astype(str) of an all-NaN float column is "nan": test for NaN first)
    return messages.notna() & (messages.astype(str) != "")


# torch's global CPU generator is one per process: fits initialised in threads at once
# (joblib's threading backend, a Dask worker's threads) take turns with it. Re-entrant:
# ``initialize`` seeds around ``initialize_module``, which seeds again.
_GLOBAL_GENERATOR_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed):
    """Run the block with torch's CPU generator seeded, restoring the global state after.

    Only the CPU generator (the networks are built on the CPU): ``torch.manual_seed`` would
    also reseed every CUDA generator and leave them reseeded. Holds a process-wide lock (also
    for ``seed=None``, whose block draws from the generator as it is), so that a fit in
    another thread neither draws from nor reseeds the generator meanwhile.
    """
    with _GLOBAL_GENERATOR_LOCK:
        if seed is None:  # drawn from the global generator as it is
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield


class _History(History):
    """skorch's History, with ``history[i]`` for an int ``i`` read directly.

    skorch's ``History.__getitem__`` copies the whole list before it indexes, and skorch
    itself reads ``history[-1]`` about ten times an epoch (to record the epoch, the batch and
    the loss), so that bookkeeping grows with the square of the epochs (measured: a small
    two-layer net's epoch took 488 us over 3000 epochs with it, 375 us without). The row
    returned is the same dict; every other index (a tuple, a slice, a key) goes to skorch.
    """

    def __getitem__(self, i):
        if type(i) is int:
            return list.__getitem__(self, i)
        return super().__getitem__(i)


class _FullBatch:
    """Yields the whole data set as one batch every epoch, in place of a DataLoader.

    The tensors are already on the device, so there is nothing to index, collate or copy
    per epoch (a DataLoader with ``batch_size=len(dataset)`` stacks the samples one by one).
    """

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        yield self.X, self.y

    def __len__(self):
        return 1


def _take(data, indices):
    """Rows ``indices`` of a tensor, an array, a dict of those, or None."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        return {key: _take(value, indices) for key, value in data.items()}
    if isinstance(data, torch.Tensor):
        return data[torch.as_tensor(np.asarray(indices), device=data.device)]
    return np.asarray(data)[np.asarray(indices)]


def _check_loader_labels(dataset):
    """A DataLoader cannot collate labels beyond int64 (kept on the host for full batches)."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    y = getattr(dataset, "y", None)
    if (isinstance(y, np.ndarray) and y.dtype == np.uint64 and len(y)
            and y.max() > np.iinfo(np.int64).max):
        raise ValueError(
            f"y holds labels above 2**63 - 1 (e.g. {y.max()}), which torch's DataLoader "
            "cannot batch; train full-batch (batch_size=-1, no train_split), or map the "
            "labels to smaller integers or to strings."
        )


def _dataset_tensors(dataset):
    """``(X, y)`` of a skorch Dataset (or a Subset of one, as ValidSplit makes) whose X is a
    tensor or a dict of tensors; None for any other data set."""
    indices = None
    if isinstance(dataset, Subset):
        indices, dataset = dataset.indices, dataset.dataset
    if type(dataset) is not Dataset:
        return None
    X = dataset.X
    values = X.values() if isinstance(X, Mapping) else [X]
    if not all(isinstance(value, torch.Tensor) for value in values):
        return None
    y = dataset.y
    if indices is not None:
        X, y = _take(X, indices), _take(y, indices)
    return X, y


def _dataset_inputs(dataset):
    """The input tensor of a skorch Dataset, or of the one a Subset of it (a train_split's
    part) comes from (a superset of its rows, not copied); None for any other data set."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    X = getattr(dataset, "X", None) if isinstance(dataset, Dataset) else None
    if isinstance(X, Mapping):
        X = X.get("X")
    return X if isinstance(X, torch.Tensor) else None


def _split_weights(dataset):
    """The sample weights of a skorch Dataset (or a Subset of one) whose X is a dict holding
    ``"sample_weight"``, as an array or a tensor; None for any other data set."""
    indices = None
    while isinstance(dataset, Subset):
        indices = (dataset.indices if indices is None
                   else np.asarray(dataset.indices)[np.asarray(indices)])
        dataset = dataset.dataset
    X = getattr(dataset, "X", None)
    if not isinstance(dataset, Dataset) or not isinstance(X, Mapping):
        return None
    weights = X.get("sample_weight")
    if weights is None or indices is None:
        return weights
    return _take(weights, indices)


def _check_weight_range(weights):
    """Refuse sample weights whose total is beyond float32's normal range: the weighted loss
    ``sum_i w_i l_i / sum_i w_i`` is NaN (an infinite total, e.g. weights of 1e38) or its
    gradient overflows (a total below 1.2e-38, e.g. weights of 1e-45), which the failed fit
    blamed on the activation or on ``lr``. (All-zero weights are refused by scikit-learn.)"""
    total = float(np.sum(weights, dtype=np.float64))
    info = np.finfo(np.float32)
    if total > 0 and not float(info.tiny) <= total <= float(info.max):
        raise ValueError(
            f"sample_weight sums to {total:.3g}, outside float32's normal range "
            f"({float(info.tiny):.2g} to {float(info.max):.2g}) in which the weighted loss "
            "sum(w_i l_i) / sum(w_i) and its gradient are computed: training would give NaN. "
            "Scale the weights, e.g. to mean 1 (sample_weight / np.mean(sample_weight)): the loss "
            "(a weighted mean, with the default criterion__reduction='mean') is the same."
        )


def _sorted_labels(labels):
    """The distinct labels, sorted, in the machine's byte order: torch refuses arrays of the
    other one (big-endian labels, e.g. read with ``np.fromfile(..., ">i4")``)."""
    labels = np.unique(np.asarray(labels))
    if not labels.dtype.isnative:
        labels = labels.astype(labels.dtype.newbyteorder("="))
    return labels


def _inputs(X):
    """The input tensor of a batch: X itself, or X["X"] when X carries sample weights."""
    return X["X"] if isinstance(X, Mapping) else X


def _full_init_signature(init, bases):
    """The signature of ``init`` with the skorch parameters its ``**kwargs`` passes on.

    skorch's estimators take their parameters as ``__init__(module, *args, **kwargs)``, each
    subclass naming its new ones and passing the rest on to its base's ``__init__``. The
    parameters reached only through ``**kwargs`` (``iterator_train``, ``warm_start``,
    ``classes``, ...) are added as keyword-only ones, with the default of the nearest
    ``__init__`` in ``bases`` (the class's MRO after it) that names one: the value a
    default-constructed estimator has. ``**kwargs`` stays, for skorch's prefixed parameters
    (``module__*``, ``optimizer__*``, ``callbacks__*``, ...). scikit-learn reads the defaults
    from this signature (the repr with ``print_changed_only``, the HTML repr, the estimator
    checks), as do ``help`` and Sphinx.
    """
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return signature
    named = {param.name for param in params}
    passed_on = {}
    for base in bases:
        base_init = vars(base).get("__init__")
        if not inspect.isfunction(base_init):  # none, or object's
            continue
        for param in inspect.signature(base_init).parameters.values():
            if (param.name not in named and param.name not in passed_on
                    and param.default is not param.empty
                    and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)):
                passed_on[param.name] = param.replace(
                    kind=inspect.Parameter.KEYWORD_ONLY, annotation=param.empty
                )
    return signature.replace(parameters=[*params[:-1], *passed_on.values(), params[-1]])


# The Parameters entries of the skorch parameters that the estimators' ``**kwargs`` pass on
# (their signatures list them: see _full_init_signature), in the signatures' order.
CLASSES_PARAM_DOC = """    classes : array-like or None, default=None
        Every label the network is to predict (also labels missing from the training data
        or from the first ``partial_fit`` batch); None takes the labels of ``y``.
"""
SKORCH_PARAMS_DOC = """    iterator_train : type, default=torch.utils.data.DataLoader
        skorch's iterator over the training data for mini-batches (``batch_size`` not -1),
        with ``iterator_train__*`` options; full batches are the training tensors themselves.
    iterator_valid : type, default=torch.utils.data.DataLoader
        The same for the validation and prediction data (``iterator_valid__*``).
    dataset : type, default=skorch.dataset.Dataset
        skorch's data set class, which wraps the validated data.
    callbacks : list of skorch callbacks or None, default=None
        Callbacks run besides the default ones (``callbacks__<name>__<param>`` sets the
        parameters of any of them).
    predict_nonlinearity : callable, "auto" or None, default="auto"
        skorch's function applied to the module's output at prediction (``"auto"`` chooses
        it from the criterion).
    warm_start : bool, default=False
        Whether ``fit`` continues training the fitted network instead of starting anew.
    compile : bool, default=False
        Whether the module is compiled with ``torch.compile`` (``compile__*`` options).
    use_caching : bool or "auto", default="auto"
        Whether skorch's scoring callbacks reuse the predictions made during the epoch.
    torch_load_kwargs : dict or None, default=None
        Keyword arguments of ``torch.load`` in ``load_params`` (None: skorch's).
"""

class _BaseNet(_PublicParams):
    """Mixin (left of skorch's NeuralNet classes) with what the sklrank estimators share.

    Subclasses define ``_parameter_constraints``, ``_module_kwargs(seed)``, ``_prepare_targets(y,
    reset, classes)`` and ``_scale_report(X)`` (the likely causes of a failed fit, from the data).
    A subclass's ``__init__`` gets the signature of :func:`_full_init_signature`.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is not None:
            # scikit-learn's repr and HTML repr list the parameters that differ from the
            # defaults of this signature: every skorch parameter, had it only **kwargs.
            init.__signature__ = _full_init_signature(init, cls.__mro__[1:])

    # module keyword arguments that only shape a new network's initial weights
    _init_only_kwargs = ()
    # whether validate_data converts y to numbers (regressors)
    _y_numeric = False

    _common_constraints = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "batch_size": [Options(Integral, {-1}), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "progress_bar": ["boolean"],
    }

    # hyper-parameters that may hold a torch module instance (``activation=torch.nn.Tanh()``)
    _module_valued_params = ("activation",)

    # ------------------------------------------------------------------ parameters
    def __setattr__(self, name, value):
        # A module given as a hyper-parameter is a setting the network is built from, not a
        # component of the net: skorch refuses modules set outside ``initialize`` (so neither
        # the constructor nor set_params could take one) and would register it as one.
        if name in self._module_valued_params:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _module_activation(self):
        """The activation the network is built with: a module given as the setting is
        copied, so that training (a PReLU's slope) and device moves leave the setting as it
        was, and each fit starts from it."""
        activation = self.activation
        return copy.deepcopy(activation) if isinstance(activation, torch.nn.Module) else activation

    def _check_params(self):
        # sklearn's BaseEstimator._validate_params is shadowed by skorch's method of the same
        # name (which checks unexpected kwargs), so the constraints are checked here directly
        # (a bool refused where a number is meant: sklearn takes True for 1).
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        if isinstance(self.module, torch.nn.Module):
            # skorch builds type(instance)(**kwargs) when there are module kwargs, and there
            # always are: the instance's settings and weights were dropped without a word
            name = type(self.module).__name__
            raise ValueError(
                f"module={name}(...) is an instance: {type(self).__name__} builds a new "
                "network from its own parameters at every fit and initialize(), so the "
                "instance's settings and weights would not be used. Pass the class, "
                f"module={name}, and the settings as the estimator's parameters (or "
                "module__<setting>=...); for weights of your own, call initialize() and then "
                "load_params (or module_.load_state_dict)."
            )
        if self.device is not None:  # skorch's None: leave the module where it is
            device = check_device(self.device)
            if torch.device(device).type != "cpu":
                self._check_loader_options()

    def _check_loader_options(self):
        """DataLoader options that need the data on the host, refused off the CPU: the data
        are moved to the device before training (pinning a CUDA tensor fails, and workers
        forked from a process using CUDA cannot use it)."""
        for prefix in ("iterator_train", "iterator_valid"):
            options = self.get_params_for(prefix)
            for name in ("pin_memory", "num_workers"):
                if options.get(name):
                    raise ValueError(
                        f"{prefix}__{name}={options[name]!r} with device={self.device!r}: "
                        "sklrank moves the training data to the device before training, so "
                        "there is nothing for the DataLoader to pin or to load in workers "
                        f"(and CUDA tensors cannot be pinned or forked); drop {prefix}__{name}."
                    )

    def _get_params_html(self, deep=True, doc_link=""):
        # scikit-learn's HTML repr tables get_params(deep=True) of an estimator that holds no
        # others; skorch's adds every parameter of the default callbacks (callbacks__print_log,
        # callbacks__train_loss__name, ...), which the table would mark as set by the user.
        # The constructor's parameters (those set with a prefix included) are deep=False's.
        return super()._get_params_html(deep=False, doc_link=doc_link)

    # scikit-learn's repr, ``RankCNNClassifier(lr=0.1, max_epochs=5)``: the parameters that
    # differ from their defaults, wrapped and shortened (N_CHAR_MAX) as scikit-learn's own
    # estimators'. Its pretty printer wraps a nested estimator (in a Pipeline, a search) only
    # when the estimator's __repr__ is BaseEstimator's itself: skorch's (and this class's
    # earlier one) came out as one long line there. skorch's form, with the module of a
    # fitted net, is str() (print).
    __repr__ = BaseEstimator.__repr__

    def __str__(self):
        # skorch's repr lists the module only; add this estimator's parameters that differ
        # from their defaults, as scikit-learn's repr does.
        state = "initialized" if self.initialized_ else "uninitialized"
        lines = [f"{type(self).__name__}[{state}]("]
        if self.initialized_:
            module = str(self.module_).replace("\n", "\n  ")
            lines.append(f"  module_={module},")
        # (the signature holds skorch's defaults too: see _full_init_signature)
        defaults = {name: param.default
                    for name, param in inspect.signature(type(self).__init__).parameters.items()
                    if param.default is not inspect.Parameter.empty}
        for name, value in sorted(self.get_params(deep=False).items()):
            if name == "module" and self.initialized_:
                continue
            if name in defaults and repr(value) == repr(defaults[name]):
                continue
            lines.append(f"  {name}={value!r},")
        lines.append(")")
        return "\n".join(lines)

    # caches of a fit in progress (the labels encoded, the classes as a tensor, the id of the
    # training inputs, the training part of the data), on the fit's device: dropped at its
    # end, and left out of a pickle made during it (Checkpoint(f_pickle=...)): a CUDA tensor
    # among them would not load on a machine without one, and the labels are the user's data
    _fit_caches = ("_encoded_batches", "_classes_tensors", "_training_inputs_id",
                   "_train_dataset", "_measuring_loss", "_step_start")

    def __getstate__(self):
        state = super().__getstate__()
        for key in self._fit_caches:
            state.pop(key, None)
        return state

    # ------------------------------------------------------------------ seeding
    def _init_seed(self):
        """An int seed drawn from ``random_state`` (None when it is None)."""
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    # ------------------------------------------------------------------ data
    def _device(self):
        return torch.device(self.device if self.device is not None else "cpu")

    def _as_tensor(self, array):
        """A numpy array as a tensor on the device. ``torch.from_numpy`` shares memory and
        warns on read-only arrays (pandas' copy-on-write gives those), so those are copied."""
        array = np.require(array, requirements=("C", "W"))
        return torch.from_numpy(array).to(self._device())

    def _fit_data(self, X, y, sample_weight, reset, classes=None):
        """Validate the training data once; tensors on the device, as skorch receives them.
        ``classes`` is partial_fit's argument (classifiers: every label of the stream)."""
        X, y = self._dataset_arrays(X, y)
        self._check_single_output(y)
        # tensors that require grad (a feature extractor's output) are data here, as in
        # skorch and in predict: numpy refuses them
        X, y, sample_weight = (
            v.detach() if isinstance(v, torch.Tensor) else v for v in (X, y, sample_weight)
        )
        # On an accelerator X is checked for NaN and infinity where it lands, at the device's
        # memory bandwidth, instead of by a pass over it on the host.
        on_host = self._device().type == "cpu"
        X, y = validate_data(
            self, X, y, reset=reset, dtype=np.float32, ensure_all_finite=on_host,
            y_numeric=self._y_numeric,
        )
        self._check_fit_X(X, reset)
        y_fit = self._prepare_targets(y, reset, classes)
        X_fit = self._checked_tensor(X, on_host)
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float32, ensure_non_negative=True
            )
            _check_weight_range(weights)
            X_fit = {"X": X_fit, "sample_weight": self._as_tensor(weights)}
        return X_fit, y_fit

    def _check_single_output(self, y):
        """Refuse a y of several columns (multilabel, multi-output), naming the
        scikit-learn wrapper that fits one estimator a column."""
        if y is None:
            return
        shape = getattr(y, "shape", None)
        if shape is None:  # a list (or an object with __array__ only)
            try:
                shape = np.asarray(y).shape
            except ValueError:  # ragged: validate_data says what is wrong
                return
        if len(shape) != 2 or shape[1] == 1:  # (a column vector warns in validate_data)
            return
        name = type(self).__name__
        if is_classifier(self):
            what, wrapper = "one label a sample", "sklearn.multioutput.MultiOutputClassifier"
            kind = "multilabel or multi-output targets"
        else:
            what, wrapper = "one target a sample", "sklearn.multioutput.MultiOutputRegressor"
            kind = "multi-output targets"
        raise ValueError(
            f"{name} fits {what}, y of shape (n_samples,); got y of shape {tuple(shape)} "
            f"({kind}). Fit one {name} a column with {wrapper}({name}(...)), or pass one "
            "column."
        )

    def _dataset_arrays(self, X, y):
        """X and y of a skorch Dataset given to fit (skorch's ``fit(dataset)``); other torch
        data sets are refused, as they would be read sample by sample."""
        if isinstance(X, Mapping):
            return self._single_input(X, allowed=("X",)), y
        if not is_dataset(X):
            return X, y
        if type(X) is Dataset and not isinstance(X.X, Mapping):
            # skorch trains on the Dataset's y (a y given beside it only stratifies a split)
            return X.X, (y if X.y is None else X.y)
        raise ValueError(
            f"X is a {type(X).__name__}: {type(self).__name__} trains on arrays or tensors "
            "(validated once and kept on the device), not on a data set read sample by "
            "sample; pass its inputs and targets as fit(X, y), or wrap them in "
            "skorch.dataset.Dataset(X, y)."
        )

    def _single_input(self, X, allowed):
        """The input of a skorch-style dict X, ``X["X"]``; refused unless its keys are among
        ``allowed`` (skorch passes a dict's entries to the module as arguments, and these
        networks take one input)."""
        if "X" in X and set(X) <= set(allowed):
            return X["X"]
        raise ValueError(
            f"X is a dict with the keys {sorted(map(str, X))}, but {type(self).__name__}'s "
            "network takes one input; pass the input array itself as X (or {'X': array})."
        )

    def _check_fit_X(self, X, reset):
        """Hook: further checks of the validated training X."""

    def get_split_datasets(self, X, y=None, **fit_params):
        """skorch's training and validation data sets; a part whose sample weights are all
        zero is refused: its loss, a weighted mean, would be 0 / 0 (recorded as 0.0, a
        ``valid_loss`` that EarlyStopping or Checkpoint would take for the best epoch)."""
        split = self._seeded_train_split()
        if split is self.train_split:
            dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        else:  # skorch's get_split_datasets, with the seeded split
            dataset = self.get_dataset(X, y)
            dataset_train, dataset_valid = (
                split(dataset, **fit_params) if y is None else split(dataset, y, **fit_params)
            )
        if dataset_valid is not None:
            self._check_training_part_classes(dataset_train, y)
            for part, dataset in (("validation", dataset_valid), ("training", dataset_train)):
                weights = _split_weights(dataset)
                if weights is not None and len(weights) and not bool(weights.any()):
                    undefined = ("the validation loss, a weighted mean, is undefined (0 / 0)"
                                 if part == "validation" else "there is nothing to train on")
                    split = getattr(self.train_split, "__name__",
                                    type(self.train_split).__name__)
                    raise ValueError(
                        f"sample_weight is zero for every one of the {len(weights)} samples "
                        f"of the {part} part that train_split ({split}) makes: "
                        f"{undefined}. Give some of those samples a weight, split the data at "
                        "random (e.g. train_split=ValidSplit(0.2, random_state=0)), or pass "
                        "train_split=None."
                    )
        return dataset_train, dataset_valid

    def _check_training_part_classes(self, dataset_train, y):
        """Classifiers: refuse a training part of ``train_split`` that holds one class of the
        several of ``y`` (the fit's labels): the network learns to answer that class
        whatever the input, and was returned as a result. (A ``partial_fit`` batch of one
        class, with ``classes`` given, is the user's, and trains.)"""
        if getattr(self, "_min_classes", None) is None or y is None:
            return
        tensors = _dataset_tensors(dataset_train)
        if tensors is None or tensors[1] is None:
            return

        def distinct(labels):
            return (torch.unique(labels).cpu().numpy() if isinstance(labels, torch.Tensor)
                    else np.unique(np.asarray(labels)))

        labels = distinct(tensors[1])
        if len(tensors[1]) and len(labels) < 2 and (n_classes := len(distinct(y))) >= 2:
            split = getattr(self.train_split, "__name__", type(self.train_split).__name__)
            raise ValueError(
                f"the training part that train_split ({split}) makes holds one class only, "
                f"{labels.tolist()}, of the {n_classes} classes of y: the network "
                "would learn to answer it whatever the input. Split so that each part holds "
                "every class (e.g. train_split=ValidSplit(0.2, stratified=True, "
                "random_state=0)), or pass train_split=None."
            )

    def _seeded_train_split(self):
        """``train_split``, seeded by ``random_state`` when it splits at random unseeded.

        A skorch ``ValidSplit`` with a float ``cv`` and no ``random_state`` of its own draws
        its validation part from numpy's global generator, so that the same ``random_state``
        gave other numbers at every fit. It gets a seed drawn from ``random_state`` (once a
        fit, kept across its ``partial_fit`` and warm-started calls, new at each
        ``initialize``), as scikit-learn's estimators seed their validation splits; a split
        with a seed of its own, or a ``train_split`` of another kind, is used as it is.
        """
        split = self.train_split
        if (isinstance(split, ValidSplit) and split.random_state is None
                and isinstance(split.cv, Real) and not float(split.cv).is_integer()
                and self.random_state is not None):
            if self.__dict__.get("_split_seed") is None:
                self._split_seed = self._init_seed()
            split = copy.copy(split)
            split.random_state = self._split_seed
        return split

    def check_data(self, X, y=None):
        # The data were validated (and the labels checked) before skorch's loop sees them.
        pass

    def get_iterator(self, dataset, training=False):
        """Full batches are the tensors themselves; anything else goes to skorch's DataLoader."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = self.iterator_train if training else self.iterator_valid
        batch_size = kwargs.get("batch_size", self.batch_size)
        if (
            iterator is DataLoader
            and set(kwargs) <= {"batch_size"}
            and (batch_size == -1 or batch_size >= len(dataset))
        ):
            tensors = _dataset_tensors(dataset)
            if tensors is not None:
                return _FullBatch(*tensors)
        _check_loader_labels(dataset)
        if ("generator" not in kwargs and self.random_state is not None
                and isinstance(iterator, type) and issubclass(iterator, DataLoader)):
            # skorch's DataLoader shuffles with torch's global generator, which random_state
            # does not seed, and every iteration of a DataLoader without a generator (each
            # epoch's batches, each prediction in batches) draws its workers' base seed from
            # that global generator, moving it. The training batches get a generator of the
            # fit's own, seeded by random_state (kept across the epochs and partial_fit calls
            # of a fit, new at each initialize); the validation and prediction batches, in
            # order, a fixed one (it draws only their workers' seeds).
            if not training:
                generator = torch.Generator()
            else:
                if self.__dict__.get("_shuffle_generator") is None:
                    self._shuffle_generator = torch.Generator().manual_seed(self._init_seed())
                generator = self._shuffle_generator
            kwargs = {**kwargs, "generator": generator}
            if kwargs.get("batch_size", self.batch_size) == -1:
                kwargs["batch_size"] = len(dataset)
            return iterator(dataset, **{"batch_size": self.batch_size, **kwargs})
        return super().get_iterator(dataset, training=training)

    def _prediction_input(self, X):
        """X for prediction: a tensor or an array-like validated against the fitted input, on
        the device. A skorch Dataset is read as its X and validated the same way, except the
        fit's own data (skorch's scoring callbacks pass them, already validated); other data
        sets go to skorch as they are."""
        self.check_is_fitted()
        if is_dataset(X):
            if (type(X) is not Dataset or isinstance(X.X, Mapping)
                    or id(X.X) == self.__dict__.get("_training_inputs_id")):
                return X
            # a user's Dataset: checked as its X is (NaN predicted a label, and float64 or
            # a wrong feature count failed inside torch)
            X = X.X
        if isinstance(X, Mapping):  # (the training batches' form carries sample weights)
            X = self._single_input(X, allowed=("X", "sample_weight"))
        if isinstance(X, torch.Tensor):
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has shape {tuple(X.shape)}, but {type(self).__name__} is expecting "
                    f"(n_samples, {self.n_features_in_})."
                )
            if not X.is_floating_point() or not bool(torch.isfinite(X).all()):
                raise ValueError("X must be a finite floating-point tensor.")
            return X.detach().to(device=self._device(), dtype=torch.float32)
        if isinstance(X, SliceDataset):
            # (a search's view of a Dataset) scikit-learn checks the feature count on X as
            # given, and a SliceDataset's shape is (n_samples,)
            X = np.asarray(X)
        on_host = self._device().type == "cpu"
        X = validate_data(self, X, reset=False, dtype=np.float32,
                          ensure_all_finite=on_host)
        return self._checked_tensor(X, on_host)

    def _checked_tensor(self, X, checked):
        """X on the device, checked for NaN and infinity there unless ``checked`` already."""
        X_t = self._as_tensor(X)
        if not checked and not bool(torch.isfinite(X_t).all()):
            raise ValueError(
                "Input X contains NaN or infinity; remove or impute those entries."
            )
        return X_t

    # ------------------------------------------------------------------ training
    def _is_initialized(self):
        return bool(getattr(self, "initialized_", False)) and hasattr(self, "module_")

    def initialize_history(self):
        """Start an empty history (a :class:`skorch.history.History`), unless one was given.

        Returns
        -------
        self
        """
        if self.history_ is None:
            self.history_ = _History()
        return super().initialize_history()

    def load_params(self, f_params=None, f_optimizer=None, f_criterion=None, f_history=None,
                    checkpoint=None, **kwargs):
        """Load the parameters and, if given, the history, as skorch's ``load_params``.

        A history loaded from a file (``f_history``, or a checkpoint's, as
        :class:`~skorch.callbacks.LoadInitState` resumes it) is kept as sklrank's history,
        which reads ``history[-1]`` without copying the list (skorch's ``History`` copies it,
        so a resumed fit's bookkeeping grew with the epochs). The class labels that key
        ``filter_bank_stable_ranks`` are given back as they were recorded (JSON writes them
        as strings, ``"-1"``), when they are those of ``classes_`` (or the bank indices), so
        that the loaded epochs and those a resumed fit adds have the same keys.

        Parameters
        ----------
        f_params, f_optimizer, f_criterion, f_history : file-like object, str or None
            As in :meth:`skorch.net.NeuralNet.load_params`.
        checkpoint : skorch.callbacks.Checkpoint or None, default=None
            As in :meth:`skorch.net.NeuralNet.load_params`.
        **kwargs
            As in :meth:`skorch.net.NeuralNet.load_params`.
        """
        super().load_params(f_params=f_params, f_optimizer=f_optimizer,
                            f_criterion=f_criterion, f_history=f_history,
                            checkpoint=checkpoint, **kwargs)
        if f_params is not None or checkpoint is not None:
            self.__dict__.pop("_failed_fit", None)  # other weights: no failed fit's network
        if type(self.history_) is History:  # loaded from a file (JSON)
            self.history_ = _History(self.history_)
            _restore_label_keys(self.history_, getattr(self, "classes_", None))

    def initialize(self):
        """Initialise the module, criterion, optimizer and callbacks, seeded by ``random_state``.

        Returns
        -------
        self
        """
        self._check_params()
        self.__dict__.pop("_shuffle_generator", None)  # a new fit shuffles from the start
        self.__dict__.pop("_split_seed", None)  # and draws its validation part anew
        with seeded(self._init_seed()):
            super().initialize()
        return self

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Initialise the network and train it (``max_epochs`` epochs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or skorch.dataset.Dataset
            Training inputs; cast to float32. A skorch Dataset holding X and y (as skorch
            takes one) is read as its arrays.
        y : array-like of shape (n_samples,), default=None
            Targets; None only with a Dataset that holds them.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: the training loss is the weighted mean
            ``sum_i w_i l_i / sum_i w_i`` (equivalent to repeating samples; with a
            criterion's class weights ``c``, ``sum_i w_i l_i / sum_i w_i c_{y_i}``, as torch
            normalises its mean), or the weighted sum ``sum_i w_i l_i`` with
            ``criterion__reduction="sum"``; with mini-batches, that of each batch, and a
            batch whose weights are all zero adds no gradient (its loss is 0). The
            criterion needs a ``reduction`` attribute (torch's losses have one). With a
            ``train_split``, the validation loss is the weighted mean of the validation
            part (and a classifier's ``valid_acc`` its weighted accuracy); a part
            (training or validation) whose weights are all zero is refused, as all-zero
            weights are. Routed through a Pipeline or a search with scikit-learn's metadata
            routing (``set_fit_request(sample_weight=True)``).
        **fit_params : dict
            Passed on to skorch (``train_split`` and the module's forward).

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For invalid hyper-parameters or data, naming the parameter and the fix.
        sklrank.exceptions.TrainingDivergedError
            When the training loss or the weights stop being finite.
        sklrank.exceptions.TrainingFailedError
            When training ends with a dead network (every gradient exactly zero). After
            either error the network is not a result: predictions and fitted attributes
            raise :class:`~sklearn.exceptions.NotFittedError` until a new fit (or
            ``load_params``).
        """
        self._check_params()
        warm = self.warm_start and self._is_initialized()
        data = self._fit_data(X, y, sample_weight, reset=not warm)
        if warm:
            self._check_warm_start()
        else:
            self.initialize()
        return self._train(data, "fit", fit_params)

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train ``max_epochs`` more epochs from the current weights (initialising if needed).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or skorch.dataset.Dataset
            Training inputs, as in :meth:`fit`.
        y : array-like of shape (n_samples,), default=None
            Targets, as in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Classifiers: every label of the stream, as scikit-learn's ``partial_fit`` takes
            it. At the first call it fixes ``classes_`` (the batch may hold only some of
            them); at a later call it must be the classes the network was fitted on. None
            takes them from the ``classes`` parameter, else from the first batch.
            Continuing after the ``classes`` parameter was set to other labels is refused.
            Regressors: ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.
        **fit_params : dict
            Passed on to skorch.

        Returns
        -------
        self
            The estimator, trained further.
        """
        self._check_params()
        initialized = self._is_initialized()
        data = self._fit_data(X, y, sample_weight, reset=not initialized, classes=classes)
        if not initialized:
            self.initialize()
        return self._train(data, "partial_fit", fit_params)

    def _check_warm_start(self):
        """Refuse a warm start whose parameters describe a different network."""
        used = getattr(self, "_module_kwargs_used", None)
        if used is None:
            return
        now = self._module_kwargs(seed=None)  # (the seed is not compared)
        changed = [
            k for k in used
            if k in now and k not in self._init_only_kwargs and repr(now[k]) != repr(used[k])
        ]
        if changed:
            details = ", ".join(f"{k}: {used[k]!r} -> {now[k]!r}" for k in changed)
            raise ValueError(
                f"warm_start=True continues training the fitted network, but the parameters "
                f"now describe a different one ({details}); set warm_start=False to train a "
                "new network, or restore the parameters."
            )

    def initialize_module(self):
        """Build the module from the fitted geometry and the parameters, seeded by one draw
        from ``random_state`` (the module's own generator; the global one too, for a module
        class of the user's that draws from it)."""
        seed = self._init_seed()
        with seeded(seed):
            kwargs = self._module_kwargs(seed)
            self.module_ = self.initialized_instance(self.module, kwargs)
        self._module_kwargs_used = kwargs
        self.__dict__.pop("_failed_fit", None)  # new weights: no failed fit's network
        return self

    def _train(self, data, routing_method, fit_params):
        X_fit, y_fit = data
        self.__dict__.pop("_failed_fit", None)
        first_epoch = self._first_epoch = len(self.history)
        # the id of the fit's validated inputs, what skorch's scoring callbacks predict on as
        # a Dataset (an id, not the tensor: a Checkpoint's pickle would hold the data; the
        # tensor lives until the id is dropped, so the id is not reused meanwhile)
        self._training_inputs_id = id(_inputs(X_fit))
        try:
            NeuralNet.partial_fit(self, X_fit, y_fit, _routing_method=routing_method,
                                  **fit_params)
            final_loss = self._final_training_loss(first_epoch)
            data_gradient_zero = self._data_gradient_vanished()
        except BaseException as exc:
            if isinstance(exc, TrainingFailedError):
                self._mark_failed(exc)
            # skorch calls on_train_end only when training ends: the callbacks holding the
            # fit's data release it (and write what they recorded before the failure)
            for _, callback in getattr(self, "callbacks_", ()):
                on_error = getattr(callback, "_on_train_error", None)
                if on_error is not None:
                    on_error(self)
            raise
        finally:
            # the fit's labels are not kept, nor the classes as a tensor on the fit's device
            # (pickled with the net, a CUDA tensor would not load on a machine without one)
            for key in self._fit_caches:
                self.__dict__.pop(key, None)
        try:
            self._check_training_outcome(_inputs(X_fit), first_epoch, final_loss,
                                         data_gradient_zero, epochs=fit_params.get("epochs"))
        except TrainingFailedError as exc:
            self._mark_failed(exc)
            raise
        return self

    def _mark_failed(self, error):
        """Keep the message of a fit that raised: its network is not a result, and the
        fitted attributes and predictions refuse it until a new fit or load_params."""
        self._failed_fit = str(error)

    def _check_not_failed(self):
        """Raise NotFittedError when the network is that of a fit that failed."""
        failure = self.__dict__.get("_failed_fit")
        if failure is not None:
            raise NotFittedError(
                f"This {type(self).__name__} holds the network of a fit that failed, which is "
                f"not a result (its fit raised: {failure}) Fit it again once the cause is "
                "fixed, or load other weights (initialize() and load_params)."
            )

    @contextlib.contextmanager
    def _measuring(self):
        """A pass over the training part after training (its final loss, its data term's
        gradient): get_loss keeps its batches' normalising totals in ``_batch_norm`` instead
        of recording them in the history."""
        self._measuring_loss = True
        try:
            yield
        finally:
            self.__dict__.pop("_measuring_loss", None)
            self.__dict__.pop("_batch_norm", None)

    def _data_gradient_vanished(self):
        """Whether the gradient of the data term is exactly zero at the final weights: False
        when the last step's gradient is not zero; None where it cannot be measured (no
        training part kept, or no gradient: the last step's gradient decides).

        The last step's gradient is that of the training loss with its regularisers: with
        weight decay it is also exactly zero at a stationary point where ``lambda W`` cancels
        the data term's gradient (float32 reaches it exactly, e.g. mean-field scaling with
        ``lr * weight_decay`` near 1), and that network is fitted, not dead. One forward and
        backward pass of the data term over the training part decides, only in that case.
        """
        params = [p for p in self.module_.parameters() if p.requires_grad]
        grads = [p.grad for p in params if p.grad is not None]
        dataset = self.__dict__.get("_train_dataset")
        if not grads or dataset is None:
            return None
        if any(bool(g.any()) for g in grads):
            return False
        was_training = self.module_.training
        self._set_training(True)  # (in evaluation the two-layer nets' output is detached)
        try:
            with self._measuring(), torch.enable_grad():
                for batch in self.get_iterator(dataset, training=False):
                    Xi, yi = unpack_data(batch)
                    self.get_loss(self.infer(Xi), yi, X=Xi, training=False).backward()
            return not any(bool(p.grad.any()) for p in params if p.grad is not None)
        finally:
            self._set_training(was_training)
            for grad in grads:  # the last step's gradient, as training left it
                grad.zero_()

    def _final_training_loss(self, first_epoch):
        """The training loss at the weights the call ended with, where its verdict needs it.

        An epoch records the loss of the weights it starts from, so the recorded losses end
        one step before the final weights: a last step that blew the loss up (finite weights,
        a loss 1e6 times larger) or did nothing (a one-epoch call at lr=1e-12) was returned
        as a result. One forward pass over the training part (no gradient, no regulariser:
        the data term) measures it, unless :meth:`_final_loss_needed` shows from a bound on
        the last step's change of the loss that no verdict of the outcome checks can depend
        on it (a forward pass costs about half an epoch); None then.
        """
        dataset = self.__dict__.get("_train_dataset")
        losses = [row["train_loss"] for row in self.history[first_epoch:] if "train_loss" in row]
        if dataset is None or not losses:
            return None
        steps = sum("train_loss" in batch for batch in self.history[-1]["batches"])
        before = self.__dict__.get("_step_start")
        bound = None
        if steps == 1 and before is not None:  # one step an epoch: its loss is at `before`
            params = dict(self.module_.named_parameters())
            delta = {name: params[name].detach() - value for name, value in before.items()}
            bound = self._loss_change_bound(delta, _dataset_inputs(dataset))
        if not self._final_loss_needed(first_epoch, losses, bound):
            return None
        total, norm = 0.0, 0.0
        was_training = self.module_.training
        # the forward pass of training, as the recorded losses' (the two-layer nets evaluate
        # in float64, which a float32 criterion__weight refuses); no noise, no regulariser
        self._set_training(True)
        try:
            with self._measuring():
                for batch in self.get_iterator(dataset, training=False):
                    Xi, yi = unpack_data(batch)
                    self._batch_norm = None
                    with torch.no_grad():
                        loss = float(self.get_loss(self.infer(Xi), yi, X=Xi, training=False))
                    # batches averaged as the epoch's train_loss averages them
                    weight = self._batch_norm if self._batch_norm is not None else len(
                        _inputs(Xi))
                    if not math.isfinite(loss):
                        return loss
                    total, norm = total + weight * loss, norm + weight
        finally:
            self._set_training(was_training)
        return total / norm if norm > 0 else None

    @staticmethod
    def _final_loss_needed(first_epoch, losses, bound):
        """Whether the outcome checks need the loss at the final weights.

        ``losses`` are the training losses the call recorded (the last one at the weights
        before the last step, when an epoch is one step) and ``bound`` a bound on how far
        the last step can have moved the loss (None: unknown, e.g. mini-batches, whose
        recorded loss is no loss of one set of weights). The final loss lies within
        ``bound`` of the last recorded one: it is needed when that interval reaches the
        divergence's growth, and for a call that recorded one epoch of a new fit (whose
        unmoved check compares the final loss with the start). The warnings of a call of
        several epochs (a loss that rose, or did not move) compare the recorded losses.
        """
        start, last = losses[0], losses[-1]
        if bound is None or not math.isfinite(bound) or not start > 0 or (
                len(losses) == 1 and first_epoch == 0):
            return True
        # (float32 rounding of the recorded loss, generously)
        return last + bound + 1e-5 * abs(last) >= _DIVERGED_LOSS_GROWTH * start

    def _loss_change_bound(self, delta, X):
        """Hook: a bound on how much the training loss (the data term, a mean over samples)
        can differ between two sets of weights that differ by ``delta`` (name -> tensor), on
        the training inputs ``X`` (a tensor that holds them, or None); None where there is
        none (the final loss is then measured)."""
        return None

    def infer(self, x, **fit_params):
        """The module's output for a batch (sample weights travel with X and are dropped)."""
        return super().infer(_inputs(x), **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion, weighted by the sample weights when the batch carries them.

        The criterion's ``reduction`` is kept: ``"mean"`` gives the weighted mean (normalised
        as torch normalises its unweighted mean: by the class weights of the targets, without
        ``ignore_index``, for :class:`~torch.nn.CrossEntropyLoss` and
        :class:`~torch.nn.NLLLoss`), ``"sum"`` the weighted sum. Classifiers: ``y_true``
        holds the batch's labels as ``fit`` was given them (as skorch passes ``y``), and the
        criterion gets their indices in ``classes_``; an override that adds a penalty calls
        this method for the data term, and a loss of your own goes in ``criterion``.
        """
        y_true = self._loss_targets(y_true, y_pred)
        if not (isinstance(X, Mapping) and "sample_weight" in X):
            return self.criterion_(y_pred, y_true)
        weights = X["sample_weight"]
        criterion = self.criterion_
        reduction = getattr(criterion, "reduction", None)
        if reduction not in ("mean", "sum"):
            what = ("has no reduction attribute" if reduction is None
                    else f"has reduction={reduction!r}")
            raise ValueError(
                f"sample_weight weights each sample's loss, which needs a criterion with "
                f"reduction='mean' or 'sum' (torch's losses); {type(criterion).__name__} "
                f"{what}. Pass criterion__reduction='mean' (or a criterion with a reduction "
                "attribute that returns one loss a sample for reduction='none'), or drop "
                "sample_weight."
            )
        criterion.reduction = "none"  # torch losses read it at call time
        try:
            losses = criterion(y_pred, y_true)
        finally:
            criterion.reduction = reduction
        losses = losses.reshape(len(weights), -1)
        norm = weights
        if reduction == "mean" and isinstance(
                criterion, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)) and (
                y_true.ndim == 1 and not y_true.is_floating_point()):
            # torch's mean divides by the targets' class weights and leaves out ignore_index:
            # weights of ones give the unweighted loss
            counted = y_true != criterion.ignore_index
            norm = norm * counted
            if criterion.weight is not None:
                norm = norm * criterion.weight[torch.where(counted, y_true, 0)]
        total = norm.sum()
        if self.__dict__.get("_measuring_loss"):  # (the final loss: nothing recorded)
            self._batch_norm = float(total)
        else:
            # the epoch's loss is the mean of its batches' weighted by the totals that
            # normalise them (their row counts would make it depend on the batch size; their
            # sample-weight totals, with class weights, too): the whole data's weighted loss
            self.history.record_batch(("train" if training else "valid") + "_batch_weight",
                                      float(total))
        if reduction == "sum":
            return (losses.sum(dim=1) * weights).sum()
        # a mini-batch whose weights are all zero adds nothing (0, not 0 / 0 = NaN)
        return ((losses.mean(dim=1) * weights).sum()
                / torch.where(total > 0, total, torch.ones_like(total)))

    def _loss_targets(self, y_true, y_pred):
        """Hook: the targets as the criterion takes them."""
        return y_true

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """Before a training step: refuse a module none of whose parameters requires grad.

        torch's own error comes from inside the step ("element 0 of tensors does not require
        grad", or none with a penalty on the inputs, whose step then trains nothing) and
        does not say why: e.g. skorch's ``Freezer`` froze ``weight``, the one parameter
        sklrank's networks train.
        """
        super().on_batch_begin(net, batch=batch, training=training, **kwargs)
        if not training:
            return
        if (type(self)._loss_change_bound is not _BaseNet._loss_change_bound
                and len(self.history) - self.__dict__.get("_first_epoch", 0)
                >= self.max_epochs
                and len(self.history[-1]["batches"]) == 1):
            # the weights before the first step of the call's last epoch: where that epoch
            # is one step (full batch), its change bounds the final loss (one copy a fit,
            # not an epoch nor a mini-batch, whose epochs use no bound; a fit ended earlier,
            # e.g. by EarlyStopping, measures its final loss instead)
            self._step_start = {name: p.detach().clone()
                                for name, p in self.module_.named_parameters()
                                if p.requires_grad}
        if any(p.requires_grad for p in self.module_.parameters()):
            return
        names = [name for name, _ in self.module_.named_parameters()]
        freezers = [name for name, callback in getattr(self, "callbacks_", ())
                    if isinstance(callback, ParamMapper)]
        if freezers:
            cause = f"the callback {freezers[0]!r}" if len(freezers) == 1 else (
                f"the callbacks {freezers}")
            cause, fix = f"{cause} froze them", f"freeze fewer of them (drop {cause})"
        else:
            cause, fix = "their requires_grad is False", "set requires_grad=True on one"
        raise ValueError(
            f"{type(self).__name__} has nothing to train at epoch {len(self.history)}: no "
            f"parameter of its module requires grad: {cause} ({', '.join(names)}: all the "
            f"network trains). To train it, {fix}; to use the network as it is, call "
            "initialize() (or load_params) and predict, without fit."
        )

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Raise as soon as the training loss stops being finite (before any callback)."""
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid,
                             **kwargs)
        if stop_requested():  # a sweep interrupted in another thread: end this fit
            raise KeyboardInterrupt
        self._train_dataset = dataset_train  # (the final loss of a one-epoch call)
        row = self.history[-1]
        for batch in row["batches"]:
            loss = batch.get("train_loss")
            if loss is not None and not math.isfinite(loss):
                X = None if dataset_train is None else _dataset_tensors(dataset_train)
                # the first loss of a fit is computed at the weights it started from
                at_start = len(self.history) == self.__dict__.get("_first_epoch", 0) + 1
                raise self._divergence(row["epoch"], loss, None if X is None else _inputs(X[0]),
                                       at_start)

    def _divergence(self, epoch, loss, X, at_start):
        """The error for a training loss that stopped being finite at ``epoch``."""
        return TrainingDivergedError(
            f"training diverged at epoch {epoch}: the training loss is {loss}"
            + (" at the initial weights, before any step. " if at_start else ". ")
            + self._likely_cause(X, "diverged_at_start" if at_start else "diverged")
        )

    def _check_training_outcome(self, X, first_epoch, final_loss=None,
                                data_gradient_zero=None, epochs=None):
        """After training: a diverged or dead network raises, an unmoved loss warns.

        ``final_loss`` is the training loss at the final weights when the call measured it
        (:meth:`_final_training_loss`), compared as the loss after the recorded ones.
        ``data_gradient_zero`` is :meth:`_data_gradient_vanished`'s answer when it was
        measured: a network is dead when the data term's gradient is zero, not
        the regularised loss's (None: the last step's gradient decides). ``epochs`` is
        the call's ``epochs`` fit parameter (skorch's; None: ``max_epochs`` epochs were asked).
        """
        params = [p for p in self.module_.parameters() if p.requires_grad]
        asked = (f"max_epochs={self.max_epochs}" if epochs is None
                 else f"epochs={epochs}")
        epochs = len(self.history)
        if not all(bool(torch.isfinite(p).all()) for p in params):
            raise TrainingDivergedError(
                f"training diverged: the weights hold NaN or infinity after {epochs} epochs. "
                + self._likely_cause(X, "diverged")
            )
        losses = [row["train_loss"] for row in self.history[first_epoch:] if "train_loss" in row]
        if epochs == 0:
            # (skorch returns the initial network as it is; scikit-learn refuses max_iter=0)
            issue_convergence_warning(ConvergenceWarning(
                f"{type(self).__name__} trained no epoch ({asked}): it holds its initial "
                "weights, which are not a fitted model (its predictions, filters and ranks "
                f"are those of the initialisation). Set {asked.split('=')[0]} to 1 or more to "
                "train it; for the initial network on purpose, call initialize() (where the "
                "parameters give its shape), or ignore this warning."
            ), stacklevel=4)
            return
        grads = [p.grad for p in params if p.grad is not None]
        dead = (not any(bool(g.any()) for g in grads) if data_gradient_zero is None
                else data_gradient_zero)
        if grads and losses and losses[-1] > 0 and dead:
            raise TrainingFailedError(
                f"training failed: the network died (every gradient is exactly zero at epoch "
                f"{epochs}; the training loss is stuck at {losses[-1]:.6g}), so its "
                "predictions no longer depend on the data. " + self._likely_cause(X, "died")
            )
        span = f"in {len(losses)} epochs"
        n_recorded = len(losses)
        if not losses:  # (a call of no epoch that continues a fit: nothing to judge)
            return
        start = self._start_text(first_epoch, losses)
        end, end_span = losses[-1], span  # the call's last loss (at the final weights if known)
        if final_loss is not None:
            n = len(losses)
            measured = (f"in {n} epoch{'s' if n != 1 else ''} (the last value measured at "
                        "the final weights)")
            if not math.isfinite(final_loss):
                raise TrainingDivergedError(
                    f"training diverged at epoch {epochs}: the training loss at the final "
                    f"weights is {final_loss}. " + self._likely_cause(X, "diverged")
                )
            if n >= 2:
                # the last step decides the divergence; the warnings compare the recorded
                # losses, whose terms are the start's (the regularisers, the input noise)
                if losses[0] > 0 and final_loss > _DIVERGED_LOSS_GROWTH * losses[0]:
                    raise TrainingDivergedError(
                        f"training diverged: the training loss grew from {start} to "
                        f"{final_loss:.6g} {measured}. " + self._likely_cause(X, "diverged")
                    )
            else:  # one epoch: the final loss is the only one after a step
                span, losses = measured, [*losses, final_loss]
            end, end_span = final_loss, measured
        # (a one-epoch call that continues a fit, e.g. a partial_fit stream near its optimum,
        # may move the loss little: only a fit from new weights is called untrained by it)
        unmoved_checked = first_epoch == 0 or n_recorded >= 2
        if len(losses) >= 2 and losses[0] > 0 and losses[-1] > _DIVERGED_LOSS_GROWTH * losses[0]:
            raise TrainingDivergedError(
                f"training diverged: the training loss grew from {start} to "
                f"{losses[-1]:.6g} {span}. " + self._likely_cause(X, "diverged")
            )
        if unmoved_checked and len(losses) >= 2 and abs(
                losses[-1] - losses[0]) <= _UNMOVED_LOSS_RTOL * abs(losses[0]):
            issue_convergence_warning(ConvergenceWarning(
                f"{type(self).__name__} learned nothing: the training loss moved from "
                f"{losses[0]:.6g} to {losses[-1]:.6g} {span} (less than "
                f"{_UNMOVED_LOSS_RTOL:.0e} of its start). " + self._likely_cause(X, "unmoved")
            ), stacklevel=4)
        elif (first_epoch == 0 and len(losses) >= 2 and losses[0] > 0
                and losses[-1] > _RISEN_LOSS_GROWTH * losses[0]):
            issue_convergence_warning(ConvergenceWarning(
                f"{type(self).__name__} did not train: the training loss rose from "
                f"{start} to {losses[-1]:.6g} {span} (gradient descent lowers it). "
                + self._likely_cause(X, "diverged")
            ), stacklevel=4)
        elif first_epoch > 0 and losses[0] > 0 and end > _STREAM_LOSS_GROWTH * losses[0]:
            # (a call that continues a fit: the fresh fit's 10 % is within a stream's noise,
            # and the divergence's 1000-fold let a stream's loss grow 381-fold unnoticed)
            issue_convergence_warning(ConvergenceWarning(
                f"{type(self).__name__} got worse in a call that continued its training: the "
                f"training loss rose from {start} to {end:.6g} {end_span}, more than "
                f"{_STREAM_LOSS_GROWTH:g} times the loss the call began with (its steps lower "
                "the loss of its data; the network it returns fits worse than the one it was "
                "given). " + self._likely_cause(X, "diverged")
            ), stacklevel=4)

    def _start_text(self, first_epoch, losses):
        """The call's first recorded training loss, as its messages name it: with
        mini-batches it is the mean of the first epoch's batches, over which the weights
        already moved (it read "grew from 18582.7" for a fit that began at 2.2), so the
        first batch's loss, at the weights the call began with, is named beside it."""
        text = f"{losses[0]:.6g}"
        rows = self.history[first_epoch:first_epoch + 1]
        batches = [batch["train_loss"] for batch in (rows[0].get("batches", ()) if rows else ())
                   if "train_loss" in batch]
        if len(batches) > 1:
            text += (f" (the mean over the first epoch's {len(batches)} mini-batches, during "
                     "which the weights already moved; its first mini-batch, at the weights "
                     f"the call began with: {batches[0]:.6g})")
        return text

    def _likely_cause(self, X, failure):
        """The likely cause of a failed fit, measured from a sample of the training rows."""
        if X is None:
            return self._scale_report(None, failure)
        # (fit checks X, unless scikit-learn's assume_finite=True skipped the check; a loss
        # that moved little is finite, so no NaN of X reached it: the scan of all of X, 0.7 s
        # at n = 60000, is spared the "learned nothing" warning)
        if failure != "unmoved" and not bool(torch.isfinite(X).all()):
            return (
                "Likely cause: X contains NaN or infinity (scikit-learn's assume_finite=True "
                "skipped the check); remove or impute those entries."
            )
        X = X[:_SCALE_SAMPLE_ROWS].detach().to(device="cpu", dtype=torch.float64).numpy()
        if len(X) > 1 and not np.ptp(X, axis=0).any():
            # (the step or the scale was blamed: "lr=50 is too large" for an all-zero X)
            rows = "every row of X" if len(X) < _SCALE_SAMPLE_ROWS else (
                f"the first {_SCALE_SAMPLE_ROWS} rows of X")
            return (
                f"Likely cause: {rows} {'is zero' if not X.any() else 'is the same'}, so the "
                "inputs carry nothing to learn the targets from: check the data (e.g. images "
                "lost in loading or preprocessing)."
            )
        return self._scale_report(X, failure)

    def _last_step_lr(self):
        """The learning rate of the last step: the optimizer's (the largest of its parameter
        groups'), which a schedule (skorch's ``LRScheduler``) moves away from ``lr``; ``lr``
        where no optimizer holds one."""
        groups = getattr(getattr(self, "optimizer_", None), "param_groups", None) or ()
        rates = [float(group["lr"]) for group in groups if "lr" in group]
        return max(rates) if rates else float(self.lr)

    def _lr_text(self):
        """``lr=...`` as a failure message names the step: with a schedule that moved it,
        the step of the last epoch too (a schedule that raised lr 1e8-fold was reported as
        "lr=1 is too large")."""
        used = self._last_step_lr()
        if math.isclose(used, self.lr, rel_tol=1e-6):
            return f"lr={self.lr:g}"
        return f"lr={self.lr:g}, which the learning-rate schedule set to {used:g} at the end,"

    def _scale_report(self, X, failure):
        """Hook: a sentence naming the likely cause and the fix.

        ``X`` holds float64 training rows (or None); ``failure`` is "diverged_at_start" (the
        loss of the initial weights is not finite), "diverged", "died" or "unmoved"."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fitted state
    def check_is_fitted(self, attributes=None, *args, **kwargs):
        """Raise :class:`sklearn.exceptions.NotFittedError` unless the net is initialised.

        Parameters
        ----------
        attributes : list of str, default=None
            Attributes that must exist (default: the module).
        *args, **kwargs
            Passed to :func:`sklearn.utils.validation.check_is_fitted`.
        """
        self._check_not_failed()
        if attributes is None and not self._is_initialized():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments (or 'initialize' and 'load_params') before using this "
                "estimator."
            )
        super().check_is_fitted(attributes, *args, **kwargs)

    def __sklearn_is_fitted__(self):
        # (scikit-learn's check_is_fitted: a failed fit's network is not a fitted model)
        return "_failed_fit" not in self.__dict__ and super().__sklearn_is_fitted__()


class _ClassifierNet(_BaseNet):
    """What the sklrank classifiers add: labels of any type, encoded for the criterion.

    The batches carry the labels themselves (as a tensor when they are numbers), so that
    skorch's scoring callbacks compare :meth:`predict`'s labels with true labels; the
    criterion gets their indices in ``classes_``.
    """

    _min_classes, _max_classes = 2, None

    @property
    def classes_(self):
        """The class labels, sorted: the order of the logits (and of the filter banks)."""
        inferred = self.__dict__.get("classes_inferred_")
        if inferred is not None:
            return inferred
        if self.classes is not None and len(self.classes):
            return _sorted_labels(self.classes)
        if self._is_initialized():  # as skorch: an initialised net predicts indices
            return np.arange(self._n_outputs())
        raise AttributeError(
            f"{type(self).__name__} has no attribute 'classes_' before it is fitted (or "
            "initialised)."
        )

    def _n_outputs(self):
        """The number of classes the initialised module scores."""
        raise NotImplementedError

    def _check_fitted_classes(self, given=None):
        """Refuse training on (warm start, partial_fit) after ``classes`` was set to other
        labels than those the network was fitted on: its outputs are those labels. ``given``
        (sorted) is partial_fit's ``classes`` argument, which must be those labels too."""
        if given is not None and not np.array_equal(given, self.classes_):
            raise ValueError(
                f"partial_fit got classes={given.tolist()[:10]}, but the network was fitted "
                f"on the classes {self.classes_.tolist()[:10]}; pass those (or classes=None) "
                "to continue training, or call fit to train a new network for other classes."
            )
        fitted = self.__dict__.get("classes_inferred_")
        if fitted is None or self.classes is None or not len(self.classes):
            return
        wanted = _sorted_labels(self.classes)
        if not np.array_equal(wanted, fitted):
            raise ValueError(
                f"classes is {wanted.tolist()[:10]}, but the network was fitted on the classes "
                f"{fitted.tolist()[:10]} and training continues it (warm_start=True or "
                "partial_fit); set warm_start=False and call fit to train a new network for "
                "them, or restore classes."
            )

    def _prepare_targets(self, y, reset, classes=None):
        check_classification_targets(y)
        given = None if classes is None else _sorted_labels(classes)
        if reset:
            param = self.classes is not None and len(self.classes)
            if given is not None:
                if param and not np.array_equal(given, _sorted_labels(self.classes)):
                    raise ValueError(
                        f"partial_fit got classes={given.tolist()[:10]}, but the classes "
                        f"parameter is {_sorted_labels(self.classes).tolist()[:10]}; "
                        "pass the same labels, or only one of them."
                    )
                classes = given
            elif param:
                classes = _sorted_labels(self.classes)
            else:
                classes = _sorted_labels(y)
            if len(classes) < self._min_classes:
                if given is None and not param:
                    raise ValueError(
                        f"{type(self).__name__} needs samples of at least 2 classes in y; "
                        f"got one class only, {classes.tolist()}. Pass y with two or more "
                        "classes."
                    )
                where = "partial_fit's classes" if given is not None else "the classes parameter"
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes; {where} holds one "
                    f"only, {classes.tolist()}. Pass every label the network is to predict."
                )
            if self._max_classes is not None and len(classes) > self._max_classes:
                raise ValueError(
                    f"Only binary classification is supported: the logistic loss acts on one "
                    f"output. y has {len(classes)} classes {classes.tolist()[:10]}; pass y "
                    "with exactly 2 classes, or fit one network a class with "
                    f"sklearn.multiclass.OneVsRestClassifier({type(self).__name__}(...))."
                )
            self.classes_inferred_ = classes
            self.__dict__.pop("_classes_tensors", None)
        else:
            self._check_fitted_classes(given)
        self._encode_target(y)  # unknown labels are an error
        classes = self.classes_
        if classes.dtype.kind in "iuf":
            dtype = classes.dtype
            if dtype.kind == "u" and dtype.itemsize > 1:
                # torch's searchsorted has no kernel for uint16/32/64: their values as int64
                if classes[-1] > np.iinfo(np.int64).max:
                    return np.asarray(y)  # beyond torch's integers: encoded on the host
                dtype = np.dtype(np.int64)
            return self._as_tensor(np.asarray(y, dtype=dtype))
        return np.asarray(y)  # booleans, strings and other objects: encoded on the host

    def _encode_target(self, y, fix="list them in `classes` or refit from scratch"):
        """Indices of the labels ``y`` in ``classes_`` (numpy; unknown labels are an error
        whose message ends with ``fix``)."""
        y = np.asarray(y)
        classes = self.classes_
        index = np.searchsorted(classes, y)
        unseen = (index >= len(classes)) | (classes[np.minimum(index, len(classes) - 1)] != y)
        if unseen.any():
            raise ValueError(
                f"y holds labels {np.unique(y[unseen]).tolist()[:5]} that are not among the "
                f"classes {classes.tolist()}; {fix}."
            )
        return index

    def _loss_targets(self, y_true, y_pred):
        """Indices of the labels in ``classes_`` (the criterion's targets)."""
        classes = self.classes_
        if isinstance(y_true, torch.Tensor):
            # A full batch is the same tensor every epoch (two with a validation split):
            # encode each once (keyed by the tensor, its in-place version and the classes, so
            # nothing stale is reused).
            cache = self.__dict__.setdefault("_encoded_batches", {})
            cached = cache.get(id(y_true))
            if (cached is not None and cached[0] is y_true and cached[1] == y_true._version
                    and cached[2] is classes):
                return cached[3]
            codes = self._encode_batch(y_true, classes)
            if len(cache) >= 2:  # mini-batches: a new tensor every step, nothing to reuse
                cache.clear()
            cache[id(y_true)] = (y_true, y_true._version, classes, codes)
            return codes
        codes = np.searchsorted(classes, np.asarray(y_true))
        return torch.from_numpy(codes.astype(np.int64)).to(y_pred.device)

    def _encode_batch(self, y_true, classes):
        """Indices in ``classes`` of a tensor of labels."""
        if y_true.dtype == torch.bool:  # (a DataLoader's batch of bool labels)
            y_true, classes = y_true.long(), classes.astype(np.int64)
        if classes.dtype.kind in "iu" and np.array_equal(classes, np.arange(len(classes))):
            return y_true.long()  # labels 0..k-1 are their own indices
        key = (y_true.device, y_true.dtype)
        cache = self.__dict__.setdefault("_classes_tensors", {})
        if key not in cache:
            cache[key] = torch.as_tensor(classes, dtype=y_true.dtype, device=y_true.device)
        return torch.searchsorted(cache[key], y_true)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch.Tensor or skorch Dataset
            Inputs; array-likes are validated against the fitted input.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order.
        """
        return super().predict_proba(self._prediction_input(X))

    def predict(self, X):
        """Predicted class labels: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch.Tensor or skorch Dataset
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``; ``argmax`` of :meth:`predict_proba`, ties included.
        """
        index = self.predict_proba(X).argmax(axis=1)
        return self.classes_[index]


class _PassthroughScoring(PassthroughScoring):
    """skorch's PassthroughScoring (same keys, same values), reading the epoch's batches
    directly: skorch's History indexing costs more than a full-batch epoch of a small net.
    With sample weights the batches are averaged by their weight totals."""

    def on_epoch_end(self, net, **kwargs):
        prefix = "train" if self.on_train else "valid"
        batches = [b for b in net.history[-1]["batches"] if self.name in b]
        if not batches:  # no data of this kind (e.g. no validation split)
            return
        # batches by their sample-weight totals (each loss is its batch's weighted mean),
        # else by their sizes, as skorch
        weights = [b.get(f"{prefix}_batch_weight", b.get(f"{prefix}_batch_size", 1))
                   for b in batches]
        if not sum(weights) > 0:
            # a weighted mean over no weight is undefined (fit refuses such a split): NaN,
            # which is never the best score, not 0.0, which always would be
            score = math.nan
        elif len(batches) == 1:  # a full batch: its value (np.average costs 50 us an epoch)
            score = float(batches[0][self.name])
        else:
            score = np.average([b[self.name] for b in batches], weights=weights)
        is_best = self._is_best_score(score)
        if is_best:
            self.best_score_ = score
        net.history.record(self.name, score)
        if is_best is not None:
            net.history.record(self.name + "_best", bool(is_best))


def _label_array(y):
    """The labels of a batch as an array: a DataLoader batches string labels as a list,
    which skorch's default extractor (``to_numpy``) does not take."""
    return np.asarray(y) if isinstance(y, (list, tuple)) else to_numpy(y)


def _accuracy(net, X, y):
    """The default ``valid_acc``: skorch's ``"accuracy"``, weighted by the sample weights
    that the validation data carry, as scikit-learn's ``score(X, y, sample_weight)`` weights
    it (skorch's scorer passes none, so ``valid_acc`` was unweighted beside a weighted
    ``valid_loss``). ``X`` is the validation Dataset (skorch's cached predictions) or its
    data (``use_caching=False``)."""
    weights = X.get("sample_weight") if isinstance(X, Mapping) else _split_weights(X)
    if weights is not None:
        weights = to_numpy(weights) if isinstance(weights, torch.Tensor) else np.asarray(weights)
    return accuracy_score(y, net.predict(X), sample_weight=weights)


def default_callbacks(classifier, extra=()):
    """skorch's default callbacks (valid scores are recorded when there is validation data),
    the ``extra`` ones of an estimator, the progress bar, and PrintLog (shown with
    ``verbose``)."""
    callbacks = [
        ("epoch_timer", EpochTimer()),
        ("train_loss", _PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", _PassthroughScoring(name="valid_loss")),
    ]
    if classifier:
        callbacks.append(
            ("valid_acc", EpochScoring(_accuracy, name="valid_acc", lower_is_better=False,
                                       target_extractor=_label_array))
        )
    callbacks += list(extra)
    callbacks += [
        ("progress", EpochProgressBar()),
        ("print_log", PrintLog()),
    ]
    return callbacks
