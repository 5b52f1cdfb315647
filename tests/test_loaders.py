"""Tests of the MNIST and CIFAR-10 loaders (real files when present, small files otherwise).

Downloads go through pooch; no test reaches the network: pooch's HTTP downloader is replaced by
one that serves local files (or fails as without network).

Bad inputs and data files, and their answers:

==============================================  =============================================
input                                           answer
==============================================  =============================================
files missing, download_if_missing=False        FileNotFoundError naming the files and the
                                                folder to put them in, and SKLRANK_DATA
files missing, no network                       FileNotFoundError "download failed" with the
                                                same hint; nothing half-written is left
download with a wrong md5                       refused by pooch ("does not match the known
                                                hash"); nothing is left
first mirror down                               the next mirror
archive with a member outside the folder        refused (tarfile's "data" filter)
data_home is a file (fetch_mnist), or a file   ValueError (DataFileError) naming the folder
but not an npz (fetch_cifar10)                  to pass (was "not found" under <file>/mnist;
                                                for CIFAR "... or delete it")
SKLRANK_DATA names a file                       the same, naming SKLRANK_DATA (was
                                                data_home, not passed)
data_home="" (an unset variable)                ValueError: pass "." for the current folder
                                                (was the current folder, searched and
                                                downloaded into)
truncated gzip; truncated IDX; wrong magic;     DataFileError naming the file and what is
label > 9; image and label counts disagree      wrong
CIFAR batch truncated, missing, or holding      DataFileError / FileNotFoundError naming it;
code or other codecs                            nothing is unpickled but numpy arrays
truncated a_broken.npz beside a valid npz       loaded from the valid file, a UserWarning
                                                names the skipped one (was BadZipFile, no
                                                path)
unreadable npz alone, or passed as data_home    DataFileError naming it: not a valid npz
(truncated, HTML, a pickle)                     (was BadZipFile / numpy's advice to load it
                                                "unsafely" with allow_pickle)
npz with a corrupt member                       DataFileError naming the file and the array
                                                (was BadZipFile / zlib.error)
npz with object (pickled) arrays                DataFileError: never unpickled, store a
                                                numeric or str array
npz with 3 label names, float labels            DataFileError (were 3 target_names, labels
                                                truncated to ints)
npz with non-uint8 images, too few labels       DataFileError
npz passed under another suffix                 read
npz label_names stored as bytes (dtype S)       decoded (were "b'airplane'", ...)
batch re-saved with pickle protocol 5           read (was "truncated or is not a CIFAR-10
                                                python batch")
classes absent from the subset (an npz          ValueError naming classes and the labels
subset); data files with no samples             present / DataFileError (was numpy's
                                                "cannot reshape array of size 0")
subset/n_samples out of range, n_samples=True;  ValueError / InvalidParameterError naming it
unknown class
classes=[True] (a boolean label)                ValueError naming classes (was the digit 1)
old names load_mnist / load_cifar10             FutureWarning: use fetch_* (removed in 0.3)
==============================================  =============================================
"""

import codecs
import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import warnings
import zipfile

import numpy as np
import pooch
import pytest
import requests

from sklrank.datasets import (
    DataFileError,
    _loaders,
    fetch_cifar10,
    fetch_mnist,
    get_data_home,
)

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


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def no_network(monkeypatch):
    """pooch's HTTP downloads fail as they do on a machine without network."""

    def fail(self, url, output_file, pooch_, check_only=False):
        raise requests.exceptions.ConnectionError(f"{url}: Name or service not known")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", fail)


@pytest.fixture
def serve(monkeypatch):
    """``serve(folder)``: pooch's HTTP downloads read the URL's file name from ``folder``
    (hosts listed in ``served.down`` fail); returns the list of URLs served."""
    served = []

    def start(folder, down=()):
        def download(self, url, output_file, pooch_, check_only=False):
            if any(host in url for host in down):
                raise requests.exceptions.ConnectionError(f"{url}: connection refused")
            served.append(url)
            data = (folder / url.rsplit("/", 1)[1]).read_bytes()
            if isinstance(output_file, str):
                with open(output_file, "wb") as f:
                    f.write(data)
            else:
                output_file.write(data)

        monkeypatch.setattr(pooch.HTTPDownloader, "__call__", download)
        return served

    return start


# ----------------------------------------------------------------------------- real MNIST


@pytest.mark.parametrize(
    ("subset", "n", "counts"),
    [("train", 60000, MNIST_TRAIN_COUNTS), ("test", 10000, MNIST_TEST_COUNTS)],
)
def test_real_mnist_counts(mnist_dir, subset, n, counts):
    bunch = fetch_mnist(mnist_dir, subset=subset, download_if_missing=False)
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
    X, y = fetch_mnist(shared_data_dir, subset="all", return_X_y=True, download_if_missing=False)
    assert X.shape == (70000, 784)
    expected = np.add(MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS)
    assert np.bincount(y).tolist() == expected.tolist()


def test_real_mnist_first_labels(mnist_dir):
    # the well-known first training labels of MNIST
    y = fetch_mnist(mnist_dir, return_X_y=True, download_if_missing=False)[1]
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_env_var_data_home(mnist_dir, monkeypatch):
    monkeypatch.setenv("SKLRANK_DATA", str(mnist_dir.parent))
    assert get_data_home() == mnist_dir.parent
    X, y = fetch_mnist(subset="test", classes=[0, 1], return_X_y=True, download_if_missing=False)
    assert len(y) == 980 + 1135 and set(y.tolist()) == {0, 1}


# ----------------------------------------------------------------------------- small MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_small_mnist_round_trip(tmp_path, gz):
    arrays = _write_mnist(tmp_path / "mnist", gz=gz)
    bunch = fetch_mnist(tmp_path, subset="all", download_if_missing=False)
    images = np.concatenate([arrays["train"][0], arrays["t10k"][0]])
    labels = np.concatenate([arrays["train"][1], arrays["t10k"][1]])
    np.testing.assert_array_equal(bunch.images, images.astype(np.float32) / 255)
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.data.shape == (19, 784)


def test_small_mnist_selection(tmp_path):
    _write_mnist(tmp_path, n_train=40)
    X, y = fetch_mnist(tmp_path, classes=[2, 5], return_X_y=True, download_if_missing=False)
    assert sorted(set(y.tolist())) == [2, 5] and len(y) == 8
    X1, y1 = fetch_mnist(tmp_path, n_samples=10, random_state=3, return_X_y=True,
                        download_if_missing=False)
    X2, y2 = fetch_mnist(tmp_path, n_samples=10, random_state=3, return_X_y=True,
                        download_if_missing=False)
    np.testing.assert_array_equal(X1, X2)
    assert len(np.unique(X1, axis=0)) == 10  # drawn without replacement
    with pytest.raises(ValueError, match="n_samples=41 exceeds the 40"):
        fetch_mnist(tmp_path, n_samples=41, download_if_missing=False)
    with pytest.raises(ValueError, match=r"classes holds \[11\]"):
        fetch_mnist(tmp_path, classes=[1, 11], download_if_missing=False)


@pytest.mark.parametrize("classes", [[True], [False, 3], np.array([True, False])])
def test_boolean_classes_are_refused(tmp_path, classes):
    # True == 1: classes=[True] silently selected the digit 1 (and False the digit 0)
    _write_mnist(tmp_path, n_train=40)
    with pytest.raises(ValueError, match=r"classes holds booleans .*labels"):
        fetch_mnist(tmp_path, classes=classes, download_if_missing=False)


def test_bad_parameters_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        fetch_mnist(tmp_path, subset="validation")
    with pytest.raises(ValueError, match="n_samples"):
        fetch_mnist(tmp_path, n_samples=0)
    # True is an Integral: it failed in numpy ("expected a sequence of integers")
    with pytest.raises(ValueError, match=r"'n_samples' parameter of fetch_mnist .* Got True"):
        fetch_mnist(tmp_path, n_samples=True)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="truncated or corrupt gzip"):
        fetch_mnist(tmp_path, download_if_missing=False)


def test_truncated_idx_is_a_clear_error(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))  # a valid gzip of a cut IDX file
    with pytest.raises(DataFileError, match="is truncated: its header announces"):
        fetch_mnist(tmp_path, download_if_missing=False)


def test_wrong_magic_and_bad_labels(tmp_path):
    _write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    images = tmp_path / "train-images-idx3-ubyte.gz"
    labels.write_bytes(images.read_bytes())  # an image file under the labels' name
    with pytest.raises(DataFileError, match="magic number 2051, expected 2049"):
        fetch_mnist(tmp_path, download_if_missing=False)
    labels.write_bytes(gzip.compress(_idx_bytes(np.full(12, 42), 2049)))
    with pytest.raises(DataFileError, match="not a digit"):
        fetch_mnist(tmp_path, download_if_missing=False)


def test_mismatched_counts(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(5), 2049))
    )
    with pytest.raises(DataFileError, match="disagree"):
        fetch_mnist(tmp_path, download_if_missing=False)


def test_missing_mnist_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz") as info:
        fetch_mnist(tmp_path, download_if_missing=False)
    assert str(tmp_path / "mnist") in str(info.value)
    assert "SKLRANK_DATA" in str(info.value)


def test_mnist_data_home_that_is_a_file(tmp_path, no_network):
    # was "not found: put the files in <file>/mnist", or a download attempt under a file
    _write_mnist(tmp_path)
    for download_if_missing in (False, True):
        with pytest.raises(ValueError, match="is a file; pass the folder") as info:
            fetch_mnist(tmp_path / "train-images-idx3-ubyte.gz",
                        download_if_missing=download_if_missing)
        assert repr(str(tmp_path)) in str(info.value)


def test_cifar_data_home_that_is_a_file_but_not_an_npz(tmp_path, no_network):
    # was "<file> is not a valid npz file ... Replace it with a fresh copy, or delete it"
    readme = tmp_path / "README.md"
    readme.write_text("data sets\n")
    with pytest.raises(DataFileError, match="is a file but not a CIFAR-10 npz") as info:
        fetch_cifar10(readme, download_if_missing=False)
    assert repr(str(tmp_path)) in str(info.value) and readme.read_text() == "data sets\n"


def test_missing_mnist_without_network(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="download failed") as info:
        fetch_mnist(tmp_path, subset="test")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and str(tmp_path / "mnist") in message
    assert "Name or service not known" in message
    assert not [p for p in (tmp_path / "mnist").iterdir() if p.is_file()]  # nothing half-written


def test_download_checks_md5_and_caches(tmp_path, serve, monkeypatch):
    source = tmp_path / "source"
    _write_mnist(source)
    served = serve(source)
    # The small files do not have the published md5: pooch refuses the download.
    with pytest.raises(FileNotFoundError, match="does not match the known hash") as info:
        fetch_mnist(tmp_path / "home", subset="test")
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" not in str(info.value)  # only the test files
    assert not [p for p in (tmp_path / "home" / "mnist").iterdir() if p.is_file()]
    # With their own checksums registered, the same download succeeds and is used.
    table = {
        key: (name, _md5(source / (name + ".gz")))
        for key, (name, _) in _loaders._MNIST_FILES.items()
    }
    monkeypatch.setattr(_loaders, "_MNIST_FILES", table)
    served.clear()
    y = fetch_mnist(tmp_path / "home", subset="test", return_X_y=True)[1]
    assert len(y) == 7
    assert len(served) == 2 and served[0].startswith(_loaders._MNIST_MIRRORS[0])
    assert (tmp_path / "home" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    # a second call reads the cached files: no download
    fetch_mnist(tmp_path / "home", subset="test")
    assert len(served) == 2


def test_download_falls_back_to_the_next_mirror(tmp_path, serve, monkeypatch):
    source = tmp_path / "source"
    _write_mnist(source)
    table = {
        key: (name, _md5(source / (name + ".gz")))
        for key, (name, _) in _loaders._MNIST_FILES.items()
    }
    monkeypatch.setattr(_loaders, "_MNIST_FILES", table)
    first_host = _loaders._MNIST_MIRRORS[0].split("/")[2]
    served = serve(source, down=(first_host,))
    y = fetch_mnist(tmp_path / "home", subset="test", return_X_y=True)[1]
    assert len(y) == 7
    assert all(url.startswith(_loaders._MNIST_MIRRORS[1]) for url in served)


def _cifar_archive(folder, written_from):
    """The official archive layout, cifar-10-batches-py/ in a tar.gz, from small batches."""
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(written_from, arcname="cifar-10-batches-py")
    return archive


def test_cifar_download_and_unpack(tmp_path, serve, monkeypatch):
    batches = tmp_path / "build" / "cifar-10-batches-py"
    written = _write_cifar_batches(batches)
    archive = _cifar_archive(tmp_path / "build", batches)
    monkeypatch.setattr(_loaders, "_CIFAR_ARCHIVE_MD5", _md5(archive))
    served = serve(tmp_path / "build")
    X, y = fetch_cifar10(tmp_path / "home", subset="test", return_X_y=True)
    assert served == [_loaders._CIFAR_URL]
    np.testing.assert_array_equal(y, written["test_batch"][1])
    assert (tmp_path / "home" / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()
    fetch_cifar10(tmp_path / "home", subset="train")  # unpacked: no second download
    assert len(served) == 1


def test_cifar_download_refuses_members_outside_the_folder(tmp_path, serve, monkeypatch):
    build = tmp_path / "build"
    build.mkdir()
    (build / "evil.txt").write_text("outside")
    archive = build / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(build / "evil.txt", arcname="../../evil.txt")
    monkeypatch.setattr(_loaders, "_CIFAR_ARCHIVE_MD5", _md5(archive))
    serve(build)
    with pytest.raises(FileNotFoundError, match="download failed"):
        fetch_cifar10(tmp_path / "home" / "data")
    assert not (tmp_path / "home" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_old_names_are_deprecated_aliases(tmp_path):
    from sklrank.datasets import load_cifar10, load_mnist

    _write_mnist(tmp_path)
    with pytest.warns(FutureWarning, match="use fetch_mnist instead .* removed in 0.3"):
        X, y = load_mnist(tmp_path, return_X_y=True, download_if_missing=False)
    X2, y2 = fetch_mnist(tmp_path, return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    _write_cifar_batches(tmp_path / "cifar-10-batches-py")
    with pytest.warns(FutureWarning, match="use fetch_cifar10 instead"):
        assert load_cifar10(tmp_path, download_if_missing=False).data.shape == (20, 3072)
    import sklrank.datasets

    assert "load_mnist" not in sklrank.datasets.__all__
    assert {"fetch_mnist", "fetch_cifar10"} <= set(sklrank.datasets.__all__)


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar_official_batches(tmp_path):
    written = _write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py")
    bunch = fetch_cifar10(tmp_path, subset="train", download_if_missing=False)
    data = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert bunch.data.shape == (20, 3072) and bunch.images.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(bunch.data, data.astype(np.float32) / 255)
    np.testing.assert_array_equal(bunch.target, labels)
    # official layout: 1024 red, then green, then blue values, each a row-major 32 x 32 image
    assert bunch.images[3, 1, 2, 5] == np.float32(data[3, 1024 + 2 * 32 + 5]) / np.float32(255)
    assert list(bunch.target_names) == list(_loaders._CIFAR_LABEL_NAMES)

    X, y = fetch_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py", subset="test",
                        return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(y, written["test_batch"][1])
    assert fetch_cifar10(tmp_path, subset="all", download_if_missing=False).data.shape[0] == 24


def test_cifar_truncated_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="data_batch_3 is truncated or is not a CIFAR-10"):
        fetch_cifar10(tmp_path, download_if_missing=False)


def test_cifar_missing_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    os.remove(folder / "data_batch_5")
    with pytest.raises(FileNotFoundError, match="data_batch_5 is missing"):
        fetch_cifar10(tmp_path, download_if_missing=False)


def test_cifar_batch_rejects_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f, protocol=2)
    with pytest.raises(DataFileError, match="is not allowed"):
        fetch_cifar10(tmp_path, subset="test", download_if_missing=False)


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
        X, y = fetch_cifar10(folder, subset="test", return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(X, data.astype(np.float32) / np.float32(255))
    assert y.tolist() == labels
    X_all, y_all = fetch_cifar10(folder, subset="all", return_X_y=True, download_if_missing=False)
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
        fetch_cifar10(tmp_path, subset="test", download_if_missing=False)


def test_cifar_npz_subset(cifar10_npz):
    train = fetch_cifar10(cifar10_npz.parent.parent, subset="train", download_if_missing=False)
    assert train.data.shape == (1017, 3072) and train.images.shape == (1017, 3, 32, 32)
    assert np.bincount(train.target).tolist() == CIFAR_SUBSET_TRAIN_COUNTS
    assert train.target[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    test = fetch_cifar10(cifar10_npz, subset="test", download_if_missing=False)
    assert np.bincount(test.target).tolist() == CIFAR_SUBSET_TEST_COUNTS
    assert test.target[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert list(test.target_names)[:2] == ["airplane", "automobile"]
    assert test.data.min() >= 0.0 and test.data.max() <= 1.0
    two = fetch_cifar10(cifar10_npz, subset="all", classes=[0, 1], n_samples=50, random_state=0,
                       download_if_missing=False)
    assert two.data.shape == (50, 3072) and set(two.target.tolist()) <= {0, 1}


def test_cifar_npz_missing_array(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, train_data=np.zeros((2, 3072), np.uint8))
    with pytest.raises(DataFileError, match="lacks the arrays"):
        fetch_cifar10(path, download_if_missing=False)


def test_missing_cifar_without_network(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as info:
        fetch_cifar10(tmp_path)
    assert "download failed" in str(info.value) and str(tmp_path / "cifar10") in str(info.value)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        fetch_cifar10(tmp_path, download_if_missing=False)


# ----------------------------------------------------------------------------- broken npz files


def _write_cifar_npz(path, n=5, seed=0, **override):
    """A small npz in the official layout (the shape of the shared labelled subset)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n),
        "test_data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n),
        "label_names": np.asarray(_loaders._CIFAR_LABEL_NAMES),
        **override,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_broken_npz_beside_a_valid_one_is_skipped_with_a_warning(tmp_path):
    # issue 17: a truncated a_broken.npz (sorted first) raised zipfile.BadZipFile, no path
    folder = tmp_path / "cifar10"
    arrays = _write_cifar_npz(folder / "subset.npz")
    raw = (folder / "subset.npz").read_bytes()
    (folder / "a_broken.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match=r"a_broken\.npz is not a valid npz file"):
        X, y = fetch_cifar10(tmp_path, return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(y, arrays["train_labels"])


@pytest.mark.parametrize("content", ["truncated", "not a zip", "pickle"])
def test_unreadable_npz_is_named_with_the_fix(tmp_path, content):
    # issue 17: numpy's error advised loading a non-zip .npz "unsafely" with allow_pickle
    folder = tmp_path / "cifar10"
    _write_cifar_npz(folder / "a_broken.npz")
    raw = (folder / "a_broken.npz").read_bytes()
    broken = {
        "truncated": raw[: len(raw) // 2],
        "not a zip": b"<html>404 Not Found</html>",
        "pickle": pickle.dumps({"train_data": [1, 2, 3]}),
    }[content]
    (folder / "a_broken.npz").write_bytes(broken)
    # found in the folder, or named as data_home (then the advice is also another data_home)
    for home, match, fix in [
        (tmp_path, r"a_broken\.npz is not a valid npz", "fresh copy"),
        (folder / "a_broken.npz", r"a_broken\.npz' is a file but not a CIFAR-10 npz",
         "damaged copy of one, replace it"),
    ]:
        with pytest.raises(DataFileError, match=match) as info:
            fetch_cifar10(home, download_if_missing=False)
        message = str(info.value)
        assert fix in message and "allow_pickle" not in message


def test_npz_with_a_corrupt_member(tmp_path):
    # an intact zip directory whose compressed array data is damaged: zlib or CRC errors
    path = tmp_path / "subset.npz"
    _write_cifar_npz(path, n=50)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train_data.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start : start + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"subset\.npz is truncated or corrupt: its array "
                                            r"'train_data' cannot be read"):
        fetch_cifar10(path, download_if_missing=False)


def test_npz_with_object_arrays_is_not_unpickled(tmp_path):
    path = tmp_path / "subset.npz"
    names = np.asarray(list(_loaders._CIFAR_LABEL_NAMES), dtype=object)
    _write_cifar_npz(path, label_names=names)
    with pytest.raises(DataFileError, match="'label_names' holds Python objects") as info:
        fetch_cifar10(path, download_if_missing=False)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"label_names": np.asarray(["cat", "dog", "frog"])}, "label_names holds 3 names"),
        ({"train_labels": np.linspace(0.2, 8.7, 5)}, "labels of dtype float64"),
        ({"train_data": np.zeros((5, 3072), dtype=np.float32)}, "expected uint8"),
        ({"train_labels": np.arange(4)}, "5 images but labels of shape"),
    ],
)
def test_npz_with_wrong_arrays(tmp_path, override, match):
    path = tmp_path / "subset.npz"
    _write_cifar_npz(path, **override)
    with pytest.raises(DataFileError, match=match):
        fetch_cifar10(path, download_if_missing=False)


def test_npz_named_directly_whatever_its_suffix(tmp_path):
    # data_home may be the npz file itself, also under another name
    arrays = _write_cifar_npz(tmp_path / "subset.npz")
    shutil.move(tmp_path / "subset.npz", tmp_path / "cifar-subset.bin")
    X, y = fetch_cifar10(tmp_path / "cifar-subset.bin", subset="test", return_X_y=True,
                         download_if_missing=False)
    np.testing.assert_array_equal(y, arrays["test_labels"])


def test_cifar_batches_resaved_with_protocol_5(tmp_path):
    # protocol 5 (Python 3.14's default) rebuilds arrays with numpy's _frombuffer: it was
    # refused as "truncated or is not a CIFAR-10 python batch"
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_cifar_batches(folder)
    data, labels = written["test_batch"]
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": data, "labels": labels}, f, protocol=5)
    X, y = fetch_cifar10(folder, subset="test", return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(X, data.astype(np.float32) / np.float32(255))
    assert y.tolist() == labels


def test_npz_label_names_stored_as_bytes(tmp_path):
    # batches.meta's b"label_names" saved as they are (dtype S): the names read "b'airplane'"
    path = tmp_path / "subset.npz"
    names = np.asarray([n.encode() for n in _loaders._CIFAR_LABEL_NAMES])
    _write_cifar_npz(path, label_names=names)
    bunch = fetch_cifar10(path, download_if_missing=False)
    assert bunch.target_names.tolist() == list(_loaders._CIFAR_LABEL_NAMES)


def test_classes_absent_from_the_subset(tmp_path):
    # an npz subset without some class: classes=[9] failed in numpy's reshape ("cannot
    # reshape array of size 0")
    path = tmp_path / "subset.npz"
    _write_cifar_npz(path, n=6, train_labels=np.arange(6) % 3)
    with pytest.raises(ValueError, match=r"classes=\[9\] selects no sample: this subset "
                                         r"holds only the labels \[0, 1, 2\]"):
        fetch_cifar10(path, classes=[9], download_if_missing=False)
    with pytest.raises(ValueError, match=r"classes=\[8, 9\] selects no sample"):
        fetch_cifar10(path, classes=[8, 9], n_samples=1, download_if_missing=False)
    assert fetch_cifar10(path, classes=[2, 9], download_if_missing=False).target.tolist() == [2, 2]


def test_data_files_without_samples(tmp_path):
    path = tmp_path / "subset.npz"
    _write_cifar_npz(path, train_data=np.zeros((0, 3072), np.uint8),
                     train_labels=np.zeros(0, np.int64))
    with pytest.raises(DataFileError, match="hold no samples for this subset"):
        fetch_cifar10(path, download_if_missing=False)
    assert fetch_cifar10(path, subset="all", download_if_missing=False).data.shape == (5, 3072)


def test_empty_data_home_is_refused(tmp_path, monkeypatch, no_network):
    # "" is Path("") = the current folder: an unset variable searched it, and downloaded there
    monkeypatch.chdir(tmp_path)
    for fetch in (fetch_mnist, fetch_cifar10):
        with pytest.raises(ValueError, match=r"data_home='' is empty \(an unset variable\?\)"):
            fetch("")
    with pytest.raises(ValueError, match="data_home='' is empty"):
        get_data_home("")
    assert str(get_data_home(".")) == "."
    assert list(tmp_path.iterdir()) == []


def test_data_home_from_the_environment_that_is_a_file(tmp_path, monkeypatch, no_network):
    # the message named data_home=..., which the user had not passed
    path = tmp_path / "README.md"
    path.write_text("not data")
    monkeypatch.setenv("SKLRANK_DATA", str(path))
    with pytest.raises(ValueError, match=r"^SKLRANK_DATA='.*README\.md' is a file; .*e\.g\. "
                                         r"SKLRANK_DATA="):
        fetch_mnist()
    with pytest.raises(DataFileError, match=r"^SKLRANK_DATA='.*README\.md' is a file but not"):
        fetch_cifar10()
    with pytest.raises(ValueError, match=r"^data_home='.*README\.md' is a file"):
        fetch_mnist(path)
