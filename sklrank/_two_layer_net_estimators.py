"""TwoLayerNetRegressor and TwoLayerNetClassifier: the two-layer network of section B on skorch.

Only the input weights W are trained (full-batch gradient descent by default); the outer signs
``a`` are fixed. The regularisers of the paper are parameters: ``weight_decay`` adds
``(lambda/2)||W||_F^2`` to the loss, ``input_noise`` trains on ``x + N(0, tau^2 I)`` with a
fresh draw every step (also across ``partial_fit`` calls), and ``jacobian_penalty`` adds
``(lambda_J/n) sum_i ||grad_x f(x_i)||^2`` (built with autograd, ``create_graph=True``).
"""

import math
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from skorch import NeuralNetClassifier, NeuralNetRegressor
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from ._base import (
    CLASSES_PARAM_DOC,
    SKORCH_PARAMS_DOC,
    _BaseNet,
    _ClassifierNet,
    _inputs,
    default_callbacks,
)
from .gradients._decomposition import penalty
from .nn._two_layer_net import TwoLayerNet

__all__ = ["TwoLayerNetRegressor", "TwoLayerNetClassifier"]


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
        Std tau of the Gaussian noise added to the inputs at every training step, drawn
        from the estimator's own generator, seeded by ``random_state`` at initialisation, so
        that every step, also of later ``partial_fit`` calls, gets a fresh and reproducible
        draw (with ``random_state=None``, seeded from torch's global generator, as the
        weights are, so that ``torch.manual_seed`` repeats the fit). On a GPU the noise is
        drawn there, by a generator seeded from the CPU one: the same ``random_state`` gives
        the same fit on the same device, but not the CPU's noise.
    jacobian_penalty : float, default=0.0
        lambda_J of ``(lambda_J/n) sum_i ||grad_x f(x_i)||^2``. Refused at fit with
        ``compile=True`` (torch.compile has no double backward).
    lr : float, default=1.0
        Learning rate of full-batch gradient descent (plain SGD, batch = training set). The
        curvature grows with ``||x||^2``: for features of unit variance scale it as
        ``1 / n_features`` (``sklrank gradients`` uses ``20 / n_features``); a run that
        diverges (a NaN loss, or a loss that ends more than 1000 times above its first
        value) raises :class:`~sklrank.exceptions.TrainingDivergedError` naming the epoch or
        the loss's growth, and the step that is too large.
    max_epochs : int, default=100
        Number of gradient steps.
    random_state : int, RandomState instance or None, default=None
        Seeds W, a, the input noise, the order of shuffled mini-batches
        (``iterator_train__shuffle=True``) and the validation part of a
        ``train_split=ValidSplit(fraction)`` without a ``random_state`` of its own: the
        same int gives identical numbers on one machine with the same number of torch
        threads (another count may change the last bits).
    criterion : torch criterion class, default=torch.nn.MSELoss (regressor) or \
            torch.nn.CrossEntropyLoss (classifier, on the logits ``[0, f(x)]``)
        The data loss; the classifier's gets the labels' indices in ``classes_``
        (whatever the labels).
    optimizer : torch optimizer class, default=torch.optim.SGD
        Plain gradient descent unless ``optimizer__*`` parameters say otherwise.
    batch_size : int, default=-1
        -1 trains on the whole training set at once (full-batch gradient descent).
    train_split : callable or None, default=None
        No internal validation split; e.g. ``skorch.dataset.ValidSplit(0.2)`` records
        ``valid_loss`` (and ``valid_acc`` for the classifier).
    device : str or torch.device, default="cpu"
        Where the module and the data live during training ("cuda" for a GPU).
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    progress_bar : bool, default=False
        Show a tqdm progress bar per fit.
"""

_KWARGS_ATTRIBUTES_DOC = """    **kwargs
        skorch's parameters of the parts, by prefix (``module__*``, ``optimizer__*``,
        ``criterion__*``, ``iterator_train__*``, ``callbacks__<name>__*``, ...).

    Attributes
    ----------
    module_ : sklrank.nn.TwoLayerNet
        The trained network.
    n_features_in_ : int
        Number of features seen during fit.
    history_ : skorch.History
        ``train_loss`` per epoch (the data loss plus the regularisers), ``valid_loss`` with a
        ``train_split``, plus what callbacks such as :class:`sklrank.callbacks.GradientSpectrum`
        record.
"""


class _TwoLayerNet(_BaseNet):
    """What the regressor and the classifier share."""

    _init_only_kwargs = ("init", "spike", "spike_weight", "random_state")
    _parameter_constraints = {
        **_BaseNet._common_constraints,
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "scaling": [StrOptions({"ntk", "mean_field"})],
        "activation": [StrOptions({"relu", "tanh", "sigmoid", "huberized"}), torch.nn.Module],
        "init": [StrOptions({"sphere", "spike"})],
        "spike": [None, "array-like"],
        "spike_weight": [None, Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "jacobian_penalty": [Interval(Real, 0, None, closed="left")],
    }

    @property
    def _default_callbacks(self):
        return default_callbacks(isinstance(self, NeuralNetClassifier))

    def _check_params(self):
        super()._check_params()
        if self.init == "spike" and self.spike is None:
            raise ValueError(
                'init="spike" needs spike=q (the spike direction, shape (n_features,)); '
                'pass it or use init="sphere".'
            )
        if self.jacobian_penalty > 0 and getattr(self, "compile", False):
            # torch's aot_autograd (2.13) raises "does not currently support double backward"
            # from the first step
            raise ValueError(
                f"compile=True cannot train with jacobian_penalty={self.jacobian_penalty!r}: "
                "the penalty differentiates the input gradient of the network (a double "
                "backward), which torch.compile does not support; set compile=False or "
                "jacobian_penalty=0."
            )

    def _check_fit_X(self, X, reset):
        if reset:
            self._n_samples_fit = len(X)

    def _module_kwargs(self, seed):
        module_params = self.get_params_for("module")
        n_features = self.__dict__.get("n_features_in_", module_params.get("n_features"))
        if n_features is None:
            raise NotFittedError(
                f"{type(self).__name__} learns n_features from X: call fit, or pass "
                "module__n_features=d to initialize it before fitting."
            )
        spike_weight = self.spike_weight
        if self.init == "spike" and spike_weight is None:
            n_samples = self.__dict__.get("_n_samples_fit")
            if n_samples is None:
                raise NotFittedError(
                    'init="spike" with spike_weight=None uses n_samples ** -0.25: call fit, '
                    "or pass spike_weight to initialize it before fitting."
                )
            spike_weight = n_samples**-0.25
        kwargs = {
            "n_features": n_features,
            "n_hidden": self.n_hidden,
            "scaling": self.scaling,
            "activation": self._module_activation(),
            "init": self.init,
            "spike": self.spike,
            "spike_weight": spike_weight,
            "random_state": seed,
        }
        kwargs.update(module_params)
        return kwargs

    def initialize_module(self):
        """Build the TwoLayerNet for the fitted number of features, seeded by random_state."""
        super().initialize_module()
        if "n_features_in_" not in self.__dict__:
            self.n_features_in_ = int(self.module_.n_features)
        return self

    def initialize(self):
        """Initialise the network (and the input-noise generator), seeded by random_state.

        Returns
        -------
        self
        """
        super().initialize()
        seed = self._init_seed()
        generator = torch.Generator()
        if seed is None:
            # from torch's global generator, as the weights are: torch.manual_seed then makes
            # the whole fit (weights and noise) repeatable, as it does for a skorch net
            seed = int(torch.randint(2**62, (), dtype=torch.int64))
        generator.manual_seed(seed)
        self._noise_generator = generator
        self._device_noise_generator = None  # made at the first step on another device
        return self

    def _standard_noise(self, x):
        """N(0, 1) noise of ``x``'s shape and dtype, drawn where ``x`` lives.

        On the CPU from the fit's generator, seeded by random_state. On another device from a
        generator there, seeded once from the CPU one: drawing on the host would copy the
        noise over to the device at every step. A device without generators of its own gets
        the CPU's draws, copied.
        """
        generator = self._noise_generator
        if x.device.type != "cpu":
            generator = self._noise_generator_on(x.device) or generator
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        return noise if noise.device == x.device else noise.to(x.device)

    def _noise_generator_on(self, device):
        """The noise generator on ``device`` (made, or restored from a pickle, when missing),
        or None where the device has none."""
        held = self.__dict__.get("_device_noise_generator")
        if isinstance(held, torch.Generator) and held.device == device:
            return held
        try:
            generator = torch.Generator(device=device)
        except RuntimeError:
            return None
        if isinstance(held, tuple) and held[0] == str(device):  # (device, state) of a pickle
            generator.set_state(held[1])
        else:
            generator.manual_seed(int(torch.randint(2**62, (), generator=self._noise_generator)))
        self._device_noise_generator = generator
        return generator

    def __getstate__(self):
        state = super().__getstate__()
        # a CUDA generator would not unpickle without CUDA: kept as its device and state, and
        # made again at the next step on that device
        held = state.get("_device_noise_generator")
        if isinstance(held, torch.Generator):
            state["_device_noise_generator"] = (str(held.device), held.get_state())
        return state

    def train_step_single(self, batch, **fit_params):
        """One step: fresh input noise, data loss plus regularisers, backward."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        x = _inputs(Xi)
        if self.input_noise > 0:
            x = x + self.input_noise * self._standard_noise(x)
        if self.jacobian_penalty > 0:
            x = x.detach().requires_grad_(True)
        Xi = {**Xi, "X": x} if isinstance(Xi, Mapping) else x
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Data loss, plus the regularisers while training."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training and (self.weight_decay > 0 or self.jacobian_penalty > 0):
            loss = loss + penalty(
                self.module_, _inputs(X), self._output(y_pred), self.weight_decay,
                self.jacobian_penalty,
            )
        return loss

    def _f(self, x, **fit_params):
        """The network output f(x): float32 while training, float64 in evaluation, where a
        sample's output then does not depend on the rows it comes with (float32 BLAS kernels
        change their summation order with the row count)."""
        x = to_tensor(_inputs(x), device=self.device)
        if self.module_.training:
            return self.module_(x, **fit_params)
        state = dict(self.module_.named_parameters())
        state.update(self.module_.named_buffers())
        state = {name: value.detach().to(torch.float64) for name, value in state.items()}
        return torch.func.functional_call(self.module_, state, (x.to(torch.float64),))

    def _output(self, y_pred):
        """The scalar network output f from what ``infer`` returns."""
        raise NotImplementedError

    def _scale_report(self, X, failure):
        if X is None:
            return f"Likely causes: lr={self.lr:g} or the input scale."
        mean_sq = float(np.mean(np.sum(X**2, axis=1)))
        # the NTK of the net is about gamma_m^2 m ||x||^2 / 2: the step lr * that must stay
        # below ~2 for gradient descent on the mean squared error to be stable
        gamma_sq_m = 1.0 if self.scaling == "ntk" else 1.0 / self.n_hidden
        # the last step's lr: a schedule that raised it was reported as "lr=1" (and a stable
        # step); lr_t names the scheduled one
        lr_used = self._last_step_lr()
        scheduled = not math.isclose(lr_used, self.lr, rel_tol=1e-6)
        step = lr_used * mean_sq * gamma_sq_m
        scale = f"mean ||x||^2 = {mean_sq:.3g}"
        if scheduled:
            scale += (f"; lr_t = {lr_used:g}, the step the learning-rate schedule set at the "
                      f"end (lr={self.lr:g})")
        lr_name = "lr_t" if scheduled else "lr"
        lowered = ("lr (or the schedule) so that lr_t stays below about" if scheduled
                   else "lr to about")
        if failure == "diverged_at_start":
            return (
                f"Likely cause: the inputs ({scale}) or the activation overflow the forward "
                "pass in float32: scale X, or check the activation."
            )
        if failure in ("diverged", "died") and step > 1.0:
            return (
                f"Likely cause: the step is too large for the input scale ({scale}; "
                f"{lr_name} * mean ||x||^2 * gamma_m^2 m = {step:.3g}, stable below ~2): lower "
                f"{lowered} {1.0 / (mean_sq * gamma_sq_m):.3g} or scale X down."
            )
        if failure in ("diverged", "died"):
            # the data term's step is stable: advising a "lower" lr above the current one
            # (it said "lower lr to about 78" at lr=0.5) pointed away from the cause
            regularisers = [f"{name}={value:g}" for name, value in (
                ("weight_decay", self.weight_decay), ("jacobian_penalty", self.jacobian_penalty))
                if value > 0]
            causes = ([f"the regularisers' own curvature ({', '.join(regularisers)}; lower "
                       f"{'it' if len(regularisers) == 1 else 'them'} or lr)"]
                      if regularisers else [])
            causes.append("units that are all inactive or saturated on the data (check the "
                          "activation, its parameters and the input scale)" if failure == "died"
                          else "the activation or the input scale")
            return (
                f"The step is within the data term's stable range ({scale}; {lr_name} * mean "
                f"||x||^2 * gamma_m^2 m = {step:.3g}, stable below ~2), so the likely cause "
                f"is {', else '.join(causes)}."
            )
        if step >= 0.5:
            # (it advised "raise lr (about 4.18e-06 is stable)" at an lr 2e5 times that)
            return (
                f"Likely cause: too few epochs (max_epochs={self.max_epochs}) or targets far "
                f"from the network's reach: the step is not small ({scale}; {lr_name} * mean "
                f"||x||^2 "
                f"* gamma_m^2 m = {step:.3g}); raise max_epochs, or scale X and y."
            )
        return (
            f"Likely cause: too small a step ({scale}; {lr_name} * mean ||x||^2 * gamma_m^2 m = "
            f"{step:.3g}) or too few epochs (max_epochs={self.max_epochs}); raise lr (about "
            f"{1.0 / (mean_sq * gamma_sq_m):.3g} is stable) or max_epochs."
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.input_noise > 0 and self.random_state is None
        return tags


class TwoLayerNetRegressor(_TwoLayerNet, NeuralNetRegressor):
    __doc__ = (
        """Two-layer network ``f(x) = gamma_m a^T sigma(W x)`` trained on the mean squared error.

    Read more in section B of ``docs/science.md``; pair it with
    :func:`sklrank.gradients.gradient_decomposition` and
    :class:`sklrank.callbacks.GradientSpectrum`.
"""
        + _COMMON_DOC
        + SKORCH_PARAMS_DOC
        + _KWARGS_ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklrank import TwoLayerNetRegressor
    >>> from sklrank.datasets import make_spiked
    >>> X, y = make_spiked(100, 20, nu=0.1, random_state=0)
    >>> reg = TwoLayerNetRegressor(n_hidden=32, lr=0.05, max_epochs=5, random_state=0)
    >>> reg = reg.fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """
    )

    _gradient_loss = "mse"
    _y_numeric = True

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
        self.progress_bar = progress_bar

    def _prepare_targets(self, y, reset, classes=None):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one target a sample), got shape {y.shape}.")
        return self._as_tensor(y.astype(np.float32).reshape(-1, 1))

    def _loss_targets(self, y_true, y_pred):
        return y_true.to(y_pred.dtype)

    def _encode_target(self, y):
        """The targets as numbers (what the gradient decomposition takes)."""
        return np.asarray(y, dtype=np.float64)

    def _output(self, y_pred):
        return y_pred[:, 0]

    def infer(self, x, **fit_params):
        """``f(x)`` as a column, shape ``(n, 1)`` (the MSE criterion's input)."""
        return self._f(x, **fit_params).unsqueeze(1)

    def predict(self, X):
        """Network outputs ``f(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch.Tensor or skorch Dataset
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Evaluated in float64.
        """
        out = self.forward(self._prediction_input(X))
        return out[:, 0].detach().numpy().astype(np.float64)

    @property
    def predict_proba(self):
        """Not available: a regressor has no class probabilities (use :meth:`predict`).

        skorch's NeuralNet defines the method; the property raises AttributeError so that
        ``hasattr(regressor, "predict_proba")`` is False, as scikit-learn expects.
        """
        raise AttributeError("TwoLayerNetRegressor has no predict_proba; use predict.")


class TwoLayerNetClassifier(_TwoLayerNet, _ClassifierNet, NeuralNetClassifier):
    __doc__ = (
        """Two-layer network ``f(x) = gamma_m a^T sigma(W x)`` trained on the logistic loss.

    Binary only: the logits are ``[0, f(x)]``, so the cross-entropy is exactly the logistic
    loss ``log(1 + exp(-s f(x)))`` with ``s = +1`` for ``classes_[1]`` and ``-1`` for
    ``classes_[0]``. Read more in section B of ``docs/science.md``.
"""
        + _COMMON_DOC
        + CLASSES_PARAM_DOC
        + SKORCH_PARAMS_DOC
        + _KWARGS_ATTRIBUTES_DOC
        + """    classes_ : ndarray of shape (2,)
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
    _max_classes = 2

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
        self.progress_bar = progress_bar

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _n_outputs(self):
        return 2

    def _output(self, y_pred):
        return y_pred[:, 1]

    def infer(self, x, **fit_params):
        """The logits ``[0, f(x)]``, shape ``(n, 2)``."""
        f = self._f(x, **fit_params)
        return torch.stack([torch.zeros_like(f), f], dim=1)

    def decision_function(self, X):
        """Network outputs ``f(x)`` (positive favours ``classes_[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch.Tensor or skorch Dataset
            Inputs.

        Returns
        -------
        f : ndarray of shape (n_samples,)
            Evaluated in float64.
        """
        out = self.forward(self._prediction_input(X))
        return out[:, 1].detach().numpy().astype(np.float64)

    def predict(self, X):
        """Predicted class labels: ``classes_[1]`` where ``f(x) > 0``, else ``classes_[0]``.

        As scikit-learn's linear classifiers, ``predict`` is the sign of
        :meth:`decision_function`, also where ``|f(x)|`` is below float64's resolution
        around 1 (``predict_proba`` then rounds to ``[0.5, 0.5]``, a tie its ``argmax``
        would give to ``classes_[0]``); ``f(x) = 0`` gives ``classes_[0]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch.Tensor or skorch Dataset
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        positive = self.decision_function(X) > 0  # (NotFittedError before classes_ is read)
        return self.classes_[positive.astype(np.intp)]
