"""RankCNNClassifier: the paper's training, fitted attributes, sklearn composition, errors."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sklrank import (
    RankCNNClassifier,
    TwoLayerNetClassifier,
    TwoLayerNetRegressor,
    patch_matrix,
    stable_rank,
)
from sklrank.callbacks import RankHistory
from sklrank.datasets import make_low_rank_patches

SHAPE, KERNEL = (1, 4, 64), (1, 64)  # make_low_rank_patches defaults: 4 patches of 64


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # These networks are tiny: one thread is several times faster than two on a shared CPU
    # (the OpenMP threads spin waiting for each other).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)



def small_data(n=60, n_classes=2, noise_std=0.5, seed=0, n_features=8, n_patches=3):
    return make_low_rank_patches(n_samples=n, n_features=n_features, n_patches=n_patches,
                                 rank=1, noise_std=noise_std, n_classes=n_classes,
                                 random_state=seed)


def fast(**kwargs):
    """A few epochs on tiny images: for the plumbing tests."""
    # a large init: the tiny problem is learnt in a few epochs (no dead filters)
    params = dict(input_shape=(1, 3, 8), kernel_size=(1, 8), n_filters=4, init_std=0.3, lr=2.0,
                  max_epochs=10, random_state=0)
    params.update(kwargs)
    return RankCNNClassifier(**params)


# ---------------------------------------------------------------- the paper's training step
def _spec_grad(W, patches, y_enc, n_banks, m, q, kappa):
    """Closed-form gradient of the mean cross-entropy w.r.t. the filters (numpy, float64)."""
    n, P = len(y_enc), len(patches) // len(y_enc)
    Z = (patches @ W.T).reshape(n, P, -1)  # (n, P, n_banks*m)
    Zc = np.clip(Z, 0, kappa)
    sig = np.where(kappa < Z, Z - (1 - 1 / q) * kappa, Zc**q / (q * kappa ** (q - 1)))
    dsig = np.where(kappa < Z, 1.0, np.where(Z > 0, (Zc / kappa) ** (q - 1), 0.0))
    logits = sig.mean(1).reshape(n, n_banks, m).mean(2)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    resid = np.repeat(p - np.eye(n_banks)[y_enc], m, axis=1)  # (n, n_banks*m)
    Xp = patches.reshape(n, P, -1)
    return np.einsum("ij,ipj,ipd->jd", resid, dsig, Xp) / (n * P * m)


@pytest.mark.parametrize("n_classes, labels", [(2, None), (3, np.array(["ant", "bee", "cat"]))])
def test_first_gradient_step_is_closed_form(n_classes, labels):
    X, y = small_data(n=30, n_classes=n_classes, noise_std=1.0)
    if labels is not None:
        y = labels[y]
    X = X.astype(np.float64)
    params = dict(n_filters=4, lr=0.7, q=3, kappa=0.5, init_std=0.3, random_state=3)
    W0 = fast(max_epochs=0, **params).fit(X, y).filters_.astype(np.float64)
    clf = fast(max_epochs=1, **params).fit(X, y)
    patches = patch_matrix(X.astype(np.float32), SHAPE[:1] + (3, 8), (1, 8)).astype(np.float64)
    y_enc = np.searchsorted(clf.classes_, y)
    grad = _spec_grad(W0, patches, y_enc, n_classes, 4, 3.0, 0.5)
    assert np.abs(grad).max() > 1e-3  # a real step, not a no-op
    np.testing.assert_allclose(clf.filters_, W0 - 0.7 * grad, rtol=1e-4, atol=1e-6)
    # the recorded loss is the mean cross-entropy at W0
    assert np.isfinite(clf.history[-1, "train_loss"])


# ---------------------------------------------------------------- the paper's claim
@pytest.fixture(scope="module")
def clean_fit():
    X, y, basis, basis_classes = make_low_rank_patches(n_samples=400, random_state=0,
                                                       return_basis=True)
    clf = RankCNNClassifier(input_shape=SHAPE, kernel_size=KERNEL, random_state=0)
    clf.fit(X[:200], y[:200])
    return clf, X[200:], y[200:], basis, basis_classes


def test_defaults_learn_clean_data(clean_fit):
    clf, X_test, y_test, basis, _ = clean_fit
    assert clf.score(X_test, y_test) >= 0.95
    # stable rank of the filters: near the 2K = 4 signal directions, far below the 64 of a
    # random filter matrix; the filters span the signal space (4 large singular values)
    assert 2.5 <= clf.filter_stable_rank_ <= 4.0
    s = np.linalg.svd(clf.filters_, compute_uv=False)
    assert s[3] > 10 * s[4]


def test_alignment_report(clean_fit):
    clf, _, _, basis, basis_classes = clean_fit
    report = clf.filter_alignment(basis)
    assert isinstance(report, pd.DataFrame)
    assert list(report.columns) == ["filter", "bank", "best_basis_index", "max_abs_cos"]
    assert len(report) == clf.filters_.shape[0]
    assert set(report["bank"]) == set(clf.classes_)
    # every one of the 2K basis vectors is claimed by some filter ...
    assert set(report["best_basis_index"]) == set(range(len(basis)))
    aligned = report[report["max_abs_cos"] >= 0.9]
    # ... most filters are aligned with one basis vector ...
    assert len(aligned) > len(report) / 2
    # ... and an aligned filter is aligned with a signal of its own class
    own = basis_classes[aligned["best_basis_index"].to_numpy()] == aligned["bank"].to_numpy()
    assert own.all()
    # cosines are cosines
    assert report["max_abs_cos"].between(0, 1 + 1e-9).all()


def test_alignment_report_errors(clean_fit):
    clf = clean_fit[0]
    with pytest.raises(ValueError, match="basis"):
        clf.filter_alignment(np.ones((2, 5)))
    with pytest.raises(ValueError, match="basis"):
        clf.filter_alignment(np.zeros((2, 64)))


@pytest.mark.slow
def test_filter_rank_stable_while_data_rank_explodes():
    # Defaults, signal always in patch 0 (so the clean DATA matrix has rank 2K = 4), 200
    # training samples. Measured over seeds 0-2 (docs): data stable rank 3.6 -> 10.2 -> 26.9
    # (x7.4) while the filter stable rank stays 3.02 -> 2.84 -> 3.11 (x1.09 at most, x1.20 for
    # the worst seed), test accuracy >= 0.98 throughout.
    data_sr, filter_sr, acc = [], [], []
    for noise in (0.0, 0.5, 1.0):
        X, y = make_low_rank_patches(n_samples=400, noise_std=noise, signal_position=0,
                                     random_state=0)
        clf = RankCNNClassifier(input_shape=SHAPE, kernel_size=KERNEL, random_state=0,
                                rank_every=None).fit(X[:200], y[:200])
        data_sr.append(stable_rank(X[:200]))
        filter_sr.append(clf.filter_stable_rank_)
        acc.append(clf.score(X[200:], y[200:]))
    assert data_sr[-1] / data_sr[0] > 6.0
    assert max(filter_sr) / min(filter_sr) < 1.3
    assert all(2.0 < sr < 4.5 for sr in filter_sr)
    assert acc[0] >= 0.95 and min(acc) >= 0.9


# ---------------------------------------------------------------- fitted attributes, history
@pytest.mark.parametrize(
    "n_features, n_filters",
    # batched bank Gram matrices (<= 128 values a filter), dense Gram, warm-started Lanczos
    [(64, 10), (150, 10), (150, 80)],
)
def test_ranks_recorded_every_epoch_are_exact(n_features, n_filters):
    # The callback's fast paths (batched bank Gram matrices; Lanczos warm-started from the
    # previous epoch) must agree with stable_rank on a snapshot of the filters, every epoch.
    X, y = small_data(n=80, n_classes=3, n_features=n_features, n_patches=2)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            snapshots.append(net.module_.filter_matrix().detach().numpy().copy())

    clf = fast(input_shape=(1, 2, n_features), kernel_size=(1, n_features), n_filters=n_filters,
               max_epochs=5, init_std=0.05, callbacks=[("snapshot", Snapshot())]).fit(X, y)
    m = n_filters
    for row, filters in zip(clf.history, snapshots):
        assert row["filter_stable_rank"] == pytest.approx(stable_rank(filters), rel=1e-9)
        for b, label in enumerate(clf.classes_):
            expected = stable_rank(filters[b * m : (b + 1) * m])
            assert row["filter_bank_stable_ranks"][label] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("first_capacity", [None, 1])
@pytest.mark.parametrize("buffer_bytes", [2**30, 3000])
def test_deferred_ranks_of_long_fits_are_exact(monkeypatch, buffer_bytes, first_capacity):
    # 40 epochs: the stack of snapshots holds them all (or, from a capacity of 1, doubles as
    # it fills); with a small buffer it is computed and reused during the fit, several times
    import sklrank.callbacks._rank_history as rank_history

    monkeypatch.setattr(rank_history, "_BUFFER_BYTES", buffer_bytes)
    if first_capacity is not None:
        monkeypatch.setattr(rank_history.RankHistory, "_capacity",
                            lambda self, net, filters: first_capacity)
    X, y = small_data(n=60, n_classes=2)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            snapshots.append(net.module_.filter_matrix().detach().numpy().copy())

    clf = fast(max_epochs=40, init_std=0.05,
               callbacks=[("snapshot", Snapshot())]).fit(X, y)
    assert len(snapshots) == 40
    for row, filters in zip(clf.history, snapshots):
        assert row["filter_stable_rank"] == pytest.approx(stable_rank(filters), rel=1e-9)
    # the stack is not kept with the fitted net
    assert all(getattr(cb, "_snapshots", None) is None for _, cb in clf.callbacks_)


@pytest.mark.parametrize("rank_every, max_epochs, capacity", [(1, 10, 10), (3, 10, 4), (5, 10, 2)])
def test_the_stack_of_snapshots_is_allocated_once(monkeypatch, rank_every, max_epochs, capacity):
    # one stack for the recorded epochs of the fit (3, 6, 9 and the last), not grown
    import sklrank.callbacks._rank_history as rank_history

    sizes = []
    snapshot = rank_history.RankHistory._snapshot

    def spy(self, net):
        snapshot(self, net)
        sizes.append(len(self._snapshots))

    monkeypatch.setattr(rank_history.RankHistory, "_snapshot", spy)
    X, y = small_data(n=60, n_classes=2)
    fast(max_epochs=max_epochs, rank_every=rank_every).fit(X, y)
    assert sizes == [capacity] * capacity


def _old_stable_ranks(filters, n_banks):
    """The computation before the finiteness check moved to the traces: the filters checked
    and zeroed, then the same Gram matrices and eigenvalues."""
    from sklrank.callbacks._rank_history import _gram, _top_eigenvalues

    finite = torch.isfinite(filters).flatten(1).all(dim=1)
    F = torch.where(finite[:, None, None], filters, filters.new_zeros(())).to(torch.float64)
    k, rows, dim = F.shape
    grams = [_gram(F)]
    if n_banks:
        grams.append(_gram(F.reshape(k * n_banks, rows // n_banks, dim)))
    ranks, fros = [], []
    for gram in grams:
        fro = gram.diagonal(dim1=-2, dim2=-1).sum(-1)
        ranks.append((fro / _top_eigenvalues(gram)).clamp(min=1.0).reshape(k, -1))
        fros.append(fro.reshape(k, -1))
    fro = torch.cat(fros, dim=1)
    return torch.cat(ranks, dim=1), torch.where(finite[:, None], fro, fro.new_full((), torch.nan))


@pytest.mark.parametrize("case", ["noise", "near-degenerate", "zero banks", "non-finite", "huge"])
def test_batched_filter_ranks_are_bitwise_the_filterwise_checked_ones(case):
    from sklrank.callbacks._rank_history import _stable_ranks

    rng = np.random.default_rng(0)
    stack = rng.standard_normal((40, 80, 64))
    if case == "near-degenerate":  # both banks the same orthonormal rows, scaled by 1 + 1e-12 i
        q = np.linalg.qr(rng.standard_normal((64, 64)))[0][:40]
        stack = np.stack([np.vstack([q, q * (1 + 1e-12 * i)]) for i in range(40)])
    elif case == "zero banks":
        stack[3, :40] = 0
        stack[5] = 0
    elif case == "non-finite":
        stack[2, 5, 7], stack[9, 70, 1], stack[11, 0, 0] = np.nan, np.inf, -np.inf
    elif case == "huge":  # float32's largest values: their squares are finite in float64
        stack *= 1e37
    stack = torch.from_numpy(stack.astype(np.float32))
    expected = _old_stable_ranks(stack, 2)
    for host_check in (False, True):
        for got, want in zip(_stable_ranks(stack, 2, host_check), expected):
            assert torch.equal(got.isnan(), want.isnan())
            assert torch.equal(got.nan_to_num(), want.nan_to_num())


@pytest.mark.parametrize("scale", [1e-140, 1e-170, 1e-250, 1e-310, 1e140, 1e200, 1e300])
def test_filter_ranks_of_float64_filters_of_any_scale(scale):
    # float64 filters below about 1e-154: their squared Frobenius norm underflowed to 0,
    # "A bank of zero filters has no stable rank" (and below 1e-150 the ranks lost digits);
    # above 1e154 their Gram matrix was not finite: counted as NaN filters ("training
    # diverged" in RankHistory)
    from sklrank.callbacks._rank_history import _host_stable_ranks, bank_stable_ranks

    rng = np.random.default_rng(0)
    W = rng.standard_normal((40, 784))
    expected = [stable_rank(W)] + [stable_rank(W[b * 20 : (b + 1) * 20]) for b in range(2)]
    ranks, fro = _host_stable_ranks(torch.from_numpy(W * scale)[None], 2)
    np.testing.assert_allclose(ranks[0], expected, rtol=1e-12)
    assert (fro > 0).all() and np.isfinite(fro).all()
    np.testing.assert_allclose(bank_stable_ranks(torch.from_numpy(W * scale), 2),
                               expected[1:], rtol=1e-12)
    # one bank at this scale, the other at 1; with a zero and a NaN stack beside them
    mixed = W.copy()
    mixed[20:] *= scale
    stack = torch.from_numpy(np.stack([W, mixed, np.zeros_like(W), W * np.nan]))
    for host_check in (False, True):
        ranks, fro = _host_stable_ranks(stack, 2, host_check)
        np.testing.assert_allclose(ranks[:2, 1:], [expected[1:]] * 2, rtol=1e-12)
        assert ranks[0, 0] == _host_stable_ranks(stack[:1], 2)[0][0, 0]  # (unscaled: bitwise)
        assert np.isnan(ranks[2:]).all() and (fro[2] == 0).all() and np.isnan(fro[3]).all()


@pytest.mark.parametrize("shape, n_banks", [((80, 64), 2), ((4000, 128), 10), ((600, 300), 3)])
def test_batched_filter_ranks_agree_with_stable_rank(shape, n_banks):
    # the deferred computation: a stack of epochs' filters, their banks, in one batch
    from sklrank.callbacks._rank_history import _stable_ranks

    rng = np.random.default_rng(0)
    stack = torch.from_numpy(rng.standard_normal((3, *shape)).astype(np.float32))
    stack[1] *= torch.linspace(0.1, 3, shape[1])  # an uneven spectrum too
    ranks, fro = _stable_ranks(stack, n_banks)
    assert ranks.shape == fro.shape == (3, 1 + n_banks)
    m = shape[0] // n_banks
    for k, W in enumerate(stack.numpy()):
        assert ranks[k, 0] == pytest.approx(stable_rank(W), rel=1e-9)
        for b in range(n_banks):
            assert ranks[k, 1 + b] == pytest.approx(stable_rank(W[b * m : (b + 1) * m]), rel=1e-9)


def test_fitted_attributes_and_history():
    X, y = small_data(n_classes=3)
    clf = fast(max_epochs=6, rank_every=2).fit(X, y)
    assert clf.n_features_in_ == 24
    assert clf.input_shape_ == (1, 3, 8) and clf.kernel_size_ == (1, 8) and clf.stride_ == (1, 8)
    assert clf.filters_.shape == (12, 8) and clf.filters_.dtype == np.float32
    assert clf.filter_stable_rank_ == pytest.approx(stable_rank(clf.filters_))
    assert list(clf.filter_bank_stable_ranks_) == [0, 1, 2]
    for b, label in enumerate(clf.classes_):
        assert clf.filter_bank_stable_ranks_[label] == pytest.approx(
            stable_rank(clf.filters_[4 * b : 4 * b + 4]))
    recorded = [row.get("filter_stable_rank") for row in clf.history]
    assert [r is not None for r in recorded] == [False, True, False, True, False, True]
    assert recorded[-1] == pytest.approx(clf.filter_stable_rank_)
    assert set(clf.history[-1, "filter_bank_stable_ranks"]) == {0, 1, 2}
    assert len(clf.history[:, "train_loss"]) == 6
    # one full batch an epoch: the epoch loss is that batch's loss
    assert clf.history[-1, "train_loss"] == clf.history[-1, "batches", -1, "train_loss"]


def test_minibatch_train_loss_is_weighted_mean():
    X, y = small_data(n=50)
    clf = fast(batch_size=20, max_epochs=2).fit(X, y)
    batches = clf.history[-1, "batches"]
    assert [b["train_batch_size"] for b in batches] == [20, 20, 10]
    expected = sum(b["train_loss"] * b["train_batch_size"] for b in batches) / 50
    assert clf.history[-1, "train_loss"] == pytest.approx(expected)


@pytest.mark.parametrize("shape", [(3, 4, 10), (2, 12, 5)])  # m <= dim and m > dim
def test_bank_stable_ranks_equal_stable_rank(shape):
    from sklrank.callbacks._rank_history import bank_stable_ranks

    n_banks, m, dim = shape
    W = torch.randn(n_banks * m, dim) * torch.linspace(0.1, 3, dim)
    got = bank_stable_ranks(W, n_banks)
    expected = [stable_rank(W[b * m : (b + 1) * m].numpy(), method="svd") for b in range(n_banks)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_last_epoch_always_recorded_and_rank_history_off():
    X, y = small_data()
    clf = fast(max_epochs=5, rank_every=3).fit(X, y)
    assert [("filter_stable_rank" in row) for row in clf.history] == [False, False, True, False,
                                                                      True]
    clf = fast(max_epochs=3, rank_every=None).fit(X, y)
    assert not any("filter_stable_rank" in row for row in clf.history)
    assert clf.filter_stable_rank_ >= 1.0
    clf = fast(max_epochs=4, rank_every=None, callbacks=[RankHistory(every=2)]).fit(X, y)
    assert [("filter_stable_rank" in row) for row in clf.history] == [False, True, False, True]


def test_default_recorder_follows_rank_every_and_refuses_its_own_every():
    # callbacks__filter_rank__every was overridden by rank_every without a word
    X, y = small_data()
    with pytest.raises(ValueError, match=r"callbacks__filter_rank__every=2 but rank_every=1.*"
                                         r"set rank_every=2"):
        fast(max_epochs=4, callbacks__filter_rank__every=2).fit(X, y)
    clf = fast(max_epochs=4, rank_every=2, callbacks__filter_rank__every=2).fit(X, y)
    assert [("filter_stable_rank" in row) for row in clf.history] == [False, True, False, True]
    clf = fast(max_epochs=4, rank_every=2).fit(X, y)
    assert clf.get_params()["callbacks__filter_rank__every"] is None  # not set by the fit
    clf.set_params(rank_every=None).partial_fit(X, y)
    assert not any("filter_stable_rank" in row for row in clf.history[4:])


def test_patch_matrix_is_what_the_filters_see():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 2 * 5 * 6)).astype(np.float32)
    y = np.arange(10) % 2
    for stride, padding in [((1, 2), "circular"), (None, "none"), ((2, 1), "none")]:
        clf = RankCNNClassifier(input_shape=(2, 5, 6), kernel_size=(2, 3), stride=stride,
                                padding=padding, n_filters=2, max_epochs=1,
                                random_state=0).fit(X, y)
        patches = patch_matrix(X, clf.input_shape_, clf.kernel_size_, clf.stride_, clf.padding)
        x = torch.from_numpy(X).reshape(10, 2, 5, 6)
        if padding == "circular":
            x = torch.nn.functional.pad(x, (0, 2, 0, 1), mode="circular")
        z = torch.nn.functional.conv2d(x, clf.module_.weight.detach(), stride=clf.stride_)
        z = z.permute(0, 2, 3, 1).reshape(-1, 4).numpy()  # patch-major, like patch_matrix
        np.testing.assert_allclose(patches @ clf.filters_.T, z, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- labels and dtypes
@pytest.mark.parametrize(
    "labels", [np.array([-1, 1]), np.array(["no", "yes"]), np.array([2.0, 7.0]),
               np.array([True, False])]
)
def test_any_label_type(labels):
    X, y = small_data(noise_std=0.2)
    y = labels[(y > 0).astype(int)]
    clf = fast(max_epochs=20).fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype and set(pred) <= set(labels)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], pred)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8,
                                   np.float16])
@pytest.mark.parametrize("batch_size", [-1, 16])
def test_every_numeric_label_dtype_trains_as_int64_labels(dtype, batch_size):
    # torch's searchsorted has no kernel for uint16/32/64: such labels raised
    # NotImplementedError from inside torch
    X, y = small_data(noise_std=0.2)
    y = np.where(y > 0, 7, 3)
    expected = fast(max_epochs=5, batch_size=batch_size).fit(X, y)
    clf = fast(max_epochs=5, batch_size=batch_size).fit(X, y.astype(dtype))
    np.testing.assert_array_equal(clf.filters_, expected.filters_)
    assert clf.classes_.dtype == dtype and clf.predict(X).dtype == dtype


@pytest.mark.parametrize("labels", [np.array([False, True]), np.array(["neg", "pos"]),
                                    np.array(["neg", "pos"], dtype=object)])
@pytest.mark.parametrize("split", [None, 4], ids=["mini-batches", "with-valid-split"])
def test_labels_of_any_type_with_mini_batches(labels, split):
    # a DataLoader batches bool labels as a bool tensor (torch's searchsorted has no kernel
    # for it) and strings as a list (which the validation accuracy could not read)
    from skorch.dataset import ValidSplit

    X, y = small_data(noise_std=0.2)
    codes = (y > 0).astype(int)
    params = dict(max_epochs=5, batch_size=16,
                  train_split=None if split is None else ValidSplit(split))
    expected = fast(**params).fit(X, codes)
    clf = fast(**params).fit(X, labels[codes])
    np.testing.assert_array_equal(clf.filters_, expected.filters_)
    np.testing.assert_array_equal(clf.predict(X), labels[expected.predict(X)])
    if split is not None:
        assert clf.history[:, "valid_acc"] == expected.history[:, "valid_acc"]


def test_unsigned_labels_beyond_int64():
    # full batch: encoded on the host, the fit of the labels' indices; mini-batches cannot
    # batch them (torch's DataLoader failed inside with "an integer is required")
    X, y = small_data(noise_std=0.2)
    labels = np.array([3, 2**63 + 5], dtype=np.uint64)
    y = labels[(y > 0).astype(int)]
    expected = fast(max_epochs=5).fit(X, (y > 3).astype(int))
    clf = fast(max_epochs=5).fit(X, y)
    np.testing.assert_array_equal(clf.filters_, expected.filters_)
    np.testing.assert_array_equal(clf.predict(X), labels[expected.predict(X)])
    with pytest.raises(ValueError, match=r"above 2\*\*63 - 1.*train full-batch"):
        fast(max_epochs=5, batch_size=16).fit(X, y)


def test_classes_parameter_fixes_the_label_set():
    X, y = small_data()
    clf = fast(classes=[1, -1, 5]).fit(X, y)  # order as given does not matter
    np.testing.assert_array_equal(clf.classes_, [-1, 1, 5])
    assert clf.filters_.shape == (12, 8) and clf.predict_proba(X).shape == (60, 3)
    with pytest.raises(ValueError, match="not among the classes"):
        fast(classes=[-1, 0]).fit(X, y)


def test_partial_fit_and_warm_start_continue_training():
    X, y = small_data()
    clf = fast(max_epochs=3).fit(X, y)
    before = clf.filters_.copy()
    clf.partial_fit(X, y)
    assert len(clf.history) == 6 and not np.array_equal(clf.filters_, before)
    ref = fast(max_epochs=6).fit(X, y)  # full batch: 3 + 3 epochs == 6 epochs
    np.testing.assert_allclose(clf.filters_, ref.filters_, rtol=1e-5, atol=1e-6)
    warm = fast(max_epochs=3, warm_start=True).fit(X, y).fit(X, y)
    np.testing.assert_allclose(warm.filters_, ref.filters_, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.where(y > 0, 7, -1))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :10], y)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_continued_training_refuses_changed_classes(how):
    # set_params(classes=...) after a fit was ignored when training continued the network
    X, y = small_data()
    clf = fast(max_epochs=2, warm_start=how == "warm_start").fit(X, y)
    more = clf.fit if how == "warm_start" else clf.partial_fit
    clf.set_params(classes=[1, -1])  # the same labels in another order: continues
    more(X, y)
    assert len(clf.history) == 4
    clf.set_params(classes=[-1, 1, 2])
    with pytest.raises(ValueError, match=r"classes is \[-1, 1, 2\], but the network was fitted"
                                         r" on the classes \[-1, 1\].*warm_start=False"):
        more(X, y)
    assert len(clf.history) == 4
    clf.set_params(warm_start=False).fit(X, y)  # a new network for the three classes
    np.testing.assert_array_equal(clf.classes_, [-1, 1, 2])


def test_float64_and_float32_give_the_same_model():
    X, y = small_data()
    a = fast().fit(X.astype(np.float64), y)
    b = fast().fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(a.filters_, b.filters_)


def test_module_dunder_params_still_work():
    X, y = small_data()
    clf = fast(module__n_filters=2).fit(X, y)
    assert clf.filters_.shape == (4, 8)
    assert clf.filter_alignment(np.eye(8)).shape == (4, 4)
    clf = fast(optimizer__momentum=0.9, module__pooling="sum").fit(X, y)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9


def test_default_geometry_is_whole_sample():
    X, y = small_data()
    clf = RankCNNClassifier(max_epochs=2, n_filters=2, random_state=0).fit(X, y)
    assert clf.input_shape_ == (1, 1, 24) and clf.kernel_size_ == (1, 24)
    assert clf.filters_.shape == (4, 24)


# ---------------------------------------------------------------- reproducibility, persistence
def test_same_random_state_same_filters_and_global_rng_untouched():
    X, y = small_data()
    state = torch.random.get_rng_state()
    a = fast(random_state=7).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())
    b = fast(random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.filters_, b.filters_)
    c = fast(random_state=8).fit(X, y)
    assert not np.array_equal(a.filters_, c.filters_)
    # refitting the same estimator gives the same model as well
    np.testing.assert_array_equal(a.fit(X, y).filters_, b.filters_)


def test_cuda_generators_are_not_reseeded(monkeypatch):
    # torch.manual_seed also reseeds every CUDA generator (and leaves them reseeded): a CUDA
    # draw after each fit restarted from the fit's seed
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    X, y = small_data()
    fast(random_state=7, max_epochs=1).fit(X, y)
    assert calls == []


def test_networks_initialised_in_threads_at_once_are_their_seeds():
    # torch's global generator is one per process: seeded and drawn from in several threads
    # at once, a network could get another thread's seed
    import threading

    seeds = range(12)
    expected = [fast(random_state=s).initialize().module_.weight.detach().clone()
                for s in seeds]
    nets = [fast(random_state=s) for s in seeds]
    barrier = threading.Barrier(len(nets))

    def initialise(net):
        barrier.wait()
        for _ in range(5):
            net.initialize()

    threads = [threading.Thread(target=initialise, args=(net,)) for net in nets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for net, weight in zip(nets, expected):
        assert torch.equal(net.module_.weight.detach(), weight)


def test_filters_come_from_a_private_generator(monkeypatch):
    # they were drawn from torch's global generator inside the seeded window, where another
    # thread's DataLoader (drawing its base seed from it every epoch) could move it
    import contextlib

    import sklrank._base as base

    expected = fast(random_state=4).initialize().module_.weight.detach().clone()
    unseeded = contextlib.nullcontext
    monkeypatch.setattr(base, "seeded", lambda seed: unseeded())
    torch.manual_seed(12345)  # the global generator anywhere: no effect
    assert torch.equal(fast(random_state=4).initialize().module_.weight.detach(), expected)


def test_clone_pickle_joblib_round_trips(tmp_path):
    X, y = small_data()
    clf = fast(max_epochs=10).fit(X, y)
    pred, proba = clf.predict(X), clf.predict_proba(X)
    np.testing.assert_array_equal(clone(clf).fit(X, y).predict_proba(X), proba)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X), pred)
    np.testing.assert_array_equal(restored.predict_proba(X), proba)
    joblib.dump(clf, tmp_path / "clf.joblib")
    restored = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), proba)
    np.testing.assert_array_equal(restored.filters_, clf.filters_)
    assert restored.filter_stable_rank_ == clf.filter_stable_rank_


# ---------------------------------------------------------------- sklearn composition
def test_pipeline_gridsearch_cross_validate():
    X, y = small_data(n=60, noise_std=0.3)
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z * 1.0), fast(max_epochs=15))
    assert pipe.fit(X, y).score(X, y) > 0.7
    grid = GridSearchCV(
        fast(max_epochs=10),
        {"n_filters": [2, 3], "lr": [1.0, 5.0], "kappa": [0.5, 1.0]},
        cv=2, error_score="raise",
    ).fit(X, y)
    assert set(grid.best_params_) == {"n_filters", "lr", "kappa"}
    assert grid.best_estimator_.filters_.shape[0] == 2 * grid.best_params_["n_filters"]
    result = cross_validate(fast(max_epochs=10), X, y, cv=3, error_score="raise")
    assert len(result["test_score"]) == 3 and np.isfinite(result["test_score"]).all()


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [({"q": 0.5}, "'q' parameter"), ({"kappa": 0.0}, "'kappa' parameter"),
     ({"kappa": -1.0}, "'kappa' parameter"), ({"lr": 0.0}, "'lr' parameter"),
     ({"lr": -1.0}, "'lr' parameter"), ({"n_filters": 0}, "'n_filters' parameter"),
     ({"init_std": 0.0}, "'init_std' parameter"), ({"padding": "same"}, "'padding' parameter"),
     ({"activation": "tanh"}, "'activation' parameter"),
     ({"rank_every": 0}, "'rank_every' parameter")],
)
def test_bad_hyper_parameters_name_the_parameter(params, match):
    X, y = small_data()
    with pytest.raises(InvalidParameterError, match=match):
        fast(**params).fit(X, y)


def test_bad_input_errors():
    X, y = small_data()
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fast().fit(X_nan, y)
    with pytest.raises(ValueError, match="input_shape"):
        fast(input_shape=(1, 4, 8)).fit(X, y)  # 32 features described, 24 given
    with pytest.raises(ValueError, match="kernel_size"):
        fast(kernel_size=(4, 8)).fit(X, y)  # image is 3 x 8
    with pytest.raises(ValueError, match="class"):
        fast().fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        fast().fit(X, np.linspace(0, 1, len(X)))
    clf = fast().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :20])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(X_nan)


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fast().predict(np.zeros((2, 24)))


def test_divergence_is_reported():
    X, y = small_data(noise_std=3.0)
    with pytest.raises(FloatingPointError, match="diverged at epoch .*lower lr"):
        fast(lr=1e38, max_epochs=20, init_std=1.0).fit(X, y)


def test_verbose_table_and_progress_bar(capsys):
    X, y = small_data()
    fast(verbose=0).fit(X, y)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""
    fast(verbose=1).fit(X, y)  # skorch's per-epoch table, as in skorch
    out = capsys.readouterr()
    header = out.out.splitlines()[0].split()
    assert header[0] == "epoch" and "train_loss" in header and "filter_stable_rank" in header
    assert "filter_bank_stable_ranks" not in out.out  # a dict: not a table column
    assert out.err == ""
    fast(progress_bar=True).fit(X, y)  # a tqdm bar per fit, on stderr
    out = capsys.readouterr()
    assert "RankCNNClassifier" in out.err and "epoch" in out.err and out.out == ""


def test_progress_bar_postfix_and_leftover_bar(capsys):
    from types import SimpleNamespace

    from skorch.history import History

    from sklrank.callbacks._progress import EpochProgressBar

    net = SimpleNamespace(progress_bar=True, max_epochs=2, history=History())
    cb = EpochProgressBar()
    cb.on_train_begin(net)
    net.history.new_epoch()
    net.history.record("train_loss", 0.5)
    cb.on_epoch_end(net)
    assert cb.bar_.postfix == "loss=0.5" and cb.bar_.n == 1
    net.history.new_epoch()
    net.history.record("train_loss", 0.25)
    net.history.record("filter_stable_rank", 1.5)
    cb.on_epoch_end(net)
    assert cb.bar_.postfix == "loss=0.25, filter_sr=1.500"
    leftover = cb.bar_  # a fit that raised never calls on_train_end: the next fit closes it
    net.progress_bar = False
    cb.on_train_begin(net)
    assert cb.bar_ is None and leftover.disable  # tqdm marks a closed bar disabled
    cb.on_epoch_end(net)
    cb.on_train_end(net)
    capsys.readouterr()


@pytest.mark.parametrize(
    "est, wrapper",
    [
        (RankCNNClassifier(input_shape=(1, 1, 8), kernel_size=(1, 8), max_epochs=1),
         "MultiOutputClassifier"),
        (TwoLayerNetClassifier(n_hidden=4, max_epochs=1), "MultiOutputClassifier"),
        (TwoLayerNetRegressor(n_hidden=4, max_epochs=1), "MultiOutputRegressor"),
    ],
)
def test_multilabel_and_multi_output_y_are_refused_naming_the_wrapper(est, wrapper):
    # scikit-learn's "y should be a 1d array, got an array of shape (20, 2) instead" named
    # no fix
    X = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    labels = np.arange(20) % 2
    for y in (np.c_[labels, 1 - labels], pd.DataFrame({"a": labels, "b": labels})):
        with pytest.raises(ValueError, match=rf"shape \(20, 2\).*sklearn\.multioutput\.{wrapper}"):
            clone(est).fit(X, y)
    if not isinstance(est, TwoLayerNetRegressor):
        with pytest.raises(ValueError, match=rf"shape \(20, 2\).*{wrapper}"):
            clone(est).partial_fit(X, np.c_[labels, 1 - labels], classes=[0, 1])
    # a column vector is one output: scikit-learn's DataConversionWarning, and a fit
    with pytest.warns(DataConversionWarning):
        clone(est).fit(X, labels[:, None])


def test_two_layer_classifier_on_three_classes_names_one_vs_rest():
    X = np.random.default_rng(0).standard_normal((21, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=r"exactly 2 classes.*OneVsRestClassifier"):
        TwoLayerNetClassifier(n_hidden=4, max_epochs=1).fit(X, np.arange(21) % 3)
