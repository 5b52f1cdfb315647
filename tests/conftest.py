"""Shared fixtures: where the reference data lives, and quiet, reproducible torch."""

import contextlib
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # tests never open windows

import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def _default_data_dir():
    """SKLRANK_DATA if set, else the ``shared/data`` folder beside the repository."""
    env = os.environ.get("SKLRANK_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir():
    """The folder with ``mnist/`` and ``cifar10/``; the test is skipped when it is absent."""
    path = _default_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"reference data not found at {path}: set SKLRANK_DATA to the folder holding "
            "mnist/ and cifar10/"
        )
    return path


@pytest.fixture(scope="session")
def mnist_dir(shared_data_dir):
    path = shared_data_dir / "mnist"
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST IDX files not found in {path}")
    return path


@pytest.fixture(scope="session")
def cifar10_npz(shared_data_dir):
    path = shared_data_dir / "cifar10" / "cifar10-prefix-subset.npz"
    if not path.is_file():
        pytest.skip(f"CIFAR-10 subset not found at {path}")
    return path


def pytest_configure(config):
    # Under pytest-xdist each worker gets an equal share of the cores; oversubscribing them
    # (every worker using all cores) makes the suite several times slower.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


# dask.distributed's Nanny sets these to 1 in the calling process's environment (for the worker
# processes it spawns) and does not put them back; later subprocesses of the test session
# (joblib workers, torch imported afresh) would then run single-threaded.
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextlib.contextmanager
def _thread_env_restored():
    saved = {name: os.environ.get(name) for name in _THREAD_ENV}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def thread_env_restored():
    """A context manager that puts the thread-count environment variables back on exit
    (wrap a dask LocalCluster in it)."""
    return _thread_env_restored


@pytest.fixture(autouse=True)
def _pythons_own_sigint_handler():
    """Python's own Ctrl-C handler, as in an interactive session, during each test.

    A process started in the background by a non-interactive shell (``./.ci/run &``, nohup)
    inherits SIGINT ignored, and Python then installs no handler: the tests that press
    Ctrl-C (``signal.raise_signal(SIGINT)``) would find nothing to interrupt.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


@pytest.fixture
def suptitles_as_drawn(monkeypatch):
    """For every figure saved while the test runs, whether its suptitle (as drawn, wrapped or
    not) lies within the figure's width, and its text: a list filled as figures are saved."""
    from matplotlib.figure import Figure

    save, seen = Figure.savefig, []

    def spy(fig, *args, **kwargs):
        fig.canvas.draw()
        title = fig._suptitle
        with title._cm_set(text=title._get_wrapped_text()):
            box = title.get_window_extent(fig.canvas.get_renderer())
        seen.append((box.x0 >= 0 and box.x1 <= fig.bbox.width, title.get_text()))
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return seen
