"""The tables of bad inputs and their answers, read from the test modules' docstrings.

Each test module of ``tests/`` that checks hostile input states, in its docstring, a table of
the inputs and the answer each gets (every row is a test in that module). The reliability page
shows those tables as they are written there, through the ``bad-inputs`` directive, so that
the page and the tests cannot drift apart. A table is shown as preformatted text, not parsed:
the docstrings are written for a reader of the source (a cell's text may run past its column,
``filters_`` is a name, not a link), and a literal block shows exactly that::

    .. bad-inputs:: test_rank.py
"""

import ast
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

TESTS = Path(__file__).resolve().parents[1] / "tests"

# The border of a reStructuredText simple table: columns of "=" separated by spaces.
_BORDER = re.compile(r"^=+( +=+)+$")


def table(module):
    """The first simple table of ``tests/<module>``'s docstring, as a list of lines.

    Parameters
    ----------
    module : str
        File name of the test module, e.g. ``"test_rank.py"``.

    Returns
    -------
    lines : list of str
        The table from its first border line to its closing border (three borders: top,
        under the header, bottom).
    """
    source = (TESTS / module).read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    lines = doc.splitlines()
    borders = [i for i, line in enumerate(lines) if _BORDER.match(line.strip())]
    if len(borders) < 3:
        raise ValueError(f"tests/{module}: its docstring has no table of bad inputs")
    return lines[borders[0]:borders[2] + 1]


def intro(module):
    """The docstring's paragraph just above its table (what the table covers), one line."""
    doc = ast.get_docstring(ast.parse((TESTS / module).read_text())) or ""
    before = doc.split(table(module)[0], 1)[0].strip()
    paragraph = before.split("\n\n")[-1]
    return " ".join(paragraph.split())


class BadInputsDirective(Directive):
    """``.. bad-inputs:: test_x.py``: the table of that test module, with its lead-in."""

    required_arguments = 1
    has_content = False

    def run(self):
        module = self.arguments[0]
        source = f"tests/{module}"
        lead_in = StringList([f"{intro(module).rstrip(':.')} (``{source}``):"], source=source)
        container = nodes.container(classes=["bad-inputs"])
        self.state.nested_parse(lead_in, self.content_offset, container)
        text = "\n".join(table(module))
        block = nodes.literal_block(text, text, classes=["bad-inputs-table"])
        block["language"] = "text"  # not highlighted as code
        container += block
        return [container]


def setup(app):
    """Register the ``bad-inputs`` directive."""
    app.add_directive("bad-inputs", BadInputsDirective)
    return {"parallel_read_safe": True}
