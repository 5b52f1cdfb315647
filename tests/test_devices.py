"""Where tensors live: the device argument, and what training reads back to the host.

These run on every machine; the fits on a GPU are in test_cuda.py. A GPU waits for the host
at every read of a tensor's value (``.item()``, ``.cpu()``, ``bool(t)``, ...), so the number
of such reads per epoch, counted here on the CPU with a ``TorchFunctionMode``, is the number
of host synchronisations per epoch on a GPU: the same code runs on both. The operations torch
dispatches an epoch (a ``TorchDispatchMode``) are the kernels a GPU runs, compared with those
of a hand-written loop; and every tensor sklrank creates names its device (read from the
source).

Bad ``device`` arguments and the answer each gets:

==========================================  ===========================================
input                                       answer
==========================================  ===========================================
device="cuda" where torch finds no CUDA     ValueError "torch finds no CUDA device here
device (each estimator, fit_batched,        ... use device='cpu'" (was AssertionError
noise_sweep, the gradient studies)          "Torch not compiled with CUDA enabled")
device="cuda:3" on a machine with one GPU   ValueError listing 'cuda:0' .. the last one
device="gpu" (not a torch device)           ValueError "not a torch device; pass
                                            'cpu', 'cuda' or 'cuda:N'"
device="mps" for noise_sweep                ValueError: it runs on 'cpu' or 'cuda'
device=None (skorch: leave the module       trains on the CPU, as in skorch
where it is)
iterator_train__pin_memory=True or          ValueError naming the option: the data are on
iterator_*__num_workers > 0 off the CPU     the device already (the DataLoader's pinning
                                            and forked workers fail on CUDA tensors)
==========================================  ===========================================
"""

import ast
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import sklrank
from sklrank import RankCNNClassifier, TwoLayerNetClassifier, TwoLayerNetRegressor
from sklrank._batched import fit_batched
from sklrank._device import check_device
from sklrank.callbacks import RankHistory
from sklrank.datasets import make_low_rank_patches, make_spiked
from sklrank.experiments import noise_sweep
from sklrank.gradients import activation_study
from sklrank.nn import TwoLayerCNN

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present here")

CNN = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, random_state=0)


def _patches():
    return make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0)


def _spiked():
    return make_spiked(60, 12, nu=0.3, random_state=0)


# --------------------------------------------------------------------------- device argument
@no_cuda
@pytest.mark.parametrize(
    "fit",
    [
        lambda: TwoLayerNetRegressor(device="cuda", max_epochs=2).fit(*_spiked()),
        lambda: TwoLayerNetClassifier(device="cuda", max_epochs=2).fit(
            _spiked()[0], np.arange(60) % 2),
        lambda: RankCNNClassifier(device="cuda", max_epochs=2, **CNN).fit(*_patches()),
        lambda: RankCNNClassifier(device="cuda:0", max_epochs=2, **CNN).partial_fit(
            *_patches()),
        lambda: fit_batched([RankCNNClassifier(device="cuda", max_epochs=2, **CNN)],
                            [_patches()]),
        lambda: noise_sweep(device="cuda", verbose=0),
        lambda: activation_study(device="cuda"),
    ],
    ids=["regressor", "two-layer-classifier", "cnn", "cnn-partial-fit", "fit_batched",
         "noise_sweep", "activation_study"],
)
def test_cuda_without_a_gpu_names_the_device_and_the_fix(fit):
    with pytest.raises(ValueError, match=r"device='cuda(:0)?' but torch finds no CUDA device "
                                         r"here .*use device='cpu'"):
        fit()


def test_a_cuda_index_beyond_the_devices_lists_the_valid_ones(monkeypatch):
    # a machine with one GPU, as torch would report it; nothing touches CUDA before the check
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match=r"device='cuda:3': there are 1 CUDA device\(s\) here; "
                                         r"pass 'cuda:0' .. 'cuda:0'"):
        RankCNNClassifier(device="cuda:3", max_epochs=2, **CNN).fit(*_patches())


@pytest.mark.parametrize("option", ["iterator_train__pin_memory", "iterator_valid__num_workers"])
def test_loader_options_that_need_host_data_are_refused_off_the_cpu(monkeypatch, option):
    # the data are on the GPU before training: pinning them fails ("cannot pin ... only dense
    # CPU tensors can be pinned") and forked workers cannot use CUDA
    value = True if option.endswith("pin_memory") else 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for net in (RankCNNClassifier(device="cuda", **CNN, **{option: value}),
                TwoLayerNetRegressor(device="cuda", **{option: value})):
        with pytest.raises(ValueError, match=rf"{option}={value!r} with device='cuda'.*drop"):
            net._check_params()  # what fit and initialize run first
    # on the CPU the DataLoader gets them, as in skorch
    RankCNNClassifier(max_epochs=2, batch_size=20, **CNN, **{option: value}).fit(*_patches())


@pytest.mark.parametrize(
    "fit",
    [
        lambda d: TwoLayerNetRegressor(device=d, max_epochs=2).fit(*_spiked()),
        lambda d: RankCNNClassifier(device=d, max_epochs=2, **CNN).fit(*_patches()),
        lambda d: noise_sweep(device=d, verbose=0),
    ],
    ids=["regressor", "cnn", "noise_sweep"],
)
def test_not_a_torch_device(fit):
    with pytest.raises(ValueError, match=r"device='gpu' is not a torch device; pass 'cpu', "
                                         r"'cuda' or 'cuda:N'"):
        fit("gpu")


def test_the_sweep_runs_on_cpu_or_cuda_only():
    with pytest.raises(ValueError, match=r"device='mps': this runs on 'cpu' or 'cuda'"):
        noise_sweep(device="mps", verbose=0)


def test_device_none_trains_where_the_module_is():
    X, y = _patches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RankCNNClassifier(device=None, max_epochs=3, **CNN).fit(X, y)
        cpu = RankCNNClassifier(device="cpu", max_epochs=3, **CNN).fit(X, y)
    assert next(clf.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(clf.filters_, cpu.filters_)


# --------------------------------------------------------------------------- host reads
# What waits for a GPU: reading a value, or copying to the host. (``.numpy()`` and
# ``np.asarray`` are not here: they refuse a GPU tensor, so they read what a copy brought.)
_READS = {
    torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.__bool__,
    torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__index__,
}
_SKLRANK = str(Path(sklrank.__file__).parent)
_TORCH = str(Path(torch.__file__).parent)


class _HostTraffic(TorchFunctionMode):
    """Counts the reads of tensor values by the host (anyone's: "read"), and the
    ``.to(device)`` moves made by sklrank's own code ("moved by FILE:FUNCTION"; ``.to(dtype)``
    is not a move)."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _READS:
            self.counts["read"] += 1
        elif func is torch.Tensor.to and any(
            isinstance(a, (str, torch.device, torch.Tensor))
            for a in (*args[1:], kwargs.get("device"))
        ):
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(_TORCH):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(_SKLRANK):
                where = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"
                self.counts[f"moved by {where}"] += 1
        return func(*args, **kwargs)


class _Operations(TorchDispatchMode):
    """Counts the tensor operations torch dispatches (on a GPU, each that computes is a
    kernel launch)."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.__name__] += 1
        return func(*args, **(kwargs or {}))


def _per_epoch(fit, mode, few=6, many=12):
    """What ``mode`` counts per epoch: the difference of the counts of two fits of ``few``
    and ``many`` epochs over ``many - few`` (what a fit does once cancels)."""
    counts = []
    for epochs in (few, many):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with mode() as counter:
                fit(epochs)
        counts.append(counter.counts)
    return Counter({k: (counts[1][k] - counts[0][k]) / (many - few)
                    for k in counts[1] if counts[1][k] != counts[0][k]})


def _hand_written_loop(X, y, epochs):
    """The loop of benchmarks/bench_classifier.py: it reads the loss every epoch."""
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(np.unique(y, return_inverse=True)[1])
    model = TwoLayerCNN((1, 4, 64), (1, 64), n_classes=2, n_filters=8, init_std=0.01)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X_t), y_t)
        loss.backward()
        optimizer.step()
        loss.item()


# operations that only make a new view of the same memory: no kernel on a GPU
_VIEWS = {"view.default", "detach.default", "select.int", "alias.default"}


def test_the_classifier_dispatches_the_loops_operations_an_epoch():
    # What a GPU runs an epoch: the classifier's training step is the loop's, operation for
    # operation; ranks every epoch add one copy of the filters (the snapshot), computed on
    # at the end of the fit.
    X, y = _patches()
    loop = _per_epoch(lambda e: _hand_written_loop(X, y, e), _Operations)
    plain = _per_epoch(
        lambda e: RankCNNClassifier(max_epochs=e, rank_every=None, **CNN).fit(X, y), _Operations)
    ranked = _per_epoch(lambda e: RankCNNClassifier(max_epochs=e, **CNN).fit(X, y), _Operations)
    assert plain == loop
    extra = ranked - loop
    assert not loop - ranked
    assert extra["copy_.default"] == 1
    assert set(extra) - {"copy_.default"} <= _VIEWS, extra


def test_the_hand_written_loop_reads_the_loss_once_an_epoch():
    X, y = _patches()
    assert _per_epoch(lambda e: _hand_written_loop(X, y, e), _HostTraffic) == {"read": 1}


@pytest.mark.parametrize(
    "fit",
    [
        lambda e: RankCNNClassifier(max_epochs=e, **CNN).fit(*_patches()),  # rank_every=1
        lambda e: RankCNNClassifier(max_epochs=e, rank_every=None, **CNN).fit(*_patches()),
        lambda e: RankCNNClassifier(max_epochs=e, rank_every=None,
                                    callbacks=[RankHistory(every=1, defer=True)],
                                    **CNN).fit(*_patches()),
        lambda e: TwoLayerNetClassifier(max_epochs=e, n_hidden=16, lr=0.02,
                                        random_state=0).fit(_spiked()[0], np.arange(60) % 2),
        lambda e: TwoLayerNetRegressor(max_epochs=e, n_hidden=16, lr=0.02, weight_decay=0.01,
                                       jacobian_penalty=0.1, random_state=0).fit(*_spiked()),
        lambda e: fit_batched(
            [RankCNNClassifier(max_epochs=e, **{**CNN, "random_state": i}) for i in range(3)],
            [_patches()] * 3),
    ],
    ids=["cnn-ranks-every-epoch", "cnn-no-ranks", "cnn-rank-history-deferred",
         "two-layer-classifier", "regressor-regularised", "fit_batched-three-points"],
)
def test_training_reads_the_host_once_an_epoch_as_the_loop_does(fit):
    # The loss, as skorch records it (fit_batched: the stacked losses of all its points, in
    # one read); the ranks are computed on the device and read once at the end of the fit.
    assert _per_epoch(fit, _HostTraffic) == {"read": 1}


def test_input_noise_is_drawn_where_the_batch_lives():
    # No copy of the noise a step (on a GPU it is drawn by a generator there), and no read.
    assert _per_epoch(
        lambda e: TwoLayerNetRegressor(max_epochs=e, n_hidden=16, lr=0.02, input_noise=0.1,
                                       random_state=0).fit(*_spiked()),
        _HostTraffic,
    ) == {"read": 1}


@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_input_noise_on_a_device_without_generators_comes_from_the_cpu(Estimator):
    # The meta device has no generator of its own: the CPU generator's draws, moved there.
    est = Estimator(n_hidden=4, input_noise=0.1, random_state=0,
                    module__n_features=3).initialize()
    reference = clone(est).initialize()
    noise = est._standard_noise(torch.empty(5, 3, device="meta"))
    assert noise.device.type == "meta" and noise.shape == (5, 3)
    torch.randn(5, 3, generator=reference._noise_generator)
    assert torch.equal(est._noise_generator.get_state(), reference._noise_generator.get_state())
    assert est._device_noise_generator is None
    # on the CPU: the fit's generator, as always
    expected = torch.randn(2, 3, generator=reference._noise_generator)
    assert torch.equal(est._standard_noise(torch.zeros(2, 3)), expected)


def test_ranks_read_as_they_are_written_cost_one_read_an_epoch():
    # RankHistory(defer=False), the choice of "auto" when the net prints its progress: each
    # epoch's ranks are read as that epoch ends, for the table or the bar to show them.
    assert _per_epoch(
        lambda e: RankCNNClassifier(max_epochs=e, rank_every=None,
                                    callbacks=[RankHistory(every=1, defer=False)],
                                    **CNN).fit(*_patches()),
        _HostTraffic,
    ) == {"read": 2}


# --------------------------------------------------------------------------- tensor creation
_FACTORIES = {
    "zeros", "ones", "empty", "full", "arange", "eye", "linspace", "logspace", "rand",
    "randn", "randint", "randperm", "normal", "tensor", "as_tensor", "from_numpy", "Generator",
}
# Functions that create tensors (or generators) on the CPU on purpose, and why. Everything
# else sklrank creates names its device (``device=``, or ``.to(device)`` at once); ``*_like``
# and ``new_*`` follow their source tensor and need no entry.
_ON_THE_HOST = {
    ("nn/_two_layer_cnn.py", "TwoLayerCNN.__init__"):
        "a module builds its weights on the CPU, as torch.nn layers do; the estimator moves "
        "the module to its device (skorch's initialize_module)",
    ("nn/_two_layer_net.py", "TwoLayerNet.__init__"): "as TwoLayerCNN.__init__",
    ("_two_layer_net_estimators.py", "_TwoLayerNet.initialize"):
        "the input-noise generator of the CPU, seeded by random_state; another device's is "
        "seeded from it (_noise_generator_on)",
    ("_two_layer_net_estimators.py", "_TwoLayerNet._noise_generator_on"):
        "the seed of a device's noise generator, one number drawn from the CPU generator",
    ("gradients/_decomposition.py", "_targets"):
        "the gradient decomposition runs in float64 on the CPU, on a host copy of the network",
    ("gradients/_decomposition.py", "autograd_gradient"): "as _targets",
    ("gradients/_decomposition.py", "_estimate_spike"): "as _targets",
    ("gradients/_decomposition.py", "_spectral_norm"): "as _targets",
    ("gradients/_decomposition.py", "gradient_decomposition"): "as _targets",
    ("gradients/_studies.py", "_curvature"): "on the host copy of the network, as _targets",
    ("_base.py", "_BaseNet.get_iterator"):
        "the shuffling generator of a DataLoader, whose sampler draws the order on the CPU "
        "(torch's RandomSampler takes a CPU generator only)",
}


def _device_free_creations():
    """(module, function) of every ``torch.<factory>(...)`` call in sklrank's source that
    neither passes ``device=`` nor is moved by ``.to(...)`` at once."""
    found = {}
    for path in sorted(Path(_SKLRANK).rglob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree)
                   for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _FACTORIES
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                continue
            parent = parents.get(node)
            if any(k.arg == "device" for k in node.keywords) or (
                isinstance(parent, ast.Attribute) and parent.attr == "to"
            ):
                continue
            names, scope = [], node
            while scope in parents:
                scope = parents[scope]
                if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.append(scope.name)
            key = (path.relative_to(_SKLRANK).as_posix(), ".".join(reversed(names)))
            found.setdefault(key, []).append(node.lineno)
    return found


def test_every_tensor_sklrank_creates_names_its_device():
    found = _device_free_creations()
    unexplained = {k: v for k, v in found.items() if k not in _ON_THE_HOST}
    assert not unexplained, (
        f"tensors created without a device (file, function: lines): {unexplained}; pass "
        "device= (or list the function in _ON_THE_HOST with the reason it runs on the CPU)"
    )
    assert set(_ON_THE_HOST) <= set(found), (
        f"no longer create host tensors, remove from _ON_THE_HOST: "
        f"{sorted(set(_ON_THE_HOST) - set(found))}"
    )


def test_tensor_settings_that_require_grad_are_taken_as_their_values():
    # spike= and filter_alignment(basis) convert with numpy, which refuses a tensor that
    # requires grad (and a CUDA one): taken through .detach().cpu()
    X, y, spike = make_spiked(60, 12, nu=0.3, random_state=0, return_spike=True)
    q = torch.tensor(spike.q, requires_grad=True)
    params = dict(init="spike", n_hidden=8, max_epochs=2, random_state=0)
    np.testing.assert_array_equal(
        TwoLayerNetRegressor(spike=q, **params).fit(X, y).predict(X),
        TwoLayerNetRegressor(spike=spike.q, **params).fit(X, y).predict(X))
    Xp, yp, basis, _ = make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0,
                                             return_basis=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RankCNNClassifier(max_epochs=2, **CNN).fit(Xp, yp)
    assert clf.filter_alignment(torch.tensor(basis, requires_grad=True)).equals(
        clf.filter_alignment(basis))


# --------------------------------------------------------------------------- pickled state
def _tensors_in(value, path="net"):
    """Where a torch tensor sits in ``value`` (dicts, lists, tuples and objects' __dict__)."""
    if isinstance(value, torch.Tensor):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _tensors_in(v, f"{path}[{k!r}]")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _tensors_in(v, f"{path}[{i}]")]
    if hasattr(value, "__dict__") and not isinstance(value, (type, torch.nn.Module)):
        return _tensors_in(vars(value), f"{path}.")
    return []


def _fitted_in_a_batch(net):
    fit_batched([net, clone(net).set_params(random_state=1)], [_patches(), _patches()])
    return net


@pytest.mark.parametrize(
    "fit",
    [
        lambda: RankCNNClassifier(max_epochs=3, **CNN).fit(*_patches()),  # labels -1 / +1
        lambda: _fitted_in_a_batch(RankCNNClassifier(max_epochs=3, **CNN)),
        lambda: TwoLayerNetClassifier(max_epochs=3).fit(
            _spiked()[0], np.where(np.arange(60) % 2, 5, 3)),
        # (lr=0.02: at the default lr its loss ends 4600 times above its start, a divergence
        # since the last step is checked)
        lambda: TwoLayerNetRegressor(max_epochs=3, lr=0.02,
                                     callbacks=[RankHistory()]).fit(*_spiked()),
    ],
    ids=["cnn", "cnn-batched", "two-layer-classifier", "regressor-rank-history"],
)
def test_a_fitted_net_pickles_no_tensor_outside_skorchs_device_handling(fit):
    # skorch saves module_, optimizer_ and criterion_ through torch.save and loads them with
    # map_location; any other tensor is pickled as it is, and a CUDA tensor then does not
    # load on a machine without CUDA (the classes' tensor cache of a fit did)
    assert _tensors_in(fit().__getstate__()) == []


# --------------------------------------------------------------------------- GPU batch plan
def _sweep_plan(monkeypatch, **kwargs):
    """The checked plan of a CPU noise_sweep (no fit runs), for the planning functions."""
    from sklrank.experiments import _sweep

    class Planned(Exception):
        pass

    def stop_before_any_fit(plan, **_):
        raise Planned(plan)

    monkeypatch.setattr(_sweep, "_execute", stop_before_any_fit)
    with pytest.raises(Planned) as planned:
        noise_sweep(verbose=0, **kwargs)
    return planned.value.args[0]


@no_cuda
@pytest.mark.parametrize("dataset", ["synthetic", "images"])
def test_a_cuda_sweep_on_a_cluster_plans_from_a_client_without_a_gpu(monkeypatch, dataset):
    # the device is the workers': the plan's probe classifier was initialised on "cuda" here
    # and failed ("classifier_params: device='cuda' but torch finds no CUDA device here")
    images = (np.random.default_rng(0).random((40, 64), dtype=np.float32),
              np.arange(40) % 2, (1, 8, 8))
    kwargs = {"dataset": images, "rank": 2} if dataset == "images" else {}
    plan = _sweep_plan(monkeypatch, device="cuda", dask_client="tcp://127.0.0.1:1",
                       noise_levels=[0.0], n_seeds=1, **kwargs)
    assert plan.params["device"] == "cuda"


@pytest.mark.parametrize("dataset", ["synthetic", "images"])
def test_a_cluster_sweep_is_not_held_to_the_clients_memory(monkeypatch, dataset):
    # the points run on the workers: a client with (here) 1 MiB of memory planned a sweep of
    # 2000 samples as "more than the 0.000977 GiB of this machine"
    import os

    pages = {"SC_PHYS_PAGES": 256, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    images = (np.random.default_rng(0).random((2000, 64), dtype=np.float32),
              np.arange(2000) % 2, (1, 8, 8))
    kwargs = {"dataset": images, "rank": 2} if dataset == "images" else {}
    with pytest.raises(ValueError, match="GiB of this machine"):
        _sweep_plan(monkeypatch, noise_levels=[0.0], n_seeds=1, n_samples=1000, **kwargs)
    plan = _sweep_plan(monkeypatch, dask_client="tcp://127.0.0.1:1", noise_levels=[0.0],
                       n_seeds=1, n_samples=1000, **kwargs)
    assert plan.remote


@pytest.mark.parametrize("free_points", [0.4, 1, 2.5, 7, 1000])
def test_batches_on_a_gpu_fit_half_its_free_memory(free_points, monkeypatch):
    # The sweep's batches on a GPU take at most half of the memory torch reports free (here
    # the room of ``free_points`` points' training twice over), as few batches as that
    # allows, every point once; a point larger than the room still runs, alone.
    from sklrank.experiments import _sweep

    plan = _sweep_plan(monkeypatch, noise_levels=[0.0, 0.25, 0.5, 0.75, 1.0], n_seeds=3)
    plan.params["device"] = "cuda"
    n, n_classes = plan.config["n_samples"][0], 2
    device_bytes, _ = _sweep._point_bytes(n, n_classes, plan.shape, on_cpu=False)
    free = int(2 * free_points * device_bytes)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 2 * free))
    tasks = _sweep._tasks(plan, plan.points, n_workers=1, spread=False)
    sizes = [len(points) for _, points in tasks]
    fits = max(1, int(free_points))
    assert all(size <= fits for size in sizes)
    assert len(tasks) == -(-len(plan.points) // fits)
    planned = sorted((n, noise, seed) for n, points in tasks for noise, seed in points)
    assert planned == sorted(plan.points)
