"""Public names imported on first use (PEP 562), for ``sklrank`` and its subpackages.

scientific-python's ``lazy_loader`` does the same; this is the few lines of it sklrank needs,
without one more dependency.
"""

import importlib


def attach(package, names, submodules=(), eager=()):
    """``__getattr__``, ``__dir__`` and ``__all__`` of a package whose public names load lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict of str to str
        Public name -> the module that defines it.
    submodules : sequence of str, default=()
        Subpackages, imported on first access as ``package.name``.
    eager : sequence of str, default=()
        Public names the package defines itself (listed in ``__all__`` after the others).

    Returns
    -------
    __getattr__ : callable
    __dir__ : callable
    __all__ : list of str
    """
    names = dict(names)
    submodules = list(submodules)
    public = sorted(names) + submodules + list(eager)

    def __getattr__(name):
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # cache: __getattr__ runs once per name
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(public))

    return __getattr__, __dir__, public
