"""TwoLayerNet and the skorch estimators TwoLayerNetRegressor / TwoLayerNetClassifier."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklrank import TwoLayerNetClassifier, TwoLayerNetRegressor
from sklrank.datasets import make_spiked
from sklrank.nn import HuberizedReLU, TwoLayerNet


@pytest.fixture(scope="module")
def data():
    return make_spiked(120, 20, nu=0.3, random_state=0, return_spike=True)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "huberized"])
@pytest.mark.parametrize("scaling, gamma", [("ntk", 1 / 8.0), ("mean_field", 1 / 64.0)])
def test_module_forward_formula(activation, scaling, gamma):
    net = TwoLayerNet(5, 64, scaling=scaling, activation=activation, random_state=0)
    assert net.gamma == pytest.approx(gamma)
    x = torch.randn(7, 5)
    expected = gamma * net.activation(x @ net.weight.T) @ net.a
    torch.testing.assert_close(net(x), expected)
    assert set(net.a.tolist()) == {-1.0, 1.0} and net.a.sum() == 0
    assert [name for name, _ in net.named_parameters()] == ["weight"]  # a is not trained
    torch.testing.assert_close(net.weight.norm(dim=1), torch.ones(64))


def test_module_derivatives_match_autograd():
    z = torch.linspace(-3, 3, 101, dtype=torch.float64)
    for activation in ["tanh", "sigmoid", "huberized", torch.nn.GELU()]:
        net = TwoLayerNet(3, 4, activation=activation, random_state=0)
        d1, d2 = net.activation_derivatives(z, second=True)
        zz = z.clone().requires_grad_(True)
        (g1,) = torch.autograd.grad(net.activation(zz).sum(), zz, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), zz)
        torch.testing.assert_close(d1, g1.detach())
        torch.testing.assert_close(d2, g2)


@pytest.mark.parametrize("q", [1.5, 2.0, 2.5, 4.0])
def test_huberized_second_derivative_is_the_spec_formula(q):
    # sigma'' = (q - 1)/kappa (z/kappa)^(q - 2) on (0, kappa], 0 elsewhere; for q < 2 the
    # analytic branch used the exponent 0 (a constant (q - 1)/kappa) instead of q - 2
    kappa = 0.8
    net = TwoLayerNet(3, 4, activation="huberized", random_state=0)
    net.activation = HuberizedReLU(q=q, kappa=kappa)  # still the analytic "huberized" branch
    z = torch.tensor([-1.0, 0.0, 0.05, 0.4, kappa, 1.5], dtype=torch.float64)
    _, d2 = net.activation_derivatives(z, second=True)
    zn = z.numpy()
    inside = (zn > 0) & (zn <= kappa)
    expected = np.where(inside, (q - 1) / kappa * (np.where(inside, zn, 1.0) / kappa) ** (q - 2), 0)
    np.testing.assert_allclose(d2.numpy(), expected, rtol=1e-12)


def test_jacobian_penalty_with_an_all_zero_input_trains(data):
    # sigma'' of a Huberized ReLU with q < 2 was inf at exactly z = 0: an all-zero row of X
    # made the first step's gradient NaN, reported as a diverged fit ("lower lr")
    X, y, _ = data
    X = X.astype(np.float32)
    X[0] = 0.0
    reg = TwoLayerNetRegressor(n_hidden=16, activation=HuberizedReLU(q=1.5), lr=0.02,
                               jacobian_penalty=0.5, max_epochs=3, random_state=0)
    reg.fit(X, y.astype(np.float32))
    assert np.isfinite(reg.history[:, "train_loss"]).all()
    assert torch.isfinite(reg.module_.weight).all()


def test_spike_init_correlates_rows_with_q(data):
    X, _, spike = data
    sphere = TwoLayerNet(20, 200, random_state=0)
    spiked = TwoLayerNet(20, 200, init="spike", spike=spike.q, spike_weight=0.5, random_state=0)
    q = torch.tensor(spike.q, dtype=torch.float32)
    with torch.no_grad():
        assert (spiked.weight @ q).mean() > 0.3 > abs(float((sphere.weight @ q).mean()))
    torch.testing.assert_close(spiked.weight.norm(dim=1), torch.ones(200))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scaling": "xavier"}, "scaling"),
        ({"activation": "swish"}, "activation"),
        ({"init": "normal"}, "init"),
        ({"init": "spike"}, "spike"),
        ({"init": "spike", "spike": np.ones(3), "spike_weight": 0.1}, "shape"),
        ({"n_hidden": 0}, "n_hidden"),
        ({"random_state": True}, "random_state must be an int or None, got True"),
        ({"random_state": 1.5}, "random_state must be an int or None, got 1.5"),
    ],
)
def test_module_bad_parameters(kwargs, match):
    params = {"n_features": 5, "n_hidden": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        TwoLayerNet(**params)


def test_regressor_trains_and_is_reproducible(data):
    X, y, _ = data
    kw = dict(n_hidden=64, lr=0.02, max_epochs=30, random_state=0, input_noise=0.2)
    a = TwoLayerNetRegressor(**kw).fit(X, y)
    b = TwoLayerNetRegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    loss = a.history[:, "train_loss"]
    assert loss[-1] < 0.8 * loss[0]
    assert a.predict(X).shape == (120,) and a.n_features_in_ == 20
    c = clone(a).set_params(random_state=1).fit(X, y)
    assert not np.allclose(a.predict(X), c.predict(X))
    assert isinstance(a.module_, TwoLayerNet)


def test_only_w_is_trained_and_penalties_enter_loss(data):
    X, y, _ = data
    plain = TwoLayerNetRegressor(n_hidden=32, lr=0.01, max_epochs=1, random_state=0).fit(X, y)
    wd = TwoLayerNetRegressor(n_hidden=32, lr=0.01, max_epochs=1, random_state=0,
                              weight_decay=0.5).fit(X, y)
    jac = TwoLayerNetRegressor(n_hidden=32, lr=0.01, max_epochs=1, random_state=0,
                               jacobian_penalty=0.5).fit(X, y)
    # the first recorded loss is at the same initial weights: the penalties add to it
    W0 = TwoLayerNet(20, 32, random_state=plain._init_seed()).weight.detach()
    extra = wd.history[0, "train_loss"] - plain.history[0, "train_loss"]
    assert extra == pytest.approx(0.25 * float((W0**2).sum()), rel=1e-4)
    assert jac.history[0, "train_loss"] > plain.history[0, "train_loss"]
    torch.testing.assert_close(plain.module_.a, wd.module_.a)


def test_classifier_labels_and_logistic_loss(data):
    X, y, _ = data
    labels = np.where(y > np.median(y), "high", "low")
    clf = TwoLayerNetClassifier(n_hidden=64, lr=0.05, max_epochs=40, random_state=0)
    clf.fit(X, labels)
    assert clf.classes_.tolist() == ["high", "low"]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    f = clf.decision_function(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-f)), rtol=1e-5)
    assert set(clf.predict(X)) <= {"high", "low"}
    # the recorded loss is the logistic loss of f
    clf0 = TwoLayerNetClassifier(n_hidden=64, lr=0.05, max_epochs=0, random_state=0)
    clf0.fit(X, labels)
    f0 = clf0.decision_function(X)
    s = np.where(labels == "low", 1.0, -1.0)
    assert clf.history[0, "train_loss"] == pytest.approx(np.mean(np.log1p(np.exp(-s * f0))),
                                                         rel=1e-4)
    assert clf.score(X, labels) > 0.6



@pytest.mark.parametrize("w, expected", [(0.0, "neg"), (2e-20, "pos"), (-2e-20, "neg"),
                                         (2e-30, "pos"), (2e-3, "pos")])
def test_classifier_predict_is_the_sign_of_decision_function(data, w, expected):
    # f(x) = 1e-20 rounds predict_proba to [0.5, 0.5], whose argmax gave classes_[0]
    X, y, _ = data
    clf = TwoLayerNetClassifier(n_hidden=4, max_epochs=1, random_state=0)
    clf.fit(X, np.where(y > 0, "pos", "neg"))
    with torch.no_grad():  # f(x) = gamma * a_k * relu(w * x_0) with a_k = +1
        clf.module_.weight.zero_()
        clf.module_.weight[int(torch.argmax(clf.module_.a)), 0] = w
    X_one = np.zeros((3, X.shape[1]), dtype=np.float32)
    X_one[:, 0] = 1.0
    f = clf.decision_function(X_one)
    assert (f > 0).all() == (expected == "pos")
    assert clf.predict(X_one).tolist() == [expected] * 3
    assert clf.predict(X_one).tolist() == clf.classes_[(f > 0).astype(int)].tolist()


def test_spike_init_default_weight(data):
    X, y, spike = data
    reg = TwoLayerNetRegressor(n_hidden=16, init="spike", spike=spike.q, max_epochs=0,
                               random_state=0).fit(X, y)
    expected = TwoLayerNet(20, 16, init="spike", spike=spike.q, spike_weight=120**-0.25,
                           random_state=reg._init_seed())
    torch.testing.assert_close(reg.module_.weight, expected.weight)


def test_estimator_errors(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="scaling"):
        TwoLayerNetRegressor(scaling="bad").fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        TwoLayerNetRegressor(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="weight_decay"):
        TwoLayerNetRegressor(weight_decay=-1).fit(X, y)
    with pytest.raises(ValueError, match="spike"):
        TwoLayerNetRegressor(init="spike").fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        TwoLayerNetClassifier(max_epochs=1).fit(X, np.arange(len(X)) % 3)
    reg = TwoLayerNetRegressor(n_hidden=8, max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :5])
    with pytest.raises(FloatingPointError, match="lower lr"):
        TwoLayerNetRegressor(n_hidden=8, lr=1e4, max_epochs=50, random_state=0).fit(X, y)


def test_partial_fit_continues_training(data):
    X, y, _ = data
    reg = TwoLayerNetRegressor(n_hidden=16, lr=0.02, max_epochs=3, random_state=0)
    reg.partial_fit(X, y)
    W = reg.module_.weight.detach().clone()
    reg.partial_fit(X, y)
    assert len(reg.history) == 6
    assert not torch.equal(W, reg.module_.weight.detach())
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :3], y)


@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_verbose_progress_bar(Estimator, data, capsys):
    X, y, _ = data
    if Estimator is TwoLayerNetClassifier:
        y = np.where(y > np.median(y), 1, 0)
    est = Estimator(n_hidden=8, lr=0.01, max_epochs=3, random_state=0)
    assert dict(est.get_default_callbacks())["progress"] is not None
    est.fit(X, y)
    assert capsys.readouterr().err == ""
    est.set_params(progress_bar=True).fit(X, y)
    err = capsys.readouterr().err
    assert Estimator.__name__ in err and "epoch" in err
    assert dict(est.callbacks_)["progress"].bar_ is None  # closed at the end of the fit
    est.set_params(progress_bar=False, verbose=1).fit(X, y)  # skorch's per-epoch table
    out = capsys.readouterr()
    header = next(line for line in out.out.splitlines() if line.lstrip().startswith("epoch"))
    assert header.split()[:2] == ["epoch", "train_loss"] and out.err == ""


def test_compile_with_jacobian_penalty_is_refused_at_once(data):
    # torch.compile's autograd has no double backward: the first step raised a RuntimeError
    X, y, _ = data
    with pytest.raises(ValueError, match=r"compile=True cannot train with jacobian_penalty=0\.1"
                                         r".*set compile=False or jacobian_penalty=0"):
        TwoLayerNetRegressor(n_hidden=8, max_epochs=2, compile=True, jacobian_penalty=0.1,
                             random_state=0).fit(X, y)
