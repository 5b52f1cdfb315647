"""PCARankReducer, BackgroundNoise and make_rank_pipeline.

Bad or unusual inputs and their answers:

===================================================  ==========================================
input                                                answer
===================================================  ==========================================
uint8 / int images (both transformers)               read as float (PCARankReducer: float64,
                                                     BackgroundNoise: float32)
NaN / inf in X, empty X, 1-D X                       scikit-learn's validate_data error
X with other n_features at transform                 ValueError naming the features
pandas X, ``set_output(transform="pandas")``         DataFrame out with feature names
PCARankReducer n_components > min(n, d), 0          ValueError naming n_components
PCARankReducer n_components=True, n_iter=True        InvalidParameterError naming it (ran as 1)
PCARankReducer on one feature, center=False          ValueError naming n_features and the fix
                                                     (was TruncatedSVD's error)
PCARankReducer on zero-variance data (one sample,    fitted; explained_variance_ratio_ NaN (0 / 0,
identical rows)                                      as scikit-learn's PCA) with one warning
                                                     saying why (was numpy's "invalid value
                                                     encountered in divide"; arpack gave inf)
PCARankReducer(svd_solver="arpack") on identical     ValueError naming svd_solver and the fix
rows with center=True, or rows all zero              (was ARPACK's "Starting vector is zero")
PCARankReducer on X * 1e200, X * 1e-200 (float64),   exact power-of-two rescaling: the same
X * 1e-30 (float32)                                  output up to the scale and a finite
                                                     explained_variance_ratio_ (was NaN with
                                                     overflow/underflow RuntimeWarnings)
BackgroundNoise noise_std < 0, NaN, inf              InvalidParameterError naming noise_std
BackgroundNoise noise overflowing the dtype          ValueError naming noise_std and the fix
(noise_std=1e39 on float32, 1e308 on float64)        (the output held inf; on float64 X it
                                                     advised passing float64 X)
BackgroundNoise noise_std in the dtype's subnormal   ValueError naming noise_std and the
range (1e-42 on float32), at fit and transform      smallest normal value (the noise was
                                                     rounded to a few multiples of 1.4e-45)
BackgroundNoise on X holding NaN under scikit-       ValueError naming X and assume_finite (was
learn's assume_finite=True                           "noise_std=1.0 overflows float32")
BackgroundNoise position=(0.7, 0), position=True     ValueError naming position (were read as
                                                     tile (0, 0) and tile 1)
BackgroundNoise image_shape (1, 4.0, 4) or not       ValueError naming image_shape
matching n_features; grid=(0, 2) or True
BackgroundNoise set_params(mode=...) after fit,      transform keeps the fitted geometry until
no refit                                             the next fit, as grid does (was: fitted
                                                     "additive" then "pad" returned X itself)
BackgroundNoise / make_rank_pipeline grid=(1, 1)     ValueError naming grid (the output was the
(or 1) in mode "pad"                                 input: no tile for the noise)
make_rank_pipeline bad grid, mode, noise_std,        ValueError naming the parameter at once
position, n_components                               (were found at the first fit, or never:
                                                     grid=(0, 2) gave input_shape (1, 0, 8))
make_rank_pipeline n_components above the pixels     ValueError naming n_components at once
of one image                                         (was found at the first fit)
BackgroundNoise / make_rank_pipeline grid,          taken, as image_shape is (were refused:
position as numpy arrays (np.array([1, 0]))          "must be an instance of 'tuple'")
BackgroundNoise canvases beyond the machine's        ValueError naming grid, the samples and
memory (grid=(10**6, 10**6)), and their feature     the GiB needed, before the canvas is made
names                                                (numpy's "Unable to allocate 146 TiB")
===================================================  ==========================================
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.utils import get_tags

from sklrank import BackgroundNoise, PCARankReducer, make_rank_pipeline
from sklrank.datasets import make_low_rank_patches


def _data(n=40, d=30, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


# --------------------------------------------------------------------------- PCARankReducer


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_reducer_exact_rank_and_dtype(k, dtype):
    X = _data(dtype=dtype)
    Xr = PCARankReducer(k, random_state=0).fit_transform(X)
    assert Xr.shape == X.shape
    assert Xr.dtype == dtype
    s = np.linalg.svd(Xr.astype(np.float64), compute_uv=False)
    # exactly k nonzero singular values: a clear gap after the k-th
    assert s[k - 1] > 1e-2 * s[0]
    assert s[k:].max(initial=0.0) < 1e-5 * s[0]
    assert np.linalg.matrix_rank(Xr) == k


def test_rank_reducer_is_a_projection_on_the_top_subspace():
    rng = np.random.default_rng(1)
    # data of rank 3 plus a little noise: the rank-3 reduction recovers the clean data
    clean = (rng.standard_normal((50, 3)) @ rng.standard_normal((3, 20))).astype(np.float32)
    X = clean + 1e-3 * rng.standard_normal(clean.shape).astype(np.float32)
    red = PCARankReducer(3, random_state=0).fit(X)
    Xr = red.transform(X)
    np.testing.assert_allclose(Xr, clean, atol=5e-3)
    # projecting twice changes nothing, and the components are orthonormal
    np.testing.assert_allclose(red.transform(Xr), Xr, atol=1e-4)
    np.testing.assert_allclose(red.components_ @ red.components_.T, np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(red.mean_, 0.0)
    # the best rank-3 approximation (Eckart-Young) of X, up to the solver's accuracy
    u, s, vt = np.linalg.svd(X.astype(np.float64), full_matrices=False)
    best = (u[:, :3] * s[:3]) @ vt[:3]
    np.testing.assert_allclose(Xr, best, atol=1e-3)


def test_rank_reducer_centered_matches_pca_and_has_rank_k_plus_one():
    X = _data() + 3.0  # a large mean, so that it adds a direction
    red = PCARankReducer(4, center=True, random_state=0).fit(X)
    Xr = red.transform(X)
    pca = PCA(4, svd_solver="full").fit(X)
    np.testing.assert_allclose(Xr, pca.inverse_transform(pca.transform(X)), atol=1e-3)
    np.testing.assert_allclose(red.mean_, X.mean(axis=0), rtol=1e-5)
    assert np.linalg.matrix_rank(Xr) == 5


def test_rank_reducer_none_keeps_everything():
    X = _data(n=12, d=30)
    red = PCARankReducer(None, random_state=0).fit(X)
    assert red.n_components_ == 12
    np.testing.assert_allclose(red.transform(X), X, atol=1e-4)


def test_rank_reducer_too_many_components():
    X = _data(n=10, d=30)
    with pytest.raises(ValueError, match=r"n_components=11 .*min\(n_samples, n_features\)=10"):
        PCARankReducer(11).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        PCARankReducer(31).fit(_data(n=40, d=30))
    with pytest.raises(ValueError, match="n_components"):
        PCARankReducer(0).fit(X)
    with pytest.raises(ValueError, match="arpack"):
        PCARankReducer(10, svd_solver="arpack").fit(X)


@pytest.mark.parametrize("n_components", [1, None])
def test_rank_reducer_one_feature(n_components):
    # n_components=1 <= min(n_samples, n_features) is documented as valid; without centring
    # the error was TruncatedSVD's ("a minimum of 2 is required by TruncatedSVD"), naming
    # neither this estimator nor a fix. Centred, one feature works (PCA accepts it).
    X = _data(n=20, d=1, dtype=np.float64)
    with pytest.raises(ValueError, match=r"PCARankReducer.*n_features=1.*center=True"):
        PCARankReducer(n_components, random_state=0).fit(X)
    red = PCARankReducer(n_components, center=True, random_state=0).fit(X)
    np.testing.assert_allclose(red.transform(X), X, atol=1e-12)


_ZERO_VARIANCE = {
    "one sample": np.arange(6.0).reshape(1, 6),
    "identical rows": np.tile(np.arange(1.0, 7.0), (5, 1)),
    "identical float32 rows of 0.1": np.full((5, 6), 0.1, dtype=np.float32),
    "zeros": np.zeros((5, 6)),
}


@pytest.mark.parametrize("solver", ["auto", "randomized", "arpack"])
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("data", list(_ZERO_VARIANCE))
def test_rank_reducer_on_zero_variance(data, center, solver):
    # explained_variance_ratio_ is 0 / 0: NaN, as scikit-learn's PCA gives, with one warning
    # saying why (numpy's "invalid value encountered in divide"; arpack gave inf, or failed
    # with ARPACK's "Starting vector is zero")
    X = _ZERO_VARIANCE[data]
    reducer = PCARankReducer(1, center=center, svd_solver=solver, random_state=0)
    if solver == "arpack" and len(X) == 1:
        return  # (n_components < 1 sample: refused, test_rank_reducer_too_many_components)
    if solver == "arpack" and (center or not X.any()):
        with pytest.raises(ValueError, match=(
                r"svd_solver='arpack' cannot decompose these training data: their 5 rows are "
                r"identical and .*all zero.*Use svd_solver='auto'")):
            reducer.fit(X)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reducer.fit(X)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert caught[0].category is RuntimeWarning
    assert str(caught[0].message).startswith(
        "PCARankReducer was fitted on data of zero variance ("
        + ("one sample" if len(X) == 1 else "5 identical rows")
        + "): explained_variance_ratio_ is 0 / 0, set to NaN")
    assert np.isnan(reducer.explained_variance_ratio_).all()
    assert reducer.explained_variance_ratio_.shape == (1,)
    # the transform is still the projection: the training rows are rank one (zero centred)
    np.testing.assert_allclose(reducer.transform(X), X, atol=1e-6)


def test_rank_reducer_zero_variance_ratio_is_sklearn_s():
    X = _ZERO_VARIANCE["identical rows"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = PCA(1).fit(X).explained_variance_ratio_
        got = PCARankReducer(1, center=True).fit(X).explained_variance_ratio_
    np.testing.assert_array_equal(got, expected)  # both NaN


def test_rank_reducer_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(d=5), columns=[f"px{i}" for i in range(5)])
    red = PCARankReducer(2, random_state=0).set_output(transform="pandas").fit(X)
    out = red.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(X.columns)
    assert list(red.get_feature_names_out()) == list(X.columns)


def test_rank_reducer_transform_checks_n_features():
    red = PCARankReducer(2, random_state=0).fit(_data())
    with pytest.raises(ValueError, match="features"):
        red.transform(_data(d=29))


# --------------------------------------------------------------------------- BackgroundNoise


def _tiles(out, image_shape, grid):
    """(n, gh, gw, C, H, W) view of flattened canvases."""
    c, h, w = image_shape
    gh, gw = grid
    return out.reshape(len(out), c, gh, h, gw, w).transpose(0, 2, 4, 1, 3, 5)


@pytest.mark.parametrize("position, tile", [(3, (1, 0)), ((0, 2), (0, 2)), (0, (0, 0))])
def test_pad_fixed_position(position, tile):
    image_shape, grid = (2, 3, 4), (2, 3)
    X = _data(n=500, d=24) + 10.0  # images far from the noise, to spot them
    noise = BackgroundNoise(0.7, image_shape, grid=grid, position=position, random_state=0)
    out = noise.fit_transform(X)
    assert noise.output_image_shape_ == (2, 6, 12)
    assert out.shape == (500, 2 * 6 * 12)
    assert out.dtype == np.float32
    tiles = _tiles(out, image_shape, grid)
    np.testing.assert_array_equal(tiles[:, tile[0], tile[1]].reshape(500, -1), X)
    mask = np.ones(grid, dtype=bool)
    mask[tile] = False
    background = tiles[:, mask]
    assert background.size == 500 * 5 * 24
    # i.i.d. N(0, 0.7^2): the standard error of these estimates is about 0.002
    assert abs(background.mean()) < 0.01
    assert abs(background.std() - 0.7) < 0.01


def test_pad_random_position_uses_every_tile_once_per_sample():
    image_shape, grid = (1, 2, 2), (2, 2)
    X = _data(n=400, d=4) + 50.0
    out = BackgroundNoise(1.0, image_shape, random_state=0).fit_transform(X)
    tiles = _tiles(out, image_shape, grid).reshape(400, 4, 4)
    is_image = np.all(tiles == X[:, None, :], axis=2)  # (n, tile)
    np.testing.assert_array_equal(is_image.sum(axis=1), 1)
    counts = is_image.sum(axis=0)
    assert counts.min() > 60  # uniform over 4 tiles: about 100 each
    # the other tiles are noise, far below the images
    assert np.abs(tiles[~is_image]).max() < 10


def test_additive_mode():
    X = _data(n=300, d=36, dtype=np.float64)
    noise = BackgroundNoise(0.3, (1, 6, 6), mode="additive", grid=(3, 3), random_state=0)
    out = noise.fit_transform(X)
    assert noise.output_image_shape_ == (1, 6, 6)
    assert out.shape == X.shape and out.dtype == np.float64
    diff = out - X
    assert abs(diff.mean()) < 0.01
    assert abs(diff.std() - 0.3) < 0.01
    assert list(noise.get_feature_names_out()) == [f"x{i}" for i in range(36)]


@pytest.mark.parametrize("mode", ["pad", "additive"])
def test_zero_noise_is_clean(mode):
    X = _data(n=20, d=16)
    out = BackgroundNoise(0.0, (1, 4, 4), mode=mode, position=1).fit_transform(X)
    if mode == "additive":
        np.testing.assert_array_equal(out, X)
    else:
        tiles = _tiles(out, (1, 4, 4), (2, 2)).reshape(20, 4, 16)
        np.testing.assert_array_equal(tiles[:, 1], X)
        np.testing.assert_array_equal(tiles[:, [0, 2, 3]], 0.0)


def test_noise_is_drawn_at_transform_time_and_reproducible():
    X = _data(n=10, d=16)
    noise = BackgroundNoise(1.0, (1, 4, 4), random_state=42).fit(X)
    first, second = noise.transform(X), noise.transform(X)
    assert not np.array_equal(first, second)  # fresh noise at each call
    noise.fit(X)  # refit: the generator starts over
    np.testing.assert_array_equal(noise.transform(X), first)
    other = BackgroundNoise(1.0, (1, 4, 4), random_state=42).fit(X)
    np.testing.assert_array_equal(other.transform(X), first)
    assert not np.array_equal(BackgroundNoise(1.0, (1, 4, 4), random_state=1).fit_transform(X),
                              first)
    assert get_tags(noise).non_deterministic


def test_default_image_shape_is_a_row():
    X = _data(n=5, d=7)
    noise = BackgroundNoise(1.0, grid=(1, 3), position=2).fit(X)
    assert noise.image_shape_ == (1, 1, 7)
    assert noise.output_image_shape_ == (1, 1, 21)
    np.testing.assert_array_equal(noise.transform(X)[:, 14:], X)


def test_noise_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(n=6, d=4), columns=list("abcd"))
    noise = BackgroundNoise(1.0, (1, 2, 2), random_state=0).set_output(transform="pandas")
    out = noise.fit_transform(X)
    names = noise.get_feature_names_out()
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(names)
    assert len(names) == 16 == len(set(names))
    assert names[0] == "backgroundnoise_c0_r0_c0" and names[-1] == "backgroundnoise_c0_r3_c3"
    with pytest.raises(ValueError):
        noise.get_feature_names_out(["w", "x", "y", "z"])  # not the names seen in fit


@pytest.mark.parametrize(("fitted", "changed"), [("additive", "pad"), ("pad", "additive")])
def test_noise_transform_follows_the_fitted_mode(fitted, changed):
    # mode was read at transform while the geometry came from fit: fitted "additive" then
    # set_params(mode="pad") returned X itself (no noise, one tile), and the reverse gave
    # outputs of another width than output_image_shape_ and the cnn's input_shape.
    X = _data(n=6, d=16)
    noise = BackgroundNoise(1.0, (1, 4, 4), mode=fitted, random_state=0).fit(X)
    expected = BackgroundNoise(1.0, (1, 4, 4), mode=fitted, random_state=0).fit(X).transform(X)
    noise.set_params(mode=changed)  # takes effect at the next fit, as grid and position do
    out = noise.transform(X)
    assert out.shape[1] == np.prod(noise.output_image_shape_) == expected.shape[1]
    assert len(noise.get_feature_names_out()) == out.shape[1]
    np.testing.assert_array_equal(out, expected)
    assert noise.fit(X).transform(X).shape[1] == np.prod(noise.output_image_shape_)
    assert noise.output_image_shape_ != BackgroundNoise(1.0, (1, 4, 4), mode=fitted).fit(
        X).output_image_shape_


def test_noise_bad_input():
    X = _data(n=5, d=16)
    with pytest.raises(ValueError, match="noise_std"):
        BackgroundNoise(-0.1, (1, 4, 4)).fit(X)
    with pytest.raises(ValueError, match=r"image_shape=\(1, 4, 5\) has 20 pixels .* 16 features"):
        BackgroundNoise(1.0, (1, 4, 5)).fit(X)
    with pytest.raises(ValueError, match="image_shape must be"):
        BackgroundNoise(1.0, (4, 4)).fit(X)
    with pytest.raises(ValueError, match="position=4"):
        BackgroundNoise(1.0, (1, 4, 4), position=4).fit(X)
    with pytest.raises(ValueError, match=r"position=\(2, 0\)"):
        BackgroundNoise(1.0, (1, 4, 4), position=(2, 0)).fit(X)
    with pytest.raises(ValueError, match="grid"):
        BackgroundNoise(1.0, (1, 4, 4), grid=(0, 2)).fit(X)
    with pytest.raises(ValueError, match="mode"):
        BackgroundNoise(1.0, (1, 4, 4), mode="multiplicative").fit(X)
    noise = BackgroundNoise(1.0, (1, 4, 4)).fit(X)
    with pytest.raises(ValueError, match="features"):
        noise.transform(_data(n=5, d=20))


# --------------------------------------------------------------------------- make_rank_pipeline


@pytest.mark.parametrize("grid", [1, (1, 1)])
@pytest.mark.parametrize("noise_std", [0.0, 0.5])
def test_one_tile_leaves_no_room_for_the_noise(grid, noise_std):
    # the output was the input, silently: no tile besides the image's (refused at any
    # noise level: a search over noise_std would fail at its nonzero values only)
    X = np.random.default_rng(0).random((6, 16), dtype=np.float32)
    with pytest.raises(ValueError, match=r"grid=\(1, 1\) leaves no tile for the noise"):
        BackgroundNoise(noise_std, (1, 4, 4), grid=grid).fit(X)
    with pytest.raises(ValueError, match=r"leaves no tile for the noise"):
        make_rank_pipeline((1, 4, 4), noise_std=noise_std, grid=grid)  # at construction
    assert BackgroundNoise(noise_std, (1, 4, 4), grid=grid, mode="additive").fit(X)


def test_make_rank_pipeline_shapes():
    pipe = make_rank_pipeline((3, 5, 7), n_components=4, noise_std=0.5, grid=(1, 3),
                              random_state=0, n_filters=2)
    assert [name for name, _ in pipe.steps] == ["rank", "noise", "cnn"]
    assert pipe["cnn"].input_shape == (3, 5, 21)
    assert pipe["cnn"].kernel_size == (5, 7)
    assert pipe["cnn"].n_filters == 2
    assert pipe["rank"].n_components == 4
    additive = make_rank_pipeline((1, 6, 6), mode="additive")
    assert additive["rank"] == "passthrough"
    assert additive["cnn"].input_shape == (1, 6, 6)
    with pytest.raises(TypeError, match="input_shape"):
        make_rank_pipeline((1, 6, 6), input_shape=(1, 12, 12))
    with pytest.raises(ValueError, match="image_shape"):
        make_rank_pipeline((6, 6))


def test_make_rank_pipeline_fits_and_searches_noise_levels():
    rng = np.random.default_rng(0)
    n, image_shape = 60, (1, 4, 4)
    y = np.repeat([0, 1], n // 2)
    # two classes: two fixed images, scaled; PCA rank 2 keeps them
    protos = rng.standard_normal((2, 16)).astype(np.float32) * 2
    X = protos[y] * rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    pipe = make_rank_pipeline(image_shape, n_components=2, random_state=0, n_filters=2,
                              max_epochs=30)
    search = GridSearchCV(pipe, {"noise__noise_std": [0.0, 1.0]}, cv=2, error_score="raise")
    search.fit(X, y)
    best = search.best_estimator_
    assert best["cnn"].input_shape_ == (1, 8, 8)
    assert best["cnn"].filters_.shape == (4, 16)
    assert best.predict(X).shape == (n,)
    assert best["noise"].transform(best["rank"].transform(X)).dtype == np.float32


def test_rank_reducer_auto_is_bitwise_reproducible():
    # Data of rank <= 16 with n_components=16: ARPACK would restart its Lanczos run from its own
    # process-wide random state, so two fits with the same random_state differed in the last
    # bits (and a Dask worker differed from the local process). "auto" is fully seeded.
    X, _ = make_low_rank_patches(n_samples=40, n_features=16, n_patches=4, random_state=0)
    fits = [PCARankReducer(16, random_state=0).fit(X) for _ in range(4)]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.components_, fits[0].components_)
        np.testing.assert_array_equal(fit.transform(X), fits[0].transform(X))
    # and exact: the data lie in the kept subspace, so the projection gives them back
    assert np.linalg.matrix_rank(X) <= 16
    np.testing.assert_allclose(fits[0].transform(X), X, atol=1e-4)


# --------------------------------------------------------------------------- hostile inputs


def test_integer_images_are_accepted():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(30, 16), dtype=np.uint8)
    Xr = PCARankReducer(3, random_state=0).fit_transform(X)
    assert Xr.dtype == np.float64
    np.testing.assert_allclose(
        Xr, PCARankReducer(3, random_state=0).fit_transform(X.astype(np.float64))
    )
    out = BackgroundNoise(0.0, (1, 4, 4), position=0).fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(_tiles(out, (1, 4, 4), (2, 2))[:, 0, 0].reshape(30, 16), X)


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300])
@pytest.mark.parametrize("center", [False, True])
def test_rank_reducer_extreme_scales(scale, center):
    X = _data(n=30, d=12, dtype=np.float64)
    ref = PCARankReducer(3, center=center, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value RuntimeWarning
        red = PCARankReducer(3, center=center, random_state=0).fit(X * scale)
        out = red.transform(X * scale)
    assert red.scale_ != 1.0 and ref.scale_ == 1.0
    np.testing.assert_allclose(red.explained_variance_ratio_, ref.explained_variance_ratio_,
                               rtol=1e-10)
    np.testing.assert_allclose(out / scale, ref.transform(X), atol=1e-12)
    np.testing.assert_allclose(red.mean_ / scale, ref.mean_, atol=1e-12)


def test_rank_reducer_tiny_float32():
    X = _data(n=30, d=12)
    ref = PCARankReducer(3, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        red = PCARankReducer(3, random_state=0).fit(X * np.float32(1e-30))
        out = red.transform(X * np.float32(1e-30))
    assert out.dtype == np.float32
    np.testing.assert_allclose(red.explained_variance_ratio_, ref.explained_variance_ratio_,
                               rtol=1e-4)
    np.testing.assert_allclose(out / np.float32(1e-30), ref.transform(X), atol=1e-4)


def test_noise_overflow_is_an_error():
    X = _data(n=4, d=16)
    for mode in ("pad", "additive"):
        noise = BackgroundNoise(1e39, (1, 4, 4), mode=mode, random_state=0).fit(X)
        with pytest.raises(ValueError, match=r"noise_std=1e\+39 overflows float32"):
            noise.transform(X)
        # float64 holds it
        assert np.isfinite(noise.transform(X.astype(np.float64))).all()
        # float64 X that overflows: no advice to pass float64 X (it said so)
        noise = BackgroundNoise(1e308, (1, 4, 4), mode=mode, random_state=0).fit(X)
        with pytest.raises(ValueError, match=r"overflows float64 .*Lower noise_std \(or "
                                             r"rescale X\)\.$"):
            noise.transform(X.astype(np.float64))


@pytest.mark.parametrize("mode", ["pad", "additive"])
def test_noise_std_in_the_subnormal_range_is_an_error(mode):
    # float32 noise of std 1e-44 was rounded to multiples of 1.4e-45: a handful of values
    X = _data(n=4, d=16)
    match = (r"noise_std=1e-44 underflows float32 \(smallest normal value 1.18e-38\): the "
             r"noise would be subnormal, .* Pass noise_std=0 or noise_std >= 1.18e-38 "
             r"\(rescale X and noise_std together\), or pass float64 X\.")
    with pytest.raises(ValueError, match=match):
        BackgroundNoise(1e-44, (1, 4, 4), mode=mode).fit(X)
    with pytest.raises(ValueError, match="noise_std=1e-42 underflows float32"):
        BackgroundNoise(1e-42, (1, 4, 4), mode=mode).fit(X)
    # float64 X holds it; float32 X at transform does not
    noise = BackgroundNoise(1e-44, (1, 4, 4), mode=mode, random_state=0).fit(
        X.astype(np.float64))
    assert np.unique(noise.transform(np.zeros((4, 16)))).size > 16
    with pytest.raises(ValueError, match="noise_std=1e-44 underflows float32"):
        noise.transform(X)
    # nor a noise_std set after fit
    noise = BackgroundNoise(1.0, (1, 4, 4), mode=mode, random_state=0).fit(X)
    with pytest.raises(ValueError, match="noise_std=1e-40 underflows float32"):
        noise.set_params(noise_std=1e-40).transform(X)
    with pytest.raises(ValueError, match=r"noise_std=1e-310 underflows float64 .*together\)\.$"):
        BackgroundNoise(1e-310, (1, 4, 4), mode=mode).fit(X.astype(np.float64))
    # the smallest normal value and 0 are taken
    tiny = float(np.finfo(np.float32).tiny)
    out = BackgroundNoise(tiny, (1, 4, 4), mode=mode, random_state=0).fit_transform(0 * X)
    assert np.all(np.isfinite(out)) and np.unique(out).size > 16
    BackgroundNoise(0.0, (1, 4, 4), mode=mode).fit_transform(X)


def test_noise_canvases_beyond_the_memory_name_grid(monkeypatch):
    # numpy's MemoryError "Unable to allocate 146. TiB for an array with shape (10, 1,
    # 1000000, 4000000)" named neither grid nor the samples
    X = _data(n=10, d=4)
    noise = BackgroundNoise(1.0, grid=(10**6, 10**6), random_state=0).fit(X)
    with pytest.raises(ValueError, match=(
            r"BackgroundNoise\(grid=\(1000000, 1000000\)\).transform needs about .* GiB of "
            r"memory \(X_noisy holds n_samples=10 canvases of 1 x 1000000 x 4000000 float32 "
            r"pixels\), more than the .* GiB of this machine; lower grid, or transform fewer "
            r"samples at a time\.")):
        noise.transform(X)
    # one name a canvas pixel: about 150 bytes each
    with pytest.raises(ValueError, match=(
            r"get_feature_names_out needs about .* GiB of memory \(one name for each of the "
            r"1 x 1000000 x 4000000 pixels of a canvas\), .*; lower grid\.")):
        noise.get_feature_names_out()
    import os

    pages = {"SC_PHYS_PAGES": 256, "SC_PAGE_SIZE": 4096}  # a machine of 1 MiB
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    noise = BackgroundNoise(1.0, grid=(128, 128), random_state=0).fit(X)
    with pytest.raises(ValueError, match="more than the 0.000977 GiB of this machine"):
        noise.transform(X)
    assert noise.transform(X[:1]).shape == (1, 128 * 128 * 4)
    # additive noise makes an array of X's size only
    additive = BackgroundNoise(1.0, mode="additive", random_state=0).fit(X)
    assert additive.transform(X).shape == X.shape


def test_noise_on_nan_under_assume_finite_names_x():
    # assume_finite=True skips transform's check of X: NaN pixels were reported as an
    # overflow of noise_std
    X = _data(n=4, d=16)
    X[1, 2] = np.nan
    for mode in ("pad", "additive"):
        noise = BackgroundNoise(1.0, (1, 4, 4), mode=mode, random_state=0).fit(X[[0]])
        with (sklearn.config_context(assume_finite=True),
              pytest.raises(ValueError, match="Input X contains NaN.*assume_finite")):
            noise.transform(X)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"position": (0.7, 0)}, r"position=\(0.7, 0\) is not a \(row, column\) tile"),
        ({"position": (1, 1.0)}, "position="),
        ({"position": True}, r"'position' parameter of BackgroundNoise .* Got True"),
        ({"position": "centre"}, "position"),
        ({"grid": True}, r"'grid' parameter of BackgroundNoise .* Got True"),
        ({"grid": (2.0, 2)}, "grid must be"),
        ({"image_shape": (1, 4.0, 4)}, "image_shape must be"),
    ],
)
def test_noise_refuses_fractional_and_boolean_geometry(params, match):
    params = {"noise_std": 1.0, "image_shape": (1, 4, 4), **params}
    with pytest.raises(ValueError, match=match):
        BackgroundNoise(**params).fit(_data(n=5, d=16))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"grid": (0, 2)}, "grid"),
        ({"grid": "ab"}, "grid"),
        ({"mode": "multiplicative"}, "mode"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"position": 4}, "position=4"),
        ({"position": (0.5, 0)}, "position"),
        ({"n_components": 0}, "n_components"),
        # more than the 16 pixels of an image: no training set can have that rank
        ({"n_components": 17}, r"n_components=17 .*16 pixels"),
        ({"n_components": True}, r"'n_components' parameter .* Got True"),
    ],
)
def test_make_rank_pipeline_checks_its_parameters_at_once(params, match):
    with pytest.raises(ValueError, match=match):
        make_rank_pipeline((1, 4, 4), **params)


@pytest.mark.parametrize("param", ["n_components", "n_iter"])
def test_reducer_refuses_booleans_as_counts(param):
    # True is an Integral: n_components=True ran as rank 1, n_iter=True as one iteration
    with pytest.raises(ValueError, match=rf"'{param}' parameter of PCARankReducer .* Got True"):
        PCARankReducer(**{param: True}).fit(_data())


def test_noise_takes_geometry_as_arrays_of_ints():
    # image_shape was taken as an array, grid and position were refused ("an instance of
    # 'tuple' or an instance of 'list'"), and so by make_rank_pipeline
    X = _data(n=20, d=24)
    as_tuples = dict(image_shape=(2, 3, 4), grid=(2, 3), position=(1, 2))
    as_arrays = {k: np.array(v) for k, v in as_tuples.items()}
    expected = BackgroundNoise(0.5, **as_tuples, random_state=0).fit_transform(X)
    noise = BackgroundNoise(0.5, **as_arrays, random_state=0)
    np.testing.assert_array_equal(noise.fit_transform(X), expected)
    assert (noise.grid_, noise.output_image_shape_) == ((2, 3), (2, 6, 12))
    assert noise.get_params()["grid"] is as_arrays["grid"]  # stored as given
    pipe = make_rank_pipeline(**as_arrays, noise_std=0.5, random_state=0,
                              stride=np.array([3, 4]), max_epochs=1)
    assert pipe["cnn"].input_shape == (2, 6, 12) and pipe["cnn"].kernel_size == (3, 4)
    pipe.fit(X, np.arange(20) % 2)
    assert pipe["cnn"].stride_ == (3, 4)
    with pytest.raises(ValueError, match="grid must be"):
        BackgroundNoise(0.5, (2, 3, 4), grid=np.array([2.0, 3.0])).fit(X)


def test_make_rank_pipeline_geometry_matches_the_noise_step():
    pipe = make_rank_pipeline((2, 3, 5), grid=3, position=(2, 1))
    assert pipe["cnn"].input_shape == (2, 9, 15) and pipe["cnn"].kernel_size == (3, 5)
    X = _data(n=4, d=30)
    assert pipe["noise"].fit(X).output_image_shape_ == pipe["cnn"].input_shape
