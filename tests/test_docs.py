"""The documentation site: every public name gets an API page, and every public docstring
passes numpydoc's validation (the checks below, with the listed exceptions)."""

import ast
import builtins
import importlib
import importlib.util
import inspect
import re
import sys
import types

import pytest
from conftest import REPO_ROOT

import sklrank

sys.path.insert(0, str(REPO_ROOT / "docs"))
import api_reference  # noqa: E402  (docs/api_reference.py: the API index generator)

TEMPLATES = REPO_ROOT / "docs" / "_templates" / "autosummary"


def _public():
    """(qualified name, object) for every name in an ``__all__``, found independently of
    docs/api_reference.py: sklrank's own, and those of every module of the package whose
    name has no leading underscore (the subpackages sklrank exports, and
    ``sklrank.exceptions``)."""
    found = []
    for name in sklrank.__all__:
        obj = getattr(sklrank, name)
        if not isinstance(obj, types.ModuleType) and not name.startswith("__"):
            found.append((f"sklrank.{name}", obj))
    for path in sorted(REPO_ROOT.joinpath("sklrank").iterdir()):
        if path.name.startswith("_") or not (path.suffix == ".py" or path.is_dir()):
            continue
        if path.is_dir() and not (path / "__init__.py").is_file():
            continue
        module = importlib.import_module(f"sklrank.{path.stem}")
        found += [(f"{module.__name__}.{n}", getattr(module, n)) for n in module.__all__]
    return sorted(found, key=lambda item: item[0])


PUBLIC = _public()
IDS = [qualname for qualname, _ in PUBLIC]


# -- the API reference ---------------------------------------------------------------------


def test_every_public_name_is_in_the_api_index():
    pages = set(api_reference.page_names())
    documented = {q: a for _, _, entries in api_reference.public_names() for q, _, a in entries}
    for qualname, obj in PUBLIC:
        assert qualname in documented, f"{qualname} is missing from the API index"
        page = documented[qualname] or qualname
        assert page in pages, f"{qualname} has no page"
        module, _, attr = page.rpartition(".")
        # an alias is documented on the page of the very same object
        assert getattr(importlib.import_module(module), attr) is obj, (qualname, page)


def test_api_index_has_one_table_entry_per_page():
    text = api_reference.render_index()
    for page in api_reference.page_names():
        module, _, name = page.rpartition(".")
        section = text.split(f".. module:: {module}\n", 1)[1].split(".. module::", 1)[0]
        assert f"\n   {name}\n" in section, f"{page} has no autosummary entry in its section"
    # one page an object: no object is documented under two names
    objects = {id(obj) for _, obj in PUBLIC if not _is_data(obj)}
    data = [qualname for qualname, obj in PUBLIC if _is_data(obj)]
    assert len(api_reference.page_names()) == len(objects) + len(data)


def test_every_kind_of_public_object_has_a_page_template():
    # autosummary picks the template by object type; a missing one falls back to a bare page
    for _, obj in PUBLIC:
        kind = api_reference.kind(obj)
        assert (TEMPLATES / f"{kind}.rst").is_file(), kind


def test_api_index_is_written_only_when_it_changes(tmp_path):
    path = api_reference.write_index(tmp_path / "api" / "index.rst")
    stamp = path.stat().st_mtime_ns
    api_reference.write_index(path)
    assert path.stat().st_mtime_ns == stamp
    assert path.read_text() == api_reference.render_index()


def test_class_pages_show_the_methods_sklrank_writes_in_private_bases():
    # The nets' fit (with sample_weight), partial_fit, predict and predict_proba are
    # sklrank's, written in private bases (_BaseNet, _ClassifierNet): their pages show them,
    # and not the members of skorch, torch or scikit-learn, which document those.
    shown = set(api_reference.shown_members(sklrank.RankCNNClassifier))
    assert {"fit", "partial_fit", "predict", "predict_proba", "classes_", "filters_"} <= shown
    assert not shown & {"get_params", "save_params", "score", "forward", "get_loss"}
    bases = api_reference.external_bases()
    assert {"NeuralNetClassifier", "NeuralNet", "BaseEstimator", "object"} <= set(bases)
    assert not [name for name in bases if name.startswith("_") and hasattr(sklrank, name)]
    template = (TEMPLATES / "class.rst").read_text()
    assert ":inherited-members: {{ external_bases }}" in template


# -- numpydoc validation -------------------------------------------------------------------

# The checks (numpydoc's codes): what a reader of the API page needs to be right.
CHECKS = {
    "GL08": "the object has no docstring",
    "SS01": "no one-line summary",
    "PR01": "a parameter of the signature is not documented",
    "PR02": "a documented parameter is not in the signature",
    "PR03": "the parameters are documented in another order than the signature's",
    "PR04": "a parameter has no type",
    "PR07": "a parameter has no description",
    "RT01": "no Returns section",
    "RT03": "a return value has no description",
    "YD01": "no Yields section",
}
def _is_data(obj):
    return api_reference.kind(obj) == "data"


def _methods(qualname, cls):
    """The public methods and properties its page shows: those sklrank writes, in the class
    or in a private base (``_BaseNet.fit``, ``_ClassifierNet.predict_proba``).

    Left out, as on the page: what skorch, torch or scikit-learn define (they document it),
    the hooks that torch and skorch call (``api_reference.FRAMEWORK_HOOKS``: ``forward``,
    ``on_epoch_end``, ``get_iterator``, ...) and scikit-learn's generated
    ``set_*_request`` methods.
    """
    for name in api_reference.shown_members(cls):
        yield f"{qualname}.{name}"


def _validated():
    """Every object with an API page (an alias once, under its page's name) and the methods
    its page shows; not data (no signature, no sections: see
    test_public_data_has_a_doc_comment)."""
    pages = set(api_reference.page_names())
    names = []
    for qualname, obj in PUBLIC:
        if _is_data(obj) or qualname not in pages:
            continue
        names.append(qualname)
        if inspect.isclass(obj):
            names += list(_methods(qualname, obj))
    return names


VALIDATED = _validated()


@pytest.mark.parametrize("qualname", VALIDATED)
def test_numpydoc_validation(qualname):
    validate = pytest.importorskip(
        "numpydoc.validate", reason="numpydoc is in the docs extra: pip install -e .[docs]"
    ).validate
    errors = [(code, message) for code, message in validate(qualname)["errors"]
              if code in CHECKS]
    assert not errors, "\n".join(f"{qualname}: {code} {message}" for code, message in errors)


@pytest.mark.parametrize("qualname", [q for q in VALIDATED if q in set(api_reference.page_names())])
def test_every_public_object_has_examples(qualname):
    # Every class, function and exception of the API reference shows how it is used, in an
    # Examples section the doctests run (pytest --doctest-modules); methods may leave it to
    # their class, as scikit-learn's do.
    validate = pytest.importorskip(
        "numpydoc.validate", reason="numpydoc is in the docs extra: pip install -e .[docs]"
    ).validate
    codes = [code for code, _ in validate(qualname)["errors"]]
    assert "EX01" not in codes, f"{qualname}: no Examples section"


def _data_definitions():
    """(qualified name, defining module, name) for every public data object."""
    for qualname, obj in PUBLIC:
        if not _is_data(obj):
            continue
        package_name, _, name = qualname.rpartition(".")
        package = importlib.import_module(package_name)
        for submodule in sorted(p.stem for p in
                                (REPO_ROOT / package_name.replace(".", "/")).glob("_*.py")):
            module = importlib.import_module(f"{package_name}.{submodule}")
            if getattr(module, name, None) is obj and name in _assigned(module):
                yield qualname, module, name
                break
        else:
            yield qualname, package, name


def _assigned(module):
    """Top-level assignments of a module: name -> line number (1-based)."""
    tree = ast.parse(inspect.getsource(module))
    return {target.id: node.lineno for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


DATA = list(_data_definitions())


@pytest.mark.parametrize("qualname, module, name", DATA, ids=[d[0] for d in DATA])
def test_public_data_has_a_doc_comment(qualname, module, name):
    # A dict or a ready-made scorer has no docstring of its own; Sphinx documents it from
    # the "#:" comment just above its definition (docs/conf.py finds it in the private
    # module). Without one its API page shows only the value.
    line = _assigned(module).get(name)
    assert line is not None, f"{qualname}: no top-level assignment in {module.__name__}"
    source = inspect.getsource(module).splitlines()
    assert line >= 2 and source[line - 2].lstrip().startswith("#:"), (
        f"{qualname}: no '#:' doc comment above its definition in {module.__name__} "
        f"(line {line})"
    )


# -- cross-references ----------------------------------------------------------------------

# A role in a docstring: :func:`name`, :class:`~name`, :meth:`text <name>`, ...
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|obj|mod|data|exc):`"
                   r"(?:[^`<]*<)?~?\.?([\w.]+?)(?:\(\))?>?`")


def _linkable():
    """Every sklrank name a cross-reference can link to: the modules of the API index, the
    objects with a page and the members their pages show."""
    modules = {module for module, _, _ in api_reference.public_names()}
    return modules | set(api_reference.page_names()) | set(VALIDATED)


def _unresolved(qualname, linkable):
    """The sklrank targets of the roles in ``qualname``'s docstring that Sphinx cannot link:
    private names, or names relative to another module than the page's."""
    obj = _resolve(qualname)
    page = qualname if qualname in set(api_reference.page_names()) else qualname.rpartition(
        ".")[0]
    module = page.rpartition(".")[0]
    context = [module] + ([page] if inspect.isclass(_resolve(page)) else [])
    missing = []
    for target in _ROLE.findall(inspect.getdoc(obj) or ""):
        first = target.split(".")[0]
        if first != "sklrank" and (hasattr(builtins, first)
                                   or importlib.util.find_spec(first) is not None):
            continue  # another library's name (it links with intersphinx, if configured)
        # Sphinx's Python domain tries the name in the current class, then module, then as is
        if not any(c in linkable for c in [f"{x}.{target}" for x in context[::-1]] + [target]):
            missing.append(target)
    return missing


def _resolve(qualname):
    module, _, attr = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError:  # a method or property: module.Class.name
        return getattr(_resolve(module), attr)


@pytest.mark.parametrize("qualname", VALIDATED)
def test_docstring_cross_references_resolve(qualname):
    # A :func:/:class:/:meth: role whose target has no page renders as plain code on the
    # site, with no link (Sphinx warns only in nitpicky mode): a private name, or a name
    # written relative to another module (:meth:`GradientDecomposition.summary` in
    # sklrank.callbacks). Write the public path, ~ to show the last part.
    missing = _unresolved(qualname, _linkable())
    assert not missing, f"{qualname}: no API page for {missing}"


# -- the reliability page's tables of bad inputs --------------------------------------------

import bad_inputs  # noqa: E402  (docs/bad_inputs.py: the bad-inputs directive)

RELIABILITY = REPO_ROOT / "docs" / "user_guide" / "reliability.rst"


def _listed_modules():
    return [line.split("::", 1)[1].strip() for line in RELIABILITY.read_text().splitlines()
            if line.startswith(".. bad-inputs::")]


def test_reliability_page_shows_every_test_modules_table_of_bad_inputs():
    listed = _listed_modules()
    assert len(listed) == len(set(listed)), listed
    with_table = []
    for path in sorted((REPO_ROOT / "tests").glob("test_*.py")):
        try:
            bad_inputs.table(path.name)
        except ValueError:
            continue
        with_table.append(path.name)
    # a test module that gains a table appears on the page; a listed one keeps its table
    assert sorted(listed) == with_table


@pytest.mark.parametrize("module", _listed_modules())
def test_bad_inputs_table_is_a_two_column_table_with_a_lead_in(module):
    lines = bad_inputs.table(module)
    border = lines[0].strip()
    assert len(border.split()) == 2, f"{module}: expected columns input | answer"
    assert [line.strip() for line in lines].count(border) == 3
    assert bad_inputs.intro(module), f"{module}: no paragraph introduces the table"
