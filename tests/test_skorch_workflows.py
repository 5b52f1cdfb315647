"""The skorch workflows, written as a skorch user writes them, on every sklrank estimator.

Persistence (``initialize`` + ``load_params``, ``save_params`` with ``f_history``, pickle,
joblib), skorch's callbacks (``EpochScoring`` on train and validation data, ``Checkpoint``,
``EarlyStopping``, ``LRScheduler``), ``train_split=ValidSplit(...)`` with skorch's history
columns, the per-epoch table of ``verbose=1``, ``predict`` against ``predict_proba``, sample
weights (directly and routed through a Pipeline and a search), pandas output, and the repr.

skorch's input forms and settings, and the answer each gets (the rows on rank_every, classes
and compile=True are tested in test_classifier.py and test_two_layer.py):

===============================================  ============================================
input                                            answer
===============================================  ============================================
fit(skorch Dataset) / fit(Dataset, y)            trains on the Dataset's arrays, as skorch
                                                 (was "requires y" / "inhomogeneous shape")
fit of a TensorDataset or another torch data     ValueError naming the fix: fit(X, y) or
set                                              skorch.dataset.Dataset(X, y)
fit({"X": X}, y) / predict({"X": X})             the array X (fit raised float() of a dict)
fit of tensors that require grad                 trained on as data, as predict takes them
                                                 (numpy refused them)
a dict X with other keys                         ValueError: the network takes one input
predict / score / a search on a SliceDataset     works (was "X does not contain any
                                                 features")
predict / score of a skorch Dataset of float64,  its X checked and converted as an array
NaN or the wrong feature count                   (float64 failed inside torch, NaN was
                                                 predicted as a label)
sample_weight with criterion__reduction="sum"    the weighted sum (was the weighted mean)
sample_weight with a criterion without           ValueError naming criterion__reduction (was
``reduction``, or reduction="none"               an AttributeError, or a weighted mean)
EarlyStopping / ReduceLROnPlateau monitoring     ValueError naming rank_every=1 (was skorch's
filter_stable_rank with rank_every=2 or None     "Key ... was not found in history")
clone of a fitted net with sklrank's callbacks   works (was a TypeError: their private state
                                                 was passed to __init__)
big-endian labels (np.fromfile(f, ">i4"))        trained on as the native ones (torch refused
                                                 them)
partial_fit(X, y, classes=labels) of a           classes_ are those labels, as scikit-learn's
classifier                                       partial_fit (a first batch of one class was
                                                 refused, later labels too); other labels
                                                 at a later call: ValueError (was ignored)
callbacks__filter_rank__every != rank_every      ValueError naming rank_every (was ignored)
classes changed, then warm_start / partial_fit   ValueError naming warm_start=False (was
                                                 ignored)
compile=True with jacobian_penalty > 0           ValueError at once (torch.compile has no
                                                 double backward)
sample_weight all zero on the validation (or     ValueError naming sample_weight and
training) part of a train_split                  train_split (valid_loss was 0.0 at every
                                                 epoch: the best for EarlyStopping)
valid_acc with sample_weight and a train_split    the weighted accuracy, as score(X, y,
                                                 sample_weight) (was unweighted)
fit with max_epochs=0                            ConvergenceWarning: the initial network,
                                                 naming initialize() (was silent, as skorch)
fit / partial_fit(X, y, epochs=0)                the same warning, naming epochs=0 (named
                                                 max_epochs, set to 100)
module=<a module instance> (e.g. a fitted        ValueError naming the class and
net's module_)                                   load_params (was rebuilt from the
                                                 estimator's parameters, its sizes and
                                                 weights dropped without a word)
a two-layer classifier with criterion__weight,   trains (was RuntimeError "expected scalar
max_epochs=1                                     type Double" measuring its final loss)
sample_weight summing beyond float32's range     ValueError naming sample_weight and scaling
(all 1e38, or all 1e-45)                         them to mean 1 (was a NaN loss blamed on
                                                 the activation, or on lr)
Freezer("weight") (every parameter frozen)       ValueError naming the Freezer (was torch's
                                                 "element 0 of tensors does not require
                                                 grad"; nothing with jacobian_penalty)
a history loaded from JSON (f_history,           filter_bank_stable_ranks keyed by the labels
LoadInitState resuming a Checkpoint)             (were strings, "-1", beside a resumed fit's
                                                 -1)
a history from JSON set by hand (net.history =  the same, once training goes on
History.from_file(...), net.history_ = ...)      (warm_start, partial_fit; was {"-1": ...}
                                                 beside {-1: ...}: a KeyError reading them)
===============================================  ============================================
"""

import json
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Checkpoint, EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import ValidSplit

from sklrank import RankCNNClassifier, TwoLayerNetClassifier, TwoLayerNetRegressor
from sklrank.callbacks import GradientSpectrum, RankHistory
from sklrank.datasets import make_low_rank_patches, make_spiked
from sklrank.nn import HuberizedReLU


def cnn(**kwargs):
    params = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, max_epochs=40,
                  random_state=0)
    return RankCNNClassifier(**{**params, **kwargs})


def cnn_data(n=200):
    return make_low_rank_patches(n_samples=n, noise_std=0.5, random_state=0)


def spiked_data(n=200, classify=False):
    X, y = make_spiked(n, 20, nu=0.3, target="spike" if classify else "triple_index",
                       random_state=0)
    return X, (np.where(y > 0, "pos", "neg") if classify else y)


def two_layer(Estimator, **kwargs):
    params = dict(n_hidden=32, lr=0.05, max_epochs=40, random_state=0)
    return Estimator(**{**params, **kwargs})


# (estimator factory, data factory, whether it is a classifier)
CASES = {
    "cnn": (cnn, cnn_data, True),
    "regressor": (lambda **kw: two_layer(TwoLayerNetRegressor, **kw), spiked_data, False),
    "classifier": (
        lambda **kw: two_layer(TwoLayerNetClassifier, **kw),
        lambda: spiked_data(classify=True),
        True,
    ),
}


def _predictions(est, X, classifier):
    return est.predict_proba(X) if classifier else est.predict(X)


# ---------------------------------------------------------------- module-valued settings

# a module instance, and the named activation it equals
ACTIVATION_MODULES = {
    "cnn": (lambda: HuberizedReLU(q=3.0, kappa=0.5),
            {"activation": "huberized", "q": 3.0, "kappa": 0.5}),
    "regressor": (torch.nn.ReLU, {"activation": "relu"}),
    "classifier": (torch.nn.ReLU, {"activation": "relu"}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_module_instance_as_the_activation(case):
    # skorch refuses torch modules set outside initialize: activation=torch.nn.Tanh() failed
    # in the constructor and in set_params, although documented
    make, data, classifier = CASES[case]
    X, y = data()
    module, named = ACTIVATION_MODULES[case]
    est = make(max_epochs=5, activation=module())
    assert isinstance(est.get_params()["activation"], torch.nn.Module)
    expected = _predictions(make(max_epochs=5, **named).fit(X, y), X, classifier)
    np.testing.assert_allclose(_predictions(est.fit(X, y), X, classifier), expected,
                               rtol=1e-6, atol=1e-7)
    copy = sklearn.clone(est)
    assert copy.activation is not est.activation and "activation" not in copy.prefixes_
    copy = make(max_epochs=5).set_params(activation=module()).fit(X, y)
    np.testing.assert_allclose(_predictions(copy, X, classifier), expected, rtol=1e-6,
                               atol=1e-7)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(_predictions(restored, X, classifier),
                                  _predictions(est, X, classifier))
    search = GridSearchCV(make(max_epochs=5), {"activation": [module(), torch.nn.Tanh()]},
                          cv=2, error_score="raise").fit(X, y)
    assert isinstance(search.best_params_["activation"], torch.nn.Module)


def test_a_module_activation_with_parameters_is_copied_into_the_network():
    # the setting itself was the network's submodule: a PReLU's slope was trained in place,
    # so the setting changed and a second fit with the same random_state differed
    X, y = spiked_data()
    prelu = torch.nn.PReLU()
    est = two_layer(TwoLayerNetRegressor, max_epochs=20, activation=prelu)
    first = est.fit(X, y).predict(X)
    assert est.get_params()["activation"] is prelu and float(prelu.weight) == 0.25
    assert float(est.module_.activation.weight) != 0.25  # the network's own copy trained
    np.testing.assert_array_equal(est.fit(X, y).predict(X), first)


# ---------------------------------------------------------------- persistence
@pytest.mark.parametrize("case", CASES)
def test_initialize_load_params_predicts_as_saved(case, tmp_path):
    make, data, classifier = CASES[case]
    X, y = data()
    est = make(train_split=ValidSplit(0.2)).fit(X, y)
    est.save_params(f_params=tmp_path / "params.pt", f_history=tmp_path / "history.json")

    extra = {"classes": list(np.unique(y))} if classifier else {}
    if case == "cnn":
        new = make(train_split=ValidSplit(0.2), **extra)  # geometry from input_shape
    else:
        new = make(train_split=ValidSplit(0.2), module__n_features=X.shape[1], **extra)
    new.initialize()
    new.load_params(f_params=tmp_path / "params.pt", f_history=tmp_path / "history.json")
    np.testing.assert_array_equal(new.predict(X), est.predict(X))
    np.testing.assert_array_equal(_predictions(new, X, classifier),
                                  _predictions(est, X, classifier))
    assert new.history[:, "valid_loss"] == est.history[:, "valid_loss"]
    if case == "cnn":
        np.testing.assert_array_equal(new.filters_, est.filters_)
        assert new.filter_stable_rank_ == est.filter_stable_rank_
        assert new.filter_bank_stable_ranks_ == est.filter_bank_stable_ranks_
        assert new.input_shape_ == est.input_shape_ and new.kernel_size_ == est.kernel_size_
    if classifier:
        np.testing.assert_array_equal(new.classes_, est.classes_)


@pytest.mark.parametrize("case", CASES)
def test_pickle_and_joblib_round_trips(case, tmp_path):
    make, data, classifier = CASES[case]
    X, y = data()
    est = make().fit(X, y)
    joblib.dump(est, tmp_path / "est.joblib")
    for copy in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "est.joblib")):
        np.testing.assert_array_equal(copy.predict(X), est.predict(X))
        if case == "cnn":
            np.testing.assert_array_equal(copy.filters_, est.filters_)


@pytest.mark.parametrize("case", CASES)
def test_a_pickle_made_during_training_leaves_the_fits_caches_out(case, tmp_path):
    # Checkpoint(f_pickle=...) pickles the net in the middle of its fit: the pickle held the
    # encoded training labels and the classes as tensors on the fit's device (a CUDA tensor
    # outside skorch's CUDA-aware state, which does not load on a machine without CUDA)
    make, data, classifier = CASES[case]
    X, y = data()
    checkpoint = Checkpoint(dirname=tmp_path, f_pickle="net.pkl", monitor=None,
                            f_params=None, f_optimizer=None, f_criterion=None, f_history=None)
    net = make(max_epochs=3, callbacks=[checkpoint]).fit(X, y)
    with open(tmp_path / "net.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert not {"_encoded_batches", "_classes_tensors", "_training_inputs_id"} & set(vars(loaded))
    np.testing.assert_array_equal(_predictions(loaded, X, classifier),
                                  _predictions(net, X, classifier))


def test_a_fitted_net_with_sklrank_callbacks_clones(tmp_path):
    # skorch lists every callback attribute not ending in "_" as a parameter, so the private
    # state a fit leaves on RankHistory (_rows, ...) or GradientSpectrum (_spike_fit, in a net
    # pickled during its fit by a Checkpoint) made clone (and cross_validate or a search of a
    # fitted net) pass it to __init__: a TypeError
    X, y = cnn_data(60)
    fitted = cnn(max_epochs=3, rank_every=None, callbacks=[RankHistory(every=2)]).fit(X, y)
    Xs, ys, spike = make_spiked(60, 20, nu=0.3, random_state=0, return_spike=True)
    two_layer(TwoLayerNetRegressor, max_epochs=2, train_split=ValidSplit(0.5),
              callbacks=[GradientSpectrum(spike=spike),
                         Checkpoint(dirname=tmp_path, f_pickle="net.pkl")]).fit(Xs, ys)
    with open(tmp_path / "net.pkl", "rb") as f:
        during_fit = pickle.load(f)
    for net, (X_, y_) in ((fitted, (X, y)), (during_fit, (Xs, ys))):
        callback = net.callbacks[0]
        assert not [k for k in callback.get_params() if k.startswith("_")]
        assert sklearn.clone(callback).get_params().keys() == callback.get_params().keys()
        assert len(sklearn.clone(net).fit(X_, y_).history) == net.max_epochs
    # nor are the default callbacks' private attributes the net's parameters
    assert not [k for k in fitted.get_params() if "___" in k]


def test_initialized_net_without_classes_predicts_indices():
    # as skorch: a net that was only initialised scores k outputs and predicts their indices
    X, y = cnn_data()
    net = cnn().initialize()
    assert net.classes_.tolist() == [0, 1]
    assert set(net.predict(X)) <= {0, 1} and net.filters_.shape == (16, 64)


# ---------------------------------------------------------------- callbacks and history
def test_valid_split_and_epoch_scoring_record_skorch_columns():
    X, y = cnn_data()
    clf = cnn(train_split=ValidSplit(0.2),
              callbacks=[EpochScoring("accuracy", lower_is_better=False)]).fit(X, y)
    for row in clf.history:
        for key in ("train_loss", "valid_loss", "valid_acc", "accuracy", "filter_stable_rank"):
            assert key in row, (key, row["epoch"])
    # the scores are the estimator's own: valid_acc is the accuracy on the held-out fifth
    assert 0.5 <= clf.history[-1, "valid_acc"] <= 1.0
    assert clf.history[-1, "accuracy"] == clf.history[-1, "valid_acc"]


@pytest.mark.parametrize("case", CASES)
def test_epoch_scoring_on_train_and_valid_data(case):
    make, data, classifier = CASES[case]
    X, y = data()
    metric = "accuracy" if classifier else "r2"
    est = make(train_split=ValidSplit(0.25, random_state=0), callbacks=[
        EpochScoring(metric, on_train=True, name="train_score", lower_is_better=False),
        EpochScoring(metric, name="valid_score", lower_is_better=False),
    ]).fit(X, y)
    assert len(est.history[:, "train_score"]) == len(est.history[:, "valid_score"]) == 40
    # the last epoch's training score is the score of the fitted model on the training part
    split = ValidSplit(0.25, random_state=0)
    train, _ = split(est.get_dataset(X, y), y)
    scorer = sklearn.metrics.get_scorer(metric)
    expected = scorer(est, X[train.indices], y[train.indices])
    # the cached predictions come from the last step's forward pass, before its update
    assert est.history[-1, "train_score"] == pytest.approx(expected, abs=0.1)


def test_string_labels_with_valid_split_and_scoring():
    X, y = cnn_data()
    labels = np.where(y > 0, "up", "down")
    clf = cnn(train_split=ValidSplit(0.2), callbacks=[
        EpochScoring("accuracy", on_train=True, name="train_acc", lower_is_better=False),
    ]).fit(X, labels)
    assert clf.history[-1, "train_acc"] > 0.9 and clf.history[-1, "valid_acc"] > 0.9
    assert set(clf.predict(X)) == {"up", "down"}


@pytest.mark.parametrize("case", CASES)
def test_fit_on_a_skorch_dataset(case):
    # skorch fits on a Dataset (fit(dataset) or fit(dataset, y)): sklrank raised "requires y
    # to be passed" or "inhomogeneous shape"
    from skorch.dataset import Dataset
    from torch.utils.data import TensorDataset

    make, data, classifier = CASES[case]
    X, y = data()
    X, y = X[:60].astype(np.float32), y[:60]
    expected = _predictions(make(max_epochs=3).fit(X, y), X, classifier)
    for fit in ("fit", "partial_fit"):
        for args in ((Dataset(X, y),), (Dataset(X, y), y)):
            est = getattr(make(max_epochs=3), fit)(*args)
            np.testing.assert_array_equal(_predictions(est, X, classifier), expected)
    # other torch data sets are not read sample by sample: the error names the fix
    tensors = TensorDataset(torch.from_numpy(X), torch.arange(len(X)))
    with pytest.raises(ValueError, match=r"TensorDataset.*skorch\.dataset\.Dataset"):
        make(max_epochs=3).fit(tensors, None)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES)
def test_predict_on_a_skorch_dataset_checks_its_inputs(case):
    # a Dataset went to the module unchecked: float64 or integer X failed inside torch (the
    # CNN: "expected m1 and m2 to have the same dtype"), a wrong feature count too, and NaN
    # was predicted as a label (or a NaN output) without a word
    from skorch.dataset import Dataset

    make, data, classifier = CASES[case]
    X, y = data()
    X, y = X[:60].astype(np.float32), y[:60]
    est = make(max_epochs=3).fit(X, y)
    expected = _predictions(est, X, classifier)
    for dataset in (Dataset(X.astype(np.float64), y), Dataset(X.astype(np.float64)),
                    Dataset(torch.from_numpy(X).double())):
        np.testing.assert_allclose(_predictions(est, dataset, classifier), expected,
                                   rtol=1e-6)
    assert est.score(Dataset(X.astype(np.float64), y), y) == est.score(X, y)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(Dataset(bad))
    with pytest.raises(ValueError, match="features"):
        est.predict(Dataset(X[:, :10]))


@pytest.mark.parametrize("case", CASES)
def test_dict_inputs_hold_the_one_input(case):
    # skorch's dict X ({"X": array}, the form its batches take); fit raised "float() argument
    # must be a string or a real number, not 'dict'", predict a KeyError for other keys
    make, data, classifier = CASES[case]
    X, y = data()
    X, y = X[:60].astype(np.float32), y[:60]
    est = make(max_epochs=3).fit({"X": X}, y)
    expected = _predictions(make(max_epochs=3).fit(X, y), X, classifier)
    np.testing.assert_array_equal(_predictions(est, X, classifier), expected)
    np.testing.assert_array_equal(est.predict({"X": X}), est.predict(X))
    for call in (lambda: make(max_epochs=3).fit({"x0": X, "x1": X}, y),
                 lambda: est.predict({"inputs": X})):
        with pytest.raises(ValueError, match=r"dict with the keys \['(inputs|x0)'.*one input; "
                                             r"pass the input array itself as X"):
            call()


@pytest.mark.parametrize("case", CASES)
def test_slice_dataset_in_a_search(case):
    # skorch's way to search over a Dataset: predict and score raised "X does not contain any
    # features" (scikit-learn checks the feature count on X as given, and a SliceDataset's
    # shape is (n_samples,))
    from skorch.dataset import Dataset
    from skorch.helper import SliceDataset

    make, data, classifier = CASES[case]
    X, y = data()
    X, y = X[:60].astype(np.float32), y[:60]
    dataset = Dataset(X, y)
    X_sl, y_sl = SliceDataset(dataset, idx=0), SliceDataset(dataset, idx=1)
    est = make(max_epochs=3).fit(X_sl, y_sl)
    np.testing.assert_array_equal(est.predict(X_sl), est.predict(X))
    assert est.score(X_sl, y_sl) == est.score(X, y)
    search = GridSearchCV(make(max_epochs=3), {"lr": [est.lr]}, cv=2, error_score="raise")
    assert np.isfinite(search.fit(X_sl, y_sl).best_score_)


def test_checkpoint_early_stopping_and_lr_scheduler(tmp_path):
    X, y = cnn_data()
    clf = cnn(max_epochs=200, train_split=ValidSplit(0.2), callbacks=[
        Checkpoint(dirname=str(tmp_path)),
        EarlyStopping(patience=5),
        LRScheduler(policy="StepLR", step_size=10, gamma=0.5),
    ]).fit(X, y)
    assert len(clf.history) < 200  # stopped early on the validation loss
    assert (tmp_path / "params.pt").is_file()
    assert clf.optimizer_.param_groups[0]["lr"] < clf.lr  # the scheduler lowered it
    restored = cnn(train_split=ValidSplit(0.2)).initialize()
    restored.load_params(checkpoint=Checkpoint(dirname=str(tmp_path)))
    best = int(np.flatnonzero(clf.history[:, "valid_loss_best"])[-1])
    assert restored.history[-1, "epoch"] == clf.history[best, "epoch"]


def test_verbose_prints_skorch_table_with_valid_columns(capsys):
    X, y = cnn_data()
    cnn(verbose=1, max_epochs=3, train_split=ValidSplit(0.2)).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[0] == "epoch" and header[-1] == "dur"
    for column in ("train_loss", "valid_loss", "valid_acc", "filter_stable_rank"):
        assert column in header
    assert len(lines) == 2 + 3  # header, rule, one row an epoch


def _columns_of_table(out):
    """{column: [cell, ...]} of skorch's printed table, cut at the header's column ends (the
    cells are right-aligned), colours removed."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.splitlines()]
    header, rule, rows = lines[0], lines[1], lines[2:]
    spans, start = [], 0
    for dashes in re.finditer(r"-+", rule):
        spans.append((start, dashes.end()))
        start = dashes.end()
    names = [header[a:b].strip() for a, b in spans]
    return {name: [row[a:b].strip() for row in rows] for name, (a, b) in zip(names, spans)}


def test_verbose_table_keeps_its_columns_when_ranks_are_recorded_every_other_epoch(capsys):
    # the rank shifted train_loss and dur under the wrong headers on the epochs it was
    # recorded, and had no header of its own (skorch takes each line's keys from its epoch)
    X, y = cnn_data()
    clf = cnn(verbose=1, max_epochs=4, rank_every=2).fit(X, y)
    table = _columns_of_table(capsys.readouterr().out)
    assert list(table) == ["epoch", "filter_stable_rank", "train_loss", "dur"]
    assert table["epoch"] == ["1", "2", "3", "4"]
    ranks = clf.history[:, "filter_stable_rank"]
    assert table["filter_stable_rank"] == ["", f"{ranks[0]:.4f}", "", f"{ranks[1]:.4f}"]
    assert table["train_loss"] == [f"{v:.4f}" for v in clf.history[:, "train_loss"]]


def test_the_last_epochs_rank_is_there_for_callbacks_at_that_epoch():
    # rank_every=2 with 3 epochs: epoch 3's rank was written at the end of training, after
    # Checkpoint, EarlyStopping and the printed table had read that row
    from skorch.callbacks import Callback

    class Seen(Callback):
        def initialize(self):
            self.ranks = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.ranks.append(net.history[-1].get("filter_stable_rank"))

    seen = Seen()
    X, y = cnn_data()
    clf = cnn(max_epochs=3, rank_every=2, callbacks=[seen]).fit(X, y)
    assert seen.ranks == [None, *clf.history[:, "filter_stable_rank"]]


def test_verbose_table_shows_a_key_that_appears_later_with_a_new_header(capsys):
    # a user's callback that records from epoch 2 on: its column was never shown
    from skorch.callbacks import Callback

    class Late(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) >= 2:
                net.history.record("late_metric", 0.5)

    X, y = cnn_data()
    cnn(verbose=1, max_epochs=3, callbacks=[Late()]).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    second_header = [i for i, line in enumerate(lines) if "late_metric" in line]
    assert len(second_header) == 1 and second_header[0] == 3  # header, rule, epoch 1
    table = _columns_of_table("\n".join(lines[3:]))
    assert table["epoch"] == ["2", "3"] and table["late_metric"] == ["0.5000", "0.5000"]


def test_verbose_table_of_a_gradient_spectrum_every_other_epoch(capsys):
    from sklrank.callbacks import GradientSpectrum

    X, y = spiked_data()
    est = two_layer(TwoLayerNetRegressor, verbose=1, max_epochs=4,
                    callbacks=[GradientSpectrum(every=2)]).fit(X, y)
    table = _columns_of_table(capsys.readouterr().out)
    assert table["train_loss"] == [f"{v:.4f}" for v in est.history[:, "train_loss"]]
    assert table["grad_stable_rank"][0] == "" and table["grad_stable_rank"][2] == ""
    assert table["grad_stable_rank"][1] == f"{est.history[1, 'grad_stable_rank']:.4f}"


@pytest.mark.parametrize("case", CASES)
def test_freezing_every_parameter_is_refused_naming_the_freezer(case):
    # every sklrank network trains one parameter, weight: skorch's Freezer("weight") ended in
    # torch's "element 0 of tensors does not require grad" from inside the step
    from skorch.callbacks import Freezer

    make, data, _ = CASES[case]
    X, y = (v[:60] for v in data())
    for freezer, epoch in ((Freezer("weight"), 1), (Freezer("*", at=3), 3)):
        with pytest.raises(ValueError, match=(
                rf"nothing to train at epoch {epoch}: no parameter of its module requires "
                r"grad: the callback 'Freezer' froze them \(weight: .*drop the callback")):
            make(max_epochs=4, callbacks=[freezer]).fit(X, y)


def test_a_frozen_two_layer_net_with_an_input_penalty_is_refused():
    # with jacobian_penalty the loss requires grad through the inputs: torch raised nothing
    # and the frozen network went on as if it trained
    from skorch.callbacks import Freezer

    X, y = spiked_data(60)
    with pytest.raises(ValueError, match="nothing to train at epoch 1"):
        two_layer(TwoLayerNetRegressor, max_epochs=3, jacobian_penalty=0.1,
                  callbacks=[Freezer("weight")]).fit(X, y)
    net = two_layer(TwoLayerNetRegressor, max_epochs=1).fit(X, y)
    net.module_.weight.requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad is False .*set requires_grad=True"):
        net.partial_fit(X, y)


@pytest.mark.parametrize("case", ["cnn", "classifier"])
def test_get_loss_sees_the_labels_and_the_criterion_their_indices(case):
    # the documented contract (skorch.rst, "A loss of your own"): a get_loss override gets
    # the labels as fit was given them, as skorch passes y; the criterion their indices
    make, data, _ = CASES[case]
    X, y = (v[:60] for v in data())
    seen = {}

    class Recording(torch.nn.CrossEntropyLoss):
        def forward(self, logits, target):
            seen["criterion"] = target.detach().cpu().numpy().copy()
            return super().forward(logits, target)

    class Penalised(type(make())):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            seen["get_loss"] = y_true
            return super().get_loss(y_pred, y_true, X=X, training=training) + 0.0

    net = Penalised(**make(max_epochs=2, criterion=Recording).get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        net.fit(X, y)
    labels = seen["get_loss"]
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_array_equal(seen["criterion"], np.searchsorted(net.classes_, y))


def test_callbacks_monitoring_a_rank_need_it_every_epoch():
    # EarlyStopping / ReduceLROnPlateau monitoring the rank with rank_every=2 (or None)
    # failed in the first epoch with skorch's "Key 'filter_stable_rank' was not found in
    # history", which does not say that rank_every leaves those epochs out
    X, y = cnn_data()
    monitors = [EarlyStopping(monitor="filter_stable_rank", patience=2),
                LRScheduler("ReduceLROnPlateau", monitor="filter_stable_rank")]
    for callback in monitors:
        for rank_every in (2, None):
            with pytest.raises(ValueError, match=rf"{type(callback).__name__} monitors "
                               rf"'filter_stable_rank' .*rank_every={rank_every}.*"
                               "set rank_every=1"):
                cnn(max_epochs=4, rank_every=rank_every, callbacks=[callback]).fit(X, y)
        cnn(max_epochs=4, callbacks=[callback]).fit(X, y)
        # a recorder of the user's that writes the rank every epoch is enough
        cnn(max_epochs=4, rank_every=None, callbacks=[RankHistory(), callback]).fit(X, y)


def test_skorch_callbacks_read_the_ranks_of_each_epoch():
    # without verbose the default ranks were written at the end of training:
    # EarlyStopping(monitor="filter_stable_rank") raised KeyError and a Checkpoint saved a
    # history without them
    X, y = cnn_data()
    clf = cnn(max_epochs=40, callbacks=[
        EarlyStopping(monitor="filter_stable_rank", patience=3, threshold=1e9)])
    clf.fit(X, y)
    assert len(clf.history) == 4  # the first rank, then 3 epochs without a large drop
    assert all("filter_stable_rank" in row for row in clf.history)


# ---------------------------------------------------------------- predict and predict_proba
@pytest.mark.parametrize("case", ["cnn", "classifier"])
def test_predict_is_argmax_of_predict_proba(case):
    make, data, _ = CASES[case]
    X, y = data()
    est = make(max_epochs=30).fit(X, y)
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def test_ties_predict_the_first_class_as_predict_proba_does():
    X, y = cnn_data()
    clf = cnn(max_epochs=5).fit(X, y)
    with torch.no_grad():
        clf.module_.weight.zero_()  # every logit equal: an exact tie everywhere
        clf.module_.weight[0, 0, 0, 0] = 1e-30  # a difference float32 softmax cannot show
    proba = clf.predict_proba(X)
    assert np.all(proba == 0.5)
    np.testing.assert_array_equal(clf.predict(X), np.full(len(X), clf.classes_[0]))


@pytest.mark.parametrize("case", CASES)
def test_random_state_seeds_the_mini_batch_shuffling(case):
    # skorch's DataLoader shuffled with torch's global generator: the same random_state gave
    # another model at every fit
    make, data, classifier = CASES[case]
    X, y = data()
    params = dict(max_epochs=4, batch_size=32, iterator_train__shuffle=True)
    first = _predictions(make(**params).fit(X, y), X, classifier)
    torch.manual_seed(123)  # the global generator elsewhere: no effect
    np.testing.assert_array_equal(_predictions(make(**params).fit(X, y), X, classifier), first)
    other = _predictions(make(**params, random_state=5).fit(X, y), X, classifier)
    assert not np.array_equal(other, first)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loader", [
    dict(batch_size=32),  # mini-batches in order
    dict(train_split=ValidSplit(0.25, random_state=0), iterator_valid__batch_size=8),
    dict(batch_size=32, iterator_train__shuffle=True),
])
def test_mini_batches_leave_torch_global_generator_alone(case, loader):
    # each DataLoader iteration (an epoch's training or validation batches, a prediction in
    # batches) drew its workers' base seed from torch's global generator when the loader had
    # no generator of its own: a seeded fit moved the global state (the shuffled loader got
    # the fit's own generator already)
    make, data, classifier = CASES[case]
    X, y = data()
    est = make(max_epochs=2, **loader)
    state = torch.random.get_rng_state()
    est.fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    first = _predictions(est.set_params(batch_size=16), X, classifier)
    assert torch.equal(torch.random.get_rng_state(), state)
    # the numbers are those of a fit after other draws from the global generator
    torch.manual_seed(123)
    again = make(max_epochs=2, **loader).fit(X, y).set_params(batch_size=16)
    np.testing.assert_array_equal(_predictions(again, X, classifier), first)


@pytest.mark.parametrize("case", ["regressor", "classifier"])
def test_torch_manual_seed_repeats_an_unseeded_fit_with_input_noise(case):
    # with random_state=None the weights came from torch's global generator but the input
    # noise from a generator seeded by the operating system: torch.manual_seed repeated the
    # initial weights and not the fit
    make, data, classifier = CASES[case]
    X, y = data()
    fits = []
    for _ in range(2):
        torch.manual_seed(7)
        est = make(max_epochs=3, input_noise=0.5, random_state=None).fit(X, y)
        fits.append(_predictions(est, X, classifier))
    np.testing.assert_array_equal(fits[0], fits[1])
    torch.manual_seed(8)
    other = make(max_epochs=3, input_noise=0.5, random_state=None).fit(X, y)
    assert not np.array_equal(_predictions(other, X, classifier), fits[0])


@pytest.mark.parametrize("case", CASES)
def test_fit_on_tensors_that_require_grad(case):
    # fit raised numpy's "Can't call numpy() on Tensor that requires grad", where predict and
    # skorch take them
    make, data, classifier = CASES[case]
    X, y = data()
    expected = _predictions(make(max_epochs=3).fit(X, y), X, classifier)
    X_t = torch.from_numpy(X).requires_grad_(True)
    y_t = torch.from_numpy(y) if not classifier else y
    if not classifier:
        y_t = y_t.float().requires_grad_(True)
    weights = torch.ones(len(X), requires_grad=True)
    est = make(max_epochs=3).fit(X_t, y_t, sample_weight=weights)
    np.testing.assert_allclose(_predictions(est, X_t, classifier), expected, rtol=1e-6)


@pytest.mark.parametrize("case", ["cnn", "classifier"])
@pytest.mark.parametrize("dtype", [">i8", ">f4"])
@pytest.mark.parametrize("batch_size", [-1, 64])
def test_big_endian_labels(case, dtype, batch_size):
    # torch refused the labels' tensor ("byte order different from the native byte order")
    make, data, _ = CASES[case]
    X, y = data()
    y = np.searchsorted(np.unique(y), y) * 3 - 1  # numbers: -1, 2 (, 5)
    params = dict(max_epochs=3, batch_size=batch_size)
    expected = make(**params).fit(X, y.astype(dtype[1:])).predict_proba(X)
    clf = make(**params).fit(X, y.astype(dtype))
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
    assert clf.classes_.dtype.isnative and clf.classes_.tolist() == np.unique(y).tolist()
    clf = make(**params, classes=np.unique(y).astype(dtype)).partial_fit(
        X, y.astype(dtype), classes=np.unique(y).astype(dtype))
    np.testing.assert_array_equal(clf.predict_proba(X), expected)


@pytest.mark.parametrize("case", ["cnn", "classifier"])
def test_partial_fit_takes_the_classes_of_the_stream(case):
    # partial_fit's classes was ignored: a first batch of one class was refused ("needs
    # samples of at least 2 classes"), one of some classes fixed classes_ to those and the
    # next batch was refused, and other classes at a later call went without a word
    make, data, _ = CASES[case]
    X, y = data()
    labels = np.unique(y)
    first = y == labels[0]
    clf = make(max_epochs=2).partial_fit(X[first], y[first], classes=labels[::-1])
    np.testing.assert_array_equal(clf.classes_, labels)
    clf.partial_fit(X, y, classes=labels).partial_fit(X, y)
    assert len(clf.history) == 6
    ref = make(max_epochs=2).partial_fit(X[first], y[first], classes=labels)
    np.testing.assert_array_equal(ref.partial_fit(X, y).partial_fit(X, y).predict_proba(X),
                                  clf.predict_proba(X))
    with pytest.raises(ValueError, match=r"partial_fit got classes=.*but the network was "
                                         r"fitted on the classes"):
        clf.partial_fit(X, y, classes=[*labels, "other"] if labels.dtype.kind == "U"
                        else [*labels, labels.max() + 1])
    assert len(clf.history) == 6
    with pytest.raises(ValueError, match=r"partial_fit got classes=.*but the classes "
                                         r"parameter is"):
        make(classes=list(labels)).partial_fit(X, y, classes=labels[:1])
    with pytest.raises(ValueError, match="partial_fit's classes holds one only"):
        make().partial_fit(X[first], y[first], classes=labels[:1])
    with pytest.raises(ValueError, match="not among the classes"):
        make().partial_fit(X, y, classes=[*labels[:1], "other"] if labels.dtype.kind == "U"
                           else [*labels[:1], labels.max() + 1])


# ---------------------------------------------------------------- sample weights
@pytest.mark.parametrize("case", CASES)
def test_weighted_losses_do_not_depend_on_the_batch_size(case):
    # the epoch's loss averaged its batches' weighted means by their row counts: valid_loss
    # (and train_loss) changed with iterator_valid__batch_size
    from skorch.dataset import ValidSplit

    make, data, _ = CASES[case]
    X, y = data()
    weights = np.where(np.arange(len(y)) % 3 == 0, 3.0, 1.0)
    weights[-20:] = 0.0  # whole zero-weight batches at the end
    params = dict(max_epochs=3, train_split=ValidSplit(5))
    whole = make(**params).fit(X, y, sample_weight=weights)
    small = make(**params, iterator_valid__batch_size=4).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(small.history[:, "valid_loss"], whole.history[:, "valid_loss"],
                               rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_a_mini_batch_of_zero_weights_adds_nothing(case):
    # its weighted mean was 0 / 0: a NaN loss, reported as a divergence at the initial weights
    make, data, classifier = CASES[case]
    X, y = data()
    weights = np.r_[np.zeros(40), np.ones(len(y) - 40)]  # the first two batches of 20
    est = make(max_epochs=5, batch_size=20).fit(X, y, sample_weight=weights)
    without = make(max_epochs=5, batch_size=20).fit(X[40:], y[40:])
    np.testing.assert_allclose(_predictions(est, X, classifier),
                               _predictions(without, X, classifier), rtol=1e-5, atol=1e-6)
    assert all(np.isfinite(est.history[:, "train_loss"]))



@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("batch_size", [-1, 8])
def test_a_split_part_of_zero_weights_is_refused(case, batch_size):
    # a validation part whose weights are all zero recorded valid_loss 0.0 (0 / 0 taken as
    # 0) at every epoch, which EarlyStopping and Checkpoint read as the best epoch; a
    # training part of zero weights trained nothing, with a training loss of 0.0
    from skorch.dataset import Dataset, ValidSplit
    from skorch.helper import predefined_split

    make, data, _ = CASES[case]
    X, y = data()
    split = ValidSplit(5)  # (not stratified: the first fifth of the rows)
    weights = np.ones(len(y))
    weights[: len(y) // 5] = 0.0
    params = dict(max_epochs=2, train_split=split, iterator_valid__batch_size=batch_size)
    with pytest.raises(ValueError, match=r"sample_weight is zero for every one of the 40 "
                                         r"samples of the validation part.*train_split"):
        make(**params).fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError, match=r"zero for every one of the 160 samples of the "
                                         r"training part.*nothing to train on"):
        make(**params).fit(X, y, sample_weight=1.0 - weights)
    valid = Dataset({"X": X[:20], "sample_weight": np.zeros(20, dtype=np.float32)}, y[:20])
    with pytest.raises(ValueError, match="of the validation part"):
        make(max_epochs=2, train_split=predefined_split(valid)).fit(
            X, y, sample_weight=np.ones(len(y)))
    weights[0] = 1.0  # one sample of weight: the validation loss is its loss
    est = make(**params).fit(X, y, sample_weight=weights)
    assert all(np.isfinite(est.history[:, "valid_loss"]))
    assert min(est.history[:, "valid_loss"]) > 0


def test_an_epoch_without_weight_records_no_best_score():
    # skorch's bookkeeping of a weighted loss over no weight: NaN, never the best score
    # (0.0 was, always)
    from types import SimpleNamespace

    from skorch.history import History

    from sklrank._base import _PassthroughScoring

    for n_batches in (1, 3):
        history = History()
        history.new_epoch()
        for _ in range(n_batches):
            history.new_batch()
            history.record_batch("valid_loss", 0.0)
            history.record_batch("valid_batch_weight", 0.0)
        scoring = _PassthroughScoring(name="valid_loss").initialize()
        scoring.on_epoch_end(SimpleNamespace(history=history))
        assert np.isnan(history[-1, "valid_loss"])
        assert history[-1, "valid_loss_best"] is False


@pytest.mark.parametrize("case", CASES)
def test_sample_weight_equals_repeated_samples(case):
    make, data, classifier = CASES[case]
    X, y = data(n=120) if case != "classifier" else data()
    X, y = X[:120], y[:120]
    weights = np.random.default_rng(0).integers(0, 3, len(y))
    weighted = make(max_epochs=20).fit(X, y, sample_weight=weights)
    repeated = make(max_epochs=20).fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    np.testing.assert_allclose(_predictions(weighted, X, classifier),
                               _predictions(repeated, X, classifier), rtol=1e-4, atol=1e-5)
    unweighted = make(max_epochs=20).fit(X, y)
    assert not np.allclose(_predictions(weighted, X, classifier),
                           _predictions(unweighted, X, classifier), atol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES)
def test_sample_weights_keep_the_criterions_reduction(case):
    # with sample_weight the criterion was always a weighted mean: criterion__reduction="sum"
    # trained on the mean (100 times smaller a step here), and weights of ones gave another
    # loss than no weights with a CrossEntropyLoss's class weights (normalised by the row
    # count, where torch divides by the targets' class weights)
    make, data, classifier = CASES[case]
    X, y = data()
    X, y = X[:100], y[:100]
    ones = np.ones(len(y))
    lr = make().lr / len(y)  # a summed loss's step, as the mean's
    settings = [dict(criterion__reduction="sum", lr=lr)]
    if classifier:
        settings.append(dict(criterion__weight=torch.tensor([1.0, 5.0])))
    for params in settings:
        plain = make(max_epochs=3, **params).fit(X, y)
        weighted = make(max_epochs=3, **params).fit(X, y, sample_weight=ones)
        np.testing.assert_allclose(weighted.history[:, "train_loss"],
                                   plain.history[:, "train_loss"], rtol=1e-5)
        np.testing.assert_allclose(_predictions(weighted, X, classifier),
                                   _predictions(plain, X, classifier), rtol=1e-4, atol=1e-6)
    # a weighted sum is a sum over repeated samples
    counts = np.random.default_rng(0).integers(0, 3, len(y))
    summed = make(max_epochs=3, criterion__reduction="sum", lr=lr)
    repeated = make(max_epochs=3, criterion__reduction="sum", lr=lr)
    summed.fit(X, y, sample_weight=counts)
    repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(summed.history[:, "train_loss"],
                               repeated.history[:, "train_loss"], rtol=1e-4)


@pytest.mark.parametrize("case", ["cnn", "classifier"])
@pytest.mark.parametrize("settings", [{}, {"batch_size": 16}, {"use_caching": False}],
                         ids=["full-batch", "mini-batches", "no-caching"])
def test_valid_acc_is_weighted_as_score_is(case, settings):
    # skorch's EpochScoring("accuracy") passes no sample weights: valid_acc was unweighted
    # beside a weighted valid_loss; scikit-learn's score(X, y, sample_weight) weights it
    from torch.utils.data import Subset

    make, data, _ = CASES[case]
    X, y = (v[:100] for v in data())
    weights = np.random.RandomState(0).uniform(0, 5, len(y)) ** 3
    valid = np.arange(len(y)) % 3 == 0

    def split(dataset, y=None, **fit_params):
        return (Subset(dataset, np.flatnonzero(~valid).tolist()),
                Subset(dataset, np.flatnonzero(valid).tolist()))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        net = make(max_epochs=2, lr=1e-4, train_split=split, **settings)
        net.fit(X, y, sample_weight=weights)
        weighted = net.score(X[valid], y[valid], sample_weight=weights[valid])
        assert weighted != net.score(X[valid], y[valid])  # the weights matter here
        # (the fit keeps the weights in float32)
        assert net.history[-1, "valid_acc"] == pytest.approx(weighted, rel=1e-6)
        net.fit(X, y)  # without weights: the plain accuracy, as before
        assert net.history[-1, "valid_acc"] == pytest.approx(net.score(X[valid], y[valid]),
                                                             abs=1e-12)


def test_sample_weight_needs_a_criterion_with_a_reduction():
    # a criterion without `reduction` raised an AttributeError from inside get_loss, and
    # reduction="none" trained on a weighted mean
    class SquaredError(torch.nn.Module):
        def forward(self, y_pred, y_true):
            return ((y_pred - y_true) ** 2).mean()

    X, y = spiked_data()
    for params in (dict(criterion=SquaredError), dict(criterion__reduction="none")):
        with pytest.raises(ValueError, match=r"sample_weight .*criterion__reduction='mean'"):
            two_layer(TwoLayerNetRegressor, **params).fit(X, y, sample_weight=np.ones(len(y)))
    # without weights the criterion is the user's, as in skorch
    two_layer(TwoLayerNetRegressor, criterion=SquaredError, max_epochs=2).fit(X, y)


def test_sample_weight_errors():
    X, y = cnn_data()
    with pytest.raises(ValueError, match="[Nn]egative"):
        cnn().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="non-zero"):
        cnn().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        cnn().fit(X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("case", CASES)
def test_max_epochs_zero_says_the_network_is_untrained(case):
    # skorch returns the initial network without a word (scikit-learn refuses max_iter=0):
    # its predictions and ranks were taken for a result
    make, data, _ = CASES[case]
    X, y = data()
    with pytest.warns(sklearn.exceptions.ConvergenceWarning,
                      match=r"trained no epoch \(max_epochs=0\).*initialize\(\)"):
        initial = make(max_epochs=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.ConvergenceWarning)
        trained = make(max_epochs=20).fit(X, y)
        # a call of no epoch that continues a trained network leaves a model: no warning
        trained.set_params(max_epochs=0).partial_fit(X, y)
        if case == "cnn":  # initialize() builds the same initial network, without a word
            again = make(max_epochs=0, classes=np.unique(y)).initialize()
            np.testing.assert_array_equal(again.filters_, initial.filters_)


def test_the_final_loss_of_a_two_layer_classifier_with_class_weights():
    # the loss at the final weights (one epoch; several since the last step is checked) was
    # measured by the float64 evaluation forward, which the float32 class weights refused:
    # RuntimeError "expected scalar type Double but found Float"
    make, data, _ = CASES["classifier"]
    X, y = data()
    for epochs in (1, 3):
        make(max_epochs=epochs, criterion__weight=torch.tensor([1.0, 5.0])).fit(X, y)


@pytest.mark.parametrize("weight", [1e38, 1e-45])
def test_sample_weights_beyond_float32_are_named(weight):
    # weights whose total overflows (1e38) or underflows (1e-45) float32: the weighted loss
    # is NaN, and the failed fit blamed the activation ("check activation, q and kappa") or
    # lr ("lr=50 is too large ... lower lr")
    X, y = cnn_data()
    Xs, ys = spiked_data()
    for est, data in ((cnn(), (X, y)), (two_layer(TwoLayerNetRegressor), (Xs, ys))):
        with pytest.raises(ValueError, match=r"sample_weight sums to .* outside float32's "
                                             r"normal range.*Scale the weights, e\.g\. to mean 1"):
            est.fit(*data, sample_weight=np.full(len(data[1]), weight))
        est.partial_fit(*data, sample_weight=np.full(len(data[1]), 1e-30))  # (in range)


def test_sample_weight_routed_through_pipeline_and_search():
    X, y = cnn_data()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    direct = cnn().fit(StandardScaler().fit_transform(X), y, sample_weight=weights)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            cnn().set_fit_request(sample_weight=True),
        ).fit(X, y, sample_weight=weights)
        np.testing.assert_array_equal(pipe[-1].filters_, direct.filters_)
        search = GridSearchCV(
            cnn().set_fit_request(sample_weight=True).set_score_request(sample_weight=True),
            {"lr": [5.0, 50.0]}, cv=2, error_score="raise",
        ).fit(X, y, sample_weight=weights)
        assert search.best_params_["lr"] in (5.0, 50.0)
    # without routing, a search passes fit parameters to the estimator directly
    search = GridSearchCV(cnn(), {"lr": [5.0, 50.0]}, cv=2, error_score="raise")
    search.fit(X, y, sample_weight=weights)
    scores = cross_validate(cnn(), X, y, cv=2, params={"sample_weight": weights},
                            error_score="raise")["test_score"]
    assert np.all(scores > 0.5)


# ---------------------------------------------------------------- pandas and repr
def test_pandas_output_fits_without_warnings():
    X, y = cnn_data()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), cnn()).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "NumPy array is not writable" among them
        pipe.fit(frame, y)
        pipe.predict(frame)


def test_str_shows_sklrank_parameters():
    # print(): skorch's form, with the module of a fitted net
    text = str(cnn(n_filters=3, q=2))
    assert text.startswith("RankCNNClassifier[uninitialized](")
    for part in ("n_filters=3", "q=2", "input_shape=(1, 4, 64)", "random_state=0"):
        assert part in text
    assert "kappa" not in text  # defaults are left out, as scikit-learn does
    X, y = cnn_data()
    fitted = str(cnn(max_epochs=2).fit(X, y))
    assert fitted.startswith("RankCNNClassifier[initialized](") and "module_=TwoLayerCNN" in fitted
    assert "n_hidden=32" in str(two_layer(TwoLayerNetRegressor))


def test_repr_is_scikit_learns_and_wraps_when_nested():
    # the repr was skorch's form, and scikit-learn's pretty printer wraps a nested estimator
    # only when its __repr__ is BaseEstimator's: in a Pipeline or a search the estimator came
    # out as one line of any length
    from sklrank import BackgroundNoise

    estimator = RankCNNClassifier(input_shape=(1, 8, 8), kernel_size=(4, 4), max_epochs=5,
                                  n_filters=3)
    assert repr(estimator) == ("RankCNNClassifier(input_shape=(1, 8, 8), kernel_size=(4, 4), "
                               "max_epochs=5,\n                  n_filters=3)")
    pipe = make_pipeline(BackgroundNoise(0.5, (1, 4, 4)), estimator)
    search = GridSearchCV(pipe, {"backgroundnoise__noise_std": [0, 1]})
    for text in (repr(pipe), repr(search)):
        # (scikit-learn's own lines reach 80, BackgroundNoise's here; the classifier's was 120)
        assert max(len(line) for line in text.splitlines()) <= 80, text
    assert repr(pipe).endswith(
        "RankCNNClassifier(input_shape=(1, 8, 8), kernel_size=(4, 4),\n"
        "                                   max_epochs=5, n_filters=3))])")
    # scikit-learn's print_changed_only=False lists every parameter, as for its own
    with sklearn.config_context(print_changed_only=False):
        assert "compile=False" in repr(estimator)
    # a long repr is shortened as scikit-learn's own (N_CHAR_MAX)
    long = RankCNNClassifier(classes=list(range(2000)))
    assert len(repr(long)) < 1000 and "..." in repr(long)


ESTIMATOR_CLASSES = [RankCNNClassifier, TwoLayerNetRegressor, TwoLayerNetClassifier]


def _user_set_html(estimator):
    """The parameters that scikit-learn's HTML repr marks as set by the user."""
    import re

    found = [
        re.findall(r'<tr class="user-set">.*?copyToClipboard\(\'([^\']+)\'', html, re.S)
        for html in (estimator._repr_html_(), estimator._repr_mimebundle_()["text/html"])
    ]
    assert found[0] == found[1]
    return found[0]


@pytest.mark.parametrize("Estimator", ESTIMATOR_CLASSES)
def test_nested_repr_shows_the_changed_parameters_only(Estimator):
    # scikit-learn's repr of a pipeline or a search (print_changed_only) listed every skorch
    # parameter (callbacks=None, compile=False, dataset=<class ...>, iterator_train=...) as
    # changed: they are not in the signature of __init__, only in its **kwargs
    name = Estimator.__name__
    assert repr(make_pipeline(Estimator())) == (
        f"Pipeline(steps=[('{name.lower()}', {name}())])"
    )
    text = repr(make_pipeline(StandardScaler(), Estimator(lr=0.1)))
    assert text.endswith(f" {name}(lr=0.1))])")
    # a skorch parameter that was changed is shown, and a prefixed one
    assert f"{name}(warm_start=True)" in repr(make_pipeline(Estimator(warm_start=True)))
    assert f"{name}(iterator_train__shuffle=True)" in repr(
        make_pipeline(Estimator(iterator_train__shuffle=True))
    )
    search = GridSearchCV(Estimator(lr=0.1), {"max_epochs": [1, 2]})
    assert " ".join(repr(search).split()) == (
        f"GridSearchCV(estimator={name}(lr=0.1), param_grid={{'max_epochs': [1, 2]}})"
    )
    # the estimator's own repr is scikit-learn's too; str (print) is skorch's form
    assert repr(Estimator(lr=0.1)) == f"{name}(lr=0.1)"
    assert str(Estimator(lr=0.1)) == f"{name}[uninitialized](\n  lr=0.1,\n)"


@pytest.mark.parametrize("Estimator", ESTIMATOR_CLASSES)
def test_html_repr_marks_the_changed_parameters_only(Estimator):
    # the table marked every skorch parameter, and every parameter of the default callbacks
    # (callbacks__print_log__floatfmt, ...), as set by the user
    assert _user_set_html(Estimator()) == []
    assert _user_set_html(Estimator(lr=0.1)) == ["lr"]
    assert _user_set_html(Estimator(lr=0.1, callbacks__print_log__floatfmt=".2f")) == [
        "lr", "callbacks__print_log__floatfmt",
    ]
    assert _user_set_html(make_pipeline(StandardScaler(), Estimator(warm_start=True))) == [
        "steps", "warm_start",
    ]


@pytest.mark.parametrize("Estimator", ESTIMATOR_CLASSES)
def test_signature_holds_the_defaults_of_a_default_constructed_estimator(Estimator):
    import inspect

    params = Estimator().get_params(deep=False)
    signature = inspect.signature(Estimator)
    assert list(signature.parameters)[0] == "module"
    assert list(signature.parameters.values())[-1].kind is inspect.Parameter.VAR_KEYWORD
    defaults = {name: param.default for name, param in signature.parameters.items()
                if param.default is not param.empty}
    assert set(defaults) == set(params)
    assert {name: repr(value) for name, value in defaults.items()} == {
        name: repr(value) for name, value in params.items()
    }
    # skorch's own parameters are keyword-only, as only **kwargs takes them
    assert signature.parameters["warm_start"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["iterator_train"].default is torch.utils.data.DataLoader


def test_repr_of_make_rank_pipeline_shows_the_changed_parameters_only():
    from sklrank import make_rank_pipeline

    text = repr(make_rank_pipeline((1, 8, 8), lr=0.5))
    # (wrapped, as scikit-learn wraps its own)
    assert "RankCNNClassifier(input_shape=(1, 16, 16), kernel_size=(8, 8), lr=0.5)" in (
        " ".join(text.split()))


def _index(history, index):
    try:
        return history[index]
    except (IndexError, KeyError) as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("case", CASES)
def test_history_indexes_as_skorchs(case):
    # sklrank's history reads history[i] without copying the list first; every index a skorch
    # user writes gives what skorch's own History gives, and the row is the same dict
    from skorch.history import History

    make, data, _ = CASES[case]
    net = make(max_epochs=5, train_split=ValidSplit(0.2)).fit(*data())
    history, reference = net.history, History(list(net.history))
    assert isinstance(history, History)
    for index in [-1, 0, 3, (-1, "train_loss"), (slice(None), "train_loss"),
                  (slice(1, 4), ["train_loss", "valid_loss"]), (-1, "batches"),
                  (-1, "batches", 0, "train_loss"), (slice(None), "batches", -1, "valid_loss"),
                  (-1, "batches", -1, "train_loss")]:
        assert _index(history, index) == _index(reference, index), index
    assert history[-1] is reference[-1]
    with pytest.raises(IndexError):
        history[5]
    with pytest.raises(KeyError):
        history[-1, "no such key"]
    history.record("note", 1.0)
    assert history[-1, "note"] == 1.0
    restored = pickle.loads(pickle.dumps(net))
    assert list(restored.history) == list(history)


def test_a_loaded_history_keeps_indexing_without_copies(tmp_path):
    # load_params(f_history=...) (and LoadInitState resuming a Checkpoint) replaced the
    # history by skorch's, which copies the whole list at every history[-1]: the resumed
    # fit's bookkeeping grew with the square of the epochs again
    from skorch.callbacks import LoadInitState

    from sklrank._base import _History

    X, y = cnn_data()
    net = cnn(max_epochs=3).fit(X, y)
    net.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    loaded = cnn(classes=[-1, 1]).initialize()
    loaded.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert type(loaded.history) is _History
    assert loaded.history[:, "train_loss"] == net.history[:, "train_loss"]
    checkpoint = Checkpoint(dirname=tmp_path / "cp", monitor=None)
    for _ in range(2):  # the second fit resumes from the checkpoint of the first
        resumed = cnn(max_epochs=3, callbacks=[checkpoint, LoadInitState(checkpoint)])
        resumed.fit(X, y)
    assert type(resumed.history) is _History
    assert resumed.history[:, "epoch"] == [1, 2, 3, 4, 5, 6]


def test_a_history_given_by_the_user_is_kept():
    from skorch.history import History

    class Mine(History):
        pass

    mine = Mine()
    net = cnn(max_epochs=20, history=mine).fit(*cnn_data())
    assert net.history is mine and len(mine) == 20


@pytest.mark.parametrize("labels", [
    lambda y: y,  # -1 / +1
    lambda y: y > 0,  # bools
    lambda y: np.where(y > 0, 3.0, 1.0).astype(np.float32),
    lambda y: np.where(y > 0, "pos", "neg"),
], ids=["ints", "bools", "floats", "strings"])
def test_a_loaded_history_keeps_the_class_labels_of_the_bank_ranks(labels, tmp_path):
    # JSON writes dict keys as strings: the per-class ranks of a history loaded by
    # load_params(f_history=...) or LoadInitState were keyed "-1" and "1", and a resumed fit
    # then mixed them with the int keys of its new epochs
    from skorch.callbacks import LoadInitState

    X, y = cnn_data(60)
    y = labels(y)
    checkpoint = Checkpoint(dirname=tmp_path / "cp", monitor=None)
    for _ in range(2):  # the second fit resumes from the checkpoint of the first
        resumed = cnn(max_epochs=2, callbacks=[checkpoint, LoadInitState(checkpoint)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            resumed.fit(X, y)
    expected = [c.item() for c in resumed.classes_]
    keys = [list(ranks) for ranks in resumed.history[:, "filter_bank_stable_ranks"]]
    assert len(keys) == 4
    for row in keys:
        assert row == expected and [type(k) for k in row] == [type(k) for k in expected]
    resumed.save_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    loaded = cnn(classes=np.unique(y)).initialize()
    loaded.load_params(f_params=tmp_path / "p.pt", f_history=tmp_path / "h.json")
    assert list(loaded.history) == list(resumed.history)
    # without its classes the net does not know the labels: keys that are not its indices
    # are left as JSON wrote them, not guessed
    unknown = cnn().initialize()
    unknown.load_params(f_history=tmp_path / "h.json")
    first = list(unknown.history[0, "filter_bank_stable_ranks"])
    assert first == [k if isinstance(k, str) else json.dumps(k) for k in expected]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("labels", [
    lambda y: y,  # -1 / +1
    lambda y: y > 0,  # bools
    lambda y: np.where(y > 0, "pos", "neg"),
], ids=["ints", "bools", "strings"])
@pytest.mark.parametrize("how", ["history", "history_", "partial_fit"])
def test_a_history_set_by_hand_gets_the_class_labels_back_when_training_goes_on(
        labels, how, tmp_path):
    # only load_params gave the labels back: a history set by hand from JSON kept "-1" and
    # "1", and the epochs trained after it were keyed -1 and 1 (a KeyError reading them)
    from skorch.history import History

    from sklrank.callbacks import RankHistory

    X, y = cnn_data(60)
    y = labels(y)
    cnn(max_epochs=2).fit(X, y).save_params(f_history=tmp_path / "h.json")
    net = cnn(max_epochs=2, warm_start=True).fit(X, y)
    setattr(net, "history_" if how == "history_" else "history",
            History.from_file(tmp_path / "h.json"))
    net.partial_fit(X, y) if how == "partial_fit" else net.fit(X, y)
    expected = [c.item() for c in net.classes_]
    keys = [list(ranks) for ranks in net.history[:, "filter_bank_stable_ranks"]]
    assert len(keys) == 4
    for row in keys:
        assert row == expected and [type(k) for k in row] == [type(k) for k in expected]
    # a recorder of the user's own does it too (a net without sklrank's, or a plain skorch net)
    net = cnn(max_epochs=2, warm_start=True, rank_every=None,
              callbacks=[RankHistory(every=1)]).fit(X, y)
    net.history = History.from_file(tmp_path / "h.json")
    net.fit(X, y)
    assert [list(r) for r in net.history[:, "filter_bank_stable_ranks"]] == [expected] * 4


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", CASES)
def test_random_state_seeds_an_unseeded_valid_split(case):
    # ValidSplit(0.2) without a random_state of its own drew its validation part from
    # numpy's global generator: the same random_state gave other weights at every fit
    make, data, classifier = CASES[case]
    X, y = data()

    def fitted(**params):
        est = make(max_epochs=3, **{"train_split": ValidSplit(0.2), **params}).fit(X, y)
        return [p.detach().clone() for p in est.module_.parameters()], est

    np.random.seed(0)  # noqa: NPY002
    first, est = fitted()
    np.random.seed(1)  # noqa: NPY002
    second, _ = fitted()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert len(est.history[-1, "batches"]) == 2  # a training and a validation batch
    # the user's generator is not drawn from
    np.random.seed(2)  # noqa: NPY002
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    fitted()
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    # a seed of the split's own is kept: it chooses the validation part
    seeded, _ = fitted(train_split=ValidSplit(0.2, random_state=7))
    other, _ = fitted(train_split=ValidSplit(0.2, random_state=8))
    assert not all(torch.equal(a, b) for a, b in zip(seeded, other))
    # random_state=None leaves the split random, as skorch's
    est = make(max_epochs=1, random_state=None, train_split=ValidSplit(0.2)).fit(X, y)
    assert est.__dict__.get("_split_seed") is None


def test_class_weighted_valid_loss_of_mini_batches_is_the_whole_parts():
    # with a CrossEntropyLoss's class weights each batch's loss is normalised by
    # sum w_i c_{y_i}, but the epoch averaged the batches by sum w_i: mini-batches gave
    # another valid_loss than the part's own weighted loss
    from torch.utils.data import Subset

    X, y = (v[:100] for v in cnn_data())
    weights = np.random.RandomState(0).uniform(0, 5, len(y)) ** 3
    valid = np.arange(len(y)) % 3 == 0
    class_weight = torch.tensor([1.0, 9.0])

    def split(dataset, y=None, **fit_params):
        return (Subset(dataset, np.flatnonzero(~valid).tolist()),
                Subset(dataset, np.flatnonzero(valid).tolist()))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        net = cnn(max_epochs=3, train_split=split, batch_size=8,
                  criterion__weight=class_weight)
        net.fit(X, y, sample_weight=weights)
    logits = net.forward(X[valid].astype(np.float32))
    codes = torch.as_tensor(np.searchsorted(net.classes_, y[valid]))
    losses = torch.nn.functional.cross_entropy(logits, codes, reduction="none").double()
    norm = torch.as_tensor(weights[valid]) * class_weight.double()[codes]
    expected = float((losses * norm).sum() / norm.sum())
    assert losses.std() > 0.1 * losses.mean()  # (the batches' losses differ)
    assert net.history[-1, "valid_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_no_epoch_warning_names_the_calls_epochs(method):
    # skorch's epochs fit parameter of 0: the warning said "(max_epochs=100)" and advised
    # setting max_epochs, which was not what trained no epoch
    make, data, _ = CASES["classifier"]
    X, y = data()
    with pytest.warns(sklearn.exceptions.ConvergenceWarning,
                      match=r"trained no epoch \(epochs=0\).*Set epochs to 1"):
        getattr(make(max_epochs=5), method)(X, y, epochs=0)


@pytest.mark.parametrize("case", CASES)
def test_a_module_instance_is_refused_naming_the_class(case):
    # skorch builds type(instance)(**module kwargs) when there are any, and sklrank always
    # passes them: TwoLayerNet(n_hidden=4) trained 512 hidden units, a fitted net's module_
    # was trained again from new weights, without a word
    make, data, _ = CASES[case]
    X, y = data()
    module = make().fit(X, y).module_
    name = type(module).__name__
    for call in ("fit", "initialize"):
        est = make(module=module)
        with pytest.raises(ValueError, match=rf"module={name}\(\.\.\.\) is an instance.*"
                                             rf"module={name}, .*load_params"):
            est.fit(X, y) if call == "fit" else est.initialize()
