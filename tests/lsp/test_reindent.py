"""Golden cases for fitting a code action's answer to the selection's indentation."""

import pytest

from lsp.reindent import fit, indentation, widen_to_indentation

METHOD = "class C:\n    def f(self):\n        return 1\n"


def test_a_selection_starting_in_the_indentation_starts_at_the_line():
    assert widen_to_indentation(METHOD, METHOD.index("def")) == METHOD.index("    def")
    assert widen_to_indentation(METHOD, METHOD.index("    def") + 2) == METHOD.index("    def")
    # after other text: kept
    assert widen_to_indentation(METHOD, METHOD.index("f(self)")) == METHOD.index("f(self)")


@pytest.mark.parametrize(
    "selection, starts_line, expected",
    [
        ("    def f(self):\n        return 1\n", True, "    "),
        ("\tif a:\n\t\tb()", True, "\t"),
        ("top()\n", True, ""),
        # after other text on its first line: the other lines decide
        ("f(a,\n        b)", False, "        "),
        ("", True, ""),
    ],
)
def test_indentation(selection, starts_line, expected):
    assert indentation(selection, starts_line) == expected


@pytest.mark.parametrize(
    "code, indent, starts_line, expected",
    [
        # a dedented answer goes back inside the class
        ('def f(self):\n    """Doc."""\n    return 1', "    ", True, '    def f(self):\n        """Doc."""\n        return 1'),
        # indented as the model pleased: the same, blank lines stay empty
        ("        def f(self):\n\n            return 1", "    ", True, "    def f(self):\n\n        return 1"),
        # after other text: the first line has its indentation already
        ("g(a,\n  b)", "    ", False, "g(a,\n    b)"),
        ("x = 1", "", True, "x = 1"),
    ],
)
def test_fit(code, indent, starts_line, expected):
    assert fit(code, indent, starts_line) == expected
