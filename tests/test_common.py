"""scikit-learn's estimator checks over every sklrank estimator (imbalanced-learn's layout).

Each estimator is checked in the settings listed below; the checks that are expected to fail
are listed per estimator with the reason, and scikit-learn reports them as xfail (so a check
that starts passing shows up as XPASS, and one that fails unexpectedly fails the suite).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import scipy
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.fixes import parse_version

from sklrank import (
    BackgroundNoise,
    PCARankReducer,
    RankCNNClassifier,
    TwoLayerNetClassifier,
    TwoLayerNetRegressor,
)

# skorch's NeuralNet.__init__ creates ``history_``, ``initialized_`` and ``virtual_params_``
# (skorch/net.py), and its set_params validates the callbacks; sklrank builds on skorch's
# __init__ and set_params rather than re-implementing them.
_SKORCH_INIT = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_; these are "
        "reset by fit, so clone and get_params are unaffected"
    ),
    # (checked since the signature lists skorch's parameters, callbacks among them)
    "check_do_not_raise_errors_in_init_or_set_params": (
        "skorch's NeuralNet.set_params re-initialises the callbacks when callbacks is set, "
        "which raises TypeError for a value that is not a list of callbacks (e.g. -1)"
    ),
}

# The skorch estimators are checked twice: with settings that train on unit-scale data in a few
# dozen full-batch steps (the checks that ask a classifier to fit its training data), and with
# a step small enough for the data centred at 100 that some API checks use, which kill the
# network at the first settings (the fit then raises TrainingFailedError, as a dead network is
# not a result). The defaults reproduce the papers instead.
UNIT_SCALE = {
    RankCNNClassifier: dict(n_filters=4, max_epochs=30, lr=5.0, init_std=0.1, random_state=0),
    TwoLayerNetRegressor: dict(n_hidden=32, lr=0.05, max_epochs=50, random_state=0),
    TwoLayerNetClassifier: dict(n_hidden=32, lr=0.5, max_epochs=50, random_state=0),
}
LARGE_SCALE = {
    RankCNNClassifier: dict(n_filters=4, max_epochs=30, lr=1e-3, init_std=0.1, random_state=1),
    TwoLayerNetRegressor: dict(n_hidden=32, lr=1e-5, max_epochs=50, random_state=1),
    TwoLayerNetClassifier: dict(n_hidden=32, lr=1e-5, max_epochs=50, random_state=1),
}

ESTIMATORS = [
    *(cls(**params) for cls, params in UNIT_SCALE.items()),
    *(cls(**params) for cls, params in LARGE_SCALE.items()),
    PCARankReducer(),
    PCARankReducer(center=True),
    BackgroundNoise(),
    BackgroundNoise(0.0, position=0),
    BackgroundNoise(mode="additive"),
    BackgroundNoise(0.5, grid=(1, 3), position=(0, 2), random_state=0),
]

# check_set_params fuzzes every parameter with inf/None cumulatively; skorch's set_params
# re-initialises its callbacks when ``callbacks=inf`` and raises TypeError from then on, which
# scikit-learn reports as a warning (the check itself passes).
pytestmark = [
    pytest.mark.filterwarnings("ignore:TypeError occurred during set_params:UserWarning"),
    pytest.mark.filterwarnings("ignore:Estimator's parameters changed after set_params"),
]

_LOC_100 = (
    "the check fits data centred at 100, which kill the network at the unit-scale settings; "
    "the fit raises TrainingFailedError (a dead network is not a result); the check passes "
    "at the small-step settings (LARGE_SCALE)"
)
_TOO_SMALL_STEP = (
    "the small step made for data centred at 100 does not fit unit-scale training data in a "
    "few dozen epochs; the check passes at the unit-scale settings"
)
_FLOAT32_WEIGHTS = (
    "float32 training: weighted and repeated-sample fits agree to ~2e-7 in predict_proba, "
    "above the check's tolerance (tests/test_classifier.py checks the equivalence at float32 "
    "precision)"
)
UNIT_SCALE_FAILURES = {
    **_SKORCH_INIT,
    "check_fit_idempotent": _LOC_100,
    "check_fit_check_is_fitted": _LOC_100,
    "check_n_features_in": _LOC_100,
}
LARGE_SCALE_FAILURES = {
    **_SKORCH_INIT,
    "check_classifiers_train": _TOO_SMALL_STEP,
    "check_regressors_train": _TOO_SMALL_STEP,
}
# (estimator class, settings) -> {check name: reason}
EXPECTED_FAILED_CHECKS = {
    (RankCNNClassifier, "unit"): {
        **UNIT_SCALE_FAILURES,
        "check_sample_weight_equivalence_on_dense_data": _FLOAT32_WEIGHTS,
    },
    (TwoLayerNetRegressor, "unit"): UNIT_SCALE_FAILURES,
    (TwoLayerNetClassifier, "unit"): UNIT_SCALE_FAILURES,
    (RankCNNClassifier, "large"): LARGE_SCALE_FAILURES,
    (TwoLayerNetRegressor, "large"): LARGE_SCALE_FAILURES,
    (TwoLayerNetClassifier, "large"): LARGE_SCALE_FAILURES,
}


def _expected_failed_checks(estimator):
    params = estimator.get_params(deep=False)
    for name, settings in (("unit", UNIT_SCALE), ("large", LARGE_SCALE)):
        own = settings.get(type(estimator))
        if own is not None and all(params[k] == v for k, v in own.items()):
            return EXPECTED_FAILED_CHECKS[type(estimator), name]
    return {}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The checks fit hundreds of tiny networks: one thread avoids threading overhead.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    import sklrank

    estimator_names = {
        name
        for name in sklrank.__all__
        if isinstance(getattr(sklrank, name), type)
        and hasattr(getattr(sklrank, name), "get_params")
    }
    checked = {type(est).__name__ for est in ESTIMATORS}
    assert estimator_names <= checked, estimator_names - checked


# ---------------------------------------------------------------- a bool is not a number


def _numbers_only(constraints):
    """Whether scikit-learn's constraints take True as the number 1, and no constraint takes
    bools as such (``"boolean"``, ``"verbose"``)."""
    from sklearn.utils._param_validation import make_constraint

    takes_bools = ("boolean", "verbose", bool, object)
    return (constraints != "no_validation"
            and not any(c in takes_bools for c in constraints)
            and any(make_constraint(c).is_satisfied_by(True) for c in constraints))


def _bool_cases_of_estimators():
    return [
        pytest.param(est, name, id=f"{type(est).__name__}-{name}")
        for est in ESTIMATORS[:3] + [PCARankReducer(), BackgroundNoise()]
        for name, constraints in type(est)._parameter_constraints.items()
        if _numbers_only(constraints)
    ]


@pytest.mark.parametrize("estimator, name", _bool_cases_of_estimators())
def test_a_bool_is_not_a_number_for_an_estimator(estimator, name):
    # scikit-learn (1.9) checks Interval(Integral, ...), Interval(Real, ...) and
    # "random_state" with isinstance, for which True is the int 1: max_epochs=True trained one
    # epoch, lr=True with a step of 1.0, random_state=True the seed 1 (n_filters=True and
    # others failed later, with the module's messages)
    from sklearn.utils._param_validation import InvalidParameterError

    from sklrank.datasets import make_low_rank_patches

    X, y = make_low_rank_patches(n_samples=20, random_state=0)
    if isinstance(estimator, RankCNNClassifier):
        estimator = clone(estimator).set_params(input_shape=(1, 4, 64), kernel_size=(1, 64))
    for value in (True, False):
        est = clone(estimator).set_params(**{name: value})
        with pytest.raises(InvalidParameterError,
                           match=rf"'{name}' parameter of {type(est).__name__} must be .* Got "
                                 rf"{value} instead \(a bool is not taken for a number\)"
                           ) as error:
            est.fit(X, y)
        assert "(-inf, inf)" not in str(error.value)  # (see the test below)


def _validated_public_functions():
    import importlib

    import sklrank

    functions = {}
    for module in ("sklrank.datasets", "sklrank.experiments", "sklrank.gradients"):
        module = importlib.import_module(module)
        for name in module.__all__:
            func = getattr(module, name)
            if callable(func) and hasattr(func, "_skl_parameter_constraints"):
                functions[name] = func
    assert sklrank  # (imported for the subpackages)
    return [
        pytest.param(func, name, id=f"{func.__name__}-{name}")
        for func in functions.values()
        for name, constraints in func._skl_parameter_constraints.items()
        if _numbers_only(constraints)
    ]


@pytest.mark.parametrize("func, name", _validated_public_functions())
def test_a_bool_is_not_a_number_for_a_function(func, name):
    # refused before any work (data sets, studies and sweeps; the sweeps refused them already)
    import inspect

    required = {
        p.name: (20 if p.name == "n_samples" else 5)
        for p in inspect.signature(func).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
    }
    with pytest.raises(ValueError, match=rf"{name}.* (must be .*)?[Gg]ot True") as error:
        func(**{**required, name: True})
    # an interval without bounds is said as its type: noise_sweep(n_samples=True) "must be an
    # int in the range (-inf, inf) or None" read as if a range were meant
    assert "(-inf, inf)" not in str(error.value)

_ARRAY_API_SCRIPT = """
import numpy as np, sklearn, torch
from sklrank import (BackgroundNoise, PCARankReducer, RankCNNClassifier,
                     TwoLayerNetClassifier, TwoLayerNetRegressor)
from sklrank.metrics import data_stable_rank_scorer
X = torch.from_numpy(np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32))
y = torch.arange(20) % 2
with sklearn.config_context(array_api_dispatch=True):
    for est in (RankCNNClassifier(input_shape=(1, 1, 8), kernel_size=(1, 8), max_epochs=3,
                                  lr=10.0),
                TwoLayerNetClassifier(n_hidden=4, max_epochs=3, lr=1.0),
                TwoLayerNetRegressor(n_hidden=4, max_epochs=3, lr=0.1)):
        target = y.float() if isinstance(est, TwoLayerNetRegressor) else y
        assert est.fit(X, target).predict(X).shape == (20,)
        assert est.predict(X.numpy()).shape == (20,)
    for tr in (PCARankReducer(2), BackgroundNoise(mode="additive")):
        assert isinstance(tr.fit_transform(X), np.ndarray)
        assert isinstance(tr.transform(X), np.ndarray)
    cnn = RankCNNClassifier(input_shape=(1, 1, 8), kernel_size=(1, 8), max_epochs=3, lr=10.0)
    assert data_stable_rank_scorer(cnn.fit(X, y), X, y) > 1.0
print("ok")
"""


def test_array_api_dispatch_is_ignored():
    # The estimators do not support scikit-learn's array API dispatch (array_api_support is
    # False) but take torch tensors: with dispatch on, scikit-learn's validation kept a
    # tensor a tensor and failed to cast it ("asarray(): argument 'dtype' must be
    # torch.dtype"). It needs SCIPY_ARRAY_API=1 before scipy is imported: a new process.
    if parse_version(scipy.__version__) < parse_version("1.14"):
        pytest.skip("scikit-learn's array API dispatch needs scipy >= 1.14")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _ARRAY_API_SCRIPT], capture_output=True,
                            text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")



@pytest.mark.parametrize("value", [True, 2.5, "200"])
def test_an_unbounded_int_is_said_as_an_int(value):
    from sklearn.utils._param_validation import InvalidParameterError

    from sklrank.experiments import noise_sweep

    with pytest.raises(InvalidParameterError,
                       match=r"The 'n_samples' parameter of noise_sweep must be an int or "
                             rf"None\. Got {value!r} instead"):
        noise_sweep(n_samples=value)
