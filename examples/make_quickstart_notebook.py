"""Build examples/quickstart.ipynb from examples/quickstart.py: the same quick start, as a notebook.

Its code cells are quickstart.py's top-level statements: the setup (imports and constants), the
with-block, and the report. Run: ``python examples/make_quickstart_notebook.py`` (needs nbformat:
``pip install 'seedreg[notebook]'``).
"""

import ast
from pathlib import Path

import nbformat

HERE = Path(__file__).parent

INTRO = """# Quick start, in a notebook

A seeded train/test split recorded by seedreg (the code of `quickstart.py`). Run every cell in
Jupyter, or from a terminal `SEEDREG_NOTEBOOK=quickstart.ipynb jupyter execute quickstart.ipynb`
(`jupyter execute`, from nbclient, does not tell the kernel which notebook it runs: name it), then:

    seedreg show --last      # the notebook, the cell, and whether the cells ran in order
    seedreg replay --last    # runs this notebook top to bottom in a fresh kernel and compares"""


def code_cells(script: str) -> list[str]:
    """The script's top-level statements, grouped: those before the with-block, it, those after it."""
    lines = script.splitlines()
    statements = ast.parse(script).body
    if ast.get_docstring(ast.parse(script)) is not None:
        statements = statements[1:]
    block = next(i for i, node in enumerate(statements) if isinstance(node, ast.With))
    groups = (statements[:block], statements[block : block + 1], statements[block + 1 :])
    return ["\n".join(lines[group[0].lineno - 1 : group[-1].end_lineno]).strip() for group in groups]


def build() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    sources = code_cells((HERE / "quickstart.py").read_text())
    notebook.cells = [nbformat.v4.new_markdown_cell(INTRO)] + [nbformat.v4.new_code_cell(s) for s in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return notebook


if __name__ == "__main__":
    target = HERE / "quickstart.ipynb"
    nbformat.write(build(), target)
    print(f"wrote {target}")
