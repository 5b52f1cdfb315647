"""The one check of a ``device`` argument, shared by the estimators, the sweep and the studies.

torch reports a missing GPU late and in its own words ("Torch not compiled with CUDA enabled",
an AssertionError raised from deep inside the first ``.to``); this turns it into a ValueError
that names the parameter and the fix, before any work starts.
"""

import torch


def check_device(device, *, types=None, parameter="device", on_this_machine=True):
    """``device`` as a string torch accepts, or a ValueError naming ``parameter`` and the fix.

    Parameters
    ----------
    device : str or torch.device
        "cpu", "cuda", "cuda:N", or another torch device type when ``types`` allows it.
    types : tuple of str, default=None
        The device types accepted; None accepts any type torch knows.
    parameter : str, default="device"
        The name the error messages use; a command-line option ("--device") is written as
        typed on the command line.
    on_this_machine : bool, default=True
        Whether the device must exist here; False where the work runs elsewhere (Dask
        workers), so that only the name is checked.

    Returns
    -------
    device : str
        ``str(torch.device(device))``.

    Raises
    ------
    ValueError
        ``device`` is not a torch device, is of a type not in ``types``, or names a CUDA
        device this machine does not have (when ``on_this_machine``).
    """
    option = parameter.startswith("--")

    def setting(value):  # as the user wrote it: a parameter or a command-line option
        return f"{parameter} {value}" if option else f"{parameter}={value!r}"

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{setting(device)} is not a torch device; pass 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if types is not None and parsed.type not in types and on_this_machine:
        allowed = " or ".join(repr(t) for t in types)
        raise ValueError(f"{setting(device)}: this runs on {allowed} devices only.")
    if parsed.type == "cuda" and on_this_machine:
        if not torch.cuda.is_available():
            raise ValueError(
                f"{setting(device)} but torch finds no CUDA device here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                f"use {setting('cpu')}, or install a CUDA build of torch on a machine with "
                "a GPU."
            )
        count = torch.cuda.device_count()
        if (parsed.index or 0) >= count:
            raise ValueError(
                f"{setting(device)}: there are {count} CUDA device(s) here; pass "
                f"'cuda:0' .. 'cuda:{count - 1}'."
            )
    return str(parsed)
