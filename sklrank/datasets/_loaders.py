"""Loaders for MNIST and CIFAR-10 from their standard files (IDX files, python batches, npz)."""

import codecs
import gzip
import os
import pickle
import struct
import tarfile
import warnings
import zipfile
import zlib
from numbers import Integral
from pathlib import Path

import numpy as np
import pooch
from sklearn.utils import Bunch, check_random_state, deprecated
from sklearn.utils._param_validation import Interval, StrOptions

from .._params import validate_params

__all__ = ["fetch_mnist", "fetch_cifar10", "get_data_home", "DataFileError"]

# Environment variable naming the folder that holds ``mnist/`` and ``cifar10/``.
DATA_ENV_VAR = "SKLRANK_DATA"

_MNIST_FILES = {
    # key: (file name without .gz, md5 of the .gz as published)
    "train_images": ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
}
# Mirrors of the canonical MNIST files, tried in order; every download is checked by md5.
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR_NPZ_KEYS = ("train_data", "train_labels", "test_data", "test_labels", "label_names")

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049

_MNIST_DESCR = """\
MNIST handwritten digits
------------------------

70,000 grey-scale images of 28 x 28 pixels (60,000 train, 10,000 test) of the digits 0-9,
read from the four standard IDX files. ``data`` holds the pixels scaled to [0, 1]
(float32, pixel / 255, row-major), ``images`` the same values as (n, 28, 28) arrays and
``target`` the digit (int64).

Source: Y. LeCun, C. Cortes and C.J.C. Burges, "The MNIST database of handwritten digits",
http://yann.lecun.com/exdb/mnist/ (commonly redistributed under CC BY-SA 3.0). Cite LeCun et
al., "Gradient-based learning applied to document recognition", Proc. IEEE 86(11), 1998.
"""

_CIFAR_DESCR = """\
CIFAR-10
--------

60,000 colour images of 32 x 32 pixels in 10 classes (50,000 train, 10,000 test), read from
the official python batches (``cifar-10-batches-py/``) or from an ``.npz`` file holding
``train_data``, ``train_labels``, ``test_data``, ``test_labels`` and ``label_names`` in the
official layout (possibly a subset). ``data`` holds the pixels scaled to [0, 1] (float32,
value / 255) in the official order: the 1024 red values, then green, then blue, each a
row-major 32 x 32 image, so ``images`` is (n, 3, 32, 32) (channels first).

Source: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", technical
report, University of Toronto, 2009; https://www.cs.toronto.edu/~kriz/cifar.html
"""


# numpy >= 2 moved numpy.core to numpy._core
_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"


class DataFileError(ValueError):
    """A data file is truncated, corrupt or not in the expected format.

    Raised by :func:`fetch_mnist` and :func:`fetch_cifar10` with the file's path and what is
    wrong with it; replace the file (delete it to have it downloaded again). A subclass of
    :class:`ValueError`. A file that is missing raises :class:`FileNotFoundError` instead,
    saying where to put it.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklrank.datasets import DataFileError, fetch_mnist
    >>> folder = Path(tempfile.mkdtemp()) / "mnist"
    >>> folder.mkdir()
    >>> for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
    ...     _ = (folder / name).write_bytes(bytes([0, 0, 8, 3]))  # a cut-off header
    >>> try:
    ...     fetch_mnist(data_home=folder.parent, subset="test", download_if_missing=False)
    ... except DataFileError as exc:
    ...     print(str(exc).replace(str(folder), "<data_home>/mnist"))
    <data_home>/mnist/t10k-images-idx3-ubyte is truncated inside its IDX header.
    >>> import shutil; shutil.rmtree(folder.parent)
    """


def get_data_home(data_home=None):
    """The folder where sklrank looks for its data sets.

    The first of: the ``data_home`` argument, the environment variable ``SKLRANK_DATA``, and
    ``sklrank/`` inside scikit-learn's data folder (``~/scikit_learn_data`` unless the
    environment variable ``SCIKIT_LEARN_DATA`` says otherwise).

    Parameters
    ----------
    data_home : str or path-like, default=None
        An explicit folder; returned as a :class:`~pathlib.Path`, ``~`` expanded. An empty
        string is refused (it would mean the current folder: pass ``"."`` for that).

    Returns
    -------
    data_home : pathlib.Path
        The folder; it is not created.

    Raises
    ------
    ValueError
        If ``data_home`` is the empty string (an unset shell variable, ``"$DIR"``).

    Examples
    --------
    >>> from sklrank.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is not None:
        if isinstance(data_home, str) and not data_home:
            # Path("") is the current folder: an unset shell variable (data_home="$DIR")
            # would search it, and download there, without a word
            raise ValueError(
                "data_home='' is empty (an unset variable?); pass the folder that holds the "
                "data sets, '.' for the current folder, or None for the default (the "
                f"environment variable {DATA_ENV_VAR}, then ~/scikit_learn_data/sklrank)."
            )
        return Path(data_home).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    from sklearn.datasets import get_data_home as sk_get_data_home

    return Path(sk_get_data_home(data_home=None)) / "sklrank"


# --------------------------------------------------------------------------- downloads


def _retrieve(urls, folder, fname, md5):
    """Download ``fname`` into ``folder`` from the first of ``urls`` that serves it.

    pooch streams each download to a temporary file beside the target, checks its md5 and only
    then moves it into place, so a failed or corrupted download leaves nothing behind; a file
    already in ``folder`` with the right md5 is reused without a download. Returns the path.
    """
    errors = []
    for url in urls:
        try:
            return Path(
                pooch.retrieve(
                    url, known_hash=f"md5:{md5}", fname=fname, path=folder, progressbar=True
                )
            )
        # requests' errors are OSErrors; pooch raises ValueError for a wrong checksum.
        except (OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    raise OSError("; ".join(errors))


# --------------------------------------------------------------------------- MNIST


def _read_maybe_gzip(path):
    """The bytes of ``path``, gunzipped when it is a gzip file (by its magic, not its name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataFileError(
            f"{path} is a truncated or corrupt gzip file ({exc}); replace it with a fresh copy."
        ) from exc


def _parse_idx(path, expected_magic):
    """Parse an IDX file of unsigned bytes; check its magic number and its exact length."""
    raw = _read_maybe_gzip(path)
    if len(raw) < 4:
        raise DataFileError(f"{path} is too short to be an IDX file ({len(raw)} bytes).")
    magic = struct.unpack(">i", raw[:4])[0]
    if magic != expected_magic:
        raise DataFileError(
            f"{path} has IDX magic number {magic}, expected {expected_magic} "
            f"({'images' if expected_magic == _IDX_IMAGES_MAGIC else 'labels'}); "
            "the file is corrupt or is not the file its name says."
        )
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataFileError(f"{path} is truncated inside its IDX header.")
    dims = struct.unpack(f">{n_dims}i", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataFileError(
            f"{path} is {state}: its header announces shape {dims} ({expected} bytes) but it "
            f"holds {len(raw)} bytes; replace it with a fresh copy."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_mnist_file(folders, name):
    for folder in folders:
        # the standard name, and the dotted variant some mirrors use (train-images.idx3-ubyte)
        dotted = name.replace("-idx", ".idx")
        for candidate in (name + ".gz", name, dotted + ".gz", dotted):
            path = folder / candidate
            if path.is_file():
                return path
    return None


def _home_name(data_home):
    """What set the data folder, for messages: the argument or the environment variable."""
    return "data_home" if data_home is not None else DATA_ENV_VAR


def _mnist_paths(data_home, download_if_missing, keys):
    home = get_data_home(data_home)
    if home.is_file():
        name = _home_name(data_home)
        raise ValueError(
            f"{name}={str(home)!r} is a file; pass the folder that holds mnist/ or the four "
            f"MNIST files, e.g. {name}={str(home.parent)!r}."
        )
    folders = [home / "mnist", home]
    paths, missing = {}, []
    for key in keys:
        path = _find_mnist_file(folders, _MNIST_FILES[key][0])
        if path is None:
            missing.append(key)
        else:
            paths[key] = path
    if not missing:
        return paths
    names = [_MNIST_FILES[k][0] + ".gz" for k in missing]
    where = home / "mnist"
    hint = (
        f"put the standard MNIST files {', '.join(names)} (gzipped or not) in {where} "
        f"(or pass data_home=..., or set the environment variable {DATA_ENV_VAR} to the folder "
        "that holds mnist/); they are published at http://yann.lecun.com/exdb/mnist/"
    )
    if not download_if_missing:
        raise FileNotFoundError(f"MNIST files not found: {hint}.")
    for key in missing:
        name, gz_md5 = _MNIST_FILES[key]
        try:
            paths[key] = _retrieve(
                [m + name + ".gz" for m in _MNIST_MIRRORS], where, name + ".gz", gz_md5
            )
        except OSError as exc:
            raise FileNotFoundError(
                f"MNIST files not found and the download failed ({exc}); {hint}."
            ) from exc
    return paths


def _mnist_part(paths, part):
    images = _parse_idx(paths[f"{part}_images"], _IDX_IMAGES_MAGIC)
    labels = _parse_idx(paths[f"{part}_labels"], _IDX_LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFileError(
            f"MNIST {part} files disagree: images of shape {images.shape}, labels of shape "
            f"{labels.shape}; replace them with fresh copies."
        )
    if labels.size and labels.max() > 9:
        raise DataFileError(
            f"{paths[f'{part}_labels']} holds label {labels.max()}, not a digit; it is corrupt."
        )
    return images, labels


# --------------------------------------------------------------------------- selection


def _select(labels, classes, n_samples, random_state, all_classes):
    """Indices of the samples to keep, in file order."""
    keep = np.arange(len(labels))
    if classes is not None:
        # (booleans compare equal to the labels 0 and 1: refused rather than read as digits)
        if any(isinstance(c, bool | np.bool_) for c in np.ravel(np.asarray(classes, dtype=object))):
            raise ValueError(
                f"classes holds booleans ({classes!r}); pass the labels to keep, e.g. [0, 1]."
            )
        classes = np.asarray(classes)
        if classes.ndim != 1 or classes.size == 0:
            raise ValueError(f"classes must be a non-empty list of labels, got {classes!r}.")
        unknown = sorted(set(classes.tolist()) - set(all_classes))
        if unknown:
            raise ValueError(
                f"classes holds {unknown}, which are not labels of this data set; choose "
                f"among {list(all_classes)}."
            )
        keep = keep[np.isin(labels, classes)]
        if len(keep) == 0:
            raise ValueError(
                f"classes={classes.tolist()} selects no sample: this subset holds only the "
                f"labels {sorted(set(labels.tolist()))}; choose among them."
            )
    if len(keep) == 0:
        raise DataFileError(
            "The data files hold no samples for this subset; replace them with complete "
            "copies."
        )
    if n_samples is not None:
        if n_samples > len(keep):
            raise ValueError(
                f"n_samples={n_samples} exceeds the {len(keep)} samples available for this "
                "subset and class selection; lower n_samples."
            )
        rng = check_random_state(random_state)
        keep = np.sort(rng.choice(keep, size=n_samples, replace=False))
    return keep


def _to_bunch(images, labels, keep, target_names, descr, return_X_y, **extra):
    images = images[keep].astype(np.float32) / np.float32(255.0)
    target = labels[keep].astype(np.int64)
    data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target
    feature_names = [f"pixel_{i}" for i in range(data.shape[1])]
    return Bunch(
        data=data,
        target=target,
        images=images,
        feature_names=feature_names,
        target_names=np.asarray(target_names),
        DESCR=descr,
        **extra,
    )


_COMMON_CONSTRAINTS = {
    "data_home": [str, os.PathLike, None],
    "subset": [StrOptions({"train", "test", "all"})],
    "classes": ["array-like", None],
    "n_samples": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
    "return_X_y": ["boolean"],
    "download_if_missing": ["boolean"],
}


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
def fetch_mnist(
    data_home=None,
    *,
    subset="train",
    classes=None,
    n_samples=None,
    random_state=None,
    return_X_y=False,
    download_if_missing=True,
):
    """Load the MNIST digits from the four standard IDX files, downloading them if missing.

    The files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` are read gzipped (``.gz``) or
    not, from ``<data_home>/mnist/`` or from ``data_home`` itself. Each file's IDX header
    (magic number, shape) and length are checked, so a truncated or corrupt file raises an
    error instead of returning garbage.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder holding ``mnist/`` or the MNIST files themselves. None means the
        environment variable ``SKLRANK_DATA``, then ``~/scikit_learn_data/sklrank`` (see
        :func:`get_data_home`).
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or both (train first).
    classes : array-like of int, default=None
        Keep only these digits (their labels are kept as they are, not renumbered).
    n_samples : int, default=None
        Keep this many samples drawn at random without replacement (after the class
        selection), in file order. None keeps all.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsampling (used only with ``n_samples``).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    download_if_missing : bool, default=True
        If files are missing, download them into ``<data_home>/mnist/`` with :mod:`pooch`
        (checked against the published md5 checksums, with a progress bar); where the
        network is unavailable this fails with an error that says which files to put where.
        False fails at once with that error.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (n, 784) float32 pixels in [0, 1], ``target`` (n,) int64 digits,
        ``images`` (n, 28, 28) float32, ``feature_names`` (``pixel_0`` ...),
        ``target_names`` (``"0"`` ... ``"9"``), ``DESCR`` and ``filenames`` (the files read).
    (data, target) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If files are missing and cannot be downloaded; the message says where to put them.
    ValueError
        If a file is truncated or corrupt (:class:`DataFileError`), or ``classes`` /
        ``n_samples`` ask for samples that do not exist.

    Examples
    --------
    >>> from sklrank.datasets import fetch_mnist
    >>> mnist = fetch_mnist(subset="test", classes=[0, 1], n_samples=100,
    ...                     random_state=0)  # doctest: +SKIP
    >>> mnist.data.shape, mnist.images.shape  # doctest: +SKIP
    ((100, 784), (100, 28, 28))
    """
    parts = ["train", "test"] if subset == "all" else [subset]
    keys = [f"{p}_{kind}" for p in parts for kind in ("images", "labels")]
    paths = _mnist_paths(data_home, download_if_missing, keys)
    loaded = [_mnist_part(paths, p) for p in parts]
    images = loaded[0][0] if len(loaded) == 1 else np.concatenate([im for im, _ in loaded])
    labels = loaded[0][1] if len(loaded) == 1 else np.concatenate([lb for _, lb in loaded])
    keep = _select(labels, classes, n_samples, random_state, range(10))
    return _to_bunch(
        images,
        labels,
        keep,
        [str(d) for d in range(10)],
        _MNIST_DESCR,
        return_X_y,
        filenames=[str(paths[k]) for k in keys],
    )


# --------------------------------------------------------------------------- CIFAR-10


def _latin1_encode(obj, encoding="latin1"):
    """``_codecs.encode`` restricted to what pickles of bytes need: str -> latin-1 bytes.

    Python 3 writes ``bytes`` (dict keys, a numpy array's raw buffer) into protocol-2 pickles
    as ``_codecs.encode(text, "latin1")``; any other codec or argument type is refused, so the
    unpickler cannot be used to call arbitrary codecs.
    """
    if not isinstance(obj, str) or encoding.lower().replace("-", "") not in ("latin1", "l1"):
        raise pickle.UnpicklingError(
            f"_codecs.encode({type(obj).__name__}, {encoding!r}) is not allowed in a CIFAR-10 "
            "batch file; only latin-1 encoding of text is."
        )
    return codecs.encode(obj, "latin1")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickle the official CIFAR batches, allowing only what a numpy array needs.

    Pickle can run arbitrary code; the official batches (Python 2 pickles) only reference
    numpy's array reconstruction, so nothing else is let through, except a latin-1-only
    ``_codecs.encode``: batches re-saved by Python 3 with protocol 2 encode bytes that way.
    Batches re-saved with protocol 5 (Python 3.14's default) rebuild their arrays with
    numpy's ``_frombuffer`` (a view of the pickled bytes), which is let through too.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"{module}.{name} is not allowed in a CIFAR-10 batch file."
            )
        # Python 2 files name numpy.core, which numpy >= 2 calls numpy._core (the old name
        # still imports there, but with a DeprecationWarning).
        if module.startswith("numpy.core") and _NUMPY_CORE != "numpy.core":
            module = module.replace("numpy.core", _NUMPY_CORE, 1)
        return super().find_class(module, name)


def _get(mapping, key):
    """A value of a batch dict whose keys are bytes (python 2 pickles) or str."""
    if key.encode() in mapping:
        return mapping[key.encode()]
    return mapping[key]


def _read_batch(path):
    """(data uint8 (n, 3072), labels int64 (n,)) of one official batch file."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(_get(batch, "data"))
        labels = np.asarray(_get(batch, "labels"), dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataFileError(
            f"{path} is truncated or is not a CIFAR-10 python batch ({type(exc).__name__}: "
            f"{exc}); replace it with a fresh copy of the official file."
        ) from exc
    _check_cifar_arrays(path, data, labels)
    return data, labels


def _check_cifar_arrays(source, data, labels):
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFileError(
            f"{source}: expected uint8 image rows of 3072 values, got dtype {data.dtype} and "
            f"shape {data.shape}."
        )
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataFileError(
            f"{source}: {len(data)} images but labels of shape {labels.shape}; the file is "
            "corrupt."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(f"{source}: labels outside 0-9; the file is corrupt.")


def _open_npz(path):
    """``np.load`` of the npz file ``path``, or a DataFileError naming the file and the fix."""
    # An npz file is a zip archive of .npy arrays. Anything else (a truncated download, an
    # .npy, a pickle) would reach numpy's pickle fallback, whose advice, allow_pickle=True,
    # is the wrong one here: it lets the file run code and does not repair it.
    if not zipfile.is_zipfile(path):
        raise DataFileError(
            f"{path} is not a valid npz file: an npz is a zip archive of arrays (as "
            "numpy.savez writes it), and this file is not one or is a truncated one. Replace "
            "it with a fresh copy, or delete it."
        )
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataFileError(
            f"{path} is a corrupt npz file ({type(exc).__name__}: {exc}); replace it with a "
            "fresh copy, or delete it."
        ) from exc


def _find_cifar_source(home, name="data_home"):
    """``(source, skipped)``: the batch folder or npz file to read (None if there is none),
    and a DataFileError for each npz file looked at on the way that cannot be read. ``name``
    is what set ``home`` (see :func:`_home_name`), for the messages."""
    if home.is_file():
        # any name will do (an npz is recognised by its content), but the advice for a file
        # that is no npz at all is to pass another data_home, not to delete the file
        if not zipfile.is_zipfile(home):
            raise DataFileError(
                f"{name}={str(home)!r} is a file but not a CIFAR-10 npz (a zip archive of "
                f"arrays, as numpy.savez writes it); pass the folder that holds cifar10/ (or "
                f"{_CIFAR_DIR}/), e.g. {name}={str(home.parent)!r}, or an npz file with the "
                f"arrays {', '.join(_CIFAR_NPZ_KEYS)}; if it is a damaged copy of one, replace "
                "it."
            )
        return home, []
    for folder in (home / "cifar10", home):
        if folder.name == _CIFAR_DIR and folder.is_dir():
            return folder, []
        if (folder / _CIFAR_DIR).is_dir():
            return folder / _CIFAR_DIR, []
    skipped = []
    for folder in (home / "cifar10", home):
        if folder.is_dir():
            for npz in sorted(folder.glob("*.npz")):
                try:
                    with _open_npz(npz) as f:
                        names = f.files
                except DataFileError as exc:
                    skipped.append(exc)
                    continue
                if all(k in names for k in _CIFAR_NPZ_KEYS):
                    return npz, skipped
    return None, skipped


def _cifar_from_batches(folder, parts):
    images, labels = [], []
    names = {"train": _CIFAR_TRAIN_BATCHES, "test": ("test_batch",)}
    files = []
    for part in parts:
        for name in names[part]:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(
                    f"CIFAR-10 batch {name} is missing from {folder}; the official folder "
                    f"{_CIFAR_DIR}/ holds data_batch_1 ... data_batch_5 and test_batch."
                )
            data, lab = _read_batch(path)
            images.append(data)
            labels.append(lab)
            files.append(str(path))
    label_names = _CIFAR_LABEL_NAMES
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                names_raw = _get(_BatchUnpickler(f, encoding="bytes").load(), "label_names")
            label_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names_raw)
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as exc:
            raise DataFileError(f"{meta} is corrupt ({exc}); replace it.") from exc
    return np.concatenate(images), np.concatenate(labels), label_names, files


def _cifar_from_npz(path, parts):
    with _open_npz(path) as f:
        missing = [k for k in _CIFAR_NPZ_KEYS if k not in f.files]
        if missing:
            raise DataFileError(
                f"{path} lacks the arrays {missing}; a CIFAR-10 npz holds {_CIFAR_NPZ_KEYS}."
            )
        arrays = {}
        for key in _CIFAR_NPZ_KEYS:
            try:
                arrays[key] = f[key]
            except ValueError as exc:
                if "allow_pickle" not in str(exc):
                    raise DataFileError(
                        f"{path}: its array {key!r} is corrupt ({exc}); replace the file with "
                        "a fresh copy."
                    ) from exc
                raise DataFileError(
                    f"{path}: its array {key!r} holds Python objects, which sklrank does not "
                    "load (unpickling can run code); save it as a numeric or string array, "
                    f"e.g. np.savez(..., {key}=np.asarray({key}, dtype=str)) for names."
                ) from exc
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise DataFileError(
                    f"{path} is truncated or corrupt: its array {key!r} cannot be read "
                    f"({type(exc).__name__}: {exc}); replace the file with a fresh copy."
                ) from exc
    images, labels = [], []
    for part in parts:
        data, lab = arrays[f"{part}_data"], arrays[f"{part}_labels"]
        if not np.issubdtype(lab.dtype, np.integer):
            raise DataFileError(
                f"{path} ({part}): labels of dtype {lab.dtype}, expected integers 0-9."
            )
        lab = lab.astype(np.int64)
        _check_cifar_arrays(f"{path} ({part})", data, lab)
        images.append(data)
        labels.append(lab)
    # (names stored as bytes, e.g. batches.meta's b"label_names" saved as they are, dtype S)
    names = tuple(
        n.decode() if isinstance(n, bytes) else str(n) for n in np.ravel(arrays["label_names"])
    )
    if len(names) != len(_CIFAR_LABEL_NAMES):
        raise DataFileError(
            f"{path}: label_names holds {len(names)} names, expected the 10 CIFAR-10 classes "
            f"{list(_CIFAR_LABEL_NAMES)}."
        )
    return np.concatenate(images), np.concatenate(labels), names, [str(path)]


def _download_cifar(home):
    folder = home / "cifar10"
    archive = _retrieve([_CIFAR_URL], folder, "cifar-10-python.tar.gz", _CIFAR_ARCHIVE_MD5)
    # Extracted here rather than by pooch.Untar: before Python 3.12 pooch extracts without
    # tarfile's "data" filter, which refuses members that would land outside the folder.
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    return folder / _CIFAR_DIR


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
def fetch_cifar10(
    data_home=None,
    *,
    subset="train",
    classes=None,
    n_samples=None,
    random_state=None,
    return_X_y=False,
    download_if_missing=True,
):
    """Load CIFAR-10 from the official python batches or an npz file, downloading if missing.

    Looked for, in this order, in ``<data_home>/cifar10/`` and ``data_home`` itself: the
    official folder ``cifar-10-batches-py/`` (``data_batch_1`` ... ``data_batch_5``,
    ``test_batch``, ``batches.meta``), then any ``.npz`` file holding the arrays
    ``train_data``, ``train_labels``, ``test_data``, ``test_labels`` and ``label_names`` in
    the official layout (such as a labelled subset of the official files). ``data_home`` may
    also be the batch folder or the npz file itself. The batch files are python pickles: they
    are read with an unpickler that only accepts numpy arrays; npz files are never unpickled.
    An ``.npz`` file of the folder that cannot be read (truncated, not an npz) is skipped with
    a warning that names it when a valid source is found, and reported with the reason
    otherwise.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Where to look (see above). None means the environment variable ``SKLRANK_DATA``,
        then ``~/scikit_learn_data/sklrank`` (see :func:`get_data_home`).
    subset : {"train", "test", "all"}, default="train"
        The training images, the test images, or both (train first).
    classes : array-like of int, default=None
        Keep only these class labels (0-9; kept as they are, not renumbered).
    n_samples : int, default=None
        Keep this many samples drawn at random without replacement (after the class
        selection), in file order. None keeps all.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsampling (used only with ``n_samples``).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    download_if_missing : bool, default=True
        If nothing is found, download the official archive (163 MB, checked against its
        published md5, with a progress bar) into ``<data_home>/cifar10/`` with :mod:`pooch`
        and unpack it there; where the network is unavailable this fails with an error that
        says which files to put where. False fails at once with that error.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (n, 3072) float32 values in [0, 1] in the official channel-first order,
        ``target`` (n,) int64, ``images`` (n, 3, 32, 32) float32, ``feature_names``,
        ``target_names`` (``"airplane"`` ... ``"truck"``), ``DESCR`` and ``filenames``.
    (data, target) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If no data is found and none can be downloaded; the message says where to put it.
    ValueError
        If a file is truncated or corrupt (:class:`DataFileError`), or ``classes`` /
        ``n_samples`` ask for samples that do not exist.

    Examples
    --------
    >>> from sklrank.datasets import fetch_cifar10
    >>> cifar = fetch_cifar10(subset="test", classes=[0, 1])  # doctest: +SKIP
    >>> cifar.images.shape[1:]  # doctest: +SKIP
    (3, 32, 32)
    """
    home = get_data_home(data_home)
    source, skipped = _find_cifar_source(home, _home_name(data_home))
    if source is not None:
        for problem in skipped:
            warnings.warn(
                f"Skipped while looking for CIFAR-10: {problem}", UserWarning, stacklevel=3
            )
    elif skipped:
        raise DataFileError(
            f"CIFAR-10 not found in {home / 'cifar10'} or {home}: the only candidates, npz "
            "files, cannot be read. " + " ".join(str(problem) for problem in skipped)
        )
    else:
        hint = (
            f"put the official folder {_CIFAR_DIR}/ (from cifar-10-python.tar.gz, "
            f"https://www.cs.toronto.edu/~kriz/cifar.html) or an npz file with the arrays "
            f"{', '.join(_CIFAR_NPZ_KEYS)} in {home / 'cifar10'} (or pass data_home=..., or "
            f"set the environment variable {DATA_ENV_VAR})"
        )
        if not download_if_missing:
            raise FileNotFoundError(f"CIFAR-10 not found: {hint}.")
        try:
            source = _download_cifar(home)
        except (OSError, tarfile.TarError) as exc:
            raise FileNotFoundError(
                f"CIFAR-10 not found and the download failed ({exc}); {hint}."
            ) from exc
    parts = ["train", "test"] if subset == "all" else [subset]
    if source.is_file():
        images, labels, names, files = _cifar_from_npz(source, parts)
    else:
        images, labels, names, files = _cifar_from_batches(source, parts)
    keep = _select(labels, classes, n_samples, random_state, range(10))
    return _to_bunch(
        images.reshape(-1, 3, 32, 32),
        labels,
        keep,
        names,
        _CIFAR_DESCR,
        return_X_y,
        filenames=files,
    )


# --------------------------------------------------------------------------- deprecated names


@deprecated("use fetch_mnist instead (renamed in 0.2; load_mnist will be removed in 0.3).")
def load_mnist(*args, **kwargs):
    """Deprecated alias of :func:`fetch_mnist`, removed in 0.3.

    .. deprecated:: 0.2
        Renamed :func:`fetch_mnist`, as scikit-learn names its downloading loaders; this
        alias emits a FutureWarning and will be removed in 0.3.

    Parameters
    ----------
    *args, **kwargs
        Passed to :func:`fetch_mnist`.

    Returns
    -------
    data : Bunch or tuple
        What :func:`fetch_mnist` returns.
    """
    return fetch_mnist(*args, **kwargs)


@deprecated("use fetch_cifar10 instead (renamed in 0.2; load_cifar10 will be removed in 0.3).")
def load_cifar10(*args, **kwargs):
    """Deprecated alias of :func:`fetch_cifar10`, removed in 0.3.

    .. deprecated:: 0.2
        Renamed :func:`fetch_cifar10`, as scikit-learn names its downloading loaders; this
        alias emits a FutureWarning and will be removed in 0.3.

    Parameters
    ----------
    *args, **kwargs
        Passed to :func:`fetch_cifar10`.

    Returns
    -------
    data : Bunch or tuple
        What :func:`fetch_cifar10` returns.
    """
    return fetch_cifar10(*args, **kwargs)
