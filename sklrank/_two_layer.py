"""TwoLayerNetRegressor and TwoLayerNetClassifier: the two-layer network of section B on skorch.

Only the input weights W are trained (full-batch gradient descent by default); the outer signs
``a`` are fixed. The regularisers of the paper are parameters: ``weight_decay`` adds
``(lambda/2)||W||_F^2`` to the loss, ``input_noise`` trains on ``x + N(0, tau^2 I)`` with a
fresh draw every step, and ``jacobian_penalty`` adds ``(lambda_J/n) sum_i ||grad_x f(x_i)||^2``
(built with autograd, ``create_graph=True``).
"""

import contextlib
from numbers import Integral, Real

import numpy as np
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
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import EpochTimer, PassthroughScoring
from skorch.dataset import unpack_data

from .callbacks._progress import EpochProgressBar
from .gradients._decomposition import penalty
from .nn._two_layer import TwoLayerNet

__all__ = ["TwoLayerNetRegressor", "TwoLayerNetClassifier"]


@contextlib.contextmanager
def _seeded(seed):
    """Run the block with torch's CPU generator seeded, restoring the global state after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


_COMMON_DOC = """
    Parameters
    ----------
    module : type, default=sklrank.nn.TwoLayerNet
        The network class (built with n_features from X and the parameters below).
    n_hidden : int, default=512
        Width m (the paper uses 1250).
    scaling : {"ntk", "mean_field"}, default="ntk"
        ``gamma_m = 1/sqrt(m)`` or ``1/m``.
    activation : {"relu", "tanh", "sigmoid", "huberized"} or torch.nn.Module, default="relu"
        Elementwise activation.
    init : {"sphere", "spike"}, default="sphere"
        Rows of W uniform on the sphere, or ``normalise_rows(W_S + spike_weight 1 q^T)``.
    spike : array-like of shape (n_features,), default=None
        The direction q for ``init="spike"``.
    spike_weight : float, default=None
        Weight of q for ``init="spike"``; None uses ``n_samples ** -0.25`` as in the paper.
    weight_decay : float, default=0.0
        lambda of the penalty ``(lambda/2)||W||_F^2``.
    input_noise : float, default=0.0
        Std tau of the Gaussian noise added to the inputs at every training step.
    jacobian_penalty : float, default=0.0
        lambda_J of ``(lambda_J/n) sum_i ||grad_x f(x_i)||^2``.
    lr : float, default=1.0
        Learning rate of full-batch gradient descent (plain SGD, batch = training set). The
        curvature grows with ``||x||^2``: for features of unit variance scale it as
        ``1 / n_features`` (``sklrank gradients`` uses ``20 / n_features``); a run that
        diverges raises ``FloatingPointError`` naming the epoch.
    max_epochs : int, default=100
        Number of gradient steps.
    random_state : int, RandomState instance or None, default=None
        Seeds W, a and the input noise: the same value gives identical numbers.
    verbose : int, default=0
        Show a tqdm progress bar per fit when > 0.
    **kwargs
        Any other skorch parameter (``optimizer``, ``callbacks``, ...).

    Attributes
    ----------
    module_ : sklrank.nn.TwoLayerNet
        The trained network.
    n_features_in_ : int
    history : skorch History
        ``train_loss`` per epoch (the data loss plus the regularisers), plus what callbacks
        such as :class:`sklrank.callbacks.GradientSpectrum` record.
"""


class _TwoLayerMixin:
    """What the regressor and the classifier share."""

    _parameter_constraints = {
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "scaling": [StrOptions({"ntk", "mean_field"})],
        "activation": [StrOptions({"relu", "tanh", "sigmoid", "huberized"}), torch.nn.Module],
        "init": [StrOptions({"sphere", "spike"})],
        "spike": [None, "array-like"],
        "spike_weight": [None, Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "jacobian_penalty": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "batch_size": [Options(Integral, {-1}), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def _set_own_params(
        self, n_hidden, scaling, activation, init, spike, spike_weight, weight_decay,
        input_noise, jacobian_penalty, random_state,
    ):
        self.n_hidden = n_hidden
        self.scaling = scaling
        self.activation = activation
        self.init = init
        self.spike = spike
        self.spike_weight = spike_weight
        self.weight_decay = weight_decay
        self.input_noise = input_noise
        self.jacobian_penalty = jacobian_penalty
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("progress", EpochProgressBar()),
        ]

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def _check_params(self):
        # skorch shadows BaseEstimator._validate_params; check the constraints directly.
        validate_parameter_constraints(
            self._parameter_constraints,
            {k: getattr(self, k) for k in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        if self.init == "spike" and self.spike is None:
            raise ValueError(
                'init="spike" needs spike=q (the spike direction, shape (n_features,)); '
                'pass it or use init="sphere".'
            )

    def _init_seed(self):
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def check_data(self, X, y=None):
        pass  # validated in fit

    def initialize_module(self):
        """Build the TwoLayerNet for the fitted number of features, seeded by random_state."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"{type(self).__name__} learns n_features from X: call fit.")
        seed = self._init_seed()
        spike_weight = self.spike_weight
        if self.init == "spike" and spike_weight is None:
            spike_weight = self._n_samples_fit ** -0.25
        kwargs = {
            "n_features": self.n_features_in_,
            "n_hidden": self.n_hidden,
            "scaling": self.scaling,
            "activation": self.activation,
            "init": self.init,
            "spike": self.spike,
            "spike_weight": spike_weight,
            "random_state": seed,
        }
        kwargs.update(self.get_params_for("module"))
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize(self):
        with _seeded(self._init_seed()):
            super().initialize()
        return self

    def _output(self, y_pred):
        """The scalar network output f from what ``infer`` returns."""
        raise NotImplementedError

    def train_step_single(self, batch, **fit_params):
        """One step: fresh input noise, data loss plus regularisers, backward."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.input_noise > 0:
            Xi = Xi + self.input_noise * torch.randn_like(Xi)
        if self.jacobian_penalty > 0:
            Xi = Xi.detach().requires_grad_(True)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"training diverged at epoch {len(self.history)}: the loss is {loss.item()}; "
                f"lower lr (now {self.lr:g}) or the regularisers."
            )
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Data loss, plus the regularisers while training."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training and (self.weight_decay > 0 or self.jacobian_penalty > 0):
            loss = loss + penalty(
                self.module_, X, self._output(y_pred), self.weight_decay, self.jacobian_penalty
            )
        return loss

    def _fit(self, X, y, fit_params):
        self._check_params()
        X_t, y_t = self._prepare(X, y)
        self._n_samples_fit = len(X_t)
        self.initialize()
        self._train(X_t, y_t, fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train ``max_epochs`` more steps from the current weights (``fit`` if unfitted).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : ignored
        **fit_params : dict

        Returns
        -------
        self
        """
        if not getattr(self, "initialized_", False) or not hasattr(self, "n_features_in_"):
            return self._fit(X, y, fit_params)
        self._check_params()
        n_features = self.n_features_in_
        X_t, y_t = self._prepare(X, y, n_features=n_features)
        self._train(X_t, y_t, fit_params)
        return self

    def _train(self, X_t, y_t, fit_params):
        with _seeded(self._init_seed()):  # the input-noise draws are reproducible too
            super(NeuralNetRegressor if isinstance(self, NeuralNetRegressor)
                  else NeuralNetClassifier, self).partial_fit(X_t, y_t, **fit_params)
        if not bool(torch.isfinite(self.module_.weight).all()):
            raise FloatingPointError(
                f"training diverged: W holds NaN or infinity; lower lr (now {self.lr:g})."
            )

    def _forward_f(self, X):
        if not getattr(self, "initialized_", False) or not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first."
            )
        X = validate_data(self, X, reset=False, dtype=np.float32)
        self.module_.eval()
        # Evaluated in float64 so that a sample's output does not depend on the other rows it
        # comes with: float32 BLAS kernels change their summation order with the row count.
        state = dict(self.module_.named_parameters())
        state.update(self.module_.named_buffers())
        device = self.module_.weight.device
        state = {name: value.detach().to(torch.float64) for name, value in state.items()}
        x = torch.from_numpy(np.ascontiguousarray(X)).to(device=device, dtype=torch.float64)
        with torch.no_grad():
            return torch.func.functional_call(self.module_, state, (x,)).cpu()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.input_noise > 0 and self.random_state is None
        return tags


class TwoLayerNetRegressor(_TwoLayerMixin, NeuralNetRegressor):
    __doc__ = (
        """Two-layer network ``f(x) = gamma_m a^T sigma(W x)`` trained on the mean squared error.

    Read more in section B of ``docs/science.md``; pair it with
    :func:`sklrank.gradients.gradient_decomposition` and
    :class:`sklrank.callbacks.GradientSpectrum`.
"""
        + _COMMON_DOC
        + """
    Examples
    --------
    >>> from sklrank import TwoLayerNetRegressor
    >>> from sklrank.datasets import make_spiked
    >>> X, y = make_spiked(100, 20, nu=0.1, random_state=0)
    >>> reg = TwoLayerNetRegressor(n_hidden=32, max_epochs=5, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """
    )

    _gradient_loss = "mse"

    def __init__(
        self,
        module=TwoLayerNet,
        *,
        n_hidden=512,
        scaling="ntk",
        activation="relu",
        init="sphere",
        spike=None,
        spike_weight=None,
        weight_decay=0.0,
        input_noise=0.0,
        jacobian_penalty=0.0,
        lr=1.0,
        max_epochs=100,
        random_state=None,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.SGD,
        batch_size=-1,
        train_split=None,
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
            verbose=verbose,
            **kwargs,
        )
        self._set_own_params(
            n_hidden, scaling, activation, init, spike, spike_weight, weight_decay,
            input_noise, jacobian_penalty, random_state,
        )

    def _prepare(self, X, y, n_features=None):
        X, y = validate_data(self, X, y, reset=n_features is None, dtype=np.float32,
                             y_numeric=True)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one target a sample), got shape {y.shape}.")
        return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(
            y.astype(np.float32).reshape(-1, 1)
        )

    def _output(self, y_pred):
        return y_pred[:, 0]

    def infer(self, x, **fit_params):
        return self.module_(x, **fit_params).unsqueeze(1)

    def fit(self, X, y, **fit_params):
        """Initialise the network and train it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        **fit_params : dict
            Passed on to skorch.

        Returns
        -------
        self : TwoLayerNetRegressor
        """
        return self._fit(X, y, fit_params)

    def predict(self, X):
        """Network outputs ``f(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self._forward_f(X).numpy().astype(np.float64)

    def _encode_target(self, y):
        return np.asarray(y, dtype=np.float64)

    @property
    def predict_proba(self):
        # skorch's NeuralNet defines it; a regressor has none (hasattr must be False)
        raise AttributeError("TwoLayerNetRegressor has no predict_proba; use predict.")


class TwoLayerNetClassifier(_TwoLayerMixin, NeuralNetClassifier):
    __doc__ = (
        """Two-layer network ``f(x) = gamma_m a^T sigma(W x)`` trained on the logistic loss.

    Binary only: the logits are ``[0, f(x)]``, so the cross-entropy is exactly the logistic
    loss ``log(1 + exp(-s f(x)))`` with ``s = +1`` for ``classes_[1]`` and ``-1`` for
    ``classes_[0]``. Read more in section B of ``docs/science.md``.
"""
        + _COMMON_DOC
        + """
    classes_ : ndarray of shape (2,)
        The two class labels (any type).

    Examples
    --------
    >>> import numpy as np
    >>> from sklrank import TwoLayerNetClassifier
    >>> from sklrank.datasets import make_spiked
    >>> X, y = make_spiked(100, 20, nu=0.3, target="spike", random_state=0)
    >>> clf = TwoLayerNetClassifier(n_hidden=32, max_epochs=20, random_state=0)
    >>> clf = clf.fit(X, np.where(y > 0, "pos", "neg"))
    >>> clf.classes_.tolist()
    ['neg', 'pos']
    """
    )

    _gradient_loss = "logistic"

    def __init__(
        self,
        module=TwoLayerNet,
        *,
        n_hidden=512,
        scaling="ntk",
        activation="relu",
        init="sphere",
        spike=None,
        spike_weight=None,
        weight_decay=0.0,
        input_noise=0.0,
        jacobian_penalty=0.0,
        lr=1.0,
        max_epochs=100,
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        batch_size=-1,
        train_split=None,
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
            verbose=verbose,
            **kwargs,
        )
        self._set_own_params(
            n_hidden, scaling, activation, init, spike, spike_weight, weight_decay,
            input_noise, jacobian_penalty, random_state,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _encode_target(self, y):
        y = np.asarray(y)
        classes = self.classes_
        index = np.searchsorted(classes, y)
        bad = (index >= len(classes)) | (classes[np.minimum(index, len(classes) - 1)] != y)
        if bad.any():
            raise ValueError(
                f"y holds labels {np.unique(y[bad]).tolist()} that are not among the classes "
                f"{classes.tolist()}."
            )
        return index

    def _prepare(self, X, y, n_features=None):
        X, y = validate_data(self, X, y, reset=n_features is None, dtype=np.float32)
        check_classification_targets(y)
        if n_features is not None:  # partial_fit: the classes are fixed
            return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(
                self._encode_target(y).astype(np.int64)
            )
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(
                "Only binary classification is supported: the logistic loss acts on one "
                f"output. y has {len(classes)} classes {classes.tolist()[:10]}; pass y with "
                "exactly 2 classes."
            )
        self.classes_inferred_ = classes
        return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(
            self._encode_target(y).astype(np.int64)
        )

    def _output(self, y_pred):
        return y_pred[:, 1]

    def infer(self, x, **fit_params):
        f = self.module_(x, **fit_params)
        return torch.stack([torch.zeros_like(f), f], dim=1)

    def fit(self, X, y, **fit_params):
        """Initialise the network and train it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two class labels.
        **fit_params : dict
            Passed on to skorch.

        Returns
        -------
        self : TwoLayerNetClassifier
        """
        return self._fit(X, y, fit_params)

    def decision_function(self, X):
        """Network outputs ``f(x)`` (positive favours ``classes_[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        f : ndarray of shape (n_samples,)
        """
        return self._forward_f(X).numpy().astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities ``[1 - sigmoid(f), sigmoid(f)]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        p = torch.sigmoid(self._forward_f(X).double()).numpy()
        return np.stack([1 - p, p], axis=1)

    def predict(self, X):
        """Predicted labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        index = (self._forward_f(X) > 0).numpy().astype(int)
        return self.classes_[index]



