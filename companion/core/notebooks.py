"""Student notebooks: the chapters with the solutions taken out.

A chapter marks its exercise stubs with the cell tag ``exercise`` and the worked answers with
``solution``. Student copies drop every ``solution`` cell and every ``solution`` directive in the
markdown, keep the stubs (which raise NotImplementedError until filled in) and clear all outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BOOK = Path(__file__).resolve().parents[2] / "book"  # companion/core/ is two folders down
SOLUTION_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{solution(-start)?\}.*?^\1\s*$\n?", re.M | re.S)
SOLUTION_BLOCK = re.compile(r"^(`{3,}|:{3,})\{solution-start\}.*?^\1\{solution-end\}\s*$\n?", re.M | re.S)


def strip_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` without solution cells, solution directives and outputs."""
    student = nbformat.from_dict(notebook)
    kept = []
    for cell in student.cells:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            cell.source = SOLUTION_DIRECTIVE.sub("", SOLUTION_BLOCK.sub("", cell.source))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    student.cells = kept
    return student


def chapter_paths(book: Path = BOOK) -> list[Path]:
    return sorted(p for p in book.glob("*.ipynb"))


def write_student_notebooks(out: Path, book: Path = BOOK) -> list[Path]:
    """Write a student copy of every chapter into `out`; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chapters = chapter_paths(book)
    if not chapters:
        raise FileNotFoundError(f"no chapter notebooks found in {book}")
    written = []
    for path in chapters:
        student = strip_solutions(nbformat.read(path, as_version=4))
        target = out / path.name
        nbformat.write(student, target)
        written.append(target)
    return written
