"""make_spiked: the spiked data model of section B.

Bad inputs and the answer each gets:

=========================================  =================================================
input                                      answer
=========================================  =================================================
nu, alpha or noise negative, NaN or inf    InvalidParameterError (a ValueError) naming it
n_samples < 2, n_features < 3, floats      InvalidParameterError naming it
target="nope"                              InvalidParameterError naming target
nu so large that n**nu overflows in X      ValueError "nu=... makes the spike strength ...
                                           overflow float64" (today: inf/NaN in X and y)
nu large enough to overflow only y         ValueError "the targets y contain NaN or
(triple index: t2 t3)                      infinity" (today: inf in y, silently)
noise=1e308                                the same ValueError (today: inf in y)
target callable returning NaN              the same ValueError (today: NaN in y)
target callable returning strings          ValueError "must return real numbers"
target callable of the wrong shape         ValueError "target callable must map ..."
target="spike" at a large nu (1e120)       finite, correct y (no overflow in zeta**2)
n_samples * n_features beyond the          ValueError naming them and the GiB needed,
machine's memory                           before any array is made (numpy's MemoryError
                                           "Unable to allocate 728 TiB")
=========================================  =================================================
"""

import numpy as np
import pytest

from sklrank.datasets import make_spiked


def test_shapes_and_decomposition():
    X, y, spike = make_spiked(80, 30, alpha=0.5, nu=0.3, random_state=0, return_spike=True)
    assert X.shape == (80, 30) and y.shape == (80,)
    assert np.isclose(np.linalg.norm(spike.q), 1.0)
    assert np.isclose(spike.zeta, 80**0.3)
    np.testing.assert_allclose(X, spike.X_bulk + spike.zeta * np.outer(spike.z, spike.q))
    np.testing.assert_allclose(spike.target_directions @ spike.target_directions.T, np.eye(3),
                               atol=1e-12)


def test_reproducible_and_seed_dependent():
    a = make_spiked(20, 10, random_state=3)
    b = make_spiked(20, 10, random_state=3)
    c = make_spiked(20, 10, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_bulk_eigenvalues_follow_power_law():
    X, _, spike = make_spiked(4000, 8, alpha=1.0, nu=0.0, random_state=0, return_spike=True)
    var = spike.X_bulk.var(axis=0)
    np.testing.assert_allclose(var, np.arange(1, 9) ** -1.0, rtol=0.1)


def test_spike_strength_shows_in_top_direction():
    X, _, spike = make_spiked(500, 50, nu=0.45, random_state=1, return_spike=True)
    top = np.linalg.svd(X, full_matrices=False)[2][0]
    assert abs(top @ spike.q) > 0.95


def test_targets():
    X, y, spike = make_spiked(300, 20, nu=0.4, target="spike", random_state=0,
                              return_spike=True)
    assert np.corrcoef(y, spike.z)[0, 1] > 0.95
    _, y2, spike2 = make_spiked(50, 20, target=lambda t: t[:, 0], random_state=0,
                                return_spike=True)
    X2 = make_spiked(50, 20, target=lambda t: t[:, 0], random_state=0)[0]
    np.testing.assert_allclose(y2, X2 @ spike2.target_directions[0])
    _, y3 = make_spiked(50, 20, noise=1.0, random_state=0)
    _, y4 = make_spiked(50, 20, noise=0.0, random_state=0)
    assert not np.allclose(y3, y4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"nu": -0.1}, "nu"),
        ({"alpha": -1.0}, "alpha"),
        ({"n_samples": 0}, "n_samples"),
        ({"target": "nope"}, "target"),
        ({"noise": -1}, "noise"),
        ({"nu": np.nan}, "nu"),
        ({"nu": np.inf}, "nu"),
        ({"alpha": np.nan}, "alpha"),
        ({"noise": np.inf}, "noise"),
        ({"n_features": 2}, "n_features"),
        ({"n_samples": 10.0}, "n_samples"),
    ],
)
def test_bad_parameters(kwargs, match):
    params = {"n_samples": 10, "n_features": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_spiked(**params)


def test_bad_callable_target_shape():
    with pytest.raises(ValueError, match="target callable"):
        make_spiked(10, 5, target=lambda t: t)


def test_overflow_is_an_error_not_inf():
    with pytest.raises(ValueError, match="nu=200.0 makes the spike strength"):
        make_spiked(750, 5, nu=200.0)
    with pytest.raises(ValueError, match="targets y contain NaN or infinity"):
        make_spiked(10, 5, nu=160.0, random_state=0)  # X finite, t2 * t3 overflows
    with pytest.raises(ValueError, match="targets y contain NaN or infinity"):
        make_spiked(10, 5, noise=1e308, random_state=0)
    with pytest.raises(ValueError, match="targets y contain NaN or infinity"):
        make_spiked(10, 5, target=lambda t: t[:, 0] * np.nan)


def test_bad_callable_target_values():
    with pytest.raises(ValueError, match="must return real numbers"):
        make_spiked(10, 5, target=lambda t: np.array(["a"] * len(t)))


def test_spike_target_at_a_huge_spike_stays_finite_and_right():
    X, y, spike = make_spiked(20, 5, nu=120.0, target="spike", random_state=0,
                              return_spike=True)
    assert np.isfinite(X).all() and np.isfinite(y).all()
    # y = <q, x> / sqrt(zeta^2 + q^T Sigma q) ~ z when the spike dominates
    np.testing.assert_allclose(y, spike.z, rtol=1e-9)


def test_sizes_beyond_the_memory_name_the_parameters(monkeypatch):
    # numpy's MemoryError "Unable to allocate 728. TiB for an array with shape (10000000,
    # 10000000)" named no parameter
    with pytest.raises(ValueError, match=(
            r"make_spiked needs about .* GiB of memory \(X and its bulk each hold n_samples "
            r"\* n_features = 100000000 \* 1000000 = 100000000000000 float64 values\), more "
            r"than the .* GiB of this machine; lower n_samples or n_features\.")):
        make_spiked(10**8, 10**6)
    import os

    pages = {"SC_PHYS_PAGES": 256, "SC_PAGE_SIZE": 4096}  # a machine of 1 MiB
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    with pytest.raises(ValueError, match="more than the 0.000977 GiB of this machine"):
        make_spiked(1000, 100)
    assert make_spiked(20, 100)[0].shape == (20, 100)
