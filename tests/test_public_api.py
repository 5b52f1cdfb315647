"""Every public name is reachable from the package and documented in numpydoc style.

The Examples sections of the docstrings run as doctests in the test command itself
(``--doctest-modules`` in pyproject.toml, methods' examples included), and
tests/test_docs.py validates the docstrings with numpydoc.
"""

import importlib
import inspect

import pytest

import sklrank

SUBPACKAGES = [
    "callbacks", "datasets", "exceptions", "experiments", "gradients", "metrics", "nn",
    "preprocessing",
]


def _public_objects():
    """(qualified name, object) for every name in ``__all__`` of sklrank and its subpackages."""
    found = {}
    for name in sklrank.__all__:
        if name in SUBPACKAGES or name == "__version__":
            continue
        found[f"sklrank.{name}"] = getattr(sklrank, name)
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"sklrank.{sub}")
        for name in module.__all__:
            found[f"sklrank.{sub}.{name}"] = getattr(module, name)
    return sorted(found.items())


PUBLIC = _public_objects()


def test_every_subpackage_exports_something():
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"sklrank.{sub}")
        assert module.__all__, f"sklrank.{sub} exports nothing"
        assert module.__doc__, f"sklrank.{sub} has no module docstring"


@pytest.mark.parametrize("qualname, obj", PUBLIC, ids=[q for q, _ in PUBLIC])
def test_public_name_is_documented(qualname, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{qualname} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, Exception):
        return  # an error type needs a sentence, not a Parameters section
    has_params = bool(inspect.signature(obj).parameters) if callable(obj) else False
    if inspect.isclass(obj) or inspect.isfunction(obj):
        if has_params:
            assert "Parameters\n----------" in doc, f"{qualname}: no numpydoc Parameters section"
        assert "Examples\n--------" in doc, f"{qualname}: no Examples section"


def test_top_level_names_come_from_private_modules():
    # imbalanced-learn's layout: definitions live in private modules, re-exported publicly
    for name in ["stable_rank", "RankCNNClassifier", "PCARankReducer", "TwoLayerNetRegressor"]:
        module = getattr(sklrank, name).__module__
        assert any(part.startswith("_") for part in module.split(".")[1:]), module


def test_dir_lists_all():
    assert set(dir(sklrank)) == set(sklrank.__all__)
    with pytest.raises(AttributeError, match="no attribute"):
        sklrank.not_a_name  # noqa: B018


def test_every_module_imports_first_in_a_fresh_interpreter():
    # a module imported before the package (sklrank._batched in a joblib worker) met a
    # circular import that importing sklrank first hid: sklrank._base -> callbacks ->
    # gradients -> gradients._studies -> sklrank._base
    import subprocess
    import sys

    script = """
import importlib, pkgutil, sys
import sklrank
names = [m.name for m in pkgutil.walk_packages(sklrank.__path__, "sklrank.")
         if m.name != "sklrank.__main__"]  # (it runs the command line)
failed = []
for name in names:
    for loaded in [k for k in sys.modules if k == "sklrank" or k.startswith("sklrank.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print(len(names))
print("\\n".join(failed))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=True)
    count, *failed = result.stdout.strip().splitlines()
    assert int(count) > 20
    assert not failed, failed


@pytest.mark.parametrize("sub", ["experiments", "gradients"])
def test_subpackage_names_load_on_first_use(sub):
    # their names are imported on first use (as sklrank's): every one resolves, dir lists
    # them, an unknown name is the usual AttributeError
    module = importlib.import_module(f"sklrank.{sub}")
    assert set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        assert getattr(module, name) is getattr(module, name)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["gradients", "--help"]])
def test_command_line_help_loads_no_heavy_library(argv):
    # the help is built from constants alone: it took 2-3 s on a quiet 2-core machine (9-10 s
    # under load) to import torch, scikit-learn, skorch and pandas it does not use
    import subprocess
    import sys

    script = f"""
import sys
from sklrank._cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = ["torch", "sklearn", "skorch", "pandas", "numpy", "scipy", "matplotlib"]
print("LOADED", *[name for name in heavy if name in sys.modules])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=True)
    assert "usage: sklrank" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED"
