"""device="cuda": every skorch estimator, persistence, the rank history and the gradient probe.

Skipped with the reason where no CUDA device is present (stable_rank on CUDA tensors is tested
in test_rank.py, the sweep and the commands on CUDA in test_sweep.py, test_cli.py and
test_cli_gradients.py).
"""

import numpy as np
import pytest
import torch

from sklrank import RankCNNClassifier, TwoLayerNetClassifier, TwoLayerNetRegressor, stable_rank
from sklrank._batched import fit_batched
from sklrank.datasets import make_low_rank_patches, make_spiked
from sklrank.gradients import gradient_decomposition

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]

CNN = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, max_epochs=30,
           random_state=0)


def test_classifier_on_cuda_matches_cpu():
    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    cpu = RankCNNClassifier(**CNN).fit(X, y)
    gpu = RankCNNClassifier(device="cuda", **CNN).fit(X, y)
    assert next(gpu.module_.parameters()).device.type == "cuda"
    np.testing.assert_allclose(gpu.filters_, cpu.filters_, rtol=1e-3, atol=1e-5)
    assert gpu.filter_stable_rank_ == pytest.approx(stable_rank(gpu.filters_), rel=1e-9)
    # the ranks recorded on the device equal those of the filters at each epoch
    np.testing.assert_allclose(gpu.history[:, "filter_stable_rank"],
                               cpu.history[:, "filter_stable_rank"], rtol=1e-3)
    assert gpu.history[-1, "filter_stable_rank"] == pytest.approx(gpu.filter_stable_rank_)
    assert (gpu.predict(X) == cpu.predict(X)).mean() >= 0.98
    assert gpu.predict_proba(X).shape == (100, 2)


def test_classifier_on_cuda_with_valid_split_and_nan_check():
    from skorch.dataset import ValidSplit

    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    gpu = RankCNNClassifier(device="cuda", train_split=ValidSplit(0.2), **CNN).fit(X, y)
    assert "valid_acc" in gpu.history[-1]
    bad = X.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RankCNNClassifier(device="cuda", **CNN).fit(bad, y)  # checked on the device
    with pytest.raises(ValueError, match="NaN"):
        gpu.predict(bad)


def test_cuda_fit_saved_and_loaded_on_cpu(tmp_path):
    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    gpu = RankCNNClassifier(device="cuda", **CNN).fit(X, y)
    gpu.save_params(f_params=tmp_path / "params.pt")
    cpu = RankCNNClassifier(classes=[-1, 1], **CNN).initialize()
    cpu.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(cpu.filters_, gpu.filters_)
    np.testing.assert_array_equal(cpu.predict(X), gpu.predict(X))


@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_two_layer_estimators_and_gradient_probe_on_cuda(Estimator):
    X, y, spike = make_spiked(120, 20, nu=0.3, random_state=0, return_spike=True)
    if Estimator is TwoLayerNetClassifier:
        y = (y > np.median(y)).astype(int)
    params = dict(n_hidden=32, lr=0.02, max_epochs=20, random_state=0, weight_decay=0.01)
    est = Estimator(device="cuda", **params).fit(X, y)
    assert est.module_.weight.device.type == "cuda"
    cpu = Estimator(**params).fit(X, y)
    np.testing.assert_allclose(est.module_.weight.detach().cpu().numpy(),
                               cpu.module_.weight.detach().numpy(), rtol=1e-3, atol=1e-5)
    assert est.predict(X).shape == (120,)
    est.set_params(input_noise=0.1).partial_fit(X, y)  # noise drawn on the device
    result = gradient_decomposition(est, X, y, spike=spike, check_autograd=True)
    assert result.autograd_max_abs_error < 1e-10
    assert 0 < result.top2_share <= 1


@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_input_noise_drawn_on_the_device_and_pickled_without_a_cuda_generator(Estimator):
    import pickle

    X, y = make_spiked(80, 10, nu=0.3, random_state=0)
    if Estimator is TwoLayerNetClassifier:
        y = (y > np.median(y)).astype(int)
    params = dict(n_hidden=16, lr=0.02, max_epochs=5, random_state=0, input_noise=0.1,
                  device="cuda")
    first = Estimator(**params).fit(X, y)
    assert first._device_noise_generator.device.type == "cuda"
    np.testing.assert_array_equal(first.predict(X), Estimator(**params).fit(X, y).predict(X))
    state = first.__getstate__()["_device_noise_generator"]
    assert isinstance(state, tuple) and state[1].device.type == "cpu"  # loads without CUDA
    restored = pickle.loads(pickle.dumps(first))
    first.partial_fit(X, y)
    restored.partial_fit(X, y)  # its generator made again on the device, from the state
    np.testing.assert_array_equal(first.predict(X), restored.predict(X))


def test_batched_fits_on_cuda_match_cpu():
    data = [make_low_rank_patches(n_samples=80, noise_std=s, random_state=0)
            for s in (0.0, 0.5, 1.0)]
    gpu = [RankCNNClassifier(device="cuda", **{**CNN, "random_state": i}) for i in range(3)]
    cpu = [RankCNNClassifier(**{**CNN, "random_state": i}) for i in range(3)]
    assert [o.error for o in fit_batched(gpu, data)] == [None] * 3
    fit_batched(cpu, data)
    for g, c, (X, _) in zip(gpu, cpu, data):
        np.testing.assert_allclose(g.filters_, c.filters_, rtol=1e-3, atol=1e-5)
        assert (g.predict(X) == c.predict(X)).mean() >= 0.98


def test_rank_pipeline_feeds_a_cuda_classifier():
    # numpy transformers, then the classifier moves the data to the device itself
    from sklrank import make_rank_pipeline

    rng = np.random.default_rng(0)
    X = rng.random((120, 64)).astype(np.float32)
    y = (X[:, :32].sum(1) > X[:, 32:].sum(1)).astype(int)
    pipe = make_rank_pipeline((1, 8, 8), n_components=4, grid=(2, 2), noise_std=0.3,
                              random_state=0, n_filters=4, max_epochs=20, device="cuda")
    pipe.fit(X, y)
    assert next(pipe["cnn"].module_.parameters()).device.type == "cuda"
    assert pipe.predict(X).shape == (120,)


def test_cuda_tensors_as_settings_and_a_pickle_that_loads_anywhere():
    # a CUDA tensor as the spike or the alignment basis (array-likes: numpy conversion of a
    # CUDA tensor fails); the pickled net holds no CUDA tensor outside skorch's own handling
    import io
    import pickle

    X, y, spike = make_spiked(60, 12, nu=0.3, random_state=0, return_spike=True)
    q = torch.as_tensor(spike.q, device="cuda")
    gpu = TwoLayerNetRegressor(device="cuda", init="spike", spike=q, n_hidden=16,
                               max_epochs=3, random_state=0).fit(X, y)
    cpu = TwoLayerNetRegressor(init="spike", spike=spike.q, n_hidden=16, max_epochs=3,
                               random_state=0).fit(X, y)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-4, atol=1e-5)
    Xp, yp, basis, _ = make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0,
                                             return_basis=True)
    clf = RankCNNClassifier(device="cuda", **CNN).fit(Xp, yp)  # labels -1 / +1
    expected = clf.filter_alignment(basis)
    assert clf.filter_alignment(torch.as_tensor(basis, device="cuda")).equals(expected)
    tensors = []

    class Finder(pickle.Pickler):
        def reducer_override(self, obj):  # sees every object pickled plainly
            if isinstance(obj, torch.Tensor):
                tensors.append(obj.device)
            return NotImplemented

    Finder(io.BytesIO()).dump(clf.__getstate__())  # skorch's own state: its tensors as bytes
    assert tensors == []
