"""Tests of the MNIST and CIFAR-10 loaders (real files when present, small files otherwise)."""

import codecs
import gzip
import hashlib
import io
import os
import pickle
import struct
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest

from sklrank.datasets import DataFileError, _loaders, get_data_home, load_cifar10, load_mnist

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_SUBSET_TRAIN_COUNTS = [103, 113, 102, 94, 103, 86, 109, 102, 101, 104]
CIFAR_SUBSET_TEST_COUNTS = [105, 93, 100, 104, 92, 87, 114, 102, 110, 110]


# ----------------------------------------------------------------------------- helpers


def _idx_bytes(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def _write_mnist(folder, n_train=12, n_test=7, gz=True, seed=0):
    """Small MNIST-format files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        arrays[part] = (images, labels)
        for kind, arr, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            raw = _idx_bytes(arr, magic)
            name = f"{part}-{kind}-ubyte"
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return arrays


def _write_cifar_batches(folder, n_per_batch=4, seed=0, with_meta=True):
    """Small files in the official python-batch format (protocol 2, bytes keys)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n_per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[name] = (data, labels)
    if with_meta:
        meta = {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [n.encode() for n in _loaders._CIFAR_LABEL_NAMES],
            b"num_vis": 3072,
        }
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump(meta, f, protocol=2)
    return written


def _py2_batch_pickle(data, labels):
    """The bytes of a batch pickled as Python 2 did it (the official files): protocol 2 with
    byte strings as BINSTRING opcodes and the array under its numpy 1 name ``numpy.core``."""

    def string(b):
        if len(b) < 256:
            return b"U" + bytes([len(b)]) + b
        return b"T" + struct.pack("<i", len(b)) + b

    def integer(v):
        return b"J" + struct.pack("<i", int(v))

    parts = [b"\x80\x02}(", string(b"batch_label"), string(b"training batch 1 of 5")]
    parts += [string(b"labels"), b"]("] + [integer(v) for v in labels] + [b"e"]
    parts += [
        string(b"data"),
        b"cnumpy.core.multiarray\n_reconstruct\n",
        b"cnumpy\nndarray\n",
        b"K\x00\x85",
        string(b"b"),
        b"\x87R(K\x01",
        integer(data.shape[0]),
        integer(data.shape[1]),
        b"\x86cnumpy\ndtype\n",
        string(b"u1"),
        b"K\x00K\x01\x87R(K\x03",
        string(b"|"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89",
        string(data.tobytes()),
        b"tbu.",
    ]
    return b"".join(parts)


@pytest.fixture
def no_network(monkeypatch):
    """Every URL fails as it does on a machine without network."""

    def fail(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


# ----------------------------------------------------------------------------- real MNIST


@pytest.mark.parametrize(
    ("subset", "n", "counts"),
    [("train", 60000, MNIST_TRAIN_COUNTS), ("test", 10000, MNIST_TEST_COUNTS)],
)
def test_real_mnist_counts(mnist_dir, subset, n, counts):
    bunch = load_mnist(mnist_dir, subset=subset, download_if_missing=False)
    assert bunch.data.shape == (n, 784)
    assert bunch.images.shape == (n, 28, 28)
    assert bunch.data.dtype == np.float32
    assert bunch.target.dtype == np.int64
    assert np.bincount(bunch.target, minlength=10).tolist() == counts
    assert bunch.data.min() >= 0.0 and bunch.data.max() == 1.0
    np.testing.assert_array_equal(bunch.images[5], bunch.data[5].reshape(28, 28))
    assert list(bunch.target_names) == [str(d) for d in range(10)]
    assert len(bunch.feature_names) == 784 and "MNIST" in bunch.DESCR


def test_real_mnist_all_and_parent_folder(shared_data_dir, mnist_dir):
    # data_home may be the folder holding mnist/, not only the mnist folder itself
    X, y = load_mnist(shared_data_dir, subset="all", return_X_y=True, download_if_missing=False)
    assert X.shape == (70000, 784)
    expected = np.add(MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS)
    assert np.bincount(y).tolist() == expected.tolist()


def test_real_mnist_first_labels(mnist_dir):
    # the well-known first training labels of MNIST
    y = load_mnist(mnist_dir, return_X_y=True, download_if_missing=False)[1]
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_env_var_data_home(mnist_dir, monkeypatch):
    monkeypatch.setenv("SKLRANK_DATA", str(mnist_dir.parent))
    assert get_data_home() == mnist_dir.parent
    X, y = load_mnist(subset="test", classes=[0, 1], return_X_y=True, download_if_missing=False)
    assert len(y) == 980 + 1135 and set(y.tolist()) == {0, 1}


# ----------------------------------------------------------------------------- small MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_small_mnist_round_trip(tmp_path, gz):
    arrays = _write_mnist(tmp_path / "mnist", gz=gz)
    bunch = load_mnist(tmp_path, subset="all", download_if_missing=False)
    images = np.concatenate([arrays["train"][0], arrays["t10k"][0]])
    labels = np.concatenate([arrays["train"][1], arrays["t10k"][1]])
    np.testing.assert_array_equal(bunch.images, images.astype(np.float32) / 255)
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.data.shape == (19, 784)


def test_small_mnist_selection(tmp_path):
    _write_mnist(tmp_path, n_train=40)
    X, y = load_mnist(tmp_path, classes=[2, 5], return_X_y=True, download_if_missing=False)
    assert sorted(set(y.tolist())) == [2, 5] and len(y) == 8
    X1, y1 = load_mnist(tmp_path, n_samples=10, random_state=3, return_X_y=True,
                        download_if_missing=False)
    X2, y2 = load_mnist(tmp_path, n_samples=10, random_state=3, return_X_y=True,
                        download_if_missing=False)
    np.testing.assert_array_equal(X1, X2)
    assert len(np.unique(X1, axis=0)) == 10  # drawn without replacement
    with pytest.raises(ValueError, match="n_samples=41 exceeds the 40"):
        load_mnist(tmp_path, n_samples=41, download_if_missing=False)
    with pytest.raises(ValueError, match=r"classes holds \[11\]"):
        load_mnist(tmp_path, classes=[1, 11], download_if_missing=False)


def test_bad_parameters_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        load_mnist(tmp_path, subset="validation")
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist(tmp_path, n_samples=0)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="truncated or corrupt gzip"):
        load_mnist(tmp_path, download_if_missing=False)


def test_truncated_idx_is_a_clear_error(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))  # a valid gzip of a cut IDX file
    with pytest.raises(DataFileError, match="is truncated: its header announces"):
        load_mnist(tmp_path, download_if_missing=False)


def test_wrong_magic_and_bad_labels(tmp_path):
    _write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    images = tmp_path / "train-images-idx3-ubyte.gz"
    labels.write_bytes(images.read_bytes())  # an image file under the labels' name
    with pytest.raises(DataFileError, match="magic number 2051, expected 2049"):
        load_mnist(tmp_path, download_if_missing=False)
    labels.write_bytes(gzip.compress(_idx_bytes(np.full(12, 42), 2049)))
    with pytest.raises(DataFileError, match="not a digit"):
        load_mnist(tmp_path, download_if_missing=False)


def test_mismatched_counts(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(5), 2049))
    )
    with pytest.raises(DataFileError, match="disagree"):
        load_mnist(tmp_path, download_if_missing=False)


def test_missing_mnist_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz") as info:
        load_mnist(tmp_path, download_if_missing=False)
    assert str(tmp_path / "mnist") in str(info.value)
    assert "SKLRANK_DATA" in str(info.value)


def test_missing_mnist_without_network(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="download failed") as info:
        load_mnist(tmp_path, subset="test")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and str(tmp_path / "mnist") in message
    assert not list((tmp_path / "mnist").glob("*.part"))  # no half-written files left


def test_download_checks_md5(tmp_path, monkeypatch):
    source = tmp_path / "source"
    _write_mnist(source)
    served = []

    def fake_urlopen(url, timeout=None):
        name = url.rsplit("/", 1)[1]
        served.append(url)
        return io.BytesIO((source / name).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    # The small files do not have the published md5: the download is refused.
    with pytest.raises(FileNotFoundError, match="differs from the published"):
        load_mnist(tmp_path / "home", subset="test")
    # With their own checksums registered, the same download succeeds and is used.
    table = {
        key: (name, hashlib.md5((source / (name + ".gz")).read_bytes()).hexdigest(), "")
        for key, (name, _, _) in _loaders._MNIST_FILES.items()
    }
    monkeypatch.setattr(_loaders, "_MNIST_FILES", table)
    y = load_mnist(tmp_path / "home", subset="test", return_X_y=True)[1]
    assert len(y) == 7
    assert (tmp_path / "home" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar_official_batches(tmp_path):
    written = _write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py")
    bunch = load_cifar10(tmp_path, subset="train", download_if_missing=False)
    data = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert bunch.data.shape == (20, 3072) and bunch.images.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(bunch.data, data.astype(np.float32) / 255)
    np.testing.assert_array_equal(bunch.target, labels)
    # official layout: 1024 red, then green, then blue values, each a row-major 32 x 32 image
    assert bunch.images[3, 1, 2, 5] == np.float32(data[3, 1024 + 2 * 32 + 5]) / np.float32(255)
    assert list(bunch.target_names) == list(_loaders._CIFAR_LABEL_NAMES)

    X, y = load_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py", subset="test",
                        return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(y, written["test_batch"][1])
    assert load_cifar10(tmp_path, subset="all", download_if_missing=False).data.shape[0] == 24


def test_cifar_truncated_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="data_batch_3 is truncated or is not a CIFAR-10"):
        load_cifar10(tmp_path, download_if_missing=False)


def test_cifar_missing_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    os.remove(folder / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="data_batch_5 is missing"):
        load_cifar10(tmp_path, download_if_missing=False)


def test_cifar_batch_rejects_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(DataFileError, match="is not allowed"):
        load_cifar10(tmp_path, subset="test", download_if_missing=False)


def test_cifar_python2_batch(tmp_path):
    # the official files are Python 2 pickles: bytes as BINSTRING, numpy.core names
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_cifar_batches(folder)
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(5, 3072), dtype=np.uint8)
    labels = [6, 9, 9, 4, 1]
    (folder / "test_batch").write_bytes(_py2_batch_pickle(data, labels))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy.core deprecation warning either
        X, y = load_cifar10(folder, subset="test", return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(X, data.astype(np.float32) / np.float32(255))
    assert y.tolist() == labels
    X_all, y_all = load_cifar10(folder, subset="all", return_X_y=True, download_if_missing=False)
    assert X_all.shape == (25, 3072)
    assert y_all[-5:].tolist() == labels and y_all[:4].tolist() == written["data_batch_1"][1]


def test_cifar_batch_rejects_other_codecs(tmp_path):
    # _codecs.encode is allowed only for latin-1 text (how Python 3 pickles bytes)
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)

    class Encoded:
        def __reduce__(self):
            return (codecs.encode, ("x" * 10, "rot13"))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Encoded(), b"labels": []}, f, protocol=2)
    with pytest.raises(DataFileError, match="only latin-1"):
        load_cifar10(tmp_path, subset="test", download_if_missing=False)


def test_cifar_npz_subset(cifar10_npz):
    train = load_cifar10(cifar10_npz.parent.parent, subset="train", download_if_missing=False)
    assert train.data.shape == (1017, 3072) and train.images.shape == (1017, 3, 32, 32)
    assert np.bincount(train.target).tolist() == CIFAR_SUBSET_TRAIN_COUNTS
    assert train.target[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    test = load_cifar10(cifar10_npz, subset="test", download_if_missing=False)
    assert np.bincount(test.target).tolist() == CIFAR_SUBSET_TEST_COUNTS
    assert test.target[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert list(test.target_names)[:2] == ["airplane", "automobile"]
    assert test.data.min() >= 0.0 and test.data.max() <= 1.0
    two = load_cifar10(cifar10_npz, subset="all", classes=[0, 1], n_samples=50, random_state=0,
                       download_if_missing=False)
    assert two.data.shape == (50, 3072) and set(two.target.tolist()) <= {0, 1}


def test_cifar_npz_missing_array(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, train_data=np.zeros((2, 3072), np.uint8))
    with pytest.raises(DataFileError, match="lacks the arrays"):
        load_cifar10(path, download_if_missing=False)


def test_missing_cifar_without_network(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as info:
        load_cifar10(tmp_path)
    assert "download failed" in str(info.value) and str(tmp_path / "cifar10") in str(info.value)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        load_cifar10(tmp_path, download_if_missing=False)
