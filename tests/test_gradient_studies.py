"""The gradient paper's experiments (sklrank.gradients studies) and their plots, at tiny sizes.

Bad inputs and the answer each gets (each row is a test below):

=================================================  ==========================================
input                                              answer
=================================================  ==========================================
n_seeds=0, n_samples=1, max_epochs=0, lr=nan,      InvalidParameterError (a ValueError) naming
lr_fraction=2, scaling="linear"                    the parameter and its valid range
n_seeds above 100000                               the same (the command line's limit; 2**32
                                                   seeds filled the memory)
activations=["swish"] or []                        ValueError naming activations and the
                                                   choices
nus=[nan] / [-0.1] / []                            ValueError naming nus
a repeated value: nus=[0.1, 1/10], activations,    ValueError "holds 0.1 more than once"
datasets, settings, strengths                      (was dropped without a word)
settings=[(0, 1, 2)] / [(nan, 0.1)]                ValueError "(alpha, nu) pairs"
strengths={"dropout": [1]} / {"weight_decay":      ValueError naming strengths
[0]} / [inf]
record_epochs=[0] or beyond max_epochs             ValueError naming record_epochs
regulariser_study(max_epochs=5): its default       ValueError "(the default, which needs
record_epochs=(10,) beyond max_epochs              max_epochs=10 or more); pass record_epochs
                                                   ..." (today: named record_epochs only)
device="cuda" without a GPU                        ValueError "torch finds no CUDA device here"
sizes beyond this machine's memory (n_hidden=10**9,  ValueError "training_study needs about N
n_samples=10**6, n_jobs running several runs)      GiB of memory (...), more than the M GiB of
                                                   this machine; lower n_hidden, ..." before
                                                   any data are made (today: torch's "can't
                                                   allocate memory" after the data)
real_data_study(n_samples above the data)          the loader's ValueError
real_data_study(positive_classes={"mnist": [12]})  ValueError naming positive_classes
a run that diverges (lr=1e6)                       its rows kept with diverged=True, and a
                                                   RuntimeWarning
regulariser_effects without "none" rows            ValueError "no unregularised runs"
plot_*(not a DataFrame / missing columns / empty)  TypeError / ValueError naming the columns /
                                                   "empty"
plot_*(axes of the wrong count)                    ValueError "axes must hold N Axes"
=================================================  ==========================================
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from sklrank.datasets import make_spiked
from sklrank.gradients import (
    activation_study,
    gradient_decomposition,
    plot_activation_study,
    plot_real_data_study,
    plot_regulariser_study,
    plot_spike_strength_study,
    plot_training_study,
    real_data_study,
    regulariser_effects,
    regulariser_study,
    spike_strength_study,
    training_study,
)
from sklrank.gradients._studies import _stable_lr
from sklrank.nn import TwoLayerNet

TINY = {"n_samples": 40, "n_features": 30, "n_hidden": 36}


@pytest.fixture(scope="module")
def activations_df():
    return activation_study(**TINY, n_seeds=2, n_top=6)


@pytest.fixture(scope="module")
def regularisers_df():
    return regulariser_study(
        **TINY, settings=[(8 / 9, 1 / 8), (0.0, 0.35)],
        strengths={"weight_decay": [0.05, 5.0], "input_noise": [0.5],
                   "jacobian_penalty": [1.0]},
        scalings=["ntk", "mean_field"], activations=["relu"], n_seeds=1, max_epochs=6,
        record_epochs=[2],
    )


@pytest.fixture(scope="module")
def training_df():
    return training_study(**TINY, activations=["relu", "tanh"], n_seeds=2, max_epochs=8,
                          record_epochs=[1, 3])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------ learning rate


def _top_hessian_eigenvalue(net, X, y, weight_decay=0.0, jacobian_penalty=0.0, iters=200):
    """Power iteration with autograd Hessian-vector products (float64)."""
    from sklrank.gradients import penalty

    net = net.double()
    Xt = torch.tensor(X, requires_grad=jacobian_penalty > 0)
    yt = torch.tensor(y)
    W = net.weight

    def grad_of_loss():
        f = net(Xt)
        loss = ((f - yt) ** 2).mean() + penalty(net, Xt, f, weight_decay, jacobian_penalty)
        return torch.autograd.grad(loss, W, create_graph=True)[0]

    v = torch.randn(W.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    value = 0.0
    for _ in range(iters):
        v = v / v.norm()
        (hv,) = torch.autograd.grad(grad_of_loss(), W, grad_outputs=v)
        value = float((hv * v).sum())
        v = hv
    return value


def test_stable_lr_is_one_over_the_top_curvature_for_relu():
    X, y = make_spiked(50, 20, nu=0.3, random_state=0)
    for scaling in ("ntk", "mean_field"):
        net = TwoLayerNet(20, 30, scaling=scaling, random_state=0)
        # relu is piecewise linear in W: the Hessian of the MSE is exactly Gauss-Newton
        top = _top_hessian_eigenvalue(net, X, y)
        assert _stable_lr(net, X) == pytest.approx(1 / top, rel=1e-6)
        assert _stable_lr(net, X, weight_decay=0.7) == pytest.approx(1 / (top + 0.7), rel=1e-6)
        assert _stable_lr(net, X, fraction=0.5) == pytest.approx(0.5 / top, rel=1e-6)
        # the Jacobian penalty's curvature is bounded, not estimated low
        with_penalty = _top_hessian_eigenvalue(net, X, y, jacobian_penalty=2.0)
        assert 1 / _stable_lr(net, X, jacobian_penalty=2.0) >= with_penalty * (1 - 1e-6)


def test_stable_lr_of_a_saturated_network_is_an_error():
    # every tanh unit saturated by the input noise: the curvature is 0, and fraction / 0 was a
    # ZeroDivisionError (regulariser_study with input noise 1e30)
    X, _ = make_spiked(50, 20, nu=0.3, random_state=0)
    net = TwoLayerNet(20, 30, activation="tanh", random_state=0)
    with pytest.raises(ValueError, match=r"curvature of the loss at the initial weights with "
                       r"input_noise=1e\+30 is 0: .*lower input_noise, or pass lr"):
        _stable_lr(net, X, input_noise=1e30)
    # noise that overflows the Gram matrix: torch's eigh "failed to converge ...
    # ill-conditioned" named no parameter
    with pytest.raises(ValueError, match=r"with input_noise=1e\+308 is (inf|nan): .*lower "
                       r"input_noise, or pass lr"):
        _stable_lr(net, X, input_noise=1e308)


# ------------------------------------------------------------------------- the studies


def test_activation_study_rows_are_the_decomposition(activations_df):
    df = activations_df
    assert list(dict.fromkeys(df.activation)) == sorted(["relu", "tanh", "sigmoid",
                                                          "huberized"])
    assert df.groupby(["activation", "seed"]).size().eq(6).all()
    runs = df[df.sv_index == 1]
    assert len(runs) == 8 and (runs.nu == 1 / 8).all() and np.allclose(runs.alpha, 5 / 9)
    # one row recomputed by hand
    X, y, spike = make_spiked(40, 30, alpha=5 / 9, nu=1 / 8, random_state=1, return_spike=True)
    result = gradient_decomposition(TwoLayerNet(30, 36, activation="tanh", random_state=1), X,
                                    y, spike=spike)
    rows = df[(df.activation == "tanh") & (df.seed == 1)]
    np.testing.assert_allclose(rows.singular_value, result.singular_values[:6], rtol=1e-12)
    np.testing.assert_allclose(rows.s1_norm, result.s1_norm, rtol=1e-12)
    np.testing.assert_allclose(rows.s1_over_s2, result.s1_norm / result.s2_norm, rtol=1e-12)
    assert df.attrs["config"]["n_seeds"] == 2


def test_spike_strength_study_shows_the_two_regimes():
    df = spike_strength_study(n_samples=200, n_features=150, n_hidden=200, nus=[0.05, 0.45],
                              activations=["relu"], n_seeds=2, n_top=3)
    runs = df[df.sv_index == 1].set_index(["nu", "seed"])
    for seed in (0, 1):
        weak, strong = runs.loc[(0.05, seed)], runs.loc[(0.45, seed)]
        assert weak.cos_residue_1 > 0.9 and weak.spike_in_top2 < 0.5
        assert strong.spike_in_top2 > 0.9 and strong.s1_over_s2 < weak.s1_over_s2


def test_regulariser_study_structure(regularisers_df):
    df = regularisers_df
    assert set(df.regulariser) == {"none", "weight_decay", "input_noise", "jacobian_penalty"}
    assert set(df.epoch) == {0, 2, 6} and not df.diverged.any()
    keys = ["alpha", "nu", "scaling", "activation", "seed"]
    data0 = df[(df.gradient == "data") & (df.epoch == 0)]
    # every run of a setting and seed starts from the same weights on the same data
    assert (data0.groupby(keys).s1_norm.nunique() == 1).all()
    # "none": the regularised gradient at init is the data gradient
    none = df[df.regulariser == "none"]
    a = none[(none.gradient == "regularised")].set_index(keys).s1_norm
    b = none[(none.gradient == "data") & (none.epoch == 0)].set_index(keys).s1_norm
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())
    # weight decay changes the regularised gradient at init (its own term), not S1
    wd = df[(df.regulariser == "weight_decay") & (df.gradient == "regularised")]
    assert (wd.reg_norm > 0).all()
    merged = wd.merge(none[none.gradient == "regularised"], on=keys, suffixes=("", "_none"))
    np.testing.assert_allclose(merged.s1_norm, merged.s1_norm_none, rtol=1e-12)
    assert not np.allclose(merged.residue_component, merged.residue_component_none)
    # the learning rate is the unregularised one unless the regulariser needs a smaller one
    lr = df.groupby(["alpha", "scaling", "regulariser", "strength"]).lr.max()
    base = df.groupby(["alpha", "scaling", "regulariser", "strength"]).lr_unregularised.max()
    assert (lr <= base * (1 + 1e-12)).all()
    strong = df[(df.regulariser == "weight_decay") & (df.strength == 5.0)]
    assert (strong.lr < strong.lr_unregularised).all()


def test_regulariser_effects_are_ratios_to_the_unregularised_run(regularisers_df):
    df = regularisers_df
    effects = regulariser_effects(df)
    assert set(effects.when) == {"init", "trained"} and set(effects.epoch) == {0, 6}
    row = effects[(effects.regulariser == "weight_decay") & (effects.strength == 0.05)
                  & (effects.when == "trained") & (effects.term == "S1")
                  & (effects.scaling == "ntk") & (effects.seed == 0) & (effects.nu == 0.35)]
    assert len(row) == 1
    runs = df[(df.gradient == "data") & (df.epoch == 6) & (df.scaling == "ntk")
              & (df.seed == 0) & (df.nu == 0.35)]
    value = runs[(runs.regulariser == "weight_decay") & (runs.strength == 0.05)].s1_norm.item()
    reference = runs[runs.regulariser == "none"].s1_norm.item()
    assert row.ratio.item() == pytest.approx(value / reference)
    assert row.claimed.item() == "lower" and row.holds.item() == (value < reference)
    assert set(effects[effects.regulariser == "jacobian_penalty"].query("term == 'S2'")
               .claimed) == {"higher"}
    assert effects[effects.claimed == ""].holds.isna().all()
    earlier = regulariser_effects(df, epoch=2)
    assert set(earlier.epoch) == {0, 2}


def test_training_study_records_along_training(training_df):
    df = training_df
    assert df.groupby(["nu", "activation", "seed"]).epoch.apply(list).map(
        lambda e: e == [0, 1, 3, 8]).all()
    assert set(df.regime) == {"nu < 1/4", "1/4 <= nu < 1/2"}
    first = df[df.epoch == 0].set_index(["nu", "activation", "seed"]).loss
    last = df[df.epoch == 8].set_index(["nu", "activation", "seed"]).loss
    assert (last < first).all()  # it trains
    assert df.lr.gt(0).all() and not df.diverged.any()


def test_diverging_runs_are_kept_and_flagged():
    with pytest.warns(RuntimeWarning, match="diverged"):
        df = training_study(**TINY, nus=[0.3], activations=["relu"], n_seeds=1, max_epochs=5,
                            record_epochs=[1], lr=1e6)
    assert df.diverged.all()
    assert 0 in set(df.epoch)


def test_runs_that_did_not_train_are_in_their_rows_and_counted_in_one_warning():
    # the ConvergenceWarning of each fit was issued as it came (one per run, with a source
    # line) and the frame did not say which runs had not trained
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = training_study(**TINY, nus=[0.3], activations=["relu", "tanh"], n_seeds=1,
                            max_epochs=3, record_epochs=[1], lr=1e-9)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1
    assert "2 of the 2 training runs did not train" in str(convergence[0].message)
    assert df.training_warning.str.contains("learned nothing").all()


def test_runs_that_trained_have_an_empty_training_warning(training_df, regularisers_df):
    assert (training_df.training_warning == "").all()
    assert (regularisers_df.training_warning == "").all()


def test_real_data_study(shared_data_dir):
    df = real_data_study(n_samples=60, n_hidden=30, n_seeds=1, activations=["relu"],
                         max_epochs=3, n_top=4, features="pca", n_components=15,
                         data_home=shared_data_dir)
    assert set(df.dataset) == {"mnist", "cifar10"} and set(df.epoch) == {0, 3}
    runs = df[df.sv_index == 1]
    assert runs.spike_estimated.all() and (runs.n_features == 15).all()
    assert runs.spike_variance_share.between(0, 1).all()
    assert runs.target_mean.between(-1, 1).all()
    pixels = real_data_study(datasets=["mnist"], n_samples=60, n_hidden=30, n_seeds=1,
                             activations=["tanh"], max_epochs=2, n_top=4,
                             data_home=shared_data_dir)
    assert (pixels.n_features == 784).all()
    with pytest.raises(ValueError, match="positive_classes"):
        real_data_study(datasets=["mnist"], positive_classes={"mnist": [12]},
                        data_home=shared_data_dir)
    with pytest.raises(ValueError):
        real_data_study(datasets=["cifar10"], n_samples=5000, data_home=shared_data_dir)


# ------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("function", "kwargs", "match"),
    [
        (activation_study, {"n_seeds": 0}, "n_seeds"),
        (activation_study, {"n_samples": 1}, "n_samples"),
        (activation_study, {"scaling": "linear"}, "scaling"),
        (activation_study, {"activations": ["swish"]}, "activations"),
        (activation_study, {"activations": []}, "activations"),
        (spike_strength_study, {"nus": [np.nan]}, "nus"),
        (spike_strength_study, {"nus": [-0.1]}, "nus"),
        (spike_strength_study, {"nus": []}, "nus"),
        (training_study, {"max_epochs": 0}, "max_epochs"),
        (training_study, {"lr": np.nan}, "lr"),
        (training_study, {"lr_fraction": 2.0}, "lr_fraction"),
        (training_study, {"record_epochs": [0]}, "record_epochs"),
        (training_study, {"record_epochs": [500]}, "record_epochs"),
        # the default (10,) with fewer epochs: the message named record_epochs, which the
        # caller had not set, and no fix
        (regulariser_study, {"max_epochs": 5}, r"got \(10,\) \(the default, which needs "
         r"max_epochs=10 or more\); pass record_epochs of epochs between 1 and max_epochs=5"),
        # (the command line's limit: 2000000000 seeds filled the memory with the runs' list)
        (activation_study, {"n_seeds": 100_001}, r"'n_seeds' .* range \[1, 100000\]"),
        (training_study, {"n_seeds": 2_000_000_000}, r"'n_seeds' .* range \[1, 100000\]"),
        (real_data_study, {"n_seeds": 100_001, "download_if_missing": False},
         r"'n_seeds' .* range \[1, 100000\]"),
        # (the command line's limit: 10**9 epochs ran for years at the paper's sizes)
        (training_study, {"max_epochs": 10**9}, r"'max_epochs' .* range \[1, 1000000\]"),
        (regulariser_study, {"max_epochs": 1_000_001}, r"'max_epochs' .* range \[1, 1000000\]"),
        (real_data_study, {"max_epochs": 10**9, "download_if_missing": False},
         r"'max_epochs' .* range \[1, 1000000\]"),
        (regulariser_study, {"settings": [(0, 1, 2)]}, "alpha, nu"),
        (regulariser_study, {"settings": [(np.nan, 0.1)]}, "alpha, nu"),
        (regulariser_study, {"strengths": {"dropout": [1.0]}}, "strengths"),
        (regulariser_study, {"strengths": {"weight_decay": [0.0]}}, "strengths"),
        (regulariser_study, {"strengths": {"weight_decay": [np.inf]}}, "strengths"),
        (regulariser_study, {"scalings": ["linear"]}, "scalings"),
        # a repeated value was dropped without a word (the sweeps and sklrank gradients
        # refuse it)
        # (at tiny sizes: before, these ran)
        (spike_strength_study, {**TINY, "nus": [0.1, 1 / 10], "n_seeds": 1},
         "nus holds 0.1 more than once"),
        (training_study, {**TINY, "activations": ["relu", "tanh", "relu"], "max_epochs": 2,
                          "n_seeds": 1}, "activations holds 'relu' more than once"),
        (real_data_study, {"datasets": ["mnist", "mnist"], "n_samples": 20, "n_hidden": 4,
                           "max_epochs": 1, "n_seeds": 1, "download_if_missing": False},
         "datasets holds 'mnist' more"),
        (regulariser_study, {**TINY, "settings": [(0, 0.1), (0.0, 0.1)], "max_epochs": 2,
                             "record_epochs": [1], "n_seeds": 1},
         r"settings holds \(0.0, 0.1\) more than once"),
        (regulariser_study, {**TINY, "strengths": {"weight_decay": [0.1, 0.1]},
                             "max_epochs": 2, "record_epochs": [1], "n_seeds": 1},
         r"strengths\['weight_decay'\] holds 0.1 more than once"),
    ],
)
def test_bad_parameters(function, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu():
    with pytest.raises(ValueError, match="torch finds no CUDA device here.*device=.cpu."):
        activation_study(**TINY, device="cuda")


def test_regulariser_effects_needs_a_reference(regularisers_df):
    with pytest.raises(ValueError, match="no unregularised runs"):
        regulariser_effects(regularisers_df[regularisers_df.regulariser != "none"])
    with pytest.raises(TypeError, match="DataFrame"):
        regulariser_effects(regularisers_df.to_numpy())
    with pytest.raises(ValueError, match="lacks the columns"):
        regulariser_effects(regularisers_df.drop(columns="s1_norm"))


# ------------------------------------------------------------------------------- plots


def test_plots_return_the_axes_they_drew_on(activations_df, regularisers_df, training_df,
                                           tmp_path):
    cases = [
        (plot_activation_study, activations_df, (1, 5)),
        (plot_regulariser_study, regularisers_df, (3, 4)),
        (plot_training_study, training_df, (2, 4)),
    ]
    for plot, df, shape in cases:
        axes = plot(df)
        assert axes.shape == shape
        # into the user's own figure
        fig, own = plt.subplots(*shape)
        returned = plot(df, axes=own)
        assert returned.ravel().tolist() == np.asarray(own).ravel().tolist()
        assert any(ax.has_data() for ax in np.asarray(own).ravel())
        # the CSV read back plots the same
        path = tmp_path / "frame.csv"
        df.to_csv(path, index=False)
        assert plot(pd.read_csv(path)).shape == shape
        with pytest.raises(ValueError, match="axes must hold"):
            plot(df, axes=own.ravel()[:-1])


def test_spike_strength_and_real_data_plots(shared_data_dir):
    df = spike_strength_study(**TINY, nus=[0.1, 0.3], activations=["relu", "tanh"],
                              n_seeds=1, n_top=4)
    assert plot_spike_strength_study(df).shape == (2, 4)
    assert plot_spike_strength_study(df, spectrum_nus=[0.3]).shape == (2, 4)
    with pytest.raises(ValueError, match="spectrum_nus"):
        plot_spike_strength_study(df, spectrum_nus=[0.2])
    real = real_data_study(datasets=["mnist"], n_samples=50, n_hidden=20, n_seeds=1,
                           activations=["relu", "tanh"], max_epochs=2, n_top=4,
                           features="pca", n_components=10, data_home=shared_data_dir)
    fig, axes = plt.subplots(1, 3)
    assert plot_real_data_study(real, axes=axes).shape == (1, 3)


def test_real_data_plot_of_runs_that_diverged(shared_data_dir):
    # every run diverged (its rows: epoch 0 only): the "trained" panel drew the initial
    # spectra titled "after 0 epochs"; with another data set that trained, it was blank
    # (with an empty legend box and matplotlib's "No artists with labels" warning)
    with pytest.warns(RuntimeWarning, match="diverged"):
        real = real_data_study(datasets=["mnist"], n_samples=50, n_hidden=20, n_seeds=1,
                               activations=["relu"], max_epochs=3, n_top=4, features="pca",
                               n_components=10, data_home=shared_data_dir, lr=1e6)
    assert real.diverged.all() and set(real.epoch) == {0}
    trained = plot_real_data_study(real)[0][1]
    assert trained.get_title().endswith("G after training") and not trained.get_lines()
    assert "every run diverged" in " ".join(t.get_text() for t in trained.texts)
    plt.close(trained.figure)
    ok = real_data_study(datasets=["mnist"], n_samples=50, n_hidden=20, n_seeds=1,
                         activations=["relu"], max_epochs=3, n_top=4, features="pca",
                         n_components=10, data_home=shared_data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        axes = plot_real_data_study(pd.concat([ok, real.assign(dataset="cifar10")]))
    assert axes[0][1].get_title().endswith("after 3 epochs") and axes[0][1].get_lines()
    assert "every run diverged" in " ".join(t.get_text() for t in axes[1][1].texts)
    plt.close(axes[0][0].figure)


@pytest.mark.parametrize("plot", [plot_activation_study, plot_spike_strength_study,
                                  plot_training_study, plot_real_data_study])
def test_plots_refuse_bad_frames(plot, activations_df):
    with pytest.raises(TypeError, match="DataFrame"):
        plot(activations_df.to_dict())
    with pytest.raises(ValueError, match="lacks the columns"):
        plot(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="empty|lacks"):
        plot(activations_df.iloc[:0])


def test_estimator_trained_by_a_study_is_reproducible():
    # the same seed gives the same numbers (what the CSVs in docs/figures rely on)
    a = training_study(**TINY, nus=[0.3], activations=["tanh"], n_seeds=1, max_epochs=3)
    b = training_study(**TINY, nus=[0.3], activations=["tanh"], n_seeds=1, max_epochs=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_n_jobs_gives_the_same_numbers():
    # bitwise with one thread in this process, as the docstring says (the workers run one)
    from sklrank._threads import thread_limits

    kwargs = dict(**TINY, nus=[0.3], activations=["tanh"], n_seeds=2, max_epochs=2)
    with thread_limits(1):
        alone = training_study(**kwargs)
    pd.testing.assert_frame_equal(alone, training_study(**kwargs, n_jobs=2), check_exact=True)


def test_ctrl_c_during_a_studys_fit_ends_the_study(monkeypatch):
    # skorch catches the KeyboardInterrupt of a Ctrl-C and ends the fit early: the study went
    # on with the rows of a shorter training, as if it had finished
    import signal

    from sklrank._base import _BaseNet

    on_epoch_end = _BaseNet.on_epoch_end

    def ctrl_c_at_epoch_2(self, net, **kwargs):
        on_epoch_end(self, net, **kwargs)
        if len(self.history) == 2:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(_BaseNet, "on_epoch_end", ctrl_c_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        training_study(**TINY, nus=[0.3], activations=["tanh"], n_seeds=1, max_epochs=5,
                       record_epochs=[5])



@pytest.mark.parametrize("n_jobs", [None, 2])
def test_a_diverged_run_warns_in_the_caller_with_any_n_jobs(n_jobs):
    # with n_jobs=2 the joblib workers printed the warning on their stderr, past the
    # caller's warning filters (pytest.warns, or the command line's)
    kwargs = dict(n_samples=60, n_features=50, n_hidden=60, n_seeds=1, max_epochs=3,
                  activations=["relu"], nus=[0.375], lr=100, n_jobs=n_jobs)
    with pytest.warns(RuntimeWarning, match="training diverged"):
        df = training_study(**kwargs)
    assert df.diverged.all()


def _flag(df, mask, message="TwoLayerNetRegressor did not train: the training loss rose ..."):
    df = df.copy()
    df["training_warning"] = df["training_warning"].astype(object)
    df.loc[mask, "training_warning"] = message
    return df


def test_training_figure_shows_the_crosses_when_no_run_trained(training_df):
    # with every run flagged, the lines end at epoch 0 and set_xlim(left=0), called before
    # the crosses were drawn, had stopped the x autoscaling: every cross lay beyond the axis
    df = _flag(training_df, training_df.epoch >= 0)
    for ax in plot_training_study(df).ravel():
        crosses = [c for c in ax.collections if c.get_label().startswith("did not")][0]
        epochs = crosses.get_offsets()[:, 0]
        assert epochs.max() == df.epoch.max()
        low, high = ax.get_xlim()
        assert low == 0 and high >= epochs.max()


def test_regulariser_effects_mark_the_ratios_of_runs_that_did_not_train(regularisers_df,
                                                                        tmp_path):
    # the ratio after training of a run whose loss rose (or whose unregularised reference's
    # did) compares no trained weights; nothing said so, and the table's mean took it in
    run = (regularisers_df.regulariser == "input_noise") & (regularisers_df.alpha == 0)
    reference = (regularisers_df.regulariser == "none") & (regularisers_df.scaling == "ntk")
    for mask, expected in ((run, lambda e: (e.regulariser == "input_noise") & (e.alpha == 0)),
                           (reference, lambda e: e.scaling == "ntk")):
        df = _flag(regularisers_df, mask)
        path = tmp_path / "regularisers.csv"
        df.to_csv(path, index=False)
        for frame in (df, pd.read_csv(path)):  # (read back, the empty messages are NaN)
            effects = regulariser_effects(frame)
            # at initialisation nothing trained: no ratio is marked there
            want = expected(effects) & (effects.when == "trained")
            assert effects.untrained.tolist() == want.tolist()
            assert want.any()
    assert not regulariser_effects(regularisers_df).untrained.any()


def test_figures_cross_out_the_runs_that_did_not_train(regularisers_df, training_df):
    # the sweep figures crossed such fits out; the gradient studies' figures drew them as
    # trained runs, in the lines and bands
    df = _flag(regularisers_df, (regularisers_df.regulariser == "input_noise")
               & (regularisers_df.alpha == 0) & (regularisers_df.scaling == "ntk"))
    axes = plot_regulariser_study(df)
    labels = {(i, j): [t.get_text() for t in ax.get_legend().get_texts()]
              for (i, j), ax in np.ndenumerate(axes) if ax.get_legend() is not None}
    crossed = [key for key, texts in labels.items()
               if "did not train: 1 of 1 runs (training_warning; not in the lines)" in texts]
    assert len(crossed) == 1
    ax = axes[crossed[0]]
    assert "input_noise: alpha=0, nu=0.35, ntk" in ax.get_title()
    # the run's ratio after training is the cross, and no line point (it was the line's)
    effects = regulariser_effects(df)
    ratio = effects[effects.untrained & (effects.claimed != "")].ratio.iloc[0]
    crosses = [c for c in ax.collections if c.get_label().startswith("did not")][0]
    np.testing.assert_allclose(crosses.get_offsets(), [[0.5, ratio]])
    assert not any(np.isclose(y, ratio) for line in ax.get_lines() for y in line.get_ydata())
    plt.close("all")

    seed_1 = (training_df.seed == 1) & (training_df.activation == "relu")
    df = _flag(training_df, seed_1 & (training_df.nu == training_df.nu.min()))
    axes = plot_training_study(df)
    texts = [t.get_text() for t in axes[0][0].get_legend().get_texts()]
    n_runs = len(df.drop_duplicates(["nu", "activation", "seed"]))
    assert f"did not train: 1 of {n_runs} runs (training_warning; not in the lines)" in texts
    # the crosses: the run's rows after training (its epoch 0 is a result)
    crosses = [c for c in axes[0][0].collections if c.get_label().startswith("did not")][0]
    flagged = df[seed_1 & (df.nu == df.nu.min()) & (df.epoch > 0)]
    np.testing.assert_allclose(crosses.get_offsets(), flagged[["epoch", "loss"]].to_numpy())
    # the band of relu at that nu spans the other seed only after training: no band there
    plt.close("all")
    # every run trained: no such entry
    axes = plot_training_study(training_df)
    assert not any("did not train" in t.get_text()
                   for t in axes[0][0].get_legend().get_texts())


def test_real_data_figure_crosses_out_the_runs_that_did_not_train():
    from conftest import REPO_ROOT

    df = pd.read_csv(REPO_ROOT / "docs" / "figures" / "gradients_real_data.csv")
    df["training_warning"] = ""
    one = (df.dataset == "mnist") & (df.activation == "relu") & (df.seed == 0)
    axes = plot_real_data_study(_flag(df, one))
    n_runs = len(df[df.dataset == "mnist"].drop_duplicates(["activation", "seed"]))
    texts = [t.get_text() for t in axes[0][1].get_legend().get_texts()]
    assert f"did not train: 1 of {n_runs} runs (training_warning; not in the lines)" in texts
    assert not any("did not train" in t.get_text()  # at initialisation it is a result
                   for t in axes[0][0].get_legend().get_texts())
    plt.close("all")
    axes = plot_real_data_study(_flag(df, df.dataset == "mnist"))
    assert "no run trained (training_warning)" in axes[0][1].texts[0].get_text()


# ----------------------------------------------------------------------------- memory


def _no_data(*args, **kwargs):
    raise AssertionError("the study made its data before refusing the sizes")


@pytest.mark.parametrize(
    ("function", "kwargs", "match"),
    [
        # (torch's "DefaultCPUAllocator: can't allocate memory: you tried to allocate
        # 120000000000 bytes", after the data were made: it named no parameter)
        (activation_study, {**TINY, "n_hidden": 10**9},
         r"^activation_study needs about .* GiB of memory \(n_samples=40, n_features=30 and "
         r"n_hidden=1000000000, mostly the n_samples x n_hidden and n_features x n_hidden .*"
         r"lower n_hidden, n_samples or n_features\.$"),
        (spike_strength_study, {**TINY, "n_hidden": 10**9}, "^spike_strength_study needs"),
        (regulariser_study, {**TINY, "n_hidden": 10**9}, "^regulariser_study needs"),
        (training_study, {**TINY, "n_hidden": 10**9}, "^training_study needs"),
        # the n x n curvature at the initial weights (which sets lr=None's step)
        (training_study, {**TINY, "n_samples": 10**6},
         r"n_samples x n_samples .* lower n_samples, n_hidden or n_features, or pass lr"),
    ],
)
def test_studies_refuse_sizes_beyond_the_memory_before_making_data(monkeypatch, function,
                                                                   kwargs, match):
    import sklrank.datasets

    monkeypatch.setattr(sklrank.datasets, "make_spiked", _no_data)
    with pytest.raises(ValueError, match=match):
        function(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"^real_data_study needs .*the 3072 pixels of cifar10 .*lower n_hidden or "
         r"n_samples\.$"),
        ({"features": "pca", "n_components": 50},
         r"n_components=50 features .*lower n_hidden, n_samples or n_components\.$"),
    ],
)
def test_real_data_study_refuses_sizes_beyond_the_memory_before_training(
        monkeypatch, shared_data_dir, kwargs, match):
    # (after reading the images: an n_samples above them is said as such)
    import sklrank

    monkeypatch.setattr(sklrank, "TwoLayerNetRegressor", _no_data)
    with pytest.raises(ValueError, match=match):
        real_data_study(n_hidden=10**9, data_home=shared_data_dir, **kwargs)


def test_memory_check_counts_the_runs_at_once_and_the_curvature(monkeypatch):
    import sklrank._memory
    import sklrank.datasets
    from sklrank.gradients._studies import _run_bytes

    monkeypatch.setattr(sklrank._memory, "machine_memory_bytes", lambda: 2**30)
    monkeypatch.setattr(sklrank.datasets, "make_spiked", _no_data)
    one = {**TINY, "n_hidden": 200_000, "nus": [0.1], "activations": ["relu", "tanh"],
           "n_seeds": 1, "max_epochs": 1}
    assert 0.5 * 2**30 < _run_bytes(40, 30, 200_000, trains=True, curvature=True)[0] < 2**30
    # one run at a time fits (the data are made: the sentinel)
    with pytest.raises(AssertionError, match="made its data"):
        training_study(**one)
    # two at once do not
    with pytest.raises(ValueError, match=r"n_jobs=2 runs 2 at once, each with n_samples=40.*"
                       r"lower n_jobs, n_hidden, n_samples or n_features\.$"):
        training_study(**one, n_jobs=2)
    # the curvature of lr=None is n x n; a given lr computes none
    many = {**TINY, "n_samples": 9000, "nus": [0.1], "activations": ["relu"], "n_seeds": 1,
            "max_epochs": 1}
    with pytest.raises(ValueError, match="curvature .* or pass lr"):
        training_study(**many)
    with pytest.raises(AssertionError, match="made its data"):
        training_study(**many, lr=0.01)


def test_training_plot_names_the_regime_of_every_nu(training_df):
    # only nu < 1/4 was named: "nu=0.125 (< 1/4)" beside "nu=0.375" and "nu=0.6", which
    # read alike though the paper's regimes are nu < 1/4, 1/4 <= nu < 1/2 (and beyond)
    frame = pd.concat([training_df.assign(nu=nu) for nu in (0.125, 0.375, 0.6)])
    axes = plot_training_study(frame)
    labels = [text.get_text() for text in axes[0][0].get_legend().get_texts()]
    assert {"nu=0.125 (nu < 1/4)", "nu=0.375 (1/4 <= nu < 1/2)", "nu=0.6 (nu >= 1/2)"} <= set(
        labels), labels


def test_regulariser_figure_warns_of_ratios_its_log_axes_cannot_show(regularisers_df,
                                                                     monkeypatch):
    # a ratio of 0 (a term that vanished) or inf was filtered out of the figure silently
    import sklrank.gradients._plots as plots

    effects = regulariser_effects(regularisers_df)
    target = (effects.claimed != "") & (effects.when == "trained")
    effects.loc[effects[target].index[:2], "ratio"] = [0.0, np.inf]
    monkeypatch.setattr(plots, "regulariser_effects", lambda df, epoch=None: effects)
    with pytest.warns(RuntimeWarning, match=r"2 ratio\(s\) of 0, below 0, infinite or NaN"):
        plot_regulariser_study(regularisers_df)
    plt.close("all")
    monkeypatch.setattr(plots, "regulariser_effects", lambda df, epoch=None:
                        regulariser_effects(df))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plot_regulariser_study(regularisers_df)
    plt.close("all")
