"""Sphinx configuration of the sklrank documentation.

Build (from the repository root, with the ``docs`` extra installed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery runs every ``examples/plot_*.py`` during the build (``SKLRANK_DATA`` tells the MNIST
examples where the data is). See ``docs/development.rst`` for a quick text-only build and a full
rebuild.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
# Document (and run the gallery against) the checkout being built, installed or not.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(DOCS))

# The data the MNIST examples read: $SKLRANK_DATA, else the shared folder beside the repository
# (as the tests do, see tests/conftest.py). Set before sklrank is imported by anything.
_SHARED_DATA = REPO.parent / "shared" / "data"
if "SKLRANK_DATA" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["SKLRANK_DATA"] = str(_SHARED_DATA)

import api_reference  # noqa: E402  (docs/api_reference.py)

import sklrank  # noqa: E402

# -- project -----------------------------------------------------------------------------------

project = "sklrank"
author = "sklrank developers"
copyright = "sklrank developers"  # noqa: A001  (a Sphinx setting)
release = sklrank.__version__
version = ".".join(release.split(".")[:2])

# -- extensions ----------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "bad_inputs",  # docs/bad_inputs.py: the tests' tables of bad inputs (reliability page)
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery's own files that are not pages
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.json",
    "auto_examples/*.pickle",
    # figures' CSV and JSON side files are data, not pages
    "figures",
]

# The API index is written from the packages' __all__ before Sphinx reads any source.
api_reference.write_index(DOCS / "api" / "index.rst")

# autodoc / autosummary: one page per public object (templates in _templates/autosummary/)
autosummary_generate = True
autosummary_imported_members = True
# class pages show the methods sklrank writes, also in its private bases (_BaseNet.fit), and
# not those of skorch, torch or scikit-learn (_templates/autosummary/class.rst)
autosummary_context = {"external_bases": ", ".join(api_reference.external_bases())}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
add_module_names = False
toc_object_entries_show_parents = "hide"  # "fit()" in a page's contents, not "Class.fit()"

# numpydoc: the class template lists the members itself
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# MyST: the Markdown pages (science.md, results.md) link to their headings by anchor
myst_heading_anchors = 3

# -- the gallery ---------------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # plot_*.py run at every build; the other files are shown without running (their pages
    # say so)
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    "doc_module": ("sklrank",),
    "backreferences_dir": str(DOCS / "api" / "generated" / "backreferences"),
    # an object no example uses has no backreferences file: nothing to warn about
    "log_level": {"backreference_missing": "debug"},
    "reference_url": {"sklrank": None},
    "show_memory": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib", "seaborn", "gallery_helpers.torch_threads"),
    "matplotlib_animations": False,
    "min_reported_time": 0,
    # a broken example fails the build (sphinx-gallery's default, stated for CI)
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
}

# -- HTML ------------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklrank {release}"
html_static_path = ["_static"]
html_css_files = ["sklrank.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "sklrank"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "science": [], "results": [], "benchmarks": []}


# -- hooks -----------------------------------------------------------------------------------------

# Markdown files of the repository outside docs/ that the site shows as pages (each page
# includes its file). docs/results.md links to the files themselves, as GitHub reads them;
# here such a link goes to the page.
INCLUDED_FILES = {REPO / "benchmarks" / "RESULTS.md": "benchmarks"}


def _link_included_files(app, doctree):
    """Point MyST links to an ``INCLUDED_FILES`` file at its page (they would be "Unknown
    source document" links: the file is outside the source folder)."""
    from sphinx import addnodes

    for node in doctree.findall(addnodes.pending_xref):
        if node.get("reftype") == "myst" and node.get("refdomain") == "doc":
            page = INCLUDED_FILES.get(Path(node["reftarget"] + ".md"))
            if page is not None:
                node["reftarget"] = page


def _doc_comment(module_name, attr):
    """The ``#:`` comment lines just above the top-level assignment of ``attr``, unprefixed.

    Read from the source with :mod:`ast`, not with Sphinx's ``ModuleAnalyzer``, which fails
    on a whole module when one decorator holds a dict with ``**`` unpacking (Sphinx 9.0:
    ``zip() argument 2 is longer than argument 1`` in ``sphinx.pycode.ast.visit_Dict``), as
    ``sklrank/experiments/_sweep.py``'s ``@validate_params({**_COMMON_CONSTRAINTS, ...})``.
    """
    import ast
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module_name))
    lines = source.splitlines()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            comment, i = [], node.lineno - 2
            while i >= 0 and lines[i].lstrip().startswith("#:"):
                comment.insert(0, lines[i].lstrip()[2:].removeprefix(" ").rstrip())
                i -= 1
            return comment
    return []


def _data_docstring(app, what, name, obj, options, lines):
    """Public data (defaults dicts, ready-made scorers): the ``#:`` comment above its
    definition and its value, instead of the docstring of its type.

    autodoc finds ``#:`` comments only in the module it documents, the public subpackage;
    the definitions live in its private modules.
    """
    if what != "data":
        return
    import importlib
    import pkgutil
    import pprint

    package_name, _, attr = name.rpartition(".")
    package = importlib.import_module(package_name)
    comment = []
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        comment = _doc_comment(f"{package_name}.{info.name}", attr)
        if comment:
            break
    lines[:] = comment + [""]
    lines += [".. code-block:: python", ""]
    lines += ["   " + line for line in pprint.pformat(obj, width=88, sort_dicts=False).splitlines()]
    lines.append("")


def _skip_member(app, what, name, obj, skip, options):
    """Leave out of the class pages what the frameworks document: the torch and skorch hooks
    (api_reference.FRAMEWORK_HOOKS) and scikit-learn's generated ``set_*_request`` methods
    (metadata routing; their docstrings point into scikit-learn's glossary)."""
    if what == "class" and name in api_reference.FRAMEWORK_HOOKS:
        return True
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _public_class_names(app, what, name, obj, options, signature, return_annotation):
    """Show ``module=sklrank.nn.TwoLayerCNN`` in signatures, not the private module path."""
    if not signature:
        return None
    import re

    public = {}
    for section in api_reference.public_names():
        for qualname, _, alias_of in section[2]:
            module, _, attr = (alias_of or qualname).rpartition(".")
            value = getattr(sys.modules[module], attr)
            if isinstance(value, type):
                public[f"{value.__module__}.{value.__qualname__}"] = alias_of or qualname

    def shorten(match):
        return public.get(match.group(1), match.group(1))

    return re.sub(r"<class '([\w.]+)'>", shorten, signature), return_annotation


def _public_bases(app, name, obj, options, bases):
    """Hide private base classes (``sklrank._base._BaseNet``) from "Bases:"."""
    bases[:] = [
        base for base in bases
        if not any(part.startswith("_") for part in f"{base.__module__}.{base.__name__}".split("."))
    ]


def _check_api_pages(app, exception):
    """Fail the build when a public name has no page (a template or generator bug)."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir) / "api" / "generated"
    missing = [q for q in api_reference.page_names() if not (out / f"{q}.html").is_file()]
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning("public names without an API page: %s", missing)


def setup(app):
    # numpydoc rewrites docstrings at priority 500: set the data's text before it
    app.connect("autodoc-process-docstring", _data_docstring, priority=400)
    app.connect("autodoc-process-signature", _public_class_names)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("doctree-read", _link_included_files)
    app.connect("build-finished", _check_api_pages)
