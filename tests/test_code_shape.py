"""The code stays readable in one sitting: no function in src/ longer than a screen, no class
longer than a file one reads at once."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 60  # a function's lines, its docstring included
MAX_CLASS_LINES = 200  # a class's lines, its methods and docstrings included


def _definitions(kinds):
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, kinds):
                yield f"{path.relative_to(SRC)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


def test_no_function_in_src_is_longer_than_sixty_lines():
    long = [f"{name} ({lines} lines)" for name, lines in _definitions(ast.FunctionDef | ast.AsyncFunctionDef)
            if lines > MAX_LINES]  # fmt: skip
    assert not long, "split these into named steps: " + ", ".join(long)


def test_no_class_in_src_is_longer_than_two_hundred_lines():
    # a class that holds a whole process (the search once spread 509 lines over four mixins) is
    # split into the parts it is made of: state, steps, loop, checkpoints
    long = [f"{name} ({lines} lines)" for name, lines in _definitions(ast.ClassDef) if lines > MAX_CLASS_LINES]
    assert not long, "compose these from smaller parts: " + ", ".join(long)
