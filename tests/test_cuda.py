"""device="cuda": the classifier, the two-layer estimators and the gradient probe.

Skipped with the reason where no CUDA device is present (stable_rank on CUDA tensors is
tested in test_rank.py).
"""

import numpy as np
import pytest
import torch

from sklrank import RankCNNClassifier, TwoLayerNetRegressor, stable_rank
from sklrank.datasets import make_low_rank_patches, make_spiked
from sklrank.gradients import gradient_decomposition

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def test_classifier_on_cuda_matches_cpu():
    X, y = make_low_rank_patches(n_samples=100, noise_std=0.5, random_state=0)
    params = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, max_epochs=30,
                  random_state=0)
    cpu = RankCNNClassifier(**params).fit(X, y)
    gpu = RankCNNClassifier(device="cuda", **params).fit(X, y)
    assert next(gpu.module_.parameters()).device.type == "cuda"
    np.testing.assert_allclose(gpu.filters_, cpu.filters_, rtol=1e-3, atol=1e-5)
    assert gpu.filter_stable_rank_ == pytest.approx(stable_rank(gpu.filters_), rel=1e-9)
    assert gpu.history[-1, "filter_stable_rank"] == pytest.approx(gpu.filter_stable_rank_)
    assert (gpu.predict(X) == cpu.predict(X)).mean() >= 0.98
    assert gpu.predict_proba(X).shape == (100, 2)


def test_two_layer_estimator_and_gradient_probe_on_cuda():
    X, y, spike = make_spiked(120, 20, nu=0.3, random_state=0, return_spike=True)
    est = TwoLayerNetRegressor(n_hidden=32, lr=0.02, max_epochs=20, random_state=0,
                               device="cuda").fit(X, y)
    assert est.module_.weight.device.type == "cuda"
    assert est.predict(X).shape == (120,)
    result = gradient_decomposition(est, X, y, spike=spike, check_autograd=True)
    assert result.autograd_max_abs_error < 1e-10
    assert 0 < result.top2_share <= 1
