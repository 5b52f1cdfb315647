"""A second device on a CPU-only machine, to catch host/device mixing in the tests that run here.

``simulated_gpu()`` registers torch's PrivateUse1 backend under the name ``"simgpu"`` (torch's
Python backend registration: a device guard, so autograd accepts it) and, while the context is
open, makes every tensor that is created on, or moved to, ``"simgpu"`` a :class:`SimTensor`: a
wrapper that reports ``device="simgpu:0"`` and computes on a CPU tensor inside. An estimator
given ``device="simgpu"`` then trains exactly as on a GPU as far as *where tensors are* goes:

* an operation that mixes a ``simgpu`` tensor with a CPU tensor of one dimension or more raises
  ``RuntimeError: Expected all tensors to be on the same device`` as CUDA does (CPU scalars,
  0-d tensors, are allowed, as CUDA allows them; ``copy_`` between the two is an explicit copy
  and allowed);
* ``.numpy()`` / ``np.asarray`` of a ``simgpu`` tensor raises the TypeError CUDA raises;
* every read of a value by the host (``.item()``, ``bool(t)``, ``float(t)``, a copy to the CPU:
  what makes the host wait for a GPU) is counted in ``reads``, and each copy from the host to
  the device in ``uploads``.

What it proves: the code under test creates every tensor it computes with on the estimator's
device (or moves it there explicitly), never hands a device tensor to numpy, and reads the
device the number of times counted. What it cannot show: anything about CUDA itself: its
kernels and their numerics (TF32, non-deterministic reductions), CUDA generators (``simgpu``
has none, so code that draws on the device falls back to its no-generator path), memory
(``torch.cuda.mem_get_info`` and out-of-memory), streams and asynchrony, speed, and code that
branches on ``device.type == "cuda"`` (it sees ``"simgpu"``). A CPU index tensor used to index
a device tensor is refused here, while CUDA copies it over silently; that is stricter than
CUDA, on purpose (it is an implicit host-to-device copy).
"""

import contextlib
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

NAME = "simgpu"
_DEVICE = None  # torch.device("simgpu", 0), once registered
_registered = False


def _register():
    """PrivateUse1 as ``simgpu``, once per process (torch allows one renaming)."""
    global _registered, _DEVICE
    if _registered:
        return
    from torch.utils import backend_registration as registration

    class Hooks(registration._DummyPrivateUse1Hook):
        # torch.accelerator asks this: outside simulated_gpu() the machine has no accelerator,
        # as before (else the DataLoader's pin_memory=True would pin for "simgpu")
        def is_available(self):
            return SimTensor.counts is not None

    class Module(registration._DummyBackendModule):
        def is_available(self):
            return SimTensor.counts is not None

    registration._setup_privateuseone_for_python_backend(NAME, backend_module=Module(),
                                                         hook=Hooks())
    _DEVICE = torch.device(NAME, 0)
    _registered = True


# At import: autograd's engine sizes its per-device queues at the first backward pass of the
# process, and a device registered after that one fails there ("device_ready_queues_" internal
# assert). Importing this module before any backward pass (a test module's import, at
# collection) is enough.
try:
    _register()
    UNAVAILABLE = None
except (AttributeError, ImportError, RuntimeError) as exc:  # a torch without the API
    UNAVAILABLE = f"torch {torch.__version__} cannot register a Python device: {exc}"


def _on_sim(device):
    if isinstance(device, str):
        return device.split(":")[0] == NAME
    return isinstance(device, torch.device) and device.type == NAME


class SimTensor(torch.Tensor):
    """A tensor on ``simgpu:0`` whose values live in a CPU tensor, ``inner``."""

    counts = None  # the Counter of the open simulated_gpu() context

    @staticmethod
    def __new__(cls, inner):
        out = torch.Tensor._make_wrapper_subclass(
            cls, inner.shape, strides=inner.stride(), storage_offset=inner.storage_offset(),
            dtype=inner.dtype, layout=inner.layout, device=_DEVICE,
            requires_grad=inner.requires_grad)
        out._host = inner
        return out

    def __repr__(self):
        return f"SimTensor({self._host!r})"

    def __tensor_flatten__(self):
        return ["_host"], None

    @staticmethod
    def __tensor_unflatten__(inner_tensors, meta, outer_size, outer_stride):
        return SimTensor(inner_tensors["_host"])

    # no conversion of results to the subclass: a copy to the host is a plain tensor
    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        counts = SimTensor.counts if SimTensor.counts is not None else Counter()
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        host = [a for a in tensors if not isinstance(a, SimTensor) and a.dim() > 0]
        if host and func is not torch.ops.aten.copy_.default:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two "
                f"devices, {_DEVICE} and {host[0].device}! ({func})")
        target = kwargs.get("device")
        unwrapped = tree_map(lambda a: a._host if isinstance(a, SimTensor) else a,
                             (args, dict(kwargs, device=torch.device("cpu"))
                              if target is not None else kwargs))
        out = func(*unwrapped[0], **unwrapped[1])
        if func is torch.ops.aten._local_scalar_dense.default:
            counts["reads"] += 1
            return out
        if target is not None and not _on_sim(target):  # to the host
            counts["reads"] += 1
            return out
        if func is torch.ops.aten.copy_.default:
            destination, source = args[0], args[1]
            if not isinstance(destination, SimTensor):
                counts["reads"] += 1
                return destination
            if not isinstance(source, SimTensor) and source.dim() > 0:
                counts["uploads"] += 1
            return destination
        return tree_map(
            lambda t: SimTensor(t) if isinstance(t, torch.Tensor)
            and not isinstance(t, SimTensor) else t, out)


_MOVES = (torch.Tensor.to, torch.Tensor.new_tensor, torch.Tensor.new_zeros,
          torch.Tensor.new_ones, torch.Tensor.new_empty, torch.Tensor.new_full)


class _Placement(TorchFunctionMode):
    """Creation on, and moves to, ``simgpu``: done on the CPU, then wrapped."""

    def __init__(self, counts):
        super().__init__()
        self.counts = counts

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            return self._to(args[0], *args[1:], **kwargs)
        if func is torch.Tensor.tolist and isinstance(args[0], SimTensor):
            self.counts["reads"] += 1
            return args[0]._host.tolist()
        if func in (torch.Tensor.numpy, torch.Tensor.__array__) and isinstance(args[0],
                                                                             SimTensor):
            raise TypeError(
                f"can't convert {_DEVICE} device type tensor to numpy. Use Tensor.cpu() to "
                "copy the tensor to host memory first.")
        if not _on_sim(kwargs.get("device")):
            return func(*args, **kwargs)
        if func in _MOVES and isinstance(args[0], SimTensor):  # new_* of a device tensor
            args = (args[0]._host, *args[1:])
        out = func(*args, **dict(kwargs, device="cpu"))
        return tree_map(lambda t: SimTensor(t) if isinstance(t, torch.Tensor) else t, out)

    def _to(self, source, *args, **kwargs):
        """Tensor.to, its arguments read as torch reads them."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        flags = []
        for a in args:
            if isinstance(a, torch.Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, torch.dtype):
                dtype = a
            elif isinstance(a, (str, torch.device)):
                device = a
            elif isinstance(a, bool):
                flags.append(a)
        for name, flag in zip(("non_blocking", "copy"), flags):
            kwargs[name] = flag
        if dtype is not None:
            kwargs["dtype"] = dtype
        if not _on_sim(device):
            if device is not None:
                kwargs["device"] = device
            return source.to(**kwargs)
        if isinstance(source, SimTensor):  # already there: a change of dtype at most
            return source.to(**kwargs)
        out = source.to(**kwargs)
        if out.dim() > 0:
            self.counts["uploads"] += 1
        inner = out.detach() if out is not source else out.detach().clone()
        return SimTensor(inner).requires_grad_(out.requires_grad)


class _Factories(TorchDispatchMode):
    """Tensors torch makes itself on ``simgpu`` (autograd's zero gradients, say): on the CPU,
    wrapped."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _on_sim(kwargs.get("device")) and not any(
                isinstance(a, SimTensor) for a in tree_flatten(args)[0]):
            out = func(*args, **dict(kwargs, device=torch.device("cpu")))
            return tree_map(lambda t: SimTensor(t) if isinstance(t, torch.Tensor) else t, out)
        return func(*args, **kwargs)


@contextlib.contextmanager
def simulated_gpu():
    """Open the simulated device; yields the Counter of ``reads`` and ``uploads``."""
    _register()
    counts = Counter()
    previous, SimTensor.counts = SimTensor.counts, counts
    try:
        with _Placement(counts), _Factories():
            yield counts
    finally:
        SimTensor.counts = previous
