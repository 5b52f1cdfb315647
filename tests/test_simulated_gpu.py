"""The CUDA tests' work on a simulated second device, so that device bugs fail here, on the CPU.

test_cuda.py needs a GPU and skips everywhere else (CI included): a tensor created on the host
and mixed with the module's on the device, or a device tensor handed to numpy, failed first on
the GPU machine (issue 13: the batch of ``train_step_single -> infer`` was not moved). Here
every estimator, the batched fits, the pipeline, the callbacks, ``gradient_decomposition``,
``stable_rank``, and the post-training passes (the final loss of a one-epoch fit, the data
term's gradient of the dead-network check, the rescaled float64 filter ranks) run with
``device="simgpu"``, a device whose tensors compute on the CPU but refuse to mix with CPU
tensors and numpy as CUDA tensors do (tests/_simulated_gpu.py says what that proves and what
it cannot). The host reads per epoch are counted on the device's tensors alone.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).parent))
from _simulated_gpu import UNAVAILABLE, simulated_gpu  # noqa: E402

if UNAVAILABLE:
    pytest.skip(UNAVAILABLE, allow_module_level=True)

from sklrank import (  # noqa: E402
    RankCNNClassifier,
    TwoLayerNetClassifier,
    TwoLayerNetRegressor,
    make_rank_pipeline,
    stable_rank,
)
from sklrank._batched import fit_batched  # noqa: E402
from sklrank.callbacks import GradientSpectrum, RankHistory  # noqa: E402
from sklrank.callbacks._rank_history import _host_stable_ranks  # noqa: E402
from sklrank.datasets import make_low_rank_patches, make_spiked  # noqa: E402
from sklrank.gradients import gradient_decomposition  # noqa: E402

DEVICE = "simgpu"
CNN = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, max_epochs=5,
           random_state=0)
NET = dict(n_hidden=16, lr=0.02, max_epochs=5, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _on_device(est):
    return {p.device.type for p in est.module_.parameters()} == {DEVICE}


# --------------------------------------------------------------------------- the simulation
def test_the_simulated_device_refuses_host_tensors_and_numpy_as_cuda_does():
    with simulated_gpu() as counts:
        layer = torch.nn.Linear(4, 2).to(DEVICE)
        x = torch.ones(3, 4, device=DEVICE)
        assert layer.weight.device.type == DEVICE and x.device.type == DEVICE
        layer(x).sum().backward()
        assert layer.weight.grad.device.type == DEVICE
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            layer(torch.ones(3, 4))  # the bug of issue 13: a batch left on the host
        with pytest.raises(TypeError, match="can't convert simgpu:0 device type tensor"):
            np.asarray(x)
        assert (x * torch.tensor(2.0)).device.type == DEVICE  # a CPU scalar is allowed
        assert counts == {"uploads": 2}  # the weight and the bias; nothing read yet
        assert x.sum().item() == 12.0 and x.cpu().device.type == "cpu"
        assert counts["reads"] == 2


def test_a_net_fed_host_batches_fails_on_the_simulated_device(monkeypatch):
    # the simulation catches the bug class it is for: a fit whose batches are not moved
    from sklrank import _base

    monkeypatch.setattr(_base._BaseNet, "_as_tensor",
                        lambda self, X: torch.as_tensor(np.asarray(X)))
    X, y = make_spiked(60, 12, nu=0.3, random_state=0)
    with simulated_gpu(), pytest.raises(RuntimeError, match="same device"):
        TwoLayerNetRegressor(device=DEVICE, **NET).fit(X, y)


# --------------------------------------------------------------------------- test_cuda.py's work
def test_classifier_fit_predict_and_ranks_on_the_device():
    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    cpu = RankCNNClassifier(**CNN).fit(X, y)
    with simulated_gpu():
        clf = RankCNNClassifier(device=DEVICE, **CNN).fit(X, y)
        assert _on_device(clf)
        np.testing.assert_allclose(clf.filters_, cpu.filters_, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(clf.history[:, "filter_stable_rank"],
                                   cpu.history[:, "filter_stable_rank"], rtol=1e-6)
        np.testing.assert_array_equal(clf.predict(X), cpu.predict(X))
        assert clf.predict_proba(torch.as_tensor(X).to(DEVICE)).shape == (100, 2)
        assert clf.score(X, y) == cpu.score(X, y)


def test_validation_split_nan_check_and_one_epoch_fits_on_the_device():
    from skorch.dataset import ValidSplit

    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    bad = X.copy()
    bad[3, 5] = np.nan
    with simulated_gpu():
        clf = RankCNNClassifier(device=DEVICE, train_split=ValidSplit(0.2), **CNN).fit(X, y)
        assert "valid_acc" in clf.history[-1]
        with pytest.raises(ValueError, match="NaN"):
            RankCNNClassifier(device=DEVICE, **CNN).fit(bad, y)  # checked on the device
        with pytest.raises(ValueError, match="NaN"):
            clf.predict(bad)
        # one epoch: the final-loss pass over the training part after the step
        one = RankCNNClassifier(device=DEVICE, **{**CNN, "max_epochs": 1})
        one.partial_fit(X, y).partial_fit(X, y)
        assert _on_device(one)


@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_two_layer_nets_noise_regularisers_and_gradient_probe_on_the_device(Estimator):
    X, y, spike = make_spiked(120, 20, nu=0.3, random_state=0, return_spike=True)
    if Estimator is TwoLayerNetClassifier:
        y = (y > np.median(y)).astype(int)
    params = dict(NET, weight_decay=0.01)
    cpu = Estimator(**params).fit(X, y)
    cpu_result = gradient_decomposition(cpu, X, y, spike=spike)
    with simulated_gpu():
        est = Estimator(device=DEVICE, **params).fit(X, y)
        assert _on_device(est)
        np.testing.assert_allclose(est.predict(X), cpu.predict(X), rtol=1e-5, atol=1e-6)
        result = gradient_decomposition(est, X, y, spike=spike, check_autograd=True)
        assert result.autograd_max_abs_error < 1e-10
        assert result.top2_share == pytest.approx(cpu_result.top2_share, rel=1e-5)
        est.set_params(input_noise=0.1, jacobian_penalty=0.1).partial_fit(X, y)
        one = Estimator(device=DEVICE, **{**params, "max_epochs": 1}).fit(X, y)
        assert _on_device(one)


def test_a_fit_that_diverges_on_the_device_is_reported_as_on_the_cpu():
    from sklrank.exceptions import TrainingFailedError

    X, y = make_spiked(60, 12, nu=0.3, random_state=0)
    with pytest.raises(TrainingFailedError) as on_cpu:
        TwoLayerNetRegressor(**{**NET, "lr": 1e6}).fit(X, y)
    with simulated_gpu(), pytest.raises(TrainingFailedError) as on_device:
        TwoLayerNetRegressor(device=DEVICE, **{**NET, "lr": 1e6}).fit(X, y)
    assert str(on_device.value) == str(on_cpu.value)


def test_the_data_gradient_of_the_dead_network_check_is_measured_on_the_device():
    # the pass runs only when the last step's gradient is exactly zero: made so here
    X, y = make_spiked(60, 12, nu=0.3, random_state=0)
    with simulated_gpu() as counts:
        est = TwoLayerNetRegressor(device=DEVICE, **NET).fit(X, y)
        est._train_dataset = est.get_dataset(
            est._prediction_input(X),
            torch.as_tensor(y.reshape(-1, 1), dtype=torch.float32).to(DEVICE))
        for p in est.module_.parameters():
            p.grad.zero_()
        before = counts["reads"]
        assert est._data_gradient_vanished() is False
        assert counts["reads"] - before <= 2 * len(list(est.module_.parameters()))


def test_batched_fits_on_the_device_match_the_cpu():
    data = [make_low_rank_patches(n_samples=80, noise_std=s, random_state=0)
            for s in (0.0, 0.5, 1.0)]
    cpu = [RankCNNClassifier(**{**CNN, "random_state": i}) for i in range(3)]
    fit_batched(cpu, data)
    with simulated_gpu():
        nets = [RankCNNClassifier(device=DEVICE, **{**CNN, "random_state": i})
                for i in range(3)]
        assert [o.error for o in fit_batched(nets, data)] == [None] * 3
        for net, ref, (X, _) in zip(nets, cpu, data):
            assert _on_device(net)
            np.testing.assert_allclose(net.filters_, ref.filters_, rtol=1e-5, atol=1e-7)
            np.testing.assert_array_equal(net.predict(X), ref.predict(X))


def test_rank_pipeline_and_callbacks_feed_a_device_net():
    rng = np.random.default_rng(0)
    X = rng.random((120, 64)).astype(np.float32)
    y = (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int)
    Xs, ys, spike = make_spiked(60, 12, nu=0.3, random_state=0, return_spike=True)
    Xp, yp = make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0)
    with simulated_gpu():
        pipe = make_rank_pipeline((1, 8, 8), n_components=4, grid=(2, 2), noise_std=0.3,
                                  random_state=0, n_filters=4, max_epochs=5, device=DEVICE)
        pipe.fit(X, y)
        assert _on_device(pipe["cnn"]) and pipe.predict(X).shape == (120,)
        TwoLayerNetRegressor(device=DEVICE, callbacks=[RankHistory()], **NET).fit(Xs, ys)
        net = TwoLayerNetRegressor(device=DEVICE, **NET, callbacks=[
            GradientSpectrum(Xs, ys, spike=spike.q)]).fit(Xs, ys)
        assert any(k.startswith("grad_") for k in net.history[-1])
        RankCNNClassifier(device=DEVICE, rank_every=None,
                          callbacks=[RankHistory(every=1, defer=False)], **CNN).fit(Xp, yp)


def test_device_tensors_as_settings_and_to_stable_rank():
    X, y, spike = make_spiked(60, 12, nu=0.3, random_state=0, return_spike=True)
    Xp, yp, basis, _ = make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0,
                                             return_basis=True)
    params = dict(NET, init="spike", max_epochs=3)
    cpu = TwoLayerNetRegressor(spike=spike.q, **params).fit(X, y)
    A = torch.randn(200, 30, generator=torch.Generator().manual_seed(0))
    filters = torch.randn(3, 8, 20, dtype=torch.float64, generator=torch.Generator()
                          .manual_seed(0))
    filters[1] *= 1e-160  # float64 filters rescaled after the host check
    expected = _host_stable_ranks(filters, 2)
    with simulated_gpu():
        q = torch.as_tensor(spike.q).to(DEVICE)
        net = TwoLayerNetRegressor(device=DEVICE, spike=q, **params).fit(X, y)
        np.testing.assert_allclose(net.predict(X), cpu.predict(X), rtol=1e-5, atol=1e-6)
        clf = RankCNNClassifier(device=DEVICE, **CNN).fit(Xp, yp)
        assert clf.filter_alignment(torch.as_tensor(basis).to(DEVICE)).equals(
            clf.filter_alignment(basis))
        for method in ("auto", "svd", "lanczos"):
            assert stable_rank(A.to(DEVICE), method=method) == pytest.approx(
                stable_rank(A), rel=1e-9)
        got = _host_stable_ranks(filters.to(DEVICE), 2)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)


# --------------------------------------------------------------------------- host traffic
def _device_traffic_per_epoch(fit, few=6, many=12):
    """Reads of device values and host-to-device copies per epoch: the difference of two
    fits of ``few`` and ``many`` epochs over ``many - few``."""
    counts = []
    for epochs in (few, many):
        with simulated_gpu() as counted:
            fit(epochs)
        counts.append(counted)
    return {k: (counts[1][k] - counts[0][k]) / (many - few)
            for k in set(counts[0]) | set(counts[1]) if counts[1][k] != counts[0][k]}


@pytest.mark.parametrize(
    "fit",
    [
        lambda e: RankCNNClassifier(device=DEVICE, **{**CNN, "max_epochs": e}).fit(
            *make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0)),
        lambda e: TwoLayerNetRegressor(device=DEVICE, **{**NET, "max_epochs": e},
                                       weight_decay=0.01, jacobian_penalty=0.1).fit(
            *make_spiked(60, 12, nu=0.3, random_state=0)),
        lambda e: TwoLayerNetClassifier(device=DEVICE, **{**NET, "max_epochs": e}).fit(
            make_spiked(60, 12, nu=0.3, random_state=0)[0], np.arange(60) % 2),
        lambda e: fit_batched(
            [RankCNNClassifier(device=DEVICE, **{**CNN, "max_epochs": e, "random_state": i})
             for i in range(3)],
            [make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0)] * 3),
    ],
    ids=["cnn-ranks-every-epoch", "regressor-regularised", "two-layer-classifier",
         "fit_batched-three-points"],
)
def test_an_epoch_on_the_device_reads_the_loss_once_and_copies_nothing_over(fit):
    assert _device_traffic_per_epoch(fit) == {"reads": 1}
