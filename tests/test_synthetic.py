"""The synthetic low-rank patch data of the paper.

Bad inputs of ``make_low_rank_patches`` and their answers:

===========================================  ================================================
input                                        answer
===========================================  ================================================
n_classes * rank > n_features                ValueError naming rank and n_features
n_patches=0, n_samples=0, n_classes=1        InvalidParameterError naming the parameter
n_samples=True, rank=True, n_patches=True    InvalidParameterError naming it (n_samples:
                                             numpy's TypeError; the others ran as 1)
noise_std < 0, NaN or inf                    InvalidParameterError naming noise_std
signal_norm <= 0, NaN or inf                 InvalidParameterError naming signal_norm
signal_position >= n_patches                 ValueError naming signal_position
signal_position=True/False                   ValueError naming signal_position (was an
                                             IndexError from numpy)
signal_norm=1e300, noise_std=1e39            ValueError: overflows float32 (X held inf)
signal_norm=1e-43, noise_std=1e-44           ValueError: underflows float32 (the signal lost
                                             its norm, the noise was zero)
0 < noise_std < 1.18e-38 (float32 subnormal) ValueError: underflows float32, naming the
                                             smallest normal value (taken down to 1.4e-42:
                                             noise rounded to multiples of 1.4e-45)
n_patches=1 with noise_std > 0               ValueError "leaves no patch for the noise"
                                             (the noise was dropped without a word)
orthogonal_noise=True, n_classes * rank ==   ValueError "leaves no direction for the noise"
n_features, noise_std > 0                    (the noise was rounding residue, ~1e-16)
n_samples=1                                  one sample
n_samples * n_patches * n_features beyond    ValueError naming them and the GiB needed,
the machine's memory                         before any array is made (numpy's MemoryError
                                             "Unable to allocate 3.55 PiB")
===========================================  ================================================
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.utils import check_random_state

from sklrank import patch_matrix, stable_rank
from sklrank.datasets import _synthetic, make_low_rank_patches


@pytest.mark.parametrize("rank", [1, 2, 5])
def test_clean_patch_matrix_has_rank_2k(rank):
    X, _ = make_low_rank_patches(
        n_samples=300, n_features=32, n_patches=5, rank=rank, random_state=0
    )
    patches = patch_matrix(X, (1, 5, 32), kernel_size=(1, 32))
    assert np.linalg.matrix_rank(patches) == 2 * rank
    assert 1.0 <= stable_rank(patches) <= 2 * rank


@pytest.mark.parametrize("rank", [1, 2, 5])
def test_clean_data_matrix_has_rank_2k_with_fixed_position(rank):
    X, _ = make_low_rank_patches(
        n_samples=300, n_features=32, n_patches=5, rank=rank, signal_position=2, random_state=0
    )
    assert np.linalg.matrix_rank(X) == 2 * rank
    assert 1.0 <= stable_rank(X) <= 2 * rank


def test_clean_data_matrix_with_random_position_has_rank_2k_per_position():
    # each (direction, position) pair is its own direction of R^(P d)
    X, _ = make_low_rank_patches(n_samples=400, n_features=32, n_patches=3, rank=2, random_state=0)
    assert np.linalg.matrix_rank(X) == 2 * 2 * 3


def test_data_stable_rank_grows_monotonically_with_noise():
    grid = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    ranks = [
        stable_rank(make_low_rank_patches(noise_std=s, signal_position=0, random_state=0)[0])
        for s in grid
    ]
    assert np.all(np.diff(ranks) > 0), ranks
    assert ranks[-1] > 10 * ranks[0], ranks


def test_shapes_dtypes_labels_and_basis():
    X, y, basis, basis_classes = make_low_rank_patches(
        n_samples=50, n_features=16, n_patches=3, rank=3, signal_norm=2.0, random_state=1,
        return_basis=True,
    )
    assert X.shape == (50, 48) and X.dtype == np.float32
    assert set(np.unique(y)) == {-1, 1}
    assert basis.shape == (6, 16)
    np.testing.assert_allclose(basis @ basis.T, 4.0 * np.eye(6), atol=1e-10)
    assert list(basis_classes) == [-1, -1, -1, 1, 1, 1]
    # every sample's clean patch is a basis vector of its own class
    patches = X.reshape(50, 3, 16)
    for i in range(50):
        nonzero = [p for p in patches[i] if np.any(p)]
        assert len(nonzero) == 1
        match = np.flatnonzero(np.all(np.isclose(basis, nonzero[0], atol=1e-5), axis=1))
        assert len(match) == 1 and basis_classes[match[0]] == y[i]


def test_orthogonal_noise_is_off_the_signal_span():
    X, _, basis, _ = make_low_rank_patches(
        n_samples=40, n_features=16, n_patches=3, rank=2, noise_std=1.0,
        signal_position=0, orthogonal_noise=True, random_state=0, return_basis=True,
    )
    noise = X.reshape(40, 3, 16)[:, 1:].reshape(-1, 16)
    assert np.abs(noise @ basis.T).max() < 1e-4


def test_multiclass_labels():
    X, y, basis, basis_classes = make_low_rank_patches(
        n_samples=90, n_features=20, rank=2, n_classes=3, random_state=0, return_basis=True
    )
    assert set(np.unique(y)) == {0, 1, 2}
    assert basis.shape == (6, 20) and list(basis_classes) == [0, 0, 1, 1, 2, 2]


def test_same_seed_same_data():
    a = make_low_rank_patches(noise_std=0.3, random_state=7)
    b = make_low_rank_patches(noise_std=0.3, random_state=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 40, "n_features": 64}, "rank"),
        ({"n_patches": 0}, "n_patches"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"signal_position": 9, "n_patches": 4}, "signal_position"),
        ({"signal_norm": 0}, "signal_norm"),
        ({"signal_norm": np.inf}, "signal_norm"),
        ({"noise_std": np.nan}, "noise_std"),
        ({"n_classes": 1}, "n_classes"),
        # True is an Integral: n_samples=True failed in numpy, rank=True ran with rank 1
        ({"n_samples": True}, r"'n_samples' parameter .* Got True"),
        ({"rank": True}, r"'rank' parameter .* Got True"),
        ({"n_patches": True}, r"'n_patches' parameter .* Got True"),
        ({"signal_position": True}, r"'signal_position' parameter .* Got True instead"),
        ({"signal_position": False}, r"'signal_position' parameter .* Got False inst"),
        ({"signal_norm": 1e300}, "signal_norm=1e.300 or noise_std=0.0 overflows float32"),
        ({"noise_std": 1e39}, "noise_std=1e.39 overflows float32"),
        ({"signal_norm": 1e-43}, "signal_norm=1e-43 underflows float32"),
        ({"noise_std": 1e-44}, "noise_std=1e-44 underflows float32"),
        # subnormal noise, rounded to multiples of 1.4e-45 (taken down to 1.4e-42)
        ({"noise_std": 1e-40}, r"noise_std=1e-40 underflows float32 \(smallest normal value "
                               r"1.18e-38\): the noise would be subnormal.* Pass noise_std=0 "
                               r"or noise_std >= 1.18e-38"),
        # (the signal takes the only patch: the noise was dropped without a word)
        ({"n_patches": 1, "noise_std": 0.5}, "noise_std=0.5 with n_patches=1 leaves no patch"),
    ],
)
def test_invalid_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_low_rank_patches(**kwargs)


def test_one_sample_and_extreme_but_representable_scales():
    X, y = make_low_rank_patches(n_samples=1, n_features=8, n_patches=2, random_state=0)
    assert X.shape == (1, 16) and y.shape == (1,)
    for scale in (1e-35, 1e35):
        X, _, basis, _ = make_low_rank_patches(
            n_samples=20, n_features=8, n_patches=2, signal_norm=scale, noise_std=scale / 10,
            signal_position=0, random_state=0, return_basis=True,
        )
        assert np.isfinite(X).all()
        np.testing.assert_allclose(np.linalg.norm(X[:, :8].astype(np.float64), axis=1), scale,
                                   rtol=1e-5)


def test_labels_alone_are_the_generators_and_nested():
    # the sweep checks every seed's classes from the labels alone, before any point
    from sklrank.datasets._synthetic import _low_rank_patch_labels

    for seed in range(5):
        _, y = make_low_rank_patches(30, n_features=16, n_patches=3, rank=3, random_state=seed)
        labels = _low_rank_patch_labels(30, n_features=16, rank=3, random_state=seed)
        np.testing.assert_array_equal(np.array([-1, 1])[labels], y)
        # the first n of a larger draw are those of n (what the sweep's message relies on)
        larger = _low_rank_patch_labels(500, n_features=16, rank=3, random_state=seed)
        np.testing.assert_array_equal(larger[:30], labels)


def _all_at_once(n_samples, n_features, n_patches, rank, noise_std, signal_norm=5.0, *,
                 n_classes=2, signal_position="random", orthogonal_noise=False,
                 random_state=None):
    """make_low_rank_patches as it was: every patch in float64, then one cast to float32."""
    rng = check_random_state(random_state)
    gaussian, labels = _synthetic._draw_basis_and_labels(
        rng, n_samples, n_features, n_classes * rank, n_classes)
    q, _ = np.linalg.qr(gaussian)
    basis = signal_norm * q.T
    direction = labels * rank + rng.randint(rank, size=n_samples)
    if signal_position == "random":
        position = rng.randint(n_patches, size=n_samples)
    else:
        position = np.full(n_samples, signal_position)
    patches = rng.standard_normal((n_samples, n_patches, n_features)) * noise_std
    if orthogonal_noise and noise_std > 0:
        patches -= (patches @ q) @ q.T
    patches[np.arange(n_samples), position] = basis[direction]
    return patches.reshape(n_samples, n_patches * n_features).astype(np.float32)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 300, "n_features": 16, "n_patches": 4, "rank": 2, "noise_std": 0.0},
        {"n_samples": 301, "n_features": 16, "n_patches": 5, "rank": 2, "noise_std": 0.7},
        {"n_samples": 250, "n_features": 20, "n_patches": 3, "rank": 3, "noise_std": 2.0,
         "orthogonal_noise": True, "n_classes": 3, "signal_position": 1},
        {"n_samples": 3, "n_features": 40, "n_patches": 2, "rank": 1, "noise_std": 1.0},
    ],
)
def test_chunks_give_the_data_of_one_draw(kwargs, monkeypatch):
    # X is filled a few samples at a time (here 7) from one stream of draws: bitwise the data
    # of all the patches drawn at once, and the generator left in the same state
    monkeypatch.setattr(_synthetic, "_CHUNK_ENTRIES", 7 * kwargs["n_features"]
                        * kwargs["n_patches"])
    for seed in (0, 1):
        expected = _all_at_once(**kwargs, random_state=seed)
        X, _ = make_low_rank_patches(**kwargs, random_state=seed)
        assert X.dtype == np.float32 and X.tobytes() == expected.tobytes()
    rngs = np.random.RandomState(3), np.random.RandomState(3)
    _all_at_once(**kwargs, random_state=rngs[0])
    make_low_rank_patches(**kwargs, random_state=rngs[1])
    assert rngs[0].standard_normal(5).tobytes() == rngs[1].standard_normal(5).tobytes()


@pytest.mark.parametrize("orthogonal_noise", [False, True])
def test_memory_peak_is_about_the_output(orthogonal_noise, monkeypatch):
    # the float64 patches were built whole and cast to float32: a peak of 3.3 (4.1 with
    # orthogonal noise) times the size of X; now X and a chunk's float64 patches (here 100
    # samples: 0.4 MB, and the product of their noise and noise_std)
    monkeypatch.setattr(_synthetic, "_CHUNK_ENTRIES", 100 * 512, raising=False)
    kwargs = {"n_samples": 5000, "n_features": 64, "n_patches": 8, "noise_std": 1.0,
              "orthogonal_noise": orthogonal_noise, "random_state": 0}
    tracemalloc.start()
    try:
        X, _ = make_low_rank_patches(**kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.nbytes == 5000 * 512 * 4
    assert peak < 1.5 * X.nbytes, peak / X.nbytes


def test_sizes_beyond_the_memory_name_the_parameters(monkeypatch):
    # numpy's MemoryError "Unable to allocate 3.55 PiB for an array with shape (1000000,
    # 1000000000)" named no parameter
    with pytest.raises(ValueError, match=(
            r"make_low_rank_patches needs about .* GiB of memory \(X holds n_samples \* "
            r"n_patches \* n_features = 1000000 \* 10000 \* 100000 = 1000000000000000 "
            r"float32 values\), more than the .* GiB of this machine; lower n_samples, "
            r"n_patches or n_features\.")):
        make_low_rank_patches(n_samples=10**6, n_features=10**5, n_patches=10**4)
    # compared with the machine's memory (here 1 MiB) before anything is drawn
    import os

    pages = {"SC_PHYS_PAGES": 256, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    with pytest.raises(ValueError, match="more than the 0.000977 GiB of this machine"):
        make_low_rank_patches(n_samples=1000, n_features=64, n_patches=8)
    assert make_low_rank_patches(n_samples=100, n_features=64, n_patches=8)[0].shape == (
        100, 512)


def test_orthogonal_noise_needs_a_direction_off_the_signal():
    # the signal directions spanned R^n_features: the projected noise was rounding residue
    # (about 1e-16), not noise of noise_std=1
    with pytest.raises(ValueError, match=(
            r"orthogonal_noise=True with n_classes \* rank = 2 \* 2 = n_features=4 leaves "
            r"no direction for the noise .* Raise n_features, lower rank, or pass "
            r"orthogonal_noise=False\.")):
        make_low_rank_patches(20, n_features=4, n_patches=3, rank=2, noise_std=1.0,
                              orthogonal_noise=True, random_state=0)
    # the clean data, and one direction to spare, are fine
    make_low_rank_patches(20, n_features=4, n_patches=3, rank=2, orthogonal_noise=True)
    X, _ = make_low_rank_patches(20, n_features=5, n_patches=3, rank=2, noise_std=1.0,
                                 orthogonal_noise=True, random_state=0)
    assert np.sort(np.abs(X), axis=1)[:, -3].min() > 1e-3  # noise beside the signal patch
